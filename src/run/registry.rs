//! The bookkeeping every kind of route shares (TCP sockets, `--exec-each`
//! connections, UDP peers): joining and leaving the router, and the
//! counts the end-of-run rule looks at.

use super::shared::Shared;
use crate::router::{Origin, RouteId};
use bytes::Bytes;
use smol::channel::Sender;
use smol::Timer;
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Chunks queued per socket writer: memory per socket is bounded by
/// QUEUE_DEPTH x chunk size.
pub const QUEUE_DEPTH: usize = 4;

/// How a route ended.
pub struct Ended {
    /// The first error on the socket, if any (reset, write failure).
    pub error: Option<io::Error>,
}

/// Add a route (a connected socket or a UDP peer) to the router, its writer
/// counted as running, and wake whoever waits for routes.
pub fn register(
    shared: &Shared,
    tx: Sender<Bytes>,
    origin: Origin,
    local: SocketAddr,
    peer: SocketAddr,
) -> RouteId {
    let id = shared.router.borrow_mut().add(tx, origin, local, peer);
    shared.observer.open(id, local, peer);
    shared.life.route_opened();
    shared.route_added.notify();
    id
}

/// Undo `register` once the socket is done, with whatever else names the
/// route (abort handle, splice bookkeeping), and wake the supervisor.
pub fn unregister(shared: &Shared, id: RouteId) {
    shared.aborts.borrow_mut().remove(&id);
    shared.stalls.borrow_mut().remove(&id);
    #[cfg(all(target_os = "linux", feature = "splice"))]
    {
        shared.sockets.borrow_mut().remove(&id);
        shared.writing.borrow_mut().remove(&id);
    }
    shared.router.borrow_mut().remove(id);
    shared.observer.close(id);
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

/// Resolves when the route has seen no data either way for `limit`.
pub async fn idle_watch(limit: Option<Duration>, activity: &Cell<Instant>) -> String {
    let Some(limit) = limit else {
        return futures_lite::future::pending().await;
    };
    loop {
        let due = activity.get() + limit;
        if Instant::now() >= due {
            return format!("idle for {:.1} s (--idle-timeout)", limit.as_secs_f64());
        }
        Timer::at(due).await;
    }
}
