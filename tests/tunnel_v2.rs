//! Tunnel mode, protocol version 2: several TCP and UDP services on one
//! tunnel, half-closes carried in the protocol, heartbeats and dead links,
//! the inside end through real proxies (tinyproxy, microsocks) from a
//! namespace whose only way out is the proxy, `dig` through a UDP service,
//! a blackholed path, and flags that have no effect refused.

use crate::util::netns::{self, pair_or_skip, sh, NET, NET_C};
use crate::util::tunnel::{
    behind_or_skip, built, daemon, exchange, frame, hello, inside_to, installed, microsocks,
    native_or_skip, read_frame, relay_with, service, service_into, slack, speak_first_client,
    tcp_tunnel, temp, tinyproxy, tinyproxy_with, udp_echo_service, udp_roundtrip, wait_port, Seen,
};
use crate::util::{self, patience, random_bytes, sha256, skip, start_no_input};
use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

// ---- natively, on loopback -------------------------------------------------

#[test]
fn tcp_and_udp_services_on_one_tunnel_each_reach_their_own() {
    if !built() {
        return;
    }
    let (a1, s1) = service(1000, false);
    let (a2, s2) = service(2000, false);
    let ua = format!("udp:{}", udp_echo_service());
    let (mut r, ctrl, public) = relay_with(&["127.0.0.1:0", "udp:127.0.0.1:0", "127.0.0.1:0"], &[]);
    let mut i = inside_to(ctrl, &[&a1, &ua, &a2], &[]);
    let (p1, pu, p2) = (public[0], public[1], public[2]);
    exchange(p1, b"first service", 1000).unwrap_or_else(|e| r.fail(&e));
    exchange(p2, b"second service", 2000).unwrap_or_else(|e| r.fail(&e));
    assert_eq!(
        s1.lock().unwrap().len(),
        1,
        "service 1 got the wrong clients"
    );
    assert_eq!(
        s2.lock().unwrap().len(),
        1,
        "service 2 got the wrong clients"
    );
    // Datagram boundaries, smallest to largest, one at a time (a burst of
    // 64 KiB datagrams from many peers may overflow any socket's buffer).
    let one = UdpSocket::bind("127.0.0.1:0").unwrap();
    one.set_read_timeout(Some(patience())).unwrap();
    for (n, len) in [1, 2, 100, 1400, 9000, 32_768, 65_507].iter().enumerate() {
        udp_roundtrip(&one, pu, *len, n as u64).unwrap_or_else(|e| r.fail(&e));
    }
    // 10 peers at once, each answered on its own flow.
    let peers: Vec<_> = (0..10)
        .map(|k| {
            thread::spawn(move || {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_read_timeout(Some(patience())).unwrap();
                for (n, len) in [1, 2, 100, 1400].iter().enumerate() {
                    udp_roundtrip(&s, pu, *len, (k * 100 + n) as u64)?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for p in peers {
        p.join().unwrap().unwrap_or_else(|e| r.fail(&e));
    }
    assert!(i.running() && r.running());
    i.kill();
}

#[test]
fn half_close_crosses_the_tunnel_both_ways_with_the_whole_reply() {
    if !built() {
        return;
    }
    let (a1, _) = service(1 << 20, false);
    let (a2, s2) = service(1 << 20, true);
    let (mut r, _i, public) = tcp_tunnel(&[a1, a2], &[]);
    let payload = random_bytes(3 << 20, 11);
    // Client → service half-close: the reply comes after it, whole.
    exchange(public[0], &payload, 1 << 20).unwrap_or_else(|e| r.fail(&e));
    // Service → client half-close: the client still sends, all of it arrives.
    speak_first_client(public[1], &payload, 1 << 20).unwrap_or_else(|e| r.fail(&e));
    let deadline = Instant::now() + patience();
    while s2.lock().unwrap().is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        s2.lock().unwrap().first(),
        Some(&sha256::hex(&payload)),
        "what the client sent after the service's half-close"
    );
}

#[test]
fn a_down_or_silent_service_stalls_no_other_service() {
    if !built() {
        return;
    }
    // Service 1 accepts and never speaks nor reads; service 2 is a closed port.
    let (silent, a1) = util::peers::listener();
    let closed = format!("127.0.0.1:{}", util::free_port());
    let (a3, _) = service(100, false);
    let (mut r, ctrl, public) = relay_with(&["127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"], &[]);
    let _i = inside_to(ctrl, &[&a1, &closed, &a3], &[]);
    let stuck: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(public[0]).unwrap())
        .collect();
    let down: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(public[1]).unwrap())
        .collect();
    let t = Instant::now();
    for k in 0..10 {
        exchange(public[2], format!("ok {k}").as_bytes(), 100).unwrap_or_else(|e| r.fail(&e));
    }
    assert!(
        t.elapsed() < slack(Duration::from_secs(3)),
        "the good service took {:?} while the others were stuck or down",
        t.elapsed()
    );
    drop((stuck, down, silent));
}

#[test]
fn mismatched_services_are_refused_on_both_ends_with_both_lists() {
    if !built() {
        return;
    }
    let (mut r, ctrl, _) = relay_with(&["127.0.0.1:0", "udp:127.0.0.1:0"], &[]);
    let rl = ctrl.to_string();
    // Count differs, then protocol differs.
    for services in [vec!["127.0.0.1:9"], vec!["127.0.0.1:9", "127.0.0.1:10"]] {
        let mut args = vec!["--tunnel-inside", rl.as_str()];
        args.extend(services.iter());
        let mut i = start_no_input(&args);
        let out = i.expect_exit(1);
        let line = out
            .stderr
            .lines()
            .find(|l| l.contains("announces"))
            .unwrap_or_else(|| panic!("no line with both lists: {}", out.stderr));
        assert!(
            line.contains("udp:127.0.0.1:") && line.contains("tcp:127.0.0.1:9"),
            "{line}"
        );
    }
    r.wait_stderr("two refusals on the relay", |s| {
        (s.lines().filter(|l| l.contains("announces")).count() >= 2).then_some(())
    });
}

#[test]
fn another_protocol_version_is_refused_naming_both() {
    if !built() {
        return;
    }
    let (mut r, ctrl, _) = relay_with(&["127.0.0.1:0"], &[]);
    let mut s = TcpStream::connect(ctrl).unwrap();
    s.set_read_timeout(Some(patience())).unwrap();
    s.write_all(&hello(1)).unwrap();
    let body = read_frame(&mut s).expect("an Error");
    assert_eq!(body[0], 0x03);
    let text = String::from_utf8_lossy(&body[3..]).into_owned();
    assert!(
        text.contains("version 1") && text.contains("version 2"),
        "{text}"
    );
    r.wait_for("version 1");
}

#[test]
fn a_silent_control_link_is_dropped_by_the_relay_within_3_intervals() {
    if !built() {
        return;
    }
    let (mut r, ctrl, _) = relay_with(&["127.0.0.1:0"], &["--tunnel-keepalive", "0.5"]);
    let mut s = TcpStream::connect(ctrl).unwrap();
    s.set_read_timeout(Some(patience())).unwrap();
    s.write_all(&hello(2)).unwrap();
    assert_eq!(read_frame(&mut s).expect("Challenge")[0], 0x02);
    // Login, no MAC, one TCP service.
    let mut login = vec![0x10, 0, 1];
    login.extend_from_slice(&(12u16).to_be_bytes());
    login.extend_from_slice(b"tcp:x.test:1");
    s.write_all(&frame(&login)).unwrap();
    assert_eq!(read_frame(&mut s).expect("Welcome")[0], 0x11);
    let t = Instant::now();
    // Pings come and are never answered.
    let mut pings = 0;
    while let Some(f) = read_frame(&mut s) {
        if f == [0x14] {
            pings += 1;
        } else {
            assert_eq!(f[0], 0x03, "expected Ping or Error, got {f:?}");
        }
    }
    let took = t.elapsed();
    assert!(pings >= 2, "{pings} pings");
    assert!(
        took >= Duration::from_millis(1400) && took < slack(Duration::from_millis(2500)),
        "dropped after {took:?} (keepalive 0.5 s)"
    );
    r.wait_for("the link is dropped");
}

#[test]
fn a_silent_relay_is_dropped_by_the_inside_end_which_dials_again() {
    if !built() {
        return;
    }
    // A fake relay: handshake, Welcome, then silence; counts logins.
    let (l, a) = util::peers::listener();
    let logins = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let lg = logins.clone();
    thread::spawn(move || {
        let mut keep = Vec::new();
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let Some(_hello) = read_frame(&mut c) else {
                continue;
            };
            let mut ch = vec![0x02, 2];
            ch.extend_from_slice(&[0x44; 32]);
            ch.push(0);
            let _ = c.write_all(&frame(&ch));
            let Some(_login) = read_frame(&mut c) else {
                continue;
            };
            let mut w = vec![0x11, 1];
            w.extend_from_slice(&(5u16).to_be_bytes());
            w.extend_from_slice(b"tcp:x");
            let _ = c.write_all(&frame(&w));
            lg.lock().unwrap().push(Instant::now());
            keep.push(c);
        }
    });
    let mut i = inside_to(a, &[&"127.0.0.1:9"], &["--tunnel-keepalive", "0.5"]);
    i.wait_for("the link is dropped");
    let deadline = Instant::now() + patience();
    while logins.lock().unwrap().len() < 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let l = logins.lock().unwrap().clone();
    assert!(l.len() >= 2, "the inside end did not log in again");
    let gap = l[1] - l[0];
    assert!(
        gap >= Duration::from_millis(1400) && gap < slack(Duration::from_millis(3000)),
        "second login {gap:?} after the first (keepalive 0.5 s)"
    );
}

#[test]
fn udp_flows_are_capped_and_expire() {
    if !built() {
        return;
    }
    let ua = format!("udp:{}", udp_echo_service());
    let (mut r, ctrl, public) = relay_with(
        &["udp:127.0.0.1:0"],
        &["--udp-peers", "2", "--udp-idle", "1", "-v"],
    );
    let _i = inside_to(ctrl, &[&ua], &[]);
    let peers: Vec<UdpSocket> = (0..3)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(patience())).unwrap();
            s
        })
        .collect();
    udp_roundtrip(&peers[0], public[0], 10, 1).unwrap_or_else(|e| r.fail(&e));
    udp_roundtrip(&peers[1], public[0], 10, 2).unwrap_or_else(|e| r.fail(&e));
    // A third peer while two flows live: dropped, said once.
    peers[2].send_to(b"third", public[0]).unwrap();
    r.wait_for("--udp-peers");
    assert!(
        util::peers::udp_quiet_for(&peers[2], 300),
        "the third peer got an answer"
    );
    // After --udp-idle both flows end, and the third peer is served.
    r.wait_stderr("two flows ended", |s| {
        (s.matches("flow ended").count() >= 2).then_some(())
    });
    udp_roundtrip(&peers[2], public[0], 10, 3).unwrap_or_else(|e| r.fail(&e));
}

