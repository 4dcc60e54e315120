//! Gateway: the default route's next hop (the first of each family, asked
//! at once) answers at the link layer or to ICMP echo.
//!
//! Linux, link layer: with CAP_NET_RAW an ARP request / NDP solicitation is
//! sent directly (direct.rs), a fresh answer whatever the kernel's entry
//! says. Without it a datagram to the gateway's discard port (the "nudge")
//! makes the kernel resolve it; a `reachable` neighbour entry afterwards is
//! the answer, and so is an ICMP port unreachable for the nudge. Windows:
//! SendARP. Echo (icmp.rs): a ping socket, a raw socket, or IcmpSendEcho.
//! What could not run for want of privilege is noted in `ctx.privilege`.

use super::icmp::{self, Echo};
use super::report::{blocked, Layer};
use super::{ms, Ctx};
use crate::net::ifaces::Route;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

/// What one gateway did.
struct Seen {
    /// Link-layer answer: the MAC and how long it took, or why not.
    neigh: Result<String, String>,
    echo: Echo,
    /// The nudge came back as ICMP port unreachable (the host is there).
    refused: bool,
    /// ARP/NDP could not be sent directly for want of privilege.
    direct_denied: bool,
    /// A TCP port of the gateway answered (SYN-ACK or reset), when ARP/NDP
    /// could not be sent directly.
    knock: Option<String>,
}

impl Seen {
    fn answered(&self) -> bool {
        self.neigh.is_ok()
            || matches!(self.echo, Echo::Reply(..))
            || self.refused
            || self.knock.is_some()
    }
}

/// The gateway's socket address: a link-local IPv6 one needs its interface.
fn sockaddr(gw: IpAddr, iface: &str) -> SocketAddr {
    match gw {
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => SocketAddr::V6(SocketAddrV6::new(
            v6,
            9,
            0,
            crate::net::ifaces::scope_id(iface).unwrap_or(0),
        )),
        ip => SocketAddr::new(ip, 9),
    }
}

pub async fn run(ctx: &mut Ctx, before: &[Layer]) -> Layer {
    if let Some(l) = blocked("gateway", before, "address", "no address") {
        ctx.gateway_ok = Some(false);
        return l;
    }
    let routes = ctx.routes();
    if routes.is_empty() {
        ctx.gateway_ok = Some(false);
        let why = match (&ctx.snap.routes4, &ctx.snap.routes6) {
            (Err(e), Err(_)) => format!("default routes not known: {e}"),
            _ => "no default route on a live link with an address".to_string(),
        };
        return Layer::fail(
            "gateway",
            why,
            "no default route: DHCP gave no router, or none is configured (local subnet only)",
        );
    }
    // The first route of each family.
    let mut picked: Vec<Route> = Vec::new();
    let mut families: Vec<bool> = Vec::new();
    for (v4, r) in routes {
        if !families.contains(&v4) {
            families.push(v4);
            picked.push(r);
        }
    }
    let wait = ctx.opts.wait;
    let mut parts = Vec::new();
    let mut any = false;
    let mut need_priv = false;
    let mut direct_denied = false;
    // Each family's gateway at once, so the layer stays within one wait.
    let mut tasks = Vec::new();
    for r in &picked {
        let Some(gw) = r.gateway else {
            any = true;
            parts.push(format!(
                "default route straight onto {} (no gateway to ask)",
                r.iface
            ));
            continue;
        };
        let iface = r.iface.clone();
        let mac = ctx
            .snap
            .links
            .iter()
            .find(|l| l.name == iface)
            .and_then(|l| l.mac.clone());
        // The source of an ARP request: our address on the gateway's subnet.
        let mine = |a: &&crate::net::ifaces::IfAddr| super::base(&a.name) == iface;
        let src = ctx
            .addrs
            .iter()
            .filter(mine)
            .find(|a| {
                a.prefix
                    .is_some_and(|p| crate::net::acl::Cidr::new(a.ip, p).contains(gw))
            })
            .or_else(|| ctx.addrs.iter().filter(mine).find(|a| a.ip.is_ipv4()))
            .and_then(|a| match a.ip {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            });
        tasks.push(super::spawn(async move {
            let seen = probe(gw, &iface, mac, src, wait).await;
            (gw, iface, seen)
        }));
    }
    for t in tasks {
        let Some((gw, iface, seen)) = t.join().await else {
            continue;
        };
        any |= seen.answered();
        if matches!(seen.echo, Echo::NoPrivilege) {
            need_priv = true;
        }
        direct_denied |= seen.direct_denied;
        parts.push(describe(gw, &iface, &seen, wait));
    }
    if need_priv {
        ctx.privilege.push(
            "ICMP echo to the gateway needs root, CAP_NET_RAW or a group in \
             net.ipv4.ping_group_range: judged without it"
                .into(),
        );
    }
    if direct_denied {
        ctx.privilege.push(
            "ARP/NDP sent directly needs root or CAP_NET_RAW: the kernel's neighbour entry \
             after a nudge, and a TCP knock on ports 80/443/53, were used instead"
                .into(),
        );
    }
    ctx.gateway_ok = Some(any);
    if any {
        Layer::pass("gateway", parts.join("; "))
    } else {
        Layer::fail(
            "gateway",
            parts.join("; "),
            "the gateway does not answer: router down, wrong gateway address, or the link \
             leads elsewhere (VLAN, Wi-Fi isolation)",
        )
    }
}

