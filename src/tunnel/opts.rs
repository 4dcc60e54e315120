//! What the tunnel's two ends are asked to do (built by `cli`).

use crate::addr::{HostPort, ListenSpec};
use crate::net::proxy::ProxySpec;
use crate::net::Family;
use std::time::Duration;

/// The shared secret's bytes; never printed.
#[derive(Clone)]
pub struct SecretBytes(pub Vec<u8>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBytes(..)")
    }
}

/// A service's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    /// The protocol of an announced `tcp:...` / `udp:...` entry.
    pub fn of(entry: &str) -> Option<Proto> {
        match entry.split_once(':').map(|(p, _)| p) {
            Some("tcp") => Some(Proto::Tcp),
            Some("udp") => Some(Proto::Udp),
            _ => None,
        }
    }
}

/// `netcrab --tunnel-relay ADDR --tunnel-public ADDR...`.
#[derive(Debug, Clone)]
pub struct TunnelRelayOpts {
    /// Where inside ends connect.
    pub inside: ListenSpec,
    /// Where clients connect: the k-th serves the inside end's k-th service.
    pub public: Vec<(Proto, ListenSpec)>,
    pub secret: Option<SecretBytes>,
    pub family: Family,
    pub numeric: bool,
    pub verbose: u8,
    /// Heartbeat interval of the control connection.
    pub keepalive: Duration,
    /// UDP services: a peer's flow ends after this long without a datagram.
    pub udp_idle: Duration,
    /// UDP services: most flows at once (per public address).
    pub udp_peers: usize,
}

/// Where the inside end dials a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// `HOST:PORT` (TCP or UDP).
    Net(HostPort),
    /// `unix:PATH`: a UNIX stream socket (Unix; Windows with AF_UNIX), served
    /// like a TCP one.
    Unix(std::path::PathBuf),
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Service::Net(hp) => write!(f, "{hp}"),
            Service::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// `netcrab --tunnel-inside RELAY:PORT SERVICE...`.
#[derive(Debug, Clone)]
pub struct TunnelInsideOpts {
    pub relay: HostPort,
    pub services: Vec<(Proto, Service)>,
    pub secret: Option<SecretBytes>,
    pub family: Family,
    pub numeric: bool,
    pub verbose: u8,
    /// Connect timeout for the relay and the services.
    pub wait: Duration,
    /// Heartbeat interval of the control connection.
    pub keepalive: Duration,
    /// Every connection to the relay goes through this proxy.
    pub proxy: Option<ProxySpec>,
    /// `--tunnel-mux`: every client stream on the control connection.
    pub mux: bool,
}
