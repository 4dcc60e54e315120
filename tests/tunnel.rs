//! Tunnel mode (`--tunnel-relay` / `--tunnel-inside`): many clients at once
//! through relay → inside end → a test service that speaks first, the
//! service dialled only per client, a relay restart, the service down, the
//! shared secret, and garbage on the relay's inside-link port.

use crate::util::tunnel::{built, frame, hello, read_frame, relay_with, seed_of, start_inside};
use crate::util::{self, patience, random_bytes, sha256, skip, start_no_input, Proc};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const GREETING: &[u8] = b"HELLO from the service\n";
const ANSWER_DATA: usize = 1 << 20;

/// A service that greets first, reads to the end, then answers the SHA-256
/// (hex + "\n") of what it received and 1 MiB of data seeded by that hash.
/// Counts its accepts; can be stopped (port closed) and started again.
struct Service {
    addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Service {
    fn start(addr: &str) -> Service {
        let l = TcpListener::bind(addr).expect("bind the test service");
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let accepts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, s) = (accepts.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        a.fetch_add(1, Ordering::SeqCst);
                        thread::spawn(move || serve_one(c));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2))
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Service {
            addr,
            accepts,
            stop,
            thread: Some(thread),
        }
    }

    fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    /// Close the listening port (later connects are refused).
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_one(mut c: TcpStream) {
    c.set_nonblocking(false).unwrap();
    c.set_read_timeout(Some(patience())).unwrap();
    if c.write_all(GREETING).is_err() {
        return;
    }
    let mut got = Vec::new();
    if c.read_to_end(&mut got).is_err() {
        return;
    }
    let hash = sha256::hex(&got);
    let _ = c.write_all(format!("{hash}\n").as_bytes());
    let _ = c.write_all(&random_bytes(ANSWER_DATA, seed_of(&hash)));
}

/// One client: read the greeting, send `payload`, half-close, check the
/// answer. Returns an error text instead of panicking (runs on threads).
fn client(public: SocketAddr, payload: &[u8]) -> Result<(), String> {
    let mut s = TcpStream::connect(public).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(patience())).unwrap();
    let mut greet = vec![0u8; GREETING.len()];
    s.read_exact(&mut greet)
        .map_err(|e| format!("reading the greeting: {e}"))?;
    if greet != GREETING {
        return Err(format!("greeting {:?}", String::from_utf8_lossy(&greet)));
    }
    s.write_all(payload).map_err(|e| format!("send: {e}"))?;
    s.shutdown(Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .map_err(|e| format!("reading the answer: {e}"))?;
    let want_hash = sha256::hex(payload);
    let mut want = format!("{want_hash}\n").into_bytes();
    want.extend_from_slice(&random_bytes(ANSWER_DATA, seed_of(&want_hash)));
    if answer.len() != want.len() || answer != want {
        return Err(format!(
            "answer of {} bytes starting {:?}, expected {} bytes for hash {want_hash}",
            answer.len(),
            String::from_utf8_lossy(&answer[..answer.len().min(65)]),
            want.len()
        ));
    }
    Ok(())
}

/// A relay on loopback with one public address, verbose, then `extra`:
/// (process, inside-link address, public address).
fn relay(extra: &[&str]) -> (Proc, SocketAddr, SocketAddr) {
    let mut flags = vec!["-v"];
    flags.extend_from_slice(extra);
    let (p, ctrl, public) = relay_with(&["127.0.0.1:0"], &flags);
    (p, ctrl, public[0])
}

/// An inside end for `service`, verbose, then `extra`; not waited for.
fn inside(relay: SocketAddr, service: SocketAddr, extra: &[&str]) -> Proc {
    let mut flags = vec!["-v"];
    flags.extend_from_slice(extra);
    start_inside(relay, &[&service], &flags)
}

fn up(p: &mut Proc) {
    p.wait_for("Tunnel up");
}

/// The set-up most tests start from: the service, a relay, an inside end
/// for the service that is up, the inside-link and the public address.
fn tunnel_up() -> (Service, Proc, Proc, SocketAddr, SocketAddr) {
    let svc = Service::start("127.0.0.1:0");
    let (r, ctrl, public) = relay(&[]);
    let mut i = inside(ctrl, svc.addr, &[]);
    up(&mut i);
    (svc, r, i, ctrl, public)
}

