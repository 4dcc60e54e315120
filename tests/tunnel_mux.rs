//! Tunnel mode with `--tunnel-mux`: every client stream on the inside end's
//! one control connection. 100 streams at once, a stalled reader that
//! stalls only its own stream, half-closes, a reset stream, a cut link,
//! UDP, an old relay, one CONNECT through tinyproxy for 50 clients, and the
//! memory of 1,000 idle streams.

use crate::util::netns::{self, NET, NET_C};
use crate::util::tunnel::{
    behind_or_skip, built, exchange, frame, inside_to, installed, native_or_skip, read_frame,
    relay_with, service, service_into, slack, speak_first_client, tcp_tunnel, tinyproxy_with,
    udp_echo_service, udp_roundtrip, wait_port, Seen,
};
use crate::util::{self, patience, random_bytes, sha256, Proc};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A relay with one TCP public address per service, and an inside end with
/// `--tunnel-mux` for `services`; returns both and the public addresses.
fn mux_tunnel(services: &[SocketAddr]) -> (Proc, Proc, Vec<SocketAddr>) {
    tcp_tunnel(services, &["--tunnel-mux"])
}

/// A service answering the hash of what it got and `answer` bytes.
fn hash_service(answer: usize) -> (SocketAddr, Seen) {
    service(answer, false)
}

/// Run `n` clients at once, each with its own payload of `len` bytes.
fn clients_at_once(public: SocketAddr, n: usize, len: usize, answer: usize) -> Vec<String> {
    let ts: Vec<_> = (0..n)
        .map(|k| {
            thread::spawn(move || {
                exchange(public, &random_bytes(len, 5000 + k as u64), answer)
                    .map_err(|e| format!("client {k}: {e}"))
            })
        })
        .collect();
    ts.into_iter()
        .filter_map(|t| t.join().unwrap().err())
        .collect()
}

#[test]
fn mux_a_hundred_streams_at_once_on_one_link_arrive_whole() {
    if !built() {
        return;
    }
    let (svc, seen) = hash_service(64 * 1024);
    let (mut r, mut i, public) = mux_tunnel(&[svc]);
    let errs = clients_at_once(public[0], 100, 100 * 1024, 64 * 1024);
    if !errs.is_empty() {
        r.fail(&format!("{errs:?}\ninside end: {}", i.report()));
    }
    assert_eq!(seen.lock().unwrap().len(), 100);
    // One login: no connection per client.
    assert_eq!(r.stderr().matches("logged in").count(), 1, "{}", r.stderr());
    assert!(i.running() && r.running());
    i.kill();
}

#[test]
fn mux_half_close_crosses_the_link_both_ways_with_the_whole_reply() {
    if !built() {
        return;
    }
    let (a1, _) = service(1 << 20, false);
    let (a2, s2) = service(1 << 20, true);
    let (mut r, mut i, public) = mux_tunnel(&[a1, a2]);
    // The client half-closes first and still gets the whole answer.
    exchange(public[0], &random_bytes(2 << 20, 1), 1 << 20).unwrap_or_else(|e| r.fail(&e));
    // The service half-closes first; what the client sends after arrives.
    let payload = random_bytes(1 << 20, 2);
    speak_first_client(public[1], &payload, 1 << 20).unwrap_or_else(|e| r.fail(&e));
    let deadline = Instant::now() + patience();
    while s2.lock().unwrap().is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(s2.lock().unwrap().first(), Some(&sha256::hex(&payload)));
    i.kill();
}

#[test]
fn mux_a_stalled_reader_stalls_only_its_own_stream() {
    if !built() {
        return;
    }
    const BIG: usize = 64 << 20;
    // Service 1 sends 64 MiB to each client at once; service 2 hashes.
    let (a1, _) = service(BIG, true);
    let (a2, seen) = hash_service(256 * 1024);
    let (mut r, mut i, public) = mux_tunnel(&[a1, a2]);
    let mut stalled = TcpStream::connect(public[0]).unwrap();
    // Let the window and the socket buffers fill behind it.
    thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let errs = clients_at_once(public[1], 20, 256 * 1024, 256 * 1024);
    if !errs.is_empty() {
        r.fail(&format!("{errs:?}\ninside end: {}", i.report()));
    }
    let took = t.elapsed();
    assert!(
        took < slack(Duration::from_secs(10)),
        "20 clients took {took:?} beside a stalled one"
    );
    assert_eq!(seen.lock().unwrap().len(), 20);
    // Memory stays bounded by the windows, not by the 64 MiB queued.
    if util::runner_kind() == util::Runner::Native {
        for (who, p) in [("relay", &r), ("inside end", &i)] {
            if let Some(kib) = util::rss_kib(p.pid()) {
                assert!(
                    kib < 48 * 1024,
                    "{who} holds {kib} KiB with a stalled reader"
                );
            }
        }
    }
    // Now it reads: every byte arrives, in order.
    stalled.set_read_timeout(Some(patience())).unwrap();
    let mut got = Vec::with_capacity(BIG);
    stalled
        .read_to_end(&mut got)
        .unwrap_or_else(|e| r.fail(&format!("the stalled reader: {e}")));
    assert_eq!(got.len(), BIG);
    assert!(
        got == random_bytes(BIG, 7),
        "the stalled stream's bytes differ"
    );
    assert!(i.running() && r.running());
    i.kill();
}

