//! Address: an IPv4 address or a global IPv6 one on a live link, and what
//! is wrong when there is none: link-local only, 169.254.x.x (no DHCP
//! answer), tentative, or failed duplicate address detection.

use super::report::{blocked, Layer};
use super::{base, Ctx};
use crate::net::ifaces::{scope_name, IfAddr};
use std::net::IpAddr;

fn with_prefix(a: &IfAddr) -> String {
    match a.prefix {
        Some(p) => format!("{}/{p} on {}", a.ip, a.name),
        None => format!("{} on {}", a.ip, a.name),
    }
}

fn family_allowed(ctx: &Ctx, ip: IpAddr) -> bool {
    match ctx.opts.family {
        crate::net::Family::Any => true,
        crate::net::Family::V4 => ip.is_ipv4(),
        crate::net::Family::V6 => ip.is_ipv6(),
    }
}

pub fn run(ctx: &mut Ctx, before: &[Layer]) -> Layer {
    if let Some(l) = blocked("address", before, "link", "no link") {
        return l;
    }
    let on_live: Vec<IfAddr> = ctx
        .snap
        .addrs
        .iter()
        .filter(|a| ctx.live.iter().any(|l| l.name == base(&a.name)))
        .filter(|a| family_allowed(ctx, a.ip))
        .cloned()
        .collect();
    let usable = |a: &&IfAddr| {
        let scope = scope_name(a.ip);
        scope != "host" && scope != "link" && !a.tentative && !a.dad_failed
    };
    ctx.addrs = on_live.iter().filter(usable).cloned().collect();
    let dad_failed: Vec<String> = on_live
        .iter()
        .filter(|a| a.dad_failed)
        .map(with_prefix)
        .collect();
    let tentative: Vec<String> = on_live
        .iter()
        .filter(|a| a.tentative && !a.dad_failed)
        .map(with_prefix)
        .collect();
    if !ctx.addrs.is_empty() {
        let mut list: Vec<String> = ctx.addrs.iter().map(with_prefix).collect();
        for d in &dad_failed {
            list.push(format!("{d} failed duplicate address detection"));
        }
        for t in &tentative {
            list.push(format!("{t} tentative"));
        }
        return Layer::pass("address", list.join(", "));
    }
    if let Some(d) = dad_failed.first() {
        return Layer::fail(
            "address",
            format!("{d}: duplicate address detection failed (dadfailed)"),
            "another host on the link already uses this address",
        );
    }
    if let Some(t) = tentative.first() {
        return Layer::fail(
            "address",
            format!("{t}: tentative (duplicate address detection not finished)"),
            "the address is still being checked for duplicates; try again in a few seconds",
        );
    }
    let apipa: Vec<String> = on_live
        .iter()
        .filter(|a| matches!(a.ip, IpAddr::V4(v4) if v4.is_link_local()))
        .map(with_prefix)
        .collect();
    if let Some(a) = apipa.first() {
        return Layer::fail(
            "address",
            format!("only {a}: a self-assigned address, no DHCP answer"),
            "no DHCP answer (169.254.x.x): no DHCP server on the link, or it did not answer",
        );
    }
    let ll: Vec<String> = on_live
        .iter()
        .filter(|a| scope_name(a.ip) == "link")
        .map(with_prefix)
        .collect();
    if let Some(a) = ll.first() {
        return Layer::fail(
            "address",
            format!("link-local only: {a}"),
            "no IPv4 address and no global IPv6 address: no DHCP lease, no router advertisement",
        );
    }
    Layer::fail(
        "address",
        "no address on the live links".into(),
        "no address: DHCP or static configuration missing",
    )
}
