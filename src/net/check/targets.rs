//! Targets: each `HOST:PORT` a TCP connect, each `udp:HOST:PORT` a datagram
//! that needs an answer (any datagram back; a port unreachable is "closed"),
//! with the round trip; TCP through `-X/-x` when given. Then the path MTU
//! to the first target (pmtu.rs). All targets at once, each within `-w`.

use super::report::{blocked, Layer};
use super::{ms, Ctx};
use crate::addr::HostPort;
use crate::cli::CheckTarget;
use crate::net::proxy::ProxySpec;
use crate::net::sockopt::SockOpts;
use crate::net::Family;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Where a TCP connection goes, decided before connecting.
#[derive(Clone)]
pub struct Route {
    pub family: Family,
    pub numeric: bool,
    pub proxy: Option<ProxySpec>,
}

/// Resolve `dest` off the event loop.
pub async fn resolve(dest: &HostPort, r: &Route) -> Result<Vec<SocketAddr>, String> {
    let (hp, fam, num) = (dest.clone(), r.family, r.numeric);
    crate::net::unblock(move || crate::net::resolve::dest(&hp, fam, num))
        .await
        .unwrap_or_else(|| Err(crate::error::Error::Runtime(String::new())))
        .map_err(|e| e.to_string())
}

/// Connect to `dest` directly or through the proxy; the stream and a
/// description of where it went.
pub async fn connect(
    dest: &HostPort,
    r: &Route,
    wait: Duration,
) -> Result<(async_net::TcpStream, String), String> {
    let start = Instant::now();
    let proxy = r.proxy.clone().filter(|p| !p.bypasses(&dest.host));
    if let Some(spec) = proxy {
        return via_proxy(dest, r, &spec, wait).await;
    }
    let addrs = resolve(dest, r).await?;
    let mut last = String::from("no address");
    for a in addrs {
        let left = wait.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        match crate::net::tcp::connect(a, None, &SockOpts::default(), Some(left)).await {
            Ok(s) => return Ok((s, a.to_string())),
            Err(e) => last = format!("{a}: {}", crate::error::describe(&e)),
        }
    }
    Err(last)
}

#[cfg(feature = "proxy")]
async fn via_proxy(
    dest: &HostPort,
    r: &Route,
    spec: &ProxySpec,
    wait: Duration,
) -> Result<(async_net::TcpStream, String), String> {
    let (s2, d2, fam, num) = (spec.clone(), dest.clone(), r.family, r.numeric);
    let req = crate::net::unblock(move || crate::net::proxy::request(&s2, &d2, fam, num))
        .await
        .unwrap_or_else(|| Err(crate::error::Error::Runtime(String::new())))
        .map_err(|e| e.to_string())?;
    let paddr = resolve(&spec.addr, r)
        .await?
        .into_iter()
        .next()
        .ok_or("the proxy has no address")?;
    let s = crate::net::proxy::connect(paddr, None, &SockOpts::default(), Some(wait), &req)
        .await
        .map_err(|e| crate::error::describe(&e))?;
    Ok((
        s,
        format!("{} via {} proxy {paddr}", req.target, kind_name(spec.kind)),
    ))
}

#[cfg(not(feature = "proxy"))]
async fn via_proxy(
    _dest: &HostPort,
    _r: &Route,
    _spec: &ProxySpec,
    _wait: Duration,
) -> Result<(async_net::TcpStream, String), String> {
    Err("the proxy feature is left out".into())
}

pub fn route_of(ctx: &Ctx) -> Route {
    Route {
        family: ctx.opts.family,
        numeric: ctx.opts.numeric,
        proxy: ctx.opts.proxy.clone(),
    }
}

/// Why a target cannot be tried now: each of its addresses is out of reach.
async fn unreachable(ctx: &Ctx, t: &CheckTarget, r: &Route) -> Option<String> {
    // Only literal addresses: a name's lookup is bounded with its attempt.
    if r.proxy.is_some() || !matches!(t.dest.host, crate::addr::Host::Ip(_)) {
        return None;
    }
    let addrs = resolve(&t.dest, r).await.ok()?;
    let why: Vec<&str> = addrs
        .iter()
        .filter_map(|a| ctx.cannot_reach(a.ip()))
        .collect();
    (why.len() == addrs.len() && !why.is_empty()).then(|| why[0].to_string())
}