#[test]
fn twenty_clients_at_once_each_get_their_own_answer() {
    if !built() {
        return;
    }
    let (svc, mut r, mut i, _, public) = tunnel_up();
    r.wait_for("logged in");
    // Dial on demand: an idle tunnel holds no service connection.
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        svc.accepts(),
        0,
        "the service was dialled before any client"
    );
    // A long-lived client stays open throughout: nobody waits for it.
    let mut holder = TcpStream::connect(public).unwrap();
    holder.set_read_timeout(Some(patience())).unwrap();
    let mut g = vec![0u8; GREETING.len()];
    holder.read_exact(&mut g).unwrap();
    assert_eq!(g, GREETING);
    assert_eq!(svc.accepts(), 1);

    let start = Arc::new(Barrier::new(20));
    let workers: Vec<_> = (0..20u64)
        .map(|n| {
            let start = start.clone();
            thread::spawn(move || {
                let payload = random_bytes(50_000 + 1_000 * n as usize, n + 1);
                start.wait();
                client(public, &payload).map_err(|e| format!("client {n}: {e}"))
            })
        })
        .collect();
    let errors: Vec<String> = workers
        .into_iter()
        .filter_map(|w| w.join().unwrap().err())
        .collect();
    if !errors.is_empty() {
        let (ri, ii) = (r.report(), i.report());
        panic!("{}\n{ri}\n{ii}", errors.join("\n"));
    }
    assert_eq!(svc.accepts(), 21, "one service connection per client");
    // The holder is still served: it gets its own answer now.
    holder.write_all(b"late").unwrap();
    holder.shutdown(Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    holder.read_to_end(&mut answer).unwrap();
    assert!(answer.starts_with(format!("{}\n", sha256::hex(b"late")).as_bytes()));
    assert!(r.running() && i.running());
}

#[test]
fn relay_restart_is_served_again_within_2_s() {
    if !built() {
        return;
    }
    let (_svc, mut r, mut i, ctrl, public) = tunnel_up();
    client(public, b"before").unwrap_or_else(|e| r.fail(&e));
    // A client in the middle of its exchange when the relay dies.
    let mut mid = TcpStream::connect(public).unwrap();
    mid.set_read_timeout(Some(patience())).unwrap();
    let mut g = vec![0u8; GREETING.len()];
    mid.read_exact(&mut g).unwrap();
    r.kill();
    // It is cut off (end or reset), not left hanging. Under Wine the killed
    // relay's sockets may be closed later by the wineserver: not checked there.
    mid.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut rest = Vec::new();
    let cut = match mid.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    };
    assert!(
        cut || util::runner_kind() == util::Runner::Wine,
        "a client of the killed relay was left hanging"
    );
    let (c, p) = (ctrl.to_string(), public.to_string());
    // Same ports again; the port may take a moment to be free.
    let deadline = Instant::now() + patience();
    let (mut r2, _, _) = loop {
        let mut p2 = start_no_input(&["--tunnel-relay", &c, "--tunnel-public", &p]);
        let listening = p2.wait_stderr("Listening or an error", |s| {
            if s.matches("Listening on").count() >= 2 {
                Some(true)
            } else if s.contains("cannot listen") {
                Some(false)
            } else {
                None
            }
        });
        if listening {
            break (p2, ctrl, public);
        }
        if Instant::now() > deadline {
            p2.fail("the relay could not listen on its ports again");
        }
        thread::sleep(Duration::from_millis(100));
    };
    let t = Instant::now();
    client(public, b"after the restart").unwrap_or_else(|e| r2.fail(&e));
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "served {took:?} after the restart{}{}",
        r2.report(),
        i.report()
    );
    assert!(i.running(), "the inside end gave up{}", i.report());
}

#[test]
fn service_down_closes_the_client_within_1_s_then_serves_again() {
    if !built() {
        return;
    }
    let (mut svc, mut r, mut i, _, public) = tunnel_up();
    let port_addr = svc.addr;
    svc.stop();
    let t = Instant::now();
    let mut s = TcpStream::connect(public).unwrap();
    s.set_read_timeout(Some(patience())).unwrap();
    let mut buf = [0u8; 64];
    let got = s.read(&mut buf);
    let took = t.elapsed();
    assert!(
        matches!(got, Ok(0) | Err(_)),
        "the client got data from a service that is down: {got:?}"
    );
    assert!(took < Duration::from_secs(1), "closed after {took:?}");
    r.wait_for("cannot serve it");
    i.wait_for("cannot reach the service");
    // The service comes back on its port; the tunnel is still up.
    let svc2 = Service::start(&port_addr.to_string());
    client(public, b"back again").unwrap_or_else(|e| r.fail(&e));
    assert_eq!(svc2.accepts(), 1);
    assert!(i.running() && r.running());
}

#[test]
fn a_second_inside_end_replaces_the_first_which_stops() {
    if !built() {
        return;
    }
    let (svc, mut r, mut first, ctrl, public) = tunnel_up();
    let mut second = inside(ctrl, svc.addr, &[]);
    up(&mut second);
    r.wait_for("the previous one");
    let out = first.expect_exit(1);
    assert!(
        out.stderr.contains("replaced by a newer inside end"),
        "{}",
        out.stderr
    );
    client(public, b"served by the second").unwrap_or_else(|e| r.fail(&e));
    assert!(second.running(), "{}", second.report());
}

