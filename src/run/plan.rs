//! Before anything runs: resolve every target and bind every listener (TCP,
//! then UDP below), so bad names and busy ports fail fast with the address
//! in the message.

use super::config::Config;
use super::udp_flows::FlowTarget;
use crate::addr::{ListenSpec, TargetSpec};
use crate::error::runtime;
use crate::error::{Error, Result};
use crate::net::udp::{self as nudp, McIface, UdpOpts};
use crate::net::{self, proxy, resolve, sockopt::SockOpts, tcp};
use crate::router::Origin;
use async_net::{TcpListener, TcpStream, UdpSocket};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

/// A target with its resolved (destination, source) pairs, in resolver order.
pub struct TargetPlan {
    pub spec: TargetSpec,
    /// With a proxy these are the proxy's addresses (the source binds the
    /// socket to the proxy).
    pub addrs: Vec<(SocketAddr, Option<SocketAddr>)>,
    /// With a proxy: what to ask it for.
    pub via: Option<proxy::Request>,
}

impl TargetPlan {
    /// The plan for `t`, a target that differs from this one only in its
    /// port: the same resolved addresses, with `t`'s port.
    fn with_port(&self, t: &TargetSpec) -> TargetPlan {
        if let Some(via) = &self.via {
            return TargetPlan {
                spec: t.clone(),
                addrs: self.addrs.clone(),
                via: Some(via.with_port(t.dest.port)),
            };
        }
        let addrs = self
            .addrs
            .iter()
            .map(|&(mut d, s)| {
                d.set_port(t.dest.port);
                (d, s)
            })
            .collect();
        TargetPlan {
            spec: t.clone(),
            addrs,
            via: None,
        }
    }

    /// Open one of `addrs`: directly, or through the proxy.
    pub async fn connect(
        &self,
        dest: SocketAddr,
        source: Option<SocketAddr>,
        opts: &SockOpts,
        timeout: Option<Duration>,
    ) -> std::io::Result<TcpStream> {
        match &self.via {
            None => tcp::connect(dest, source, opts, timeout).await,
            #[cfg(feature = "proxy")]
            Some(req) => proxy::connect(dest, source, opts, timeout, req).await,
            // cli refuses proxy flags in a build without the feature.
            #[cfg(not(feature = "proxy"))]
            Some(_) => Err(std::io::Error::other("this build has no proxy support")),
        }
    }
}

/// A bound listener and the index of the `-l`/`-L` address it came from.
pub struct BoundListener {
    pub origin: usize,
    pub socket: Listener,
}

/// A listening socket of either kind.
pub enum Listener {
    Tcp(TcpListener, SocketAddr),
    /// The socket file is removed when the listener is dropped.
    #[cfg(feature = "unix")]
    Unix(crate::net::unix::UnixListener, crate::net::unix::OwnedPath),
}

impl Listener {
    /// `unix:PATH`, or the bound address.
    pub fn name(&self) -> String {
        match self {
            Listener::Tcp(_, a) => a.to_string(),
            #[cfg(feature = "unix")]
            Listener::Unix(_, p) => format!("unix:{}", p.path().display()),
        }
    }
}

/// Bind a UNIX stream listener (replacing a stale socket file).
#[cfg(feature = "unix")]
fn bind_unix(path: &std::path::Path) -> Result<Listener> {
    let (l, owned) = crate::net::unix::listen(path)
        .map_err(|e| runtime(format!("listen on unix:{}", path.display()), &e))?;
    eprintln!("Listening on unix:{}, protocol UNIX stream", path.display());
    Ok(Listener::Unix(l, owned))
}

pub struct Plan {
    pub targets: Vec<TargetPlan>,
    pub listeners: Vec<BoundListener>,
}

impl Plan {
    pub fn new(cfg: &Config) -> Result<Plan> {
        // A Windows without AF_UNIX: one line before anything starts.
        #[cfg(feature = "unix")]
        if !cfg.unix_targets.is_empty()
            || cfg
                .listeners
                .iter()
                .any(|l| matches!(l, ListenSpec::Unix(_)))
        {
            crate::net::unix::available()
                .map_err(|e| Error::Runtime(crate::error::describe(&e)))?;
        }
        let mut targets: Vec<TargetPlan> = Vec::new();
        for t in &cfg.targets {
            let plan = match targets.last() {
                // `-z HOST:1-1000` is one target per port: look HOST up once.
                Some(prev)
                    if prev.spec.dest.host == t.dest.host && prev.spec.source == t.source =>
                {
                    prev.with_port(t)
                }
                _ => plan_target(cfg, t)?,
            };
            targets.push(plan);
        }
        let opts = cfg.sock_opts();
        let mut listeners = Vec::new();
        for (origin, spec) in cfg.listeners.iter().enumerate() {
            #[cfg(feature = "unix")]
            if let ListenSpec::Unix(path) = spec {
                listeners.push(BoundListener {
                    origin,
                    socket: bind_unix(std::path::Path::new(path))?,
                });
                continue;
            }
            for socket in bind_all(cfg, spec, &opts)? {
                let local = socket
                    .local_addr()
                    .map_err(|e| runtime(format!("listen on '{spec}'"), &e))?;
                eprintln!(
                    "Listening on {local}, protocol TCP, family {}",
                    net::family_name(&local)
                );
                listeners.push(BoundListener {
                    origin,
                    socket: Listener::Tcp(socket, local),
                });
            }
        }
        Ok(Plan { targets, listeners })
    }
}

