//! UDP: datagram boundaries, learned peers, hub over UDP, idle expiry,
//! end of input.

use crate::util::peers::{
    udp_peer as peer, udp_peer_on as peer_on, udp_quiet_for, udp_recv as recv,
};
use crate::util::{random_bytes, sha256, start, start_no_input};
use std::net::{SocketAddr, UdpSocket};

fn quiet(s: &UdpSocket) -> bool {
    udp_quiet_for(s, 300)
}

#[test]
fn datagrams_keep_their_boundaries_both_ways() {
    // -i echo sends each datagram back: checks receive-whole and send-whole.
    let mut p = start_no_input(&["-u", "-L", "127.0.0.1:0", "-i", "echo"]);
    let addr = p.listen_addr();
    let s = peer();
    let mut all = Vec::new();
    for (i, size) in [1usize, 512, 1472, 8000, 65507].into_iter().enumerate() {
        let d = random_bytes(size, 100 + i as u64);
        s.send_to(&d, addr).unwrap();
        let back = recv(&s);
        assert_eq!(
            (back.len(), sha256::hex(&back)),
            (size, sha256::hex(&d)),
            "datagram of {size}"
        );
        all.extend_from_slice(&d);
    }
    let out = p.wait_stdout_len(all.len());
    assert_eq!(sha256::hex(&out), sha256::hex(&all));
}

/// Each received datagram is one write to stdout. With a Unix datagram
/// socket as stdout (where write boundaries survive), every read must give
/// exactly one datagram, even when many arrive back to back.
#[cfg(unix)]
#[test]
fn each_datagram_is_one_stdout_write() {
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixDatagram;
    use std::process::Stdio;
    if crate::util::skipped_under_wine("stdout is a Unix datagram socket here") {
        return;
    }
    let (ours, theirs) = UnixDatagram::pair().expect("socketpair");
    ours.set_read_timeout(Some(crate::util::patience()))
        .expect("timeout");
    let mut p = crate::util::spawn(crate::util::Spawn {
        args: &["-u", "-l", "127.0.0.1:0", "-i", "none"],
        stdin: false,
        stdout: Some(Stdio::from(OwnedFd::from(theirs))),
        ns: None,
    });
    let addr = p.listen_addr();
    let s = peer();
    let sent: Vec<Vec<u8>> = (1..=64u64)
        .map(|i| random_bytes(i as usize * 37, 500 + i))
        .collect();
    for d in &sent {
        s.send_to(d, addr).expect("send");
    }
    let mut buf = vec![0u8; 65536];
    for (i, d) in sent.iter().enumerate() {
        let got = ours.recv(&mut buf).map(|n| buf[..n].to_vec());
        if got.as_ref().ok() != Some(d) {
            p.fail(&format!(
                "read {i}: want one datagram of {} bytes, got {:?} bytes",
                d.len(),
                got.map(|g| g.len())
            ));
        }
    }
}

#[test]
fn stdin_becomes_datagrams_of_at_most_the_send_size() {
    let s = peer();
    let addr = s.local_addr().unwrap();
    let mut p = start(&["-u", "--ss", "1000", &addr.to_string()]);
    let data = random_bytes(5000, 7);
    p.write_stdin(&data);
    let mut got = Vec::new();
    while got.len() < data.len() {
        let d = recv(&s);
        assert!(
            !d.is_empty() && d.len() <= 1000,
            "datagram of {} bytes",
            d.len()
        );
        got.extend_from_slice(&d);
    }
    assert_eq!(got, data);
    // The end of input sends no empty datagram (the original did: W6).
    p.close_stdin();
    assert!(quiet(&s), "a datagram arrived after the input ended");
}

#[test]
fn exit_after_input_sends_everything_first() {
    let s = peer();
    let addr = s.local_addr().unwrap();
    let mut p = start(&["-u", "--exit-after-input", &addr.to_string()]);
    p.write_stdin(b"hello");
    p.close_stdin();
    assert_eq!(recv(&s), b"hello");
    p.expect_exit(0);
}

