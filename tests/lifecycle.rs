//! When a connection and the run end, tested the three ways people run
//! netcrab: stdin an open pipe that never sends (scripts, supervisors,
//! `sleep | netcrab`), stdin `/dev/null`, and a terminal.

use crate::router::{expect_eof, fd_baseline, wait_count, wait_fds};
use crate::util::peers::{self, accept, listener, read_to_end};
use crate::util::{
    have_ipv6, patience, random_bytes, runner_kind, same_content as same, skip, start_with, Proc,
    Runner, Stdin, EVERY_STDIN,
};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

const MIB: usize = 1024 * 1024;

/// How long netcrab may take to exit after its last peer has closed: the
/// close grace (1 s) plus a margin for a loaded machine or an emulator.
fn exit_limit() -> Duration {
    match runner_kind() {
        Runner::Native => Duration::from_secs(5),
        _ => Duration::from_secs(20),
    }
}

/// Wait for the exit with `code`, no later than `limit` after `since`;
/// returns how long it took.
fn exits_within(p: &mut Proc, code: i32, since: Instant, limit: Duration) -> Duration {
    let out = p.expect_exit(code);
    let took = since.elapsed();
    if took > limit {
        p.fail(&format!(
            "exited {took:?} after the peer closed (limit {limit:?})"
        ));
    }
    drop(out);
    took
}

#[test]
fn listen_once_exits_after_the_client_closes() {
    for kind in EVERY_STDIN {
        let Some(mut p) = start_with(kind, &["-l", "127.0.0.1:0"]) else {
            continue;
        };
        let addr = p.listen_addr();
        let data = random_bytes(MIB, 11);
        let mut c = peers::connect(addr);
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let closed = Instant::now();
        // Nothing comes back (a terminal or an idle pipe sends nothing;
        // /dev/null gives no FIN to a socket input never fed).
        drop(c);
        let took = exits_within(&mut p, 0, closed, exit_limit());
        same(&format!("stdout ({kind:?})"), &p.stdout(), &data);
        eprintln!("lifecycle: -l, stdin {kind:?}: exit {took:?} after the client closed");
    }
}

#[test]
fn client_exits_after_the_server_closes() {
    for kind in EVERY_STDIN {
        let (l, addr) = listener();
        let Some(mut p) = start_with(kind, &[&addr.to_string()]) else {
            continue;
        };
        let (mut s, _) = accept(&l);
        let data = random_bytes(MIB, 12);
        s.write_all(&data).unwrap();
        drop(s);
        let closed = Instant::now();
        exits_within(&mut p, 0, closed, exit_limit());
        same(&format!("stdout ({kind:?})"), &p.stdout(), &data);
    }
}

#[test]
fn listen_harder_serves_clients_one_after_another() {
    for kind in EVERY_STDIN {
        let Some(mut p) = start_with(kind, &["-L", "127.0.0.1:0"]) else {
            continue;
        };
        let addr = p.listen_addr();
        let mut want = Vec::new();
        for i in 0..3 {
            let line = format!("client {i} ({kind:?})\n");
            let mut c = peers::connect(addr);
            c.write_all(line.as_bytes()).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            want.extend_from_slice(line.as_bytes());
            // With the default -m 1 the next client is served only once
            // this one's connection is finished.
            wait_count(&mut p, "closed gracefully", i + 1);
        }
        let out = p.wait_stdout_len(want.len());
        same(&format!("stdout ({kind:?})"), &out, &want);
        assert!(p.running(), "-L keeps listening");
    }
}

#[test]
fn listen_harder_unlimited_500_clients_leave_no_descriptors() {
    for kind in [Stdin::Pipe, Stdin::Null] {
        let Some(mut p) = start_with(kind, &["-L", "127.0.0.1:0", "-m", "0", "-o", "none"]) else {
            continue;
        };
        let addr = p.listen_addr();
        let base = fd_baseline(&mut p, addr);
        let clients: Vec<TcpStream> = (0..500)
            .map(|_| {
                let mut c = peers::connect(addr);
                c.write_all(b"x").unwrap();
                c
            })
            .collect();
        for c in clients {
            drop(c);
        }
        // The warm-up client of fd_baseline plus the 500.
        wait_count(&mut p, "closed gracefully", 501);
        wait_fds(&mut p, base);
        if let Some(b) = base {
            eprintln!("lifecycle: 500 clients, stdin {kind:?}: descriptors back to {b}");
        }
        // Still serving.
        let mut c = peers::connect(addr);
        c.write_all(b"late").unwrap();
        drop(c);
        wait_count(&mut p, "closed gracefully", 502);
    }
}

