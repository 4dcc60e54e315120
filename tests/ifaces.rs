//! `--ifaces`: links, addresses, default routes, DNS and the verdict, as text
//! and as JSON. The namespace tests set every value themselves (root only);
//! the others run anywhere, emulators included, and check loopback.

use crate::util;
use crate::util::json::{self, Json};
use crate::util::netns::{pair_or_skip, sh, Pair, ResolvConf, NET};
use std::process::Command;

/// The keys of the JSON object and of its parts, as the README documents them.
const TOP_KEYS: [&str; 5] = [
    "interfaces",
    "default_routes",
    "dns",
    "looks_connected",
    "verdict",
];
const IFACE_KEYS: [&str; 12] = [
    "name",
    "index",
    "up",
    "state",
    "carrier",
    "mtu",
    "mac",
    "loopback",
    "broadcast",
    "multicast",
    "dhcp",
    "addresses",
];
const ADDR_KEYS: [&str; 9] = [
    "family",
    "address",
    "prefix",
    "broadcast",
    "peer",
    "scope",
    "zone",
    "label",
    "flags",
];
const ROUTE_KEYS: [&str; 3] = ["gateway", "interface", "metric"];

/// The header line of interface `name` and the indented lines under it.
fn block<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let head = format!("{name}: ");
    let mut lines = text.lines().skip_while(|l| !l.starts_with(&head));
    let Some(first) = lines.next() else {
        panic!("no interface {name} in:\n{text}")
    };
    let mut out = vec![first];
    out.extend(lines.take_while(|l| l.starts_with("    ")));
    out
}

/// Text from `default routes:` to the end.
fn tail(text: &str) -> &str {
    let at = text
        .find("\ndefault routes:\n")
        .unwrap_or_else(|| panic!("no routes section in:\n{text}"));
    &text[at + 1..]
}

fn fits_100_columns(text: &str) {
    for l in text.lines() {
        assert!(l.chars().count() <= 100, "longer than 100 columns: {l:?}");
    }
}

/// Parse `--ifaces --json` output and check every documented key is there,
/// and no other.
fn parse_checked(stdout: &[u8]) -> Json {
    let s = String::from_utf8_lossy(stdout);
    assert_eq!(s.lines().count(), 1, "one JSON object on one line: {s}");
    let v = json::parse(&s).unwrap_or_else(|e| panic!("bad JSON ({e}): {s}"));
    assert_eq!(v.keys(), TOP_KEYS, "{s}");
    for i in v["interfaces"].arr() {
        assert_eq!(i.keys(), IFACE_KEYS, "{s}");
        for a in i["addresses"].arr() {
            assert_eq!(a.keys(), ADDR_KEYS, "{s}");
        }
    }
    assert_eq!(v["default_routes"].keys(), ["inet", "inet6"], "{s}");
    for fam in ["inet", "inet6"] {
        if let Json::Arr(list) = &v["default_routes"][fam] {
            for r in list {
                assert_eq!(r.keys(), ROUTE_KEYS, "{s}");
            }
        }
    }
    assert_eq!(v["dns"].keys(), ["source", "servers", "search"], "{s}");
    assert!(matches!(v["looks_connected"], Json::Bool(_)), "{s}");
    assert!(matches!(v["verdict"], Json::Str(_)), "{s}");
    v
}

fn interface<'a>(v: &'a Json, name: &str) -> &'a Json {
    v["interfaces"]
        .arr()
        .iter()
        .find(|i| i["name"] == name.into())
        .unwrap_or_else(|| panic!("no interface {name} in {v:?}"))
}

/// Namespace `a` of a pair, set up as a small host: va with MTU 1400, a
/// default route via b (when `route`), and its own resolv.conf.
struct Host {
    // Field order is drop order: the resolv.conf goes before the namespaces.
    _resolv: ResolvConf,
    pair: Pair,
    index: String,
    mac: String,
    link_local: String,
}

