//! The proxy flags in both spellings: OpenBSD nc's `-X PROTO -x HOST[:PORT]
//! -P USER` and ncat's `--proxy HOST[:PORT] --proxy-type T --proxy-auth USER
//! --proxy-dns D`. A password is never taken from the command line (other
//! users can read it there): it comes from `--proxy-pass-file F` or the
//! environment variable `NETCRAB_PROXY_PASS`.

#![cfg_attr(not(feature = "proxy"), allow(dead_code, unused_imports))]

use super::args::Args;
use crate::addr::{self, clip};
use crate::error::{usage, Result};
use crate::net::acl::Cidr;
use crate::net::proxy::{Auth, Bypass, Dns, Kind, ProxySpec, PASS_ENV};
use std::io::Read;

/// The longest password file read.
const MAX_PASS_FILE: u64 = 4096;

/// One setting given in either spelling; both at once is a usage error.
fn either<'a>(
    openbsd: &'a Option<String>,
    ncat: &'a Option<String>,
    flags: &str,
) -> Result<Option<&'a str>> {
    match (openbsd, ncat) {
        (Some(_), Some(_)) => Err(usage(format!(
            "{flags} are two spellings of one setting: give one"
        ))),
        (a, b) => Ok(a.as_deref().or(b.as_deref())),
    }
}

/// The proxy of a run, if one is asked for. `has_targets`: whether there are
/// outbound connections for it to carry; `udp`: whether they are UDP (the
/// tunnel's inside end passes false: its `-u` is for the services, and the
/// link to the relay is TCP).
#[cfg(not(feature = "proxy"))]
pub fn spec(a: &Args, _has_targets: bool, _udp: bool) -> Result<Option<ProxySpec>> {
    let given = a.proxy_addr.is_some()
        || a.proxy.is_some()
        || a.proxy_proto.is_some()
        || a.proxy_type.is_some()
        || a.proxy_user.is_some()
        || a.proxy_auth.is_some()
        || a.proxy_dns.is_some()
        || a.proxy_pass_file.is_some()
        || !a.no_proxy.is_empty();
    if given {
        return Err(usage(
            "the proxy flags need the 'proxy' feature, which this build leaves out",
        ));
    }
    Ok(None)
}

#[cfg(feature = "proxy")]
pub fn spec(a: &Args, has_targets: bool, udp: bool) -> Result<Option<ProxySpec>> {
    let addr = either(&a.proxy_addr, &a.proxy, "-x and --proxy")?;
    let proto = either(&a.proxy_proto, &a.proxy_type, "-X and --proxy-type")?;
    let user = either(&a.proxy_user, &a.proxy_auth, "-P and --proxy-auth")?;
    let Some(addr) = addr else {
        let companion = [
            proto.is_some(),
            user.is_some(),
            a.proxy_dns.is_some(),
            a.proxy_pass_file.is_some(),
            !a.no_proxy.is_empty(),
        ];
        const COMPANION: [&str; 5] = [
            "-X/--proxy-type",
            "-P/--proxy-auth",
            "--proxy-dns",
            "--proxy-pass-file",
            "--no-proxy",
        ];
        return match super::no_effect::first_given(&[(&companion, &COMPANION)]) {
            Some(flag) => Err(usage(format!(
                "{flag} needs a proxy address: -x HOST[:PORT] or --proxy HOST[:PORT]"
            ))),
            None => Ok(None),
        };
    };
    if udp {
        return Err(usage(
            "a proxy carries TCP only: -x/--proxy cannot be used with -u",
        ));
    }
    if !has_targets {
        return Err(usage(
            "-x/--proxy is for outbound connections: give a target HOST:PORT",
        ));
    }
    let kind = match proto {
        Some(p) => Kind::parse(p).ok_or_else(|| {
            super::bad(
                "invalid proxy type ",
                p,
                &[" (expected one of: connect or http, 5 or socks5, 4 or socks4, 4a or socks4a)"],
            )
        })?,
        // OpenBSD nc's default is SOCKS5, ncat's HTTP.
        None if a.proxy_addr.is_some() => Kind::Socks5,
        None => Kind::Http,
    };
    let addr = proxy_addr(addr, kind.default_port())?;
    let dns = match a.proxy_dns.as_deref() {
        None if kind == Kind::Socks4 => Dns::Local,
        None => Dns::Remote,
        Some(d) => Dns::parse(d).ok_or_else(|| {
            super::bad(
                "invalid value ",
                d,
                &[" for --proxy-dns (expected one of: local, remote, both, none)"],
            )
        })?,
    };
    if kind == Kind::Socks4 && matches!(dns, Dns::Remote | Dns::Both) {
        return Err(usage(
            "SOCKS4 cannot pass names to the proxy: use -X 4a (SOCKS4a) or --proxy-dns local",
        ));
    }
    let auth = match user {
        None if a.proxy_pass_file.is_some() => {
            return Err(usage(
                "--proxy-pass-file needs a user: -P USER or --proxy-auth USER",
            ))
        }
        None => None,
        Some(u) => Some(auth(a, u, kind)?),
    };
    Ok(Some(ProxySpec {
        kind,
        addr,
        dns,
        auth,
        bypass: bypass(&a.no_proxy)?,
    }))
}

