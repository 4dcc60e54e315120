//! What the tunnel's two ends are asked to do (built by `cli`).

use crate::addr::{HostPort, ListenSpec};
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

/// `netcrab --tunnel-relay ADDR --tunnel-public ADDR`.
#[derive(Debug, Clone)]
pub struct TunnelRelayOpts {
    /// Where inside ends connect.
    pub inside: ListenSpec,
    /// Where clients connect.
    pub public: ListenSpec,
    pub secret: Option<SecretBytes>,
    pub family: Family,
    pub numeric: bool,
    pub verbose: u8,
}

/// `netcrab --tunnel-inside RELAY:PORT SERVICE:PORT`.
#[derive(Debug, Clone)]
pub struct TunnelInsideOpts {
    pub relay: HostPort,
    pub service: HostPort,
    pub secret: Option<SecretBytes>,
    pub family: Family,
    pub numeric: bool,
    pub verbose: u8,
    /// Connect timeout for the relay and the service.
    pub wait: Duration,
}
