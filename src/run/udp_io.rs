//! Moving datagrams: receiving (in batches on Linux), and a peer's writer
//! (shared by learned peers in `udp.rs` and `--udp-flows` in `udp_flows.rs`).

#[cfg(target_os = "linux")]
mod mmsg;
#[cfg(target_os = "linux")]
mod send;

use super::shared::Shared;
use crate::local::pool;
use crate::router::RouteId;
use async_net::UdpSocket;
use bytes::Bytes;
use smol::channel::Receiver;
use smol::Async;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// Datagrams queued per peer before the sender waits (also the most one
/// batch of sends takes on Linux).
pub const QUEUE_DEPTH: usize = 32;

/// Send what arrives on `rx` to `peer`, each chunk one datagram, in order.
pub async fn write(
    shared: &Shared,
    id: RouteId,
    sock: &UdpSocket,
    peer: SocketAddr,
    rx: Receiver<Bytes>,
) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    return write_batched(shared, id, sock, peer, rx).await;
    #[cfg(not(target_os = "linux"))]
    return write_each(shared, id, sock, peer, rx).await;
}

/// The one-retry rule of both writers. A pending ICMP error of an earlier
/// datagram (IP_RECVERR) is reported on a send, which did not go: the
/// caller sends again, once (the receive side says the error, from the
/// error queue); a second refusal in a row is an error. `Ok(None)`: send
/// again; `retried` is cleared by a send that went.
fn after_icmp<T>(r: io::Result<T>, retried: &mut bool) -> io::Result<Option<T>> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && !*retried => {
            *retried = true;
            Ok(None)
        }
        Err(e) => Err(e),
        Ok(v) => {
            *retried = false;
            Ok(Some(v))
        }
    }
}

#[cfg_attr(target_os = "linux", allow(dead_code))]
async fn write_each(
    shared: &Shared,
    id: RouteId,
    sock: &UdpSocket,
    peer: SocketAddr,
    rx: Receiver<Bytes>,
) -> io::Result<()> {
    let mut retried = false;
    while let Ok(d) = rx.recv().await {
        while after_icmp(sock.send_to(&d, peer).await, &mut retried)?.is_none() {}
        shared.sent(id, &d);
    }
    Ok(())
}

/// Linux: all that is queued (up to a batch) goes with one `sendmmsg`,
/// runs of equal sizes as one segmented message (`send.rs`).
#[cfg(target_os = "linux")]
async fn write_batched(
    shared: &Shared,
    id: RouteId,
    sock: &UdpSocket,
    peer: SocketAddr,
    rx: Receiver<Bytes>,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let io: Arc<Async<std::net::UdpSocket>> = sock.clone().into();
    let mut off = send::Offload::new();
    let mut batch: Vec<Bytes> = Vec::with_capacity(QUEUE_DEPTH + 1);
    while let Ok(d) = rx.recv().await {
        batch.push(d);
        while batch.len() < send::BATCH {
            match rx.try_recv() {
                Ok(d) => batch.push(d),
                Err(_) => break,
            }
        }
        let mut done = 0;
        let mut retried = false;
        while done < batch.len() {
            let r = io
                .write_with(|s| loop {
                    // 0: an offload was refused; each refusal lowers `off`
                    // (ending at one datagram a call), so this ends.
                    match send::send(s.as_raw_fd(), &peer, &batch[done..], &mut off) {
                        Ok(0) => continue,
                        r => return r,
                    }
                })
                .await;
            if let Some(n) = after_icmp(r, &mut retried)? {
                for d in &batch[done..done + n] {
                    shared.sent(id, d);
                }
                done += n;
            }
        }
        batch.clear();
    }
    Ok(())
}

/// A UDP socket's received datagrams, one at a time, in arrival order,
/// each with its own sender. On Linux one `recvmmsg` takes up to 32 that
/// are queued; the rest wait here for the next calls.
pub struct Datagrams {
    io: Arc<Async<std::net::UdpSocket>>,
    queued: VecDeque<(Bytes, SocketAddr)>,
    /// The socket reports ICMP errors (`net::udp::report_unreachable`):
    /// its error queue is drained before each receive.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    icmp: bool,
    /// Destinations found refused since the last `take_refused`.
    refused: Vec<SocketAddr>,
    /// UDP_GRO on (merged runs of one sender arrive, cut apart here).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    gro: Gro,
}

#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
enum Gro {
    On,
    Off,
}

