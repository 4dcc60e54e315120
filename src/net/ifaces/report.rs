//! `--ifaces`: the snapshot as text (one block per interface, then default
//! routes, DNS and a verdict) or as one JSON object; and the verdict itself.

use super::{IfAddr, Link, Route, Snapshot};
use std::fmt::Write;
use std::net::IpAddr;

/// The links in the OS's order, plus any interface that only shows up in
/// the address list (so no address is ever left out).
fn links(s: &Snapshot) -> Vec<Link> {
    let mut out = s.links.clone();
    for a in &s.addrs {
        if !out.iter().any(|l| owns(l, a)) {
            out.push(Link {
                name: a.name.clone(),
                up: a.up,
                loopback: a.loopback,
                can_broadcast: a.can_broadcast,
                can_multicast: a.can_multicast,
                ..Link::default()
            });
        }
    }
    out
}

/// Whether address `a` is on link `l` (`eth0:1` is a label of `eth0`).
fn owns(l: &Link, a: &IfAddr) -> bool {
    a.name == l.name
        || a.name
            .strip_prefix(l.name.as_str())
            .is_some_and(|rest| rest.starts_with(':'))
}

fn addrs_of<'a>(s: &'a Snapshot, l: &'a Link) -> impl Iterator<Item = &'a IfAddr> {
    s.addrs.iter().filter(move |a| owns(l, a))
}

/// The address's scope from its range (RFC 4007): host, link, site or global.
pub fn scope_name(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => "host",
        IpAddr::V4(v4) if v4.is_link_local() => "link",
        IpAddr::V6(v6) if v6.is_loopback() => "host",
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => "link",
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfec0 => "site",
        _ => "global",
    }
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "inet"
    } else {
        "inet6"
    }
}

fn flags(l: &Link) -> String {
    let mut f = vec![if l.up { "up" } else { "down" }];
    for (on, name) in [
        (l.loopback, "loopback"),
        (l.can_broadcast, "broadcast"),
        (l.can_multicast, "multicast"),
    ] {
        if on {
            f.push(name);
        }
    }
    f.join(",")
}

fn yes_no(b: bool, yes: &'static str, no: &'static str) -> &'static str {
    if b {
        yes
    } else {
        no
    }
}

/// The text report.
pub fn text(s: &Snapshot) -> String {
    let mut out = String::new();
    for l in &links(s) {
        let _ = writeln!(out, "{}: {}", l.name, flags(l));
        let mut parts: Vec<String> = Vec::new();
        if let Some(i) = l.index {
            parts.push(format!("index {i}"));
        }
        if let Some(st) = l.state {
            parts.push(format!("state {st}"));
        }
        if let Some(c) = l.carrier {
            parts.push(format!("carrier {}", yes_no(c, "yes", "no")));
        }
        if let Some(m) = l.mtu {
            parts.push(format!("mtu {m}"));
        }
        if let Some(m) = &l.mac {
            parts.push(format!("mac {m}"));
        }
        if let Some(d) = l.dhcp {
            parts.push(format!("dhcp {}", yes_no(d, "on", "off")));
        }
        if !parts.is_empty() {
            let _ = writeln!(out, "    link  {}", parts.join(", "));
        }
        for a in addrs_of(s, l) {
            let fam = if a.ip.is_ipv4() { "inet " } else { "inet6" };
            let _ = write!(out, "    {fam} {}", a.ip);
            if let Some(p) = a.prefix {
                let _ = write!(out, "/{p}");
            }
            if let Some(p) = a.peer {
                let _ = write!(out, " peer {p}");
            }
            if let Some(b) = a.broadcast {
                let _ = write!(out, " broadcast {b}");
            }
            let _ = write!(out, " scope {}", scope_name(a.ip));
            if a.scope != 0 {
                let _ = write!(out, " zone {}", a.scope);
            }
            if a.name != l.name {
                let _ = write!(out, " label {}", a.name);
            }
            for f in addr_flags(a) {
                let _ = write!(out, " {f}");
            }
            out.push('\n');
        }
    }
    out.push_str("default routes:\n");
    for (fam, routes) in [("inet ", &s.routes4), ("inet6", &s.routes6)] {
        match routes {
            Err(why) => {
                let _ = writeln!(out, "    {fam} not known: {why}");
            }
            Ok(list) if list.is_empty() => {
                let _ = writeln!(out, "    {fam} none");
            }
            Ok(list) => {
                for r in list {
                    let _ = write!(out, "    {fam} ");
                    match r.gateway {
                        Some(g) => {
                            let _ = write!(out, "via {g} on {}", r.iface);
                        }
                        None => {
                            let _ = write!(out, "on {} (no gateway)", r.iface);
                        }
                    }
                    if let Some(m) = r.metric {
                        let _ = write!(out, ", metric {m}");
                    }
                    out.push('\n');
                }
            }
        }
    }
    let _ = writeln!(out, "dns ({}):", s.dns.source);
    match &s.dns.servers {
        Err(why) => {
            let _ = writeln!(out, "    not known: {why}");
        }
        Ok(list) if list.is_empty() => out.push_str("    no server\n"),
        Ok(list) => {
            for srv in list {
                let _ = writeln!(out, "    server {srv}");
            }
        }
    }
    if !s.dns.search.is_empty() {
        let _ = writeln!(out, "    search {}", s.dns.search.join(" "));
    }
    let _ = writeln!(out, "verdict: {}", verdict(s).1);
    out
}

