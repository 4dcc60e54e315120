//! The router: which endpoint's data goes where, and when a write side can
//! be closed (half-close bookkeeping).
//!
//! Every route (one connected socket) has a writer fed by a small bounded
//! queue. Readers ask the router for the queues a chunk goes to and wait on
//! each; a full queue makes the reader wait, which is the backpressure that
//! keeps memory flat. The router holds no data itself.
//!
//! Each route's entry also carries the connection's own state (`C`: for a
//! run, `run::conn::Conn`: socket, writer state, abort handle, child,
//! label, counters), so a connection is one value in one map and leaving
//! is one `remove`. The rules here never look inside it.

mod channels;
pub mod map;

use bytes::Bytes;
use smol::channel::Sender;
use std::net::SocketAddr;
use std::time::Instant;

/// How the router forwards data between endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FwdMode {
    /// Local input to every socket; every socket to local output.
    #[default]
    None,
    /// Also every socket to every other socket.
    Hub,
    /// Sockets paired into two-way tunnels.
    Channels,
    /// Like channels, but a partner stays open when its peer leaves.
    LingerChannels,
}

/// How a route's address prints. A UNIX socket's route has no address and
/// carries `0.0.0.0:0` (never a real socket's: see run/tcp's `Ends::unix`).
pub(crate) struct Shown(pub SocketAddr);

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.ip().is_unspecified() && self.0.port() == 0 {
            f.write_str("unix")
        } else {
            self.0.fmt(f)
        }
    }
}

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
    /// Data may still come (stdin open), and came recently.
    Live,
    /// Still open, but it has sent nothing for the close grace: it no
    /// longer keeps a half-closed peer's connection open.
    Quiet,
    /// Input has ended.
    Ended,
    /// There is no local input (`-i none`, `-i echo`): never sends, never ends.
    Silent,
}

struct Route<C> {
    /// The connection's own state (not looked at here).
    conn: C,
    /// The writer's queue; `None` once the write side is closed.
    tx: Option<Sender<Bytes>>,
    read_open: bool,
    origin: Origin,
    peer: SocketAddr,
    local: SocketAddr,
    partner: Option<RouteId>,
    /// Told when the route gets a channel partner (its reader waits for one).
    pair_signal: Option<Sender<()>>,
    /// Local input has sent it bytes (it gets the end-of-input FIN).
    fed: bool,
}

/// Which sockets get a FIN when local input ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EofFin {
    /// Those that local input sent bytes to (the default): a receiver whose
    /// input is empty (`< /dev/null`) does not end its sender's session.
    Fed,
    /// Every socket (`-N`, `--exit-after-input`).
    All,
    /// None (`--no-shutdown`).
    Never,
}

/// How a router is set up.
pub struct Options {
    pub mode: FwdMode,
    /// `-i echo`: a socket's data also goes back to it.
    pub echo: bool,
    /// Where received data goes (stdout, or a shared `-e` child's stdin).
    pub local_out: Option<Sender<Bytes>>,
    pub local_in: LocalInput,
    /// Whether recent local input keeps a half-closed peer's route open
    /// (not when stdin is a terminal: a person expects the exit).
    pub local_keeps_open: bool,
    pub eof_fin: EofFin,
    /// Local input is what local output feeds (a shared `-e` child): once
    /// no socket can send it more, its stdin is closed, and it has the close
    /// grace from then to answer.
    pub local_loop: bool,
    pub verbose: u8,
}

/// A chunk's destinations.
pub struct Dests {
    pub local: Option<Sender<Bytes>>,
    pub routes: Vec<(RouteId, Sender<Bytes>)>,
}

pub struct Router<C> {
    mode: FwdMode,
    echo: bool,
    routes: map::RouteMap<Route<C>>,
    /// Routes whose `read_open` is true, kept with it: hub mode asks
    /// "does any other socket still talk?" for every route on every event,
    /// and a scan there made closing n clients cost n³.
    open_readers: usize,
    next_id: RouteId,
    local_out: Option<Sender<Bytes>>,
    local_in: LocalInput,
    local_keeps_open: bool,
    eof_fin: EofFin,
    local_loop: bool,
    /// No listener or dial can bring another route.
    no_more_routes: bool,
    /// When a shared `-e` child's stdin was closed.
    feed_closed_at: Option<Instant>,
    verbose: u8,
}

