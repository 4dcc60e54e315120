//! Accepting inbound connections, within the `-m` limit.
//!
//! Over the limit, netcrab stops accepting but keeps its listeners open:
//! further clients wait in the kernel's backlog until a slot frees (the
//! original closed and re-bound its listeners, which failed with
//! EADDRINUSE: W9, W31).

use super::plan::{BoundListener, Listener};
use super::shared::Shared;
use super::tcp::{self, Ends};
use crate::net;
use crate::net::stream::Stream;
use crate::router::Origin;
use smol::lock::Semaphore;
use std::io;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;

/// One accepted client, of either kind.
struct Accepted {
    stream: Stream,
    ends: Ends,
    /// For `--allow`/`--deny` (a UNIX client has none).
    ip: Option<IpAddr>,
    /// The "Accepted connection ..." line.
    line: String,
}

impl Listener {
    /// Until a client waits to be accepted.
    async fn readable(&self) -> io::Result<()> {
        match self {
            Listener::Tcp(l, _) => {
                let io: Arc<smol::Async<std::net::TcpListener>> = l.clone().into();
                io.readable().await
            }
            #[cfg(feature = "unix")]
            Listener::Unix(l, _) => l.readable().await,
        }
    }

    /// `n`: this listener's count of accepted clients, naming a UNIX one.
    #[cfg_attr(not(feature = "unix"), allow(unused_variables))]
    async fn accept(&self, n: usize) -> io::Result<Accepted> {
        match self {
            Listener::Tcp(l, bound) => {
                let (stream, peer) = l.accept().await?;
                let local = stream.local_addr().unwrap_or(*bound);
                Ok(Accepted {
                    stream: Stream::Tcp(stream),
                    ends: Ends::inet(local, peer),
                    ip: Some(peer.ip()),
                    line: format!(
                        "Accepted connection from {peer}, protocol TCP, family {}",
                        net::family_name(&peer)
                    ),
                })
            }
            #[cfg(feature = "unix")]
            Listener::Unix(l, _) => {
                let (stream, peer) = l.accept().await?;
                let name = self.name();
                let from = match peer {
                    Some(p) => format!("unix:{}", p.display()),
                    None => format!("client #{n}"),
                };
                Ok(Accepted {
                    stream: Stream::Unix(stream),
                    ends: Ends::unix(format!("{name}<->{from}")),
                    ip: None,
                    line: format!(
                        "Accepted connection on {name} from {from}, protocol UNIX stream"
                    ),
                })
            }
        }
    }
}

/// Start one accept loop per bound listener. The tasks are returned so the
/// supervisor can close the listeners once `-l` has its clients.
pub fn start(shared: &Rc<Shared>, listeners: Vec<BoundListener>) -> Vec<smol::Task<()>> {
    if listeners.is_empty() {
        return Vec::new();
    }
    shared.life.listeners_started();
    let max = shared.cfg.max_inbound;
    let slots = (max > 0).then(|| Arc::new(Semaphore::new(max)));
    // -l: this many clients in all, then stop listening.
    let quota = (!shared.cfg.keep_listening).then_some(max);
    let accepted = Rc::new(std::cell::Cell::new(0usize));
    if let Some(t) = shared.cfg.connect_timeout.filter(|_| quota.is_some()) {
        let s = shared.clone();
        let acc = accepted.clone();
        shared.spawn(async move {
            smol::Timer::after(t).await;
            if acc.get() == 0 && s.life.listening() {
                eprintln!(
                    "netcrab: no connection within {}s (-w)",
                    crate::decimal::secs_fixed(t, 1)
                );
                s.fail();
                s.listeners_stopped();
            }
        });
    }
    listeners
        .into_iter()
        .filter_map(|l| {
            let s = shared.clone();
            let slots = slots.clone();
            let accepted = accepted.clone();
            shared.spawn_task(async move {
                accept_loop(s, l, slots, quota, accepted).await;
            })
        })
        .collect()
}

async fn accept_loop(
    shared: Rc<Shared>,
    l: BoundListener,
    slots: Option<Arc<Semaphore>>,
    quota: Option<usize>,
    accepted: Rc<std::cell::Cell<usize>>,
) {
    let name = l.socket.name();
    let mut seen = 0usize;
    loop {
        // A free -m slot is taken only once a client waits on this
        // listener: a loop that held the slot while waiting in accept would
        // starve a client of another listener (`*:P`: an IPv6 client after
        // an IPv4 one was never served).
        if slots.is_some() {
            let _ = l.socket.readable().await;
        }
        let permit = match &slots {
            Some(s) => Some(s.acquire_arc().await),
            None => None,
        };
        if quota.is_some_and(|q| accepted.get() >= q) {
            return;
        }
        let Accepted {
            stream,
            ends,
            ip,
            line,
        } = match l.socket.accept(seen + 1).await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors or a client that vanished: keep serving.
                eprintln!("netcrab: accept on {name}: {}", crate::error::describe(&e));
                smol::Timer::after(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        seen += 1;
        if ip.is_some_and(|ip| !shared.cfg.acl.permits(ip)) {
            // Closed at once; it does not count against -m or -l's quota.
            if shared.cfg.verbose > 0 {
                eprintln!("Refused connection from {} (--allow/--deny)", ends.peer);
            }
            drop(stream);
            continue;
        }
        accepted.set(accepted.get() + 1);
        let quota_reached = quota.is_some_and(|q| accepted.get() >= q);
        let accepted_line = move || eprintln!("{line}");
        if shared.cfg.zero_io {
            // -z: accept and close at once.
            accepted_line();
            drop(stream);
            // -l: the first connection that ends ends the listening (0.11).
            if quota.is_some() {
                shared.listeners_stopped();
            }
            continue;
        }
        // Announced in the same step as the route joins the router, so a
        // client announced as accepted never misses data sent after the
        // announcement; and -l's listener stops only once its last route is
        // in, so the end-of-run rule never sees a gap between them.
        accepted_line();
        let opened = tcp::open(&shared, stream, Origin::Listener(l.origin), &ends);
        let label = ends.label;
        if quota_reached {
            shared.listeners_stopped();
        }
        let s = shared.clone();
        let one_shot = quota.is_some();
        shared.spawn(async move {
            let ended = tcp::serve(s.clone(), opened).await;
            match ended.error {
                None => eprintln!("Connection {label} closed gracefully."),
                Some(e) => {
                    eprintln!(
                        "Connection {label} closed with result: {}",
                        crate::error::describe(&e)
                    );
                    s.fail();
                }
            }
            // -l takes no new client once one of its connections has ended,
            // even when -m, several addresses or a hub would allow more: the
            // run then ends with its last open connection (0.11's rule;
            // `-L` keeps accepting).
            if one_shot && s.life.listening() {
                s.listeners_stopped();
            }
            drop(permit);
        });
    }
}