impl Datagrams {
    pub fn new(io: Arc<Async<std::net::UdpSocket>>, icmp: bool) -> Self {
        // A kernel with UDP_GRO (5.0+) has recvmmsg (2.6.33+), which cuts
        // merged runs apart again (`mmsg.rs`); should batches still fail,
        // `receive` turns it off before reading one at a time.
        #[cfg(target_os = "linux")]
        let gro = {
            use std::os::fd::AsRawFd;
            if !send::offload_disabled() && mmsg::enable_gro(io.as_raw_fd()) {
                Gro::On
            } else {
                Gro::Off
            }
        };
        #[cfg(not(target_os = "linux"))]
        let gro = Gro::Off;
        widen_rcvbuf(io.get_ref());
        Datagrams {
            io,
            queued: VecDeque::new(),
            icmp,
            refused: Vec::new(),
            gro,
        }
    }

    /// The destinations an ICMP port-unreachable came back for since the
    /// last call (after `next` returned ConnectionRefused).
    pub fn take_refused(&mut self) -> Vec<SocketAddr> {
        std::mem::take(&mut self.refused)
    }

    /// The next datagram; an error only when none was received.
    pub async fn next(&mut self) -> io::Result<(Bytes, SocketAddr)> {
        loop {
            if let Some(d) = self.queued.pop_front() {
                return Ok(d);
            }
            if let Some(d) = self.receive().await? {
                return Ok(d);
            }
        }
    }

    /// Wait for datagrams: all that are queued (up to a batch) go onto
    /// `queued`, or, where batches are not available, one is returned.
    #[cfg(target_os = "linux")]
    async fn receive(&mut self) -> io::Result<Option<(Bytes, SocketAddr)>> {
        use std::os::fd::AsRawFd;
        let queued = &mut self.queued;
        let (icmp, refused, gro) = (self.icmp, &mut self.refused, &mut self.gro);
        self.io
            .read_with(|s| {
                let fd = s.as_raw_fd();
                // An ICMP error wakes the socket (POLLERR) with nothing to
                // read: drain the error queue first, or the wake-up would
                // repeat for ever (and its entries hold receive buffer).
                if icmp {
                    let before = refused.len();
                    crate::net::udp::take_unreachable(fd, refused, 64);
                    if refused.len() > before {
                        return Err(io::ErrorKind::ConnectionRefused.into());
                    }
                }
                match mmsg::recv_batch(fd, queued) {
                    // WouldBlock (nothing queued) makes read_with wait.
                    Some(r) => r.map(|()| None),
                    None => {
                        if *gro == Gro::On {
                            mmsg::disable_gro(fd);
                        }
                        *gro = Gro::Off;
                        recv_one(s).map(Some)
                    }
                }
            })
            .await
    }

    #[cfg(not(target_os = "linux"))]
    async fn receive(&mut self) -> io::Result<Option<(Bytes, SocketAddr)>> {
        self.io.read_with(recv_one).await.map(Some)
    }
}

/// The receive buffer a UDP socket asks for when `--rb` left it at the
/// kernel's default (the kernel caps it at net.core.rmem_max). Measured
/// (docs/BENCH.md): a receiver that keeps up on average still loses
/// datagrams whenever it waits a few ms for a core, because the default
/// (212,992 bytes) holds only about 300 small datagrams; 4 MiB holds 16x.
const RCVBUF: usize = 4 << 20;

/// Raise the receive buffer to `RCVBUF` unless it was set (`--rb`): a
/// socket still at the size a fresh one gets. Best effort.
fn widen_rcvbuf(s: &std::net::UdpSocket) {
    static DEFAULT: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let default = *DEFAULT.get_or_init(|| {
        let fresh = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None);
        fresh.and_then(|f| f.recv_buffer_size()).ok()
    });
    let s = socket2::SockRef::from(s);
    if default.is_some() && s.recv_buffer_size().ok() == default {
        let _ = s.set_recv_buffer_size(RCVBUF);
    }
}

/// Datagrams up to this size are copied out of the pool buffer, so a
/// queued small datagram (a DNS query) holds its own size, not 128 KiB.
const COPY_BELOW: usize = 4096;

/// Receive one datagram into a pooled buffer (no buffer held while
/// waiting; large datagrams are not copied).
fn recv_one(s: &std::net::UdpSocket) -> io::Result<(Bytes, SocketAddr)> {
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
}
