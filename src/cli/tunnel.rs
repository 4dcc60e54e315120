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
pub use crate::tunnel::{Proto, SecretBytes, Service, TunnelInsideOpts, TunnelRelayOpts};

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
        || !a.tunnel_public.is_empty()
        || a.tunnel_keepalive.is_some()
        || a.tunnel_mux
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
        !a.tunnel_public.is_empty(),
        a.tunnel_keepalive.is_some(),
        a.tunnel_mux,
        a.secret.is_some(),
        a.secret_file.is_some(),
    ];
    const COMPANIONS: [&str; 5] = [
        "--tunnel-public",
        "--tunnel-keepalive",
        "--tunnel-mux",
        "--secret",
        "--secret-file",
    ];
    if a.tunnel_relay.is_none() && a.tunnel_inside.is_none() {
        return super::no_effect::first_given(&[(&companions, &COMPANIONS)]).map(|f| {
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
    no_effect(a, flag)?;
    let secret = secret(a)?;
    let family = super::config::family_from_flags(a)?;
    let keepalive = super::config::seconds("--tunnel-keepalive", &a.tunnel_keepalive)?
        .unwrap_or(crate::tunnel::DEFAULT_KEEPALIVE);
    if keepalive < Duration::from_millis(100) || keepalive > Duration::from_secs(3600) {
        return Err(usage(format!(
            "invalid value '{}' for --tunnel-keepalive (expected 0.1 to 3600 seconds)",
            a.tunnel_keepalive.as_deref().unwrap_or("")
        )));
    }
    if let Some(inside) = &a.tunnel_relay {
        if a.tunnel_public.is_empty() {
            return Err(usage(
                "--tunnel-relay needs --tunnel-public ADDR (where clients connect)",
            ));
        }
        if !a.targets.is_empty() {
            return Err(usage("--tunnel-relay takes no targets"));
        }
        if a.tunnel_mux {
            return Err(usage(
                "--tunnel-mux is a --tunnel-inside option (the relay accepts both kinds of inside end)",
            ));
        }
        if proxy_given(a) {
            return Err(usage(
                "--tunnel-relay dials nothing: the proxy flags are for --tunnel-inside",
            ));
        }
        if a.wait.is_some() {
            // A common habit, harmless: said, not refused.
            eprintln!(
                "netcrab: warning: -w has no effect on --tunnel-relay (it is the inside end's connect timeout)"
            );
        }
        let public = services(&a.tunnel_public, a.udp, "--tunnel-public", |s| {
            addr::parse_listen(s)
        })?;
        let udp_idle =
            super::config::seconds("--udp-idle", &a.udp_idle)?.unwrap_or(Duration::from_secs(60));
        if udp_idle.is_zero() {
            return Err(usage(
                "invalid value '0' for --udp-idle (expected seconds above 0)",
            ));
        }
        let udp_peers = match a.udp_peers.as_deref() {
            None => 1024,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=1_000_000).contains(&n) => n,
                _ => {
                    return Err(super::bad(
                        "invalid value ",
                        v,
                        &[" for --udp-peers (expected 1 to 1000000)"],
                    ))
                }
            },
        };
        return Ok(Parsed::Relay(TunnelRelayOpts {
            inside: addr::parse_listen(inside)?,
            public,
            secret,
            family,
            numeric: a.numeric,
            verbose: a.verbose,
            keepalive,
            udp_idle,
            udp_peers,
        }));
    }
    if !a.tunnel_public.is_empty() {
        return Err(usage("--tunnel-public is a --tunnel-relay option"));
    }
    for (set, f) in [
        (a.udp_idle.is_some(), "--udp-idle"),
        (a.udp_peers.is_some(), "--udp-peers"),
    ] {
        if set {
            return Err(usage(format!(
                "{f} is a --tunnel-relay option (the relay keeps the UDP flows)"
            )));
        }
    }
    let relay = addr::parse_host_port(a.tunnel_inside.as_deref().unwrap_or_default())?;
    if a.targets.is_empty() {
        return Err(usage(
            "--tunnel-inside needs the service's HOST:PORT as a target",
        ));
    }
    let services = services(&a.targets, a.udp, "service", service)?;
    if let Some((_, s)) = services
        .iter()
        .find(|(p, s)| *p == Proto::Udp && matches!(s, Service::Unix(_)))
    {
        return Err(usage(format!(
            "service '{s}': a unix: service is a stream socket (not with -u or udp:)"
        )));
    }
    // -w: the connect timeout (relay and service); 0 or none: 10 s.
    let wait = super::config::seconds("-w", &a.wait)?
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(10));
    Ok(Parsed::Inside(TunnelInsideOpts {
        relay,
        services,
        secret,
        family,
        numeric: a.numeric,
        verbose: a.verbose,
        wait,
        keepalive,
        proxy: proxy(a)?,
        mux: a.tunnel_mux,
    }))
}

