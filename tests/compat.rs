//! Compatibility with netcrab 0.11 and with netcat (issue 26): behaviour
//! that scripts written against 0.11, OpenBSD nc or ncat rely on.

use crate::util::peers::{self, udp_peer, udp_recv};
use crate::util::{skip, start, start_no_input, start_with, Stdin, EVERY_STDIN};
use std::io::Write;
use std::net::{Shutdown, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

/// Whether the tested build has `feature`; prints the skip reason if not.
fn has(feature: &str, on: bool) -> bool {
    if !on {
        skip(&format!("needs the '{feature}' feature"));
    }
    on
}

/// `-l` ends when its connection ends, even where it could take more than
/// one client (two addresses, `-m 2`, a hub), as 0.11 did; the
/// client's bytes reach stdout first.
#[test]
fn l_ends_when_its_connection_ends_though_it_could_take_more() {
    let a = "127.0.0.1:0";
    let shapes: &[&[&str]] = &[
        &["-l", a, "-l", a],
        &["-l", a, "-m", "2"],
        &["--fm", "hub", "-l", a],
    ];
    for shape in shapes {
        for kind in EVERY_STDIN {
            let Some(mut p) = start_with(kind, shape) else {
                continue;
            };
            let n = shape.iter().filter(|w| **w == "-l").count();
            let addr = p.listening(n)[0];
            let mut c = peers::connect(addr);
            c.write_all(b"one client\n").unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            // netcrab sends nothing (with an open pipe not even a FIN): the
            // client leaves; the close grace ends the connection.
            drop(c);
            let out = p.expect_exit(0);
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "one client\n",
                "{shape:?} {kind:?}: {}",
                out.stderr
            );
        }
    }
}

/// `-L` is unchanged: after a client leaves, the next one is served.
#[test]
fn big_l_keeps_serving_after_a_client_leaves() {
    let mut p = start(&["-L", "127.0.0.1:0", "-m", "2", "-i", "none"]);
    let addr = p.listen_addr();
    for i in 0..2 {
        let mut c = peers::connect(addr);
        c.write_all(format!("client {i}\n").as_bytes()).unwrap();
        drop(c);
        p.wait_for("closed gracefully");
        thread::sleep(Duration::from_millis(100));
        assert!(p.running(), "{}", p.report());
    }
    let want = b"client 0\nclient 1\n".len();
    let got = p.wait_stdout_len(want);
    assert_eq!(&got[..], b"client 0\nclient 1\n", "{}", p.report());
}

fn classic_line<'a>(stderr: &'a str, unit: &str) -> Option<&'a str> {
    stderr.lines().find(|l| {
        l.starts_with("recv ") && l.contains(&format!("{unit}), send ")) && l.contains(" B/s (")
    })
}