fn describe(gw: IpAddr, iface: &str, s: &Seen, wait: Duration) -> String {
    let mut out = format!("{gw} on {iface}: ");
    let arp = if gw.is_ipv4() { "ARP" } else { "NDP" };
    match &s.neigh {
        Ok(what) => out.push_str(&format!("{arp} {what}")),
        Err(why) => out.push_str(&format!("{arp} {why}")),
    }
    match &s.echo {
        Echo::Reply(d, how) => out.push_str(&format!(
            ", echo reply in {} ms ({how})",
            crate::decimal::millis(*d, 2)
        )),
        Echo::NoReply(how) => out.push_str(&format!(
            ", no echo reply within {} s ({how})",
            crate::decimal::secs_shortest(wait)
        )),
        Echo::NoPrivilege => out.push_str(", echo not allowed (needs privilege)"),
        Echo::Error(e) => out.push_str(&format!(", echo: {e}")),
    }
    if s.refused {
        out.push_str(", answered the nudge (port unreachable)");
    }
    if let Some(k) = &s.knock {
        out.push_str(&format!(", {k}"));
    }
    out
}

/// Ports a router often has, open or closed: either way it answers.
const KNOCK_PORTS: [u16; 3] = [80, 443, 53];

/// A TCP connect to each of `KNOCK_PORTS` at once; the first SYN-ACK or
/// reset says the gateway is there (no privilege needed, unlike ARP sent
/// directly or an echo). `None` when none answered within `wait`.
async fn knock(to: SocketAddr, wait: Duration) -> Option<String> {
    let start = Instant::now();
    let one = |port: u16| async move {
        let mut a = to;
        a.set_port(port);
        let opts = crate::net::sockopt::SockOpts::default();
        match crate::net::tcp::connect(a, None, &opts, Some(wait)).await {
            Ok(_) => Some(format!("TCP port {port} open ({} ms)", ms(start))),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Some(format!(
                "TCP port {port} answered with a reset ({} ms)",
                ms(start)
            )),
            // Silence or an error: let another port or the timer decide.
            Err(_) => {
                smol::Timer::after(wait).await;
                None
            }
        }
    };
    let all = smol::future::race(
        smol::future::race(one(KNOCK_PORTS[0]), one(KNOCK_PORTS[1])),
        one(KNOCK_PORTS[2]),
    );
    smol::future::or(all, async {
        smol::Timer::after(wait).await;
        None
    })
    .await
}