impl<C> Router<C> {
    pub fn new(o: Options) -> Router<C> {
        Router {
            mode: o.mode,
            echo: o.echo,
            routes: map::RouteMap::new(),
            open_readers: 0,
            next_id: 1,
            local_out: o.local_out,
            local_in: o.local_in,
            local_keeps_open: o.local_keeps_open,
            eof_fin: o.eof_fin,
            local_loop: o.local_loop,
            no_more_routes: false,
            feed_closed_at: None,
            verbose: o.verbose,
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

    /// Route `id`'s connection state.
    pub fn conn(&self, id: RouteId) -> Option<&C> {
        self.routes.get(&id).map(|r| &r.conn)
    }

    pub fn conn_mut(&mut self, id: RouteId) -> Option<&mut C> {
        self.routes.get_mut(&id).map(|r| &mut r.conn)
    }

    /// Every route's connection state, in id order.
    #[cfg_attr(not(any(feature = "stats", feature = "exec")), allow(dead_code))]
    pub fn conns(&self) -> impl Iterator<Item = (RouteId, &C)> {
        self.routes.iter().map(|(id, r)| (*id, &r.conn))
    }

    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    pub fn local_input(&self) -> LocalInput {
        self.local_in
    }

    /// Register a connected socket with its state; returns its id. Its
    /// writer reads `tx`'s other end.
    pub fn add(
        &mut self,
        tx: Sender<Bytes>,
        origin: Origin,
        local: SocketAddr,
        peer: SocketAddr,
        conn: C,
    ) -> RouteId {
        let id = self.next_id;
        self.next_id += 1;
        self.routes.insert(
            id,
            Route {
                conn,
                tx: Some(tx),
                read_open: true,
                origin,
                peer,
                local,
                partner: None,
                pair_signal: None,
                fed: false,
            },
        );
        self.open_readers += 1;
        if matches!(self.mode, FwdMode::Channels | FwdMode::LingerChannels) {
            self.pair(id);
        }
        // Input already over: with `-N` this socket gets its FIN at once.
        self.update_write_side(id);
        id
    }

    /// Local input sent route `id` a chunk.
    pub fn fed(&mut self, id: RouteId) {
        if let Some(r) = self.routes.get_mut(&id) {
            r.fed = true;
        }
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
            LocalInput::Quiet => !live_only,
            LocalInput::Silent => !live_only,
            // Ended: the write side stays open (no FIN) unless the rule
            // says this socket gets one.
            LocalInput::Ended => {
                !live_only
                    && match self.eof_fin {
                        EofFin::All => false,
                        // A shared `-e` child that ended sends nobody
                        // anything more: later sockets get their FIN too.
                        EofFin::Fed => !r.fed && !self.local_loop,
                        EofFin::Never => true,
                    }
            }
        }
    }

    /// When a shared `-e` child's stdin was closed: its quiet time (the
    /// close grace) counts from then at the earliest, so it has that long
    /// to answer what it was sent.
    pub fn quiet_floor(&self) -> Option<Instant> {
        self.feed_closed_at
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
                    eprintln!(
                        "Closing the sending side of {}<->{}",
                        Shown(r.local),
                        Shown(r.peer)
                    );
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
        self.update_child_feed();
    }

    /// After route `id` (and `partner`, its channel partner before the
    /// event) changed: only the routes whose sources can have changed are
    /// looked at, so n closes cost O(n), not O(n²). In hub mode every route
    /// depends on whether any *other* socket still talks, which changes
    /// only when this event made the open readers drop to one or none.
    fn update_after(&mut self, id: RouteId, partner: Option<RouteId>, readers_before: usize) {
        if self.mode == FwdMode::Hub
            && self.open_readers <= 1
            && self.open_readers != readers_before
        {
            return self.update_all();
        }
        self.update_write_side(id);
        if let Some(p) = partner {
            self.update_write_side(p);
        }
        self.update_child_feed();
    }

    /// A shared `-e` child: once no socket can send it anything more (every
    /// reader has ended and no new route can come), close its stdin.
    fn update_child_feed(&mut self) {
        if self.local_loop
            && self.no_more_routes
            && self.open_readers == 0
            && self.local_out.is_some()
        {
            if self.verbose > 0 {
                eprintln!("No socket can send more: closing the command's stdin");
            }
            self.local_out = None;
            self.feed_closed_at = Some(Instant::now());
            // Its answer is still to come: not quiet yet.
            if self.local_in == LocalInput::Quiet {
                self.local_in = LocalInput::Live;
            }
        }
    }

    /// Local input has ended.
    pub fn local_ended(&mut self) {
        self.local_in = LocalInput::Ended;
        self.update_all();
    }

    /// Local input is open but sent nothing for the close grace (`true`),
    /// or it sends again (`false`).
    pub fn local_quiet(&mut self, quiet: bool) {
        match (self.local_in, quiet) {
            (LocalInput::Live, true) => {
                self.local_in = LocalInput::Quiet;
                self.update_all();
            }
            (LocalInput::Quiet, false) => self.local_in = LocalInput::Live,
            _ => {}
        }
    }

    /// `--exit-after-input`: the end of input is a FIN for every socket.
    pub fn fin_every_socket(&mut self) {
        self.eof_fin = EofFin::All;
    }

    /// No listener or dial can bring another route.
    pub fn no_more_routes(&mut self) {
        self.no_more_routes = true;
        self.update_child_feed();
    }

    /// The peer of `id` has finished sending (EOF or error).
    pub fn read_ended(&mut self, id: RouteId, failed: bool) {
        let readers_before = self.open_readers;
        let mut partner = None;
        if let Some(r) = self.routes.get_mut(&id) {
            if r.read_open {
                self.open_readers -= 1;
            }
            r.read_open = false;
            if failed {
                r.tx = None;
            }
            partner = r.partner;
        }
        self.channel_peer_gone(id);
        if self.mode == FwdMode::LingerChannels {
            self.release_partner(id);
        }
        self.update_after(id, partner, readers_before);
    }

    /// Writing to `id` failed: stop sending to it.
    pub fn write_failed(&mut self, id: RouteId) {
        let mut partner = None;
        if let Some(r) = self.routes.get_mut(&id) {
            r.tx = None;
            partner = r.partner;
        }
        self.update_after(id, partner, self.open_readers);
    }

    /// The route's socket is closed: forget it; its state is handed back.
    pub fn remove(&mut self, id: RouteId) -> Option<C> {
        let readers_before = self.open_readers;
        let mut partner = None;
        let gone = self.routes.remove(&id);
        if let Some(r) = &gone {
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
            partner = r.partner;
        }
        self.update_after(id, partner, readers_before);
        gone.map(|r| r.conn)
    }

    /// Local output is gone (stdout closed).
    pub fn local_output_closed(&mut self) {
        self.local_out = None;
    }
}

#[cfg(test)]
mod tests;