#[test]
fn star_port_serves_an_ipv4_then_an_ipv6_client() {
    if !have_ipv6() {
        return skip("no IPv6 loopback");
    }
    for kind in [Stdin::Pipe, Stdin::Null] {
        let port = crate::util::free_port();
        let spec = format!("*:{port}");
        let Some(mut p) = start_with(kind, &["-L", &spec]) else {
            continue;
        };
        p.listening(2);
        for (i, addr) in [format!("127.0.0.1:{port}"), format!("[::1]:{port}")]
            .iter()
            .enumerate()
        {
            let mut c = peers::connect(addr.parse().unwrap());
            c.write_all(format!("via {addr}\n").as_bytes()).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            wait_count(&mut p, "closed gracefully", i + 1);
        }
        let want = format!("via 127.0.0.1:{port}\nvia [::1]:{port}\n");
        let out = p.wait_stdout_len(want.len());
        same(&format!("stdout ({kind:?})"), &out, want.as_bytes());
    }
}

#[test]
fn reconnect_after_three_graceful_closes() {
    for kind in EVERY_STDIN {
        let (l, addr) = listener();
        let Some(mut p) = start_with(kind, &["-r", &addr.to_string()]) else {
            continue;
        };
        let mut gaps = Vec::new();
        let mut closed_at: Option<Instant> = None;
        let mut l = Some(l);
        for i in 0..3 {
            let Some((mut s, _)) = peers::try_accept(l.as_ref().unwrap(), patience()) else {
                p.fail(&format!("session {i} never came ({kind:?})"));
            };
            if let Some(t) = closed_at {
                gaps.push(t.elapsed());
            }
            s.write_all(format!("s{i}").as_bytes()).unwrap();
            if i == 2 {
                // The server goes away before its last session closes (a
                // redial comes at once): that redial is refused, the target
                // is given up, and the exit code is the last session's (0),
                // as in 0.11.
                l = None;
            }
            drop(s);
            closed_at = Some(Instant::now());
        }
        assert!(l.is_none());
        let out = p.expect_exit(0);
        assert_eq!(&out.stdout[..], b"s0s1s2", "{}", p.report());
        assert!(out.stderr.contains("Failed to reconnect"), "{}", out.stderr);
        eprintln!("lifecycle: -r, stdin {kind:?}: close-to-redial {gaps:?}");
    }
}

/// A server that reads to EOF, answers `late\n`, and closes a little later.
fn late_replier() -> (SocketAddr, thread::JoinHandle<Vec<u8>>) {
    let (l, addr) = listener();
    let h = thread::spawn(move || {
        let (mut s, _) = accept(&l);
        let got = read_to_end(&mut s);
        s.write_all(b"late\n").unwrap();
        thread::sleep(Duration::from_millis(500));
        got
    });
    (addr, h)
}

#[test]
fn exit_after_input_sends_fin_and_prints_the_reply() {
    for kind in [Stdin::Pipe, Stdin::Null] {
        let (addr, server) = late_replier();
        let Some(mut p) = start_with(kind, &["--exit-after-input", &addr.to_string()]) else {
            continue;
        };
        if kind == Stdin::Pipe {
            p.write_stdin(b"abc");
            p.close_stdin();
        }
        let got = server.join().expect("server");
        let want: &[u8] = if kind == Stdin::Pipe { b"abc" } else { b"" };
        assert_eq!(got, want, "the server got the input then EOF");
        let out = p.expect_exit(0);
        assert_eq!(out.stdout, b"late\n", "{}", p.report());
    }
}

