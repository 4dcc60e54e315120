//! Serving one connected stream socket (TCP, or UNIX: `net::stream`). `open` joins it to the router at once
//! (so the end-of-run rule and the pairing see it in the same step as the
//! accept or connect that made it); `serve` runs its read loop (`read.rs`:
//! copy or splice, chosen per chunk) and its writer (`write.rs`) until both
//! directions are finished, or gives it a child of its own (`exec.rs`,
//! `--exec-each`). Listeners and dials both come here.

#[cfg(feature = "exec")]
mod exec;
mod read;
mod write;

use super::conn::Conn;
use super::routes::{
    ended_from_outside, on_abort, register, unregister, Ended, WriterCount, QUEUE_DEPTH,
};
use super::shared::Shared;
use crate::net::stream::Stream;
use crate::router::{Origin, RouteId};
use bytes::Bytes;
use smol::channel::{bounded, Receiver};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;

/// A connected socket that is a route in the router.
pub struct Opened {
    stream: Stream,
    id: RouteId,
    /// What the router sends to this socket.
    rx: Receiver<Bytes>,
}

/// Where a connection runs between. A UNIX socket has no IP address: its
/// route gets `0.0.0.0:0` both ways (so no channel rule compares them),
/// and its label names the path.
pub struct Ends {
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// `local<->peer` as status lines and statistics print it.
    pub label: String,
}

impl Ends {
    pub fn inet(local: SocketAddr, peer: SocketAddr) -> Ends {
        Ends {
            local,
            peer,
            label: format!("{local}<->{peer}"),
        }
    }

    #[cfg(feature = "unix")]
    pub fn unix(label: String) -> Ends {
        let none = SocketAddr::from(([0, 0, 0, 0], 0));
        Ends {
            local: none,
            peer: none,
            label,
        }
    }
}

pub fn open(shared: &Shared, stream: Stream, origin: Origin, ends: &Ends) -> Opened {
    if shared.cfg.mode != crate::router::FwdMode::None {
        // A relay forwards each chunk as it comes: Nagle's algorithm would
        // hold a short reply back behind a delayed ACK (about 40 ms per
        // request/response exchange through a tunnel).
        stream.set_nodelay();
    }
    let (tx, rx) = bounded::<Bytes>(QUEUE_DEPTH);
    #[allow(unused_mut)]
    let mut conn = Conn::new(ends.label.clone());
    // Known at once to the splice paths (the local input pump may look for
    // it before this socket's own task has run). Only a TCP socket is
    // spliced into; a UNIX one is read by splice, written by copy.
    #[cfg(all(target_os = "linux", feature = "splice"))]
    {
        conn.socket = stream.tcp().map(|t| t.clone().into());
    }
    let id = register(shared, tx, origin, ends.local, ends.peer, conn);
    Opened { stream, id, rx }
}

impl Opened {
    /// The route it was registered as.
    pub fn id(&self) -> RouteId {
        self.id
    }
}

pub async fn serve(shared: Rc<Shared>, o: Opened) -> Ended {
    #[cfg(feature = "exec")]
    if let Some(e) = shared.cfg.exec.as_ref().filter(|e| e.each) {
        let cmd = e.cmd.clone();
        // Nothing local sends to an --exec-each route; `o.rx` is kept only
        // so that sends to it are not errors.
        let _unused = o.rx;
        return exec::serve(shared, o.stream, o.id, &cmd).await;
    }
    plain(shared, o.stream, o.id, o.rx).await
}

/// Serve a connected socket until both directions are finished.
async fn plain(shared: Rc<Shared>, stream: Stream, id: RouteId, rx: Receiver<Bytes>) -> Ended {
    let abort_rx = on_abort(&shared, id);
    let reader = read::read_loop(&shared, id, &stream);
    let writer = async {
        let _counted = WriterCount::new(&shared);
        write::write_loop(&shared, id, &stream, rx).await
    };
    let both = async { Ok(futures_lite::future::zip(reader, writer).await) };
    let stop = async { Err(ended_from_outside(&shared, id, abort_rx).await) };
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
