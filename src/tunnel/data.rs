//! Data connections (protocol version 2): after `Paired`, each direction is
//! a run of frames, a 4-byte big-endian length then that many bytes. A
//! length of 0 ends the direction: the receiver half-closes its side, and
//! the data connection itself stays open until both directions have ended,
//! so a proxy on the path that drops a connection at its first FIN
//! (tinyproxy, microsocks) never sees one while a reply is still coming.
//! For a UDP service each frame is one datagram, so boundaries survive.

use async_net::{Shutdown, TcpStream, UdpSocket};
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smol::Async;
use std::cell::Cell;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The largest TCP chunk in one frame.
pub const MAX_CHUNK: usize = 256 * 1024;
/// The largest UDP datagram over IPv4 (65,535 less the IP and UDP headers).
pub const MAX_DATAGRAM: usize = 65_507;
/// The end-of-direction frame.
const END: [u8; 4] = [0; 4];

/// TCP keepalive on a tunnel socket: probes start after `every` idle and
/// repeat every `every`, so a dead peer frees the socket even where no
/// heartbeat runs (data connections, clients).
pub fn keepalive(s: &TcpStream, every: Duration) {
    let every = every.max(Duration::from_secs(1));
    let ka = socket2::TcpKeepalive::new()
        .with_time(every)
        .with_interval(every);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let ka = ka.with_retries(3);
    let _ = socket2::SockRef::from(s).set_tcp_keepalive(&ka);
}

/// A plain stream at one side of the tunnel: a client, a TCP service or a
/// UNIX stream service. One type, not a generic, so the splicing code (here
/// and in the mux) is built once instead of once per socket kind.
#[derive(Clone)]
pub enum Plain {
    Tcp(TcpStream),
    #[cfg(any(unix, feature = "unix"))]
    Unix(crate::net::unix::UnixStream),
}

impl Plain {
    pub fn shut(&self, how: Shutdown) {
        let _ = match self {
            Plain::Tcp(s) => s.shutdown(how),
            #[cfg(any(unix, feature = "unix"))]
            Plain::Unix(s) => s.shutdown(how),
        };
    }

    /// Waits for bytes without a buffer where the socket allows it (a TCP
    /// peek). A UNIX stream returns at once: its read waits with its buffer
    /// (UNIX services are few).
    pub async fn readable(&self) -> std::io::Result<()> {
        match self {
            Plain::Tcp(s) => {
                let mut b = [0u8; 1];
                s.peek(&mut b).await.map(drop)
            }
            #[cfg(any(unix, feature = "unix"))]
            Plain::Unix(_) => Ok(()),
        }
    }
}

impl AsyncRead for Plain {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Plain::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(any(unix, feature = "unix"))]
            Plain::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Plain {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Plain::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(any(unix, feature = "unix"))]
            Plain::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Plain::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(any(unix, feature = "unix"))]
            Plain::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Plain::Tcp(s) => Pin::new(s).poll_close(cx),
            #[cfg(any(unix, feature = "unix"))]
            Plain::Unix(s) => Pin::new(s).poll_close(cx),
        }
    }
}

/// Splice a plain stream (client or service) with a data connection
/// until both directions have ended; an error ends both at once.
pub async fn pipe(plain: Plain, data: TcpStream) {
    let up = async {
        let r = frame_tcp(plain.clone(), data.clone()).await;
        if r.is_err() {
            abort(&plain, &data);
        }
    };
    let down = async {
        let r = unframe_tcp(data.clone(), plain.clone()).await;
        if r.is_err() {
            abort(&plain, &data);
        }
    };
    futures_lite::future::zip(up, down).await;
    let _ = data.shutdown(Shutdown::Both);
}

