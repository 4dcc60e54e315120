//! The client's side of each check. Each takes the control connection and
//! returns its result; an `Err` means the control connection itself failed
//! (the remaining checks are then skipped).

pub mod broadcast;
pub mod multicast;
pub mod pmtu;
pub mod reverse;
pub mod tcp;
pub mod udp;

use super::proto::{read_msg, write_raw, Msg};
use super::timeout;
use async_net::TcpStream;
use std::net::SocketAddr;
use std::time::Duration;

/// The control connection and what the Welcome said.
pub struct Ctl {
    pub s: TcpStream,
    buf: Vec<u8>,
    pub token: u64,
    /// The server's UDP socket (its control address and port).
    pub server_udp: SocketAddr,
    /// Our end of the control connection.
    pub local: SocketAddr,
}

impl Ctl {
    pub fn new(s: TcpStream, token: u64, server_udp: SocketAddr, local: SocketAddr) -> Ctl {
        Ctl {
            s,
            buf: Vec::new(),
            token,
            server_udp,
            local,
        }
    }

    pub async fn send(&mut self, m: &Msg) -> Result<(), String> {
        timeout(
            Duration::from_secs(10),
            "the server to take a request",
            write_raw(&mut self.s, &m.encode()),
        )
        .await
    }

    /// The next message; the server's Error message becomes an error.
    pub async fn recv(&mut self, what: &str, wait: Duration) -> Result<Msg, String> {
        match timeout(wait, what, read_msg(&mut self.s, &mut self.buf)).await? {
            Msg::Error(e) => Err(format!("server: {e}")),
            m => Ok(m),
        }
    }
}

/// The error for a reply of the wrong kind.
pub fn unexpected(m: &Msg, wanted: &str) -> String {
    format!("expected {wanted} from the server, got {}", m.name())
}
