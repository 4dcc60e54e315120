//! Router modes (hub, channels, linger-channels) and reconnecting targets
//! (`-r`, `-R`), driven through real sockets on loopback.

use crate::util::peers::{self, accept, exchange, listener, read_to_end};
use crate::util::{
    self, patience, random_bytes, runner_kind, same_content as same, sha256, skip, start_no_input,
    Proc, Runner,
};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// Wait until stderr holds `needle` at least `n` times.
pub(crate) fn wait_count(p: &mut Proc, needle: &str, n: usize) {
    p.wait_stderr(&format!("{n} x {needle:?}"), |s| {
        (s.matches(needle).count() >= n).then_some(())
    });
}

/// Read exactly `n` bytes from `s`; on failure show netcrab's report.
pub(crate) fn read_exact(p: &mut Proc, s: &mut TcpStream, n: usize, what: &str) -> Vec<u8> {
    let mut v = vec![0u8; n];
    if let Err(e) = s.read_exact(&mut v) {
        p.fail(&format!("{what}: reading {n} bytes: {e}"));
    }
    v
}

/// Expect `s` to stay quiet (no data, no EOF) for a short while: the one
/// place where a fixed wait is the point.
pub(crate) fn expect_silence(p: &mut Proc, s: &mut TcpStream, what: &str) {
    s.set_read_timeout(Some(Duration::from_millis(400)))
        .expect("timeout");
    let mut buf = [0u8; 256];
    let r = s.read(&mut buf);
    s.set_read_timeout(Some(patience())).expect("timeout");
    match r {
        Ok(0) => p.fail(&format!("{what}: got EOF")),
        Ok(n) => p.fail(&format!(
            "{what}: got unexpected data {:?}",
            String::from_utf8_lossy(&buf[..n])
        )),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Err(e) => p.fail(&format!("{what}: {e}")),
    }
}

/// Expect EOF (and nothing before it) on `s`.
pub(crate) fn expect_eof(p: &mut Proc, s: &mut TcpStream, what: &str) {
    let mut v = Vec::new();
    match s.read_to_end(&mut v) {
        Ok(_) if v.is_empty() => {}
        Ok(_) => p.fail(&format!(
            "{what}: data before EOF: {:?}",
            String::from_utf8_lossy(&v)
        )),
        Err(e) => p.fail(&format!("{what}: no EOF: {e}")),
    }
}

/// The (older peer, newer peer) of every "Creating channel A <-> (la <-> lb) <-> B" line.
fn channels_created(stderr: &str) -> Vec<(SocketAddr, SocketAddr)> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("Creating channel "))
        .map(|l| {
            let (a, rest) = l.split_once(" <-> (").expect("channel line shape");
            let (_, b) = rest.split_once(") <-> ").expect("channel line shape");
            (
                a.parse().expect("peer A"),
                b.trim().parse().expect("peer B"),
            )
        })
        .collect()
}

