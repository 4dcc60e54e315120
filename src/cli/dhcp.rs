//! `--dhcp-probe IFACE` and its companions (`--json`, `-w`, `-v`): checked
//! here, before the ordinary configuration (it takes no targets).

use super::args::Args;
#[cfg(feature = "dhcp")]
use super::Command;
use crate::decimal::{self, Dbl};
use crate::error::{usage, Result};
use std::time::Duration;

pub use crate::dhcp::DhcpOpts;

/// `None` when `--dhcp-probe` is not given.
pub fn parse(a: &Args) -> Option<Result<DhcpOpts>> {
    a.dhcp_probe.as_deref().map(|iface| check(a, iface))
}

fn check(a: &Args, iface: &str) -> Result<DhcpOpts> {
    if !cfg!(feature = "dhcp") {
        return Err(usage(
            "--dhcp-probe needs the 'dhcp' feature, which this build leaves out",
        ));
    }
    if iface.is_empty() || iface.contains(['\0', '/']) || iface.len() > 256 {
        return Err(super::bad(
            "invalid interface name ",
            iface,
            &[" for --dhcp-probe"],
        ));
    }
    if a.probe.is_some() || a.probe_server.is_some() {
        return Err(usage(
            "--dhcp-probe cannot be used with --probe or --probe-server",
        ));
    }
    if !a.targets.is_empty() || !a.listen.is_empty() || !a.listen_harder.is_empty() {
        return Err(usage("--dhcp-probe takes no targets or listen addresses"));
    }
    for (set, f) in [
        (a.once, "--once"),
        (a.probe_time.is_some(), "--probe-time"),
        (a.probe_group.is_some(), "--probe-group"),
    ] {
        if set {
            return Err(usage(format!("{f} is a --probe option, not --dhcp-probe")));
        }
    }
    if a.ipv6 {
        return Err(usage("--dhcp-probe is DHCP for IPv4; -6 does not apply"));
    }
    let wait = match &a.wait {
        None => Duration::from_secs(5),
        Some(s) => match decimal::seconds_in(s.trim(), Dbl::ratio(1, 10), Dbl::ratio(3600, 1)) {
            Some(t) => t,
            None => {
                return Err(super::bad(
                    "invalid -w ",
                    s,
                    &[" for --dhcp-probe (expected seconds from 0.1 to 3600)"],
                ))
            }
        },
    };
    Ok(DhcpOpts {
        iface: iface.to_string(),
        json: a.json,
        wait,
        verbose: a.verbose,
    })
}

/// The command for a `--dhcp-probe` command line, when it is one.
#[cfg(feature = "dhcp")]
pub fn command(a: &Args) -> Option<Result<Command>> {
    parse(a).map(|r| r.map(|o| Command::DhcpProbe(Box::new(o))))
}

/// Without the feature, the flag is a usage error (parse says so).
#[cfg(not(feature = "dhcp"))]
pub fn command(a: &Args) -> Option<Result<super::Command>> {
    parse(a).map(|r| r.and_then(|_| Err(usage("the 'dhcp' feature is left out"))))
}
