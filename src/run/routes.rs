//! Routes of every kind (TCP connections, `--exec-each` connections, UDP
//! peers) joining and leaving the router, and each chunk a socket received
//! handed to the destinations the router names (with backpressure, receive
//! faults, and hub mode's rule for a client that stops reading). Also a
//! route's activity clock, idle timeout and abort handle (kept in its
//! `Conn`).

use super::conn::Conn;
use super::shared::Shared;
use crate::router::{FwdMode, Origin, RouteId};
use bytes::Bytes;
use smol::channel::{bounded, Receiver, Sender, TrySendError};
use smol::Timer;
use std::net::SocketAddr;
use std::time::Instant;

/// Chunks queued per socket writer: memory per socket is bounded by
/// QUEUE_DEPTH x chunk size.
pub const QUEUE_DEPTH: usize = 4;

/// How a connection ended.
pub struct Ended {
    /// The first error on the socket, if any (reset, write failure).
    pub error: Option<std::io::Error>,
}

/// Add a route (a connected socket or a UDP peer) with its state to the
/// router, and wake whoever waits for routes.
pub fn register(
    shared: &Shared,
    tx: Sender<Bytes>,
    origin: Origin,
    local: SocketAddr,
    peer: SocketAddr,
    conn: Conn,
) -> RouteId {
    let id = shared
        .router
        .borrow_mut()
        .add(tx, origin, local, peer, conn);
    shared.observer.open();
    shared.life.route_opened();
    shared.route_added.notify();
    id
}

/// Undo `register` once the socket is done: the route leaves the router
/// with all its state (socket, abort handle, child, counters), and the
/// supervisor hears of it.
pub fn unregister(shared: &Shared, id: RouteId) {
    let gone = shared.router.borrow_mut().remove(id);
    if let Some(c) = &gone {
        shared.last_gone.set(Some((id, c.activity.get())));
    }
    drop(gone);
    shared.life.route_closed();
}

/// Counts a running writer for `--exit-after-input`; uncounts it however
/// the writer ends (finished, failed, or dropped by an abort).
pub struct WriterCount<'a>(&'a Shared);

impl<'a> WriterCount<'a> {
    pub fn new(shared: &'a Shared) -> WriterCount<'a> {
        shared.life.writer_started();
        WriterCount(shared)
    }
}

impl Drop for WriterCount<'_> {
    fn drop(&mut self) {
        self.0.life.writer_ended();
    }
}

/// Give route `id` a way to be ended from outside its task.
pub fn on_abort(shared: &Shared, id: RouteId) -> Receiver<Bytes> {
    let (abort_tx, abort_rx) = bounded::<Bytes>(1);
    if let Some(c) = shared.router.borrow_mut().conn_mut(id) {
        c.abort = Some(abort_tx);
    }
    abort_rx
}

/// Route `id` moved data just now (either way).
pub fn active(shared: &Shared, id: RouteId) {
    if let Some(c) = shared.router.borrow().conn(id) {
        c.activity.set(Instant::now());
    }
}

/// Resolves when route `id` is ended from outside (`Shared::abort`, or
/// `--idle-timeout`), with the reason.
pub async fn ended_from_outside(shared: &Shared, id: RouteId, abort_rx: Receiver<Bytes>) -> String {
    let aborted = async {
        match abort_rx.recv().await {
            Ok(why) => String::from_utf8_lossy(&why).into_owned(),
            Err(_) => String::new(),
        }
    };
    futures_lite::future::or(aborted, idle_watch(shared, id)).await
}

/// Resolves when route `id` has seen no data either way for
/// `--idle-timeout` (never without it).
async fn idle_watch(shared: &Shared, id: RouteId) -> String {
    let Some(limit) = shared.cfg.idle_timeout else {
        return futures_lite::future::pending().await;
    };
    loop {
        let last = shared.router.borrow().conn(id).map(|c| c.activity.get());
        let due = last.unwrap_or_else(Instant::now) + limit;
        if Instant::now() >= due {
            return format!(
                "idle for {} s (--idle-timeout)",
                crate::decimal::secs_fixed(limit, 1)
            );
        }
        Timer::at(due).await;
    }
}

/// Hand one chunk received from a socket to every destination the router
/// names, waiting on each (a full queue slows this reader: backpressure).
/// Receive faults (delay, drop) apply here.
pub async fn deliver(shared: &Shared, from: RouteId, chunk: Bytes) {
    if !shared.faults.recv_gate().await {
        return;
    }
    if shared.cfg.verbose > 2 {
        eprintln!("Route {from}: received {} bytes", chunk.len());
    }
    let dests = shared.router.borrow().dests(from);
    if let Some(out) = dests.local {
        if out.send(chunk.clone()).await.is_err() {
            shared.router.borrow_mut().local_output_closed();
            shared.changed();
        } else {
            #[cfg(all(target_os = "linux", feature = "splice"))]
            if let Some(sink) = &shared.stdout_sink {
                sink.sent.set(sink.sent.get() + 1);
            }
        }
    }
    if shared.cfg.mode != FwdMode::Hub {
        for (_, tx) in dests.routes {
            // A closed queue means that socket has gone; the others still get it.
            let _ = tx.send(chunk.clone()).await;
        }
        return;
    }
    // Hub: one client that does not read must not hold up the others for
    // long. Queues with room take the chunk at once. A full one may hold
    // this sender until that client's writer has been stuck in one socket
    // write for --hub-wait (its peer stopped reading); then the client is
    // dropped. A writer that is merely waiting for its turn on a busy
    // executor is not stuck, so a loaded machine drops nobody healthy.
    let wait = shared.cfg.hub_wait;
    for (id, tx) in dests.routes {
        if !matches!(tx.try_send(chunk.clone()), Err(TrySendError::Full(_))) {
            continue; // taken, or that socket has gone
        }
        let mut check_at = Instant::now() + wait;
        loop {
            let sent = futures_lite::future::or(
                async {
                    // Closed meanwhile: gone, nothing to wait for.
                    let _ = tx.send(chunk.clone()).await;
                    true
                },
                async {
                    Timer::at(check_at).await;
                    false
                },
            )
            .await;
            if sent {
                break;
            }
            let stuck_since = shared
                .router
                .borrow()
                .conn(id)
                .and_then(|c| c.writing_since.get());
            match stuck_since {
                Some(t) if t.elapsed() >= wait => {
                    eprintln!(
                        "Dropping a hub client that stopped reading (stuck for {} s, --hub-wait)",
                        crate::decimal::secs_fixed(wait, 1)
                    );
                    shared.abort(id, "stopped reading (--hub-wait)");
                    break;
                }
                Some(t) => check_at = t + wait,
                None => check_at = Instant::now() + wait,
            }
        }
    }
}
