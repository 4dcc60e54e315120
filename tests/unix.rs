//! UNIX domain sockets: `-U PATH` and `unix:PATH` (stream, both ways, as
//! listener and client, a 16 MiB transfer each way, half-close, -k, -e per
//! client, a TCP <-> UNIX relay), `-U -u` datagrams (with and without -s),
//! and the errors: a stale socket file, one in use, permission denied, a
//! path too long, a missing path. The peers are this test's own sockets.
//!
//! The Windows build has AF_UNIX streams (Windows 10 1803+) and no
//! datagrams. Under Wine the stream tests run where that Wine has AF_UNIX;
//! Wine 8 and Wine 10.0 have none (socket() fails with WSAEAFNOSUPPORT), so
//! there they skip, and what runs is the Windows build's one-line refusals.

use crate::util::{
    self, patience, random_bytes, same_content, spawn_command, start, start_no_input, start_with,
    Proc, Runner, Stdin, EVERY_STDIN,
};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A fresh directory for one test's socket files, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("ncu-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("make the test directory");
        Dir(p)
    }

    fn path(&self, f: &str) -> String {
        self.0.join(f).to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the Windows build says where the system has no AF_UNIX.
pub const NO_AF_UNIX: &str = "UNIX domain sockets need Windows 10 1803 or later";

/// Whether the binary under test can make AF_UNIX sockets: always natively;
/// under Wine only if that Wine implements them (asked once, of netcrab).
/// The tunnel's unix: service tests ask it too.
pub fn has_af_unix() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        if util::runner_kind() != Runner::Wine {
            return true;
        }
        let d = Dir::new("probe");
        let (_, out) = util::run(&["-z", "-U", &d.path("none.sock")]);
        !out.stderr.contains(NO_AF_UNIX)
    })
}

/// A build without the `unix` feature refuses UNIX sockets (checked in
/// src/cli/config/tests.rs).
fn no_feature() -> bool {
    if !cfg!(feature = "unix") {
        util::skip("UNIX domain sockets need the 'unix' feature, which this build leaves out");
        return true;
    }
    false
}

/// For the tests that make UNIX stream sockets.
fn skipped() -> bool {
    if no_feature() {
        return true;
    }
    if !has_af_unix() {
        util::skip(
            "UNIX domain sockets: this Wine has no AF_UNIX (Wine 8, 10.0: socket() fails with \
             WSAEAFNOSUPPORT); the Windows build needs Windows 10 1803 or later",
        );
        return true;
    }
    false
}

/// For the datagram tests: Windows has no AF_UNIX datagrams.
fn skipped_dgram() -> bool {
    if skipped() {
        return true;
    }
    util::skipped_under_wine(
        "UNIX datagrams: Windows has no AF_UNIX datagram sockets (-U -u is refused there: \
         windows_says_what_it_lacks)",
    )
}

/// End a run that goes on by itself (-k): SIGTERM natively, which removes
/// the socket file (true: check that); under Wine, which has no Unix
/// signals, a plain kill (false).
fn terminate(p: &mut Proc) -> bool {
    if util::runner_kind() == Runner::Wine {
        p.kill();
        return false;
    }
    signal(p, "-TERM");
    p.finish();
    true
}

fn listening(p: &mut Proc) {
    p.wait_for("Listening on unix:");
}

