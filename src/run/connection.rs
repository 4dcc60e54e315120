//! Serving one connected TCP socket. `open` joins it to the router at once
//! (so the end-of-run rule and the pairing see it in the same step as the
//! accept or connect that made it); `serve` is the one place that chooses
//! between plain serving (`route.rs`) and a child per connection
//! (`exec_route.rs`, `--exec-each`). Listeners and dials both come here.

use super::registry::{register, Ended, QUEUE_DEPTH};
use super::shared::Shared;
use crate::router::{Origin, RouteId};
use async_net::TcpStream;
use bytes::Bytes;
use smol::channel::{bounded, Receiver};
use std::net::SocketAddr;
use std::rc::Rc;

/// A connected socket that is a route in the router.
pub struct Opened {
    stream: TcpStream,
    id: RouteId,
    /// What the router sends to this socket.
    rx: Receiver<Bytes>,
}

pub fn open(
    shared: &Shared,
    stream: TcpStream,
    origin: Origin,
    local: SocketAddr,
    peer: SocketAddr,
) -> Opened {
    if shared.cfg.mode != crate::router::FwdMode::None {
        // A relay forwards each chunk as it comes: Nagle's algorithm would
        // hold a short reply back behind a delayed ACK (about 40 ms per
        // request/response exchange through a tunnel).
        let _ = stream.set_nodelay(true);
    }
    let (tx, rx) = bounded::<Bytes>(QUEUE_DEPTH);
    let id = register(shared, tx, origin, local, peer);
    // Known at once to the splice paths (the local input pump may look for
    // it before this socket's own task has run).
    #[cfg(all(target_os = "linux", feature = "splice"))]
    shared
        .sockets
        .borrow_mut()
        .insert(id, stream.clone().into());
    Opened { stream, id, rx }
}

pub async fn serve(shared: Rc<Shared>, o: Opened) -> Ended {
    #[cfg(feature = "exec")]
    if let Some(e) = shared.cfg.exec.as_ref().filter(|e| e.each) {
        let cmd = e.cmd.clone();
        // Nothing local sends to an --exec-each route; `o.rx` is kept only
        // so that sends to it are not errors.
        let _unused = o.rx;
        return super::exec_route::serve(shared, o.stream, o.id, &cmd).await;
    }
    super::route::serve(shared, o.stream, o.id, o.rx).await
}