#[test]
fn waiting_clients_are_bounded_and_time_out() {
    if !built() {
        return;
    }
    // No inside end: clients wait. 128 may; the 129th is closed at once.
    let (mut r, _ctrl, public) = relay(&[]);
    let mut waiting: Vec<TcpStream> = Vec::new();
    for _ in 0..128 {
        waiting.push(TcpStream::connect(public).unwrap());
    }
    r.wait_stderr("128 clients connected", |s| {
        (s.matches("Tunnel client").count() >= 128).then_some(())
    });
    let t = Instant::now();
    let mut extra = TcpStream::connect(public).unwrap();
    extra.set_read_timeout(Some(patience())).unwrap();
    let mut b = [0u8; 8];
    assert!(matches!(extra.read(&mut b), Ok(0) | Err(_)));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    r.wait_for("refused, 128 clients already wait");
    // Each waiting client is closed after 10 s without an inside end.
    let first = &mut waiting[0];
    first.set_read_timeout(Some(patience())).unwrap();
    assert!(matches!(first.read(&mut b), Ok(0) | Err(_)));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(14),
        "closed after {waited:?}"
    );
    r.wait_for("no inside end connected within 10 s; closed");
    // Room again: a new client is accepted as waiting (not refused).
    r.wait_stderr("all 128 timed out", |s| {
        (s.matches("no inside end connected").count() >= 128).then_some(())
    });
    let _again = TcpStream::connect(public).unwrap();
    r.wait_stderr("a 129th 'connected' line", |s| {
        (s.matches("Tunnel client").count() >= 129).then_some(())
    });
    assert_eq!(r.stderr().matches("refused, 128").count(), 1);
}

// ---- the inside-link protocol, spoken by hand ------------------------------

/// The connection ends (EOF or reset) after at most one Error frame, whose
/// text is returned.
fn expect_error_then_close(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(patience())).unwrap();
    let body = read_frame(s).expect("an Error frame");
    assert_eq!(body[0], 0x03, "expected an Error frame, got {body:?}");
    let text = String::from_utf8_lossy(&body[3..]).into_owned();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "more after the Error: {rest:?}");
    text
}

/// Connect to the inside-link port, say Hello, read the Challenge.
fn hello_and_challenge(ctrl: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(ctrl).unwrap();
    s.set_read_timeout(Some(patience())).unwrap();
    s.write_all(&hello(2)).unwrap();
    let ch = read_frame(&mut s).expect("a Challenge");
    assert_eq!(ch[0], 0x02, "expected a Challenge, got {ch:?}");
    s
}