/// Resolve one target's destinations and the source for each, in resolver
/// order; an error when no destination has a source of its family (so the
/// list is never empty).
pub(super) fn plan_target(cfg: &Config, t: &TargetSpec) -> Result<TargetPlan> {
    // With a proxy the socket goes to the proxy; the target is asked for.
    let (dests, via) = match &cfg.proxy {
        Some(p) if !p.bypasses(&t.dest.host) => (
            resolve::dest(&p.addr, cfg.family, cfg.numeric)?,
            Some(proxy::request(p, &t.dest, cfg.family, cfg.numeric)?),
        ),
        _ => (resolve::dest(&t.dest, cfg.family, cfg.numeric)?, None),
    };
    let sources = resolve::source(t.source.as_ref(), cfg.family, cfg.numeric)?
        .or_else(|| cfg.source_port.map(resolve::wildcards));
    let addrs: Vec<(SocketAddr, Option<SocketAddr>)> = dests
        .iter()
        .filter_map(|d| match &sources {
            None => Some((*d, None)),
            Some(list) => list
                .iter()
                .find(|s| s.is_ipv4() == d.is_ipv4())
                .map(|s| (*d, Some(*s))),
        })
        .collect();
    if addrs.is_empty() {
        return Err(Error::Runtime(format!(
            "no source address in '{t}' has the same family as its destination"
        )));
    }
    Ok(TargetPlan {
        spec: t.clone(),
        addrs,
        via,
    })
}

/// Bind every TCP socket a listen spec stands for.
fn bind_all(cfg: &Config, spec: &ListenSpec, opts: &SockOpts) -> Result<Vec<TcpListener>> {
    let addrs = resolve::listen(spec, cfg.family, cfg.numeric)?;
    bind_each(spec, addrs, cfg.verbose, "listen on", |a| {
        tcp::listen(a, opts)
    })
}

/// Bind each of a listen spec's addresses with `bind` (TCP and UDP). For
/// the multi-address forms (`*:P`, `:P`) an address that cannot be bound
/// (no IPv6 on this machine, a tentative address) is skipped with a note, as
/// long as one binds. `what` names the operation in errors.
pub(super) fn bind_each<T>(
    spec: &ListenSpec,
    addrs: Vec<SocketAddr>,
    verbose: u8,
    what: &str,
    mut bind: impl FnMut(SocketAddr) -> std::io::Result<T>,
) -> Result<Vec<T>> {
    let tolerant = !matches!(spec, ListenSpec::Addr(_));
    let mut out = Vec::new();
    let mut first_err = None;
    for a in addrs {
        match bind(a) {
            Ok(x) => out.push(x),
            Err(e) if tolerant && family_missing(&e) => {
                if verbose > 0 {
                    eprintln!("Skipping {a}: {}", crate::error::describe(&e));
                }
                first_err.get_or_insert((a, e));
            }
            Err(e) => return Err(runtime(format!("{what} {a}"), &e)),
        }
    }
    match (out.is_empty(), first_err) {
        (true, Some((a, e))) => Err(runtime(format!("{what} {a}"), &e)),
        _ => Ok(out),
    }
}

/// The error a machine without this address (or address family) gives.
fn family_missing(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::EAFNOSUPPORT) {
        return true;
    }
    matches!(
        e.kind(),
        ErrorKind::AddrNotAvailable | ErrorKind::Unsupported
    )
}

// ---------------------------------------------------------------- UDP

/// A bound socket.
pub struct BoundUdp {
    pub sock: Rc<UdpSocket>,
    pub local: SocketAddr,
    pub origin: Origin,
}

/// Sockets, initial routes (targets) and multicast groups, before running.
pub struct UdpPlan {
    pub sockets: Vec<BoundUdp>,
    /// (socket index, destination, target index)
    pub initial: Vec<(usize, SocketAddr, usize)>,
    pub listens: bool,
    /// `--udp-flows`: the target each unpaired listener peer gets a flow to.
    pub flow: Option<FlowTarget>,
}

