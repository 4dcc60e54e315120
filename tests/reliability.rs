//! Reliability and access control: refused peers, idle timeouts, slow hub
//! clients, resets, running out of descriptors, and a bounded soak.

use crate::util::peers::{self, read_to_end};
use crate::util::{self, random_bytes, runner_kind, sha256, skip, start_no_input, Runner};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// Connect from a chosen loopback source address.
fn connect_from(src: &str, to: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let src: SocketAddr = format!("{src}:0").parse().unwrap();
    s.bind(&src.into()).unwrap();
    s.connect(&to.into()).unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(util::patience())).unwrap();
    s
}

fn reset(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
}

#[test]
fn allow_and_deny_decide_who_gets_in() {
    let dir = std::env::temp_dir().join(format!("netcrab-acl-{}", std::process::id()));
    std::fs::write(&dir, "# refused ones\n127.0.0.9   # this one\n\n").unwrap();
    let deny_file = dir.to_string_lossy().to_string();
    let mut p = start_no_input(&[
        "-L",
        "127.0.0.1:0",
        "-m",
        "0",
        "-i",
        "none",
        "-v",
        "--allow",
        "127.0.0.0/8",
        "--deny-file",
        &deny_file,
    ]);
    let addr = p.listen_addr();
    let mut refused = connect_from("127.0.0.9", addr);
    let _ = refused.write_all(b"refused\n");
    // Closed at once by netcrab: EOF or a reset, never data.
    let mut buf = [0u8; 16];
    assert!(matches!(refused.read(&mut buf), Ok(0) | Err(_)));
    p.wait_for("Refused connection from 127.0.0.9");
    let mut ok = connect_from("127.0.0.7", addr);
    ok.write_all(b"allowed\n").unwrap();
    let out = p.wait_stdout_len(8);
    assert_eq!(out, b"allowed\n");
    let _ = std::fs::remove_file(dir);
}

#[test]
fn udp_datagrams_from_refused_peers_are_dropped() {
    let mut p = start_no_input(&[
        "-u",
        "-L",
        "127.0.0.1:0",
        "-i",
        "none",
        "--deny",
        "127.0.0.9",
    ]);
    let addr = p.listen_addr();
    let bad = std::net::UdpSocket::bind("127.0.0.9:0").unwrap();
    let good = std::net::UdpSocket::bind("127.0.0.7:0").unwrap();
    bad.send_to(b"bad", addr).unwrap();
    good.send_to(b"good", addr).unwrap();
    assert_eq!(p.wait_stdout_len(4), b"good");
    thread::sleep(Duration::from_millis(200));
    assert_eq!(p.stdout(), b"good");
}

