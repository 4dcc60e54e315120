//! What the probe client and server are asked to do (built by `cli`).

use crate::addr::{HostPort, ListenSpec};
use crate::net::Family;
use std::net::IpAddr;
use std::time::Duration;

/// `netcrab --probe HOST:PORT`.
#[cfg_attr(not(feature = "probe"), allow(dead_code))]
#[derive(Debug, Clone)]
pub struct ProbeOpts {
    pub server: HostPort,
    pub json: bool,
    /// Length of each TCP throughput run.
    pub time: Duration,
    /// `--probe-group`; without it the default group of the control connection's family.
    pub group: Option<IpAddr>,
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
