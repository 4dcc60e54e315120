//! `--exec-each CMD`: every connection gets its own child, wired to that
//! connection only (like `ncat -e`). The socket's data goes to the child's
//! stdin and the child's stdout to the socket.
//!
//! Half-close: the socket's EOF closes the child's stdin; the child's stdout
//! EOF shuts the socket's write side (FIN). Once the child has exited, the
//! connection is closed even if the peer still has its side open. After the
//! peer's FIN the child has `--close-grace` of silence to answer; then the
//! connection is finished and the child ended, so a child that ignores its
//! stdin's end never holds a `-m` slot for good.

use super::read::read_chunk;
use crate::local::exec;
use crate::net::stream::Stream;
use crate::router::RouteId;
use crate::run::crlf::Crlf;
use crate::run::routes::{active, ended_from_outside, on_abort, unregister, Ended, WriterCount};
use crate::run::shared::Shared;
use bytes::Bytes;
use futures_lite::{future, AsyncWriteExt};
use smol::channel::{bounded, Receiver, Sender};
use smol::Timer;
use std::cell::Cell;
use std::io;
use std::net::Shutdown;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long an ended connection's child has between SIGTERM and SIGKILL.
const CHILD_GRACE: Duration = Duration::from_millis(500);

/// Why serving stopped before both directions had finished.
enum Stop {
    /// The peer finished sending and the child then printed nothing for the
    /// close grace: a normal end.
    Quiet,
    /// Ended from outside (`--idle-timeout`, an abort).
    Aborted(String),
}

/// Serve route `id` (registered for bookkeeping: the exit rules count
/// routes; nothing local ever sends to it) with a child of its own. The
/// child never outlives its connection: however the connection ends, the
/// child's stdin is closed and it is ended (SIGTERM, then SIGKILL).
pub async fn serve(shared: Rc<Shared>, stream: Stream, id: RouteId, cmd: &str) -> Ended {
    let counted = WriterCount::new(&shared);
    let (feed_tx, feed_rx) = bounded::<Bytes>(4);
    let child = match exec::spawn(cmd, shared.cfg.send_size, feed_rx, shared.cfg.verbose) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "netcrab: cannot run command '{cmd}': {}",
                crate::error::describe(&e)
            );
            drop(counted);
            unregister(&shared, id);
            return Ended { error: Some(e) };
        }
    };
    if let Some(c) = shared.router.borrow_mut().conn_mut(id) {
        c.child = Some(child.control.clone());
    }
    let abort_rx = on_abort(&shared, id);
    let last_out = Cell::new(Instant::now());
    let (peer_done_tx, peer_done) = bounded::<()>(1);

    let reader = async {
        let r = future::or(read_side(&shared, id, &stream, feed_tx), async {
            // The child has gone: nothing will read what the peer sends.
            let _ = child.exited.recv().await;
            Ok(())
        })
        .await;
        let _ = peer_done_tx.try_send(());
        r
    };
    let writer = write_side(&shared, id, &stream, child.output, &last_out);
    let both = async { Ok(future::zip(reader, writer).await) };
    let stop = async {
        let aborted = async { Stop::Aborted(ended_from_outside(&shared, id, abort_rx).await) };
        let quiet = async {
            silent_after_peer_eof(shared.cfg.close_grace, &peer_done, &last_out).await;
            Stop::Quiet
        };
        Err(future::or(aborted, quiet).await)
    };
    let ended = match future::or(both, stop).await {
        Ok((r, w)) => Ended {
            error: r.err().or(w.err()),
        },
        Err(Stop::Quiet) => {
            let _ = stream.shutdown(Shutdown::Write);
            Ended { error: None }
        }
        Err(Stop::Aborted(why)) => {
            let _ = stream.shutdown(Shutdown::Both);
            Ended {
                error: Some(io::Error::new(io::ErrorKind::TimedOut, why)),
            }
        }
    };
    // The feed (the child's stdin) is closed by now; end the child if it is
    // still there, off the executor (this may wait for CHILD_GRACE).
    let control = child.control.clone();
    crate::net::unblock(move || control.end(CHILD_GRACE)).await;
    if let Some(c) = shared.router.borrow_mut().conn_mut(id) {
        c.child = None;
    }
    drop(counted);
    unregister(&shared, id);
    ended
}

/// Resolves once the peer has finished sending and the child has then
/// printed nothing for `grace` (never with `--half-open`).
async fn silent_after_peer_eof(
    grace: Option<Duration>,
    peer_done: &Receiver<()>,
    last_out: &Cell<Instant>,
) {
    let Some(grace) = grace else {
        return future::pending().await;
    };
    let _ = peer_done.recv().await;
    let since = Instant::now();
    loop {
        let due = last_out.get().max(since) + grace;
        if Instant::now() >= due {
            return;
        }
        Timer::at(due).await;
    }
}

async fn read_side(
    shared: &Shared,
    id: RouteId,
    stream: &Stream,
    feed: Sender<Bytes>,
) -> io::Result<()> {
    let io = stream.io();
    let mut feed = Some(feed);
    loop {
        let got = read_chunk(&io).await;
        match got {
            // Dropping `feed` closes the child's stdin.
            Ok(chunk) if chunk.is_empty() => return Ok(()),
            Ok(chunk) => {
                active(shared, id);
                shared.received(id, &chunk);
                if !shared.faults.recv_gate().await {
                    continue;
                }
                if let Some(f) = &feed {
                    if f.send(chunk).await.is_err() {
                        // The child closed its stdin: discard the rest.
                        feed = None;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

async fn write_side(
    shared: &Shared,
    id: RouteId,
    stream: &Stream,
    output: Receiver<Bytes>,
    last_out: &Cell<Instant>,
) -> io::Result<()> {
    let mut s = stream.clone();
    let mut crlf = shared.cfg.crlf.then(Crlf::default);
    while let Ok(mut chunk) = output.recv().await {
        if let Some(c) = crlf.as_mut() {
            chunk = c.apply(chunk);
        }
        if !shared.faults.send_gate().await {
            continue;
        }
        last_out.set(Instant::now());
        s.write_all(&chunk).await?;
        active(shared, id);
        last_out.set(Instant::now());
        shared.sent(id, &chunk);
    }
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}