#[test]
fn a_failing_target_does_not_stop_the_others() {
    let s = peer();
    let addr = s.local_addr().unwrap();
    let mut p = start(&["-u", "127.0.0.1:0", &addr.to_string()]);
    p.write_stdin(b"abc");
    assert_eq!(recv(&s), b"abc");
    p.wait_for("Error forwarding to 127.0.0.1:0");
    p.write_stdin(b"def");
    assert_eq!(recv(&s), b"def");
}

#[test]
fn listener_learns_peers_and_replies_to_them() {
    let mut p = start(&["-u", "-L", "127.0.0.1:0"]);
    let addr = p.listen_addr();
    let a = peer_on("127.0.0.1");
    let b = peer_on("127.0.0.2");
    a.send_to(b"from a", addr).unwrap();
    b.send_to(b"from b", addr).unwrap();
    p.wait_stdout_len(12);
    p.write_stdin(b"XY");
    assert_eq!(recv(&a), b"XY");
    assert_eq!(recv(&b), b"XY");
}

#[test]
fn hub_over_udp_forwards_to_the_other_learned_peers() {
    let mut p = start_no_input(&["-u", "-L", "127.0.0.1:0", "--fm", "hub", "-i", "none"]);
    let addr = p.listen_addr();
    let (a, b, c) = (peer(), peer(), peer());
    a.send_to(b"a1", addr).unwrap();
    p.wait_stdout_len(2);
    b.send_to(b"b1", addr).unwrap();
    assert_eq!(recv(&a), b"b1");
    c.send_to(b"c1", addr).unwrap();
    assert_eq!(recv(&a), b"c1");
    assert_eq!(recv(&b), b"c1");
    a.send_to(b"a2", addr).unwrap();
    assert_eq!(recv(&b), b"a2");
    assert_eq!(recv(&c), b"a2");
    assert!(quiet(&a), "the sender got its own datagram back");
    let out = p.wait_stdout_len(8);
    assert_eq!(out, b"a1b1c1a2");
}

#[test]
fn idle_peers_are_forgotten() {
    let mut p = start_no_input(&[
        "-u",
        "-L",
        "127.0.0.1:0",
        "-i",
        "none",
        "--udp-idle",
        "0.3",
        "-v",
    ]);
    let addr = p.listen_addr();
    let a = peer();
    let me: SocketAddr = a.local_addr().unwrap();
    a.send_to(b"x", addr).unwrap();
    p.wait_for(&format!("Forgetting idle peer {me}"));
    a.send_to(b"y", addr).unwrap();
    p.wait_stderr("a second Associating line", |s| {
        (s.matches(&format!("<->{me},")).count() >= 2).then_some(())
    });
}

/// `*:P` skips only an address family the machine lacks; a port that is
/// taken on one family is an error naming that address, as for TCP (before,
/// a UDP listener went on silently with IPv4 alone).
#[test]
fn wildcard_listener_reports_a_port_taken_on_ipv6() {
    if !crate::util::have_ipv6() {
        return crate::util::skip("no IPv6 loopback on this machine");
    }
    // Hold [::]:P (IPv6 only), leaving 0.0.0.0:P free.
    let taken =
        socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None).expect("socket");
    taken.set_only_v6(true).expect("v6only");
    let any6: SocketAddr = "[::]:0".parse().unwrap();
    taken.bind(&any6.into()).expect("bind [::]:0");
    let port = taken
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .expect("port");
    if UdpSocket::bind(("0.0.0.0", port)).is_err() {
        return crate::util::skip("the IPv4 side of the port is taken too");
    }
    let (mut p, out) = crate::util::run(&["-u", "-l", &format!("*:{port}"), "-i", "none"]);
    if out.code != Some(1) || !out.stderr.contains(&format!("bind UDP [::]:{port}")) {
        p.fail("expected exit 1 naming [::]:PORT");
    }
}

/// Issue 19 item 6: a run whose only route fails (a broadcast address
/// without -b: EACCES, nothing leaves the host) is a runtime failure.
#[test]
fn a_run_whose_only_target_fails_exits_1() {
    let port = crate::util::free_port().to_string();
    let mut p = start(&["-u", &format!("127.255.255.255:{port}")]);
    p.write_stdin(b"x\n");
    p.close_stdin();
    let out = p.finish();
    if out.code != Some(1) || !out.stderr.contains("Error forwarding to 127.255.255.255") {
        p.fail("expected exit 1 with the failed send named");
    }
}