/// A JSON value or `null`.
fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

fn opt_str(v: Option<&str>) -> String {
    v.map_or_else(|| "null".to_string(), crate::json::quote)
}

fn str_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| crate::json::quote(s)).collect();
    format!("[{}]", items.join(","))
}

/// The address's state flags, as `ip addr` spells them.
pub fn addr_flags(a: &IfAddr) -> Vec<&'static str> {
    let mut f = Vec::new();
    for (on, name) in [
        (a.tentative, "tentative"),
        (a.dad_failed, "dadfailed"),
        (a.deprecated, "deprecated"),
    ] {
        if on {
            f.push(name);
        }
    }
    f
}

/// The JSON report: one object on one line (keys in the README).
pub fn json(s: &Snapshot) -> String {
    let (ok, verdict) = verdict(s);
    format!(
        "{{{},\"looks_connected\":{ok},\"verdict\":{}}}\n",
        json_parts(s),
        crate::json::quote(&verdict)
    )
}

/// Whether `--ifaces` calls the box connected (it exits 1 when not).
pub fn looks_connected(s: &Snapshot) -> bool {
    verdict(s).0
}

/// `"interfaces":[...],"default_routes":{...},"dns":{...}`: the members
/// `--ifaces --json` and `--check --json` share.
pub fn json_parts(s: &Snapshot) -> String {
    let mut o = String::from("\"interfaces\":[");
    for (i, l) in links(s).iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(
            o,
            "{{\"name\":{},\"index\":{},\"up\":{},\"state\":{},\"carrier\":{},\"mtu\":{},\
             \"mac\":{},\"loopback\":{},\"broadcast\":{},\"multicast\":{},\"dhcp\":{},\
             \"addresses\":[",
            crate::json::quote(&l.name),
            opt(l.index),
            l.up,
            opt_str(l.state),
            opt(l.carrier),
            opt(l.mtu),
            opt_str(l.mac.as_deref()),
            l.loopback,
            l.can_broadcast,
            l.can_multicast,
            opt(l.dhcp),
        );
        for (j, a) in addrs_of(s, l).enumerate() {
            if j > 0 {
                o.push(',');
            }
            let _ = write!(
                o,
                "{{\"family\":\"{}\",\"address\":\"{}\",\"prefix\":{},\"broadcast\":{},\
                 \"peer\":{},\"scope\":\"{}\",\"zone\":{},\"label\":{},\"flags\":{}}}",
                family(a.ip),
                a.ip,
                opt(a.prefix),
                opt(a.broadcast.map(|b| crate::json::quote(&b.to_string()))),
                opt(a.peer.map(|p| crate::json::quote(&p.to_string()))),
                scope_name(a.ip),
                opt((a.scope != 0).then_some(a.scope)),
                opt_str((a.name != l.name).then_some(a.name.as_str())),
                str_list(
                    &addr_flags(a)
                        .iter()
                        .map(|f| f.to_string())
                        .collect::<Vec<_>>()
                ),
            );
        }
        o.push_str("]}");
    }
    o.push_str("],\"default_routes\":{");
    for (i, (fam, routes)) in [("inet", &s.routes4), ("inet6", &s.routes6)]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(o, "\"{fam}\":");
        match routes {
            Err(_) => o.push_str("null"),
            Ok(list) => {
                let items: Vec<String> = list
                    .iter()
                    .map(|r| {
                        format!(
                            "{{\"gateway\":{},\"interface\":{},\"metric\":{}}}",
                            opt(r.gateway.map(|g| crate::json::quote(&g.to_string()))),
                            crate::json::quote(&r.iface),
                            opt(r.metric)
                        )
                    })
                    .collect();
                let _ = write!(o, "[{}]", items.join(","));
            }
        }
    }
    let (servers, search) = match &s.dns.servers {
        Ok(list) => (str_list(list), str_list(&s.dns.search)),
        Err(_) => ("null".to_string(), "null".to_string()),
    };
    let _ = write!(
        o,
        "}},\"dns\":{{\"source\":{},\"servers\":{servers},\"search\":{search}}}",
        crate::json::quote(s.dns.source),
    );
    o
}

