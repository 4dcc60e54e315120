//! Turning address specs into socket addresses: name lookups, the family
//! filter, wildcards and the local-interface form.

use super::ifaces;
use crate::addr::{clip, Host, HostPort, ListenSpec, SourceSpec};
use crate::error::Error;
use crate::net::Family;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, ToSocketAddrs};

/// Resolve a host and port; `numeric` forbids name lookups (`-n`).
pub fn host(
    host: &Host,
    port: u16,
    family: Family,
    numeric: bool,
) -> Result<Vec<SocketAddr>, Error> {
    let all: Vec<SocketAddr> = match host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        Host::Scoped(ip, zone) => {
            let scope = ifaces::scope_id(zone).ok_or_else(|| {
                Error::Usage(format!(
                    "unknown network interface '{}' in '{host}'",
                    clip(zone)
                ))
            })?;
            vec![SocketAddr::V6(SocketAddrV6::new(*ip, port, 0, scope))]
        }
        Host::Name(name) if numeric => {
            return Err(Error::Usage(format!(
                "'{}' is not a numeric address (-n forbids name lookups)",
                clip(name)
            )))
        }
        Host::Name(name) => {
            let found = (name.as_str(), port)
                .to_socket_addrs()
                .map_err(|e| Error::Runtime(format!("cannot resolve '{}': {e}", clip(name))))?;
            // Resolvers can repeat an address (one per socket type).
            let mut v: Vec<SocketAddr> = Vec::new();
            for a in found {
                if !v.contains(&a) {
                    v.push(a);
                }
            }
            v
        }
    };
    let kept: Vec<SocketAddr> = all.into_iter().filter(|a| family.allows(a)).collect();
    if kept.is_empty() {
        let which = match family {
            Family::V4 => "IPv4 ",
            Family::V6 => "IPv6 ",
            Family::Any => "",
        };
        return Err(Error::Runtime(format!("'{host}' has no {which}address")));
    }
    Ok(kept)
}

/// The wildcard address of one family (`0.0.0.0:P` or `[::]:P`).
pub fn wildcard(v4: bool, port: u16) -> SocketAddr {
    if v4 {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
    } else {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)
    }
}

/// Both wildcards, IPv4 first.
pub fn wildcards(port: u16) -> Vec<SocketAddr> {
    vec![wildcard(true, port), wildcard(false, port)]
}

/// A target's explicit source (`SRC=`), resolved; `None` when it has none.
pub fn source(
    spec: Option<&SourceSpec>,
    family: Family,
    numeric: bool,
) -> Result<Option<Vec<SocketAddr>>, Error> {
    let Some(s) = spec else {
        return Ok(None);
    };
    Ok(Some(match &s.host {
        Some(h) => host(h, s.port, family, numeric)?,
        None => wildcards(s.port),
    }))
}

/// Resolve a destination.
pub fn dest(hp: &HostPort, family: Family, numeric: bool) -> Result<Vec<SocketAddr>, Error> {
    host(&hp.host, hp.port, family, numeric)
}

/// The sockets a listen spec stands for.
pub fn listen(spec: &ListenSpec, family: Family, numeric: bool) -> Result<Vec<SocketAddr>, Error> {
    let addrs: Vec<SocketAddr> = match spec {
        ListenSpec::Addr(hp) => return dest(hp, family, numeric),
        // Bound by path (run/plan.rs), never resolved.
        ListenSpec::Unix(p) => {
            return Err(Error::Runtime(format!(
                "'unix:{p}' is a UNIX socket path, not an IP address"
            )))
        }
        ListenSpec::Wildcard(port) => wildcards(*port),
        ListenSpec::AllLocal(port) => ifaces::local_addrs()
            .map_err(|e| Error::Runtime(format!("cannot list local addresses for ':{port}': {e}")))?
            .into_iter()
            .map(|i| match i.ip {
                IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, *port, 0, i.scope)),
                ip => SocketAddr::new(ip, *port),
            })
            .collect(),
    };
    let kept: Vec<SocketAddr> = addrs.into_iter().filter(|a| family.allows(a)).collect();
    if kept.is_empty() {
        return Err(Error::Runtime(format!(
            "listen address '{spec}' leaves nothing to listen on"
        )));
    }
    Ok(kept)
}