/// A service that records how each connection ended: "eof" or "error".
fn ending_service() -> (SocketAddr, Arc<Mutex<Vec<&'static str>>>) {
    let (l, a) = util::peers::listener();
    let ends = Arc::new(Mutex::new(Vec::new()));
    let e2 = ends.clone();
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            let ends = e2.clone();
            thread::spawn(move || {
                c.set_read_timeout(Some(patience())).unwrap();
                let mut buf = [0u8; 65536];
                let how = loop {
                    match c.read(&mut buf) {
                        Ok(0) => break "eof",
                        Ok(_) => {}
                        Err(_) => break "error",
                    }
                };
                ends.lock().unwrap().push(how);
            });
        }
    });
    (a, ends)
}

fn reset(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
}

#[test]
fn mux_a_reset_stream_is_reset_at_its_service_and_the_link_goes_on() {
    if !built() {
        return;
    }
    if util::skipped_under_wine("Wine does not report a peer's reset to the reader") {
        return;
    }
    let (sa, ends) = ending_service();
    let (hs, _) = hash_service(1000);
    let (mut r, mut i, public) = mux_tunnel(&[sa, hs]);
    let mut c = TcpStream::connect(public[0]).unwrap();
    c.write_all(&random_bytes(100_000, 3)).unwrap();
    // Another stream in the middle of its exchange meanwhile.
    let mut other = TcpStream::connect(public[1]).unwrap();
    other.write_all(b"half of it, ").unwrap();
    thread::sleep(Duration::from_millis(300));
    reset(c);
    let deadline = Instant::now() + patience();
    while ends.lock().unwrap().is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        ends.lock().unwrap().first(),
        Some(&"error"),
        "the service did not see the reset\nrelay: {}",
        r.report()
    );
    // The other stream and the link go on.
    other.write_all(b"the rest").unwrap();
    other.shutdown(Shutdown::Write).unwrap();
    other.set_read_timeout(Some(patience())).unwrap();
    let mut got = Vec::new();
    other.read_to_end(&mut got).unwrap();
    let hash = sha256::hex(b"half of it, the rest");
    assert!(
        got.starts_with(hash.as_bytes()),
        "the other stream's answer"
    );
    exchange(public[1], b"a new client", 1000).unwrap_or_else(|e| r.fail(&e));
    assert!(!r.stderr().contains("dropped"), "{}", r.stderr());
    assert_eq!(r.stderr().matches("logged in").count(), 1);
    i.kill();
}