/// `--stats` alone prints 0.11's line every second while traffic flows:
/// `recv N B/s (N recvs/s), send N B/s (N sends/s)` (UDP: `p/s`); the
/// totals at exit stay. `--st` keeps the fuller report.
#[test]
fn stats_alone_prints_the_classic_line_every_second() {
    if !has("stats", cfg!(feature = "stats")) {
        return;
    }
    // TCP.
    let mut p = start_no_input(&["-l", "127.0.0.1:0", "--stats", "-o", "none"]);
    let addr = p.listen_addr();
    let mut c = peers::connect(addr);
    let until = Instant::now() + Duration::from_millis(2300);
    while Instant::now() < until {
        c.write_all(&[b'x'; 1000]).unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    let line = p.wait_stderr("the classic stats line", |e| {
        classic_line(e, "recvs/s").map(str::to_string)
    });
    assert!(line.contains("sends/s)"), "{line}");
    // The byte count is right-aligned in 12 columns, as 0.11 printed it.
    let bytes = &line["recv ".len().."recv ".len() + 12];
    assert!(bytes.trim().parse::<u64>().unwrap() > 0, "{line}");
    drop(c);
    let out = p.expect_exit(0);
    assert!(out.stderr.contains("Stats totals after"), "{}", out.stderr);
    assert!(!out.stderr.contains("Stats total ("), "{}", out.stderr);

    // UDP counts datagrams.
    let mut p = start_no_input(&["-u", "-l", "127.0.0.1:0", "--stats", "-o", "none"]);
    let addr = p.listen_addr();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let until = Instant::now() + Duration::from_millis(2300);
    while Instant::now() < until {
        s.send_to(b"ping", addr).unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    p.wait_stderr("the classic UDP stats line", |e| {
        classic_line(e, "p/s").map(|_| ())
    });
    p.kill();

    // --st: the per-route report, not the classic line.
    let mut p = start_no_input(&["-l", "127.0.0.1:0", "--stats", "--st", "200", "-o", "none"]);
    let addr = p.listen_addr();
    let mut c = peers::connect(addr);
    c.write_all(b"data").unwrap();
    p.wait_for("Stats total (1 open)");
    drop(c);
    let out = p.expect_exit(0);
    assert!(
        classic_line(&out.stderr, "recvs/s").is_none(),
        "{}",
        out.stderr
    );
}

/// `-i fixed --sb N`: the repeated block is N bytes, as 0.11's help says
/// (`--ss` still wins when given). Seen as UDP datagrams, one block each.
#[test]
fn fixed_block_is_sized_by_sb_as_the_old_help_says() {
    if !has("gen", cfg!(feature = "gen")) {
        return;
    }
    for (args, want) in [
        (&["--sb", "1000"][..], 1000usize),
        (&["--sb", "1000", "--ss", "300"][..], 300),
    ] {
        let peer = udp_peer();
        let dest = peer.local_addr().unwrap().to_string();
        let mut all = vec!["-u", "-i", "fixed", "-o", "none"];
        all.extend_from_slice(args);
        all.push(&dest);
        let mut p = start_no_input(&all);
        let first = udp_recv(&peer);
        assert_eq!(first.len(), want, "{args:?}: {}", p.report());
        for _ in 0..3 {
            assert_eq!(udp_recv(&peer), first, "{args:?}: the same block each time");
        }
        p.kill();
    }
}

/// A UDP port nothing listens on (bound once, then let go).
fn closed_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `-z -u`: one datagram (a NUL byte, as ncat) per port; ICMP unreachable
/// is `closed`, silence `open|filtered`, an answer `open`; as nc, the exit
/// is 0 when any port counts as open, 1 when none does.
#[test]
fn udp_scan_tells_closed_from_open() {
    if crate::util::skipped_under_wine(
        "closed UDP ports are told by ICMP port-unreachable, which the Linux build reads \
         (IP_RECVERR); on Windows a closed port reads open|filtered",
    ) {
        return;
    }
    let silent = udp_peer();
    let sp = silent.local_addr().unwrap().port();
    let answering = udp_peer();
    let ap = answering.local_addr().unwrap().port();
    let responder = {
        let a = answering.try_clone().unwrap();
        thread::spawn(move || {
            let mut buf = [0u8; 64];
            // One answer per scan below.
            for _ in 0..2 {
                if let Ok((n, from)) = a.recv_from(&mut buf) {
                    let _ = a.send_to(&buf[..n], from);
                }
            }
        })
    };
    let closed = closed_udp_port();
    for kind in [Stdin::Pipe, Stdin::Null] {
        let (sps, aps, cps) = (sp.to_string(), ap.to_string(), closed.to_string());
        let args = ["-z", "-u", "-w", "1", "127.0.0.1", &sps, &aps, &cps];
        let Some(mut p) = start_with(kind, &args) else {
            continue;
        };
        let out = p.expect_exit(0);
        assert_eq!(udp_recv(&silent), b"\0", "{}", out.stderr);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(
            lines,
            [
                format!("127.0.0.1:{sp} open|filtered (no answer in 1.0 s)"),
                format!("127.0.0.1:{ap} open (answered)"),
                format!("127.0.0.1:{closed} closed (connection refused)"),
            ],
            "{kind:?}"
        );
        let Some(mut p) = start_with(kind, &["-z", "-u", &format!("127.0.0.1:{closed}")]) else {
            continue;
        };
        let out = p.expect_exit(1);
        assert!(
            out.stderr.contains(&format!("127.0.0.1:{closed} closed")),
            "{}",
            out.stderr
        );
    }
    responder.join().unwrap();
    // A UDP scan has no listener side.
    let (mut p, out) = crate::util::run(&["-z", "-u", "-l", "127.0.0.1:0"]);
    assert_eq!(out.code, Some(2), "{}", p.report());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

/// nc's `-z HOST P1 P2 ...`: each port argument is scanned; exit 0 as soon
/// as one is open; a list naming port 0 is refused in one line (exit 2).
#[test]
fn scan_takes_several_port_arguments_and_refuses_port_0() {
    let (l1, a1) = peers::listener();
    let (l2, a2) = peers::listener();
    let closed = crate::util::free_port();
    let (p1, p2, pc) = (
        a1.port().to_string(),
        a2.port().to_string(),
        closed.to_string(),
    );
    let mut p = start_no_input(&["-z", "127.0.0.1", &p1, &pc, &p2]);
    let out = p.expect_exit(0);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.starts_with("Connected from"))
        .collect();
    assert_eq!(lines.len(), 3, "{}", out.stderr);
    assert_eq!(lines[0], format!("{a1} open"));
    assert!(
        lines[1].starts_with(&format!("127.0.0.1:{closed} closed")),
        "{}",
        out.stderr
    );
    assert_eq!(lines[2], format!("{a2} open"));
    let mut p = start_no_input(&["-z", "127.0.0.1", &pc]);
    p.expect_exit(1);
    for list in ["0-3", "0,80"] {
        let (mut p, out) = crate::util::run(&["-z", "127.0.0.1", list]);
        assert_eq!(out.code, Some(2), "{}", p.report());
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains("port 0"), "{}", out.stderr);
    }
    drop((l1, l2));
}

/// netcat's `-k -l -e CMD` runs CMD once per client (as ncat, and as
/// `--exec-each`): `sort` answers each client when that client's input
/// ends. `-L -e` keeps 0.11's one shared child.
#[test]
fn k_l_e_runs_the_command_for_each_client() {
    if !has("exec", cfg!(feature = "exec"))
        || crate::util::skipped_under_wine("sort is a Unix command here")
    {
        return;
    }
    for kind in [Stdin::Pipe, Stdin::Null] {
        let Some(mut p) = start_with(kind, &["-k", "-l", "127.0.0.1:0", "-e", "sort"]) else {
            continue;
        };
        let addr = p.listen_addr();
        for (input, want) in [("pear\napple\n", "apple\npear\n"), ("b\na\n", "a\nb\n")] {
            let mut c = peers::connect(addr);
            c.write_all(input.as_bytes()).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            let got = peers::read_to_end(&mut c);
            assert_eq!(
                String::from_utf8_lossy(&got),
                want,
                "{kind:?}: {}",
                p.report()
            );
        }
        assert!(p.running(), "-k keeps listening: {}", p.report());
        p.kill();
    }
    // -L -e: one child for every client (its output reaches each of them).
    let cmd = "echo started once; cat";
    let mut p = start_no_input(&["-L", "127.0.0.1:0", "-m", "2", "-e", cmd]);
    let addr = p.listen_addr();
    let mut a = peers::connect(addr);
    assert_eq!(peers::read_n(&mut a, 13), b"started once\n");
    let mut b = peers::connect(addr);
    b.write_all(b"from b\n").unwrap();
    assert_eq!(peers::read_n(&mut a, 7), b"from b\n", "{}", p.report());
    drop((a, b));
}

/// `-u HOST PORT`: one read of input is one datagram (as nc, ncat and
/// socat), not cut at 1472; `--ss 1472` gives 0.12.0's cut back.
#[test]
fn udp_one_write_is_one_datagram() {
    for (ss, want) in [
        (None, vec![4000usize]),
        (Some("1472"), vec![1472, 1472, 1056]),
    ] {
        let s = udp_peer();
        let dest = s.local_addr().unwrap().to_string();
        let mut args = vec!["-u"];
        if let Some(n) = ss {
            args.extend(["--ss", n]);
        }
        args.push(&dest);
        let mut p = start(&args);
        // One write below PIPE_BUF reaches netcrab as one read.
        let data = crate::util::random_bytes(4000, 26);
        p.write_stdin(&data);
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        while got.len() < data.len() {
            let d = udp_recv(&s);
            sizes.push(d.len());
            got.extend_from_slice(&d);
        }
        assert_eq!(sizes, want, "--ss {ss:?}: {}", p.report());
        assert_eq!(got, data);
        p.kill();
    }
}

/// `-u HOST CLOSEDPORT`: the ICMP port-unreachable is said in one line,
/// and once input has ended the run ends with exit 1 (as ncat and socat);
/// while input is open it goes on (the port may open).
#[test]
fn udp_port_unreachable_is_said_and_ends_the_run() {
    if crate::util::runner_kind() != crate::util::Runner::Native {
        return skip("ICMP errors are read from Linux's socket error queue (native only)");
    }
    if !cfg!(target_os = "linux") {
        return skip("ICMP errors are reported on Linux only");
    }
    let port = closed_udp_port();
    let dest = format!("127.0.0.1:{port}");
    // Input ended after one line: exit 1, one line.
    let mut p = start(&["-u", &dest]);
    p.write_stdin(b"x\n");
    p.wait_for("is unreachable");
    thread::sleep(Duration::from_millis(300));
    assert!(p.running(), "input is still open: {}", p.report());
    p.close_stdin();
    let out = p.expect_exit(1);
    let lines = out
        .stderr
        .lines()
        .filter(|l| l.contains("is unreachable"))
        .count();
    assert_eq!(lines, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("UDP: {dest} is unreachable")),
        "{}",
        out.stderr
    );
    // stdin /dev/null sends nothing, so nothing is refused: it waits for
    // replies as before.
    let mut p = start_no_input(&["-u", &dest]);
    p.wait_for("Associating");
    thread::sleep(Duration::from_millis(500));
    assert!(p.running(), "{}", p.report());
    p.kill();
}

