//! What the tunnel suites (tunnel.rs, tunnel_v2.rs, tunnel_mux.rs) share:
//! the skips, the test services and their clients, a relay and an inside
//! end on loopback, the inside-link frames spoken by hand, and the proxy
//! daemons (tinyproxy, microsocks) killed on drop.

use super::netns;
use super::{patience, random_bytes, sha256, skip, start_no_input, Proc};
use std::fmt::Display;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub fn built() -> bool {
    if !cfg!(feature = "tunnel") {
        skip("this build leaves out the 'tunnel' feature");
        return false;
    }
    true
}

pub fn native_or_skip(why: &str) -> bool {
    if super::runner_kind() != super::Runner::Native {
        skip(&format!(
            "{why}: not under an emulator (timing and namespaces)"
        ));
        return false;
    }
    true
}

/// An upper time bound, looser under an emulator (slow to run anything).
pub fn slack(d: Duration) -> Duration {
    match super::runner_kind() {
        super::Runner::Native => d,
        _ => d * 4,
    }
}

/// What a service thread saw: the SHA-256 of everything each connection
/// sent (after the service's own half-close, for `speak_first`).
pub type Seen = Arc<Mutex<Vec<String>>>;

/// A TCP service: per connection, reads to the end, then answers the hash
/// of what it got (hex + "\n") and `answer` bytes seeded by that hash.
/// With `speak_first`, it first sends `answer` bytes seeded 7 and
/// half-closes, then reads to the end and records the hash.
pub fn tcp_service(l: TcpListener, answer: usize, speak_first: bool, seen: Seen) {
    l.set_nonblocking(false).unwrap();
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            let seen = seen.clone();
            thread::spawn(move || {
                c.set_read_timeout(Some(patience())).unwrap();
                if speak_first {
                    if c.write_all(&random_bytes(answer, 7)).is_err() {
                        return;
                    }
                    let _ = c.shutdown(Shutdown::Write);
                }
                let mut got = Vec::new();
                if c.read_to_end(&mut got).is_err() {
                    return;
                }
                let hash = sha256::hex(&got);
                seen.lock().unwrap().push(hash.clone());
                if !speak_first {
                    let _ = c.write_all(format!("{hash}\n").as_bytes());
                    let _ = c.write_all(&random_bytes(answer, seed_of(&hash)));
                }
            });
        }
    });
}

pub fn seed_of(hash: &str) -> u64 {
    u64::from_str_radix(&hash[..16], 16).unwrap()
}

/// One client of `tcp_service`: send `payload`, half-close, check the
/// whole answer. Errors as text (runs on threads).
pub fn exchange(public: SocketAddr, payload: &[u8], answer: usize) -> Result<(), String> {
    let mut s = TcpStream::connect(public).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(patience())).unwrap();
    let mut w = s.try_clone().unwrap();
    let data = payload.to_vec();
    let sender = thread::spawn(move || {
        let r = w.write_all(&data);
        let _ = w.shutdown(Shutdown::Write);
        r
    });
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .map_err(|e| format!("reading the answer: {e}"))?;
    sender.join().unwrap().map_err(|e| format!("send: {e}"))?;
    let hash = sha256::hex(payload);
    let mut want = format!("{hash}\n").into_bytes();
    want.extend_from_slice(&random_bytes(answer, seed_of(&hash)));
    if got != want {
        return Err(format!(
            "answer of {} bytes, expected {} (hash {hash})",
            got.len(),
            want.len()
        ));
    }
    Ok(())
}

/// The other direction: the service speaks and half-closes first; the
/// client reads it all, then still sends `payload`, which must arrive whole.
pub fn speak_first_client(public: SocketAddr, payload: &[u8], answer: usize) -> Result<(), String> {
    let mut s = TcpStream::connect(public).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(patience())).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .map_err(|e| format!("reading the service's part: {e}"))?;
    if got != random_bytes(answer, 7) {
        return Err(format!(
            "service's part: {} bytes, expected {answer}",
            got.len()
        ));
    }
    s.write_all(payload)
        .map_err(|e| format!("sending after the service's half-close: {e}"))?;
    s.shutdown(Shutdown::Write).unwrap();
    // The tunnel ends this connection once both directions are done.
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    Ok(())
}

/// A UDP echo service: each datagram back, as it came, to its sender.
pub fn udp_echo(s: UdpSocket) {
    thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&buf[..n], from);
        }
    });
}

/// A datagram of `len` bytes, answered exactly.
pub fn udp_roundtrip(s: &UdpSocket, to: SocketAddr, len: usize, seed: u64) -> Result<(), String> {
    let d = random_bytes(len, seed);
    s.send_to(&d, to).map_err(|e| format!("send {len}: {e}"))?;
    let mut buf = vec![0u8; 70_000];
    let n = s
        .recv(&mut buf)
        .map_err(|e| format!("reply to {len}: {e}"))?;
    if buf[..n] != d[..] {
        return Err(format!("reply of {n} bytes to a datagram of {len}"));
    }
    Ok(())
}

/// A `tcp_service` on a fresh loopback port (of the namespace the calling
/// thread is in) recording into `seen`.
pub fn service_into(answer: usize, speak_first: bool, seen: Seen) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    tcp_service(l, answer, speak_first, seen);
    a
}

/// A `tcp_service` on a fresh loopback port, and what it sees.
pub fn service(answer: usize, speak_first: bool) -> (SocketAddr, Seen) {
    let seen = Seen::default();
    (service_into(answer, speak_first, seen.clone()), seen)
}