#[test]
fn a_flood_of_new_udp_source_ports_keeps_memory_bounded_and_serves_after() {
    if !built() {
        return;
    }
    let ua = format!("udp:{}", udp_echo_service());
    let (mut r, ctrl, public) = relay_with(&["udp:127.0.0.1:0"], &["--udp-idle", "1"]);
    let mut i = inside_to(ctrl, &[&ua], &[]);
    let public = public[0];
    // 2,000 source ports, four 1,400-byte datagrams each, as fast as they go.
    let socks: Vec<UdpSocket> = (0..2000)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let d = random_bytes(1400, 5);
    for _ in 0..4 {
        for s in &socks {
            let _ = s.send_to(&d, public);
        }
    }
    r.wait_for("datagrams from new peers are dropped");
    let limit = 96 * 1024;
    for (what, p) in [("relay", &mut r), ("inside end", &mut i)] {
        let rss = util::rss_kib(p.pid());
        if util::runner_kind() == util::Runner::Native {
            assert!(
                rss.is_some_and(|k| k < limit),
                "{what} RSS {rss:?} KiB under the flood"
            );
        }
        assert!(p.running(), "{what} died under the flood");
    }
    drop(socks);
    // Once the flows expire, a new peer is served.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let deadline = Instant::now() + patience();
    let mut buf = [0u8; 2048];
    loop {
        let _ = s.send_to(b"after the flood", public);
        if let Ok(n) = s.recv(&mut buf) {
            assert_eq!(&buf[..n], b"after the flood");
            break;
        }
        if Instant::now() > deadline {
            r.fail("no answer after the flood");
        }
    }
}

