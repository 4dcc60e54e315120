//! `--tunnel-relay` / `--tunnel-inside` and their companions: checked here,
//! before the ordinary configuration (like the probe's flags).

use super::args::Args;
#[cfg(feature = "tunnel")]
use super::Command;
#[cfg(feature = "tunnel")]
use crate::addr;
use crate::error::{usage, Result};
#[cfg(feature = "tunnel")]
use std::time::Duration;

#[cfg(feature = "tunnel")]
pub use crate::tunnel::{SecretBytes, TunnelInsideOpts, TunnelRelayOpts};

/// A secret file's bytes are the secret, less one final line end.
#[cfg(feature = "tunnel")]
const MAX_SECRET: u64 = 4096;

/// The parsed tunnel options.
#[cfg(feature = "tunnel")]
enum Parsed {
    Relay(TunnelRelayOpts),
    Inside(TunnelInsideOpts),
}

/// The command for a tunnel command line, when it is one.
#[cfg(feature = "tunnel")]
pub fn command(a: &Args) -> Option<Result<Command>> {
    parse_flags(a).map(|r| {
        r.map(|p| match p {
            Parsed::Relay(o) => Command::TunnelRelay(Box::new(o)),
            Parsed::Inside(o) => Command::TunnelInside(Box::new(o)),
        })
    })
}

/// Without the feature, a tunnel flag is a usage error (checked without
/// parsing, so none of the parsing is in such a build).
#[cfg(not(feature = "tunnel"))]
pub fn command(a: &Args) -> Option<Result<super::Command>> {
    let any = a.tunnel_relay.is_some()
        || a.tunnel_inside.is_some()
        || a.tunnel_public.is_some()
        || a.secret.is_some()
        || a.secret_file.is_some();
    any.then(|| {
        Err(usage(
            "--tunnel-relay/--tunnel-inside need the 'tunnel' feature, which this build leaves out",
        ))
    })
}

/// `None` when no tunnel flag is given (the ordinary run follows).
#[cfg(feature = "tunnel")]
fn parse_flags(a: &Args) -> Option<Result<Parsed>> {
    let companions = [
        (a.tunnel_public.is_some(), "--tunnel-public"),
        (a.secret.is_some(), "--secret"),
        (a.secret_file.is_some(), "--secret-file"),
    ];
    if a.tunnel_relay.is_none() && a.tunnel_inside.is_none() {
        return companions.iter().find(|(set, _)| *set).map(|(_, f)| {
            Err(usage(format!(
                "{f} needs --tunnel-relay or --tunnel-inside"
            )))
        });
    }
    Some(parse(a))
}

#[cfg(feature = "tunnel")]
fn parse(a: &Args) -> Result<Parsed> {
    if a.tunnel_relay.is_some() && a.tunnel_inside.is_some() {
        return Err(usage(
            "--tunnel-relay and --tunnel-inside cannot be used together",
        ));
    }
    let flag = if a.tunnel_relay.is_some() {
        "--tunnel-relay"
    } else {
        "--tunnel-inside"
    };
    if a.probe.is_some() || a.probe_server.is_some() {
        return Err(usage(format!(
            "{flag} cannot be used with --probe or --probe-server"
        )));
    }
    if !a.listen.is_empty() || !a.listen_harder.is_empty() {
        return Err(usage(format!("{flag} takes no -l/-L listen addresses")));
    }
    if !(a.allow.is_empty()
        && a.deny.is_empty()
        && a.allow_file.is_empty()
        && a.deny_file.is_empty())
    {
        return Err(usage(format!(
            "--allow/--deny do not apply to {flag} (the secret guards the inside link)"
        )));
    }
    if a.udp {
        return Err(usage(format!("{flag} is TCP only (-u given)")));
    }
    let secret = secret(a)?;
    let family = super::config::family_from_flags(a)?;
    if let Some(inside) = &a.tunnel_relay {
        let Some(public) = &a.tunnel_public else {
            return Err(usage(
                "--tunnel-relay needs --tunnel-public ADDR (where clients connect)",
            ));
        };
        if !a.targets.is_empty() {
            return Err(usage("--tunnel-relay takes no targets"));
        }
        return Ok(Parsed::Relay(TunnelRelayOpts {
            inside: addr::parse_listen(inside)?,
            public: addr::parse_listen(public)?,
            secret,
            family,
            numeric: a.numeric,
            verbose: a.verbose,
        }));
    }
    if a.tunnel_public.is_some() {
        return Err(usage("--tunnel-public is a --tunnel-relay option"));
    }
    let relay = addr::parse_host_port(a.tunnel_inside.as_deref().unwrap_or_default())?;
    let service = match a.targets.as_slice() {
        [one] => addr::parse_host_port(one)?,
        [] => {
            return Err(usage(
                "--tunnel-inside needs the service's HOST:PORT as a target",
            ))
        }
        _ => {
            return Err(usage(
                "--tunnel-inside takes one target: the service's HOST:PORT",
            ))
        }
    };
    // -w: the connect timeout (relay and service); 0 or none: 10 s.
    let wait = super::config::seconds("-w", &a.wait)?
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(10));
    Ok(Parsed::Inside(TunnelInsideOpts {
        relay,
        service,
        secret,
        family,
        numeric: a.numeric,
        verbose: a.verbose,
        wait,
    }))
}

/// `--secret S` or `--secret-file F` (one of them), when the build has them.
#[cfg(feature = "tunnel")]
fn secret(a: &Args) -> Result<Option<SecretBytes>> {
    let bytes = match (&a.secret, &a.secret_file) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(usage("--secret and --secret-file cannot be used together"))
        }
        (Some(s), None) => s.as_bytes().to_vec(),
        (None, Some(f)) => read_secret(f)?,
    };
    if !cfg!(feature = "secret") {
        return Err(usage(
            "--secret needs the 'secret' feature, which this build leaves out",
        ));
    }
    if bytes.is_empty() {
        return Err(usage("the tunnel secret is empty"));
    }
    Ok(Some(SecretBytes(bytes)))
}

#[cfg(feature = "tunnel")]
fn read_secret(path: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let what = |e: &dyn std::fmt::Display| {
        usage(format!(
            "cannot read --secret-file '{}': {e}",
            addr::clip(path)
        ))
    };
    let f = std::fs::File::open(path).map_err(|e| what(&e))?;
    let mut b = Vec::new();
    f.take(MAX_SECRET + 1)
        .read_to_end(&mut b)
        .map_err(|e| what(&e))?;
    if b.len() as u64 > MAX_SECRET {
        return Err(what(&format!("longer than {MAX_SECRET} bytes")));
    }
    if b.last() == Some(&b'\n') {
        b.pop();
        if b.last() == Some(&b'\r') {
            b.pop();
        }
    }
    Ok(b)
}
