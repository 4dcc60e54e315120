//! One connection's state: the value the router keeps with each route
//! (a TCP connection, an `--exec-each` connection, a UDP peer). Everything
//! that names a route lives here, so a route that leaves takes it all with
//! it in one `Router::remove`.

use smol::channel::Sender;
use std::cell::Cell;
use std::time::Instant;

pub struct Conn {
    /// `local<->peer`: names the route in statistics and the hex dump.
    #[cfg_attr(not(any(feature = "stats", feature = "hexdump")), allow(dead_code))]
    pub label: String,
    /// The TCP socket, for the splice paths that write into it (a relay's
    /// partner, local input's only socket); `None` for UDP peers.
    #[cfg(all(target_os = "linux", feature = "splice"))]
    pub socket: Option<std::sync::Arc<smol::Async<std::net::TcpStream>>>,
    /// When data last moved either way (`--idle-timeout`).
    pub activity: Cell<Instant>,
    /// When its writer started the socket write it is still in: hub mode
    /// drops a client stuck that long, and splice must not overtake it.
    pub writing_since: Cell<Option<Instant>>,
    /// How to end the route from outside its task (idle, slow in hub).
    pub abort: Option<Sender<bytes::Bytes>>,
    /// `--exec-each`: the connection's child, ended with it.
    #[cfg(feature = "exec")]
    pub child: Option<crate::local::exec::Control>,
    /// Bytes and messages each way (`--stats`).
    #[cfg(feature = "stats")]
    pub counts: crate::stats::RouteCounts,
}

impl Conn {
    pub fn new(label: String) -> Conn {
        Conn {
            label,
            #[cfg(all(target_os = "linux", feature = "splice"))]
            socket: None,
            activity: Cell::new(Instant::now()),
            writing_since: Cell::new(None),
            abort: None,
            #[cfg(feature = "exec")]
            child: None,
            #[cfg(feature = "stats")]
            counts: Default::default(),
        }
    }

    /// Whether its writer is in the middle of a socket write.
    #[cfg(all(target_os = "linux", feature = "splice"))]
    pub fn writing(&self) -> bool {
        self.writing_since.get().is_some()
    }
}
