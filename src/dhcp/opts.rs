//! What the DHCP probe is asked to do (built by `cli`).

use std::time::Duration;

/// `netcrab --dhcp-probe IFACE`.
#[cfg_attr(not(feature = "dhcp"), allow(dead_code))]
#[derive(Debug, Clone)]
pub struct DhcpOpts {
    pub iface: String,
    pub json: bool,
    /// How long to collect offers (-w, default 5 s).
    pub wait: Duration,
    pub verbose: u8,
}