fn connect(path: &str) -> UnixStream {
    let deadline = Instant::now() + patience();
    loop {
        match UnixStream::connect(path) {
            Ok(s) => {
                s.set_read_timeout(Some(patience())).unwrap();
                return s;
            }
            Err(e) if Instant::now() > deadline => panic!("connect {path}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn read_all(s: &mut UnixStream) -> Vec<u8> {
    let mut v = Vec::new();
    s.read_to_end(&mut v).expect("read to EOF");
    v
}

fn gone(path: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(path).exists() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn signal(p: &Proc, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &p.pid().to_string()])
        .status();
}

#[test]
fn stream_listener_both_directions_and_half_close() {
    if skipped() {
        return;
    }
    let d = Dir::new("lsn");
    let sock = d.path("s.sock");
    let mut p = start(&["-U", "-l", &sock]);
    listening(&mut p);
    let mut c = connect(&sock);
    c.write_all(b"to-server\n").unwrap();
    p.wait_stdout_len(10);
    p.write_stdin(b"to-client\n");
    let mut got = [0u8; 10];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"to-client\n");
    // Our FIN reaches netcrab's output side; its input ending sends its FIN.
    c.shutdown(Shutdown::Write).unwrap();
    p.close_stdin();
    assert_eq!(read_all(&mut c), b"", "EOF after the half-close");
    let out = p.expect_exit(0);
    assert_eq!(out.stdout, b"to-server\n");
    assert!(gone(&sock), "the listener removes its socket file at exit");
}

#[test]
fn stream_client_with_the_unix_address_form_forwards_its_fin() {
    if skipped() {
        return;
    }
    let d = Dir::new("cli");
    let sock = d.path("s.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let target = format!("unix:{sock}");
    let mut p = start(&[&target]);
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(patience())).unwrap();
    p.write_stdin(b"request");
    p.close_stdin();
    // The half-close: everything, then EOF, while our side stays open.
    assert_eq!(read_all(&mut s), b"request");
    s.write_all(b"answer").unwrap();
    drop(s);
    let out = p.expect_exit(0);
    assert_eq!(out.stdout, b"answer");
    assert!(
        Path::new(&sock).exists(),
        "a client leaves the server's file alone"
    );
}

#[test]
fn sixteen_mib_each_way_intact() {
    if skipped() {
        return;
    }
    let d = Dir::new("big");
    let sock = d.path("s.sock");
    let up = random_bytes(16 << 20, 11);
    let down = random_bytes(16 << 20, 12);
    let mut srv = start(&["-U", "-l", &sock]);
    listening(&mut srv);
    let mut cli = start(&["-U", &sock]);
    let a = srv.feed_stdin(down.clone());
    let b = cli.feed_stdin(up.clone());
    let so = srv.expect_exit(0);
    let co = cli.expect_exit(0);
    a.join().unwrap();
    b.join().unwrap();
    same_content("server stdout (client -> server)", &so.stdout, &up);
    same_content("client stdout (server -> client)", &co.stdout, &down);
}

#[test]
fn keep_open_serves_clients_in_turn() {
    if skipped() {
        return;
    }
    let d = Dir::new("keep");
    let sock = d.path("s.sock");
    let mut p = start(&["-k", "-U", "-l", &sock, "--close-grace", "0"]);
    listening(&mut p);
    let mut want = Vec::new();
    for i in 0..3 {
        let mut c = connect(&sock);
        let line = format!("client-{i}\n");
        c.write_all(line.as_bytes()).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_all(&mut c), b"", "client {i}: EOF once served");
        want.extend_from_slice(line.as_bytes());
        p.wait_stdout_len(want.len());
    }
    assert!(p.running(), "-k keeps listening");
    assert_eq!(p.stdout(), want);
    if terminate(&mut p) {
        assert!(gone(&sock), "SIGTERM: the socket file is removed");
    }
}

#[test]
fn exec_runs_per_client_with_k() {
    if skipped() {
        return;
    }
    if !cfg!(feature = "exec") {
        util::skip("needs the 'exec' feature (-e)");
        return;
    }
    let d = Dir::new("exec");
    let sock = d.path("s.sock");
    let mut p = start_no_input(&["-k", "-U", "-l", &sock, "-e", "tr a-z A-Z"]);
    listening(&mut p);
    for i in 0..2 {
        let mut c = connect(&sock);
        c.write_all(format!("hello-{i}").as_bytes()).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(
            read_all(&mut c),
            format!("HELLO-{i}").as_bytes(),
            "client {i}"
        );
    }
    assert!(p.running());
}

