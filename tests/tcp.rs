//! TCP client and listener behaviour (router mode "none").

use crate::util::peers::{self, accept, exchange, listener, read_to_end};
use crate::util::{
    self, have_ipv6, random_bytes, runner_kind, same_content as same, skip, start, start_no_input,
    Runner,
};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

const MIB: usize = 1024 * 1024;

#[test]
fn client_moves_4mib_each_way() {
    let (l, addr) = listener();
    let to_peer = random_bytes(4 * MIB, 1);
    let from_peer = random_bytes(4 * MIB, 2);
    let reply = from_peer.clone();
    let peer = thread::spawn(move || {
        let (s, _) = accept(&l);
        exchange(s, reply)
    });
    let mut p = start(&[&addr.to_string()]);
    let feeder = p.feed_stdin(to_peer.clone());
    let out = p.expect_exit(0);
    feeder.join().unwrap();
    same("peer received", &peer.join().unwrap(), &to_peer);
    same("netcrab stdout", &out.stdout, &from_peer);
}

#[test]
fn half_close_lets_the_reply_through() {
    let (l, addr) = listener();
    let peer = thread::spawn(move || {
        let (mut s, _) = accept(&l);
        let req = read_to_end(&mut s); // netcrab's FIN ends this
        s.write_all(b"REPLY to ").unwrap();
        s.write_all(&req).unwrap();
    });
    let mut p = start(&[&addr.to_string()]);
    p.write_stdin(b"GET / HTTP/1.0\r\n\r\n");
    p.close_stdin();
    let out = p.expect_exit(0);
    peer.join().unwrap();
    assert_eq!(out.stdout, b"REPLY to GET / HTTP/1.0\r\n\r\n");
}

#[test]
fn small_input_is_sent_whole() {
    // The original dropped the last partial block (W2).
    let (l, addr) = listener();
    let peer = thread::spawn(move || read_to_end(&mut accept(&l).0));
    let mut p = start(&["--ss", "4", &addr.to_string()]);
    p.write_stdin(b"hello");
    p.close_stdin();
    p.expect_exit(0);
    assert_eq!(peer.join().unwrap(), b"hello");
}

#[test]
fn listen_once_serves_one_client_then_exits() {
    let mut p = start(&["-l", "127.0.0.1:0"]);
    let addr = p.listen_addr();
    let to_client = random_bytes(MIB, 3);
    let from_client = random_bytes(4 * MIB, 4);
    let feeder = p.feed_stdin(to_client.clone());
    let got = exchange(peers::connect(addr), from_client.clone());
    let out = p.expect_exit(0);
    feeder.join().unwrap();
    same("client received", &got, &to_client);
    same("netcrab stdout", &out.stdout, &from_client);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening after -l finished"
    );
}

#[test]
fn listen_with_classic_netcat_spelling() {
    let port = util::free_port().to_string();
    let mut p = start_no_input(&["-lvp", &port]);
    p.wait_for(&format!("Listening on 0.0.0.0:{port}"));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = peers::connect(addr);
    c.write_all(b"classic").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut c), b"");
    let out = p.expect_exit(0);
    assert_eq!(out.stdout, b"classic");
}

#[test]
fn listen_harder_caps_concurrent_clients() {
    let mut p = start_no_input(&["-L", "127.0.0.1:0", "-m", "2", "-i", "none"]);
    let addr = p.listen_addr();
    let mut a = peers::connect(addr);
    let mut b = peers::connect(addr);
    a.write_all(b"a1\n").unwrap();
    b.write_all(b"b1\n").unwrap();
    p.wait_stdout_len(6);
    // The third client is held in the backlog: connected, but not served.
    let mut c = peers::connect(addr);
    c.write_all(b"c1\n").unwrap();
    thread::sleep(Duration::from_millis(500));
    let early = p.stdout();
    assert!(
        !early.windows(3).any(|w| w == b"c1\n"),
        "third client served over -m 2"
    );
    drop(a);
    let all = p.wait_stdout_len(9);
    assert!(all.windows(3).any(|w| w == b"c1\n"));
    assert!(p.running(), "-L must keep running");
    b.write_all(b"b2\n").unwrap();
    p.wait_stdout_len(12);
    drop((b, c));
}