#[test]
fn exec_child_gets_eof_when_the_client_half_closes() {
    if !cfg!(feature = "exec") {
        return skip("needs the 'exec' feature");
    }
    if crate::util::skipped_under_wine("sort is a Unix command here") {
        return;
    }
    for kind in [Stdin::Pipe, Stdin::Null] {
        let Some(mut p) = start_with(kind, &["-l", "127.0.0.1:0", "-e", "sort"]) else {
            continue;
        };
        let addr = p.listen_addr();
        let mut c = peers::connect(addr);
        c.write_all(b"pear\napple\nfig\n").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let got = read_to_end(&mut c);
        assert_eq!(
            String::from_utf8_lossy(&got),
            "apple\nfig\npear\n",
            "{}",
            p.report()
        );
        drop(c);
        p.expect_exit(0);
    }
}

#[test]
fn empty_input_sends_no_fin_to_a_sender() {
    // A receiver with stdin /dev/null must not end its sender's session:
    // socat and ncat senders take a FIN as the end (nmap issue 142).
    let Some(mut p) = start_with(Stdin::Null, &["-l", "127.0.0.1:0"]) else {
        return;
    };
    let addr = p.listen_addr();
    let mut c = peers::connect(addr);
    c.set_read_timeout(Some(Duration::from_millis(600)))
        .unwrap();
    let mut buf = [0u8; 16];
    match c.read(&mut buf) {
        Ok(0) => p.fail("netcrab sent FIN to a socket its empty input never fed"),
        Ok(n) => p.fail(&format!("unexpected data: {:?}", &buf[..n])),
        Err(_) => {}
    }
    c.write_all(b"a").unwrap();
    thread::sleep(Duration::from_millis(300));
    c.write_all(b"b").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    expect_eof(&mut p, &mut c, "after the client's FIN");
    let out = p.expect_exit(0);
    assert_eq!(out.stdout, b"ab");
}

#[test]
fn dash_n_sends_fin_even_without_input() {
    let Some(mut p) = start_with(Stdin::Null, &["-N", "-l", "127.0.0.1:0"]) else {
        return;
    };
    let addr = p.listen_addr();
    let mut c = peers::connect(addr);
    expect_eof(&mut p, &mut c, "-N with empty input");
    c.write_all(b"still heard").unwrap();
    drop(c);
    let out = p.expect_exit(0);
    assert_eq!(out.stdout, b"still heard");
}

#[test]
fn input_that_keeps_flowing_reaches_a_half_closed_client() {
    // The client half-closes first; the file on stdin still arrives whole.
    let mut p = start_with(Stdin::Pipe, &["-l", "127.0.0.1:0"]).expect("pipe");
    let addr = p.listen_addr();
    let mut c = peers::connect(addr);
    c.shutdown(Shutdown::Write).unwrap();
    let data = random_bytes(4 * MIB, 13);
    let feeder = p.feed_stdin(data.clone());
    let got = read_to_end(&mut c);
    feeder.join().expect("feeder");
    same("what the client got", &got, &data);
    drop(c);
    p.expect_exit(0);
}

#[test]
fn close_grace_zero_and_half_open() {
    // --close-grace 0: a half-closed peer's connection ends at once even
    // though stdin stays open.
    let mut p =
        start_with(Stdin::Pipe, &["--close-grace", "0", "-l", "127.0.0.1:0"]).expect("pipe");
    let addr = p.listen_addr();
    let mut c = peers::connect(addr);
    c.shutdown(Shutdown::Write).unwrap();
    expect_eof(&mut p, &mut c, "--close-grace 0");
    p.expect_exit(0);

    // --half-open: it stays until input ends, and input still reaches it.
    let mut p = start_with(Stdin::Pipe, &["--half-open", "-l", "127.0.0.1:0"]).expect("pipe");
    let addr = p.listen_addr();
    let mut c = peers::connect(addr);
    c.shutdown(Shutdown::Write).unwrap();
    thread::sleep(Duration::from_millis(1500));
    assert!(
        p.running(),
        "--half-open keeps the connection past the grace"
    );
    p.write_stdin(b"after the grace");
    p.close_stdin();
    assert_eq!(read_to_end(&mut c), b"after the grace");
    p.expect_exit(0);
}

