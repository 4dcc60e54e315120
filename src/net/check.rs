//! `--check [TARGET...]`: walk the layers in order (link, address, gateway,
//! DNS, targets, web), each tested on the wire where it can be and bounded
//! by `-w`, print one line per layer, and name the first that fails.
//!
//! One file per layer under `check/`; `report.rs` holds the layer record,
//! the verdict, the exit codes and both output forms. Every layer runs: one
//! that cannot says why (`skipped: no gateway`).

mod address;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod direct;
mod dns;
mod dnsmsg;
mod echo;
mod gateway;
mod icmp;
mod link;
mod pmtu;
mod report;
mod targets;
mod web;
#[cfg(windows)]
mod win;

use crate::cli::CheckOpts;
use crate::error::{runtime, Result};
use crate::net::ifaces::{self, IfAddr, Link, Route, Snapshot};
use report::Layer;
use std::cell::Cell;
use std::future::Future;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

/// What the layers learn and pass on.
pub struct Ctx {
    pub opts: CheckOpts,
    pub snap: Snapshot,
    /// Links (besides loopback) that are up with carrier.
    pub live: Vec<Link>,
    /// Usable addresses on those links (IPv4 or global IPv6, not tentative).
    pub addrs: Vec<IfAddr>,
    /// Whether the gateway layer found a gateway that answers (or a route
    /// straight onto a link); `None` before it ran.
    pub gateway_ok: Option<bool>,
    /// Whether some DNS server answered.
    pub dns_ok: Option<bool>,
    /// Checks that could not run for want of privilege, one line each.
    pub privilege: Vec<String>,
}

impl Ctx {
    /// Whether `ip` is on one of the usable addresses' subnets (reachable
    /// without a gateway), or is a link-local address.
    pub fn on_link(&self, ip: IpAddr) -> bool {
        if ip.is_loopback() {
            return true;
        }
        if let IpAddr::V6(v6) = ip {
            if v6.segments()[0] & 0xffc0 == 0xfe80 {
                return true;
            }
        }
        self.snap.addrs.iter().any(|a| {
            a.prefix.is_some_and(|p| {
                self.live.iter().any(|l| l.name == base(&a.name))
                    && crate::net::acl::Cidr::new(a.ip, p).contains(ip)
            })
        })
    }

    /// Why `ip` cannot be tried now, if it cannot: no address of its
    /// family, or off-link with no gateway that answers.
    pub fn cannot_reach(&self, ip: IpAddr) -> Option<&'static str> {
        let link_local = matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
        if ip.is_loopback() || link_local {
            return None;
        }
        if !self.addrs.iter().any(|a| a.ip.is_ipv4() == ip.is_ipv4()) {
            return Some(if ip.is_ipv4() {
                "no IPv4 address"
            } else {
                "no global IPv6 address"
            });
        }
        if self.gateway_ok == Some(false) && !self.on_link(ip) {
            return Some("no gateway");
        }
        None
    }

    /// The default routes that count: family allowed, link live, an
    /// address of the family on it; each with its family (true: IPv4).
    pub fn routes(&self) -> Vec<(bool, Route)> {
        let mut out = Vec::new();
        for (v4, list) in [(true, &self.snap.routes4), (false, &self.snap.routes6)] {
            let allowed = match self.opts.family {
                crate::net::Family::Any => true,
                crate::net::Family::V4 => v4,
                crate::net::Family::V6 => !v4,
            };
            if !allowed {
                continue;
            }
            for r in list.as_ref().map(Vec::as_slice).unwrap_or_default() {
                let has = self
                    .addrs
                    .iter()
                    .any(|a| a.ip.is_ipv4() == v4 && base(&a.name) == r.iface);
                if has && self.live.iter().any(|l| l.name == r.iface) {
                    out.push((v4, r.clone()));
                }
            }
        }
        out
    }
}

/// The link an address label (`eth0:1`) belongs to.
pub fn base(name: &str) -> &str {
    name.split(':').next().unwrap_or(name)
}

/// Milliseconds since `t`.
pub fn ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

/// A datagram on the connected `s` within `left`, `None` when the time
/// passes first (the DNS and UDP target waits: one future type for both).
pub async fn recv_within(
    s: &async_net::UdpSocket,
    buf: &mut [u8],
    left: std::time::Duration,
) -> Option<std::io::Result<usize>> {
    smol::future::or(async { Some(s.recv(buf).await) }, async {
        smol::Timer::after(left).await;
        None
    })
    .await
}

/// A layer's job running beside the others (a gateway, a DNS server, a
/// target): a `()` task that leaves its result in a slot, so it is spawned
/// through `net::spawn_local` as every other local task is.
pub struct Job<T>(smol::Task<()>, Rc<Cell<Option<T>>>);

thread_local! {
    /// The check's jobs run on the thread that runs the check (see [`run`]):
    /// smol's global executor, its threads and their code stay out.
    static JOBS: smol::LocalExecutor<'static> = const { smol::LocalExecutor::new() };
}

pub fn spawn<T: 'static>(f: impl Future<Output = T> + 'static) -> Job<T> {
    let slot = Rc::new(Cell::new(None));
    let out = slot.clone();
    let f = async move { out.set(Some(f.await)) };
    JOBS.with(|ex| Job(crate::net::spawn_local(ex, f), slot))
}

impl<T: 'static> Job<T> {
    /// The job's result (`None` cannot happen: the task fills the slot
    /// before it ends).
    pub async fn join(self) -> Option<T> {
        self.0.await;
        self.1.take()
    }
}

/// Run the check; the exit code names the first failing layer.
pub fn run(opts: CheckOpts) -> Result<u8> {
    let mut result = Ok(0);
    JOBS.with(|ex| crate::net::block_on(ex.run(async { result = layers(opts).await })));
    result
}

async fn layers(opts: CheckOpts) -> Result<u8> {
    let snap = crate::net::unblock(ifaces::snapshot)
        .await
        .unwrap_or_else(|| Err(std::io::ErrorKind::Other.into()))
        .map_err(|e| runtime("listing interfaces", &e))?;
    let json = opts.json;
    let mut ctx = Ctx {
        opts,
        snap,
        live: Vec::new(),
        addrs: Vec::new(),
        gateway_ok: None,
        dns_ok: None,
        privilege: Vec::new(),
    };
    let mut layers: Vec<Layer> = Vec::new();
    for step in 0..6 {
        let t = Instant::now();
        let name = report::LAYERS[step].0;
        let mut l = match step {
            _ if ctx.opts.skip.contains(&name) => Layer::skip(name, "--check-skip"),
            0 => link::run(&mut ctx),
            1 => address::run(&mut ctx, &layers),
            2 => gateway::run(&mut ctx, &layers).await,
            3 => dns::run(&mut ctx, &layers).await,
            4 => targets::run(&mut ctx, &layers).await,
            _ => web::run(&mut ctx, &layers).await,
        };
        l.ms = ms(t);
        if !json {
            crate::local::stdio::print_text(&report::line(&l))
                .map_err(|e| runtime("writing to stdout", &e))?;
        }
        layers.push(l);
    }
    let (code, verdict) = report::verdict(&layers);
    let out = if json {
        report::json(&ctx, &layers, code, &verdict)
    } else {
        report::tail(&ctx, code, &verdict)
    };
    crate::local::stdio::print_text(&out).map_err(|e| runtime("writing to stdout", &e))?;
    Ok(code)
}
