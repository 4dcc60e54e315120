//! A stream socket's writer (TCP or UNIX): drains the socket's own bounded queue (what the
//! router sends it) into the socket, and half-closes it (FIN) once nothing
//! can send to it any more.

use crate::net::stream::Stream;
use crate::router::RouteId;
use crate::run::routes::active;
use crate::run::shared::Shared;
use bytes::Bytes;
use futures_lite::AsyncWriteExt;
use smol::channel::Receiver;
use std::io;
use std::net::Shutdown;
use std::time::Instant;

pub async fn write_loop(
    shared: &Shared,
    id: RouteId,
    stream: &Stream,
    rx: Receiver<Bytes>,
) -> io::Result<()> {
    let mut s = stream.clone();
    while let Ok(chunk) = rx.recv().await {
        // Hub mode's stuck-client rule and the splice paths (which must not
        // overtake this write) look at this.
        writing(shared, id, Some(Instant::now()));
        let written = s.write_all(&chunk).await;
        writing(shared, id, None);
        if let Err(e) = written {
            shared.router.borrow_mut().write_failed(id);
            return Err(e);
        }
        active(shared, id);
        shared.sent(id, &chunk);
    }
    // Nothing can send to this socket any more: half-close it (FIN).
    // The peer may already be gone; that is not news worth reporting.
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

fn writing(shared: &Shared, id: RouteId, since: Option<Instant>) {
    if let Some(c) = shared.router.borrow().conn(id) {
        c.writing_since.set(since);
    }
}
