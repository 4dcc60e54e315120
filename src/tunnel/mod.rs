//! Tunnel mode: reverse tunnels that serve many clients at once, dial the
//! service only when a client comes, and (feature `secret`) admit only an
//! inside end that holds the shared secret. Self-contained: it does not go
//! through the router, and plain `--fm channels` is untouched.
//!
//! The inside end (`--tunnel-inside`) keeps one control connection to the
//! relay (`--tunnel-relay`), directly or through a proxy. When a client
//! connects to the relay's k-th public address (or a new UDP peer sends to
//! it), the relay sends `Conn id k` on control; the inside end dials the
//! k-th service, opens a new data connection to the relay carrying
//! `Accept id`, and the relay splices the client and that connection.
//!
//! `proto.rs` is the wire protocol, `data.rs` the framing of data
//! connections (half-closes and datagrams carried in the protocol),
//! `mux.rs` the mux link of `--tunnel-mux` (every client stream on the
//! control connection, with per-stream credit windows),
//! `auth.rs` the HMAC challenge and response, `dial.rs` the way to the
//! relay (direct or proxy), `relay.rs` and `inside.rs` the two ends.

mod auth;
mod data;
mod dial;
mod inside;
mod mailbox;
mod mux;
mod opts;
mod proto;
mod relay;

use crate::error::Result;
pub use opts::{Proto, SecretBytes, Service, TunnelInsideOpts, TunnelRelayOpts};
pub use proto::MAX_SERVICES;
use std::future::Future;
use std::time::Duration;

/// The bound on each handshake step (connect, Hello, Challenge, Login,
/// Accept, Paired) and on a client waiting for the inside end.
pub const HANDSHAKE: Duration = Duration::from_secs(10);
/// The default heartbeat (`--tunnel-keepalive`): each end pings this often
/// and gives the link up after three intervals without a message.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(10);

/// Run the relay until killed.
pub fn run_relay(o: TunnelRelayOpts) -> Result<u8> {
    relay::run(o)
}

/// Run the inside end until killed (or the relay refuses it).
pub fn run_inside(o: TunnelInsideOpts) -> Result<u8> {
    inside::run(o)
}

/// `f`, or an error naming `what` after `d`.
pub async fn within<T>(
    d: Duration,
    what: &str,
    f: impl Future<Output = std::result::Result<T, String>>,
) -> std::result::Result<T, String> {
    futures_lite::future::or(f, async { Err(expire(d, what).await) }).await
}

/// The deadline half of [`within`] (and of the inside end's bound), one
/// copy for every caller: resolves after `d` with the message.
pub async fn expire(d: Duration, what: &str) -> String {
    smol::Timer::after(d).await;
    format!("no {what} within {} s", crate::decimal::secs_brief(d))
}

/// A control connection's liveness: when a message last arrived, and since
/// when a write has been waiting for room. One [`Watch::dog`] task per link
/// checks both, so no timer is made per message (a busy relay sends a
/// `Conn` per client).
pub struct Watch {
    heard: std::cell::Cell<std::time::Instant>,
    writing: std::cell::Cell<Option<std::time::Instant>>,
}

impl Watch {
    pub fn new() -> Watch {
        Watch {
            heard: std::cell::Cell::new(std::time::Instant::now()),
            writing: std::cell::Cell::new(None),
        }
    }

    /// A message arrived.
    pub fn heard(&self) {
        self.heard.set(std::time::Instant::now());
    }

    /// Run `w` (a write) with the watch knowing it waits.
    pub async fn writing<T>(&self, w: impl Future<Output = T>) -> T {
        self.writing.set(Some(std::time::Instant::now()));
        let r = w.await;
        self.writing.set(None);
        r
    }

    /// Resolves with the reason once nothing has been heard for `idle`, or
    /// a write has waited [`HANDSHAKE`] for room.
    pub async fn dog(&self, idle: Duration, from: &str) -> String {
        loop {
            let now = std::time::Instant::now();
            let quiet = self.heard.get() + idle;
            if now >= quiet {
                return format!(
                    "no message from {from} within {} s; the link is dropped",
                    crate::decimal::secs_brief(idle)
                );
            }
            if let Some(t) = self.writing.get() {
                if now >= t + HANDSHAKE {
                    return format!(
                        "no room to send to {from} within {} s; the link is dropped",
                        crate::decimal::secs_brief(HANDSHAKE)
                    );
                }
            }
            // At least once a second, for a write that started meanwhile.
            smol::Timer::at(quiet.min(now + Duration::from_secs(1))).await;
        }
    }
}
