//! TCP: listeners and outbound connections (source bind, timeout).

use super::sockopt::{self, SockOpts};
use async_net::{TcpListener, TcpStream};
use smol::Async;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// How many not-yet-accepted connections the kernel may queue. Clients over
/// the `-m` limit wait here until a slot frees.
const BACKLOG: i32 = 4096;

/// Bind a listener. IPv6 sockets are IPv6-only so `0.0.0.0:P` and `[::]:P`
/// can be bound side by side.
pub fn listen(addr: SocketAddr, opts: &SockOpts) -> io::Result<TcpListener> {
    let s = sockopt::tcp_socket(&addr, opts)?;
    sockopt::reuse_addr(&s)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    TcpListener::try_from(std::net::TcpListener::from(s))
}

/// Connect to `dest`, first binding `source` when given.
pub async fn connect(
    dest: SocketAddr,
    source: Option<SocketAddr>,
    opts: &SockOpts,
    timeout: Option<Duration>,
) -> io::Result<TcpStream> {
    let s = sockopt::tcp_socket(&dest, opts)?;
    if let Some(src) = source {
        if src.port() != 0 {
            sockopt::reuse_addr(&s)?;
        }
        s.bind(&src.into())?;
    }
    s.set_nonblocking(true)?;
    match s.connect(&dest.into()) {
        Ok(()) => {}
        Err(e) if in_progress(&e) => {}
        Err(e) => return Err(e),
    }
    let stream = Async::new_nonblocking(std::net::TcpStream::from(s))?;
    let wait = async {
        stream.writable().await?;
        match stream.get_ref().take_error()? {
            Some(e) => Err(e),
            None => Ok(()),
        }
    };
    match timeout {
        None => wait.await?,
        Some(t) => {
            smol::future::or(wait, async {
                smol::Timer::after(t).await;
                Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
            })
            .await?
        }
    }
    // A refused connect can still report writable with no error on some
    // systems; asking for the peer address settles it.
    stream.get_ref().peer_addr()?;
    Ok(stream.into())
}

fn in_progress(e: &io::Error) -> bool {
    if e.kind() == io::ErrorKind::WouldBlock {
        return true;
    }
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::EINPROGRESS)
    }
    #[cfg(not(unix))]
    {
        false
    }
}
