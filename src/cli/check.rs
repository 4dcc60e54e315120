//! `--check [TARGET...]` and its companions (`--check-name`, `--check-url`,
//! `--check-expect`, `--json`, `-w`, `-4`/`-6`, `-n`, the proxy flags):
//! checked here, before the ordinary configuration.

#![cfg_attr(not(feature = "check"), allow(dead_code, unused_imports))]

use super::args::Args;
use super::no_effect;
use crate::addr::{self, clip, Host, HostPort};
use crate::decimal::{self, Dbl};
use crate::error::{usage, Result};
use std::time::Duration;

/// One `--check` target.
#[derive(Debug, Clone)]
pub struct CheckTarget {
    pub udp: bool,
    pub dest: HostPort,
    /// As given on the command line.
    pub text: String,
}

/// `--check-url http://HOST[:PORT]/PATH`.
#[derive(Debug, Clone)]
pub struct CheckUrl {
    pub dest: HostPort,
    /// The `Host:` header (with the port when one was given).
    pub host_header: String,
    pub path: String,
    pub text: String,
}

#[derive(Debug)]
pub struct CheckOpts {
    pub targets: Vec<CheckTarget>,
    /// `None`: the root's NS.
    pub name: Option<String>,
    pub url: Option<CheckUrl>,
    /// `None`: 200 or 204.
    pub expect: Option<u16>,
    pub wait: Duration,
    pub json: bool,
    pub family: crate::net::Family,
    pub numeric: bool,
    pub proxy: Option<crate::net::proxy::ProxySpec>,
    /// Layers not to run (`--check-skip`).
    pub skip: Vec<&'static str>,
}

/// The layers `--check-skip` may name (link and address send nothing).
const SKIPPABLE: [&str; 4] = ["gateway", "dns", "targets", "web"];

/// `None` when `--check` is not given (a companion without it is a usage error).
pub fn parse(a: &Args) -> Option<Result<CheckOpts>> {
    if !a.check {
        let lone = [
            a.check_name.is_some(),
            a.check_url.is_some(),
            a.check_expect.is_some(),
            a.check_skip.is_some(),
        ];
        const LONE: [&str; 4] = [
            "--check-name",
            "--check-url",
            "--check-expect",
            "--check-skip",
        ];
        return no_effect::first_given(&[(&lone, &LONE)])
            .map(|f| Err(usage(format!("{f} needs --check"))));
    }
    Some(check(a))
}

fn check(a: &Args) -> Result<CheckOpts> {
    if !cfg!(feature = "check") {
        return Err(usage(
            "--check needs the 'check' feature, which this build leaves out",
        ));
    }
    // The modes and the flags of a data run mean nothing here.
    let modes = [
        a.ifaces,
        a.probe.is_some(),
        a.probe_server.is_some(),
        a.once,
        a.probe_time.is_some(),
        a.probe_group.is_some(),
        a.dhcp_probe.is_some(),
        a.tunnel_relay.is_some(),
        !a.tunnel_public.is_empty(),
        a.tunnel_inside.is_some(),
        a.secret.is_some(),
        a.tunnel_keepalive.is_some(),
        a.tunnel_mux,
        a.secret_file.is_some(),
        !a.listen.is_empty(),
        !a.listen_harder.is_empty(),
        a.udp,
        a.udp_idle.is_some(),
        a.udp_peers.is_some(),
    ];
    const MODES: [&str; 19] = [
        "--ifaces",
        "--probe",
        "--probe-server",
        "--once",
        "--probe-time",
        "--probe-group",
        "--dhcp-probe",
        "--tunnel-relay",
        "--tunnel-public",
        "--tunnel-inside",
        "--secret",
        "--tunnel-keepalive",
        "--tunnel-mux",
        "--secret-file",
        "-l",
        "-L",
        "-u (write udp:HOST:PORT)",
        "--udp-idle",
        "--udp-peers",
    ];
    let traffic = [
        a.verbose > 0,
        !a.allow.is_empty(),
        !a.deny.is_empty(),
        !a.allow_file.is_empty(),
        !a.deny_file.is_empty(),
    ];
    const TRAFFIC: [&str; 5] = ["-v", "--allow", "--deny", "--allow-file", "--deny-file"];
    if let Some(f) = no_effect::first_given(&[
        (&modes, &MODES),
        (&no_effect::data_run(a), &no_effect::DATA_RUN),
        (&traffic, &TRAFFIC),
    ]) {
        return Err(usage(format!("{f} cannot be used with --check")));
    }
    let family = super::config::family_from_flags(a)?;
    let wait = match &a.wait {
        None => Duration::from_secs(2),
        Some(s) => match decimal::seconds_in(s.trim(), Dbl::ratio(1, 10), Dbl::ratio(60, 1)) {
            Some(t) => t,
            None => {
                return Err(super::bad(
                    "invalid -w ",
                    s,
                    &[" for --check (expected seconds from 0.1 to 60)"],
                ))
            }
        },
    };
    let mut targets = Vec::new();
    for t in &a.targets {
        targets.push(target(t)?);
    }
    if targets.len() > 16 {
        return Err(usage("--check takes at most 16 targets"));
    }
    let name = match &a.check_name {
        None => None,
        Some(n) => Some(dns_name(n)?),
    };
    let url = a.check_url.as_deref().map(parse_url).transpose()?;
    let expect = match &a.check_expect {
        None => None,
        Some(s) => match s.trim().parse::<u16>() {
            Ok(c) if (100..=599).contains(&c) => Some(c),
            _ => {
                return Err(super::bad(
                    "invalid --check-expect ",
                    s,
                    &[" (expected an HTTP status from 100 to 599)"],
                ))
            }
        },
    };
    if expect.is_some() && url.is_none() {
        return Err(usage("--check-expect needs --check-url"));
    }
    let mut skip = Vec::new();
    for w in a.check_skip.as_deref().unwrap_or_default().split(',') {
        let w = w.trim();
        if w.is_empty() {
            continue;
        }
        match SKIPPABLE.iter().find(|n| n.eq_ignore_ascii_case(w)) {
            Some(n) if !skip.contains(n) => skip.push(*n),
            Some(_) => {}
            None => {
                return Err(usage(format!(
                    "invalid --check-skip layer '{}' (expected some of: {})",
                    clip(w),
                    SKIPPABLE.join(", ")
                )))
            }
        }
    }
    let proxy = super::proxy::spec(a, !targets.is_empty() || url.is_some(), a.udp)?;
    if proxy.is_some() && targets.iter().any(|t| t.udp) {
        return Err(usage(
            "a proxy carries TCP only: udp: targets cannot go through -x/--proxy",
        ));
    }
    Ok(CheckOpts {
        targets,
        name,
        url,
        expect,
        wait,
        json: a.json,
        family,
        numeric: a.numeric,
        proxy,
        skip,
    })
}

