//! Link: an interface besides loopback that is up and has carrier.

use super::report::Layer;
use super::Ctx;
use crate::net::ifaces::Link;

/// Up, not known to be down, not without carrier.
fn running(l: &Link) -> bool {
    l.up && matches!(l.state, None | Some("up") | Some("unknown")) && l.carrier != Some(false)
}

fn describe(l: &Link) -> String {
    let mut s = format!("{} up", l.name);
    if l.carrier == Some(true) {
        s.push_str(", carrier");
    }
    if let Some(m) = l.mtu {
        s.push_str(&format!(", mtu {m}"));
    }
    s
}

pub fn run(ctx: &mut Ctx) -> Layer {
    let others: Vec<&Link> = ctx.snap.links.iter().filter(|l| !l.loopback).collect();
    ctx.live = others
        .iter()
        .copied()
        .filter(|l| running(l))
        .cloned()
        .collect();
    if !ctx.live.is_empty() {
        let list: Vec<String> = ctx.live.iter().map(describe).collect();
        return Layer::pass("link", list.join("; "));
    }
    if others.is_empty() {
        return Layer::fail(
            "link",
            "no interface except loopback".into(),
            "no network interface: no driver, or no adapter given to this VM or container",
        );
    }
    let why: Vec<String> = others
        .iter()
        .map(|l| match (l.up, l.carrier, l.state) {
            (false, _, _) => format!("{} is down", l.name),
            (_, Some(false), _) => format!("{} has no carrier", l.name),
            (_, _, Some(st)) => format!("{} is {st}", l.name),
            _ => format!("{} is not running", l.name),
        })
        .collect();
    let cause = if others.iter().any(|l| l.up && l.carrier == Some(false)) {
        "no carrier: cable unplugged, switch port or Wi-Fi not associated"
    } else {
        "every interface is down (ip link set IF up)"
    };
    Layer::fail("link", why.join("; "), cause)
}
