//! UDP: bound sockets, one route per (socket, peer), peers learned from the
//! datagrams they send and forgotten after `--udp-idle` seconds of silence.
//! Routes live in a map, so a scan or many peers cost O(1) per datagram.
//! `--udp-peers` caps the learned peers, so a flood of source addresses
//! costs bounded memory (and, with `--udp-flows`, bounded descriptors).
//!
//! Exit code: a send that fails ends its route and counts as a runtime
//! failure (exit 1), whether the route is a target or a learned peer, as a
//! TCP connection that ends with an error does.

use super::conn::Conn;
use super::plan::{BoundUdp, UdpPlan};
use super::routes::deliver;
use super::shared::Shared;
use super::udp_flows::{self as flows, Flow, FlowEvent, FlowTarget};
use super::udp_io::{write, Datagrams, QUEUE_DEPTH};
use crate::net;
use crate::router::{Origin, RouteId, UNKNOWN};
use bytes::Bytes;
use smol::channel::bounded;
use smol::Async;
use smol::Timer;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Peer {
    id: RouteId,
    last_seen: Instant,
    learned: bool,
    /// `--udp-flows`: this peer's own socket to the target.
    flow: Option<Flow>,
}

/// The route map shared by the receive loops, writers and the sweeper.
struct Peers {
    map: RefCell<HashMap<(usize, SocketAddr), Peer>>,
    /// Learned peers in `map` (checked against `--udp-peers`).
    learned: Cell<usize>,
    /// Datagrams dropped because `--udp-peers` was reached (said with -v).
    over_cap: RateNote,
    /// Flows that could not be opened (always said).
    flow_failed: RateNote,
    /// ICMP port-unreachable answers to our datagrams (always said).
    unreachable: RateNote,
    flow: Option<FlowTarget>,
}

/// A message said at most once a second, with how often it happened since
/// it was last said: a flood cannot flood stderr.
#[derive(Default)]
struct RateNote {
    count: Cell<u64>,
    said: Cell<Option<Instant>>,
}

impl RateNote {
    fn hit(&self, say: impl FnOnce(u64)) {
        self.count.set(self.count.get() + 1);
        self.flush(say);
    }

    /// Say what has been counted, unless said less than a second ago.
    fn flush(&self, say: impl FnOnce(u64)) {
        let due = self
            .said
            .get()
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if self.count.get() > 0 && due {
            say(self.count.replace(0));
            self.said.set(Some(Instant::now()));
        }
    }
}

