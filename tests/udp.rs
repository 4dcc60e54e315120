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
    let Some((ours, mut p)) = listener_with_datagram_stdout() else {
        return;
    };
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

/// Datagram `seq` of sender `who` in the burst tests: a 2-byte tag, then
/// bytes of a size that differs from its neighbours' (1 to 1,470 bytes in
/// all, so no two adjacent datagrams could be mistaken for each other).
fn tagged(who: u8, seq: u8) -> Vec<u8> {
    let size = 1 + (who as usize * 331 + seq as usize * 97) % 1468;
    let mut d = vec![who, seq];
    d.extend(random_bytes(size, 9000 + who as u64 * 256 + seq as u64));
    d
}

/// Issue 13: queued datagrams are received in batches (recvmmsg on Linux);
/// each must still reach stdout whole, alone, and in order per sender. A
/// Unix datagram socket as stdout shows every write's boundary. Three
/// senders interleave bursts of 8 each (24 queued at once; the bursts
/// stay well inside the default receive buffer so none is dropped).
#[cfg(unix)]
#[test]
fn a_burst_from_several_senders_arrives_whole_and_in_order() {
    let Some((ours, mut p)) = listener_with_datagram_stdout() else {
        return;
    };
    let addr = p.listen_addr();
    let senders = [
        peer_on("127.0.0.1"),
        peer_on("127.0.0.2"),
        peer_on("127.0.0.3"),
    ];
    let mut next_seq = [0u8; 3];
    let mut buf = vec![0u8; 65536];
    for burst in 0..4u8 {
        for k in 0..8u8 {
            for (who, s) in senders.iter().enumerate() {
                s.send_to(&tagged(who as u8, burst * 8 + k), addr)
                    .expect("send");
            }
        }
        for i in 0..24 {
            let got = match ours.recv(&mut buf) {
                Ok(n) => buf[..n].to_vec(),
                Err(e) => p.fail(&format!("burst {burst}, read {i}: {e}")),
            };
            // A merged or split datagram has the wrong length or content.
            let want = got
                .first()
                .filter(|&&who| who < 3)
                .map(|&who| tagged(who, next_seq[who as usize]));
            if want.as_ref() != Some(&got) {
                p.fail(&format!(
                    "burst {burst}, read {i}: {} bytes that are not the next datagram of its sender \
                     (next expected: {next_seq:?})",
                    got.len()
                ));
            }
            next_seq[got[0] as usize] += 1;
        }
    }
    assert_eq!(next_seq, [32, 32, 32]);
}

/// Issue 13: with a pipe as stdout, bursts of 32 queued datagrams (one
/// full batch each) arrive byte-exact and in order.
#[test]
fn bursts_of_datagrams_reach_a_pipe_byte_exact() {
    let mut p = start_no_input(&["-u", "-l", "127.0.0.1:0", "-i", "none"]);
    let addr = p.listen_addr();
    let s = peer();
    let mut all = Vec::new();
    for burst in 0..16u8 {
        for k in 0..32u8 {
            let d = tagged(burst % 3, burst.wrapping_mul(32).wrapping_add(k));
            s.send_to(&d, addr).expect("send");
            all.extend_from_slice(&d);
        }
        // Wait for each burst so a slow (emulated) run drops nothing.
        p.wait_stdout_len(all.len());
    }
    let out = p.wait_stdout_len(all.len());
    crate::util::same_content("stdout", &out, &all);
}

/// Issue 13: the sender's address of every datagram in a batch is right
/// for IPv6 too: `-i echo` answers each datagram of a burst to its sender.
#[test]
fn a_burst_over_ipv6_is_echoed_to_its_sender() {
    if !crate::util::have_ipv6() {
        return crate::util::skip("no IPv6 loopback");
    }
    let mut p = start_no_input(&["-u", "-l", "[::1]:0", "-i", "echo"]);
    let addr = p.listen_addr();
    let (a, b) = (peer_on("[::1]"), peer_on("[::1]"));
    for seq in 0..16u8 {
        a.send_to(&tagged(0, seq), addr).expect("send");
        b.send_to(&tagged(1, seq), addr).expect("send");
    }
    for seq in 0..16u8 {
        assert_eq!(recv(&a), tagged(0, seq), "datagram {seq} back to a");
        assert_eq!(recv(&b), tagged(1, seq), "datagram {seq} back to b");
    }
}

/// `netcrab -u -l 127.0.0.1:0 -i none` whose stdout is one end of a Unix
/// datagram socket pair (where every write's boundary survives); the other
/// end is returned to read from. `None` under Wine (said why).
#[cfg(unix)]
fn listener_with_datagram_stdout() -> Option<(std::os::unix::net::UnixDatagram, crate::util::Proc)>
{
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixDatagram;
    use std::process::Stdio;
    if crate::util::skipped_under_wine("stdout is a Unix datagram socket here") {
        return None;
    }
    let (ours, theirs) = UnixDatagram::pair().expect("socketpair");
    ours.set_read_timeout(Some(crate::util::patience()))
        .expect("timeout");
    let p = crate::util::spawn(crate::util::Spawn {
        args: &["-u", "-l", "127.0.0.1:0", "-i", "none"],
        stdin: false,
        stdout: Some(Stdio::from(OwnedFd::from(theirs))),
        ns: None,
    });
    Some((ours, p))
}
