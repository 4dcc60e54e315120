//! One connected socket: a reader that hands chunks to the router's
//! destinations and a writer that drains the socket's own bounded queue.

use super::shared::Shared;
use crate::cli::FwdMode;
use crate::local::pool;
use crate::router::{Origin, RouteId};
use async_net::TcpStream;
use bytes::Bytes;
use futures_lite::AsyncWriteExt;
use smol::channel::{bounded, Receiver, Sender, TrySendError};
use smol::Async;
use smol::Timer;
use std::cell::Cell;
use std::io;
use std::io::Read;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Chunks queued per socket writer: memory per socket is bounded by
/// QUEUE_DEPTH x chunk size.
const QUEUE_DEPTH: usize = 4;

/// How a route ended.
pub struct Ended {
    /// The first error on the socket, if any (reset, write failure).
    pub error: Option<io::Error>,
}

/// Serve a connected socket until both directions are finished.
pub async fn serve(
    shared: Rc<Shared>,
    stream: TcpStream,
    origin: Origin,
    local: SocketAddr,
    peer: SocketAddr,
) -> Ended {
    #[cfg(feature = "exec")]
    if let Some(e) = shared.cfg.exec.as_ref().filter(|e| e.each) {
        let cmd = e.cmd.clone();
        return super::exec_route::serve(shared, stream, origin, local, peer, &cmd).await;
    }
    let (tx, rx) = bounded::<Bytes>(QUEUE_DEPTH);
    let id = register(&shared, tx, origin, local, peer);

    let (abort_tx, abort_rx) = bounded::<String>(1);
    shared.aborts.borrow_mut().insert(id, abort_tx);
    let activity = Cell::new(Instant::now());

    let reader = read_side(&shared, id, &stream, &activity);
    let writer = async {
        let _counted = WriterCount(&shared);
        write_side(&shared, id, &stream, rx, &activity).await
    };
    let both = async { Ok(futures_lite::future::zip(reader, writer).await) };
    let stop = async {
        let why = futures_lite::future::or(
            async { abort_rx.recv().await.unwrap_or_default() },
            idle_watch(shared.cfg.idle_timeout, &activity),
        )
        .await;
        Err(why)
    };
    let (r, w) = match futures_lite::future::or(both, stop).await {
        Ok(rw) => rw,
        Err(why) => {
            // Ended from outside: close both ways now.
            let _ = stream.shutdown(Shutdown::Both);
            shared.router.borrow_mut().read_ended(id, true);
            (Err(io::Error::new(io::ErrorKind::TimedOut, why)), Ok(()))
        }
    };
    unregister(&shared, id);
    Ended {
        error: r.err().or(w.err()),
    }
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
    shared.writers.set(shared.writers.get() + 1);
    shared.route_added.notify();
    shared.changed.notify();
    id
}

/// Undo `register` once the socket is done, with whatever else names the
/// route (abort handle, splice bookkeeping), and wake the supervisor.
pub fn unregister(shared: &Shared, id: RouteId) {
    shared.aborts.borrow_mut().remove(&id);
    #[cfg(all(target_os = "linux", feature = "splice"))]
    {
        shared.sockets.borrow_mut().remove(&id);
        shared.writing.borrow_mut().remove(&id);
    }
    shared.router.borrow_mut().remove(id);
    shared.observer.close(id);
    shared.changed.notify();
}

/// Counts a running writer for `--exit-after-input`; uncounts it however
/// the writer ends (finished, failed, or dropped by an abort).
pub(super) struct WriterCount<'a>(pub(super) &'a Shared);

impl Drop for WriterCount<'_> {
    fn drop(&mut self) {
        self.0.writers.set(self.0.writers.get().saturating_sub(1));
        self.0.changed.notify();
    }
}