#[test]
fn idle_timeout_closes_only_the_idle_connection() {
    let mut p = start_no_input(&[
        "-L",
        "127.0.0.1:0",
        "-m",
        "0",
        "-i",
        "none",
        "--idle-timeout",
        "0.5",
    ]);
    let addr = p.listen_addr();
    let mut idle = peers::connect(addr);
    let mut busy = peers::connect(addr);
    let started = Instant::now();
    // The busy one talks every 100 ms for 1.5 s: it must stay open.
    for i in 0..15 {
        busy.write_all(format!("{i:02}").as_bytes()).unwrap();
        thread::sleep(Duration::from_millis(100));
    }
    let mut buf = [0u8; 8];
    assert_eq!(
        idle.read(&mut buf).unwrap_or(0),
        0,
        "idle connection not closed"
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
    busy.write_all(b"ok").unwrap();
    let out = p.wait_stdout_len(32);
    assert!(out.ends_with(b"14ok"), "{}", String::from_utf8_lossy(&out));
    assert!(p.running());
}

#[test]
fn hub_drops_a_client_that_stops_reading() {
    let mut p = start_no_input(&[
        "-L",
        "127.0.0.1:0",
        "--fm",
        "hub",
        "-m",
        "0",
        "-i",
        "none",
        "-o",
        "none",
        "--hub-wait",
        "1",
    ]);
    let addr = p.listen_addr();
    let stuck = peers::connect(addr);
    socket2::SockRef::from(&stuck)
        .set_recv_buffer_size(4096)
        .unwrap();
    let mut reader = peers::connect(addr);
    let writer = peers::connect(addr);
    p.wait_stderr("3 accepted clients", |s| {
        (s.matches("Accepted connection").count() >= 3).then_some(())
    });
    const TOTAL: usize = 24 * 1024 * 1024;
    let data = random_bytes(TOTAL, 42);
    let want = sha256::hex(&data);
    let w = thread::spawn(move || {
        let mut writer = writer;
        writer.write_all(&data).unwrap();
        writer
    });
    let got = peers::read_n(&mut reader, TOTAL);
    assert_eq!(sha256::hex(&got), want, "the reading client lost data");
    p.wait_for("Dropping a hub client that stopped reading");
    let _writer = w.join().unwrap();
    drop(stuck);
}

#[test]
fn a_reset_in_a_hub_ends_only_that_client() {
    if util::skipped_under_wine("Wine reports a peer's reset as a graceful close") {
        return;
    }
    let mut p = start_no_input(&["-L", "127.0.0.1:0", "--fm", "hub", "-m", "0", "-i", "none"]);
    let addr = p.listen_addr();
    let mut a = peers::connect(addr);
    let mut b = peers::connect(addr);
    let c = peers::connect(addr);
    p.wait_stderr("3 accepted clients", |s| {
        (s.matches("Accepted connection").count() >= 3).then_some(())
    });
    reset(c);
    p.wait_for("closed with result");
    a.write_all(b"still here").unwrap();
    assert_eq!(peers::read_n(&mut b, 10), b"still here");
    b.write_all(b"me too").unwrap();
    assert_eq!(peers::read_n(&mut a, 6), b"me too");
    assert!(p.running());
}

#[test]
fn running_out_of_descriptors_does_not_stop_the_listener() {
    if runner_kind() != Runner::Native || !cfg!(unix) {
        return skip("lowers RLIMIT_NOFILE with the shell's ulimit on the native binary");
    }
    let bin =
        std::env::var("NETCRAB_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netcrab").to_string());
    let script = format!("ulimit -n 24 && exec '{bin}' -L 127.0.0.1:0 -m 0 -i none");
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    let addr: SocketAddr = line
        .strip_prefix("Listening on ")
        .and_then(|r| r.split(',').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    // More clients than descriptors: some accepts fail with EMFILE.
    let crowd: Vec<TcpStream> = (0..40).map(|_| peers::connect(addr)).collect();
    let mut seen_emfile = false;
    let deadline = Instant::now() + util::patience();
    while !seen_emfile && Instant::now() < deadline {
        line.clear();
        if std::io::BufRead::read_line(&mut err, &mut line).unwrap_or(0) == 0 {
            break;
        }
        seen_emfile =
            line.contains("accept on") && line.to_lowercase().contains("too many open files");
    }
    drop(crowd);
    assert!(seen_emfile, "no EMFILE report");
    // Descriptors free up: a new client is served.
    let mut late = peers::connect(addr);
    late.write_all(b"served after EMFILE").unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let deadline = Instant::now() + util::patience();
    while !got.ends_with(b"served after EMFILE") && Instant::now() < deadline {
        let n = out.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        got.ends_with(b"served after EMFILE"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

fn fd_count(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

/// One client of the soak: send a random amount, half-close, check the
/// echo; or (every fifth) reset in the middle.
fn soak_client(addr: SocketAddr, seed: u64) -> bool {
    let len = (seed as usize * 7919) % (256 * 1024) + 1;
    let data = random_bytes(len, seed);
    let s = peers::connect(addr);
    if seed % 5 == 0 {
        let mut s = s;
        let _ = s.write_all(&data[..len / 2]);
        reset(s);
        return true;
    }
    let mut w = s.try_clone().unwrap();
    let sender = thread::spawn(move || {
        w.write_all(&data).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
        data
    });
    let mut s = s;
    let got = read_to_end(&mut s);
    let data = sender.join().unwrap();
    sha256::hex(&got) == sha256::hex(&data)
}

#[test]
fn soak_echo_and_channels_stay_healthy() {
    // 30 s in CI (each worker also stops after 20 transfers), shorter by hand.
    let soak_time = Duration::from_secs(match (std::env::var_os("CI").is_some(), runner_kind()) {
        (true, _) => 30,
        (false, Runner::Native) => 8,
        (false, _) => 15,
    });
    let mut echo = start_no_input(&["-L", "127.0.0.1:0", "-m", "0", "-i", "echo", "-o", "none"]);
    let echo_addr = echo.listen_addr();
    // Channels: each worker has its own relay, so pairs form in order.
    let mut relays: Vec<_> = (0..4)
        .map(|_| {
            start_no_input(&[
                "-L",
                "127.0.0.1:0",
                "-L",
                "127.0.0.1:0",
                "--fm",
                "channels",
                "-m",
                "0",
                "-o",
                "none",
            ])
        })
        .collect();
    let relay_addrs: Vec<Vec<SocketAddr>> = relays.iter_mut().map(|r| r.listening(2)).collect();
    // Warm up once, then take the baseline of descriptors and memory.
    assert!(soak_client(echo_addr, 1));
    thread::sleep(Duration::from_millis(200));
    let (fd0, rss0) = (fd_count(echo.pid()), util::rss_kib(echo.pid()));
    let end = Instant::now() + soak_time;
    let mut workers = Vec::new();
    for w in 0..200u64 {
        let relay = relay_addrs[(w % 4) as usize].clone();
        workers.push(thread::spawn(move || {
            let mut done = 0u32;
            let mut seed = w * 1000 + 2;
            while Instant::now() < end && done < 20 {
                assert!(soak_client(echo_addr, seed), "echo transfer {seed} differs");
                seed += 1;
                done += 1;
                if w < 4 {
                    // A tunnel: A on the relay's first listener, B on its second.
                    let a = peers::connect(relay[0]);
                    thread::sleep(Duration::from_millis(20));
                    let b = peers::connect(relay[1]);
                    let data = random_bytes(64 * 1024, seed);
                    let mut aw = a.try_clone().unwrap();
                    let d2 = data.clone();
                    let t = thread::spawn(move || {
                        aw.write_all(&d2).unwrap();
                        aw.shutdown(Shutdown::Write).unwrap();
                    });
                    let mut b = b;
                    let got = read_to_end(&mut b);
                    t.join().unwrap();
                    assert_eq!(sha256::hex(&got), sha256::hex(&data), "tunnel {seed}");
                    drop(b);
                    let mut a = a;
                    let _ = read_to_end(&mut a);
                }
            }
            done
        }));
    }
    let total: u32 = workers
        .into_iter()
        .map(|w| w.join().expect("soak worker"))
        .sum();
    assert!(total >= 200, "only {total} transfers");
    // Still accepting, and back to the baseline.
    assert!(soak_client(echo_addr, 999_999));
    if runner_kind() == Runner::Native {
        let deadline = Instant::now() + util::patience();
        while fd_count(echo.pid()) > fd0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(fd_count(echo.pid()), fd0, "descriptors leaked");
        let rss1 = util::rss_kib(echo.pid()).unwrap_or(0);
        let grew = rss1.saturating_sub(rss0.unwrap_or(0));
        eprintln!("soak: {total} transfers, RSS {rss0:?} -> {rss1} KiB");
        assert!(grew < 16 * 1024, "RSS grew by {grew} KiB");
    }
    assert!(echo.running());
    for r in relays.iter_mut() {
        assert!(r.running());
    }
}

/// A stderr that cannot be written (a full disk here; a pipe whose reader
/// has gone behaves alike) must not panic or hang netcrab: a refused
/// connection still ends the run with exit code 1.
#[cfg(target_os = "linux")]
#[test]
fn unwritable_stderr_neither_panics_nor_hangs() {
    if util::skipped_under_wine("/dev/full is a Linux device") {
        return;
    }
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let target = format!("127.0.0.1:{}", util::free_port());
    let mut child = util::command(&[&target])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(full)
        .spawn()
        .expect("start netcrab");
    let deadline = Instant::now() + util::patience();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("netcrab did not end with stderr unwritable");
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1), "{status:?}");
}

/// Accept for `for_how_long`, sending `greeting` (if any) and closing each
/// connection at once; returns how many came.
fn accept_and_close(
    l: std::net::TcpListener,
    greeting: &'static [u8],
    for_how_long: Duration,
) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let deadline = Instant::now() + for_how_long;
        let mut n = 0;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if let Some((mut s, _)) = peers::try_accept(&l, left) {
                let _ = s.write_all(greeting);
                n += 1;
            }
        }
        n
    })
}

