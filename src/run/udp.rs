//! UDP: bound sockets, one route per (socket, peer), peers learned from the
//! datagrams they send and forgotten after `--udp-idle` seconds of silence.
//! Routes live in a map, so a scan or many peers cost O(1) per datagram.

use super::deliver::deliver;
use super::shared::Shared;
use crate::cli::Config;
use crate::error::runtime;
use crate::error::{Error, Result};
use crate::local::pool;
use crate::net::udp::{self as nudp, McIface, UdpOpts};
use crate::net::{self, resolve};
use crate::router::{Origin, RouteId, UNKNOWN};
use async_net::UdpSocket;
use bytes::Bytes;
use smol::channel::{bounded, Receiver};
use smol::Async;
use smol::Timer;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Datagrams queued per peer before the sender waits.
const QUEUE_DEPTH: usize = 8;

/// A bound socket.
pub struct BoundUdp {
    sock: Rc<UdpSocket>,
    local: SocketAddr,
    origin: Origin,
}

/// Sockets, initial routes (targets) and multicast groups, before running.
pub struct UdpPlan {
    sockets: Vec<BoundUdp>,
    /// (socket index, destination, target index)
    initial: Vec<(usize, SocketAddr, usize)>,
    listens: bool,
}

struct Peer {
    id: RouteId,
    last_seen: Instant,
    learned: bool,
}