#[test]
fn both_ends_serve_whatever_their_stdin_is() {
    if !built() {
        return;
    }
    for kind in util::EVERY_STDIN {
        let (a, _) = service(1000, false);
        let Some(mut r) = util::start_with(
            kind,
            &[
                "--tunnel-relay",
                "127.0.0.1:0",
                "--tunnel-public",
                "127.0.0.1:0",
            ],
        ) else {
            return;
        };
        let addrs = r.listening(2);
        let (rl, svc) = (addrs[0].to_string(), a.to_string());
        let Some(mut i) = util::start_with(kind, &["--tunnel-inside", &rl, &svc]) else {
            return;
        };
        i.wait_for("Tunnel up");
        exchange(addrs[1], format!("{kind:?}").as_bytes(), 1000)
            .unwrap_or_else(|e| r.fail(&format!("stdin {kind:?}: {e}")));
        assert!(r.running() && i.running(), "stdin {kind:?}: an end stopped");
    }
}

#[test]
fn flags_without_effect_in_tunnel_mode_are_refused() {
    let cases: [&[&str]; 8] = [
        &["-z"],
        &["-e", "cat"],
        &["-r"],
        &["-R"],
        &["--hexdump"],
        &["-C"],
        &["-i", "none"],
        &["-k"],
    ];
    for extra in cases {
        for end in [
            &["--tunnel-inside", "127.0.0.1:1", "127.0.0.1:2"][..],
            &[
                "--tunnel-relay",
                "127.0.0.1:0",
                "--tunnel-public",
                "127.0.0.1:0",
            ][..],
        ] {
            let mut args = end.to_vec();
            args.extend_from_slice(extra);
            let (_, out) = util::run(&args);
            assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
            assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
            if cfg!(feature = "tunnel") {
                assert!(out.stderr.contains("no effect"), "{args:?}: {}", out.stderr);
            }
        }
    }
    // The relay dials nothing: proxy flags there are refused too.
    let (_, out) = util::run(&[
        "--tunnel-relay",
        "127.0.0.1:0",
        "--tunnel-public",
        "127.0.0.1:0",
        "-x",
        "127.0.0.1:1080",
    ]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
}

// ---- through real proxies --------------------------------------------------

#[test]
fn on_loopback_a_proxy_refusal_is_one_line_and_bad_credentials_stop_the_inside_end() {
    if !built() || !cfg!(feature = "proxy") || !installed("tinyproxy") {
        return;
    }
    let port = util::free_port();
    let _p = tinyproxy(None, "127.0.0.1", port, "127.0.0.1", "alice", "right-pw");
    let proxy: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_port(None, proxy);
    let (_r, ctrl, _) = relay_with(&["127.0.0.1:0"], &[]);
    let rl = ctrl.to_string();
    let px = proxy.to_string();
    let bad = temp("bad-pass", "wrong-pw\n");
    let mut i = start_no_input(&[
        "--tunnel-inside",
        &rl,
        "127.0.0.1:9",
        "-X",
        "connect",
        "-x",
        &px,
        "-P",
        "alice",
        "--proxy-pass-file",
        bad.to_str().unwrap(),
    ]);
    let out = i.expect_exit(1);
    let _ = std::fs::remove_file(&bad);
    assert!(
        out.stderr.contains(&px) && out.stderr.contains("401") && out.stderr.contains("password"),
        "{}",
        out.stderr
    );
    // SOCKS5 with a wrong password: the same.
    if installed("microsocks") {
        let mport = util::free_port();
        let _m = microsocks(None, "127.0.0.1", mport, "bob", "right-pw");
        let maddr: SocketAddr = format!("127.0.0.1:{mport}").parse().unwrap();
        wait_port(None, maddr);
        let bad = temp("bad-socks-pass", "wrong-pw\n");
        let mx = maddr.to_string();
        let mut i = start_no_input(&[
            "--tunnel-inside",
            &rl,
            "127.0.0.1:9",
            "--proxy",
            &mx,
            "--proxy-type",
            "socks5",
            "--proxy-auth",
            "bob",
            "--proxy-pass-file",
            bad.to_str().unwrap(),
        ]);
        let out = i.expect_exit(1);
        let _ = std::fs::remove_file(&bad);
        assert!(
            out.stderr.contains(&mx) && out.stderr.contains("rejected"),
            "{}",
            out.stderr
        );
    }
    // A proxy that refuses the relay's port (403): one line naming the
    // proxy and its answer; retried, not fatal.
    let fport = util::free_port();
    let _f = tinyproxy_with(
        None,
        "127.0.0.1",
        fport,
        "127.0.0.1",
        "alice",
        "right-pw",
        "ConnectPort 443\n",
    );
    let faddr: SocketAddr = format!("127.0.0.1:{fport}").parse().unwrap();
    wait_port(None, faddr);
    let good = temp("good-pass", "right-pw\n");
    let fx = faddr.to_string();
    let mut i = start_no_input(&[
        "--tunnel-inside",
        &rl,
        "127.0.0.1:9",
        "-X",
        "connect",
        "-x",
        &fx,
        "-P",
        "alice",
        "--proxy-pass-file",
        good.to_str().unwrap(),
    ]);
    i.wait_for("403");
    thread::sleep(Duration::from_millis(1500));
    let _ = std::fs::remove_file(&good);
    assert!(i.running(), "a 403 stopped the inside end");
    let err = i.stderr();
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("403")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains(&fx), "{err}");
    i.kill();
    // A proxy that is down: retried, said once, the inside end keeps going.
    let down = format!("127.0.0.1:{}", util::free_port());
    let mut i = start_no_input(&["--tunnel-inside", &rl, "127.0.0.1:9", "--proxy", &down]);
    i.wait_for("connecting again");
    thread::sleep(Duration::from_millis(1500));
    assert!(
        i.running(),
        "the inside end stopped on a proxy that is down"
    );
    assert_eq!(
        i.stderr().matches("connecting again").count(),
        1,
        "{}",
        i.stderr()
    );
}