#[test]
fn reconnect_backs_off_against_a_server_that_accepts_and_closes() {
    // -r after sessions that carried nothing: no tight loop. Back-off from
    // 100 ms doubling (after a first redial at once): a handful in 2 s,
    // where the old loop made thousands; and it is said once.
    let (l, addr) = peers::listener();
    let server = accept_and_close(l, b"", Duration::from_secs(2));
    let mut p = start_no_input(&["-i", "none", "-r", &addr.to_string()]);
    let n = server.join().unwrap();
    assert!((2..=12).contains(&n), "{n} connects in 2 s\n{}", p.report());
    let said = p.stderr().matches("carried no data").count();
    assert_eq!(said, 1, "{}", p.report());
    p.kill();
}

#[test]
fn reconnect_redials_at_once_after_sessions_that_carried_data() {
    let (l, addr) = peers::listener();
    let server = accept_and_close(l, b"x", Duration::from_secs(1));
    let mut p = start_no_input(&["-i", "none", "-o", "none", "-r", &addr.to_string()]);
    let n = server.join().unwrap();
    // Back-off would allow at most about 5 in that second.
    let want = if runner_kind() == Runner::Native {
        20
    } else {
        8
    };
    assert!(n >= want, "only {n} sessions in 1 s\n{}", p.report());
    assert!(!p.stderr().contains("carried no data"), "{}", p.report());
    p.kill();
}

