//! Outbound TCP through a proxy: real ones (Debian's `tinyproxy` for HTTP
//! CONNECT and `microsocks` for SOCKS5, started here on loopback ports with
//! generated settings and killed by PID; skipped with a reason when not
//! installed) and fakes in this process for the failures. The proxies run
//! natively even when netcrab runs under an emulator.

use crate::util::{self, patience, peers, random_bytes, same_content, Proc};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const MIB: usize = 1024 * 1024;

// ------------------------------------------------------------ real proxies

/// A proxy daemon: killed (by its PID) and reaped when dropped. Its output
/// is collected, to check what it was asked for.
struct Daemon {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
    _conf: Option<TempFile>,
}

impl Daemon {
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Wait until the log mentions `needle` (logs lag the connection a bit).
    fn wait_log(&self, needle: &str) {
        let deadline = Instant::now() + patience();
        while !self.log().contains(needle) {
            if Instant::now() > deadline {
                panic!(
                    "the proxy never logged {needle:?}; its log:\n{}",
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("netcrab-proxy-{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("write a temporary file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The installed program's path, or `None` after printing why the test is
/// skipped.
/// Whether this build has the proxy feature (else the test is skipped).
fn built() -> bool {
    if !cfg!(feature = "proxy") {
        crate::util::skip("needs the 'proxy' feature");
    }
    cfg!(feature = "proxy")
}

fn installed(prog: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/bin"])
        .map(|d| PathBuf::from(d).join(prog))
        .find(|p| p.is_file());
    if found.is_none() {
        util::skip(&format!(
            "{prog} is not installed (apt-get install {prog}; .ci/run installs it)"
        ));
    }
    found
}

/// Start a daemon and wait until its port takes connections.
fn start_daemon(mut cmd: Command, port: u16, conf: Option<TempFile>) -> Daemon {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let log = Arc::new(Mutex::new(String::new()));
    let out: Vec<Box<dyn Read + Send>> = vec![
        Box::new(child.stdout.take().expect("stdout")),
        Box::new(child.stderr.take().expect("stderr")),
    ];
    for mut r in out {
        let log = log.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                log.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    let mut d = Daemon {
        child,
        port,
        log,
        _conf: conf,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = d.addr().parse().unwrap();
    while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
        if Instant::now() > deadline || matches!(d.child.try_wait(), Ok(Some(_))) {
            panic!("{cmd:?} did not start listening; its output:\n{}", d.log());
        }
        thread::sleep(Duration::from_millis(20));
    }
    d
}

/// tinyproxy on a loopback port, with `BasicAuth` when `auth` is given.
fn tinyproxy(auth: Option<(&str, &str)>) -> Option<Daemon> {
    let prog = installed("tinyproxy")?;
    let port = util::free_port();
    let mut conf = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 50\nAllow 127.0.0.1\nLogLevel Info\n"
    );
    if let Some((u, p)) = auth {
        conf.push_str(&format!("BasicAuth {u} {p}\n"));
    }
    let conf = TempFile::new(&format!("tinyproxy-{port}.conf"), &conf);
    let mut cmd = Command::new(prog);
    // -d: stay in the foreground (and log to stderr).
    cmd.args(["-d", "-c", conf.path()]);
    Some(start_daemon(cmd, port, Some(conf)))
}

/// microsocks on a loopback port, with `-u/-P` when `auth` is given.
fn microsocks(auth: Option<(&str, &str)>) -> Option<Daemon> {
    let prog = installed("microsocks")?;
    let port = util::free_port();
    let mut cmd = Command::new(prog);
    cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
    if let Some((u, p)) = auth {
        cmd.args(["-u", u, "-P", p]);
    }
    Some(start_daemon(cmd, port, None))
}

/// The far end: a port on 127.0.0.1 and, when this machine has it, the
/// same port on ::1, so `localhost` reaches it whichever the proxy picks.
struct Sink {
    listeners: Vec<TcpListener>,
    port: u16,
}

impl Sink {
    fn new() -> Sink {
        for _ in 0..20 {
            let (v4, a) = peers::listener();
            let mut listeners = vec![v4];
            if util::have_ipv6() {
                match TcpListener::bind(("::1", a.port())) {
                    Ok(v6) => listeners.push(v6),
                    Err(_) => continue,
                }
            }
            for l in &listeners {
                l.set_nonblocking(true).expect("nonblocking");
            }
            return Sink {
                listeners,
                port: a.port(),
            };
        }
        panic!("no port free on both 127.0.0.1 and ::1");
    }

    /// Accept one connection on either address.
    fn accept(&self, p: &mut Proc) -> TcpStream {
        let deadline = Instant::now() + patience();
        loop {
            for l in &self.listeners {
                if let Ok((s, _)) = l.accept() {
                    s.set_nonblocking(false).expect("blocking");
                    s.set_read_timeout(Some(patience())).expect("timeout");
                    return s;
                }
            }
            if Instant::now() > deadline {
                p.fail("no connection came through the proxy");
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// 4 MiB each way through the proxy to `localhost` (the proxy resolves it),
/// checked by SHA-256. netcrab does not half-close (`--no-shutdown`):
/// tinyproxy ends a tunnel at the first FIN from either side, so the far end
/// closes once it has everything.
fn four_mib_each_way(proxy: &Daemon, flags: &[&str]) {
    let sink = Sink::new();
    let target = format!("localhost:{}", sink.port);
    let mut args: Vec<&str> = flags.to_vec();
    args.extend(["--no-shutdown", &target]);
    let mut p = util::start(&args);
    let up = random_bytes(4 * MIB, 18);
    let down = random_bytes(4 * MIB, 81);
    let feeder = p.feed_stdin(up.clone());
    let mut s = sink.accept(&mut p);
    let mut w = s.try_clone().expect("clone");
    let down2 = down.clone();
    let writer = thread::spawn(move || w.write_all(&down2).map(|_| w));
    let got = peers::read_n(&mut s, up.len());
    let w = writer
        .join()
        .expect("writer")
        .expect("write through the proxy");
    feeder.join().expect("feeder");
    // Everything arrived: close.
    drop((w, s));
    let out = p.expect_exit(0);
    same_content("netcrab -> far end", &got, &up);
    same_content("far end -> netcrab", &out.stdout, &down);
    let first = out.stderr.lines().next().unwrap_or("");
    assert!(
        first.starts_with("Connected from ") && first.contains(&proxy.addr()),
        "the socket goes to the proxy: {}",
        out.stderr
    );
}

#[test]
fn http_connect_through_tinyproxy_4mib_each_way() {
    if !built() {
        return;
    }
    let Some(proxy) = tinyproxy(None) else { return };
    four_mib_each_way(&proxy, &["-X", "connect", "-x", &proxy.addr()]);
    // The name went to the proxy, which looked it up.
    proxy.wait_log("CONNECT localhost:");
}

#[test]
fn http_connect_with_basic_auth_through_tinyproxy_4mib_each_way() {
    if !built() {
        return;
    }
    let Some(proxy) = tinyproxy(Some(("alice", "s3cret-pw"))) else {
        return;
    };
    let pass = TempFile::new("tinyproxy-pass", "s3cret-pw\n");
    four_mib_each_way(
        &proxy,
        &[
            "--proxy",
            &proxy.addr(),
            "--proxy-type",
            "http",
            "--proxy-auth",
            "alice",
            "--proxy-pass-file",
            pass.path(),
        ],
    );
    // Without the password the proxy says 407, on one line.
    let sink = Sink::new();
    let target = format!("localhost:{}", sink.port);
    let (_, out) = util::run(&["-X", "connect", "-x", &proxy.addr(), &target]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(
        out.stderr.contains(&format!("HTTP proxy {}", proxy.addr()))
            && out.stderr.contains(" 407 "),
        "{out:?}"
    );
    // The password from the environment; -z reports the target open.
    let out = util::command(&[
        "-z",
        "-X",
        "connect",
        "-P",
        "alice",
        "-x",
        &proxy.addr(),
        &target,
    ])
    .env("NETCRAB_PROXY_PASS", "s3cret-pw")
    .stdin(Stdio::null())
    .output()
    .expect("run netcrab");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("{target} open")), "{err}");
}

#[test]
fn socks5_through_microsocks_4mib_each_way() {
    if !built() {
        return;
    }
    let Some(proxy) = microsocks(None) else {
        return;
    };
    // -x alone is SOCKS5, as in OpenBSD nc.
    four_mib_each_way(&proxy, &["-x", &proxy.addr()]);
    proxy.wait_log("connected to localhost:");
}

#[test]
fn socks5_with_user_and_password_through_microsocks_4mib_each_way() {
    if !built() {
        return;
    }
    let Some(proxy) = microsocks(Some(("bob", "pa55word"))) else {
        return;
    };
    let pass = TempFile::new("microsocks-pass", "pa55word\r\n");
    four_mib_each_way(
        &proxy,
        &[
            "-X",
            "5",
            "-x",
            &proxy.addr(),
            "-P",
            "bob",
            "--proxy-pass-file",
            pass.path(),
        ],
    );
    proxy.wait_log("connected to localhost:");
    // A wrong password: one line, exit 1.
    let bad = TempFile::new("microsocks-bad", "nope\n");
    let sink = Sink::new();
    let target = format!("localhost:{}", sink.port);
    let (_, out) = util::run(&[
        "--proxy",
        &proxy.addr(),
        "--proxy-type",
        "socks5",
        "--proxy-auth",
        "bob",
        "--proxy-pass-file",
        bad.path(),
        &target,
    ]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(
        out.stderr.contains("rejected the user name and password"),
        "{out:?}"
    );
}

#[test]
fn zero_io_reports_open_and_closed_as_the_proxy_answers() {
    if !built() {
        return;
    }
    let Some(proxy) = microsocks(None) else {
        return;
    };
    let sink = Sink::new();
    let closed = util::free_port();
    let (_, out) = util::run(&[
        "-z",
        "-x",
        &proxy.addr(),
        &format!("127.0.0.1:{}", sink.port),
        &format!("127.0.0.1:{closed}"),
    ]);
    // As a direct scan (nc): exit 0 if any port answered, 1 if none did.
    assert_eq!(out.code, Some(0), "{out:?}");
    let none = &format!("127.0.0.1:{closed}");
    assert_eq!(
        util::run(&["-z", "-x", &proxy.addr(), none]).1.code,
        Some(1)
    );
    assert!(
        out.stderr
            .contains(&format!("127.0.0.1:{} open", sink.port)),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains(&format!("127.0.0.1:{closed} closed (SOCKS5 proxy")),
        "{out:?}"
    );
}

#[test]
fn reconnect_through_the_proxy_three_sessions() {
    if !built() {
        return;
    }
    let Some(proxy) = microsocks(None) else {
        return;
    };
    let sink = Sink::new();
    let target = format!("localhost:{}", sink.port);
    let mut p = util::start_no_input(&["-i", "none", "-r", "-x", &proxy.addr(), &target]);
    for k in 0..3 {
        let mut s = sink.accept(&mut p);
        s.write_all(format!("session {k}\n").as_bytes()).unwrap();
    }
    let want = b"session 0\nsession 1\nsession 2\n";
    let out = p.wait_stdout_len(want.len());
    assert_eq!(&out[..want.len()], want);
    assert!(p.running(), "-r keeps going");
    p.kill();
}

#[test]
fn reconnect_through_tinyproxy_three_sessions() {
    if !built() {
        return;
    }
    let Some(proxy) = tinyproxy(None) else { return };
    let sink = Sink::new();
    let target = format!("localhost:{}", sink.port);
    let mut p = util::start_no_input(&["-i", "none", "-r", "--proxy", &proxy.addr(), &target]);
    for k in 0..3 {
        let mut s = sink.accept(&mut p);
        s.write_all(format!("session {k}\n").as_bytes()).unwrap();
    }
    let want = b"session 0\nsession 1\nsession 2\n";
    let out = p.wait_stdout_len(want.len());
    assert_eq!(&out[..want.len()], want);
    p.kill();
}

// ------------------------------------------------------------ fake proxies

/// A one-connection fake proxy: `script` gets the accepted socket. The
/// socket stays open until the test has finished with netcrab (the thread's
/// result is the socket, dropped after the join).
fn fake(
    script: impl FnOnce(&mut TcpStream) + Send + 'static,
) -> (String, thread::JoinHandle<Option<TcpStream>>) {
    let (l, addr) = peers::listener();
    let t = thread::spawn(move || {
        let (mut s, _) = peers::try_accept(&l, patience())?;
        script(&mut s);
        Some(s)
    });
    (addr.to_string(), t)
}

/// Read an HTTP request up to its blank line.
fn read_request(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn read_bytes(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    let _ = s.read_exact(&mut v);
    v
}

/// Run netcrab against a fake; expect exit 1, one stderr line containing
/// `needle`, within `limit` (plus an emulator's start-up).
fn expect_one_line(
    args: &[&str],
    fake: thread::JoinHandle<Option<TcpStream>>,
    needle: &str,
    limit: Duration,
) -> String {
    let started = Instant::now();
    let mut p = util::start_no_input(args);
    let out = p.finish();
    let took = started.elapsed();
    let slack = match util::runner_kind() {
        util::Runner::Native => Duration::from_secs(3),
        _ => Duration::from_secs(20),
    };
    if out.code != Some(1) || out.stderr.lines().count() != 1 || !out.stderr.contains(needle) {
        p.fail(&format!(
            "expected exit 1 and one stderr line with {needle:?}"
        ));
    }
    if took > limit + slack {
        p.fail(&format!("took {took:?}"));
    }
    drop(fake.join().expect("fake proxy"));
    out.stderr
}

const QUICK: Duration = Duration::from_secs(1);

#[test]
fn http_proxy_answers_407_and_403_in_one_line() {
    if !built() {
        return;
    }
    for (status, code) in [
        ("HTTP/1.1 407 Proxy Authentication Required", "407"),
        ("HTTP/1.1 403 Forbidden", "403"),
    ] {
        let (addr, t) = fake(move |s| {
            let req = read_request(s);
            assert!(
                req.starts_with("CONNECT example.invalid:80 HTTP/1.1\r\n"),
                "{req}"
            );
            let answer = format!("{status}\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n");
            s.write_all(answer.as_bytes()).unwrap();
        });
        let err = expect_one_line(
            &["-X", "connect", "-x", &addr, "example.invalid:80"],
            t,
            &format!("HTTP proxy {addr} answered '{status}'"),
            QUICK,
        );
        assert!(err.contains(code));
        assert!(
            err.starts_with("netcrab: connect to example.invalid:80: "),
            "{err}"
        );
    }
}

#[test]
fn socks5_method_refusal_is_one_line() {
    if !built() {
        return;
    }
    let (addr, t) = fake(|s| {
        assert_eq!(read_bytes(s, 3), [5, 1, 0]);
        s.write_all(&[5, 0xFF]).unwrap();
    });
    expect_one_line(
        &["-x", &addr, "example.invalid:80"],
        t,
        "refused every offered authentication method",
        QUICK,
    );
}

#[test]
fn socks5_wrong_auth_reply_is_one_line() {
    if !built() {
        return;
    }
    let pass = TempFile::new("fake-pass", "pw\n");
    // A refusal.
    let (addr, t) = fake(|s| {
        assert_eq!(read_bytes(s, 4), [5, 2, 0, 2]);
        s.write_all(&[5, 2]).unwrap();
        assert_eq!(read_bytes(s, 7), [1, 2, b'u', b'1', 2, b'p', b'w']);
        s.write_all(&[1, 1]).unwrap();
    });
    let args = |a: &str| {
        vec![
            "-x".to_string(),
            a.to_string(),
            "-P".into(),
            "u1".into(),
            "--proxy-pass-file".into(),
            pass.path().into(),
            "example.invalid:80".into(),
        ]
    };
    let v = args(&addr);
    let v: Vec<&str> = v.iter().map(String::as_str).collect();
    expect_one_line(&v, t, "rejected the user name and password", QUICK);
    // An answer in no known form.
    let (addr, t) = fake(|s| {
        read_bytes(s, 4);
        s.write_all(&[5, 2]).unwrap();
        read_bytes(s, 7);
        s.write_all(&[0x48, 0x54]).unwrap();
    });
    let v = args(&addr);
    let v: Vec<&str> = v.iter().map(String::as_str).collect();
    expect_one_line(
        &v,
        t,
        "did not answer as a SOCKS5 proxy to the user name",
        QUICK,
    );
}

#[test]
fn garbage_from_a_proxy_is_one_line() {
    if !built() {
        return;
    }
    // An SSH server where an HTTP proxy should be; it waits, so only reading
    // the first bytes can end this before the timeout.
    let (addr, t) = fake(|s| {
        read_request(s);
        s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").unwrap();
    });
    expect_one_line(
        &["-w", "20", "--proxy", &addr, "example.invalid:80"],
        t,
        "did not answer as an HTTP proxy (it sent 'SSH-2.0-OpenSSH_9.2')",
        QUICK,
    );
    // An HTTP proxy where a SOCKS5 one should be.
    let (addr, t) = fake(|s| {
        read_bytes(s, 3);
        s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").unwrap();
    });
    expect_one_line(
        &["-w", "20", "-X", "5", "-x", &addr, "example.invalid:80"],
        t,
        "did not answer as a SOCKS5 proxy (it sent 'HT')",
        QUICK,
    );
    // A SOCKS4 reply with an unknown code.
    let (addr, t) = fake(|s| {
        read_bytes(s, 9);
        s.write_all(&[0, 77, 0, 0, 0, 0, 0, 0]).unwrap();
    });
    expect_one_line(
        &["-w", "20", "-X", "4", "-x", &addr, "127.0.0.1:80"],
        t,
        "did not answer as a SOCKS4 proxy",
        QUICK,
    );
}

#[test]
fn a_proxy_that_closes_after_the_greeting_is_one_line() {
    if !built() {
        return;
    }
    let (addr, t) = fake(|s| {
        read_bytes(s, 3);
        s.write_all(&[5, 0]).unwrap();
        read_bytes(s, 4);
        let _ = s.shutdown(std::net::Shutdown::Both);
    });
    expect_one_line(
        &["-x", &addr, "127.0.0.1:80"],
        t,
        &format!("SOCKS5 proxy {addr} closed the connection during the handshake"),
        QUICK,
    );
    let (addr, t) = fake(|s| {
        read_request(s);
        let _ = s.shutdown(std::net::Shutdown::Both);
    });
    expect_one_line(
        &["--proxy", &addr, "127.0.0.1:80"],
        t,
        "closed the connection without answering",
        QUICK,
    );
}

#[test]
fn a_proxy_that_never_answers_ends_at_the_w_timeout() {
    if !built() {
        return;
    }
    for flags in [["-X", "connect"], ["-X", "5"]] {
        let (addr, t) = fake(|s| {
            let _ = s.read(&mut [0u8; 64]);
            // Silent, and the socket stays open until netcrab has gone.
        });
        let mut args = vec!["-w", "2"];
        args.extend(flags);
        args.extend(["-x", &addr, "127.0.0.1:80"]);
        let started = Instant::now();
        let err = expect_one_line(
            &args,
            t,
            "did not answer within 2 s",
            Duration::from_secs(2),
        );
        assert!(started.elapsed() >= Duration::from_millis(1900), "{err}");
    }
}

/// The README's reverse tunnel with its inside end behind an HTTP proxy:
/// the dial to the relay goes through tinyproxy, the one to the service
/// inside (`--no-proxy`) does not.
#[test]
fn reverse_tunnel_inside_end_through_tinyproxy() {
    if !built() {
        return;
    }
    let Some(proxy) = tinyproxy(None) else { return };
    let mut relay = util::start_no_input(&[
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
    // The service inside: an echo (no half-close: tinyproxy ends a tunnel
    // at the first FIN).
    let (svc_l, svc) = peers::listener_on("127.0.0.2:0");
    let echo = thread::spawn(move || {
        let (s, _) = peers::accept(&svc_l);
        let mut w = s.try_clone().expect("clone");
        let mut r = s;
        let _ = std::io::copy(&mut r, &mut w);
    });
    let mut inside = util::start_no_input(&[
        "--fm",
        "channels",
        "-o",
        "none",
        "-i",
        "none",
        "-r",
        "-X",
        "connect",
        "-x",
        &proxy.addr(),
        "--no-proxy",
        "127.0.0.2",
        &relay_a.to_string(),
        &svc.to_string(),
    ]);
    inside.wait_for("Creating channel");
    let err = inside.stderr();
    assert!(
        err.contains(&format!("to {}, protocol TCP", proxy.addr()))
            && err.contains(&format!("to {svc}, protocol TCP")),
        "{}",
        inside.report()
    );
    proxy.wait_log(&format!("CONNECT {relay_a} HTTP/1.1"));

    let mut client = peers::connect(relay_b);
    let data = random_bytes(MIB, 7);
    let mut w = client.try_clone().expect("clone");
    let d2 = data.clone();
    let writer = thread::spawn(move || w.write_all(&d2));
    let back = peers::read_n(&mut client, data.len());
    writer.join().expect("writer").expect("write to the relay");
    same_content("echoed through relay, proxy and tunnel", &back, &data);
    drop(client);
    echo.join().expect("echo");
    assert!(relay.running(), "the relay keeps running");
}

/// `SRC=DST` binds the socket that goes to the proxy; `xN` opens N tunnels.
#[test]
fn source_and_copies_go_through_the_proxy() {
    if !built() {
        return;
    }
    let Some(proxy) = microsocks(None) else {
        return;
    };
    let sink = Sink::new();
    let target = format!("127.0.0.5=localhost:{}x2", sink.port);
    // `-i none`: no FIN at once (microsocks ends a tunnel at the first FIN).
    let mut p = util::start_no_input(&["-i", "none", "-x", &proxy.addr(), &target]);
    for _ in 0..2 {
        let mut s = sink.accept(&mut p);
        s.write_all(b"copy\n").unwrap();
    }
    let out = p.expect_exit(0);
    assert_eq!(out.stdout, b"copy\ncopy\n");
    let log = proxy.log();
    assert_eq!(
        log.matches(&format!("127.0.0.5: connected to localhost:{}", sink.port))
            .count(),
        2,
        "{log}"
    );
}

/// `--proxy-dns local`: the name is looked up here and the proxy gets an
/// address (the default, `remote`, is checked by the transfers above).
#[test]
fn proxy_dns_local_sends_an_address() {
    if !built() {
        return;
    }
    let Some(proxy) = microsocks(None) else {
        return;
    };
    let sink = Sink::new();
    let target = format!("localhost:{}", sink.port);
    let (_, out) = util::run(&["-z", "--proxy-dns", "local", "-x", &proxy.addr(), &target]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains(&format!("{target} open")), "{out:?}");
    proxy.wait_log(&format!(":{}", sink.port));
    let log = proxy.log();
    assert!(
        log.contains("connected to ") && !log.contains("connected to localhost"),
        "{log}"
    );
}