/// The inside end in namespace `c`, whose only way to the relay (in `a`)
/// is the proxy in `b`: 20 clients, 4 MiB each way, and a half-close each
/// way with the whole reply.
fn through_proxy_from_a_closed_namespace(kind: &str) {
    if !built() || !cfg!(feature = "proxy") || !native_or_skip("proxy namespaces") {
        return;
    }
    let prog = if kind == "http" {
        "tinyproxy"
    } else {
        "microsocks"
    };
    if !installed(prog) {
        return;
    }
    let Some((n, c)) = behind_or_skip() else {
        return;
    };
    let pport = util::free_port();
    let pip = format!("{NET_C}.1");
    let _proxy = if kind == "http" {
        tinyproxy(
            Some(&n.b),
            &pip,
            pport,
            &format!("{NET_C}.0/24"),
            "alice",
            "s3cret",
        )
    } else {
        microsocks(Some(&n.b), &pip, pport, "bob", "pa55word")
    };
    let paddr: SocketAddr = format!("{pip}:{pport}").parse().unwrap();
    wait_port(Some(&c.c), paddr);
    // The direct way is closed indeed.
    let relay_ip = format!("{NET}.1");
    let direct = netns::within_ns(&c.c, {
        let a = format!("{relay_ip}:9");
        move || TcpStream::connect_timeout(&a.parse().unwrap(), Duration::from_millis(300)).is_ok()
    });
    assert!(!direct, "namespace c reaches the relay without the proxy");
    // Services inside c.
    let (s1, s2): (Seen, Seen) = Default::default();
    let (a1, a2) = netns::within_ns(&c.c, {
        let (s1, s2) = (s1.clone(), s2.clone());
        move || {
            (
                service_into(4 << 20, false, s1),
                service_into(1 << 20, true, s2),
            )
        }
    });
    let (iport, pub1, pub2) = (util::free_port(), util::free_port(), util::free_port());
    let mut r = n.run(
        &n.a,
        &[
            "--tunnel-relay",
            &format!("{relay_ip}:{iport}"),
            "--tunnel-public",
            &format!("{relay_ip}:{pub1}"),
            "--tunnel-public",
            &format!("{relay_ip}:{pub2}"),
        ],
        false,
    );
    r.listening(3);
    let pass = temp(
        &format!("pass-{kind}"),
        if kind == "http" {
            "s3cret\n"
        } else {
            "pa55word\n"
        },
    );
    let (ptype, user) = if kind == "http" {
        ("http", "alice")
    } else {
        ("socks5", "bob")
    };
    let mut i = n.run(
        &c.c,
        &[
            "--tunnel-inside",
            &format!("{relay_ip}:{iport}"),
            &a1.to_string(),
            &a2.to_string(),
            "--proxy",
            &paddr.to_string(),
            "--proxy-type",
            ptype,
            "--proxy-auth",
            user,
            "--proxy-pass-file",
            pass.to_str().unwrap(),
        ],
        false,
    );
    i.wait_for("Tunnel up");
    assert!(i.stderr().contains("via"), "{}", i.stderr());
    let p1: SocketAddr = format!("{relay_ip}:{pub1}").parse().unwrap();
    let p2: SocketAddr = format!("{relay_ip}:{pub2}").parse().unwrap();
    let failed = Arc::new(AtomicBool::new(false));
    let errs = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..20)
        .map(|k| {
            let (ns, errs, failed) = (n.a.clone(), errs.clone(), failed.clone());
            thread::spawn(move || {
                netns::enter(&ns).unwrap();
                let payload = random_bytes(4 << 20, 1000 + k);
                if let Err(e) = exchange(p1, &payload, 4 << 20) {
                    failed.store(true, Ordering::SeqCst);
                    errs.lock().unwrap().push(format!("client {k}: {e}"));
                }
            })
        })
        .collect();
    for t in clients {
        t.join().unwrap();
    }
    if failed.load(Ordering::SeqCst) {
        r.fail(&format!(
            "{:?}\ninside end:{}",
            errs.lock().unwrap(),
            i.report()
        ));
    }
    assert_eq!(s1.lock().unwrap().len(), 20);
    // The service half-closes first; the client's bytes after that arrive.
    let payload = random_bytes(1 << 20, 77);
    let ns = n.a.clone();
    let pl = payload.clone();
    netns::within_ns(&ns, move || speak_first_client(p2, &pl, 1 << 20))
        .unwrap_or_else(|e| r.fail(&e));
    let deadline = Instant::now() + patience();
    while s2.lock().unwrap().is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(s2.lock().unwrap().first(), Some(&sha256::hex(&payload)));
    let _ = std::fs::remove_file(&pass);
    drop(c);
}