#[test]
fn reconnect_on_error_says_each_new_failure_once_and_counts_repeats() {
    let port = util::free_port();
    let target = format!("127.0.0.1:{port}");
    let mut p = start_no_input(&["-i", "none", "-R", &target]);
    // 100 + 200 + 400 + 800 ms: four or five failed tries, one line.
    thread::sleep(Duration::from_millis(1600));
    let err = p.stderr();
    assert_eq!(err.matches("Retrying").count(), 1, "{}", p.report());
    assert!(err.contains("(connection refused)"), "{}", p.report());
    let (l, _) = peers::listener_on(&target);
    let Some((mut s, _)) = peers::try_accept(&l, util::patience()) else {
        p.fail("netcrab did not connect once the port opened");
    };
    p.wait_for("answered after the failures above");
    let err = p.stderr();
    assert!(err.contains("connection refused again,"), "{}", p.report());
    assert!(err.contains("more time"), "{}", p.report());
    s.write_all(b"up").unwrap();
    p.wait_stdout_len(2);
    p.kill();
}

#[test]
fn a_stalled_stderr_stalls_nothing_else() {
    // stderr a pipe nobody reads (`2>&1 | less`, paused) while two clients
    // move 8 MiB each through an echo listener with a trace line per chunk
    // (a small receive buffer makes thousands): both finish, intact.
    let port = util::free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "-L", &listen, "-m", "0", "-i", "echo", "-o", "none", "-vvv", "--rb", "4096",
    ];
    let mut child = util::command(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("netcrab");
    let addr: SocketAddr = listen.parse().unwrap();
    let clients: Vec<_> = (0..2u64)
        .map(|n| thread::spawn(move || echo_round_trip(addr, 8 << 20, 40 + n)))
        .collect();
    let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let _ = child.kill();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let _ = child.wait();
    assert_eq!(
        results,
        vec![(true, true, true); 2],
        "stderr so far:\n{:.2000}",
        err
    );
    assert!(
        err.contains("received"),
        "the traces were kept: {:.2000}",
        err
    );
}

