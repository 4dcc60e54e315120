//! One connected socket (plain serving): a reader that hands chunks to the
//! router's destinations and a writer that drains the socket's own bounded
//! queue.

use super::deliver::{deliver, read_chunk};
use super::registry::{idle_watch, unregister, Ended, WriterCount};
use super::shared::Shared;
use crate::router::FwdMode;
use crate::router::RouteId;
use async_net::TcpStream;
use bytes::Bytes;
use futures_lite::AsyncWriteExt;
use smol::channel::{bounded, Receiver};
use smol::Async;
use std::cell::Cell;
use std::io;
use std::net::Shutdown;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// Serve a connected socket until both directions are finished.
pub async fn serve(
    shared: Rc<Shared>,
    stream: TcpStream,
    id: RouteId,
    rx: Receiver<Bytes>,
) -> Ended {
    let (abort_tx, abort_rx) = bounded::<String>(1);
    shared.aborts.borrow_mut().insert(id, abort_tx);
    let activity = Cell::new(Instant::now());

    let reader = read_side(&shared, id, &stream, &activity);
    let writer = async {
        let _counted = WriterCount::new(&shared);
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

async fn read_side(
    shared: &Shared,
    id: RouteId,
    stream: &TcpStream,
    activity: &Cell<Instant>,
) -> io::Result<()> {
    let io: Arc<Async<std::net::TcpStream>> = stream.clone().into();
    let (pair_tx, pair_rx) = bounded::<()>(1);
    shared.router.borrow_mut().on_paired(id, pair_tx);
    #[cfg(all(target_os = "linux", feature = "splice"))]
    let no_pipe = Cell::new(false);
    loop {
        #[cfg(all(target_os = "linux", feature = "splice"))]
        if let Some(done) = try_splice(shared, id, &io, &no_pipe).await {
            return done;
        }
        #[cfg(all(target_os = "linux", feature = "splice"))]
        if let Some(done) = try_splice_to_stdout(shared, id, &io, activity).await {
            return done;
        }
        match read_chunk(&io).await {
            Ok(chunk) if chunk.is_empty() => {
                shared.router.borrow_mut().read_ended(id, false);
                shared.changed();
                return Ok(());
            }
            Ok(chunk) => {
                // Channels: a socket without a partner keeps this one chunk
                // and reads no more until it is paired, so what its peer
                // sends waits (in the kernel) for the tunnel instead of being
                // dropped. Its EOF is still seen, so a peer that gives up
                // while waiting is closed.
                let mut chunk = chunk;
                if shared.router.borrow().awaits_partner(id) {
                    // Hold only what arrived, not the pooled read buffer
                    // it sits in (128 KiB for maybe one byte, times every
                    // socket waiting with -m 0).
                    chunk = Bytes::copy_from_slice(&chunk);
                }
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
                shared.changed();
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
    no_pipe: &Cell<bool>,
) -> Option<io::Result<()>> {
    use super::splice::{self, Spliced};
    if no_pipe.get() {
        return None;
    }
    let (p, to) = splice_partner(shared, id)?;
    if shared.writing.borrow().contains(&p) {
        // The ordinary path is mid-write to the partner: one more ordinary
        // read, so nothing is overtaken.
        return None;
    }
    let mut moved = 0;
    let still = || shared.router.borrow().partner_of(id) == Some(p);
    let end = splice::relay(io, &to, &mut moved, still).await;
    if shared.cfg.verbose > 1 {
        eprintln!("Route {id}: spliced {moved} bytes to route {p}");
    }
    match end {
        Spliced::Eof => {
            shared.router.borrow_mut().read_ended(id, false);
            shared.changed();
            Some(Ok(()))
        }
        Spliced::ReadFailed(e) => {
            shared.router.borrow_mut().read_ended(id, true);
            shared.changed();
            Some(Err(e))
        }
        Spliced::Detour {
            pending,
            partner_failed,
        } => {
            if partner_failed {
                // The partner is gone: stop sending to it, as the ordinary
                // path would, and keep reading this socket.
                shared.router.borrow_mut().write_failed(p);
                shared.changed();
            }
            // What was read but not written goes where the router now says
            // (the new partner, or stdout): nothing is dropped.
            if !pending.is_empty() {
                deliver(shared, id, pending).await;
            }
            None
        }
        Spliced::Unavailable(e) => {
            // Not the partner's fault: copy through user space instead.
            if shared.cfg.verbose > 0 {
                eprintln!(
                    "Route {id}: no pipe for splice ({}); copying instead",
                    crate::error::describe(&e)
                );
            }
            no_pipe.set(true);
            None
        }
    }
}

/// Whether this run may splice between paired sockets now: the settings
/// leave relayed bytes untouched and no live local input shares the stream.
#[cfg(all(target_os = "linux", feature = "splice"))]
fn splice_allowed(shared: &Shared) -> bool {
    shared.cfg.untouched.relay
        && shared.router.borrow().local_input() != crate::router::LocalInput::Live
}

/// The partner's socket, when route `id` may splice into it now: paired,
/// splicing allowed, and nothing queued for the partner by the ordinary
/// path (which would otherwise be overtaken).
#[cfg(all(target_os = "linux", feature = "splice"))]
fn splice_partner(
    shared: &Shared,
    id: RouteId,
) -> Option<(RouteId, Arc<Async<std::net::TcpStream>>)> {
    if !splice_allowed(shared) {
        return None;
    }
    let p = shared.router.borrow().partner_of(id)?;
    if shared.router.borrow().queued_for(p) {
        return None;
    }
    let io = shared.sockets.borrow().get(&p).cloned()?;
    Some((p, io))
}

/// The P2P fast path into stdout, when it applies: `Some` with the read
/// side's end when the socket finished, `None` to carry on with reads.
#[cfg(all(target_os = "linux", feature = "splice"))]
async fn try_splice_to_stdout(
    shared: &Shared,
    id: RouteId,
    io: &Async<std::net::TcpStream>,
    activity: &Cell<Instant>,
) -> Option<io::Result<()>> {
    use super::fastpath::{drain_to_stdout, OutputEnd};
    let failed = match drain_to_stdout(shared, id, io, activity).await {
        OutputEnd::Copy => return None,
        OutputEnd::Eof => None,
        OutputEnd::ReadFailed(e) => Some(e),
    };
    shared.router.borrow_mut().read_ended(id, failed.is_some());
    shared.changed();
    Some(failed.map_or(Ok(()), Err))
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
        let hub = shared.cfg.mode == FwdMode::Hub;
        if hub {
            shared.stalls.borrow_mut().insert(id, Instant::now());
        }
        let written = s.write_all(&chunk).await;
        if hub {
            shared.stalls.borrow_mut().remove(&id);
        }
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
