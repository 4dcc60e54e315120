//! What the probe client and server are asked to do (built by `cli`).

use crate::addr::{HostPort, ListenSpec};
use crate::net::Family;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// The default multicast group of the probe.
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 77, 77);

/// `netcrab --probe HOST:PORT`.
#[cfg_attr(not(feature = "probe"), allow(dead_code))]
#[derive(Debug, Clone)]
pub struct ProbeOpts {
    pub server: HostPort,
    pub json: bool,
    /// Length of each TCP throughput run.
    pub time: Duration,
    pub group: IpAddr,
    pub family: Family,
    pub numeric: bool,
}

/// `netcrab --probe-server ADDR`.
#[cfg_attr(not(feature = "probe"), allow(dead_code))]
#[derive(Debug, Clone)]
pub struct ProbeServerOpts {
    pub listen: ListenSpec,
    pub once: bool,
    pub family: Family,
    pub numeric: bool,
}