/// netcrab's open descriptors (native Linux only).
pub(crate) fn fd_count(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

/// netcrab's descriptors once it is fully up, or `None` (with a skip note)
/// where they cannot be counted. Some (the poller's) are opened only after
/// "Listening on" is printed, so a first client comes and goes before the
/// count (callers' counts of "Accepted"/"closed" lines include it).
pub(crate) fn fd_baseline(p: &mut Proc, addr: SocketAddr) -> Option<usize> {
    let mut c = peers::connect(addr);
    c.shutdown(Shutdown::Write).unwrap();
    expect_eof(p, &mut c, "warm-up client");
    drop(c);
    wait_count(p, "closed gracefully", 1);
    if runner_kind() != Runner::Native {
        skip("fd leak check: the pid is the emulator's, not netcrab's");
        return None;
    }
    let n = fd_count(p.pid());
    if n.is_none() {
        skip("fd leak check: /proc/PID/fd is not readable here");
    }
    n
}

/// Wait (bounded) until netcrab's descriptors are back to `base`.
pub(crate) fn wait_fds(p: &mut Proc, base: Option<usize>) {
    let Some(base) = base else { return };
    let deadline = Instant::now() + patience();
    loop {
        let now = fd_count(p.pid()).unwrap_or(usize::MAX);
        if now <= base {
            return;
        }
        if Instant::now() > deadline {
            let open: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", p.pid()))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| {
                    let to = std::fs::read_link(e.path()).unwrap_or_default();
                    format!("{} -> {}", e.file_name().to_string_lossy(), to.display())
                })
                .collect();
            p.fail(&format!(
                "fd leak: {now} open, {base} before the clients: {open:?}"
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------- hub

#[test]
fn hub_sends_each_client_the_others_data() {
    let mut p = start_no_input(&["-L", "127.0.0.1:0", "--fm", "hub", "-m", "0", "-i", "none"]);
    let addr = p.listen_addr();
    let mut c: Vec<TcpStream> = (0..3).map(|_| peers::connect(addr)).collect();
    // "Accepted" is the readiness signal: a client netcrab has reported
    // must get every chunk sent after the report.
    wait_count(&mut p, "Accepted connection", 3);
    let msgs: Vec<String> = (0..3)
        .map(|i| format!("message from client {i}\n"))
        .collect();
    for (i, m) in msgs.iter().enumerate() {
        c[i].write_all(m.as_bytes()).unwrap();
        // Its own data would come first, before the others': an exact
        // read of the other's message catches an echo.
        for j in (0..3).filter(|j| *j != i) {
            let got = read_exact(&mut p, &mut c[j], m.len(), &format!("client {j}"));
            assert_eq!(got, m.as_bytes(), "client {j} got the wrong data");
        }
    }
    for (j, s) in c.iter_mut().enumerate() {
        expect_silence(&mut p, s, &format!("client {j} after the round"));
    }
    let all = msgs.concat();
    let out = p.wait_stdout_len(all.len());
    assert_eq!(String::from_utf8_lossy(&out), all, "stdout");

    // One leaves; the other two still talk.
    drop(c.pop());
    for (from, to) in [(0, 1), (1, 0)] {
        let m = format!("after the leave from {from}\n");
        c[from].write_all(m.as_bytes()).unwrap();
        let got = read_exact(&mut p, &mut c[to], m.len(), &format!("client {to}"));
        assert_eq!(got, m.as_bytes());
    }
    let out = p.wait_stdout_len(all.len() + 2 * "after the leave from 0\n".len());
    assert!(out.ends_with(b"after the leave from 1\n"), "stdout");
    assert!(p.running(), "-L hub must keep running");
}

#[test]
fn hub_200_clients_get_every_line_and_no_fd_leaks() {
    const N: usize = 200;
    let mut p = start_no_input(&["-L", "127.0.0.1:0", "--fm", "hub", "-m", "0", "-i", "none"]);
    let addr = p.listen_addr();
    let base = fd_baseline(&mut p, addr);
    let mut clients: Vec<TcpStream> = (0..N).map(|_| peers::connect(addr)).collect();
    wait_count(&mut p, "Accepted connection", N + 1);
    let line = |i: usize| format!("line {i:03}\n");
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(line(i).as_bytes()).unwrap();
    }
    let out = p.wait_stdout_len(N * line(0).len());
    let mut got: Vec<String> = String::from_utf8_lossy(&out)
        .lines()
        .map(|l| format!("{l}\n"))
        .collect();
    got.sort();
    let want: Vec<String> = (0..N).map(line).collect();
    assert_eq!(got, want, "stdout lines");

    // Everyone half-closes; when the last has, every write side closes and
    // each client reads the other N-1 lines then EOF.
    let readers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            thread::spawn(move || {
                c.shutdown(Shutdown::Write).unwrap();
                let mut v = Vec::new();
                c.read_to_end(&mut v)
                    .map(|_| (i, String::from_utf8_lossy(&v).into_owned()))
                    .map_err(|e| format!("client {i}: {e} after {} bytes", v.len()))
            })
        })
        .collect();
    for r in readers {
        let (i, text) = match r.join().unwrap() {
            Ok(x) => x,
            Err(e) => p.fail(&e),
        };
        let mut lines: Vec<String> = text.lines().map(|l| format!("{l}\n")).collect();
        lines.sort();
        let want: Vec<String> = (0..N).filter(|j| *j != i).map(line).collect();
        if lines != want {
            let missing: Vec<&String> = want.iter().filter(|w| !lines.contains(w)).collect();
            p.fail(&format!(
                "client {i} got {} lines, want the other {}; missing {missing:?}",
                lines.len(),
                N - 1
            ));
        }
    }
    wait_count(&mut p, "closed gracefully", N + 1);
    wait_fds(&mut p, base);
    assert!(p.running(), "-L hub must keep running");
}

// ---------------------------------------------------------------- channels

/// The test's service: per connection, read to EOF, answer with the
/// SHA-256 hex of the request and a newline, then 8 MiB, then close.
fn service(l: TcpListener, conns: usize) -> thread::JoinHandle<Vec<String>> {
    thread::spawn(move || {
        (0..conns)
            .map(|k| {
                let (mut s, _) = accept(&l);
                let req = read_to_end(&mut s);
                let h = sha256::hex(&req);
                s.write_all(format!("{h}\n").as_bytes()).unwrap();
                s.write_all(&random_bytes(8 * MIB, 100 + k as u64)).unwrap();
                h
            })
            .collect()
    })
}

/// A client of the tunnel: send `req`, half-close, read the answer to EOF
/// and check it.
fn tunnel_client(p: &mut Proc, addr: SocketAddr, req: &[u8], k: usize) {
    let got = exchange(peers::connect(addr), req.to_vec());
    let Some(nl) = got.iter().position(|b| *b == b'\n') else {
        p.fail(&format!("client {k}: no sha line in {} bytes", got.len()));
    };
    assert_eq!(
        String::from_utf8_lossy(&got[..nl]),
        sha256::hex(req),
        "client {k}: the service saw other bytes"
    );
    same(
        &format!("client {k}: reply"),
        &got[nl + 1..],
        &random_bytes(8 * MIB, 100 + k as u64),
    );
}

#[test]
fn channels_reverse_tunnel_carries_8mib_each_way_and_half_close() {
    // relay (public side): listener A for the inside forwarder, B for clients.
    let mut relay = start_no_input(&[
        "--fm",
        "channels",
        "-o",
        "none",
        "-L",
        "127.0.0.1:0",
        "-L",
        "127.0.0.1:0",
    ]);
    let ports = relay.listening(2);
    let (relay_a, relay_b) = (ports[0], ports[1]);
    let (svc_l, svc) = listener();
    let svc_thread = service(svc_l, 2);
    // The inside forwarder dials both and pairs its two targets. A tunnel
    // serves one client (its sockets end with the exchange), so `-r` makes
    // both targets dial again after a graceful close: the next pair is ready
    // for the next client. One process keeps serving, as a real forwarder would.
    let mut fwd = start_no_input(&[
        "--fm",
        "channels",
        "-o",
        "none",
        "-r",
        &relay_a.to_string(),
        &svc.to_string(),
    ]);
    wait_count(&mut fwd, "Creating channel", 1);
    wait_count(&mut relay, "Accepted connection", 1);

    let req1 = random_bytes(8 * MIB, 1);
    tunnel_client(&mut relay, relay_b, &req1, 0);

    wait_count(&mut fwd, "Reconnecting to", 2);
    wait_count(&mut fwd, "Creating channel", 2);
    let req2 = random_bytes(MIB, 2);
    tunnel_client(&mut relay, relay_b, &req2, 1);

    let seen = svc_thread.join().expect("service");
    assert_eq!(seen, vec![sha256::hex(&req1), sha256::hex(&req2)]);
    assert!(relay.running(), "relay must keep running");
}

/// A relay with two listeners and a client on each, paired.
fn channel_pair(mode: &str) -> (Proc, Vec<SocketAddr>, TcpStream, TcpStream) {
    channel_pair_with(mode, &[])
}

/// As `channel_pair`, with more flags (`-o none` makes a pure relay, which
/// splices on Linux).
fn channel_pair_with(mode: &str, extra: &[&str]) -> (Proc, Vec<SocketAddr>, TcpStream, TcpStream) {
    let mut args = vec![
        "--fm",
        mode,
        "-i",
        "none",
        "-L",
        "127.0.0.1:0",
        "-L",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let mut p = start_no_input(&args);
    let l = p.listening(2);
    let a = peers::connect(l[0]);
    wait_count(&mut p, "Accepted connection", 1);
    let b = peers::connect(l[1]);
    wait_count(&mut p, "Creating channel", 1);
    (p, l, a, b)
}

/// `from` sends a line; `to` must get exactly it.
fn pass(p: &mut Proc, from: &mut TcpStream, to: &mut TcpStream, line: &str) {
    from.write_all(line.as_bytes()).unwrap();
    let got = read_exact(p, to, line.len(), line.trim_end());
    assert_eq!(String::from_utf8_lossy(&got), line);
}

#[test]
fn channels_pair_two_clients_from_the_same_ip() {
    let (mut p, _, mut a, mut b) = channel_pair("channels");
    pass(&mut p, &mut a, &mut b, "a to b\n");
    pass(&mut p, &mut b, &mut a, "b to a\n");
    a.shutdown(Shutdown::Write).unwrap();
    drop(a);
    expect_eof(&mut p, &mut b, "B after A closed");
    // B's later data has nowhere to go but stdout.
    b.write_all(b"b2\n").unwrap();
    let out = p.wait_stdout_len(17);
    assert_eq!(String::from_utf8_lossy(&out), "a to b\nb to a\nb2\n");
}

#[test]
fn linger_channels_keep_the_partner_and_pair_it_again() {
    let (mut p, l, mut a, mut b) = channel_pair("linger-channels");
    pass(&mut p, &mut a, &mut b, "a to b\n");
    pass(&mut p, &mut b, &mut a, "b to a\n");
    a.shutdown(Shutdown::Write).unwrap();
    drop(a);
    expect_silence(&mut p, &mut b, "B after A left (linger: no EOF)");
    let mut c = peers::connect(l[0]);
    wait_count(&mut p, "Creating channel", 2);
    pass(&mut p, &mut c, &mut b, "c to b\n");
    pass(&mut p, &mut b, &mut c, "b to c\n");
}

#[test]
fn channels_pure_relay_forwards_the_close() {
    let (mut p, _, mut a, mut b) = channel_pair_with("channels", &["-o", "none"]);
    pass(&mut p, &mut a, &mut b, "a to b\n");
    pass(&mut p, &mut b, &mut a, "b to a\n");
    a.shutdown(Shutdown::Write).unwrap();
    drop(a);
    expect_eof(&mut p, &mut b, "B after A closed");
}

#[test]
fn linger_channels_pure_relay_re_pairs_without_losing_data() {
    // The splice path (Linux, -o none -i none) must notice that A left and
    // send B's next bytes to C, not into A's dead socket.
    let (mut p, l, mut a, mut b) = channel_pair_with("linger-channels", &["-o", "none"]);
    pass(&mut p, &mut a, &mut b, "a to b\n");
    pass(&mut p, &mut b, &mut a, "b to a\n");
    a.shutdown(Shutdown::Write).unwrap();
    drop(a);
    expect_silence(&mut p, &mut b, "B after A left (linger: no EOF)");
    let mut c = peers::connect(l[0]);
    wait_count(&mut p, "Creating channel", 2);
    pass(&mut p, &mut b, &mut c, "b to c\n");
    pass(&mut p, &mut c, &mut b, "c to b\n");
    // And big enough to go through the pipe in several steps.
    both_ways(&mut p, &b, &c, 2 * MIB, 51);
}

#[test]
fn a_relay_without_pipes_copies_instead() {
    // splice(2) needs a pipe; when none can be made (descriptors exhausted,
    // simulated here) the tunnel copies through user space instead of
    // treating the partner as failed.
    let args = [
        "--fm",
        "channels",
        "-o",
        "none",
        "-i",
        "none",
        "-v",
        "-L",
        "127.0.0.1:0",
        "-L",
        "127.0.0.1:0",
    ];
    let mut cmd = util::command(&args);
    // This is the splice path's fall-back: splice stays on even when the
    // suite runs with it off.
    cmd.env("NETCRAB_TEST_NO_PIPE", "1")
        .env_remove("NETCRAB_NO_SPLICE")
        .stdin(std::process::Stdio::null());
    let mut p = util::spawn_command(cmd, &args, None);
    let l = p.listening(2);
    let mut a = peers::connect(l[0]);
    wait_count(&mut p, "Accepted connection", 1);
    let mut b = peers::connect(l[1]);
    wait_count(&mut p, "Creating channel", 1);
    pass(&mut p, &mut a, &mut b, "a to b\n");
    pass(&mut p, &mut b, &mut a, "b to a\n");
    both_ways(&mut p, &a, &b, MIB, 61);
    if cfg!(all(target_os = "linux", feature = "splice")) && runner_kind() != Runner::Wine {
        assert!(p.stderr().contains("copying instead"), "{}", p.report());
    }
}

#[test]
fn channels_pair_100_tunnels_at_once_oldest_first() {
    const PAIRS: usize = 100;
    const SIZE: usize = 64 * KIB;
    let mut p = start_no_input(&[
        "--fm",
        "channels",
        "-i",
        "none",
        "-o",
        "none",
        "-m",
        "0",
        "-L",
        "127.0.0.1:0",
        "-L",
        "127.0.0.1:0",
    ]);
    let l = p.listening(2);
    let base = fd_baseline(&mut p, l[0]);
    let inside: Vec<TcpStream> = (0..PAIRS).map(|_| peers::connect(l[0])).collect();
    wait_count(&mut p, "Accepted connection", PAIRS + 1);
    // Accepts on one listener are served in order, so outside client i
    // must pair with the oldest unpaired inside client: inside i.
    let outside: Vec<TcpStream> = (0..PAIRS).map(|_| peers::connect(l[1])).collect();
    wait_count(&mut p, "Creating channel", PAIRS);
    let made: HashMap<SocketAddr, SocketAddr> = channels_created(&p.stderr()).into_iter().collect();
    for i in 0..PAIRS {
        let (ia, oa) = (
            inside[i].local_addr().unwrap(),
            outside[i].local_addr().unwrap(),
        );
        if made.get(&ia) != Some(&oa) {
            p.fail(&format!(
                "inside {i} ({ia}) paired with {:?}, want outside {i} ({oa})",
                made.get(&ia)
            ));
        }
    }
    let mut jobs = Vec::new();
    for (i, (a, b)) in inside.into_iter().zip(outside).enumerate() {
        let (sa, sb) = (1000 + i as u64, 2000 + i as u64);
        jobs.push(thread::spawn(move || {
            (
                format!("inside {i}"),
                sb,
                exchange(a, random_bytes(SIZE, sa)),
            )
        }));
        jobs.push(thread::spawn(move || {
            (
                format!("outside {i}"),
                sa,
                exchange(b, random_bytes(SIZE, sb)),
            )
        }));
    }
    for j in jobs {
        let (who, seed, got) = j.join().expect("client thread");
        same(&who, &got, &random_bytes(SIZE, seed));
    }
    wait_count(&mut p, "closed gracefully", 2 * PAIRS + 1);
    wait_fds(&mut p, base);
    assert!(p.running(), "relay must keep running");
}

// ---------------------------------------------------------------- reconnect

#[test]
fn reconnect_after_graceful_close() {
    let (l, addr) = listener();
    let mut p = start_no_input(&["-i", "none", "-r", &addr.to_string()]);
    for _ in 0..3 {
        let Some((mut s, _)) = peers::try_accept(&l, patience()) else {
            p.fail("no reconnect arrived");
        };
        s.write_all(b"hello").unwrap();
    }
    let out = p.wait_stdout_len(15);
    assert_eq!(&out[..15], b"hellohellohello");
    wait_count(&mut p, "Reconnecting to", 2);
    assert!(p.running(), "-r keeps going");
    p.kill();
}

#[test]
fn reconnect_on_error_retries_until_the_port_opens() {
    let port = util::free_port();
    let target = format!("127.0.0.1:{port}");
    let mut p = start_no_input(&["-i", "none", "-R", &target]);
    wait_count(&mut p, "Retrying", 1);
    assert!(p.stderr().contains(&target), "{}", p.report());
    thread::sleep(Duration::from_millis(500));
    let (l, _) = peers::listener_on(&target);
    let Some((mut s, _)) = peers::try_accept(&l, patience()) else {
        p.fail("netcrab did not connect once the port opened");
    };
    s.write_all(b"up at last").unwrap();
    p.wait_stdout_len(10);
    assert!(p.running());
    p.kill();
}

// ------------------------------------------- one listener (0.11's rule)

/// A client of `addr` bound to source IP `ip` (127.0.0.x: Linux answers on
/// all of 127/8).
fn connect_from(ip: &str, addr: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let src: SocketAddr = format!("{ip}:0").parse().unwrap();
    s.bind(&src.into())
        .unwrap_or_else(|e| panic!("bind {src}: {e}"));
    s.connect_timeout(&addr.into(), patience())
        .unwrap_or_else(|e| panic!("connect {addr} from {ip}: {e}"));
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(patience())).unwrap();
    s
}

/// Send `data` on `from` while reading as much on `to`, in both directions
/// of a tunnel at once; checked by SHA-256.
fn both_ways(p: &mut Proc, a: &TcpStream, b: &TcpStream, n: usize, seed: u64) {
    let jobs: Vec<_> = [(a, b, seed), (b, a, seed + 1)]
        .into_iter()
        .map(|(from, to, seed)| {
            let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
            let data = random_bytes(n, seed);
            let writer = {
                let data = data.clone();
                thread::spawn(move || from.write_all(&data))
            };
            let reader = thread::spawn(move || {
                let mut v = vec![0u8; n];
                to.read_exact(&mut v).map(|_| v)
            });
            (data, writer, reader)
        })
        .collect();
    for (data, w, r) in jobs {
        if let Err(e) = w.join().unwrap() {
            p.fail(&format!("tunnel write: {e}"));
        }
        match r.join().unwrap() {
            Ok(got) => assert_eq!(sha256::hex(&got), sha256::hex(&data), "tunnel bytes"),
            Err(e) => p.fail(&format!("tunnel read: {e}")),
        }
    }
}

fn one_listener_four_clients(mode: &str) {
    let mut p = start_no_input(&["--fm", mode, "-i", "none", "-L", "127.0.0.1:0"]);
    let addr = p.listen_addr();
    let c: Vec<TcpStream> = ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"]
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            let s = connect_from(ip, addr);
            wait_count(&mut p, "Accepted connection", i + 1);
            s
        })
        .collect();
    wait_count(&mut p, "Creating channel", 2);
    // Oldest first: .11 with .12, .13 with .14.
    let pairs = channels_created(&p.stderr());
    let ip_of = |a: &SocketAddr| a.ip().to_string();
    let mut seen: Vec<(String, String)> = pairs
        .iter()
        .map(|(x, y)| {
            let (mut x, mut y) = (ip_of(x), ip_of(y));
            if x > y {
                std::mem::swap(&mut x, &mut y);
            }
            (x, y)
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("127.0.0.11".to_string(), "127.0.0.12".to_string()),
            ("127.0.0.13".to_string(), "127.0.0.14".to_string())
        ],
        "{}",
        p.report()
    );
    both_ways(&mut p, &c[0], &c[1], 256 * KIB, 21);
    both_ways(&mut p, &c[2], &c[3], 256 * KIB, 23);
    // One end leaves.
    let mut c = c;
    let gone = c.remove(0);
    gone.shutdown(Shutdown::Both).unwrap();
    drop(gone);
    let mut partner = c.remove(0);
    if mode == "channels" {
        expect_eof(&mut p, &mut partner, "the partner of a closed end");
    } else {
        expect_silence(&mut p, &mut partner, "linger: the partner stays");
        // It pairs again with the next client from another IP.
        let newcomer = connect_from("127.0.0.15", addr);
        wait_count(&mut p, "Creating channel", 3);
        both_ways(&mut p, &partner, &newcomer, 64 * KIB, 25);
    }
    // The other tunnel is untouched.
    both_ways(&mut p, &c[0], &c[1], 64 * KIB, 27);
}