fn abort(a: &Plain, b: &TcpStream) {
    a.shut(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}

/// A connection's buffers start this small (short exchanges, many at once)
/// and grow to [`MAX_CHUNK`] when reads fill them (a bulk transfer).
const FIRST_BUF: usize = 4 * 1024;

/// Grow `buf` (4 times, up to `max`) when the last read filled it.
fn grow(buf: &mut Vec<u8>, filled: bool, max: usize) {
    if filled && buf.len() < max {
        let n = (buf.len() * 4).min(max);
        buf.resize(n, 0);
    }
}

/// Plain bytes in, frames out; the end of input is an END frame.
async fn frame_tcp(mut from: Plain, mut to: TcpStream) -> Result<(), ()> {
    // The length goes in front of the bytes, so each chunk is one write.
    let mut buf = vec![0u8; 4 + FIRST_BUF];
    loop {
        let n = from.read(&mut buf[4..]).await.map_err(drop)?;
        if n == 0 {
            return to.write_all(&END).await.map_err(drop);
        }
        buf[..4].copy_from_slice(&(n as u32).to_be_bytes());
        to.write_all(&buf[..4 + n]).await.map_err(drop)?;
        let filled = 4 + n == buf.len();
        grow(&mut buf, filled, 4 + MAX_CHUNK);
    }
}

/// Reads frames out of a buffer refilled from the data connection.
struct Frames {
    from: TcpStream,
    buf: Vec<u8>,
    /// The size `buf` may grow to.
    max: usize,
    start: usize,
    end: usize,
}

impl Frames {
    fn new(from: TcpStream, max: usize) -> Frames {
        Frames {
            from,
            buf: vec![0u8; FIRST_BUF.min(max)],
            max,
            start: 0,
            end: 0,
        }
    }

    /// Refill when empty; an end of stream here is an error (no END frame).
    async fn fill(&mut self) -> Result<(), ()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            let n = self.from.read(&mut self.buf).await.map_err(drop)?;
            if n == 0 {
                return Err(());
            }
            self.end = n;
            let filled = n == self.buf.len();
            grow(&mut self.buf, filled, self.max);
        }
        Ok(())
    }

    /// The next frame's length.
    async fn len(&mut self, max: usize) -> Result<usize, ()> {
        let mut h = [0u8; 4];
        for b in &mut h {
            self.fill().await?;
            *b = self.buf[self.start];
            self.start += 1;
        }
        let n = u32::from_be_bytes(h) as usize;
        if n > max {
            return Err(());
        }
        Ok(n)
    }

    /// Up to `want` bytes of the current frame, as they are buffered.
    async fn some(&mut self, want: usize) -> Result<&[u8], ()> {
        self.fill().await?;
        let n = want.min(self.end - self.start);
        let s = self.start;
        self.start += n;
        Ok(&self.buf[s..s + n])
    }

    /// One whole frame of `n` bytes into `out`.
    async fn exact(&mut self, n: usize, out: &mut Vec<u8>) -> Result<(), ()> {
        out.clear();
        while out.len() < n {
            let left = n - out.len();
            let chunk = self.some(left).await?;
            out.extend_from_slice(chunk);
        }
        Ok(())
    }
}

/// Frames in, plain bytes out; an END frame is a half-close.
async fn unframe_tcp(from: TcpStream, mut to: Plain) -> Result<(), ()> {
    let mut f = Frames::new(from, 4 + MAX_CHUNK);
    loop {
        let mut left = f.len(MAX_CHUNK).await?;
        if left == 0 {
            to.shut(Shutdown::Write);
            return Ok(());
        }
        while left > 0 {
            let chunk = f.some(left).await?;
            left -= chunk.len();
            to.write_all(chunk).await.map_err(drop)?;
        }
    }
}

/// Where a flow's datagrams go: a connected socket (the inside end's socket
/// to the service) or one peer of a shared socket (the relay's public one).
pub enum Dest {
    Connected(Rc<Async<std::net::UdpSocket>>),
    Peer(Rc<UdpSocket>, SocketAddr),
}

impl Dest {
    pub async fn send(&self, d: &[u8]) -> std::io::Result<usize> {
        match self {
            Dest::Connected(s) => s.send(d).await,
            Dest::Peer(s, to) => s.send_to(d, *to).await,
        }
    }
}

/// Send one datagram as a frame (a zero-length datagram has no frame).
pub async fn send_datagram(to: &mut TcpStream, d: &[u8]) -> Result<(), ()> {
    if d.is_empty() || d.len() > MAX_DATAGRAM {
        return Ok(());
    }
    let mut f = Vec::with_capacity(4 + d.len());
    f.extend_from_slice(&(d.len() as u32).to_be_bytes());
    f.extend_from_slice(d);
    to.write_all(&f).await.map_err(drop)
}

/// Frames from the data connection, each sent as one datagram to `dest`,
/// until the connection ends. `seen` is stamped at each datagram.
pub async fn unframe_udp(from: TcpStream, dest: &Dest, seen: &Cell<Instant>) {
    // Small buffers: a relay may hold a thousand flows; a datagram's Vec
    // grows to the largest one seen.
    let mut f = Frames::new(from, 8 * 1024);
    let mut d = Vec::new();
    loop {
        let n = match f.len(MAX_DATAGRAM).await {
            Ok(0) | Err(()) => return,
            Ok(n) => n,
        };
        if f.exact(n, &mut d).await.is_err() {
            return;
        }
        seen.set(Instant::now());
        // A datagram the service or peer refuses is lost, as UDP goes.
        let _ = dest.send(&d).await;
    }
}

/// Resolves when nothing has crossed a flow for `idle` (by `seen`).
pub async fn idle(seen: &Cell<Instant>, idle: Duration) {
    loop {
        let due = seen.get() + idle;
        if Instant::now() >= due {
            return;
        }
        smol::Timer::at(due).await;
    }
}

/// The next datagram on a connected socket, in a buffer of its own size:
/// the read goes through one buffer shared by every flow (the executor runs
/// one task at a time), so a thousand flows do not each hold 64 KiB.
pub async fn recv_datagram(s: &Async<std::net::UdpSocket>) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; MAX_DATAGRAM + 1]);
    }
    s.read_with(|sock| {
        BUF.with(|b| {
            let mut b = b.borrow_mut();
            let n = sock.recv(&mut b)?;
            Ok(b[..n].to_vec())
        })
    })
    .await
}