/// `HOST:PORT`, `tcp:HOST:PORT` or `udp:HOST:PORT`.
fn target(t: &str) -> Result<CheckTarget> {
    let lower = t.get(..4).map(str::to_ascii_lowercase);
    let (udp, rest) = match lower.as_deref() {
        Some("udp:") => (true, &t[4..]),
        Some("tcp:") => (false, &t[4..]),
        _ => (false, t),
    };
    let dest = addr::parse_host_port(rest).map_err(|e| {
        usage(format!(
            "invalid --check target '{}': {e} (expected HOST:PORT or udp:HOST:PORT)",
            clip(t)
        ))
    })?;
    if dest.port == 0 {
        return Err(super::bad("invalid --check target ", t, &[": port 0"]));
    }
    Ok(CheckTarget {
        udp,
        dest,
        text: t.to_string(),
    })
}

/// A name for a DNS query: labels of 1 to 63 bytes, 253 in all.
fn dns_name(n: &str) -> Result<String> {
    let bad = |why: &str| super::bad("invalid --check-name ", n, &[": ", why]);
    let trimmed = n.strip_suffix('.').unwrap_or(n);
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if trimmed.len() > 253 {
        return Err(bad("longer than 253 characters"));
    }
    for label in trimmed.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("each label must be 1 to 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("letters, digits, '-' and '_' only"));
        }
    }
    Ok(trimmed.to_string())
}

/// `http://HOST[:PORT][/PATH]`; no TLS in netcrab, so no https.
fn parse_url(u: &str) -> Result<CheckUrl> {
    let bad = |why: &str| super::bad("invalid --check-url ", u, &[": ", why]);
    let lower = u.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err(bad(
            "https is not supported (netcrab has no TLS): use http://",
        ));
    }
    let rest = lower
        .starts_with("http://")
        .then(|| &u[7..])
        .ok_or_else(|| bad("expected http://HOST[:PORT]/PATH"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("expected http://HOST[:PORT]/PATH"));
    }
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad("spaces and control characters must be %-encoded"));
    }
    let has_port = match authority.strip_prefix('[') {
        Some(r) => r.contains("]:"),
        None => authority.contains(':'),
    };
    let hp_text = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let dest = addr::parse_host_port(&hp_text).map_err(|e| bad(&e.to_string()))?;
    if let Host::Scoped(..) = dest.host {
        return Err(bad("a zone (%IF) has no place in a URL here"));
    }
    Ok(CheckUrl {
        dest,
        host_header: authority.to_string(),
        path,
        text: u.to_string(),
    })
}

/// The command for a `--check` command line, when it is one.
#[cfg(feature = "check")]
pub fn command(a: &Args) -> Option<Result<super::Command>> {
    parse(a).map(|r| r.map(|o| super::Command::Check(Box::new(o))))
}

#[cfg(not(feature = "check"))]
pub fn command(a: &Args) -> Option<Result<super::Command>> {
    parse(a).map(|r| r.and_then(|_| Err(usage("the 'check' feature is left out"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://portal.test:8080/generate_204").unwrap();
        assert_eq!(u.dest.port, 8080);
        assert_eq!(u.path, "/generate_204");
        assert_eq!(u.host_header, "portal.test:8080");
        let u = parse_url("HTTP://[2001:db8::1]").unwrap();
        assert_eq!((u.dest.port, u.path.as_str()), (80, "/"));
        let u = parse_url("http://h?x=1").unwrap();
        assert_eq!(u.path, "/?x=1");
        for bad in [
            "https://h/",
            "ftp://h/",
            "http://",
            "http:///x",
            "http://u@h/",
            "http://h/a b",
            "http://h:99999/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_and_names() {
        assert!(target("udp:10.0.0.1:53").unwrap().udp);
        assert!(!target("tcp:h:80").unwrap().udp);
        assert!(!target("[::1]:80").unwrap().udp);
        for bad in ["h", "udp:h", "h:0", "udp:", ""] {
            assert!(target(bad).is_err(), "{bad}");
        }
        assert_eq!(dns_name("example.test.").unwrap(), "example.test");
        assert_eq!(dns_name(".").unwrap(), "");
        for bad in ["a..b", "a b", &"x".repeat(64), &"a.".repeat(130)] {
            assert!(dns_name(bad).is_err(), "{bad}");
        }
    }
}