/// ARP/NDP (directly where privileged, else a nudge and the neighbour
/// entry) and an echo, at once.
async fn probe(
    gw: IpAddr,
    iface: &str,
    mac: Option<String>,
    src: Option<std::net::Ipv4Addr>,
    wait: Duration,
) -> Seen {
    let to = sockaddr(gw, iface);
    let link = async {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let mut denied = false;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let denied = false;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(mac) = &mac {
            use super::direct::{ask, Direct};
            let index = crate::net::ifaces::scope_id(iface).unwrap_or(0);
            match ask(gw, index, mac, src, wait).await {
                Direct::Reply(m, d) => {
                    let ms = crate::decimal::millis(d, 2);
                    return (
                        Ok(format!("reply in {ms} ms ({m}, sent directly)")),
                        false,
                        false,
                        None,
                    );
                }
                Direct::NoReply => {
                    let w = crate::decimal::secs_shortest(wait);
                    return (
                        Err(format!("no reply within {w} s (sent directly)")),
                        false,
                        false,
                        None,
                    );
                }
                Direct::NoPrivilege => denied = true,
                Direct::Unavailable => {}
            }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = (&mac, src);
        let ((r, refused), knocked) =
            smol::future::zip(neighbour(to, iface.to_string(), wait), knock(to, wait)).await;
        (r, refused, denied, knocked)
    };
    let ((neigh, refused, direct_denied, knock), echo) =
        smol::future::zip(link, icmp::echo(to, wait)).await;
    Seen {
        neigh,
        echo,
        refused,
        direct_denied,
        knock,
    }
}

/// Send the nudge (one UDP datagram to the discard port) and wait for the
/// neighbour entry to resolve, or for the nudge to be refused.
#[cfg(any(target_os = "linux", target_os = "android"))]
async fn neighbour(
    to: SocketAddr,
    iface: String,
    wait: Duration,
) -> (Result<String, String>, bool) {
    use crate::net::ifaces::netlink;
    let start = Instant::now();
    let index = crate::net::ifaces::scope_id(&iface).unwrap_or(0);
    let find = move || {
        netlink::neighbours().map(|list| {
            list.into_iter()
                .find(|n| n.ip == to.ip() && (index == 0 || n.index == index))
        })
    };
    let before = crate::net::unblock(find).await.unwrap_or(Ok(None));
    if let Ok(Some(n)) = &before {
        // Confirmed within the last reachable time: the kernel's own evidence.
        if n.state & netlink::NUD_CONFIRMED != 0 {
            let mac = n.mac.clone().unwrap_or_else(|| "no MAC".into());
            return (Ok(format!("entry {} ({mac})", n.state_name())), false);
        }
    }
    let sock = match nudge(to).await {
        Ok(s) => s,
        Err(e) => return (Err(format!("nudge failed: {e}")), false),
    };
    let mut refused = false;
    let mut last = String::from("no entry");
    let deadline = start + wait;
    let mut buf = [0u8; 64];
    while Instant::now() < deadline {
        // A refused nudge (ICMP port unreachable) shows the host is there.
        let tick = smol::future::or(
            async {
                match sock.recv(&mut buf).await {
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => true,
                    _ => {
                        smol::Timer::after(Duration::from_secs(3600)).await;
                        false
                    }
                }
            },
            async {
                smol::Timer::after(Duration::from_millis(25)).await;
                false
            },
        )
        .await;
        refused |= tick;
        match crate::net::unblock(find).await.unwrap_or(Ok(None)) {
            // Only a fresh confirmation counts (a stale entry may be from before).
            Ok(Some(n)) if n.resolved() && n.state & netlink::NUD_CONFIRMED != 0 => {
                let mac = n.mac.clone().unwrap_or_default();
                return (Ok(format!("answered in {} ms ({mac})", ms(start))), refused);
            }
            Ok(Some(n)) => last = format!("entry {}", n.state_name()),
            Ok(None) => {}
            Err(e) => {
                return (
                    Err(format!(
                        "neighbour table not readable: {}",
                        crate::error::describe(&e)
                    )),
                    refused,
                )
            }
        }
        if refused {
            // The host answered the nudge; its entry may not be confirmed yet.
            return (Err(format!("{last}, not confirmed yet")), refused);
        }
    }
    (
        Err(format!(
            "no answer within {} s ({last})",
            crate::decimal::secs_shortest(wait)
        )),
        refused,
    )
}

#[cfg(windows)]
async fn neighbour(
    to: SocketAddr,
    _iface: String,
    wait: Duration,
) -> (Result<String, String>, bool) {
    match to.ip() {
        IpAddr::V4(v4) => {
            let start = Instant::now();
            // SendARP waits as long as Windows likes: bounded here.
            let arp = smol::unblock(move || super::win::send_arp(v4));
            let late = async {
                smol::Timer::after(wait).await;
                Err(format!(
                    "no answer within {} s",
                    crate::decimal::secs_shortest(wait)
                ))
            };
            let r = smol::future::or(arp, late).await;
            (
                r.map(|mac| format!("answered in {} ms ({mac})", ms(start))),
                false,
            )
        }
        IpAddr::V6(_) => (Err("not tried (NDP is not read on Windows)".into()), false),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", windows)))]
async fn neighbour(
    to: SocketAddr,
    _iface: String,
    wait: Duration,
) -> (Result<String, String>, bool) {
    let start = Instant::now();
    let Ok(sock) = nudge(to).await else {
        return (Err("not read on this platform".into()), false);
    };
    let mut buf = [0u8; 64];
    let refused = smol::future::or(
        async { matches!(sock.recv(&mut buf).await, Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused) },
        async {
            smol::Timer::after(wait).await;
            false
        },
    )
    .await;
    let _ = start;
    (Err("not read on this platform".into()), refused)
}

/// One datagram to the gateway's discard port from a connected socket.
#[cfg(not(windows))]
async fn nudge(to: SocketAddr) -> std::io::Result<async_net::UdpSocket> {
    let any = crate::net::resolve::wildcard(to.is_ipv4(), 0);
    let s = async_net::UdpSocket::bind(any).await?;
    s.connect(to).await?;
    s.send(b"netcrab --check").await?;
    Ok(s)
}
