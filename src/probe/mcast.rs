//! The multicast exchange both ends run: join the group on the interface
//! of the control connection, send a few datagrams, count the other side's.

use super::wire::{Dgram, Kind, HEADER};
use crate::net::sockopt::SockOpts;
use crate::net::udp::{self, McIface, UdpOpts};
use async_net::UdpSocket;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Datagrams each side sends.
pub const COUNT: u32 = 5;
const SPACING: Duration = Duration::from_millis(100);
const LISTEN: Duration = Duration::from_millis(1200);

/// A socket on `port` (0: any) that joined `group` on the interface that
/// holds `local` (the control connection's own address), so the traffic
/// stays on the path being checked.
pub fn socket(local: IpAddr, group: IpAddr, port: u16) -> Result<UdpSocket, String> {
    let local = local.to_canonical();
    if local.is_ipv4() != group.is_ipv4() {
        return Err(format!(
            "group {group} and the control connection ({local}) differ in address family"
        ));
    }
    let any = crate::net::resolve::wildcard(group.is_ipv4(), 0).ip();
    let opts = UdpOpts {
        broadcast: false,
        multicast: true,
        mc_loop: true,
    };
    let u = udp::bind(SocketAddr::new(any, port), &SockOpts::default(), &opts)
        .map_err(|e| format!("binding port {port}: {}", crate::error::describe(&e)))?;
    let iface = match local {
        IpAddr::V4(a) => McIface::V4(a),
        IpAddr::V6(a) => McIface::Index(index_of(a)),
    };
    udp::join(&u, group, &iface)
        .map_err(|e| format!("joining {group}: {}", crate::error::describe(&e)))?;
    Ok(u)
}

/// The interface index holding IPv6 address `a` (0 if unknown).
fn index_of(a: Ipv6Addr) -> u32 {
    crate::net::ifaces::local_addrs()
        .ok()
        .and_then(|l| l.into_iter().find(|i| i.ip == IpAddr::V6(a)))
        .and_then(|i| crate::net::ifaces::scope_id(&i.name))
        .unwrap_or(0)
}

/// Send [`COUNT`] datagrams of kind `mine` to the group while counting the
/// ones of kind `theirs` with our token.
pub async fn exchange(
    sock: &UdpSocket,
    group: IpAddr,
    port: u16,
    token: u64,
    mine: Kind,
    theirs: Kind,
) -> u32 {
    let dest = SocketAddr::new(group, port);
    let start = Instant::now();
    let end = start + LISTEN;
    let mut sent = 0u32;
    let mut heard = 0u32;
    let mut buf = vec![0u8; 2048];
    loop {
        let now = Instant::now();
        let next_send = start + SPACING * sent;
        if sent < COUNT && now >= next_send {
            let d = Dgram {
                kind: mine,
                token,
                seq: sent,
            };
            let _ = sock.send_to(&d.encode(HEADER), dest).await;
            sent += 1;
            continue;
        }
        if now >= end {
            return heard;
        }
        let wake = if sent < COUNT {
            next_send.min(end)
        } else {
            end
        };
        if let Some((d, _)) = super::recv_until(sock, &mut buf, wake).await {
            if d.kind == theirs && d.token == token {
                heard += 1;
            }
        }
    }
}
