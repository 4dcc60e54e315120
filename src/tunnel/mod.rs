//! Tunnel mode: reverse tunnels that serve many clients at once, dial the
//! service only when a client comes, and (feature `secret`) admit only an
//! inside end that holds the shared secret. Self-contained: it does not go
//! through the router, and plain `--fm channels` is untouched.
//!
//! The inside end (`--tunnel-inside`) keeps one control connection to the
//! relay (`--tunnel-relay`). When a client connects to the relay's public
//! port, the relay sends `Conn id` on control; the inside end dials the
//! service, opens a new data connection to the relay carrying `Accept id`,
//! and the relay splices the client and that connection together.
//!
//! `proto.rs` is the wire protocol, `auth.rs` the HMAC challenge and
//! response, `relay.rs` and `inside.rs` the two ends.

mod auth;
mod inside;
mod opts;
mod proto;
mod relay;

use crate::error::Result;
use async_net::{Shutdown, TcpStream};
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
pub use opts::{SecretBytes, TunnelInsideOpts, TunnelRelayOpts};
use std::future::Future;
use std::time::Duration;

/// The bound on each handshake step (connect, Hello, Challenge, Login,
/// Accept, Paired) and on a client waiting for the inside end.
pub const HANDSHAKE: Duration = Duration::from_secs(10);
/// The relay pings the control connection this often...
pub const PING_EVERY: Duration = Duration::from_secs(10);
/// ...and either end gives it up after this long without a message.
pub const CONTROL_IDLE: Duration = Duration::from_secs(30);

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
    futures_lite::future::or(f, async {
        smol::Timer::after(d).await;
        Err(format!("no {what} within {} s", d.as_secs()))
    })
    .await
}

/// Copy both ways between `a` and `b` until both directions have ended.
/// An end of input is passed on as a half-close; an error ends both
/// directions at once (a vanished peer frees everything).
pub async fn pipe(a: TcpStream, b: TcpStream) {
    futures_lite::future::zip(copy(a.clone(), b.clone()), copy(b, a)).await;
}

async fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(_) => break,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    // Wake the other direction too: its read ends, its writes fail.
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