#[test]
fn channels_on_one_listener_pair_different_ips() {
    one_listener_four_clients("channels");
}

#[test]
fn linger_channels_on_one_listener_pair_again() {
    one_listener_four_clients("linger-channels");
}

#[test]
fn reverse_tunnel_with_the_relay_on_one_listener() {
    // The relay has one port; the inside end and the client reach it from
    // different IPs (as across a VPN), and pair by 0.11's rule.
    let (svc, svc_addr) = listener();
    let served = service(svc, 1);
    let mut relay = start_no_input(&[
        "--fm",
        "channels",
        "-o",
        "none",
        "-i",
        "none",
        "-L",
        "127.0.0.1:0",
    ]);
    let relay_addr = relay.listen_addr();
    let inside_src = format!("127.0.0.21:0={relay_addr}");
    let mut inside = start_no_input(&[
        "--fm",
        "channels",
        "-o",
        "none",
        "-i",
        "none",
        &inside_src,
        &svc_addr.to_string(),
    ]);
    wait_count(&mut inside, "Creating channel", 1);
    wait_count(&mut relay, "Accepted connection", 1);
    let client = connect_from("127.0.0.22", relay_addr);
    wait_count(&mut relay, "Creating channel", 1);
    let req = random_bytes(300 * KIB, 31);
    let got = exchange(client, req.clone());
    let nl = got.iter().position(|b| *b == b'\n').expect("sha line");
    assert_eq!(String::from_utf8_lossy(&got[..nl]), sha256::hex(&req));
    same("reply", &got[nl + 1..], &random_bytes(8 * MIB, 100));
    assert_eq!(served.join().unwrap().len(), 1);
    inside.expect_exit(0);
}