/// A service: `HOST:PORT`, or `unix:PATH` (a UNIX stream socket: Unix, and
/// Windows builds with the `unix` feature, whose AF_UNIX code it shares).
#[cfg(feature = "tunnel")]
fn service(s: &str) -> Result<Service> {
    match s.get(..5).map(str::to_ascii_lowercase).as_deref() {
        Some("unix:") if cfg!(any(unix, feature = "unix")) => {
            if s.len() == 5 {
                return Err(usage("unix: needs a socket path"));
            }
            Ok(Service::Unix(std::path::PathBuf::from(&s[5..])))
        }
        Some("unix:") => Err(usage(
            "unix: services need a build with the unix feature (this one has none)",
        )),
        _ => addr::parse_host_port(s).map(Service::Net),
    }
}

/// `[tcp:|udp:]ADDR` entries (`-u`: UDP unless written `tcp:`), at most
/// [`crate::tunnel::MAX_SERVICES`].
#[cfg(feature = "tunnel")]
fn services<T>(
    list: &[String],
    udp: bool,
    what: &str,
    parse: impl Fn(&str) -> Result<T>,
) -> Result<Vec<(Proto, T)>> {
    let mut out = Vec::new();
    for (s, (proto, rest)) in list.iter().zip(split_services(list, udp)?) {
        match parse(rest) {
            Ok(t) => out.push((proto, t)),
            Err(e) => return Err(usage(format!("{what} '{}': {e}", addr::clip(s)))),
        }
    }
    Ok(out)
}

/// Each entry's protocol and the rest of it: the part of [`services`] that
/// is the same for every `T` (built once).
#[cfg(feature = "tunnel")]
fn split_services(list: &[String], udp: bool) -> Result<Vec<(Proto, &str)>> {
    if list.len() > crate::tunnel::MAX_SERVICES {
        return Err(usage(format!(
            "a tunnel carries at most {} services ({} given)",
            crate::tunnel::MAX_SERVICES,
            list.len()
        )));
    }
    Ok(list
        .iter()
        .map(|s| {
            let lower = s.get(..4).map(str::to_ascii_lowercase);
            match lower.as_deref() {
                Some("udp:") => (Proto::Udp, &s[4..]),
                Some("tcp:") => (Proto::Tcp, &s[4..]),
                _ if udp => (Proto::Udp, s.as_str()),
                _ => (Proto::Tcp, s.as_str()),
            }
        })
        .collect())
}

/// Flags that do nothing in tunnel mode: refused, so none is silently
/// ignored.
#[cfg(feature = "tunnel")]
fn no_effect(a: &Args, flag: &str) -> Result<()> {
    use super::no_effect::{data_run, first_given, DATA_RUN};
    let own = [a.once, a.json, a.dhcp_probe.is_some()];
    const OWN: [&str; 3] = ["--once", "--json", "--dhcp-probe"];
    match first_given(&[(&data_run(a), &DATA_RUN), (&own, &OWN)]) {
        Some(f) => Err(usage(format!(
            "{f} has no effect with {flag} (tunnel mode carries bytes between its two ends only)"
        ))),
        None => Ok(()),
    }
}

#[cfg(feature = "tunnel")]
fn proxy_given(a: &Args) -> bool {
    a.proxy_addr.is_some()
        || a.proxy.is_some()
        || a.proxy_proto.is_some()
        || a.proxy_type.is_some()
        || a.proxy_user.is_some()
        || a.proxy_auth.is_some()
        || a.proxy_dns.is_some()
        || a.proxy_pass_file.is_some()
        || !a.no_proxy.is_empty()
}

/// The inside end's proxy, checked as for any outbound TCP connection
/// (`-u` here makes the services UDP; the link to the relay is TCP).
#[cfg(feature = "tunnel")]
fn proxy(a: &Args) -> Result<Option<crate::net::proxy::ProxySpec>> {
    super::proxy::spec(a, true, false)
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