#[test]
fn relay_from_tcp_to_a_unix_socket() {
    if skipped() {
        return;
    }
    let d = Dir::new("relay");
    let sock = d.path("ctl.sock");
    let l = UnixListener::bind(&sock).unwrap();
    // An echo service on the UNIX socket (one client).
    let echo = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut v = Vec::new();
        s.read_to_end(&mut v).unwrap();
        s.write_all(&v).unwrap();
    });
    let target = format!("unix:{sock}");
    let mut p = start_no_input(&["--fm", "channels", "-l", "127.0.0.1:0", &target]);
    let at = p.listen_addr();
    let mut t = std::net::TcpStream::connect(at).unwrap();
    t.set_read_timeout(Some(patience())).unwrap();
    let data = random_bytes(1 << 20, 5);
    let w = {
        let mut t = t.try_clone().unwrap();
        let data = data.clone();
        std::thread::spawn(move || {
            t.write_all(&data).unwrap();
            t.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut back = Vec::new();
    t.read_to_end(&mut back).unwrap();
    w.join().unwrap();
    echo.join().unwrap();
    same_content("echoed through TCP -> unix -> TCP", &back, &data);
    p.expect_exit(0);
}

#[test]
fn a_stale_socket_file_is_replaced_one_in_use_is_refused() {
    if skipped() {
        return;
    }
    let d = Dir::new("stale");
    let sock = d.path("s.sock");
    // Bound and closed: the file stays, nothing accepts on it.
    drop(UnixListener::bind(&sock).unwrap());
    assert!(Path::new(&sock).exists());
    let mut p = start_no_input(&["-U", "-l", &sock]);
    listening(&mut p);
    let mut c = connect(&sock);
    c.write_all(b"ok").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(p.expect_exit(0).stdout, b"ok");

    let live = UnixListener::bind(&sock).unwrap();
    let (_, out) = util::run(&["-U", "-l", &sock]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("in use"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    assert!(Path::new(&sock).exists(), "the live server's file stays");
    drop(live);

    let plain = d.path("plain");
    std::fs::write(&plain, b"data").unwrap();
    let (_, out) = util::run(&["-U", "-l", &plain]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("not a socket"), "{}", out.stderr);
    assert_eq!(
        std::fs::read(&plain).unwrap(),
        b"data",
        "a plain file is kept"
    );
}

#[test]
fn sigint_removes_the_socket_file() {
    if skipped() || util::skipped_under_wine("Unix signals: Windows has console events instead") {
        return;
    }
    let d = Dir::new("int");
    let sock = d.path("s.sock");
    let mut p = start(&["-k", "-U", "-l", &sock]);
    listening(&mut p);
    signal(&p, "-INT");
    let out = p.finish();
    assert_eq!(out.code, Some(130), "{}", out.stderr);
    assert!(gone(&sock));
}

#[test]
fn a_path_too_long_is_a_usage_error_naming_it() {
    // Decided on the command line: runs wherever the feature is.
    if no_feature() {
        return;
    }
    let long = format!("/tmp/{}", "p".repeat(110));
    for args in [
        vec!["-U", "-l", long.as_str()],
        vec!["-U", long.as_str()],
        vec!["-l", &format!("unix:{long}")],
    ] {
        let (_, out) = util::run(&args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("ppppp"),
            "names the path: {}",
            out.stderr
        );
        assert!(out.stderr.contains("115 bytes"), "{}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    }
}

#[test]
fn a_missing_path_fails_in_one_line() {
    if skipped() {
        return;
    }
    let d = Dir::new("miss");
    let sock = d.path("none.sock");
    let dgram = util::runner_kind() != Runner::Wine;
    for extra in [&[][..], &["-z"][..], &["-u"][..]] {
        if extra == ["-u"] && !dgram {
            continue; // Windows refuses -U -u (windows_says_what_it_lacks)
        }
        let mut args = vec!["-U"];
        args.extend_from_slice(extra);
        args.push(&sock);
        let (_, out) = util::run(&args);
        assert_eq!(out.code, Some(1), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("No such file"),
            "{args:?}: {}",
            out.stderr
        );
        let lines = out.stderr.lines().filter(|l| l.contains("No such")).count();
        assert_eq!(lines, 1, "{}", out.stderr);
    }
}

#[test]
fn zero_io_says_whether_a_path_accepts() {
    if skipped() {
        return;
    }
    let d = Dir::new("z");
    let sock = d.path("s.sock");
    let _l = UnixListener::bind(&sock).unwrap();
    let (_, out) = util::run(&["-z", "-U", &sock]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("open"), "{}", out.stderr);
}

/// Permission denied, as a user without rights to the directory (root
/// would bypass the mode): run under `setpriv` as nobody.
#[test]
fn permission_denied_is_one_line() {
    if skipped() {
        return;
    }
    if util::runner_kind() != Runner::Native {
        util::skip("permission test: runs the native binary under setpriv");
        return;
    }
    let d = Dir::new("perm");
    let locked = d.0.join("locked");
    std::fs::create_dir(&locked).unwrap();
    let sock = locked.join("s.sock").to_string_lossy().into_owned();
    let as_root = unsafe_euid() == 0;
    let bin = std::env::var("NETCRAB_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netcrab").into());
    let run_as = |args: &[&str]| -> util::Output {
        let mut c = if as_root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", &bin]);
            c
        } else {
            Command::new(&bin)
        };
        c.args(args).stdin(std::process::Stdio::null());
        spawn_command(c, args, None).finish()
    };
    if as_root && Command::new("setpriv").arg("--version").output().is_err() {
        util::skip("permission test: setpriv (util-linux) is missing");
        return;
    }
    // Nobody may create a file here (root owns it, mode 755).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    if !as_root {
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let out = run_as(&["-U", "-l", &sock]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("ermission denied"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);

    // Connecting to a socket file without write permission.
    let open = d.path("s.sock");
    let _l = UnixListener::bind(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o600)).unwrap();
    if as_root {
        let out = run_as(&["-U", &open]);
        assert_eq!(out.code, Some(1), "{}", out.stderr);
        assert!(out.stderr.contains("ermission denied"), "{}", out.stderr);
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn unsafe_euid() -> u32 {
    // The uid this test runs as, from /proc (no libc in the tests).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(String::from))
        })
        .and_then(|u| u.parse().ok())
        .unwrap_or(0)
}

#[test]
fn flags_without_meaning_are_refused() {
    // Decided on the command line: runs wherever the feature is.
    if no_feature() {
        return;
    }
    for args in [
        &["-U", "-p", "5", "/tmp/x.sock"][..],
        &["-U", "-4", "/tmp/x.sock"][..],
        &["-U", "-u", "--mc", "/tmp/x.sock"][..],
        &["-U", "-s", "/tmp/a.sock", "/tmp/x.sock"][..],
        &["-u", "unix:/tmp/x.sock", "127.0.0.1:9"][..],
    ] {
        let (_, out) = util::run(args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
    }
}

#[test]
fn datagram_listener_answers_its_first_peer() {
    if skipped_dgram() {
        return;
    }
    let d = Dir::new("dgl");
    let sock = d.path("s.sock");
    let me = d.path("me.sock");
    let mut p = start(&["-U", "-u", "-l", &sock]);
    listening(&mut p);
    let u = UnixDatagram::bind(&me).unwrap();
    u.set_read_timeout(Some(patience())).unwrap();
    u.send_to(b"hello", &sock).unwrap();
    assert_eq!(p.wait_stdout_len(5), b"hello");
    p.write_stdin(b"reply");
    let mut buf = [0u8; 64];
    let n = u.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"reply", "one read of input is one datagram");
    signal(&p, "-TERM");
    p.finish();
    assert!(gone(&sock));
}

#[test]
fn datagram_client_gets_replies_on_its_own_path() {
    if skipped_dgram() {
        return;
    }
    let d = Dir::new("dgc");
    let sock = d.path("srv.sock");
    let u = UnixDatagram::bind(&sock).unwrap();
    u.set_read_timeout(Some(patience())).unwrap();
    let mine = d.path("client.sock");
    for source in [None, Some(mine.as_str())] {
        let mut args = vec!["-U", "-u"];
        if let Some(s) = source {
            args.extend(["-s", s]);
        }
        args.push(&sock);
        let mut p = start(&args);
        p.write_stdin(b"ping");
        let mut buf = [0u8; 64];
        let (n, from) = u.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
        let from = from
            .as_pathname()
            .expect("the client has a path")
            .to_path_buf();
        if let Some(s) = source {
            assert_eq!(from, Path::new(s), "-s names the client's path");
        }
        u.send_to(b"pong", &from).unwrap();
        assert_eq!(p.wait_stdout_len(4), b"pong");
        signal(&p, "-TERM");
        p.finish();
        assert!(
            gone(&from.to_string_lossy()),
            "the client's path is removed at exit"
        );
    }
}

/// Local input three ways: a UNIX client's data is printed and the run
/// ends when the client has gone, whatever stdin is.
#[test]
fn listener_ends_with_its_client_for_every_stdin() {
    if skipped() {
        return;
    }
    for kind in EVERY_STDIN {
        let d = Dir::new(&format!("stdin-{kind:?}"));
        let sock = d.path("s.sock");
        let Some(mut p) = start_with(kind, &["-U", "-l", &sock]) else {
            continue;
        };
        listening(&mut p);
        let mut c = connect(&sock);
        c.write_all(b"abc").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        if kind == Stdin::Null {
            // No input: netcrab's FIN comes at once.
            assert_eq!(read_all(&mut c), b"", "{kind:?}");
        }
        drop(c);
        let out = p.expect_exit(0);
        assert_eq!(out.stdout, b"abc", "{kind:?}");
        assert!(gone(&sock), "{kind:?}");
    }
}

/// The Windows build (under Wine), one clear line each, no panic: UNIX
/// datagrams are refused on the command line (exit 2, as a build without
/// the feature refuses -U); a system without AF_UNIX (Wine 8, Windows
/// before 10 1803) is told so when the run starts (exit 1), for every
/// kind of UNIX address and every stdin.
#[test]
fn windows_says_what_it_lacks() {
    if util::runner_kind() != Runner::Wine {
        util::skip("the Windows build's messages: run only under Wine");
        return;
    }
    if no_feature() {
        return;
    }
    let d = Dir::new("win");
    let sock = d.path("x.sock");
    for args in [
        &["-U", "-u", &sock][..],
        &["-U", "-u", "-l", &sock][..],
        &["-u", &format!("unix:{sock}")][..],
    ] {
        let (_, out) = util::run(args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("Windows has no UNIX datagram sockets"),
            "{args:?}: {}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
    }
    if has_af_unix() {
        util::skip("the no-AF_UNIX message: this Wine has AF_UNIX");
        return;
    }
    let relative = "x.sock";
    let listen = format!("unix:{sock}");
    let cases: [&[&str]; 5] = [
        &["-U", &sock],
        &["-U", relative],
        &["-U", "-k", "-l", &sock],
        &["-l", &listen],
        &["--fm", "channels", "-l", "127.0.0.1:0", &listen],
    ];
    for kind in EVERY_STDIN {
        for args in cases {
            let Some(mut p) = start_with(kind, args) else {
                break; // no terminal here: said once
            };
            let out = p.expect_exit(1);
            assert!(
                out.stderr.contains(NO_AF_UNIX),
                "{kind:?} {args:?}: {}",
                out.stderr
            );
            assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
            assert!(!Path::new(&sock).exists(), "no file is left");
        }
    }
}

/// A hub on a UNIX listener: each client's data reaches the other client
/// and stdout.
#[test]
fn hub_between_unix_clients() {
    if skipped() {
        return;
    }
    let d = Dir::new("hub");
    let sock = d.path("h.sock");
    let target = format!("unix:{sock}");
    let mut p = start_no_input(&["--fm", "hub", "-i", "none", "-L", &target]);
    listening(&mut p);
    let mut a = connect(&sock);
    p.wait_for("client #1");
    let mut b = connect(&sock);
    p.wait_for("client #2");
    a.write_all(b"from-a\n").unwrap();
    let mut got = [0u8; 7];
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"from-a\n");
    b.write_all(b"from-b\n").unwrap();
    a.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"from-b\n");
    assert_eq!(p.wait_stdout_len(14), b"from-a\nfrom-b\n");
}