/// A `udp_echo` on a fresh loopback port.
pub fn udp_echo_service() -> SocketAddr {
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = u.local_addr().unwrap();
    udp_echo(u);
    a
}

/// A relay on loopback with one `--tunnel-public` per entry of `publics`
/// (`127.0.0.1:0`, `udp:127.0.0.1:0`), then `extra`: the process, its
/// inside-link address and the public addresses, once it listens on all.
pub fn relay_with(publics: &[&str], extra: &[&str]) -> (Proc, SocketAddr, Vec<SocketAddr>) {
    let mut args = vec!["--tunnel-relay", "127.0.0.1:0"];
    for p in publics {
        args.extend_from_slice(&["--tunnel-public", p]);
    }
    args.extend_from_slice(extra);
    let mut r = start_no_input(&args);
    let mut addrs = r.listening(publics.len() + 1);
    let ctrl = addrs.remove(0);
    (r, ctrl, addrs)
}

/// An inside end dialling `relay` for `services` (in order), then `extra`;
/// not waited for.
pub fn start_inside(relay: SocketAddr, services: &[&dyn Display], extra: &[&str]) -> Proc {
    let words: Vec<String> = std::iter::once(relay.to_string())
        .chain(services.iter().map(|s| s.to_string()))
        .collect();
    let mut args = vec!["--tunnel-inside"];
    args.extend(words.iter().map(String::as_str));
    args.extend_from_slice(extra);
    start_no_input(&args)
}

/// The same, waited for until it says "Tunnel up".
pub fn inside_to(relay: SocketAddr, services: &[&dyn Display], extra: &[&str]) -> Proc {
    let mut i = start_inside(relay, services, extra);
    i.wait_for("Tunnel up");
    i
}

/// A relay with one TCP public address per service, and an inside end
/// (with `extra` flags) for `services`: both, and the public addresses in
/// the services' order.
pub fn tcp_tunnel(services: &[SocketAddr], extra: &[&str]) -> (Proc, Proc, Vec<SocketAddr>) {
    let publics = vec!["127.0.0.1:0"; services.len()];
    let (r, ctrl, public) = relay_with(&publics, &[]);
    let svc: Vec<&dyn Display> = services.iter().map(|s| s as &dyn Display).collect();
    let i = inside_to(ctrl, &svc, extra);
    (r, i, public)
}

// ---- the inside-link protocol, spoken by hand ------------------------------

/// A frame: its length (4 bytes, big-endian), then `body`.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

pub fn hello(version: u8) -> Vec<u8> {
    let mut b = vec![0x01];
    b.extend_from_slice(b"NCTN");
    b.push(version);
    b.extend_from_slice(&[0x33; 32]);
    frame(&b)
}

pub fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

// ---- proxies and daemons ---------------------------------------------------

pub fn installed(prog: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        skip(&format!("{prog} is not installed (apt-get install {prog})"));
    }
    ok
}

/// A daemon killed on drop.
pub struct Daemon(Child, Vec<std::path::PathBuf>);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        for f in &self.1 {
            let _ = std::fs::remove_file(f);
        }
    }
}

pub fn daemon(ns: Option<&str>, argv: &[&str], files: Vec<std::path::PathBuf>) -> Daemon {
    let mut c = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]);
            c.args(argv);
            c
        }
        None => {
            let mut c = Command::new(argv[0]);
            c.args(&argv[1..]);
            c
        }
    };
    let child = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {argv:?}: {e}"));
    Daemon(child, files)
}

pub fn temp(name: &str, text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("netcrab-tv2-{}-{name}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

/// tinyproxy on `ip:port` with BasicAuth, allowing `allow`.
pub fn tinyproxy(
    ns: Option<&str>,
    ip: &str,
    port: u16,
    allow: &str,
    user: &str,
    pass: &str,
) -> Daemon {
    tinyproxy_with(ns, ip, port, allow, user, pass, "")
}

/// The same, with more configuration lines.
pub fn tinyproxy_with(
    ns: Option<&str>,
    ip: &str,
    port: u16,
    allow: &str,
    user: &str,
    pass: &str,
    extra: &str,
) -> Daemon {
    let conf = temp(
        &format!("tinyproxy-{port}.conf"),
        &format!(
            "Port {port}\nListen {ip}\nTimeout 60\nMaxClients 100\nAllow {allow}\nLogLevel Info\nBasicAuth {user} {pass}\n{extra}"
        ),
    );
    let c = conf.to_string_lossy().into_owned();
    daemon(ns, &["tinyproxy", "-d", "-c", &c], vec![conf])
}

pub fn microsocks(ns: Option<&str>, ip: &str, port: u16, user: &str, pass: &str) -> Daemon {
    let p = port.to_string();
    daemon(
        ns,
        &["microsocks", "-i", ip, "-p", &p, "-u", user, "-P", pass],
        vec![],
    )
}

/// A namespace pair and a third namespace behind its `b` (`netns::Behind`),
/// or None with the skip printed.
pub fn behind_or_skip() -> Option<(netns::Pair, netns::Behind)> {
    let n = netns::pair_or_skip()?;
    match netns::Behind::new(&n) {
        Ok(c) => Some((n, c)),
        Err(e) => {
            skip(&e);
            None
        }
    }
}

/// Wait until `addr` takes connections (from namespace `ns` when given).
pub fn wait_port(ns: Option<&str>, addr: SocketAddr) {
    let probe = move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "{addr} did not come up");
            thread::sleep(Duration::from_millis(20));
        }
    };
    match ns {
        Some(ns) => netns::within_ns(ns, probe),
        None => probe(),
    }
}