/// A link that can carry traffic: up, not known to be down, not without carrier.
fn running(l: &Link) -> bool {
    l.up && matches!(l.state, None | Some("up") | Some("unknown")) && l.carrier != Some(false)
}

/// A usable address: not loopback, not link-local, not still in (or
/// failed) duplicate address detection.
fn usable(a: &IfAddr) -> bool {
    scope_name(a.ip) != "host" && scope_name(a.ip) != "link" && !a.tentative && !a.dad_failed
}

fn with_prefix(a: &IfAddr) -> String {
    match a.prefix {
        Some(p) => format!("{}/{p}", a.ip),
        None => a.ip.to_string(),
    }
}

/// Whether `ip` lies in `a`'s subnet.
fn in_subnet(a: &IfAddr, ip: IpAddr) -> bool {
    let Some(p) = a.prefix else { return false };
    match (a.ip, ip) {
        (IpAddr::V4(n), IpAddr::V4(g)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(p.min(32))).unwrap_or(0);
            u32::from(n) & mask == u32::from(g) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(g)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(p.min(128)))
                .unwrap_or(0);
            u128::from(n) & mask == u128::from(g) & mask
        }
        _ => false,
    }
}

/// Room for the verdict after `verdict: ` in 100 columns.
const VERDICT_WIDTH: usize = 100 - "verdict: ".len();

/// The first part, then each further part while the line still fits.
fn fit(parts: &[String]) -> String {
    let mut out = parts.first().cloned().unwrap_or_default();
    for p in parts.iter().skip(1) {
        if out.chars().count() + p.chars().count() > VERDICT_WIDTH {
            break;
        }
        out.push_str(p);
    }
    out
}

/// Whether the box looks connected, and one line saying why (not). Detail
/// that would push the line past 100 columns is left out (the sections
/// above the verdict have it).
pub fn verdict(s: &Snapshot) -> (bool, String) {
    let all = links(s);
    let others: Vec<&Link> = all.iter().filter(|l| !l.loopback).collect();
    if !others.iter().any(|l| l.up) {
        let what = if others.is_empty() {
            "no interface except loopback"
        } else {
            "no interface is up except loopback"
        };
        return (false, format!("not connected: {what}"));
    }
    let live: Vec<&Link> = others.iter().copied().filter(|l| running(l)).collect();
    if live.is_empty() {
        let down: Vec<String> = others
            .iter()
            .filter(|l| l.up)
            .enumerate()
            .map(|(i, l)| {
                let sep = if i == 0 {
                    "not connected: no link up: "
                } else {
                    ", "
                };
                match (l.carrier, l.state) {
                    (Some(false), _) => format!("{sep}{} has no carrier", l.name),
                    (_, Some(st)) => format!("{sep}{} is {st}", l.name),
                    _ => format!("{sep}{} is down", l.name),
                }
            })
            .collect();
        return (false, fit(&down));
    }
    let on_live = |a: &&IfAddr| live.iter().any(|l| owns(l, a));
    let good: Vec<&IfAddr> = s
        .addrs
        .iter()
        .filter(on_live)
        .filter(|a| usable(a))
        .collect();
    if good.is_empty() {
        let linklocal = s.addrs.iter().filter(on_live).any(|a| !a.ip.is_loopback());
        let tail = if linklocal { " and link-local" } else { "" };
        return (
            false,
            format!("not connected: no IPv4 address, nor global IPv6, except loopback{tail}"),
        );
    }
    // A default route counts when its link is live and has an address of its family.
    let addr_for = |r: &Route, v4: bool| -> Option<&IfAddr> {
        let mine: Vec<&IfAddr> = good
            .iter()
            .copied()
            .filter(|a| {
                a.ip.is_ipv4() == v4 && live.iter().any(|l| l.name == r.iface && owns(l, a))
            })
            .collect();
        let near = r
            .gateway
            .and_then(|g| mine.iter().copied().find(|a| in_subnet(a, g)));
        near.or(mine.first().copied())
    };
    let pick = |routes: &Result<Vec<Route>, String>, v4: bool| {
        routes.as_ref().ok().and_then(|list| {
            list.iter()
                .find_map(|r| addr_for(r, v4).map(|a| (r.clone(), a)))
        })
    };
    // One family in full; the routes above give the other's details.
    let (fam, r, a, six_too) = match (pick(&s.routes4, true), pick(&s.routes6, false)) {
        (Some((r, a)), six) => ("IPv4", r, a, six.is_some()),
        (None, Some((r, a))) => ("IPv6", r, a, false),
        (None, None) => return (false, no_route(s, &good)),
    };
    let path = format!("{fam} {} {}", with_prefix(a), via(&r));
    match &s.dns.servers {
        Ok(list) if !list.is_empty() => {
            let dns = format!(", DNS {}", list[0]);
            // The address goes first when the DNS server would not fit.
            let mut parts = vec![format!("looks connected: {path}"), dns.clone()];
            let short = format!("looks connected: {fam} {}", via(&r));
            let fits = |p: &str| p.chars().count() + dns.chars().count() <= VERDICT_WIDTH;
            if !fits(&parts[0]) && fits(&short) {
                parts[0] = short;
            }
            if six_too {
                parts.push(", IPv6 too".into());
            }
            (true, fit(&parts))
        }
        _ => (
            false,
            fit(&[
                "no DNS server configured".into(),
                format!(" (routing looks fine: {path})"),
            ]),
        ),
    }
}

