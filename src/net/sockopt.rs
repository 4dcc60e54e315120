//! Socket creation with the options that must be set before bind/connect.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;

/// Options every socket gets from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct SockOpts {
    pub sndbuf: Option<usize>,
    pub rcvbuf: Option<usize>,
    pub ttl: Option<u32>,
}

impl SockOpts {
    /// Apply buffer sizes and TTL / hop limit.
    pub fn apply(&self, s: &Socket, v6: bool) -> io::Result<()> {
        if let Some(n) = self.sndbuf {
            s.set_send_buffer_size(n)?;
        }
        if let Some(n) = self.rcvbuf {
            s.set_recv_buffer_size(n)?;
        }
        if let Some(t) = self.ttl {
            if v6 {
                s.set_unicast_hops_v6(t)?;
            } else {
                s.set_ttl_v4(t)?;
            }
        }
        Ok(())
    }
}

/// A TCP socket for `addr`'s family with the options applied.
pub fn tcp_socket(addr: &SocketAddr, opts: &SockOpts) -> io::Result<Socket> {
    let s = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    opts.apply(&s, addr.is_ipv6())?;
    Ok(s)
}

/// Allow re-binding a port that TIME_WAIT still holds. Unix only: on Windows
/// SO_REUSEADDR lets another process steal the port.
pub fn reuse_addr(s: &Socket) -> io::Result<()> {
    #[cfg(unix)]
    s.set_reuse_address(true)?;
    #[cfg(not(unix))]
    let _ = s;
    Ok(())
}
