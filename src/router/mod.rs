//! The router: which endpoint's data goes where, and when a write side can
//! be closed (half-close bookkeeping).
//!
//! Every route (one connected socket) has a writer fed by a small bounded
//! queue. Readers ask the router for the queues a chunk goes to and wait on
//! each; a full queue makes the reader wait, which is the backpressure that
//! keeps memory flat. The router holds no data itself.

mod channels;

use crate::cli::FwdMode;
use bytes::Bytes;
use smol::channel::Sender;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Identifies a route. 0 is the local endpoint (stdin/stdout).
pub type RouteId = u64;
pub const LOCAL: RouteId = 0;
/// A sender that is not a route (an unlearned multicast sender): its data
/// goes to local output only.
pub const UNKNOWN: RouteId = RouteId::MAX;

/// Which command-line endpoint produced a socket: listener or target
/// number. Channels pair sockets from different origins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Listener(usize),
    Target(usize),
}

/// The state of local input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalInput {
    /// Data may still come (stdin open).
    Live,
    /// Input has ended.
    Ended,
    /// There is no local input (`-i none`, `-i echo`): never sends, never ends.
    Silent,
}

struct Route {
    /// The writer's queue; `None` once the write side is closed.
    tx: Option<Sender<Bytes>>,
    read_open: bool,
    origin: Origin,
    peer: SocketAddr,
    local: SocketAddr,
    partner: Option<RouteId>,
    /// Told when the route gets a channel partner (its reader waits for one).
    pair_signal: Option<Sender<()>>,
}

/// A chunk's destinations.
pub struct Dests {
    pub local: Option<Sender<Bytes>>,
    pub routes: Vec<(RouteId, Sender<Bytes>)>,
}

pub struct Router {
    mode: FwdMode,
    /// `-i echo`: a socket's data also goes back to it.
    echo: bool,
    routes: BTreeMap<RouteId, Route>,
    /// Routes whose `read_open` is true, kept with it: hub mode asks
    /// "does any other socket still talk?" for every route on every event,
    /// and a scan there made closing n clients cost n³.
    open_readers: usize,
    next_id: RouteId,
    local_out: Option<Sender<Bytes>>,
    local_in: LocalInput,
    /// Whether live local input keeps a half-closed peer's route open (not
    /// when stdin is a terminal: a person expects the exit).
    local_keeps_open: bool,
    /// Whether the end of local input closes write sides (FIN).
    shutdown_on_eof: bool,
    verbose: u8,
}

impl Router {
    pub fn new(
        mode: FwdMode,
        echo: bool,
        local_out: Option<Sender<Bytes>>,
        local_in: LocalInput,
        local_keeps_open: bool,
        shutdown_on_eof: bool,
        verbose: u8,
    ) -> Router {
        Router {
            mode,
            echo,
            routes: BTreeMap::new(),
            open_readers: 0,
            next_id: 1,
            local_out,
            local_in,
            local_keeps_open,
            shutdown_on_eof,
            verbose,
        }
    }

    /// Whether a socket's reader must wait for a channel partner before
    /// reading: in channel modes an unpaired socket is not read, so what its
    /// peer sends waits in the kernel until the tunnel exists instead of
    /// being dropped.
    pub fn awaits_partner(&self, id: RouteId) -> bool {
        matches!(self.mode, FwdMode::Channels | FwdMode::LingerChannels)
            && self.routes.get(&id).is_some_and(|r| r.partner.is_none())
    }

    /// Route `id`'s channel partner, if it has one that can still be sent to.
    #[cfg(all(target_os = "linux", feature = "splice"))]
    pub fn partner_of(&self, id: RouteId) -> Option<RouteId> {
        let p = self.routes.get(&id)?.partner?;
        self.routes.get(&p)?.tx.as_ref()?;
        Some(p)
    }

    /// Whether chunks wait in route `id`'s queue.
    #[cfg(all(target_os = "linux", feature = "splice"))]
    pub fn queued_for(&self, id: RouteId) -> bool {
        self.routes
            .get(&id)
            .and_then(|r| r.tx.as_ref())
            .is_some_and(|t| !t.is_empty())
    }

    /// Register the channel that `awaits_partner`'s waiter listens on.
    pub fn on_paired(&mut self, id: RouteId, signal: Sender<()>) {
        if let Some(r) = self.routes.get_mut(&id) {
            r.pair_signal = Some(signal);
        }
    }

    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    pub fn local_input(&self) -> LocalInput {
        self.local_in
    }