#[test]
fn several_targets_get_the_same_input() {
    let (l1, a1) = listener();
    let (l2, a2) = listener();
    let t1 = thread::spawn(move || read_to_end(&mut accept(&l1).0));
    let t2 = thread::spawn(move || read_to_end(&mut accept(&l2).0));
    let mut p = start(&[&a1.to_string(), &a2.to_string()]);
    p.write_stdin(b"both");
    p.close_stdin();
    p.expect_exit(0);
    assert_eq!(t1.join().unwrap(), b"both");
    assert_eq!(t2.join().unwrap(), b"both");
}

#[test]
fn multiplier_opens_n_connections() {
    let (l, addr) = listener();
    let mut p = start_no_input(&["-i", "none", &format!("{addr}x3")]);
    let conns: Vec<_> = (0..3).map(|_| accept(&l)).collect();
    assert_eq!(conns.len(), 3);
    drop(conns);
    p.expect_exit(0);
}

#[test]
fn source_address_is_bound() {
    let (l, addr) = listener();
    let mut p = start_no_input(&["-i", "none", &format!("127.0.0.5:0={addr}")]);
    let (s, peer) = accept(&l);
    assert_eq!(peer.ip().to_string(), "127.0.0.5");
    drop(s);
    p.expect_exit(0);
}

#[test]
fn ipv6_loopback() {
    if !have_ipv6() {
        return skip("no IPv6 loopback on this machine");
    }
    let (l, addr) = peers::listener_on("[::1]:0");
    let peer = thread::spawn(move || read_to_end(&mut accept(&l).0));
    let mut p = start(&[&addr.to_string()]);
    p.write_stdin(b"over v6");
    p.close_stdin();
    p.expect_exit(0);
    assert_eq!(peer.join().unwrap(), b"over v6");
}

#[test]
fn colon_port_listens_on_every_local_address() {
    let port = util::free_port();
    let mut p = start_no_input(&["-L", &format!(":{port}"), "-m", "0", "-i", "none"]);
    let want_v6 = have_ipv6();
    p.wait_stderr("listeners on 127.0.0.1 (and ::1)", |s| {
        let has = |a: &str| s.contains(&format!("Listening on {a}:{port},"));
        (has("127.0.0.1") && (!want_v6 || has("[::1]"))).then_some(())
    });
    let mut targets = vec![format!("127.0.0.1:{port}")];
    if want_v6 {
        targets.push(format!("[::1]:{port}"));
    }
    for (i, t) in targets.iter().enumerate() {
        let mut c = peers::connect(t.parse().unwrap());
        c.write_all(format!("via {i}\n").as_bytes()).unwrap();
    }
    let n: usize = targets
        .iter()
        .enumerate()
        .map(|(i, _)| format!("via {i}\n").len())
        .sum();
    let out = p.wait_stdout_len(n);
    for i in 0..targets.len() {
        let needle = format!("via {i}\n");
        assert!(
            out.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "missing {needle:?}"
        );
    }
}

#[test]
fn wildcard_star_port_binds_v4_and_v6_side_by_side() {
    let port = util::free_port();
    let mut p = start_no_input(&["-L", &format!("*:{port}"), "-m", "0", "-i", "none"]);
    p.wait_for(&format!("Listening on 0.0.0.0:{port}"));
    if have_ipv6() {
        p.wait_for(&format!("Listening on [::]:{port}"));
    }
    let mut c = peers::connect(format!("127.0.0.1:{port}").parse().unwrap());
    c.write_all(b"v4 ok").unwrap();
    p.wait_stdout_len(5);
}