#[test]
fn through_tinyproxy_with_basic_auth_from_a_namespace_with_no_other_way_out() {
    through_proxy_from_a_closed_namespace("http");
}

#[test]
fn through_microsocks_with_a_password_from_a_namespace_with_no_other_way_out() {
    through_proxy_from_a_closed_namespace("socks5");
}

// ---- UDP: dig through the tunnel to dnsmasq ---------------------------------

#[test]
fn fifty_digs_at_once_reach_dnsmasq_while_a_tcp_service_keeps_serving() {
    if !built() || !native_or_skip("dnsmasq in a namespace") {
        return;
    }
    if !installed("dnsmasq") || !installed("dig") {
        return;
    }
    let Some(n) = pair_or_skip() else { return };
    let dns_port = util::free_port();
    let _dns = daemon(
        Some(&n.b),
        &[
            "dnsmasq",
            "-k",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "-p",
            &dns_port.to_string(),
            "--address=/tunnel.test/10.9.8.7",
            "--user=root",
            "--pid-file=",
        ],
        vec![],
    );
    let seen = Seen::default();
    let tcp = netns::within_ns(&n.b, {
        let seen = seen.clone();
        move || service_into(1 << 20, false, seen)
    });
    let relay_ip = format!("{NET}.1");
    let (iport, tport, uport) = (util::free_port(), util::free_port(), util::free_port());
    let mut r = n.run(
        &n.a,
        &[
            "--tunnel-relay",
            &format!("{relay_ip}:{iport}"),
            "--tunnel-public",
            &format!("udp:{relay_ip}:{uport}"),
            "--tunnel-public",
            &format!("{relay_ip}:{tport}"),
            "-v",
        ],
        false,
    );
    r.listening(3);
    let mut i = n.run(
        &n.b,
        &[
            "--tunnel-inside",
            &format!("{relay_ip}:{iport}"),
            &format!("udp:127.0.0.1:{dns_port}"),
            &tcp.to_string(),
        ],
        false,
    );
    i.wait_for("Tunnel up");
    // TCP clients keep going while the queries run.
    let stop = Arc::new(AtomicBool::new(false));
    let tcp_pub: SocketAddr = format!("{relay_ip}:{tport}").parse().unwrap();
    let served = {
        let (ns, stop) = (n.a.clone(), stop.clone());
        thread::spawn(move || {
            netns::enter(&ns).unwrap();
            let mut k = 0u64;
            while !stop.load(Ordering::SeqCst) {
                exchange(tcp_pub, &random_bytes(100_000, k), 1 << 20)?;
                k += 1;
            }
            Ok::<u64, String>(k)
        })
    };
    // Each dig on a source port of its own: dig picks random ports and
    // shares one with SO_REUSEPORT, so two digs on the same port would take
    // each other's answers (the tunnel rightly sees one peer there).
    let digs: Vec<_> = (0..50)
        .map(|k| {
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &n.a,
                    "dig",
                    "-b",
                    &format!("{relay_ip}#{}", 40_000 + k),
                    &format!("@{relay_ip}"),
                    "-p",
                    &uport.to_string(),
                    "tunnel.test",
                    "A",
                    "+short",
                    "+time=5",
                    "+tries=1",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("dig")
        })
        .collect();
    let mut answered = 0;
    let mut bad = Vec::new();
    for d in digs {
        let out = d.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if text == "10.9.8.7" {
            answered += 1;
        } else {
            bad.push(format!("{text} {}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    stop.store(true, Ordering::SeqCst);
    let rounds = served.join().unwrap().unwrap_or_else(|e| r.fail(&e));
    if answered != 50 {
        r.fail(&format!(
            "{answered} of 50 digs answered: {bad:?}{}",
            i.report()
        ));
    }
    assert!(rounds >= 1, "no TCP exchange finished while the digs ran");
}

// ---- a blackholed path ----------------------------------------------------

fn nft(ns: &str, script: &str) -> Result<(), String> {
    let mut c = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("nft: {e}"))?;
    c.stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = c.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("nft: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

#[test]
fn a_blackholed_path_is_noticed_on_both_ends_and_served_again_after() {
    if !built() || !native_or_skip("blackhole timing") || !installed("nft") {
        return;
    }
    let Some(n) = pair_or_skip() else { return };
    let svc = netns::within_ns(&n.b, || service_into(1000, false, Seen::default()));
    let relay_ip = format!("{NET}.1");
    let (iport, pport) = (util::free_port(), util::free_port());
    let mut r = n.run(
        &n.a,
        &[
            "--tunnel-relay",
            &format!("{relay_ip}:{iport}"),
            "--tunnel-public",
            &format!("{relay_ip}:{pport}"),
            "--tunnel-keepalive",
            "1",
        ],
        false,
    );
    r.listening(2);
    let mut i = n.run(
        &n.b,
        &[
            "--tunnel-inside",
            &format!("{relay_ip}:{iport}"),
            &svc.to_string(),
            "--tunnel-keepalive",
            "1",
        ],
        false,
    );
    i.wait_for("Tunnel up");
    let public: SocketAddr = format!("{relay_ip}:{pport}").parse().unwrap();
    let ns = n.a.clone();
    netns::within_ns(&ns, move || exchange(public, b"before", 1000)).unwrap_or_else(|e| r.fail(&e));
    // One statement a line: nft 1.0.6 wants a newline (or `;`) between the chains.
    let table = format!(
        "table inet ncbh {{\n\
         chain i {{ type filter hook input priority 0; ip saddr {relay_ip} drop; }}\n\
         chain o {{ type filter hook output priority 0; ip daddr {relay_ip} drop; }}\n\
         }}\n"
    );
    if let Err(e) = nft(&n.b, &table) {
        skip(&e);
        return;
    }
    let t = Instant::now();
    let mut relay_saw = None;
    let mut inside_saw = None;
    while (relay_saw.is_none() || inside_saw.is_none()) && t.elapsed() < Duration::from_secs(8) {
        if relay_saw.is_none() && r.stderr().contains("the link is dropped") {
            relay_saw = Some(t.elapsed());
        }
        if inside_saw.is_none() && i.stderr().contains("the link is dropped") {
            inside_saw = Some(t.elapsed());
        }
        thread::sleep(Duration::from_millis(20));
    }
    let limit = Duration::from_secs(4);
    let (Some(rs), Some(is)) = (relay_saw, inside_saw) else {
        let _ = sh(&[
            "ip", "netns", "exec", &n.b, "nft", "delete", "table", "inet", "ncbh",
        ]);
        r.fail(&format!(
            "not noticed: relay {relay_saw:?}, inside {inside_saw:?}{}",
            i.report()
        ));
    };
    assert!(
        rs <= limit && is <= limit,
        "noticed after relay {rs:?}, inside {is:?}"
    );
    // Keep it dark a little longer (the inside end redials meanwhile).
    thread::sleep(Duration::from_millis(1500));
    sh(&[
        "ip", "netns", "exec", &n.b, "nft", "delete", "table", "inet", "ncbh",
    ])
    .unwrap();
    let back = Instant::now();
    netns::within_ns(&ns, move || exchange(public, b"after", 1000)).unwrap_or_else(|e| r.fail(&e));
    let took = back.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "served {took:?} after the path came back{}",
        i.report()
    );
}