/// The route map shared by the receive loops, writers and the sweeper.
struct Peers {
    map: RefCell<HashMap<(usize, SocketAddr), Peer>>,
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
            for a in wants.iter_mut() {
                if cfg.multicast && a.ip().is_multicast() {
                    // Listen on the group's port; the group is joined below.
                    groups.push(a.ip());
                    *a = resolve::wildcard(a.is_ipv4(), a.port());
                }
            }
            super::plan::bind_each(spec, wants, cfg.verbose, "bind UDP", |want| {
                bind(&mut plan, want, Origin::Listener(idx), true)
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

/// Start the receive loops, the initial routes and the idle sweeper.
pub fn start(shared: &Rc<Shared>, plan: UdpPlan) {
    let peers = Rc::new(Peers {
        map: RefCell::new(HashMap::new()),
    });
    if plan.listens {
        shared.life.listeners_started();
    }
    let sockets: Rc<Vec<BoundUdp>> = Rc::new(plan.sockets);
    for (sock, dest, _) in &plan.initial {
        add_route(shared, &peers, &sockets, *sock, *dest, false);
    }
    for idx in 0..sockets.len() {
        let (s, p, socks) = (shared.clone(), peers.clone(), sockets.clone());
        shared.spawn(async move { receive(s, p, socks, idx).await });
    }
    let (s, p) = (shared.clone(), peers.clone());
    shared.spawn(async move { sweep(s, p).await });
}

/// Make a route for `peer` on socket `idx`, with its writer.
fn add_route(
    shared: &Rc<Shared>,
    peers: &Rc<Peers>,
    sockets: &Rc<Vec<BoundUdp>>,
    idx: usize,
    peer: SocketAddr,
    learned: bool,
) -> RouteId {
    let s = &sockets[idx];
    let (tx, rx) = bounded::<Bytes>(QUEUE_DEPTH);
    let id = super::registry::register(shared, tx, s.origin, s.local, peer);
    peers.map.borrow_mut().insert(
        (idx, peer),
        Peer {
            id,
            last_seen: Instant::now(),
            learned,
        },
    );
    eprintln!(
        "Associating {}<->{peer}, family {}",
        s.local,
        net::family_name(&peer)
    );
    let (sh, pe, sock) = (shared.clone(), peers.clone(), s.sock.clone());
    shared.spawn(async move {
        let counted = super::registry::WriterCount::new(&sh);
        let failed = write(&sh, id, &sock, peer, rx).await;
        drop(counted);
        if let Err(e) = failed {
            eprintln!("Error forwarding to {peer}: {}", crate::error::describe(&e));
            forget(&sh, &pe, idx, peer);
        }
        sh.changed();
    });
    id
}

async fn write(
    shared: &Shared,
    id: RouteId,
    sock: &UdpSocket,
    peer: SocketAddr,
    rx: Receiver<Bytes>,
) -> io::Result<()> {
    while let Ok(d) = rx.recv().await {
        sock.send_to(&d, peer).await?;
        shared.observer.sent(id, &d);
    }
    Ok(())
}

/// Drop a route (failed send or idle); the peer is learned again if it
/// sends again.
fn forget(shared: &Shared, peers: &Peers, idx: usize, peer: SocketAddr) {
    if let Some(p) = peers.map.borrow_mut().remove(&(idx, peer)) {
        super::registry::unregister(shared, p.id);
        #[cfg(feature = "qos")]
        shared.qos.borrow_mut().forget(p.id);
    }
}

async fn receive(shared: Rc<Shared>, peers: Rc<Peers>, sockets: Rc<Vec<BoundUdp>>, idx: usize) {
    let io: Arc<Async<std::net::UdpSocket>> = (*sockets[idx].sock).clone().into();
    loop {
        let (chunk, peer) = match recv_chunk(&io).await {
            Ok(x) => x,
            // An ICMP unreachable for an earlier send (Windows): not fatal.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => continue,
            Err(e) => {
                eprintln!("Ignoring failed receive on {}: {e}", sockets[idx].local);
                Timer::after(Duration::from_millis(50)).await;
                continue;
            }
        };
        if chunk.is_empty() {
            // An empty datagram carries nothing to print or forward.
            continue;
        }
        if !shared.cfg.acl.permits(peer.ip()) {
            if shared.cfg.verbose > 1 {
                eprintln!("Dropped a datagram from {peer} (--allow/--deny)");
            }
            continue;
        }
        let known = peers.map.borrow_mut().get_mut(&(idx, peer)).map(|p| {
            p.last_seen = Instant::now();
            p.id
        });
        let id = match known {
            Some(id) => id,
            // Multicast: replies go to the group, senders are not learned.
            None if shared.cfg.multicast => UNKNOWN,
            None => add_route(&shared, &peers, &sockets, idx, peer, true),
        };
        shared.observer.received(id, &chunk);
        #[cfg(feature = "qos")]
        let data = &chunk[..];
        #[cfg(feature = "qos")]
        match shared.cfg.input {
            crate::cli::InputMode::PfQosSrv => {
                match crate::qos::answer(data) {
                    Some(reply) => deliver(&shared, id, reply).await,
                    None if shared.cfg.verbose > 0 => {
                        eprintln!("Ignoring a datagram from {peer} that is not a QoS request")
                    }
                    None => {}
                }
                continue;
            }
            crate::cli::InputMode::PfQosCli => {
                if shared.faults.recv_gate().await {
                    let route = format!("{}<->{peer}", sockets[idx].local);
                    let r = shared.qos.borrow_mut().reply(id, &route, data);
                    match r {
                        crate::qos::Reply::Matched(line) => eprintln!("{line}"),
                        crate::qos::Reply::Ignored(why) if shared.cfg.verbose > 0 => {
                            eprintln!("Ignoring a datagram from {peer}: {why}")
                        }
                        crate::qos::Reply::Ignored(_) => {}
                    }
                }
                continue;
            }
            _ => {}
        }
        deliver(&shared, id, chunk).await;
    }
}

/// Receive one datagram into a pooled buffer (no copy, no buffer held
/// while waiting).
async fn recv_chunk(io: &Async<std::net::UdpSocket>) -> io::Result<(Bytes, SocketAddr)> {
    io.read_with(|s| {
        let mut buf = pool::take();
        match s.recv_from(&mut buf) {
            Ok((n, peer)) => Ok((pool::freeze(buf, n), peer)),
            Err(e) => {
                pool::give_back(buf);
                Err(e)
            }
        }
    })
    .await
}

/// `-i pfqoscli`: ping every route each `--stats-time`; the wait comes
/// before each ping. A full queue skips that route's ping rather than
/// shifting the schedule.
#[cfg(feature = "qos")]
pub async fn qos_pinger(shared: Rc<Shared>) {
    loop {
        Timer::after(shared.cfg.stats_time).await;
        let dests = shared.router.borrow().dests(crate::router::LOCAL);
        for (id, tx) in dests.routes {
            let ping = shared.qos.borrow_mut().ping(id);
            if shared.faults.send_drop() {
                continue;
            }
            let _ = tx.try_send(ping);
        }
    }
}

/// Forget learned peers that have been quiet for `--udp-idle`.
async fn sweep(shared: Rc<Shared>, peers: Rc<Peers>) {
    let idle = shared.cfg.udp_idle;
    let every = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    loop {
        Timer::after(every).await;
        let now = Instant::now();
        let stale: Vec<(usize, SocketAddr)> = peers
            .map
            .borrow()
            .iter()
            .filter(|(_, p)| p.learned && now.duration_since(p.last_seen) >= idle)
            .map(|(k, _)| *k)
            .collect();
        for (idx, peer) in stale {
            if shared.cfg.verbose > 0 {
                eprintln!("Forgetting idle peer {peer}");
            }
            forget(&shared, &peers, idx, peer);
        }
    }
}