fn host_or_skip(route: bool) -> Option<Host> {
    let pair = pair_or_skip()?;
    let a = pair.a.clone();
    sh(&["ip", "-n", &a, "link", "set", "va", "mtu", "1400"]).expect("set mtu");
    if route {
        sh(&[
            "ip",
            "-n",
            &a,
            "route",
            "add",
            "default",
            "via",
            &format!("{NET}.2"),
        ])
        .expect("default route");
    }
    let resolv = ResolvConf::new(
        &a,
        &format!("# written by the netcrab test\nnameserver {NET}.53\nsearch netcrab.test\n"),
    )
    .expect("resolv.conf");
    // `N: va@ifM: <...> mtu 1400 ... link/ether MAC brd ...`
    let link = ip(&["-n", &a, "-o", "link", "show", "dev", "va"]);
    let index = link
        .split(':')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let mac = word_after(&link, "link/ether");
    assert!(link.contains(" mtu 1400 "), "{link}");
    // The IPv6 link-local address comes with the carrier; wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let link_local = loop {
        let addrs = ip(&[
            "-n", &a, "-o", "-6", "addr", "show", "dev", "va", "scope", "link",
        ]);
        if addrs.contains("inet6 ") {
            break word_after(&addrs, "inet6");
        }
        assert!(std::time::Instant::now() < deadline, "no link-local on va");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Some(Host {
        _resolv: resolv,
        pair,
        index,
        mac,
        link_local,
    })
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn word_after(text: &str, key: &str) -> String {
    let mut words = text.split_whitespace().skip_while(|w| *w != key);
    words.nth(1).unwrap_or_default().to_string()
}

impl Host {
    fn run(&self, args: &[&str]) -> util::Output {
        self.run_exit(args, 0)
    }

    fn run_exit(&self, args: &[&str], code: i32) -> util::Output {
        self.pair.run(&self.pair.a, args, false).expect_exit(code)
    }
}

#[test]
fn ifaces_in_a_namespace_reports_link_route_and_dns() {
    let Some(h) = host_or_skip(true) else { return };
    let out = h.run(&["--ifaces"]);
    let text = String::from_utf8_lossy(&out.stdout);
    println!("--ifaces in the namespace:\n{text}");
    fits_100_columns(&text);
    assert_eq!(
        block(&text, "lo").join("\n"),
        "lo: up,loopback\n    \
         link  index 1, state up, carrier yes, mtu 65536\n    \
         inet  127.0.0.1/8 scope host\n    \
         inet6 ::1/128 scope host",
        "{text}"
    );
    let idx = &h.index;
    assert_eq!(
        block(&text, "va").join("\n"),
        format!(
            "va: up,broadcast,multicast\n    \
             link  index {idx}, state up, carrier yes, mtu 1400, mac {}\n    \
             inet  {NET}.1/24 broadcast {NET}.255 scope global\n    \
             inet6 {} scope link zone {idx}",
            h.mac, h.link_local
        ),
        "{text}"
    );
    let verdict = format!("looks connected: IPv4 {NET}.1/24 via {NET}.2 on va, DNS {NET}.53");
    assert_eq!(
        tail(&text),
        format!(
            "default routes:\n    \
             inet  via {NET}.2 on va, metric 0\n    \
             inet6 none\n\
             dns (/etc/resolv.conf):\n    \
             server {NET}.53\n    \
             search netcrab.test\n\
             verdict: {verdict}\n"
        ),
        "{text}"
    );

    let out = h.run(&["--ifaces", "--json"]);
    println!(
        "--ifaces --json in the namespace:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = parse_checked(&out.stdout);
    let va = interface(&v, "va");
    let want: [(&str, Json); 11] = [
        ("index", Json::Num(idx.parse().unwrap())),
        ("up", true.into()),
        ("state", "up".into()),
        ("carrier", true.into()),
        ("mtu", 1400.0.into()),
        ("mac", h.mac.as_str().into()),
        ("loopback", false.into()),
        ("broadcast", true.into()),
        ("multicast", true.into()),
        ("dhcp", Json::Null),
        ("name", "va".into()),
    ];
    for (k, val) in want {
        assert_eq!(va[k], val, "va.{k} in {v:?}");
    }
    let a = &va["addresses"].arr()[0];
    for (k, val) in [
        ("family", "inet".into()),
        ("address", format!("{NET}.1").as_str().into()),
        ("prefix", 24.0.into()),
        ("broadcast", format!("{NET}.255").as_str().into()),
        ("scope", "global".into()),
        ("zone", Json::Null),
        ("label", Json::Null),
    ] {
        assert_eq!(a[k], val, "va address {k} in {v:?}");
    }
    let routes = &v["default_routes"];
    assert_eq!(routes["inet"].arr().len(), 1, "{v:?}");
    let r = &routes["inet"].arr()[0];
    assert_eq!(r["gateway"], format!("{NET}.2").as_str().into());
    assert_eq!(r["interface"], "va".into());
    assert_eq!(r["metric"], 0.0.into());
    assert_eq!(routes["inet6"], Json::Arr(vec![]));
    assert_eq!(v["dns"]["source"], "/etc/resolv.conf".into());
    assert_eq!(
        v["dns"]["servers"],
        Json::Arr(vec![format!("{NET}.53").as_str().into()])
    );
    assert_eq!(v["dns"]["search"], Json::Arr(vec!["netcrab.test".into()]));
    assert_eq!(v["looks_connected"], true.into());
    assert_eq!(v["verdict"], verdict.as_str().into());
}

#[test]
fn ifaces_in_a_namespace_without_a_default_route_says_so() {
    let Some(h) = host_or_skip(false) else { return };
    // "not connected": exit 1, as --probe and --dhcp-probe do when they fail.
    let out = h.run_exit(&["--ifaces"], 1);
    let text = String::from_utf8_lossy(&out.stdout);
    println!("--ifaces in the namespace, no default route:\n{text}");
    fits_100_columns(&text);
    let verdict = format!("not connected: no default route (local subnet only: {NET}.1/24 on va)");
    assert!(
        tail(&text).starts_with("default routes:\n    inet  none\n    inet6 none\n"),
        "{text}"
    );
    assert!(text.ends_with(&format!("\nverdict: {verdict}\n")), "{text}");
    let v = parse_checked(&h.run_exit(&["--ifaces", "--json"], 1).stdout);
    assert_eq!(v["default_routes"]["inet"], Json::Arr(vec![]));
    assert_eq!(v["looks_connected"], false.into());
    assert_eq!(v["verdict"], verdict.as_str().into());
}

/// Here (natively, under qemu and under Wine): loopback is listed with its
/// address, the form fits 100 columns and ends with the verdict.
#[test]
fn ifaces_lists_loopback_with_its_address() {
    let (_p, out) = util::run(&["--ifaces"]);
    let text = String::from_utf8_lossy(&out.stdout);
    println!("--ifaces here:\n{text}");
    // 0 when the verdict says connected, 1 when not (this machine may be offline).
    let connected = text.contains("\nverdict: looks connected");
    assert_eq!(
        out.code,
        Some(if connected { 0 } else { 1 }),
        "{}",
        out.stderr
    );
    let lo = text
        .lines()
        .find(|l| !l.starts_with(' ') && l.contains(": ") && l.contains("loopback"))
        .unwrap_or_else(|| panic!("no loopback interface in:\n{text}"));
    let name = &lo[..lo.rfind(": ").unwrap_or(0)];
    let lines = block(&text, name);
    assert!(
        lines.iter().any(|l| l.starts_with("    inet  127.0.0.1/")),
        "{text}"
    );
    assert!(text.contains("\ndefault routes:\n"), "{text}");
    assert!(text.contains("\ndns ("), "{text}");
    let last = text.lines().last().unwrap_or_default();
    assert!(last.starts_with("verdict: "), "{text}");
    fits_100_columns(&text);
}

#[test]
fn ifaces_json_here_has_the_documented_keys() {
    let (_p, out) = util::run(&["--ifaces", "--json"]);
    println!(
        "--ifaces --json here:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = parse_checked(&out.stdout);
    let code = if v["looks_connected"] == true.into() {
        0
    } else {
        1
    };
    assert_eq!(out.code, Some(code), "{}", out.stderr);
    let lo = v["interfaces"]
        .arr()
        .iter()
        .find(|i| i["loopback"] == true.into())
        .unwrap_or_else(|| panic!("no loopback in {v:?}"));
    assert!(
        lo["addresses"]
            .arr()
            .iter()
            .any(|a| a["address"] == "127.0.0.1".into() && a["scope"] == "host".into()),
        "{v:?}"
    );
    let text_verdict = {
        let (_p, out) = util::run(&["--ifaces"]);
        let t = String::from_utf8_lossy(&out.stdout).into_owned();
        t.lines().last().unwrap_or_default().to_string()
    };
    assert_eq!(text_verdict, format!("verdict: {}", v["verdict"].str()));
}

#[test]
fn json_alone_is_a_usage_error() {
    let (_p, out) = util::run(&["--json"]);
    assert_eq!(out.code, Some(2));
    assert_eq!(
        out.stderr.trim_end(),
        "netcrab: --json needs --probe, --ifaces, --check or --dhcp-probe"
    );
    assert!(out.stdout.is_empty());
}

/// An address added without `brd` has no broadcast address (getifaddrs
/// hands back the address itself there); a point-to-point address shows its
/// peer, not a "broadcast". Text and JSON.
#[test]
fn ifaces_without_brd_and_with_a_peer() {
    let Some(h) = host_or_skip(true) else { return };
    let a = h.pair.a.clone();
    sh(&["ip", "-n", &a, "addr", "add", "10.77.1.2/24", "dev", "va"]).expect("addr");
    sh(&[
        "ip",
        "-n",
        &a,
        "addr",
        "add",
        "10.78.0.1",
        "peer",
        "10.79.0.2",
        "dev",
        "va",
    ])
    .expect("peer addr");
    let out = h.run(&["--ifaces"]);
    let text = String::from_utf8_lossy(&out.stdout);
    println!("--ifaces with a brd-less and a peer address:\n{text}");
    let lines = block(&text, "va");
    assert!(
        lines.contains(&format!("    inet  {NET}.1/24 broadcast {NET}.255 scope global").as_str()),
        "{text}"
    );
    assert!(
        lines.contains(&"    inet  10.77.1.2/24 scope global"),
        "{text}"
    );
    assert!(
        lines.contains(&"    inet  10.78.0.1/32 peer 10.79.0.2 scope global"),
        "{text}"
    );
    let v = parse_checked(&h.run(&["--ifaces", "--json"]).stdout);
    let addrs = interface(&v, "va")["addresses"].arr();
    let find = |ip: &str| {
        addrs
            .iter()
            .find(|x| x["address"] == ip.into())
            .unwrap_or_else(|| panic!("no {ip} in {v:?}"))
    };
    assert_eq!(find("10.77.1.2")["broadcast"], Json::Null, "{v:?}");
    assert_eq!(find("10.77.1.2")["peer"], Json::Null, "{v:?}");
    assert_eq!(find("10.78.0.1")["broadcast"], Json::Null, "{v:?}");
    assert_eq!(find("10.78.0.1")["peer"], "10.79.0.2".into(), "{v:?}");
    assert_eq!(
        find(&format!("{NET}.1"))["broadcast"],
        format!("{NET}.255").as_str().into(),
        "{v:?}"
    );
    assert_eq!(find("10.78.0.1")["flags"], Json::Arr(vec![]), "{v:?}");
}

/// `--probe`'s broadcast check uses the server's real broadcast address: a
/// server address added without `brd` has none, and the check says so
/// instead of sending to the address itself.
#[test]
fn probe_broadcast_says_when_the_subnet_has_no_broadcast_address() {
    if !cfg!(feature = "probe") {
        util::skip("needs the 'probe' feature");
        return;
    }
    let Some(p) = pair_or_skip() else { return };
    sh(&["ip", "-n", &p.a, "addr", "flush", "dev", "va"]).expect("flush");
    sh(&[
        "ip",
        "-n",
        &p.a,
        "addr",
        "add",
        &format!("{NET}.1/24"),
        "dev",
        "va",
    ])
    .expect("add");
    let mut srv = p.run(&p.a, &["--probe-server", &format!("{NET}.1:0")], false);
    let server = srv.listen_addr().to_string();
    let mut c = p.run(&p.b, &["--probe", &server, "--probe-time", "0.3"], false);
    let out = c.finish();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("--probe against a server without brd:\n{text}");
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("broadcast"))
        .unwrap_or_else(|| panic!("no broadcast line in:\n{text}"));
    assert!(line.contains("skipped"), "{text}");
    assert!(
        line.contains(&format!(
            "the server's address {NET}.1/24 on va has no broadcast address"
        )),
        "{text}"
    );
    srv.kill();
}
