//! Path MTU: the largest UDP datagram that crosses both ways with
//! don't-fragment set, found by binary search. Reported as the IP MTU
//! (payload + 28 for IPv4, + 48 for IPv6).

use super::Ctl;
use crate::error::describe;
use crate::probe::dontfrag::too_big;
use crate::probe::recv_until;
use crate::probe::report::{Check, Val};
use crate::probe::wire::{Dgram, Kind, HEADER};
use async_net::UdpSocket;
use std::time::{Duration, Instant};

const TRIES: u32 = 3;
const WAIT: Duration = Duration::from_millis(300);

/// `df`: whether don't-fragment could be set on `u` (else: skipped).
pub async fn run(ctl: &mut Ctl, u: &UdpSocket, df: &Result<(), String>) -> Result<Check, String> {
    if let Err(why) = df {
        return Ok(Check::skipped("pmtu", why));
    }
    let v6 = ctl.server_udp.is_ipv6();
    let overhead: usize = if v6 { 48 } else { 28 };
    let mut p = Prober {
        u,
        ctl,
        seq: 0,
        sent: 0,
        buf: vec![0u8; 65_536],
    };
    // One await of `crosses` for every size: the header alone first
    // (nothing crosses: `None`), then a binary search above it.
    let r = async {
        let (mut lo, mut hi) = (HEADER, 65_535 - overhead);
        let mut first = true;
        loop {
            let size = if first {
                HEADER
            } else if lo < hi {
                lo + (hi - lo).div_ceil(2)
            } else {
                return Ok::<_, String>(Some(lo));
            };
            let ok = p.crosses(size).await?;
            if first {
                if !ok {
                    return Ok(None);
                }
                first = false;
            } else if ok {
                lo = size;
            } else {
                hi = size - 1;
            }
        }
    }
    .await;
    let probes = u64::from(p.sent);
    Ok(match r {
        Err(e) => Check::failed("pmtu", &e),
        Ok(None) => Check::failed(
            "pmtu",
            &format!("not even a {HEADER}-byte datagram came back with don't-fragment set"),
        ),
        Ok(Some(payload)) => {
            let mtu = payload + overhead;
            Check::new(
                "pmtu",
                true,
                format!(
                    "path MTU {mtu} bytes (IP; largest UDP payload both ways with \
                     don't-fragment: {payload})"
                ),
            )
            .with("mtu", Val::Int(mtu as u64))
            .with("payload", Val::Int(payload as u64))
            .with("probes", Val::Int(probes))
        }
    })
}

struct Prober<'a> {
    u: &'a UdpSocket,
    ctl: &'a Ctl,
    seq: u32,
    sent: u32,
    buf: Vec<u8>,
}

impl Prober<'_> {
    /// Whether a `size`-byte datagram reaches the server and its echo of the
    /// same size comes back.
    async fn crosses(&mut self, size: usize) -> Result<bool, String> {
        for _ in 0..TRIES {
            self.seq = self.seq.wrapping_add(1);
            let d = Dgram {
                kind: Kind::Probe,
                token: self.ctl.token,
                seq: self.seq,
            };
            self.sent += 1;
            match self.u.send_to(&d.encode(size), self.ctl.server_udp).await {
                Ok(_) => {}
                // Over the MTU the system already knows for this path.
                Err(e) if too_big(&e) => return Ok(false),
                Err(e) => return Err(format!("sending a {size}-byte probe: {}", describe(&e))),
            }
            let deadline = Instant::now() + WAIT;
            while let Some((echo, n)) = recv_until(self.u, &mut self.buf, deadline).await {
                if n == size && (echo.kind, echo.token, echo.seq) == (Kind::Echo, d.token, d.seq) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}