pub async fn run(ctx: &mut Ctx, before: &[Layer]) -> Layer {
    if let Some(l) = blocked("targets", before, "address", "no address") {
        return l;
    }
    if ctx.opts.targets.is_empty() {
        return Layer::skip("targets", "no target given");
    }
    let r = route_of(ctx);
    let wait = ctx.opts.wait;
    let mut tasks = Vec::new();
    let mut skipped = Vec::new();
    let mut why_skipped = String::new();
    for t in ctx.opts.targets.clone() {
        if let Some(why) = unreachable(ctx, &t, &r).await {
            skipped.push(format!("{}: skipped: {why}", t.text));
            why_skipped = why;
            continue;
        }
        let r = r.clone();
        tasks.push(super::spawn(async move {
            // A name lookup may hang longer than the wait: bounded here.
            let attempt = async {
                if t.udp {
                    udp(&t, &r, wait).await
                } else {
                    tcp(&t, &r, wait).await
                }
            };
            let late = async {
                smol::Timer::after(wait + Duration::from_millis(200)).await;
                Err(format!(
                    "no answer within {} s",
                    crate::decimal::secs_shortest(wait)
                ))
            };
            let res = smol::future::or(attempt, late).await;
            (t, res)
        }));
    }
    let mut parts = Vec::new();
    let mut all_ok = skipped.is_empty();
    let mut first_addr = None;
    for task in tasks {
        let Some((t, res)) = task.join().await else {
            continue;
        };
        match res {
            Ok((msg, addr)) => {
                parts.push(format!("{}: {}", t.text, unrepeat(&t, &msg)));
                if first_addr.is_none() && r.proxy.is_none() {
                    first_addr = addr;
                }
            }
            Err(e) => {
                all_ok = false;
                parts.push(format!("{}: {}", t.text, unrepeat(&t, &e)));
            }
        }
    }
    parts.extend(skipped.iter().cloned());
    if parts.len() == skipped.len() {
        return Layer::skip("targets", &why_skipped);
    }
    // The path MTU to the first target that answered.
    if let Some(a) = first_addr {
        parts.push(super::pmtu::run(ctx, a).await);
    }
    let evidence = parts.join("; ");
    if all_ok {
        Layer::pass("targets", evidence)
    } else {
        let cause = if evidence.contains("refused") || evidence.contains("closed") {
            "a target refuses: nothing listens on that port, or a firewall rejects it"
        } else {
            "a target does not answer: host down, or packets dropped on the way"
        };
        Layer::fail("targets", evidence, cause)
    }
}

/// A message without the address the target's own text already shows.
fn unrepeat<'a>(t: &CheckTarget, msg: &'a str) -> &'a str {
    let bare = t
        .text
        .strip_prefix("udp:")
        .or(t.text.strip_prefix("tcp:"))
        .unwrap_or(&t.text);
    msg.strip_prefix(bare)
        .and_then(|m| m.strip_prefix(": "))
        .unwrap_or(msg)
}

async fn tcp(
    t: &CheckTarget,
    r: &Route,
    wait: Duration,
) -> Result<(String, Option<SocketAddr>), String> {
    let start = Instant::now();
    let (s, to) = connect(&t.dest, r, wait).await?;
    let peer = s.peer_addr().ok();
    Ok((format!("TCP connected to {to} in {} ms", ms(start)), peer))
}

/// One datagram; any datagram back is the answer. Sent again halfway.
async fn udp(
    t: &CheckTarget,
    r: &Route,
    wait: Duration,
) -> Result<(String, Option<SocketAddr>), String> {
    let start = Instant::now();
    let addrs = resolve(&t.dest, r).await?;
    let a = *addrs.first().ok_or("no address")?;
    let err = |e: std::io::Error| format!("{a}: {}", crate::error::describe(&e));
    let s = async_net::UdpSocket::bind(crate::net::resolve::wildcard(a.is_ipv4(), 0))
        .await
        .map_err(err)?;
    s.connect(a).await.map_err(err)?;
    let mut buf = vec![0u8; 2048];
    for round in 0..2u32 {
        s.send(b"netcrab --check\n").await.map_err(err)?;
        let deadline = start + wait * (round + 1) / 2;
        let left = deadline.saturating_duration_since(Instant::now());
        match super::recv_within(&s, &mut buf, left).await {
            None => continue,
            Some(Ok(n)) => {
                return Ok((
                    format!("UDP answer from {a} ({n} bytes) in {} ms", ms(start)),
                    Some(a),
                ))
            }
            Some(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(format!("{a}: UDP port closed (ICMP port unreachable)"))
            }
            Some(Err(e)) => return Err(err(e)),
        }
    }
    Err(format!(
        "{a}: no UDP answer within {} s",
        crate::decimal::secs_shortest(wait)
    ))
}

#[cfg(feature = "proxy")]
fn kind_name(k: crate::net::proxy::Kind) -> &'static str {
    use crate::net::proxy::Kind;
    match k {
        Kind::Http => "HTTP",
        Kind::Socks5 => "SOCKS5",
        Kind::Socks4 => "SOCKS4",
        Kind::Socks4a => "SOCKS4a",
    }
}