/// `--no-proxy` lists: addresses, CIDR blocks and names.
fn bypass(lists: &[String]) -> Result<Vec<Bypass>> {
    let mut out = Vec::new();
    for entry in lists.iter().flat_map(|l| l.split(',')).map(str::trim) {
        if entry.is_empty() {
            continue;
        }
        if let Ok(net) = Cidr::parse(entry) {
            out.push(Bypass::Net(net));
            continue;
        }
        match addr::parse_host_port(&format!("{entry}:1")) {
            Ok(addr::HostPort {
                host: addr::Host::Name(n),
                ..
            }) if !entry.contains('/') => out.push(Bypass::Name(n)),
            _ => {
                return Err(super::bad(
                    "invalid --no-proxy entry ",
                    entry,
                    &[" (expected a name, an address or a CIDR block)"],
                ))
            }
        }
    }
    Ok(out)
}

/// `HOST[:PORT]`, `[v6][:PORT]` or a bare IPv6 literal.
fn proxy_addr(s: &str, default_port: u16) -> Result<addr::HostPort> {
    let has_port = if let Some(rest) = s.strip_prefix('[') {
        rest.contains("]:")
    } else {
        s.contains(':') && s.parse::<std::net::Ipv6Addr>().is_err()
    };
    let full = if has_port {
        s.to_string()
    } else if s.contains(':') && !s.starts_with('[') {
        format!("[{s}]:{default_port}")
    } else {
        format!("{s}:{default_port}")
    };
    addr::parse_host_port(&full).map_err(|e| usage(format!("proxy address: {e}")))
}

fn auth(a: &Args, user: &str, kind: Kind) -> Result<Auth> {
    if user.contains(':') {
        return Err(usage(format!(
            "a password on the command line is visible to other users: give the user alone ('{}') and the password in {PASS_ENV} or --proxy-pass-file FILE",
            clip(user.split(':').next().unwrap_or(""))
        )));
    }
    if user.is_empty() || user.len() > 255 {
        return Err(usage("a proxy user name must be 1 to 255 bytes"));
    }
    if !kind.has_password() {
        // SOCKS4's user id has no password.
        return Ok(Auth {
            user: user.to_string(),
            pass: None,
        });
    }
    let pass = match &a.proxy_pass_file {
        Some(f) => read_pass_file(f)?,
        None => std::env::var(PASS_ENV).map_err(|_| {
            usage(format!(
                "proxy user '{}' needs a password: set {PASS_ENV} or give --proxy-pass-file FILE",
                clip(user)
            ))
        })?,
    };
    if pass.is_empty() || pass.len() > 255 {
        return Err(usage("a proxy password must be 1 to 255 bytes"));
    }
    Ok(Auth {
        user: user.to_string(),
        pass: Some(pass),
    })
}

/// The file's first line (its line ending dropped).
fn read_pass_file(f: &str) -> Result<String> {
    let fail = |e: std::io::Error| {
        usage(format!(
            "--proxy-pass-file '{}': {}",
            clip(f),
            crate::error::describe(&e)
        ))
    };
    let mut bytes = Vec::new();
    std::fs::File::open(f)
        .and_then(|file| file.take(MAX_PASS_FILE).read_to_end(&mut bytes))
        .map_err(fail)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| super::bad("--proxy-pass-file ", f, &[" is not UTF-8 text"]))?;
    let line = text.lines().next().unwrap_or("");
    Ok(line.to_string())
}

#[cfg(all(test, feature = "proxy"))]
mod tests {
    use super::*;

    #[test]
    fn proxy_addresses_get_the_default_port() {
        let p = |s| proxy_addr(s, 3128).map(|h| h.to_string()).unwrap();
        assert_eq!(p("proxy.example"), "proxy.example:3128");
        assert_eq!(p("10.0.0.1:8080"), "10.0.0.1:8080");
        assert_eq!(p("::1"), "[::1]:3128");
        assert_eq!(p("[::1]"), "[::1]:3128");
        assert_eq!(p("[::1]:1"), "[::1]:1");
        assert!(proxy_addr("h:99999", 1).is_err());
    }

    #[test]
    fn no_proxy_entries() {
        let list = vec![
            "127.0.0.0/8, ::1".to_string(),
            "Intranet.example".to_string(),
        ];
        let spec = ProxySpec {
            kind: Kind::Http,
            addr: addr::parse_host_port("p:1").unwrap(),
            dns: Dns::Remote,
            auth: None,
            bypass: bypass(&list).unwrap(),
        };
        let direct = |t: &str| spec.bypasses(&addr::parse_host_port(t).unwrap().host);
        assert!(direct("127.0.0.1:22"));
        assert!(direct("[::1]:22"));
        assert!(direct("intranet.example:80"));
        assert!(!direct("localhost:22"));
        assert!(!direct("10.0.0.1:22"));
        assert!(bypass(&["bad host".to_string()]).is_err());
        assert!(bypass(&["10.0.0.0/99".to_string()]).is_err());
    }
}