#[test]
fn hub_keeps_readers_moving_past_a_client_that_never_reads() {
    let mut p = start_no_input(&["-L", "127.0.0.1:0", "--fm", "hub", "-m", "0", "-o", "none"]);
    let addr = p.listen_addr();
    // The stuck client: a 4 KiB receive buffer, never read.
    let stuck = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    stuck.set_recv_buffer_size(4096).unwrap();
    stuck.connect(&addr.into()).unwrap();
    wait_count(&mut p, "Accepted connection", 1);
    let mut reader = peers::connect(addr);
    wait_count(&mut p, "Accepted connection", 2);
    let mut writer = peers::connect(addr);
    wait_count(&mut p, "Accepted connection", 3);
    const N: usize = 32 * MIB;
    let data = random_bytes(N, 41);
    let started = Instant::now();
    let w = {
        let data = data.clone();
        thread::spawn(move || writer.write_all(&data).map(|_| writer))
    };
    let mut got = vec![0u8; N];
    if let Err(e) = reader.read_exact(&mut got) {
        p.fail(&format!("reading client: {e}"));
    }
    let took = started.elapsed();
    let _writer = w.join().unwrap().expect("writer");
    same("the reading client", &got, &data);
    let limit = match runner_kind() {
        Runner::Native => Duration::from_secs(10),
        _ => Duration::from_secs(60),
    };
    assert!(
        took < limit,
        "32 MiB took {took:?} (limit {limit:?})\n{}",
        p.report()
    );
    assert!(
        p.stderr().contains("Dropping a hub client"),
        "{}",
        p.report()
    );
    if runner_kind() == Runner::Native {
        if let Some(kib) = util::rss_kib(p.pid()) {
            assert!(kib < 64 * 1024, "RSS {kib} KiB");
        }
    }
    drop(stuck);
}