/// Start the receive loops, the initial routes and the idle sweeper.
pub fn start(shared: &Rc<Shared>, plan: UdpPlan) {
    let peers = Rc::new(Peers {
        map: RefCell::new(HashMap::new()),
        learned: Cell::new(0),
        over_cap: RateNote::default(),
        flow_failed: RateNote::default(),
        unreachable: RateNote::default(),
        flow: plan.flow,
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
    let id = super::routes::register(
        shared,
        tx,
        s.origin,
        s.local,
        peer,
        Conn::new(format!("{}<->{peer}", s.local)),
    );
    peers.map.borrow_mut().insert(
        (idx, peer),
        Peer {
            id,
            last_seen: Instant::now(),
            learned,
            flow: None,
        },
    );
    if learned {
        peers.learned.set(peers.learned.get() + 1);
    }
    eprintln!(
        "Associating {}<->{peer}, family {}",
        s.local,
        net::family_name(&peer)
    );
    let (sh, pe, sock) = (shared.clone(), peers.clone(), s.sock.clone());
    shared.spawn(async move {
        let counted = super::routes::WriterCount::new(&sh);
        let failed = write(&sh, id, &sock, peer, rx).await;
        drop(counted);
        if let Err(e) = failed {
            eprintln!("Error forwarding to {peer}: {}", crate::error::describe(&e));
            sh.fail();
            forget(&sh, &pe, idx, peer);
        }
        sh.changed();
    });
    id
}

/// Drop a route (failed send or idle); the peer is learned again if it
/// sends again.
fn forget(shared: &Shared, peers: &Peers, idx: usize, peer: SocketAddr) {
    let gone = peers.map.borrow_mut().remove(&(idx, peer));
    if let Some(p) = gone {
        if p.learned {
            peers.learned.set(peers.learned.get() - 1);
        }
        if let Some(f) = p.flow {
            flows::close(shared, f);
        }
        super::routes::unregister(shared, p.id);
        #[cfg(feature = "qos")]
        shared.qos.borrow_mut().forget(p.id);
    }
}

/// A learned peer is over `--udp-peers`: drop its datagram (said with -v,
/// at most once a second).
fn over_cap(shared: &Shared, peers: &Peers) {
    if shared.cfg.verbose > 0 {
        peers.over_cap.hit(|n| say_over_cap(shared, n));
    }
}

fn say_over_cap(shared: &Shared, n: u64) {
    eprintln!(
        "Dropped {n} datagram(s) from new peers: {} peers already (--udp-peers)",
        shared.cfg.udp_peers
    );
}

/// `--udp-flows`: give the new listener peer `key` (route `id`) its own
/// flow to the target when the router found it no partner. Returns false
/// when the peer had to be dropped (no flow could be opened).
fn give_flow(
    shared: &Rc<Shared>,
    peers: &Rc<Peers>,
    key: (usize, SocketAddr),
    id: RouteId,
) -> bool {
    let Some(t) = &peers.flow else {
        return true;
    };
    if !shared.router.borrow().awaits_partner(id) {
        return true; // paired with a free target route (the first peer)
    }
    let (sh, pe) = (shared.clone(), Rc::downgrade(peers));
    let on = move |ev| on_flow_event(&sh, &pe, key, ev);
    match flows::open(shared, t, key.1, on) {
        Ok(flow) => {
            if let Some(p) = peers.map.borrow_mut().get_mut(&key) {
                p.flow = Some(flow);
            }
            true
        }
        Err(e) => {
            peers.flow_failed.hit(|n| {
                eprintln!(
                    "Dropped {n} new peer(s), the last {}: cannot open a flow to {}: {}",
                    key.1,
                    t.dest,
                    crate::error::describe(&e)
                )
            });
            forget(shared, peers, key.0, key.1);
            false
        }
    }
}

fn on_flow_event(shared: &Shared, peers: &Weak<Peers>, key: (usize, SocketAddr), ev: FlowEvent) {
    let Some(peers) = peers.upgrade() else {
        return;
    };
    match ev {
        // Replies keep a flow alive as the peer's datagrams do.
        FlowEvent::Reply => {
            if let Some(p) = peers.map.borrow_mut().get_mut(&key) {
                p.last_seen = Instant::now();
            }
        }
        FlowEvent::Failed => forget(shared, &peers, key.0, key.1),
    }
}

async fn receive(shared: Rc<Shared>, peers: Rc<Peers>, sockets: Rc<Vec<BoundUdp>>, idx: usize) {
    let io: Arc<Async<std::net::UdpSocket>> = (*sockets[idx].sock).clone().into();
    // Target sockets report ICMP errors (plan.rs, Linux).
    let icmp = cfg!(target_os = "linux") && matches!(sockets[idx].origin, Origin::Target(_));
    let mut inbox = Datagrams::new(io, icmp);
    // The run's only target, when it is the only thing it talks to: a
    // refusal from it can end the run (lifecycle.rs).
    let cfg = &shared.cfg;
    let only_target = cfg.targets.len() == 1
        && cfg.listeners.is_empty()
        && !cfg.multicast
        && shared.router.borrow().conns().count() == 1;
    loop {
        let (chunk, peer) = match inbox.next().await {
            Ok(x) => {
                if only_target {
                    shared.life.unreachable(false);
                }
                x
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                let refused = inbox.take_refused();
                if let Some(last) = refused.last() {
                    let n = refused.len() as u64;
                    peers
                        .unreachable
                        .count
                        .set(peers.unreachable.count.get() + n - 1);
                    peers.unreachable.hit(|n| {
                        eprintln!(
                            "UDP: {last} is unreachable (ICMP port unreachable: connection refused; {n} datagram(s))"
                        )
                    });
                    if only_target {
                        shared.life.unreachable(true);
                    }
                }
                continue;
            }
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
            // --udp-flows: a target socket hears its target only, so no
            // stranger can become a listener peer's partner.
            None if peers.flow.is_some() && matches!(sockets[idx].origin, Origin::Target(_)) => {
                if shared.cfg.verbose > 1 {
                    eprintln!("Dropped a datagram from {peer} (not the target; --udp-flows)");
                }
                continue;
            }
            None if peers.learned.get() >= shared.cfg.udp_peers => {
                over_cap(&shared, &peers);
                continue;
            }
            None => {
                let id = add_route(&shared, &peers, &sockets, idx, peer, true);
                let listener = matches!(sockets[idx].origin, Origin::Listener(_));
                if listener && !give_flow(&shared, &peers, (idx, peer), id) {
                    continue;
                }
                id
            }
        };
        shared.received(id, &chunk);
        #[cfg(feature = "qos")]
        let data = &chunk[..];
        #[cfg(feature = "qos")]
        match shared.cfg.input {
            crate::local::InputMode::PfQosSrv => {
                match crate::qos::answer(data) {
                    Some(reply) => deliver(&shared, id, reply).await,
                    None if shared.cfg.verbose > 0 => {
                        eprintln!("Ignoring a datagram from {peer} that is not a QoS request")
                    }
                    None => {}
                }
                continue;
            }
            crate::local::InputMode::PfQosCli => {
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
        for (n, (idx, peer)) in stale.into_iter().enumerate() {
            // It may have spoken (or gone) while this loop yielded.
            let idle_still = peers
                .map
                .borrow()
                .get(&(idx, peer))
                .is_some_and(|p| p.last_seen.elapsed() >= idle);
            if !idle_still {
                continue;
            }
            if shared.cfg.verbose > 0 {
                eprintln!("Forgetting idle peer {peer}");
            }
            forget(&shared, &peers, idx, peer);
            // Many at once (after a flood): let traffic through meanwhile.
            if n % 64 == 63 {
                futures_lite::future::yield_now().await;
            }
        }
        // What the rate limit held back when the flood stopped.
        if shared.cfg.verbose > 0 {
            peers.over_cap.flush(|n| say_over_cap(&shared, n));
        }
        if let Some(t) = &peers.flow {
            peers
                .flow_failed
                .flush(|n| eprintln!("Dropped {n} new peer(s): cannot open a flow to {}", t.dest));
        }
    }
}