/// A real netcat-family sender: `(echo a; sleep 1; echo b) | TOOL ...`.
fn real_sender(tool: &str, addr: SocketAddr) -> Option<std::process::Child> {
    let connect = match tool {
        "socat" => format!("socat - TCP:{addr}"),
        "ncat" => format!("ncat {} {}", addr.ip(), addr.port()),
        _ => unreachable!(),
    };
    if std::process::Command::new(tool).arg("-h").output().is_err() {
        skip(&format!("{tool} is not installed (.ci/run installs it)"));
        return None;
    }
    std::process::Command::new("sh")
        .args(["-c", &format!("(echo a; sleep 1; echo b) | {connect}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()
}

#[test]
fn a_receiver_with_empty_input_hears_socat_and_ncat_to_the_end() {
    // ncat's users hit this (nmap issue 142): a FIN from the receiver ends
    // socat's and ncat's sessions, so only `a` arrived.
    for tool in ["socat", "ncat"] {
        let Some(mut p) = start_with(Stdin::Null, &["-l", "127.0.0.1:0"]) else {
            return;
        };
        let addr = p.listen_addr();
        let Some(mut sender) = real_sender(tool, addr) else {
            continue;
        };
        let out = p.expect_exit(0);
        let _ = sender.wait();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "a\nb\n",
            "{tool}: {}",
            p.report()
        );
    }
}

#[test]
fn stdout_on_a_full_disk_exits_1_with_one_line() {
    if crate::util::skipped_under_wine("/dev/full is a Linux device") {
        return;
    }
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let args = ["-l", "127.0.0.1:0"];
    let mut cmd = crate::util::command(&args);
    cmd.stdin(std::process::Stdio::null());
    let mut p = crate::util::spawn_command(cmd, &args, Some(full.into()));
    let addr = p.listen_addr();
    let mut c = peers::connect(addr);
    let _ = c.write_all(&random_bytes(100_000, 14));
    drop(c);
    let out = p.expect_exit(1);
    crate::util::one_stdout_line(&out.stderr, "No space left", "/dev/full");
}

#[test]
fn after_a_shared_exec_child_ended_later_clients_get_eof() {
    if !cfg!(feature = "exec") {
        crate::util::skip("needs the 'exec' feature (-e, --exec-each)");
        return;
    }
    // -L -e: one child for the whole run. Once it has ended, a client that
    // comes gets EOF at once (the listener stays, as -L says), whatever it
    // keeps sending.
    let mut p = start_with(Stdin::Null, &["-L", "127.0.0.1:0", "-e", "echo bye"]).unwrap();
    let addr = p.listen_addr();
    let mut first = peers::connect(addr);
    // cmd's echo (Wine) ends its line with CR LF.
    let bye = read_to_end(&mut first);
    assert!(bye == b"bye\n" || bye == b"bye\r\n", "{bye:?}");
    drop(first);
    for n in 0..2 {
        let mut later = peers::connect(addr);
        let _ = later.write_all(b"anyone?\n");
        // Its own write side stays open: the EOF is netcrab's.
        let mut v = Vec::new();
        match later.read_to_end(&mut v) {
            Ok(_) => assert!(v.is_empty(), "client {n}: {v:?}"),
            Err(e) => p.fail(&format!("client {n}: no EOF: {e}")),
        }
    }
    assert!(p.running(), "-L keeps listening");
}

#[test]
fn a_finished_connection_s_descriptor_is_freed_whatever_stdin_is() {
    if runner_kind() == Runner::Wine {
        return skip("descriptors are counted in /proc");
    }
    for kind in EVERY_STDIN {
        let Some(mut p) = start_with(kind, &["-L", "127.0.0.1:0", "-o", "none"]) else {
            continue;
        };
        let addr = p.listen_addr();
        let base = fd_baseline(&mut p, addr);
        for _ in 0..3 {
            let mut c = peers::connect(addr);
            c.write_all(b"hi").unwrap();
            drop(c);
        }
        wait_count(&mut p, "closed gracefully", 4);
        // Freed when the connection ends, not at the next input.
        wait_fds(&mut p, base);
    }
}