#[test]
fn reconnect_redials_at_once_after_a_clean_close() {
    // -r after a graceful close: the next session is wanted now (a tunnel's
    // next client waits for it); the back-off is for failures only.
    let (l, addr) = listener();
    let mut p = start_no_input(&["-i", "none", "-r", &addr.to_string()]);
    let Some((mut current, _)) = peers::try_accept(&l, patience()) else {
        p.fail("the first session never came");
    };
    let mut gaps = Vec::new();
    for _ in 0..3 {
        drop(current);
        let closed = Instant::now();
        let Some((next, _)) = peers::try_accept(&l, patience()) else {
            p.fail("no redial after a clean close");
        };
        gaps.push(closed.elapsed());
        current = next;
    }
    // Best of three, so one descheduled moment on a busy machine does not
    // fail it; 20 ms natively (the issue's bound), more under an emulator.
    let best = gaps.iter().min().copied().unwrap_or_default();
    let limit = match runner_kind() {
        Runner::Native => Duration::from_millis(20),
        _ => Duration::from_secs(1),
    };
    assert!(best < limit, "close-to-redial {gaps:?}\n{}", p.report());
    p.kill();
}

#[test]
fn vvv_traces_every_chunk_of_a_pure_relay() {
    // -vvv's per-chunk lines are a look at the bytes: a pure relay (which
    // splices on Linux without it) must copy and say each chunk, both ways.
    let (mut p, _, mut a, mut b) = channel_pair_with("channels", &["-o", "none", "-vvv"]);
    pass(&mut p, &mut a, &mut b, "a to b\n");
    wait_count(&mut p, "received 7 bytes", 1);
    pass(&mut p, &mut b, &mut a, "b to a, more\n");
    wait_count(&mut p, "received 13 bytes", 1);
    assert!(!p.stderr().contains("spliced"), "{}", p.report());
}