#[test]
fn closed_stdout_ends_quietly() {
    let mut cmd = util::command(&["-l", "127.0.0.1:0"]);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stderr = child.stderr.take().unwrap();
    // Find the port from the first stderr line.
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        if stderr.read(&mut byte).unwrap_or(0) == 0 {
            panic!(
                "netcrab ended before listening: {}",
                String::from_utf8_lossy(&line)
            );
        }
        line.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&line).to_string();
    let addr: SocketAddr = text
        .strip_prefix("Listening on ")
        .and_then(|r| r.split(',').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {text:?}"));
    let mut out = child.stdout.take().unwrap();
    let sender = thread::spawn(move || {
        let mut c = peers::connect(addr);
        // netcrab stops reading once its stdout is gone; the write may fail.
        let _ = c.write_all(&random_bytes(8 * MIB, 5));
    });
    let mut first = [0u8; 10];
    out.read_exact(&mut first).expect("first bytes");
    drop(out); // like `| head -c 10`
    let deadline = Instant::now() + util::patience();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("netcrab kept running after stdout closed");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    let _ = stderr.read_to_string(&mut err);
    assert_eq!(status.code(), Some(0), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let _ = sender.join();
}

#[test]
fn connection_refused_exits_1_naming_the_address() {
    let port = util::free_port();
    let target = format!("127.0.0.1:{port}");
    let mut p = start_no_input(&[&target]);
    let out = p.expect_exit(1);
    assert!(out.stderr.contains(&target), "{}", out.stderr);
    assert!(
        out.stderr.to_lowercase().contains("refused"),
        "{}",
        out.stderr
    );
}

#[test]
fn busy_port_exits_1_naming_the_address() {
    let (_l, addr) = listener();
    let mut p = start_no_input(&["-l", &addr.to_string()]);
    let out = p.expect_exit(1);
    assert!(out.stderr.contains(&addr.to_string()), "{}", out.stderr);
    assert!(out.stderr.contains("in use"), "{}", out.stderr);
}

#[test]
fn zero_io_reports_open_and_closed() {
    let (l, addr) = listener();
    let mut p = start_no_input(&["-z", &addr.to_string()]);
    p.expect_exit(0);
    drop(l);
    let port = util::free_port();
    let mut p = start_no_input(&["-z", &format!("127.0.0.1:{port}")]);
    p.expect_exit(1);
}

#[test]
fn peer_reset_exits_1_for_listen_once() {
    if util::skipped_under_wine("Wine reports a peer's reset as a graceful close") {
        return;
    }
    let mut p = start_no_input(&["-l", "127.0.0.1:0", "-i", "none"]);
    let addr = p.listen_addr();
    let c = peers::connect(addr);
    let sock = socket2::SockRef::from(&c);
    sock.set_linger(Some(Duration::ZERO)).unwrap();
    let mut c = c;
    c.write_all(b"before reset").unwrap();
    p.wait_stdout_len(12);
    drop(c);
    let out = p.expect_exit(1);
    assert!(out.stderr.contains("reset"), "{}", out.stderr);
}

#[test]
fn memory_stays_flat_with_a_paused_reader() {
    if runner_kind() != Runner::Native {
        return skip(
            "RSS is measured on the native binary only (an emulator's own memory would count)",
        );
    }
    const TOTAL: usize = 256 * MIB;
    let mut cmd = util::command(&["-l", "127.0.0.1:0"]);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let pid = child.id();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    let addr: SocketAddr = line
        .strip_prefix("Listening on ")
        .and_then(|r| r.split(',').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let sender = thread::spawn(move || {
        let mut c = peers::connect(addr);
        let block = random_bytes(MIB, 9);
        for _ in 0..TOTAL / MIB {
            c.write_all(&block).unwrap();
        }
    });
    // The reader pauses: sample netcrab's memory meanwhile.
    let mut peak = 0;
    let pause_end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < pause_end {
        peak = peak.max(util::rss_kib(pid).unwrap_or(0));
        thread::sleep(Duration::from_millis(50));
    }
    let mut out = child.stdout.take().unwrap();
    let mut buf = vec![0u8; MIB];
    let mut total = 0usize;
    let mut n_read = 0usize;
    let block = random_bytes(MIB, 9);
    loop {
        let n = out.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        for (i, b) in buf[..n].iter().enumerate() {
            if *b != block[(total + i) % MIB] {
                let _ = child.kill();
                panic!("byte {} differs", total + i);
            }
        }
        total += n;
        n_read += 1;
        if n_read % 16 == 0 {
            peak = peak.max(util::rss_kib(pid).unwrap_or(0));
        }
    }
    sender.join().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(total, TOTAL);
    assert_eq!(status.code(), Some(0));
    assert!(peak > 0, "could not read RSS");
    assert!(peak < 32 * 1024, "peak RSS {peak} KiB is over 32 MiB");
    eprintln!("peak RSS {peak} KiB");
}

#[test]
fn zero_io_scans_a_port_list() {
    let (l1, a1) = listener();
    let (l2, a2) = listener();
    let closed = util::free_port();
    let list = format!("{},{}-{},{closed}", a1.port(), a2.port(), a2.port());
    let mut p = start_no_input(&["-z", "-w", "2", "127.0.0.1", &list]);
    // As nc: some port open is success (issue 26).
    let out = p.expect_exit(0);
    assert!(out.stderr.contains(&format!("{a1} open")), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("{a2} open")), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{closed} closed")),
        "{}",
        out.stderr
    );
    let mut p = start_no_input(&["-z", "127.0.0.1", &format!("{},{}", a1.port(), a2.port())]);
    p.expect_exit(0);
    drop((l1, l2));
}

#[test]
fn ctrl_c_flushes_what_arrived_and_exits_130() {
    if runner_kind() == Runner::Wine {
        return skip("Ctrl-C is a console event under Windows; `kill -INT` does not reach it");
    }
    let mut p = start_no_input(&["-l", "127.0.0.1:0"]);
    let addr = p.listen_addr();
    let mut c = peers::connect(addr);
    c.write_all(b"partial data").unwrap();
    p.wait_stdout_len(12);
    let ok = std::process::Command::new("kill")
        .args(["-INT", &p.pid().to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -INT failed");
    let out = p.expect_exit(130);
    assert_eq!(out.stdout, b"partial data");
    drop(c);
}

#[test]
fn character_mode_sends_keys_as_typed_and_restores_the_terminal() {
    if runner_kind() == Runner::Wine {
        return skip("character mode is for Unix terminals");
    }
    if std::process::Command::new("python3")
        .arg("-V")
        .output()
        .is_err()
    {
        return skip("python3 drives the pseudo-terminal");
    }
    let (l, addr) = listener();
    let mut words: Vec<String> = std::env::var("NETCRAB_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    words.push(
        std::env::var("NETCRAB_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netcrab").to_string()),
    );
    // A pseudo-terminal as netcrab's stdin: type "ab" (no Enter), then
    // Ctrl-D; afterwards report whether line mode (ICANON) is back.
    let script = format!(
        "import os, pty, sys, termios, time, subprocess\n\
         m, s = pty.openpty()\n\
         p = subprocess.Popen({words:?} + ['-i', 'stdin', '{addr}'], stdin=s, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n\
         time.sleep(1.0)\n\
         os.write(m, b'ab')\n\
         time.sleep(1.0)\n\
         os.write(m, b'\\x04')\n\
         p.wait(timeout=20)\n\
         print('icanon', bool(termios.tcgetattr(s)[3] & termios.ICANON), flush=True)\n"
    );
    let driver = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let (mut s, _) = accept(&l);
    // The two keys arrive before any Enter or end of input.
    assert_eq!(peers::read_n(&mut s, 2), b"ab");
    // Ctrl-D ends input: netcrab's FIN follows.
    assert_eq!(read_to_end(&mut s), b"");
    drop(s);
    let out = driver.wait_with_output().expect("driver");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "icanon True");
}
