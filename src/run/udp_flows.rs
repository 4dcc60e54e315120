//! `--udp-flows`: a UDP listener's learned peer that finds no channel
//! partner gets a socket of its own to the target (as `socat
//! UDP-LISTEN:...,fork` does), so each client's replies come back to that
//! client only. A flow lives as long as its peer: it is closed when the
//! peer is forgotten (`--udp-idle`), and `--udp-peers` bounds both.
//!
//! A flow is an ordinary route (origin: the target) paired by the router
//! with the peer's route; only its socket and tasks are its own.

use super::conn::Conn;
use super::routes::{deliver, register, unregister, WriterCount};
use super::shared::Shared;
use super::udp_io::{write, Datagrams, QUEUE_DEPTH};
use crate::net::sockopt::SockOpts;
use crate::net::udp::{self as nudp, UdpOpts};
use crate::router::{Origin, RouteId};
use async_net::UdpSocket;
use bytes::Bytes;
use futures_lite::future;
use smol::channel::{bounded, Sender};
use smol::Async;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

/// Where flows go and how their sockets are made.
pub struct FlowTarget {
    pub dest: SocketAddr,
    /// The target's source address with port 0: each flow has its own port.
    pub src: SocketAddr,
    pub origin: Origin,
    pub opts: SockOpts,
    pub uopts: UdpOpts,
}

/// What a flow's tasks tell its owner.
pub enum FlowEvent {
    /// A datagram came back from the target (the flow is in use).
    Reply,
    /// The flow's socket failed (already reported); close the flow.
    Failed,
}

/// A live flow. Closing it (`close`) ends its tasks, which closes its socket.
pub struct Flow {
    id: RouteId,
    /// Dropped on close: both tasks wait on its other end.
    _stop: Sender<()>,
}

/// Open a flow for `peer`: bind a socket, register its route (the router
/// pairs it with the peer's unpaired route), and start its writer and reader.
pub fn open(
    shared: &Rc<Shared>,
    t: &FlowTarget,
    peer: SocketAddr,
    on: impl Fn(FlowEvent) + 'static,
) -> io::Result<Flow> {
    let sock = Rc::new(nudp::bind(t.src, &t.opts, &t.uopts)?);
    let local = sock.local_addr()?;
    let dest = t.dest;
    let (tx, rx) = bounded::<Bytes>(QUEUE_DEPTH);
    let id = register(
        shared,
        tx,
        t.origin,
        local,
        dest,
        Conn::new(format!("{local}<->{dest}")),
    );
    if shared.cfg.verbose > 0 {
        eprintln!("Opened flow {local}->{dest} for {peer}");
    }
    let (stop_tx, stop_rx) = bounded::<()>(1);
    let on = Rc::new(on);

    let (sh, s, stop, on_w) = (shared.clone(), sock.clone(), stop_rx.clone(), on.clone());
    shared.spawn(async move {
        let counted = WriterCount::new(&sh);
        let sent = future::or(write(&sh, id, &s, dest, rx), async {
            let _ = stop.recv().await;
            Ok(())
        })
        .await;
        drop(counted);
        if let Err(e) = sent {
            eprintln!(
                "Error forwarding to {dest} (flow of {peer}): {}",
                crate::error::describe(&e)
            );
            sh.fail();
            on_w(FlowEvent::Failed);
        }
    });

    let sh = shared.clone();
    shared.spawn(async move {
        let failed = future::or(read(&sh, id, &sock, dest, &*on), async {
            let _ = stop_rx.recv().await;
            None
        })
        .await;
        if let Some(e) = failed {
            eprintln!(
                "Closing flow {local}->{dest} of {peer}: receive failed: {}",
                crate::error::describe(&e)
            );
            on(FlowEvent::Failed);
        }
    });
    Ok(Flow { id, _stop: stop_tx })
}

/// Take the flow's route out of the router and end its tasks.
pub fn close(shared: &Shared, flow: Flow) {
    unregister(shared, flow.id);
    drop(flow);
}

/// Hand what the target sends to the flow's route (and so to its partner,
/// the peer). Anyone else writing to the flow's port is ignored. Returns
/// the error that ended it.
async fn read(
    shared: &Shared,
    id: RouteId,
    sock: &UdpSocket,
    dest: SocketAddr,
    on: &dyn Fn(FlowEvent),
) -> Option<io::Error> {
    let io: Arc<Async<std::net::UdpSocket>> = sock.clone().into();
    let mut inbox = Datagrams::new(io, false);
    loop {
        let (chunk, from) = match inbox.next().await {
            Ok(x) => x,
            // An ICMP unreachable for an earlier send (Windows): not fatal.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Some(e),
        };
        if from != dest {
            if shared.cfg.verbose > 1 {
                eprintln!("Dropped a datagram from {from} (not the flow's target {dest})");
            }
            continue;
        }
        if chunk.is_empty() {
            continue;
        }
        on(FlowEvent::Reply);
        shared.received(id, &chunk);
        deliver(shared, id, chunk).await;
    }
}
