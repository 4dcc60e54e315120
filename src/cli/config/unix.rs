//! `-U`, `unix:PATH` and `-s`: which addresses of the command line are
//! UNIX socket paths, and the flags that mean nothing with them.

use super::Args;
use crate::addr::{self, ListenSpec};
use crate::error::{usage, Result};

/// The UNIX side of a command line.
pub struct UnixParts {
    /// Target strings that are not UNIX paths (left for the TCP/UDP parser).
    pub inet_targets: Vec<String>,
    pub targets: Vec<String>,
    /// `-s PATH` (with `-U -u`).
    pub source: Option<String>,
    /// Some address of the run is a UNIX path.
    pub any: bool,
}

/// A listen string as a spec: with `-U` every one is a path.
pub fn listen(a: &Args, s: &str) -> Result<ListenSpec> {
    if a.unix {
        let p = addr::unix_path_of(s).unwrap_or(s);
        return Ok(ListenSpec::Unix(addr::parse_unix_path(p)?));
    }
    addr::parse_listen(s)
}

pub fn split(a: &Args, listeners: &[ListenSpec]) -> Result<UnixParts> {
    let mut parts = UnixParts {
        inet_targets: Vec::new(),
        targets: Vec::new(),
        source: None,
        any: false,
    };
    for t in &a.targets {
        match (a.unix, addr::unix_path_of(t)) {
            (_, Some(p)) => parts.targets.push(addr::parse_unix_path(p)?),
            (true, None) => parts.targets.push(addr::parse_unix_path(t)?),
            (false, None) => parts.inet_targets.push(t.clone()),
        }
    }
    let unix_listeners = listeners
        .iter()
        .filter(|l| matches!(l, ListenSpec::Unix(_)))
        .count();
    parts.any = a.unix || !parts.targets.is_empty() || unix_listeners > 0;
    if !parts.any {
        return Ok(parts);
    }
    if !cfg!(feature = "unix") {
        let what = if a.unix { "-U" } else { "a unix: address" };
        return Err(usage(format!(
            "{what} needs the 'unix' feature, which this build leaves out"
        )));
    }
    // Windows' AF_UNIX has streams only (a Windows without AF_UNIX at all
    // is told when the run starts: that depends on the system, not the
    // command line).
    if !cfg!(unix) && a.udp {
        return Err(usage(
            "-u with UNIX sockets: Windows has no UNIX datagram sockets (AF_UNIX there is stream only)",
        ));
    }
    let all_unix = parts.inet_targets.is_empty() && unix_listeners == listeners.len();
    if a.unix || all_unix {
        let meaningless = [
            (a.port.is_some(), "-p (a UNIX socket has a path, not a port)"),
            (a.ipv4, "-4"),
            (a.ipv6, "-6"),
            (a.mc, "--mc"),
            (a.broadcast, "-b"),
            (a.udp_flows, "--udp-flows"),
            (a.ttl.is_some(), "--ttl"),
            (
                !a.allow.is_empty()
                    || !a.deny.is_empty()
                    || !a.allow_file.is_empty()
                    || !a.deny_file.is_empty(),
                "--allow/--deny (a UNIX socket's peers have no address; use the path's permissions)",
            ),
        ];
        if let Some((_, flag)) = meaningless.iter().find(|(set, _)| *set) {
            return Err(usage(format!(
                "{flag} cannot be used with UNIX sockets (-U, unix:PATH)"
            )));
        }
        if a.proxy.is_some() || a.proxy_addr.is_some() {
            return Err(usage(
                "a proxy (-x, --proxy) cannot be used with UNIX sockets (-U, unix:PATH)",
            ));
        }
    }
    if a.udp && !all_unix {
        return Err(usage(
            "-u with UNIX paths: every address must then be a UNIX path (UNIX datagrams and UDP cannot be mixed in one run)",
        ));
    }
    if a.udp && a.zero_io {
        return Err(usage(
            "-z -u scans UDP ports: it cannot be used with UNIX sockets",
        ));
    }
    if let Some(s) = &a.source {
        if !a.udp {
            return Err(usage(
                "-s PATH with UNIX sockets is a datagram client's own path: add -u",
            ));
        }
        if !listeners.is_empty() {
            return Err(usage(
                "-s PATH is for a datagram client: a listener is bound to its -l path",
            ));
        }
        let p = addr::unix_path_of(s).unwrap_or(s);
        parts.source = Some(addr::parse_unix_path(p)?);
    }
    if a.udp && parts.targets.len() + listeners.len() > 1 {
        return Err(usage(
            "UNIX datagrams (-U -u) take one address: a target path or -l PATH",
        ));
    }
    Ok(parts)
}