fn secret_file(name: &str, text: &str) -> String {
    let p = std::env::temp_dir().join(format!("netcrab-tunnel-{}-{name}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn wrong_or_missing_secret_is_refused_and_never_paired() {
    if !cfg!(feature = "secret") {
        skip("this build leaves out the 'secret' feature");
        return;
    }
    let svc = Service::start("127.0.0.1:0");
    let key = secret_file("key", "correct horse\n");
    let (mut r, ctrl, public) = relay(&["--secret-file", &key]);
    // A client waits (id 1) while impostors try their luck.
    let mut waiting = TcpStream::connect(public).unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();

    // An inside end with the wrong secret: the relay's proof does not match.
    let mut wrong = inside(ctrl, svc.addr, &["--secret", "battery staple"]);
    let out = wrong.expect_exit(1);
    assert!(out.stderr.contains("different secrets"), "{}", out.stderr);
    r.wait_for("different secrets");
    // One without a secret.
    let mut none = inside(ctrl, svc.addr, &[]);
    let out = none.expect_exit(1);
    assert!(out.stderr.contains("requires a secret"), "{}", out.stderr);
    r.wait_for("has none");

    // By hand: a Login without a MAC, and one with a made-up MAC.
    let mut s = hello_and_challenge(ctrl);
    s.write_all(&frame(&[0x10, 0, 0])).unwrap();
    assert!(expect_error_then_close(&mut s).contains("no secret given"));
    let mut login = vec![0x10, 32];
    login.extend_from_slice(&[0xAB; 32]);
    login.push(0);
    let mut s = hello_and_challenge(ctrl);
    s.write_all(&frame(&login)).unwrap();
    assert!(expect_error_then_close(&mut s).contains("wrong secret"));
    // An Accept for the waiting client with a made-up MAC: never paired.
    let mut accept = vec![0x20];
    accept.extend_from_slice(&1u64.to_be_bytes());
    accept.push(32);
    accept.extend_from_slice(&[0xCD; 32]);
    let mut s = hello_and_challenge(ctrl);
    s.write_all(&frame(&accept)).unwrap();
    assert!(expect_error_then_close(&mut s).contains("wrong secret"));
    // One line each (stderr is read on a thread: wait for it).
    r.wait_stderr("three 'refused' lines", |s| {
        (s.matches("refused: ").count() >= 3).then_some(())
    });
    let mut b = [0u8; 8];
    assert!(
        matches!(waiting.read(&mut b), Err(ref e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "the waiting client got something"
    );
    assert_eq!(svc.accepts(), 0, "an impostor got the service dialled");

    // The right secret works, for the waiting client too.
    let mut good = inside(ctrl, svc.addr, &["--secret-file", &key]);
    up(&mut good);
    waiting.set_read_timeout(Some(patience())).unwrap();
    let mut g = vec![0u8; GREETING.len()];
    waiting
        .read_exact(&mut g)
        .unwrap_or_else(|e| r.fail(&format!("waiting client: {e}")));
    assert_eq!(g, GREETING);
    client(public, b"with the right secret").unwrap_or_else(|e| r.fail(&e));
    let _ = std::fs::remove_file(&key);
}

#[test]
fn garbage_and_truncated_frames_on_the_inside_port_end_only_that_connection() {
    if !built() {
        return;
    }
    let (_svc, mut r, mut i, ctrl, public) = tunnel_up();
    let cases: [(&str, Vec<u8>, bool); 6] = [
        ("HTTP", b"GET / HTTP/1.0\r\n\r\n".to_vec(), false),
        ("huge length", vec![0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3], false),
        ("zero length", vec![0, 0, 0, 0], false),
        ("unknown type", frame(&[0xEE, 1, 2]), false),
        ("bad magic", frame(b"\x01XXXX\x01"), false),
        // Half a Hello, then the end: truncated.
        ("truncated", hello(2)[..20].to_vec(), true),
    ];
    for (what, bytes, half_close) in cases {
        let mut s = TcpStream::connect(ctrl).unwrap();
        let port = s.local_addr().unwrap().port();
        s.write_all(&bytes).unwrap();
        if half_close {
            s.shutdown(Shutdown::Write).unwrap();
        }
        let text = expect_error_then_close(&mut s);
        assert!(!text.is_empty(), "{what}: empty Error text");
        let needle = format!("inside link 127.0.0.1:{port} dropped");
        r.wait_for(&needle);
        assert_eq!(
            r.stderr().matches(&needle).count(),
            1,
            "{what}: not exactly one line{}",
            r.report()
        );
        // Others keep being served.
        client(public, what.as_bytes()).unwrap_or_else(|e| r.fail(&format!("after {what}: {e}")));
    }
    assert!(i.running() && r.running());
}

#[test]
fn bad_tunnel_command_lines_exit_2_with_one_line() {
    let empty = secret_file("empty", "\n");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--tunnel-public", "127.0.0.1:0"],
            "--tunnel-public needs",
        ),
        (vec!["--secret", "x"], "--secret needs"),
        (
            vec!["--tunnel-relay", "127.0.0.1:0"],
            "needs --tunnel-public",
        ),
        (
            vec!["--tunnel-inside", "127.0.0.1:1"],
            "needs the service's HOST:PORT",
        ),
        (
            vec!["--tunnel-inside", "127.0.0.1:1", "127.0.0.1:2", "udp:nope"],
            "service 'udp:nope'",
        ),
        (
            vec![
                "--tunnel-relay",
                "127.0.0.1:0",
                "--tunnel-inside",
                "127.0.0.1:1",
            ],
            "cannot be used together",
        ),
        (
            vec![
                "--tunnel-relay",
                "127.0.0.1:0",
                "--tunnel-public",
                "127.0.0.1:0",
                "--allow",
                "10.0.0.0/8",
            ],
            "--allow/--deny do not apply",
        ),
        (vec!["--tunnel-inside", "nope", "127.0.0.1:2"], "nope"),
        (
            vec![
                "--tunnel-inside",
                "127.0.0.1:1",
                "127.0.0.1:2",
                "--secret-file",
                "/nonexistent/key",
            ],
            "cannot read --secret-file",
        ),
        (
            vec![
                "--tunnel-inside",
                "127.0.0.1:1",
                "127.0.0.1:2",
                "--secret-file",
                &empty,
            ],
            if cfg!(feature = "secret") {
                "secret is empty"
            } else {
                "'secret' feature"
            },
        ),
    ];
    for (args, needle) in cases {
        let (_, out) = util::run(&args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        if cfg!(feature = "tunnel") {
            assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        }
    }
    let _ = std::fs::remove_file(&empty);
}
