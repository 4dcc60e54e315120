//! Test peers: plain std sockets in the test process, every wait bounded.

use super::patience;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

/// A listener on an ephemeral loopback port.
pub fn listener() -> (TcpListener, SocketAddr) {
    listener_on("127.0.0.1:0")
}

pub fn listener_on(addr: &str) -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    let a = l.local_addr().expect("local_addr");
    (l, a)
}

/// A loopback listener whose accept queue holds `backlog` connections
/// (std's listeners hold 128). A test that opens many connections at once
/// needs it: on a loaded machine the accepting thread falls behind, the
/// kernel's queue overflows, and connections the client already counts as
/// open are dropped or reset (SYN cookies) before anyone accepts them.
pub fn listener_with_backlog(backlog: i32) -> (TcpListener, SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    s.bind(&any.into()).expect("bind 127.0.0.1:0");
    s.listen(backlog).expect("listen");
    let l: TcpListener = s.into();
    let a = l.local_addr().expect("local_addr");
    (l, a)
}

/// Accept one connection, failing after the patience.
pub fn accept(l: &TcpListener) -> (TcpStream, SocketAddr) {
    try_accept(l, patience())
        .unwrap_or_else(|| panic!("no connection arrived at {:?}", l.local_addr()))
}

/// Accept one connection within `wait`, or `None`.
pub fn try_accept(l: &TcpListener, wait: Duration) -> Option<(TcpStream, SocketAddr)> {
    l.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + wait;
    loop {
        match l.accept() {
            Ok((s, a)) => {
                s.set_nonblocking(false).expect("blocking");
                s.set_read_timeout(Some(patience())).expect("timeout");
                return Some((s, a));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5))
            }
            Err(_) => return None,
        }
    }
}

/// Connect, retrying briefly (a listener may still be starting).
pub fn connect(addr: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + patience();
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => {
                s.set_read_timeout(Some(patience())).expect("timeout");
                return s;
            }
            Err(e) if Instant::now() > deadline => panic!("connect {addr}: {e}"),
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Read until EOF (bounded by the read timeout).
pub fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    if let Err(e) = s.read_to_end(&mut v) {
        panic!("reading from netcrab: {e} (after {} bytes)", v.len());
    }
    v
}

/// Read exactly `n` bytes.
pub fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    if let Err(e) = s.read_exact(&mut v) {
        panic!("reading {n} bytes from netcrab: {e}");
    }
    v
}

/// Send `data` then half-close, while reading everything the other side
/// sends until its EOF. Returns what was read.
pub fn exchange(s: TcpStream, data: Vec<u8>) -> Vec<u8> {
    let mut w = s.try_clone().expect("clone");
    let writer = thread::spawn(move || {
        w.write_all(&data).expect("write to netcrab");
        w.shutdown(Shutdown::Write).expect("shutdown");
    });
    let mut r = s;
    let got = read_to_end(&mut r);
    writer.join().expect("writer thread");
    got
}

/// A UDP peer on an ephemeral port of `ip`, reads bounded by the patience.
pub fn udp_peer_on(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind(format!("{ip}:0")).expect("bind udp");
    s.set_read_timeout(Some(patience())).expect("timeout");
    s
}

/// A UDP peer on 127.0.0.1.
pub fn udp_peer() -> UdpSocket {
    udp_peer_on("127.0.0.1")
}

/// The next datagram, whole.
pub fn udp_recv(s: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 70_000];
    match s.recv_from(&mut buf) {
        Ok((n, _)) => buf[..n].to_vec(),
        Err(e) => panic!("no datagram from netcrab: {e}"),
    }
}

/// No datagram arrives within `ms`.
pub fn udp_quiet_for(s: &UdpSocket, ms: u64) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(ms)))
        .expect("timeout");
    let mut buf = [0u8; 70_000];
    let quiet = s.recv_from(&mut buf).is_err();
    s.set_read_timeout(Some(patience())).expect("timeout");
    quiet
}
