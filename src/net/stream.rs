//! A connected byte stream of either kind: TCP, or a UNIX stream socket
//! (Unix, and Windows 10 1803+). The serving code (run/tcp) reads, writes and half-closes both
//! through this one type, so there is one read loop and one write loop.

use async_net::TcpStream;
use futures_lite::{AsyncRead, AsyncWrite};
use smol::Async;
use std::io::{self, Read};
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

#[derive(Clone)]
pub enum Stream {
    Tcp(TcpStream),
    #[cfg(feature = "unix")]
    Unix(crate::net::unix::UnixStream),
}

impl Stream {
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            #[cfg(feature = "unix")]
            Stream::Unix(s) => s.shutdown(how),
        }
    }

    /// TCP_NODELAY (a relay forwards each chunk as it comes); nothing to do
    /// on a UNIX socket.
    pub fn set_nodelay(&self) {
        match self {
            Stream::Tcp(s) => {
                let _ = s.set_nodelay(true);
            }
            #[cfg(feature = "unix")]
            Stream::Unix(_) => {}
        }
    }

    /// The TCP socket, for the paths that splice into one.
    #[cfg_attr(not(all(target_os = "linux", feature = "splice")), allow(dead_code))]
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Tcp(s) => Some(s),
            #[cfg(feature = "unix")]
            Stream::Unix(_) => None,
        }
    }

    /// A handle for readiness-driven reads (shared with the stream).
    pub fn io(&self) -> Io {
        match self {
            Stream::Tcp(s) => Io::Tcp(s.clone().into()),
            #[cfg(feature = "unix")]
            Stream::Unix(s) => Io::Unix(s.clone().into()),
        }
    }
}

/// The reactor's handle on a stream's socket.
pub enum Io {
    Tcp(Arc<Async<std::net::TcpStream>>),
    #[cfg(feature = "unix")]
    Unix(Arc<Async<crate::net::unix::RawStream>>),
}

impl Io {
    /// `Async::read_with` on either kind. The read loop itself takes an
    /// `&Io`, so it is compiled once, not once per socket type: only this
    /// small wait-and-retry is per type.
    pub async fn read_with<R>(
        &self,
        mut op: impl FnMut(&dyn RawRead) -> io::Result<R>,
    ) -> io::Result<R> {
        match self {
            Io::Tcp(a) => a.read_with(|s| op(s)).await,
            #[cfg(feature = "unix")]
            Io::Unix(a) => a.read_with(|s| op(s)).await,
        }
    }

    /// Wait until the socket is readable.
    #[cfg_attr(not(all(target_os = "linux", feature = "splice")), allow(dead_code))]
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            Io::Tcp(a) => a.readable().await,
            #[cfg(feature = "unix")]
            Io::Unix(a) => a.readable().await,
        }
    }

    /// The socket's descriptor.
    #[cfg(unix)]
    #[cfg_attr(not(feature = "splice"), allow(dead_code))]
    pub fn fd(&self) -> std::os::fd::RawFd {
        match self {
            Io::Tcp(a) => a.get_ref().fd(),
            #[cfg(feature = "unix")]
            Io::Unix(a) => a.get_ref().fd(),
        }
    }
}

/// What the read paths need of a socket type: a plain read through a
/// shared reference (and on Unix its descriptor, for splice).
pub trait RawRead {
    fn read_raw(&self, buf: &mut [u8]) -> io::Result<usize>;
    #[cfg(unix)]
    #[cfg_attr(not(feature = "splice"), allow(dead_code))]
    fn fd(&self) -> std::os::fd::RawFd;
}

impl RawRead for std::net::TcpStream {
    fn read_raw(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
    #[cfg(unix)]
    fn fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(self)
    }
}

// On Windows a UNIX stream's raw socket is a std TcpStream (see
// net/unix/windows.rs): the impl above serves it.
#[cfg(all(unix, feature = "unix"))]
impl RawRead for crate::net::unix::RawStream {
    fn read_raw(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
    fn fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(self)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "unix")]
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "unix")]
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_close(cx),
            #[cfg(feature = "unix")]
            Stream::Unix(s) => Pin::new(s).poll_close(cx),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "unix")]
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}
