//! One connected socket: a reader that hands chunks to the router's
//! destinations and a writer that drains the socket's own bounded queue.

use super::shared::Shared;
use crate::router::{Origin, RouteId};
use async_net::TcpStream;
use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use smol::channel::{bounded, Receiver};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;

/// Bytes asked for per socket read.
pub const READ_CHUNK: usize = 128 * 1024;
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
    let id = shared.router.borrow_mut().add(tx, origin, local, peer);
    shared.observer.open(id, local, peer);
    shared.writers.set(shared.writers.get() + 1);
    shared.route_added.notify();
    shared.changed.notify();

    let reader = read_side(&shared, id, &stream);
    let writer = async {
        let r = write_side(&shared, id, &stream, rx).await;
        shared.writers.set(shared.writers.get() - 1);
        shared.changed.notify();
        r
    };
    let (r, w) = futures_lite::future::zip(reader, writer).await;
    shared.router.borrow_mut().remove(id);
    shared.observer.close(id);
    shared.changed.notify();
    Ended {
        error: r.err().or(w.err()),
    }
}

async fn read_side(shared: &Shared, id: RouteId, stream: &TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut s = stream.clone();
    loop {
        match s.read(&mut buf).await {
            Ok(0) => {
                shared.router.borrow_mut().read_ended(id, false);
                shared.changed.notify();
                return Ok(());
            }
            Ok(n) => {
                shared.observer.received(id, &buf[..n]);
                deliver(shared, id, Bytes::copy_from_slice(&buf[..n])).await
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
    for (_, tx) in dests.routes {
        // A closed queue means that socket has gone; the others still get it.
        let _ = tx.send(chunk.clone()).await;
    }
}

async fn write_side(
    shared: &Shared,
    id: RouteId,
    stream: &TcpStream,
    rx: Receiver<Bytes>,
) -> io::Result<()> {
    let mut s = stream.clone();
    while let Ok(chunk) = rx.recv().await {
        if let Err(e) = s.write_all(&chunk).await {
            shared.router.borrow_mut().write_failed(id);
            return Err(e);
        }
        shared.observer.sent(id, &chunk);
    }
    // Nothing can send to this socket any more: half-close it (FIN).
    // The peer may already be gone; that is not news worth reporting.
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}