/// A TCP forwarder the test can cut: every connection through it so far
/// is shut down, new ones are forwarded again.
struct Cuttable {
    addr: SocketAddr,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Cuttable {
    fn new(to: SocketAddr) -> Cuttable {
        let (l, addr) = util::peers::listener();
        let live: Arc<Mutex<Vec<TcpStream>>> = Default::default();
        let l2 = live.clone();
        thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { return };
                let Ok(up) = TcpStream::connect(to) else {
                    continue;
                };
                l2.lock().unwrap().push(c.try_clone().unwrap());
                l2.lock().unwrap().push(up.try_clone().unwrap());
                for (mut a, mut b) in [(c.try_clone().unwrap(), up.try_clone().unwrap()), (up, c)] {
                    thread::spawn(move || {
                        let _ = std::io::copy(&mut a, &mut b);
                        let _ = b.shutdown(Shutdown::Write);
                    });
                }
            }
        });
        Cuttable { addr, live }
    }

    fn cut(&self) {
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

#[test]
fn mux_a_cut_link_resets_its_streams_and_the_next_clients_use_the_new_link() {
    if !built() {
        return;
    }
    let (svc, _) = hash_service(1000);
    let (mut r, ctrl, public) = relay_with(&["127.0.0.1:0"], &["--tunnel-keepalive", "1"]);
    let fwd = Cuttable::new(ctrl);
    let mut i = inside_to(fwd.addr, &[&svc], &["--tunnel-mux"]);
    // A stream in the middle of its transfer (the service waits for its end).
    let mut c = TcpStream::connect(public[0]).unwrap();
    c.write_all(&random_bytes(1 << 20, 9)).unwrap();
    thread::sleep(Duration::from_millis(300));
    fwd.cut();
    c.set_read_timeout(Some(patience())).unwrap();
    let t = Instant::now();
    let mut got = Vec::new();
    let res = c.read_to_end(&mut got);
    assert!(
        res.is_err() || got.is_empty(),
        "a cut stream read {} bytes as if whole",
        got.len()
    );
    assert!(t.elapsed() < slack(Duration::from_secs(5)));
    // The inside end dials again; the next clients are served.
    i.wait_stderr("a second Tunnel up", |e| {
        (e.matches("Tunnel up").count() >= 2).then_some(())
    });
    exchange(public[0], b"after the cut", 1000).unwrap_or_else(|e| r.fail(&e));
    let errs = clients_at_once(public[0], 10, 10_000, 1000);
    assert!(errs.is_empty(), "{errs:?}");
    assert!(r.running() && i.running());
    i.kill();
}

#[test]
fn mux_udp_and_tcp_services_keep_datagrams_whole() {
    if !built() {
        return;
    }
    let (tcp, _) = hash_service(1000);
    let udp = format!("udp:{}", udp_echo_service());
    let (mut r, ctrl, public) = relay_with(&["127.0.0.1:0", "udp:127.0.0.1:0"], &[]);
    let mut i = inside_to(ctrl, &[&tcp, &udp], &["--tunnel-mux"]);
    let one = UdpSocket::bind("127.0.0.1:0").unwrap();
    one.set_read_timeout(Some(patience())).unwrap();
    for (n, len) in [1, 2, 100, 1400, 9000, 32_768, 65_507].iter().enumerate() {
        udp_roundtrip(&one, public[1], *len, n as u64).unwrap_or_else(|e| r.fail(&e));
    }
    let peers: Vec<_> = (0..10)
        .map(|k| {
            let to = public[1];
            thread::spawn(move || {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_read_timeout(Some(patience())).unwrap();
                for (n, len) in [1, 100, 1400].iter().enumerate() {
                    udp_roundtrip(&s, to, *len, (k * 100 + n) as u64)?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for p in peers {
        p.join().unwrap().unwrap_or_else(|e| r.fail(&e));
    }
    exchange(public[0], b"tcp beside udp", 1000).unwrap_or_else(|e| r.fail(&e));
    i.kill();
}

#[test]
fn mux_an_older_relay_is_one_clear_line_and_exit_1() {
    if !built() {
        return;
    }
    // A relay of the version before the mux link: it reads a LoginMux as
    // an unknown message type and says so.
    let (l, a) = util::peers::listener();
    let fake = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(patience())).unwrap();
        let hello = read_frame(&mut s).expect("Hello");
        assert_eq!(hello[0], 0x01);
        let mut ch = vec![0x02, 2];
        ch.extend_from_slice(&[5; 32]);
        ch.push(0);
        s.write_all(&frame(&ch)).unwrap();
        let login = read_frame(&mut s).expect("Login");
        let msg = b"unknown message type 0x16";
        let mut e = vec![0x03, 0, msg.len() as u8];
        e.extend_from_slice(msg);
        s.write_all(&frame(&e)).unwrap();
        login[0]
    });
    let relay = a.to_string();
    let (_, out) = util::run(&["--tunnel-inside", &relay, "--tunnel-mux", "127.0.0.1:9"]);
    assert_eq!(fake.join().unwrap(), 0x16, "not a LoginMux");
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("--tunnel-mux"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(
        lines[0].contains("does not support --tunnel-mux"),
        "{}",
        out.stderr
    );
}

#[test]
fn mux_is_refused_on_the_relay_and_without_a_tunnel() {
    if !built() {
        return;
    }
    let (_, out) = util::run(&[
        "--tunnel-relay",
        "127.0.0.1:0",
        "--tunnel-public",
        "127.0.0.1:0",
        "--tunnel-mux",
    ]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("--tunnel-mux is a --tunnel-inside option"),
        "{}",
        out.stderr
    );
    let (_, out) = util::run(&["--tunnel-mux", "127.0.0.1:9"]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("--tunnel-mux needs --tunnel-relay or --tunnel-inside"),
        "{}",
        out.stderr
    );
}

/// Peak resident memory (VmHWM) of a process, in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The README's figure: both ends' peak RSS with 1,000 idle streams open.
pub const IDLE_STREAMS_PEAK_KIB: u64 = 32 * 1024;

#[test]
fn mux_a_thousand_idle_streams_keep_both_ends_small() {
    if !built() || !native_or_skip("peak RSS from /proc") {
        return;
    }
    const N: usize = 1000;
    // Room for all N in the service's accept queue: what is measured is
    // the tunnel's, not this test's accepting thread's, speed.
    let (l, svc) = util::peers::listener_with_backlog(N as i32 + 24);
    let held = Arc::new(Mutex::new(Vec::new()));
    let h2 = held.clone();
    thread::spawn(move || {
        for c in l.incoming().flatten() {
            h2.lock().unwrap().push(c);
        }
    });
    let (mut r, mut i, public) = mux_tunnel(&[svc]);
    let mut clients = Vec::new();
    for k in 0..N {
        match TcpStream::connect(public[0]) {
            Ok(c) => clients.push(c),
            Err(e) => r.fail(&format!("client {k}: {e}")),
        }
    }
    // A loaded machine (parallel tests) opens them slower.
    let deadline = Instant::now() + patience() * 2;
    while held.lock().unwrap().len() < N && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let opened = held.lock().unwrap().len();
    if opened != N {
        r.fail(&format!(
            "{opened} of {N} streams opened at the service\ninside end: {}",
            i.report()
        ));
    }
    thread::sleep(Duration::from_millis(200));
    let (rp, ip) = (peak_kib(r.pid()).unwrap(), peak_kib(i.pid()).unwrap());
    println!("peak RSS with {N} idle mux streams: relay {rp} KiB, inside end {ip} KiB");
    assert!(rp < IDLE_STREAMS_PEAK_KIB, "relay peak {rp} KiB");
    assert!(ip < IDLE_STREAMS_PEAK_KIB, "inside end peak {ip} KiB");
    // Both ends are still up with all of them open.
    assert!(r.running() && i.running(), "an end left");
    drop(clients);
    i.kill();
}

fn count_connects(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("Request") && l.contains("CONNECT "))
        .count()
}

#[test]
fn mux_through_tinyproxy_fifty_clients_take_one_connect() {
    if !built() || !cfg!(feature = "proxy") || !native_or_skip("proxy namespaces") {
        return;
    }
    if !installed("tinyproxy") {
        return;
    }
    let Some((n, c)) = behind_or_skip() else {
        return;
    };
    let pport = util::free_port();
    let pip = format!("{NET_C}.1");
    let log =
        std::env::temp_dir().join(format!("netcrab-mux-{}-tinyproxy.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let _proxy = tinyproxy_with(
        Some(&n.b),
        &pip,
        pport,
        &format!("{NET_C}.0/24"),
        "alice",
        "s3cret",
        &format!("LogFile \"{}\"\n", log.display()),
    );
    let paddr: SocketAddr = format!("{pip}:{pport}").parse().unwrap();
    wait_port(Some(&c.c), paddr);
    let relay_ip = format!("{NET}.1");
    let seen: Seen = Default::default();
    let svc = netns::within_ns(&c.c, {
        let seen = seen.clone();
        move || service_into(64 * 1024, false, seen)
    });
    let (iport, pubp) = (util::free_port(), util::free_port());
    let mut r = n.run(
        &n.a,
        &[
            "--tunnel-relay",
            &format!("{relay_ip}:{iport}"),
            "--tunnel-public",
            &format!("{relay_ip}:{pubp}"),
        ],
        false,
    );
    r.listening(2);
    let pass = std::env::temp_dir().join(format!("netcrab-mux-{}-pass", std::process::id()));
    std::fs::write(&pass, "s3cret\n").unwrap();
    let mut i = n.run(
        &c.c,
        &[
            "--tunnel-inside",
            &format!("{relay_ip}:{iport}"),
            &svc.to_string(),
            "--tunnel-mux",
            "--proxy",
            &paddr.to_string(),
            "--proxy-type",
            "http",
            "--proxy-auth",
            "alice",
            "--proxy-pass-file",
            pass.to_str().unwrap(),
        ],
        false,
    );
    i.wait_for("Tunnel up");
    let public: SocketAddr = format!("{relay_ip}:{pubp}").parse().unwrap();
    let ns = n.a.clone();
    let errs = netns::within_ns(&ns, move || {
        clients_at_once(public, 50, 256 * 1024, 64 * 1024)
    });
    if !errs.is_empty() {
        r.fail(&format!("{errs:?}\ninside end: {}", i.report()));
    }
    assert_eq!(seen.lock().unwrap().len(), 50);
    assert_eq!(count_connects(&log), 1, "CONNECTs in tinyproxy's log");
    let _ = std::fs::remove_file(&pass);
    let _ = std::fs::remove_file(&log);
    drop(c);
}

#[test]
fn mux_a_bulk_stream_does_not_hold_back_new_streams() {
    if !built() {
        return;
    }
    // Service 1 pours up to 512 MiB into its client; service 2 answers
    // short exchanges. The bulk runs throughout while new clients come.
    let (l1, a1) = util::peers::listener();
    thread::spawn(move || {
        for c in l1.incoming() {
            let Ok(mut c) = c else { return };
            thread::spawn(move || {
                let chunk = vec![0x5au8; 64 * 1024];
                for _ in 0..(512 << 20) / chunk.len() {
                    if c.write_all(&chunk).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let (a2, _) = hash_service(100);
    let (mut r, mut i, public) = mux_tunnel(&[a1, a2]);
    let bulk = public[0];
    let reader = thread::spawn(move || {
        let mut s = TcpStream::connect(bulk).unwrap();
        s.set_read_timeout(Some(patience())).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0usize;
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(3) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        got
    });
    thread::sleep(Duration::from_millis(300));
    let mut worst = Duration::ZERO;
    for k in 0..20 {
        let t = Instant::now();
        exchange(public[1], format!("short {k}").as_bytes(), 100).unwrap_or_else(|e| r.fail(&e));
        worst = worst.max(t.elapsed());
    }
    let got = reader.join().unwrap();
    assert!(got > 4 << 20, "the bulk stream moved only {got} bytes");
    assert!(
        worst < slack(Duration::from_secs(2)),
        "a short exchange took {worst:?} beside a bulk stream"
    );
    i.kill();
}

/// A UNIX stream service answering as `tcp_service` does (hash line, then
/// `answer` bytes seeded by it), at a fresh path.
fn unix_service(answer: usize) -> std::path::PathBuf {
    use crate::util::tunnel::seed_of;
    let path = std::env::temp_dir().join(format!(
        "netcrab-mux-{}-{}.sock",
        std::process::id(),
        util::free_port()
    ));
    let _ = std::fs::remove_file(&path);
    let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            thread::spawn(move || {
                c.set_read_timeout(Some(patience())).unwrap();
                let mut got = Vec::new();
                if c.read_to_end(&mut got).is_err() {
                    return;
                }
                let hash = sha256::hex(&got);
                let _ = c.write_all(format!("{hash}\n").as_bytes());
                let _ = c.write_all(&random_bytes(answer, seed_of(&hash)));
            });
        }
    });
    path
}

#[test]
fn a_unix_service_is_served_with_and_without_mux() {
    if !built() {
        return;
    }
    // Checked on the command line, everywhere (AF_UNIX or not).
    let (_, out) = util::run(&["--tunnel-inside", "127.0.0.1:9", "unix:"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("needs a socket path"), "{}", out.stderr);
    if !crate::unix::has_af_unix() {
        // A Windows (here: a Wine) without AF_UNIX: one line, exit 1,
        // before the inside end dials anything.
        let (_, out) = util::run(&["--tunnel-inside", "127.0.0.1:9", "unix:/tmp/netcrab.sock"]);
        assert_eq!(out.code, Some(1), "{}", out.stderr);
        assert!(
            out.stderr.contains(crate::unix::NO_AF_UNIX),
            "{}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        util::skip(
            "tunnel unix: service traffic: this Wine has no AF_UNIX (socket() fails with \
             WSAEAFNOSUPPORT); the Windows build needs Windows 10 1803 or later",
        );
        return;
    }
    // Natively, and under a Wine with AF_UNIX: the Windows build's path
    // (net::unix's AF_UNIX streams) serves the same clients.
    let path = unix_service(100_000);
    let svc = format!("unix:{}", path.display());
    for mux in [false, true] {
        let (mut r, ctrl, public) = relay_with(&["127.0.0.1:0"], &[]);
        let extra: &[&str] = if mux { &["--tunnel-mux"] } else { &[] };
        let mut i = inside_to(ctrl, &[&svc], extra);
        assert!(i.stderr().contains(&svc), "{}", i.stderr());
        let errs = clients_at_once(public[0], 10, 200_000, 100_000);
        if !errs.is_empty() {
            r.fail(&format!("mux {mux}: {errs:?}\ninside end: {}", i.report()));
        }
        i.kill();
    }
    let _ = std::fs::remove_file(&path);
    // A unix: service is a stream: not with udp:.
    let (_, out) = util::run(&["--tunnel-inside", "127.0.0.1:9", &format!("udp:{svc}")]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("stream socket"), "{}", out.stderr);
}