#[test]
fn lines_dropped_while_stderr_was_not_read_are_counted_when_it_drains() {
    if !cfg!(feature = "exec") {
        crate::util::skip("needs the 'exec' feature (-e, --exec-each)");
        return;
    }
    // A child that floods stderr (3 MB of lines) while nobody reads it: the
    // child is not held up either (its echo arrives), and once stderr is
    // read again the count of dropped lines is said.
    if util::skipped_under_wine("the flood needs a POSIX shell's yes and head") {
        return;
    }
    let port = util::free_port();
    let listen = format!("127.0.0.1:{port}");
    let flood = "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -n 80000 >&2; exec cat";
    let args = ["-l", &listen, "--exec-each", flood];
    let mut child = util::command(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("netcrab");
    let mut s = peers::connect(listen.parse().unwrap());
    s.write_all(b"still here\n").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let echoed = read_to_end(&mut s);
    assert_eq!(echoed, b"still here\n");
    // Now read stderr: what was held comes, then the count.
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let _ = child.wait();
    assert_drops_counted(&err, 2 << 20);
}

#[test]
fn a_hexdump_into_an_unread_stderr_is_counted_when_read_again() {
    if !cfg!(feature = "hexdump") {
        skip("needs the 'hexdump' feature");
        return;
    }
    // 512 KiB echoed with --hexdump (over 5 MB of stderr, both ways)
    // while nobody reads stderr: the echo comes whole, and once stderr is
    // read again the held lines come, then the count of those dropped.
    // Needs no shell, so it runs under Wine too. -L keeps netcrab running:
    // at exit it would wait only 1 s for a reader (short on a loaded runner).
    let port = util::free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = ["-L", &listen, "-i", "echo", "-o", "none", "--hexdump"];
    let mut child = util::command(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("netcrab");
    let echoed = echo_round_trip(listen.parse().unwrap(), 512 << 10, 7);
    // Now read stderr, until the count has come (or 20 s have passed).
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(mut e) = child.stderr.take() {
        thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n @ 1..) = e.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&got).contains(DROPS_SAID) {
                    break;
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&got).into_owned());
        });
    }
    let err = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(echoed, (true, true, true), "stderr so far:\n{:.2000}", err);
    // The 1 MiB held, the pipe's own buffer, and what the writer had
    // taken just before stderr stalled (up to 1 MiB more on a slow runner);
    // the hexdump itself is over 5 MB.
    assert_drops_counted(&err, 3 << 20);
}

/// `len` random bytes through the echo listener at `addr` and back, with
/// timeouts (a stalled run fails the test instead of hanging it): all
/// written, read to the end, and what came back is what went.
fn echo_round_trip(addr: SocketAddr, len: usize, seed: u64) -> (bool, bool, bool) {
    let data = random_bytes(len, seed);
    let mut s = peers::connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let want = sha256::hex(&data);
    let writer = thread::spawn(move || {
        let ok = w.write_all(&data).is_ok();
        let _ = w.shutdown(Shutdown::Write);
        ok
    });
    let mut got = Vec::new();
    let read = s.read_to_end(&mut got);
    (
        writer.join().unwrap_or(false),
        read.is_ok(),
        sha256::hex(&got) == want,
    )
}

/// How the count of lines dropped from stderr begins.
const DROPS_SAID: &str = "netcrab: stderr was not being read: ";

/// stderr, read once it could be again: the count of dropped lines was
/// said, and less than `most` bytes came before it: what was held (1 MiB),
/// not everything.
fn assert_drops_counted(err: &str, most: usize) {
    let counted = err.lines().any(|l| l.starts_with(DROPS_SAID));
    assert!(
        counted,
        "no count of dropped lines in {} bytes of stderr: ...{}",
        err.len(),
        err.get(err.len().saturating_sub(500)..).unwrap_or("")
    );
    assert!(err.len() < most, "about 1 MiB was held, not {}", err.len());
}
