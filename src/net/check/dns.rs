//! DNS: each configured server (up to four) is sent a real query over UDP,
//! all at once: `--check-name NAME` (type A, AAAA with -6), or the root's
//! NS. NOERROR and NXDOMAIN are answers; SERVFAIL, REFUSED, a closed port
//! or silence are not. The layer passes when one server answers.

use super::dnsmsg::{self, rcode_name, TYPE_A, TYPE_AAAA, TYPE_NS};
use super::report::{blocked, Layer};
use super::{ms, Ctx};
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

const MAX_SERVERS: usize = 4;

/// A server as written in resolv.conf (`fe80::1%eth0` carries a zone).
fn server_addr(s: &str) -> Option<SocketAddr> {
    let (ip, zone) = match s.split_once('%') {
        Some((ip, z)) => (ip, Some(z)),
        None => (s, None),
    };
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => {
            let scope = zone.and_then(crate::net::ifaces::scope_id).unwrap_or(0);
            Some(SocketAddr::V6(SocketAddrV6::new(v6, 53, 0, scope)))
        }
        v4 => Some(SocketAddr::new(v4, 53)),
    }
}

pub async fn run(ctx: &mut Ctx, before: &[Layer]) -> Layer {
    if let Some(l) = blocked("dns", before, "address", "no address") {
        return l;
    }
    let servers: Vec<String> = match &ctx.snap.dns.servers {
        Ok(list) => list.clone(),
        Err(why) => {
            ctx.dns_ok = Some(false);
            return Layer::fail(
                "dns",
                format!("no server known: {why}"),
                "the resolver configuration cannot be read",
            );
        }
    };
    let servers: Vec<(String, SocketAddr)> = servers
        .iter()
        .filter_map(|s| server_addr(s).map(|a| (s.clone(), a)))
        .filter(|(_, a)| ctx.opts.family.allows(a))
        .take(MAX_SERVERS)
        .collect();
    if servers.is_empty() {
        ctx.dns_ok = Some(false);
        return Layer::fail(
            "dns",
            format!("no name server configured ({})", ctx.snap.dns.source),
            "no DNS server configured: DHCP gave none, or resolv.conf lists none",
        );
    }
    let name = ctx.opts.name.clone().unwrap_or_default();
    let qtype = match (&ctx.opts.name, ctx.opts.family) {
        (None, _) => TYPE_NS,
        (Some(_), crate::net::Family::V6) => TYPE_AAAA,
        (Some(_), _) => TYPE_A,
    };
    let asked = if name.is_empty() {
        "the root's NS".to_string()
    } else {
        name.clone()
    };
    let wait = ctx.opts.wait;
    // In the configured order; the reachable ones asked at once.
    let mut pending = Vec::new();
    for (text, addr) in servers {
        let job = match ctx.cannot_reach(addr.ip()) {
            Some(why) => Err(format!("skipped: {why}")),
            None => {
                let name = name.clone();
                Ok(super::spawn(
                    async move { ask(addr, &name, qtype, wait).await },
                ))
            }
        };
        pending.push((text, job));
    }
    let mut results: Vec<(String, Result<String, String>)> = Vec::new();
    for (text, job) in pending {
        let r = match job {
            Ok(task) => task.join().await.unwrap_or_else(|| Err(String::new())),
            Err(skipped) => Err(skipped),
        };
        results.push((text, r));
    }
    let ok = results.iter().any(|(_, r)| r.is_ok());
    ctx.dns_ok = Some(ok);
    let parts: Vec<String> = results
        .iter()
        .map(|(s, r)| match r {
            Ok(a) | Err(a) => format!("{s}: {a}"),
        })
        .collect();
    let evidence = format!("{asked}: {}", parts.join("; "));
    if ok {
        return Layer::pass("dns", evidence);
    }
    if results
        .iter()
        .all(|(_, r)| matches!(r, Err(e) if e.starts_with("skipped")))
    {
        return Layer::skip("dns", "no gateway");
    }
    let refused = results
        .iter()
        .any(|(_, r)| matches!(r, Err(e) if e.contains("refused")));
    let cause = if refused {
        "the DNS server refuses: no resolver listens there, or it does not serve this host"
    } else {
        "the DNS server does not answer: down, unreachable, or blocked by a firewall"
    };
    Layer::fail("dns", evidence, cause)
}

/// One query, sent again once halfway through the wait.
async fn ask(server: SocketAddr, name: &str, qtype: u16, wait: Duration) -> Result<String, String> {
    let start = Instant::now();
    let mut idb = [0u8; 2];
    let _ = getrandom::fill(&mut idb);
    let id = u16::from_be_bytes(idb);
    let q = dnsmsg::query(id, name, qtype);
    let any = crate::net::resolve::wildcard(server.is_ipv4(), 0);
    let err = |e: std::io::Error| crate::error::describe(&e);
    let s = async_net::UdpSocket::bind(any).await.map_err(err)?;
    s.connect(server).await.map_err(err)?;
    let mut buf = vec![0u8; 4096];
    for round in 0..2u32 {
        s.send(&q).await.map_err(err)?;
        let deadline = start + wait * (round + 1) / 2;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match super::recv_within(&s, &mut buf, left).await {
                None => break,
                Some(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Err(format!("refused (port 53 closed), {} ms", ms(start)))
                }
                Some(Err(e)) => return Err(err(e)),
                Some(Ok(n)) => match dnsmsg::parse(&buf[..n], id, qtype) {
                    Ok(a) => return judge(&a, ms(start)),
                    // Not our reply: keep listening.
                    Err(_) => continue,
                },
            }
        }
    }
    Err(format!(
        "no answer within {} s",
        crate::decimal::secs_shortest(wait)
    ))
}

fn judge(a: &dnsmsg::Answer, ms: u64) -> Result<String, String> {
    let code = rcode_name(a.rcode);
    match a.rcode {
        0 => {
            let mut s = format!("{code}, {} record{}", a.records, plural(a.records));
            if !a.addrs.is_empty() {
                let list: Vec<String> = a.addrs.iter().take(3).map(|x| x.to_string()).collect();
                s.push_str(&format!(" ({})", list.join(", ")));
            }
            if a.truncated {
                s.push_str(", truncated");
            }
            Ok(format!("{s}, {ms} ms"))
        }
        3 => Ok(format!(
            "{code} (the name does not exist; the server answers), {ms} ms"
        )),
        _ => Err(format!("answered {code}, {ms} ms")),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
