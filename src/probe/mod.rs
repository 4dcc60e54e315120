//! The two-ended network check: `--probe-server ADDR` answers, `--probe
//! HOST:PORT` measures (TCP connect and throughput, UDP round trips and
//! loss, path MTU, broadcast, multicast, inbound TCP) and reports.
//!
//! `proto.rs` is the control protocol, `wire.rs` the UDP datagrams,
//! `server.rs` + `session.rs` the responder, `client.rs` runs the checks in
//! `checks/`, `report.rs` prints them.

#[cfg(feature = "probe")]
mod checks;
#[cfg(feature = "probe")]
mod client;
#[cfg(feature = "probe")]
mod clients;
// Also the path-MTU probe of `--check` (src/net/check/pmtu.rs).
#[cfg(any(feature = "probe", feature = "check"))]
pub mod dontfrag;
#[cfg(feature = "probe")]
mod mcast;
#[cfg(feature = "probe")]
mod proto;
#[cfg(feature = "probe")]
mod report;
#[cfg(feature = "probe")]
mod server;
#[cfg(feature = "probe")]
mod session;
#[cfg(feature = "probe")]
mod wire;

mod opts;

#[cfg(feature = "probe")]
use crate::error::Result;
pub use opts::{ProbeOpts, ProbeServerOpts};
#[cfg(feature = "probe")]
use std::future::Future;
#[cfg(feature = "probe")]
use std::time::{Duration, Instant};

/// Run the probe client; exit code 0 when every applicable check passed.
#[cfg(feature = "probe")]
pub fn run_client(o: ProbeOpts) -> Result<u8> {
    client::run(o)
}

/// Run the responder until killed (or after one client with `--once`).
#[cfg(feature = "probe")]
pub fn run_server(o: ProbeServerOpts) -> Result<u8> {
    server::run(o)
}

/// `f`, or an error naming `what` after `d`.
#[cfg(feature = "probe")]
pub async fn timeout<T>(
    d: Duration,
    what: &str,
    f: impl Future<Output = std::result::Result<T, String>>,
) -> std::result::Result<T, String> {
    futures_lite::future::or(f, async {
        smol::Timer::after(d).await;
        Err(timed_out(d, what))
    })
    .await
}

/// The timeout's message: one copy, not one per `timeout` instance.
#[cfg(feature = "probe")]
#[inline(never)]
fn timed_out(d: Duration, what: &str) -> String {
    format!(
        "timed out after {} s waiting for {what}",
        crate::decimal::secs_brief(d)
    )
}

/// `f`'s result, or None when `deadline` passes first.
#[cfg(feature = "probe")]
pub async fn until<T>(deadline: Instant, f: impl Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(f.await) }, async {
        smol::Timer::at(deadline).await;
        None
    })
    .await
}

/// The next probe datagram on `u` (with its length), skipping what does
/// not decode; `None` once `deadline` passes. A receive error waits out the
/// deadline rather than retrying at once (no busy loop).
#[cfg(feature = "probe")]
async fn recv_until(
    u: &async_net::UdpSocket,
    buf: &mut [u8],
    deadline: Instant,
) -> Option<(wire::Dgram, usize)> {
    loop {
        match until(deadline, u.recv_from(buf)).await? {
            Ok((n, _)) => {
                if let Some(d) = wire::Dgram::decode(&buf[..n]) {
                    return Some((d, n));
                }
            }
            Err(_) => {
                smol::Timer::at(deadline).await;
                return None;
            }
        }
    }
}

/// Milliseconds, to be printed with some decimals.
#[cfg(feature = "probe")]
pub fn ms(d: Duration) -> crate::decimal::Dbl {
    crate::decimal::Dbl::ratio(d.as_nanos(), 1_000_000)
}