    /// Register a connected socket; returns its id. Its writer reads `tx`'s
    /// other end.
    pub fn add(
        &mut self,
        tx: Sender<Bytes>,
        origin: Origin,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> RouteId {
        let id = self.next_id;
        self.next_id += 1;
        self.routes.insert(
            id,
            Route {
                tx: Some(tx),
                read_open: true,
                origin,
                peer,
                local,
                partner: None,
                pair_signal: None,
            },
        );
        self.open_readers += 1;
        if matches!(self.mode, FwdMode::Channels | FwdMode::LingerChannels) {
            self.pair(id);
        }
        // Input already over: this socket gets its FIN at once.
        self.update_write_side(id);
        id
    }

    /// Where a chunk from `from` goes.
    pub fn dests(&self, from: RouteId) -> Dests {
        let mut routes = Vec::new();
        if from == LOCAL {
            routes.extend(
                self.routes
                    .iter()
                    .filter_map(|(id, r)| r.tx.clone().map(|t| (*id, t))),
            );
            return Dests {
                local: None,
                routes,
            };
        }
        let Some(src) = self.routes.get(&from) else {
            // Not a route (an unlearned multicast sender): local output only.
            return Dests {
                local: self.local_out.clone(),
                routes,
            };
        };
        let mut push = |id: RouteId| {
            if let Some(t) = self.routes.get(&id).and_then(|r| r.tx.clone()) {
                routes.push((id, t));
            }
        };
        if self.echo {
            push(from);
        }
        match self.mode {
            FwdMode::None => {}
            FwdMode::Hub => {
                for id in self.routes.keys().copied().filter(|id| *id != from) {
                    push(id);
                }
            }
            FwdMode::Channels | FwdMode::LingerChannels => {
                if let Some(p) = src.partner {
                    push(p);
                }
            }
        }
        Dests {
            local: self.local_out.clone(),
            routes,
        }
    }

    /// Can anything still send to route `id`? `live_only` counts only sources
    /// that will really send (used to decide whether a route whose peer has
    /// finished sending must stay open).
    fn has_source(&self, id: RouteId, live_only: bool) -> bool {
        let Some(r) = self.routes.get(&id) else {
            return false;
        };
        if self.echo && r.read_open {
            return true;
        }
        match self.mode {
            FwdMode::None => {}
            FwdMode::Hub => {
                // While this socket still talks, others may join and answer.
                let others_open = self.open_readers - usize::from(r.read_open);
                if (!live_only && r.read_open) || others_open > 0 {
                    return true;
                }
            }
            FwdMode::Channels | FwdMode::LingerChannels => {
                if let Some(decided) = self.channel_source(r, live_only) {
                    return decided;
                }
            }
        }
        match self.local_in {
            LocalInput::Live => !live_only || self.local_keeps_open,
            LocalInput::Silent => !live_only,
            LocalInput::Ended => !self.shutdown_on_eof && !live_only,
        }
    }

    /// Close route `id`'s write side (FIN once its queue drains) when nothing
    /// can send to it any more, and drop the whole route when its peer has
    /// also finished and nothing live feeds it.
    fn update_write_side(&mut self, id: RouteId) {
        let close = match self.routes.get(&id) {
            Some(r) if r.tx.is_some() => {
                !self.has_source(id, false) || (!r.read_open && !self.has_source(id, true))
            }
            _ => false,
        };
        if close {
            if let Some(r) = self.routes.get_mut(&id) {
                if self.verbose > 1 {
                    eprintln!("Closing the sending side of {}<->{}", r.local, r.peer);
                }
                r.tx = None;
            }
        }
    }

    fn update_all(&mut self) {
        let ids: Vec<RouteId> = self.routes.keys().copied().collect();
        for id in ids {
            self.update_write_side(id);
        }
    }

    /// Local input has ended.
    pub fn local_ended(&mut self) {
        self.local_in = LocalInput::Ended;
        self.update_all();
    }

    /// The peer of `id` has finished sending (EOF or error).
    pub fn read_ended(&mut self, id: RouteId, failed: bool) {
        if let Some(r) = self.routes.get_mut(&id) {
            if r.read_open {
                self.open_readers -= 1;
            }
            r.read_open = false;
            if failed {
                r.tx = None;
            }
        }
        self.channel_peer_gone(id);
        if self.mode == FwdMode::LingerChannels {
            self.release_partner(id);
        }
        self.update_all();
    }

    /// Writing to `id` failed: stop sending to it.
    pub fn write_failed(&mut self, id: RouteId) {
        if let Some(r) = self.routes.get_mut(&id) {
            r.tx = None;
        }
        self.update_all();
    }

    /// The route's socket is closed: forget it.
    pub fn remove(&mut self, id: RouteId) {
        if let Some(r) = self.routes.remove(&id) {
            if r.read_open {
                self.open_readers -= 1;
            }
            if let Some(p) = r.partner {
                if let Some(pr) = self.routes.get_mut(&p) {
                    pr.partner = None;
                }
                // A lingering partner may pair again.
                if self.mode == FwdMode::LingerChannels {
                    self.pair(p);
                }
            }
        }
        self.update_all();
    }

    /// Local output is gone (stdout closed).
    pub fn local_output_closed(&mut self) {
        self.local_out = None;
    }
}
