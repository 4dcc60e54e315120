//! Moving datagrams: receive one into a pooled buffer, and a peer's writer
//! (shared by learned peers in `udp.rs` and `--udp-flows` in `udp_flows.rs`).

use super::shared::Shared;
use crate::local::pool;
use crate::router::RouteId;
use async_net::UdpSocket;
use bytes::Bytes;
use smol::channel::Receiver;
use smol::Async;
use std::io;
use std::net::SocketAddr;

/// Datagrams queued per peer before the sender waits.
pub const QUEUE_DEPTH: usize = 8;

pub async fn write(
    shared: &Shared,
    id: RouteId,
    sock: &UdpSocket,
    peer: SocketAddr,
    rx: Receiver<Bytes>,
) -> io::Result<()> {
    while let Ok(d) = rx.recv().await {
        sock.send_to(&d, peer).await?;
        shared.observer.sent(id, &d);
    }
    Ok(())
}

/// Datagrams up to this size are copied out of the pool buffer, so a
/// queued small datagram (a DNS query) holds its own size, not 128 KiB.
const COPY_BELOW: usize = 4096;

/// Receive one datagram into a pooled buffer (no buffer held while
/// waiting; large datagrams are not copied).
pub async fn recv_chunk(io: &Async<std::net::UdpSocket>) -> io::Result<(Bytes, SocketAddr)> {
    io.read_with(|s| {
        let mut buf = pool::take();
        match s.recv_from(&mut buf) {
            Ok((n, peer)) if n <= COPY_BELOW => {
                let small = Bytes::copy_from_slice(&buf[..n]);
                pool::give_back(buf);
                Ok((small, peer))
            }
            Ok((n, peer)) => Ok((pool::freeze(buf, n), peer)),
            Err(e) => {
                pool::give_back(buf);
                Err(e)
            }
        }
    })
    .await
}
