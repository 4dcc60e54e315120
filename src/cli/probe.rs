//! `--probe` / `--probe-server` and their companions: checked here, before
//! the ordinary configuration (they take no targets).

use super::args::Args;

#[cfg(feature = "probe")]
use super::Command;
use crate::addr;
use crate::decimal::{self, Dbl};
use crate::error::{usage, Result};
use std::net::IpAddr;
use std::time::Duration;

pub use crate::probe::{ProbeOpts, ProbeServerOpts};

/// The parsed probe options.
#[cfg_attr(not(feature = "probe"), allow(dead_code))]
pub enum Parsed {
    Client(ProbeOpts),
    Server(ProbeServerOpts),
}

/// `None` when no probe flag is given (the ordinary run follows).
pub fn parse(a: &Args) -> Option<Result<Parsed>> {
    let companions = [
        (a.once, "--once", "--probe or --probe-server"),
        (
            a.json,
            "--json",
            "--probe, --ifaces, --check or --dhcp-probe",
        ),
        (
            a.probe_time.is_some(),
            "--probe-time",
            "--probe or --probe-server",
        ),
        (
            a.probe_group.is_some(),
            "--probe-group",
            "--probe or --probe-server",
        ),
    ];
    if a.probe.is_none() && a.probe_server.is_none() {
        return companions
            .iter()
            .find(|(set, _, _)| *set)
            .map(|(_, f, needs)| Err(usage(format!("{f} needs {needs}"))));
    }
    Some(parse_probe(a))
}

fn parse_probe(a: &Args) -> Result<Parsed> {
    let flag = if a.probe.is_some() {
        "--probe"
    } else {
        "--probe-server"
    };
    if !cfg!(feature = "probe") {
        return Err(usage(format!(
            "{flag} needs the 'probe' feature, which this build leaves out"
        )));
    }
    if a.probe.is_some() && a.probe_server.is_some() {
        return Err(usage("--probe and --probe-server cannot be used together"));
    }
    if !a.targets.is_empty() || !a.listen.is_empty() || !a.listen_harder.is_empty() {
        return Err(usage(format!(
            "{flag} takes no targets or listen addresses"
        )));
    }
    let family = super::config::family_from_flags(a)?;
    if let Some(spec) = &a.probe_server {
        for (set, f) in [
            (a.json, "--json"),
            (a.probe_time.is_some(), "--probe-time"),
            (a.probe_group.is_some(), "--probe-group"),
        ] {
            if set {
                return Err(usage(format!(
                    "{f} is a --probe option, not --probe-server"
                )));
            }
        }
        let listen = addr::parse_listen(spec)?;
        return Ok(Parsed::Server(ProbeServerOpts {
            listen,
            once: a.once,
            family,
            numeric: a.numeric,
        }));
    }
    if a.once {
        return Err(usage("--once is a --probe-server option"));
    }
    let server = addr::parse_host_port(a.probe.as_deref().unwrap_or_default())?;
    let time = match &a.probe_time {
        None => Duration::from_secs(2),
        Some(s) => match decimal::seconds_in(s, Dbl::ratio(1, 20), Dbl::ratio(60, 1)) {
            Some(t) => t,
            None => {
                return Err(super::bad(
                    "invalid --probe-time ",
                    s,
                    &[" (expected seconds from 0.05 to 60)"],
                ))
            }
        },
    };
    let group = match &a.probe_group {
        None => None,
        Some(s) => match s.parse::<IpAddr>() {
            Ok(g) if g.is_multicast() => Some(g),
            _ => {
                return Err(super::bad(
                    "invalid --probe-group ",
                    s,
                    &[" (expected a multicast IP address)"],
                ))
            }
        },
    };
    Ok(Parsed::Client(ProbeOpts {
        server,
        json: a.json,
        time,
        group,
        family,
        numeric: a.numeric,
    }))
}

/// The command for a probe command line, when it is one.
#[cfg(feature = "probe")]
pub fn command(a: &Args) -> Option<Result<Command>> {
    parse(a).map(|r| {
        r.map(|p| match p {
            Parsed::Client(o) => Command::Probe(Box::new(o)),
            Parsed::Server(o) => Command::ProbeServer(Box::new(o)),
        })
    })
}

/// Without the feature, a probe flag is a usage error (parse says so).
#[cfg(not(feature = "probe"))]
pub fn command(a: &Args) -> Option<Result<super::Command>> {
    parse(a).map(|r| r.and_then(|_| Err(usage("the 'probe' feature is left out"))))
}
