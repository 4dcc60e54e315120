//! Moving one chunk: reading it from a socket into a pooled buffer, and
//! handing it to every destination the router names (with backpressure,
//! receive faults, and hub mode's rule for a client that stops reading).

use super::shared::Shared;
use crate::local::pool;
use crate::router::FwdMode;
use crate::router::RouteId;
use bytes::Bytes;
use smol::channel::TrySendError;
use smol::{Async, Timer};
use std::io;
use std::io::Read;
use std::time::Instant;

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
            shared.changed();
        } else {
            #[cfg(all(target_os = "linux", feature = "splice"))]
            shared.stdout_sent.set(shared.stdout_sent.get() + 1);
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
            let stuck_since = shared.stalls.borrow().get(&id).copied();
            match stuck_since {
                Some(t) if t.elapsed() >= wait => {
                    eprintln!(
                        "Dropping a hub client that stopped reading (stuck for {:.1} s, --hub-wait)",
                        wait.as_secs_f64()
                    );
                    shared.abort(id, "stopped reading (--hub-wait)".into());
                    break;
                }
                Some(t) => check_at = t + wait,
                None => check_at = Instant::now() + wait,
            }
        }
    }
}