/// Issue 28 item 9: `-u --mc -L GROUP:PORT` sends its own input to the
/// group (the README's "each hears the other"), as the target form does.
#[test]
fn multicast_listener_form_sends_its_input_to_the_group() {
    let Some(n) = crate::util::netns::pair_or_skip() else {
        return;
    };
    let port = crate::util::free_port().to_string();
    let group = format!("239.255.77.2:{port}");
    let mut rx = n.run(&n.b, &["-u", "--mc", "-L", &group, "-i", "none"], false);
    rx.wait_for("Joining multicast group");
    let mut tx = n.run(&n.a, &["-u", "--mc", "--mc-no-loop", "-L", &group], true);
    tx.wait_for("Joining multicast group");
    tx.write_stdin(b"from a listener");
    assert_eq!(
        rx.wait_stdout_len(15),
        b"from a listener",
        "{}",
        tx.report()
    );
}

/// A one-shot HTTP CONNECT proxy on loopback: answers `status`, then hands
/// the tunnel's socket to `then`.
fn fake_proxy(
    status: &'static str,
    then: impl FnOnce(std::net::TcpStream) + Send + 'static,
) -> (String, thread::JoinHandle<()>) {
    use std::io::Read;
    let (l, addr) = peers::listener();
    let t = thread::spawn(move || {
        let (mut s, _) = peers::accept(&l);
        let mut req = Vec::new();
        let mut b = [0u8; 1];
        while !req.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
            req.push(b[0]);
        }
        s.write_all(format!("{status}\r\n\r\n").as_bytes()).unwrap();
        then(s);
    });
    (addr.to_string(), t)
}