/// Resolves when the route has seen no data either way for `limit`.
async fn idle_watch(limit: Option<Duration>, activity: &Cell<Instant>) -> String {
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

async fn read_side(
    shared: &Shared,
    id: RouteId,
    stream: &TcpStream,
    activity: &Cell<Instant>,
) -> io::Result<()> {
    let io: Arc<Async<std::net::TcpStream>> = stream.clone().into();
    #[cfg(all(target_os = "linux", feature = "splice"))]
    shared.sockets.borrow_mut().insert(id, io.clone());
    let (pair_tx, pair_rx) = bounded::<()>(1);
    shared.router.borrow_mut().on_paired(id, pair_tx);
    loop {
        #[cfg(all(target_os = "linux", feature = "splice"))]
        if let Some(done) = try_splice(shared, id, &io).await {
            return done;
        }
        match read_chunk(&io).await {
            Ok(chunk) if chunk.is_empty() => {
                shared.router.borrow_mut().read_ended(id, false);
                shared.changed.notify();
                return Ok(());
            }
            Ok(chunk) => {
                // Channels: a socket without a partner keeps this one chunk
                // and reads no more until it is paired, so what its peer
                // sends waits (in the kernel) for the tunnel instead of being
                // dropped. Its EOF is still seen, so a peer that gives up
                // while waiting is closed.
                while shared.router.borrow().awaits_partner(id) {
                    let _ = pair_rx.recv().await;
                }
                activity.set(Instant::now());
                shared.observer.received(id, &chunk);
                deliver(shared, id, chunk).await
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                shared.router.borrow_mut().read_ended(id, true);
                shared.changed.notify();
                return Err(e);
            }
        }
    }
}

/// The splice fast path, when it applies: `Some` with the read side's end
/// when the source finished, `None` to carry on with ordinary reads.
#[cfg(all(target_os = "linux", feature = "splice"))]
async fn try_splice(
    shared: &Shared,
    id: RouteId,
    io: &Async<std::net::TcpStream>,
) -> Option<io::Result<()>> {
    use super::splice::{self, Spliced};
    let (p, to) = splice::partner(shared, id)?;
    if shared.writing.borrow().contains(&p) {
        // The ordinary path is mid-write to the partner: one more ordinary
        // read, so nothing is overtaken.
        return None;
    }
    let mut moved = 0;
    let end = splice::run(io, &to, &mut moved).await;
    if shared.cfg.verbose > 1 {
        eprintln!("Route {id}: spliced {moved} bytes to route {p}");
    }
    match end {
        Spliced::Eof => {
            shared.router.borrow_mut().read_ended(id, false);
            shared.changed.notify();
            Some(Ok(()))
        }
        Spliced::ReadFailed(e) => {
            shared.router.borrow_mut().read_ended(id, true);
            shared.changed.notify();
            Some(Err(e))
        }
        Spliced::WriteFailed => {
            // The partner is gone: stop sending to it, as the ordinary
            // path would, and keep reading this socket.
            shared.router.borrow_mut().write_failed(p);
            shared.changed.notify();
            None
        }
    }
}

/// Wait until the socket is readable, then read into a pooled buffer: no
/// connection holds a buffer while it waits, and the chunk is not copied.
/// An empty chunk means EOF.
pub async fn read_chunk(io: &Async<std::net::TcpStream>) -> io::Result<Bytes> {
    io.read_with(|s| {
        let mut buf = pool::take();
        match (&*s).read(&mut buf) {
            Ok(n) => Ok(pool::freeze(buf, n)),
            Err(e) => {
                pool::give_back(buf);
                Err(e)
            }
        }
    })
    .await
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
            shared.changed.notify();
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
    // long. Queues with room take the chunk at once; a full one may hold
    // this sender up to --hub-wait in all, then that client is dropped.
    let deadline = Instant::now() + shared.cfg.hub_wait;
    for (id, tx) in dests.routes {
        match tx.try_send(chunk.clone()) {
            Ok(()) | Err(TrySendError::Closed(_)) => continue,
            Err(TrySendError::Full(c)) => {
                let sent = futures_lite::future::or(
                    async {
                        // Closed meanwhile: gone, nothing to wait for.
                        let _ = tx.send(c).await;
                        true
                    },
                    async {
                        Timer::at(deadline).await;
                        false
                    },
                )
                .await;
                if !sent {
                    eprintln!(
                        "Dropping a hub client that stopped reading (queue full for {:.1} s, --hub-wait)",
                        shared.cfg.hub_wait.as_secs_f64()
                    );
                    shared.abort(id, "stopped reading (--hub-wait)".into());
                }
            }
        }
    }
}

async fn write_side(
    shared: &Shared,
    id: RouteId,
    stream: &TcpStream,
    rx: Receiver<Bytes>,
    activity: &Cell<Instant>,
) -> io::Result<()> {
    let mut s = stream.clone();
    while let Ok(chunk) = rx.recv().await {
        // Only the splice fast path needs to know a write is under way.
        #[cfg(all(target_os = "linux", feature = "splice"))]
        shared.writing.borrow_mut().insert(id);
        let written = s.write_all(&chunk).await;
        #[cfg(all(target_os = "linux", feature = "splice"))]
        shared.writing.borrow_mut().remove(&id);
        if let Err(e) = written {
            shared.router.borrow_mut().write_failed(id);
            return Err(e);
        }
        activity.set(Instant::now());
        shared.observer.sent(id, &chunk);
    }
    // Nothing can send to this socket any more: half-close it (FIN).
    // The peer may already be gone; that is not news worth reporting.
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}
