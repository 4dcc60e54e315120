//! Outbound connections: try each resolved address, report, serve, and
//! reconnect with back-off when asked (`-r`, `-R`).

use super::plan::TargetPlan;
use super::shared::Shared;
use super::tcp;
use crate::net;
use crate::router::Origin;
use smol::Timer;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Start one connection task per copy (`xN`) of a target. Targets connect
/// at the same time; the copies of one target connect one after another
/// (each starts once the one before has had its first try), so their order
/// is the order the server accepts them in, and channel pairing in order
/// (a relay in front of a server that expects its connections in turn) is
/// deterministic.
pub fn start(shared: &Rc<Shared>, idx: usize, plan: TargetPlan) {
    let plan = Rc::new(plan);
    let mut previous: Option<smol::channel::Receiver<()>> = None;
    for _ in 0..plan.spec.count {
        shared.life.dial_started();
        let (tried_tx, tried_rx) = smol::channel::bounded::<()>(1);
        let wait_for = previous.replace(tried_rx);
        let s = shared.clone();
        let p = plan.clone();
        shared.spawn(async move {
            if let Some(rx) = wait_for {
                // Closed (not sent) when the previous copy has tried.
                let _ = rx.recv().await;
            }
            dial_loop(&s, idx, &p, tried_tx).await;
            s.dial_ended();
        });
    }
}

async fn dial_loop(
    shared: &Rc<Shared>,
    idx: usize,
    plan: &TargetPlan,
    tried: smol::channel::Sender<()>,
) {
    let mut tried = Some(tried);
    let cfg = &shared.cfg;
    let mut backoff = BACKOFF_START;
    let mut reconnecting = false;
    loop {
        let attempt = connect_any(shared, plan).await;
        // `tried` is still held only before the first attempt has ended.
        if let Some(first) = tried.take() {
            shared.life.first_dial_done();
            shared.route_added.notify();
            // Let the next copy of this target go.
            drop(first);
        }
        let (stream, dest) = match attempt {
            Ok(s) => s,
            Err(e) => {
                if cfg.reconnect_on_error && !shared.life.stopping() {
                    if cfg.verbose > 0 || !reconnecting {
                        eprintln!("Retrying {} in {} ms", plan.spec.dest, backoff.as_millis());
                    }
                    reconnecting = true;
                    if !pause(shared, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
                if reconnecting {
                    // -r after a graceful session: that target is given up,
                    // and the run's exit code is the last session's (0), as
                    // in 0.11. (-R would have retried above.)
                    eprintln!(
                        "Failed to reconnect to {}: {}",
                        plan.spec.dest,
                        crate::error::describe(&e)
                    );
                    return;
                }
                if cfg.zero_io {
                    let state = match e.kind() {
                        io::ErrorKind::TimedOut => "timeout",
                        io::ErrorKind::ConnectionRefused => "closed",
                        _ => "failed",
                    };
                    eprintln!(
                        "{} {state} ({})",
                        plan.spec.dest,
                        crate::error::describe(&e)
                    );
                } else {
                    eprintln!(
                        "netcrab: connect to {}: {}",
                        plan.spec.dest,
                        crate::error::describe(&e)
                    );
                }
                shared.fail();
                return;
            }
        };
        backoff = BACKOFF_START;
        // A peer that resets at once can make these fail; the route then
        // ends with that reset, under the usual reconnect rules.
        let peer = stream.peer_addr().unwrap_or(dest);
        let local = stream
            .local_addr()
            .unwrap_or_else(|_| net::resolve::wildcard(dest.is_ipv4(), 0));
        eprintln!(
            "Connected from {local} to {peer}, protocol TCP, family {}",
            net::family_name(&peer)
        );
        if cfg.zero_io {
            eprintln!("{} open", plan.spec.dest);
            return;
        }
        let opened = tcp::open(shared, stream, Origin::Target(idx), local, peer);
        let ended = tcp::serve(shared.clone(), opened).await;
        let clean = ended.error.is_none();
        let again = match &ended.error {
            None => {
                eprintln!("Connection {local}<->{peer} finished gracefully.");
                cfg.reconnect
            }
            Some(e) => {
                eprintln!(
                    "Connection {local}<->{peer} ended with result {}",
                    crate::error::describe(e)
                );
                if !cfg.reconnect_on_error {
                    shared.fail();
                }
                cfg.reconnect_on_error
            }
        };
        if !again || shared.life.stopping() {
            return;
        }
        eprintln!("Reconnecting to {}", plan.spec.dest);
        reconnecting = true;
        // After a clean close the next session is wanted now (a tunnel's
        // next client waits for it); after an error, back off first.
        if !clean && !pause(shared, BACKOFF_START).await {
            return;
        }
    }
}

/// Wait `d` before dialling again; `false` if the run stopped taking new
/// connections meanwhile (`--exit-after-input`).
async fn pause(shared: &Shared, d: Duration) -> bool {
    futures_lite::future::or(
        async {
            Timer::after(d).await;
            true
        },
        async {
            shared.life.stopped().await;
            false
        },
    )
    .await
}

/// Try the target's addresses in resolver order; the first that connects wins
/// (returned with the address it was dialled at).
async fn connect_any(
    shared: &Shared,
    plan: &TargetPlan,
) -> io::Result<(async_net::TcpStream, SocketAddr)> {
    let mut last = io::Error::new(io::ErrorKind::AddrNotAvailable, "no address to connect to");
    for (dest, src) in &plan.addrs {
        if shared.cfg.verbose > 0 {
            match src {
                Some(s) => eprintln!("Connecting from {s} to {dest}"),
                None => eprintln!("Connecting to {dest}"),
            }
        }
        match plan
            .connect(*dest, *src, &shared.opts, shared.cfg.connect_timeout)
            .await
        {
            Ok(s) => return Ok((s, *dest)),
            Err(e) => {
                if plan.addrs.len() > 1 {
                    eprintln!(
                        "Failed to connect to {dest}: {}",
                        crate::error::describe(&e)
                    );
                }
                last = e;
            }
        }
    }
    Err(last)
}