/// Through a proxy, the end of input sends no FIN unless -N (OpenBSD nc's
/// rule: tinyproxy and microsocks drop the tunnel at the client's FIN); a
/// 407 without -P says to add -P USER, in its one line.
#[test]
fn through_a_proxy_input_eof_sends_no_fin_unless_n() {
    use std::io::Read;
    if !has("proxy", cfg!(feature = "proxy")) {
        return;
    }
    for (fin, kind) in [
        (false, Stdin::Null),
        (false, Stdin::Pipe),
        (true, Stdin::Null),
    ] {
        let (tx, rx) = std::sync::mpsc::channel();
        let (proxy, t) = fake_proxy("HTTP/1.1 200 Connection established", move |mut s| {
            s.set_read_timeout(Some(Duration::from_millis(700)))
                .unwrap();
            let mut buf = [0u8; 64];
            let mut got = Vec::new();
            // What came before either the FIN or the timeout.
            let eof = loop {
                match s.read(&mut buf) {
                    Ok(0) => break true,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(_) => break false,
                }
            };
            let _ = s.write_all(b"reply\n");
            tx.send((eof, got)).unwrap();
        });
        let mut args = vec!["-X", "connect", "-x", &proxy];
        if fin {
            args.push("-N");
        }
        args.push("example.invalid:80");
        let Some(mut p) = start_with(kind, &args) else {
            continue;
        };
        if kind == Stdin::Pipe {
            p.write_stdin(b"GET /\n");
            p.close_stdin();
        }
        let (eof, got) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
        t.join().unwrap();
        assert_eq!(
            eof,
            fin,
            "-N {fin}, {kind:?}: FIN at input's end? {}",
            p.report()
        );
        if kind == Stdin::Pipe {
            assert_eq!(got, b"GET /\n");
        }
        let out = p.expect_exit(0);
        assert_eq!(out.stdout, b"reply\n", "{}", out.stderr);
    }
    // 407 and no -P: the hint, in the one line.
    let (proxy, t) = fake_proxy("HTTP/1.1 407 Proxy Authentication Required", drop);
    let (mut p, out) = crate::util::run(&["-X", "connect", "-x", &proxy, "example.invalid:80"]);
    t.join().unwrap();
    assert_eq!(out.code, Some(1), "{}", p.report());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(" 407 ") && out.stderr.contains("add -P USER"),
        "{}",
        out.stderr
    );
}