#[test]
fn hub_stats_count_each_client_under_its_own_name() {
    if !cfg!(feature = "stats") {
        crate::util::skip("needs the 'stats' feature");
        return;
    }
    let mut p = start_no_input(&[
        "-L",
        "127.0.0.1:0",
        "--fm",
        "hub",
        "-m",
        "0",
        "-i",
        "none",
        "--stats",
        "--st",
        "100",
    ]);
    let addr = p.listen_addr();
    let mut a = peers::connect(addr);
    let mut b = peers::connect(addr);
    wait_count(&mut p, "Accepted connection", 2);
    pass(&mut p, &mut a, &mut b, "five\n");
    pass(&mut p, &mut b, &mut a, "seven!\n");
    // Each route's line carries its own counters: what it received and
    // what was written to it (the other's bytes).
    let label = |s: &TcpStream| format!("{}<->{}", addr, s.local_addr().unwrap());
    let (la, lb) = (label(&a), label(&b));
    wait_count(&mut p, &format!("Stats {la}: in 5 B 1 msgs"), 1);
    wait_count(&mut p, &format!("Stats {lb}: in 7 B 1 msgs"), 1);
    let text = p.stderr();
    let line_of = |l: &str| {
        text.lines()
            .rev()
            .find(|x| x.starts_with(&format!("Stats {l}:")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line_of(&la).contains("out 7 B 1 msgs"), "{}", p.report());
    assert!(line_of(&lb).contains("out 5 B 1 msgs"), "{}", p.report());
    // The totals line follows the per-route lines of the same round: wait for it.
    wait_count(&mut p, "Stats total (2 open)", 1);
    // A client that leaves (here with a reset: a hub keeps a half-closed
    // client while another talks) takes its line with it.
    if crate::util::skipped_under_wine(
        "the part where a client resets: Wine does not tell the listener of its client's reset",
    ) {
        p.kill();
        return;
    }
    socket2::SockRef::from(&a)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(a);
    wait_count(&mut p, "Stats total (1 open)", 1);
    p.kill();
}