impl UdpPlan {
    /// Resolve and bind everything; fail fast with the address named.
    pub fn new(cfg: &Config) -> Result<UdpPlan> {
        let opts = cfg.sock_opts();
        let uopts = UdpOpts {
            broadcast: cfg.broadcast,
            multicast: cfg.multicast,
            mc_loop: !cfg.mc_no_loop,
        };
        let mut plan = UdpPlan {
            sockets: Vec::new(),
            initial: Vec::new(),
            listens: !cfg.listeners.is_empty(),
            flow: None,
        };
        let mut groups: Vec<IpAddr> = Vec::new();
        let bind = |plan: &mut UdpPlan,
                    want: SocketAddr,
                    origin: Origin,
                    share: bool|
         -> std::io::Result<usize> {
            if share && want.port() != 0 {
                if let Some(i) = plan.sockets.iter().position(|s| s.local == want) {
                    return Ok(i);
                }
            }
            let sock = nudp::bind(want, &opts, &uopts)?;
            let local = sock.local_addr()?;
            // A target's socket hears of ICMP port-unreachable (Linux), so
            // a closed port is said, not silently sent to forever.
            #[cfg(target_os = "linux")]
            if matches!(origin, Origin::Target(_)) {
                let _ = nudp::report_unreachable(&sock, local.is_ipv6());
            }
            match origin {
                Origin::Listener(_) => eprintln!(
                    "Listening on {local}, protocol UDP, family {}",
                    net::family_name(&local)
                ),
                Origin::Target(_) => {
                    eprintln!(
                        "Bound UDP address {local}, family {}",
                        net::family_name(&local)
                    )
                }
            }
            plan.sockets.push(BoundUdp {
                sock: Rc::new(sock),
                local,
                origin,
            });
            Ok(plan.sockets.len() - 1)
        };
        for (idx, spec) in cfg.listeners.iter().enumerate() {
            let mut wants = resolve::listen(spec, cfg.family, cfg.numeric)?;
            let mut mc_groups: Vec<SocketAddr> = Vec::new();
            for a in wants.iter_mut() {
                if cfg.multicast && a.ip().is_multicast() {
                    // Listen on the group's port; the group is joined below.
                    groups.push(a.ip());
                    mc_groups.push(*a);
                    *a = resolve::wildcard(a.is_ipv4(), a.port());
                }
            }
            super::plan::bind_each(spec, wants, cfg.verbose, "bind UDP", |want| {
                let i = bind(&mut plan, want, Origin::Listener(idx), true)?;
                // `--mc -L GROUP:PORT` sends its input to the group too, as
                // the target form does (members hear each other).
                for g in mc_groups
                    .iter()
                    .filter(|g| g.is_ipv4() == want.is_ipv4() && g.port() == want.port())
                {
                    if !plan.initial.iter().any(|(s, d, _)| *s == i && d == g) {
                        plan.initial.push((i, *g, idx));
                    }
                }
                Ok(i)
            })?;
        }
        for (idx, t) in cfg.targets.iter().enumerate() {
            // The first destination (with the TCP planner's source rules).
            let planned = super::plan::plan_target(cfg, t)?;
            let Some(&(dest, src)) = planned.addrs.first() else {
                continue; // plan_target never returns an empty list
            };
            // No source given: the wildcard of its family; multicast
            // listens on the group's port.
            let src = src.unwrap_or_else(|| {
                resolve::wildcard(dest.is_ipv4(), if cfg.multicast { dest.port() } else { 0 })
            });
            if cfg.multicast {
                groups.push(dest.ip());
            }
            if cfg.udp_flows {
                plan.flow = Some(FlowTarget {
                    dest,
                    src: SocketAddr::new(src.ip(), 0),
                    origin: Origin::Target(idx),
                    opts,
                    uopts: uopts.clone(),
                });
            }
            // Each copy of `xN` is its own flow: its own socket, unless the
            // source port is fixed (then the copies share it).
            for copy in 0..t.count {
                let sock = bind(
                    &mut plan,
                    src,
                    Origin::Target(idx),
                    copy == 0 || src.port() != 0,
                )
                .map_err(|e| runtime(format!("bind UDP {src}"), &e))?;
                if !plan
                    .initial
                    .iter()
                    .any(|(s, d, _)| *s == sock && *d == dest)
                {
                    plan.initial.push((sock, dest, idx));
                }
            }
        }
        for g in &groups {
            if !g.is_multicast() {
                return Err(Error::Usage(format!(
                    "'{g}' is not a multicast address (--mc)"
                )));
            }
            let iface = nudp::mc_iface(cfg.mc_if.as_deref(), g.is_ipv4()).map_err(Error::Usage)?;
            for s in plan
                .sockets
                .iter()
                .filter(|s| s.local.is_ipv4() == g.is_ipv4())
            {
                let iface = match (iface, s.local.ip()) {
                    (McIface::Default, IpAddr::V4(a)) if !a.is_unspecified() => McIface::V4(a),
                    (i, _) => i,
                };
                nudp::join(&s.sock, *g, &iface)
                    .map_err(|e| runtime(format!("join multicast group {g} on {}", s.local), &e))?;
                eprintln!("Joining multicast group {} <-> {g}", s.local);
            }
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_sibling_keeps_the_resolved_addresses() {
        let first = crate::addr::parse_target("[fe80::1%2]:20").unwrap();
        let next = crate::addr::parse_target("[fe80::1%2]:21").unwrap();
        let d: SocketAddr = "[fe80::1%2]:20".parse().unwrap();
        let src: SocketAddr = "[::]:0".parse().unwrap();
        let plan = TargetPlan {
            spec: first,
            addrs: vec![(d, Some(src))],
            via: None,
        };
        let p = plan.with_port(&next);
        assert_eq!(p.spec, next);
        assert_eq!(
            p.addrs,
            vec![("[fe80::1%2]:21".parse().unwrap(), Some(src))]
        );
    }
}
