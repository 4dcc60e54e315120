//! Command line: normalise netcat spellings, parse with argh, validate.

mod args;
mod check;
mod config;
mod dhcp;
mod help;
mod no_effect;
mod normalize;
mod probe;
mod proxy;
mod tunnel;

#[cfg(test)]
mod fuzz_tests;

#[cfg(feature = "check")]
pub use check::{CheckOpts, CheckTarget, CheckUrl};
pub use config::Config;

use crate::error::{usage, Result};
use argh::FromArgs;

/// What `main` should do.
#[derive(Debug)]
pub enum Command {
    Run(Box<Config>),
    Help,
    Version,
    /// `--ifaces`, as JSON with `--json`.
    Ifaces {
        json: bool,
    },
    #[cfg(feature = "probe")]
    Probe(Box<probe::ProbeOpts>),
    #[cfg(feature = "probe")]
    ProbeServer(Box<probe::ProbeServerOpts>),
    #[cfg(feature = "dhcp")]
    DhcpProbe(Box<dhcp::DhcpOpts>),
    #[cfg(feature = "tunnel")]
    TunnelRelay(Box<tunnel::TunnelRelayOpts>),
    #[cfg(feature = "tunnel")]
    TunnelInside(Box<tunnel::TunnelInsideOpts>),
    #[cfg(feature = "check")]
    Check(Box<check::CheckOpts>),
}

/// The usage error `BEFORE'S'AFTER...` for a bad value `s` (clipped as
/// every quoted value is): one body for the many messages of this shape,
/// where each `format!` site would build its own arguments.
#[inline(never)]
pub(crate) fn bad(before: &str, s: &str, after: &[&str]) -> crate::error::Error {
    let mut m = String::from(before);
    m.push('\'');
    m.push_str(&crate::addr::clip(s));
    m.push('\'');
    for p in after {
        m.push_str(p);
    }
    usage(m)
}

/// The help text shown by `-h` / `--help`.
pub fn help_text() -> &'static str {
    help::text()
}

/// Parse a command line (without the program name).
pub fn parse(argv: &[String]) -> Result<Command> {
    let argv = match normalize::normalize(argv).map_err(usage)? {
        normalize::Normalized::Help => return Ok(Command::Help),
        normalize::Normalized::Args(a) => a,
    };
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let args = args::Args::from_args(&["netcrab"], &refs).map_err(|e| {
        // argh's message can run to several lines; the first names the problem.
        let first = e
            .output
            .lines()
            .next()
            .unwrap_or("invalid arguments")
            .trim();
        usage(first.to_string())
    })?;
    if args.version {
        return Ok(Command::Version);
    }
    if let Some(cmd) = check::command(&args) {
        return cmd;
    }
    if args.ifaces {
        return Ok(Command::Ifaces { json: args.json });
    }
    if let Some(cmd) = dhcp::command(&args) {
        return cmd;
    }
    if let Some(cmd) = tunnel::command(&args) {
        return cmd;
    }
    if let Some(cmd) = probe::command(&args) {
        return cmd;
    }
    config::config(&args).map(|c| Command::Run(Box::new(c)))
}
