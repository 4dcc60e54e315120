//! The path MTU to the first target: datagrams with don't-fragment set
//! (src/probe/dontfrag.rs), the largest the system lets out once a
//! too-big answer from a router on the way had time to come back. A size
//! over the known path MTU fails locally (EMSGSIZE), so the search costs a
//! few datagrams to the target's port and no echo server.

use super::Ctx;
use crate::probe::dontfrag;
use std::net::SocketAddr;
use std::time::Duration;

/// One line of evidence.
pub async fn run(ctx: &Ctx, to: SocketAddr) -> String {
    match measure(ctx, to).await {
        Ok(mtu) => format!("path MTU {mtu} to {} (don't-fragment probes)", to.ip()),
        Err(why) => format!("path MTU not measured: {why}"),
    }
}

async fn measure(ctx: &Ctx, to: SocketAddr) -> Result<usize, String> {
    let v6 = to.is_ipv6();
    let overhead: usize = if v6 { 48 } else { 28 };
    let floor: usize = if v6 { 1280 } else { 576 };
    let err = |e: std::io::Error| crate::error::describe(&e);
    let s = async_net::UdpSocket::bind(crate::net::resolve::wildcard(!v6, 0))
        .await
        .map_err(err)?;
    s.connect(to).await.map_err(err)?;
    // The MTU of the link the route leaves by: the one holding our source address.
    let local = s.local_addr().map_err(err)?.ip();
    let link = ctx
        .snap
        .addrs
        .iter()
        .find(|a| a.ip == local)
        .and_then(|a| {
            let name = super::base(&a.name);
            ctx.snap.links.iter().find(|l| l.name == name)
        })
        .and_then(|l| l.mtu)
        .unwrap_or(1500)
        .clamp(floor as u32, 65_535) as usize;
    dontfrag::set(&s, v6).map_err(err)?;
    let buf = vec![0u8; link];
    // Whether `size` (IP bytes) leaves with don't-fragment.
    let fits = |size: usize| {
        let s = &s;
        let buf = &buf;
        async move {
            for _ in 0..2 {
                // A router's "too big" is left pending on the socket and
                // would fail the next send whatever its size: clear it.
                let _ = socket2::SockRef::from(s).take_error();
                match s.send(&buf[..size - overhead]).await {
                    Ok(_) => return Ok(true),
                    Err(e) if dontfrag::too_big(&e) => return Ok(false),
                    // An earlier datagram's port unreachable: send again.
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                    Err(e) => return Err(err(e)),
                }
            }
            Ok(true)
        }
    };
    // One await of `fits` for every size tried (each await of it would be
    // its own copy in the layers' state machine): a full-size datagram,
    // again after time for a router's "too big", then the floor and a
    // binary search between it and the link's MTU.
    let (mut lo, mut hi) = (floor, link - 1);
    // 0: full size, 1: full size again, 2: the floor, 3: the search.
    let mut step = 0u8;
    loop {
        let size = match step {
            0 | 1 => link,
            2 => lo,
            _ if lo < hi => lo + (hi - lo).div_ceil(2),
            _ => return Ok(lo),
        };
        let ok = fits(size).await?;
        match (step, ok) {
            (0, true) => {
                smol::Timer::after(Duration::from_millis(200).min(ctx.opts.wait / 4)).await;
                step = 1;
            }
            (1, true) => return Ok(link),
            (0 | 1, false) => step = 2,
            (2, false) => return Err(format!("not even {lo} bytes leave with don't-fragment")),
            (2, true) => step = 3,
            (_, true) => lo = size,
            (_, false) => hi = size - 1,
        }
    }
}