/// Why no default route counts.
fn no_route(s: &Snapshot, good: &[&IfAddr]) -> String {
    if let (Err(why), Err(_)) = (&s.routes4, &s.routes6) {
        return fit(&[
            "not connected? default routes not known".into(),
            format!(" ({why})"),
        ]);
    }
    let any = [&s.routes4, &s.routes6]
        .into_iter()
        .filter_map(|r| r.as_ref().ok())
        .flatten()
        .next();
    match (any, good.first()) {
        (Some(r), _) => format!(
            "not connected: default route {}, but {} is down or has no address",
            via(r),
            r.iface
        ),
        (None, Some(a)) => fit(&[
            "not connected: no default route".into(),
            format!(" (local subnet only: {} on {})", with_prefix(a), a.name),
        ]),
        (None, None) => "not connected: no default route".into(),
    }
}

/// `via GW on IF`, or `on IF` for a route without a gateway.
fn via(r: &Route) -> String {
    match r.gateway {
        Some(g) => format!("via {g} on {}", r.iface),
        None => format!("on {}", r.iface),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::ifaces::Dns;

    fn link(name: &str, lo: bool) -> Link {
        Link {
            name: name.into(),
            index: Some(if lo { 1 } else { 2 }),
            up: true,
            state: Some("up"),
            carrier: Some(true),
            mtu: Some(if lo { 65536 } else { 1400 }),
            mac: (!lo).then(|| "02:00:00:00:00:01".to_string()),
            loopback: lo,
            can_broadcast: !lo,
            can_multicast: !lo,
            dhcp: None,
        }
    }

    fn addr(name: &str, ip: &str, prefix: u8) -> IfAddr {
        let ip: IpAddr = ip.parse().unwrap();
        IfAddr {
            name: name.into(),
            ip,
            prefix: Some(prefix),
            broadcast: None,
            peer: None,
            tentative: false,
            dad_failed: false,
            deprecated: false,
            scope: if scope_name(ip) == "link" && ip.is_ipv6() {
                2
            } else {
                0
            },
            up: true,
            loopback: ip.is_loopback(),
            can_broadcast: false,
            can_multicast: false,
        }
    }

    fn connected() -> Snapshot {
        Snapshot {
            links: vec![link("lo", true), link("eth0", false)],
            addrs: vec![
                addr("lo", "127.0.0.1", 8),
                addr("eth0", "192.0.2.2", 24),
                addr("eth0", "fe80::1", 64),
            ],
            routes4: Ok(vec![Route {
                gateway: Some("192.0.2.1".parse().unwrap()),
                iface: "eth0".into(),
                metric: Some(0),
            }]),
            routes6: Ok(vec![]),
            dns: Dns {
                source: "/etc/resolv.conf",
                servers: Ok(vec!["192.0.2.53".into()]),
                search: vec!["example.test".into()],
            },
        }
    }

    #[test]
    fn connected_box() {
        let (ok, v) = verdict(&connected());
        assert!(ok);
        assert_eq!(
            v,
            "looks connected: IPv4 192.0.2.2/24 via 192.0.2.1 on eth0, DNS 192.0.2.53"
        );
    }

    #[test]
    fn each_missing_piece_is_named() {
        let mut s = connected();
        s.routes4 = Ok(vec![]);
        let v = verdict(&s);
        assert_eq!(
            v.1,
            "not connected: no default route (local subnet only: 192.0.2.2/24 on eth0)"
        );
        let mut s = connected();
        s.dns.servers = Ok(vec![]);
        assert!(verdict(&s).1.starts_with("no DNS server configured"));
        let mut s = connected();
        s.links[1].carrier = Some(false);
        assert_eq!(
            verdict(&s).1,
            "not connected: no link up: eth0 has no carrier"
        );
        let mut s = connected();
        s.links[1].up = false;
        assert_eq!(
            verdict(&s).1,
            "not connected: no interface is up except loopback"
        );
        let mut s = connected();
        s.addrs.retain(|a| a.ip.is_loopback() || a.ip.is_ipv6());
        assert_eq!(
            verdict(&s).1,
            "not connected: no IPv4 address, nor global IPv6, except loopback and link-local"
        );
        let mut s = connected();
        s.routes4.as_mut().unwrap()[0].iface = "eth9".into();
        assert_eq!(
            verdict(&s).1,
            "not connected: default route via 192.0.2.1 on eth9, but eth9 is down or has no address"
        );
    }

    #[test]
    fn ipv6_only_and_dual_stack() {
        let mut s = connected();
        s.addrs.push(addr("eth0", "2001:db8::2", 64));
        s.routes6 = Ok(vec![Route {
            gateway: Some("fe80::9".parse().unwrap()),
            iface: "eth0".into(),
            metric: Some(1024),
        }]);
        assert!(verdict(&s)
            .1
            .ends_with("via 192.0.2.1 on eth0, DNS 192.0.2.53, IPv6 too"));
        s.routes4 = Err("cannot read".into());
        assert!(verdict(&s)
            .1
            .starts_with("looks connected: IPv6 2001:db8::2/64 via fe80::9 on eth0"));
    }

    #[test]
    fn text_and_json_forms() {
        let s = connected();
        let t = text(&s);
        assert!(t.starts_with("lo: up,loopback\n"), "{t}");
        assert!(t.contains("eth0: up,broadcast,multicast\n    link  index 2, state up, carrier yes, mtu 1400, mac 02:00:00:00:00:01\n"), "{t}");
        assert!(t.contains("    inet  192.0.2.2/24 scope global\n"), "{t}");
        assert!(
            t.contains("    inet6 fe80::1/64 scope link zone 2\n"),
            "{t}"
        );
        assert!(
            t.contains(
                "default routes:\n    inet  via 192.0.2.1 on eth0, metric 0\n    inet6 none\n"
            ),
            "{t}"
        );
        assert!(
            t.contains("dns (/etc/resolv.conf):\n    server 192.0.2.53\n    search example.test\n"),
            "{t}"
        );
        assert!(t.ends_with("verdict: looks connected: IPv4 192.0.2.2/24 via 192.0.2.1 on eth0, DNS 192.0.2.53\n"), "{t}");
        let j = json(&s);
        assert!(j.starts_with("{\"interfaces\":[{\"name\":\"lo\",\"index\":1,\"up\":true,\"state\":\"up\",\"carrier\":true,\"mtu\":65536,\"mac\":null,"), "{j}");
        assert!(j.contains("{\"family\":\"inet6\",\"address\":\"fe80::1\",\"prefix\":64,\"broadcast\":null,\"peer\":null,\"scope\":\"link\",\"zone\":2,\"label\":null,\"flags\":[]}"), "{j}");
        assert!(j.contains("\"default_routes\":{\"inet\":[{\"gateway\":\"192.0.2.1\",\"interface\":\"eth0\",\"metric\":0}],\"inet6\":[]}"), "{j}");
        assert!(j.contains("\"dns\":{\"source\":\"/etc/resolv.conf\",\"servers\":[\"192.0.2.53\"],\"search\":[\"example.test\"]}"), "{j}");
        assert!(j.ends_with(",\"looks_connected\":true,\"verdict\":\"looks connected: IPv4 192.0.2.2/24 via 192.0.2.1 on eth0, DNS 192.0.2.53\"}\n"), "{j}");
        assert_eq!(j.lines().count(), 1);
    }

    #[test]
    fn unreadable_parts_are_null_in_json() {
        let mut s = connected();
        s.routes6 = Err("cannot read /proc/net/ipv6_route".into());
        s.dns.servers = Err("cannot read /etc/resolv.conf".into());
        let j = json(&s);
        assert!(j.contains("\"inet6\":null"), "{j}");
        assert!(j.contains("\"servers\":null,\"search\":null"), "{j}");
        let t = text(&s);
        assert!(
            t.contains("    inet6 not known: cannot read /proc/net/ipv6_route\n"),
            "{t}"
        );
        assert_eq!(crate::json::quote("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\u0001\"");
    }

    #[test]
    fn the_verdict_drops_detail_to_fit_100_columns() {
        let mut s = connected();
        s.links[1].name = "enp0s31f6abcdef".into();
        for a in &mut s.addrs[1..] {
            a.name = "enp0s31f6abcdef".into();
            a.ip = "192.168.100.123".parse().unwrap();
        }
        s.addrs.push(addr("enp0s31f6abcdef", "2001:db8::2", 64));
        s.routes4 = Ok(vec![Route {
            gateway: Some("192.168.100.254".parse().unwrap()),
            iface: "enp0s31f6abcdef".into(),
            metric: Some(0),
        }]);
        s.routes6 = Ok(vec![Route {
            gateway: Some("fe80::1".parse().unwrap()),
            iface: "enp0s31f6abcdef".into(),
            metric: Some(0),
        }]);
        s.dns.servers = Ok(vec!["2001:db8:ffff:ffff:ffff:ffff:ffff:53".into()]);
        let (ok, v) = verdict(&s);
        assert!(ok);
        assert_eq!(
            v,
            "looks connected: IPv4 192.168.100.123/24 via 192.168.100.254 on enp0s31f6abcdef"
        );
        assert!(text(&s).lines().all(|l| l.chars().count() <= 100));
        s.dns.servers = Ok(vec!["192.168.100.254".into()]);
        let v = verdict(&s).1;
        assert_eq!(
            v,
            "looks connected: IPv4 via 192.168.100.254 on enp0s31f6abcdef, DNS 192.168.100.254, IPv6 too"
        );
    }

    #[test]
    fn peer_and_flags_in_text_and_json() {
        let mut s = connected();
        let mut p = addr("eth0", "198.51.100.1", 32);
        p.peer = Some("198.51.100.2".parse().unwrap());
        s.addrs.push(p);
        let mut t = addr("eth0", "2001:db8::7", 64);
        t.tentative = true;
        t.dad_failed = true;
        s.addrs.push(t);
        let text = text(&s);
        assert!(
            text.contains("    inet  198.51.100.1/32 peer 198.51.100.2 scope global\n"),
            "{text}"
        );
        assert!(
            text.contains("    inet6 2001:db8::7/64 scope global tentative dadfailed\n"),
            "{text}"
        );
        let j = json(&s);
        assert!(
            j.contains("\"broadcast\":null,\"peer\":\"198.51.100.2\""),
            "{j}"
        );
        assert!(j.contains("\"flags\":[\"tentative\",\"dadfailed\"]"), "{j}");
    }

    #[test]
    fn a_dad_failed_address_is_not_connected() {
        let mut s = connected();
        s.addrs.retain(|a| a.ip.is_loopback());
        let mut dup = addr("eth0", "192.0.2.2", 24);
        dup.dad_failed = true;
        s.addrs.push(dup);
        assert!(!verdict(&s).0, "{:?}", verdict(&s));
    }

    #[test]
    fn labels_group_under_their_link() {
        let mut s = connected();
        s.addrs.push(addr("eth0:1", "198.51.100.7", 24));
        let t = text(&s);
        assert!(
            t.contains("    inet  198.51.100.7/24 scope global label eth0:1\n"),
            "{t}"
        );
        assert!(!t.contains("eth0:1: "), "{t}");
    }
}
