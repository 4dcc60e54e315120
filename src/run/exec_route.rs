//! `--exec-each CMD`: every connection gets its own child, wired to that
//! connection only (like `ncat -e`). The socket's data goes to the child's
//! stdin and the child's stdout to the socket.
//!
//! Half-close: the socket's EOF closes the child's stdin; the child's stdout
//! EOF shuts the socket's write side (FIN). Once the child has exited, the
//! connection is closed even if the peer still has its side open.

use super::deliver::read_chunk;
use super::input::Crlf;
use super::registry::{unregister, Ended, WriterCount};
use super::shared::Shared;
use crate::local::exec;
use crate::router::RouteId;
use async_net::TcpStream;
use bytes::Bytes;
use futures_lite::{future, AsyncWriteExt};
use smol::channel::{bounded, Receiver, Sender};
use std::io;
use std::net::Shutdown;
use std::rc::Rc;

/// Serve route `id` (registered for bookkeeping: the exit rules count
/// routes; nothing local ever sends to it) with a child of its own.
pub async fn serve(shared: Rc<Shared>, stream: TcpStream, id: RouteId, cmd: &str) -> Ended {
    let counted = WriterCount::new(&shared);

    let (feed_tx, feed_rx) = bounded::<Bytes>(4);
    let ended = match exec::spawn(cmd, shared.cfg.send_size, feed_rx, shared.cfg.verbose) {
        Ok(child) => {
            let reader = async {
                future::or(read_side(&shared, id, &stream, feed_tx), async {
                    // The child has gone: nothing will read what the peer sends.
                    let _ = child.exited.recv().await;
                    Ok(())
                })
                .await
            };
            let writer = write_side(&shared, id, &stream, child.output);
            let (r, w) = future::zip(reader, writer).await;
            Ended {
                error: r.err().or(w.err()),
            }
        }
        Err(e) => {
            eprintln!(
                "netcrab: cannot run command '{cmd}': {}",
                crate::error::describe(&e)
            );
            Ended { error: Some(e) }
        }
    };
    drop(counted);
    unregister(&shared, id);
    ended
}

async fn read_side(
    shared: &Shared,
    id: RouteId,
    stream: &TcpStream,
    feed: Sender<Bytes>,
) -> io::Result<()> {
    let io: std::sync::Arc<smol::Async<std::net::TcpStream>> = stream.clone().into();
    let mut feed = Some(feed);
    loop {
        match read_chunk(&io).await {
            // Dropping `feed` closes the child's stdin.
            Ok(chunk) if chunk.is_empty() => return Ok(()),
            Ok(chunk) => {
                shared.observer.received(id, &chunk);
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
    stream: &TcpStream,
    output: Receiver<Bytes>,
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
        s.write_all(&chunk).await?;
        shared.observer.sent(id, &chunk);
    }
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}
