//! `--check`: each layer tested on the wire, in network namespaces the test
//! creates (root only): a box, a router that forwards, and a server with
//! dnsmasq as DNS, a small HTTP server and a UDP echo (python3). Traffic
//! stays inside them. One test runs anywhere (Wine and QEMU included) with
//! the layers that send off the machine skipped and loopback targets.

use crate::util::json::{self, Json};
use crate::util::netns::{self, sh, ResolvConf};
use crate::util::{self, runner_kind, skip, Runner};
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TOP_KEYS: [&str; 8] = [
    "interfaces",
    "default_routes",
    "dns",
    "layers",
    "privilege",
    "first_failure",
    "verdict",
    "exit",
];
const LAYER_KEYS: [&str; 5] = ["name", "ok", "skipped", "evidence", "ms"];
const LAYERS: [&str; 6] = ["link", "address", "gateway", "dns", "targets", "web"];

/// The box's side, the router's two sides, the server.
const BOX4: &str = "10.231.1.2";
const GW4: &str = "10.231.1.1";
const SRV4: &str = "10.231.2.53";
const BOX6: &str = "fd31:1::2";
const GW6: &str = "fd31:1::1";
const SRV6: &str = "fd31:2::53";
const HTTP_PORT: &str = "8080";
const UDP_PORT: &str = "7007";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A small server in python3: `http` answers 204, `portal` 302 to a login
/// page, `udp` echoes datagrams. Prints `ready` once it listens.
const SERVER_PY: &str = r#"
import socket, sys
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
if mode == "udp":
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((addr, port))
    print("ready", flush=True)
    while True:
        d, peer = s.recvfrom(4096)
        s.sendto(d, peer)
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(2)
    try:
        data = b""
        while b"\r\n\r\n" not in data:
            d = c.recv(4096)
            if not d:
                break
            data += d
        if mode == "portal":
            c.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://portal.test/login\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        else:
            c.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
    except Exception:
        pass
    c.close()
"#;

/// Three namespaces: `b` (eth0) -- (r1) `r` (r2) -- (s0) `s`.
struct Lab {
    // Field order is drop order: servers, then resolv.conf, then namespaces.
    procs: Vec<Child>,
    _resolv: Option<ResolvConf>,
    b: String,
    r: String,
    s: String,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
        for ns in [&self.b, &self.r, &self.s] {
            let _ = sh(&["ip", "netns", "del", ns]);
        }
    }
}

#[derive(Clone, Copy)]
struct Setup {
    v4: bool,
    v6: bool,
}

const V4_ONLY: Setup = Setup {
    v4: true,
    v6: false,
};
const V6_ONLY: Setup = Setup {
    v4: false,
    v6: true,
};
const DUAL: Setup = Setup { v4: true, v6: true };

fn ns_sh(ns: &str, args: &[&str]) {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(args);
    sh(&v).unwrap_or_else(|e| panic!("{e}"));
}

fn wait_up(ns: &str, dev: &str) {
    netns::wait_up(ns, dev).unwrap_or_else(|e| panic!("{e}"));
}

/// Whether this build has `--check` (the minimal build leaves it out).
fn check_built() -> bool {
    if !cfg!(feature = "check") {
        skip("needs the 'check' feature");
    }
    cfg!(feature = "check")
}

fn lab_or_skip(set: Setup) -> Option<Lab> {
    if !check_built() {
        return None;
    }
    if let Err(why) = netns::namespaces_possible() {
        skip(&why);
        return None;
    }
    if !std::path::Path::new("/usr/sbin/dnsmasq").exists() || !have("python3") {
        skip("needs dnsmasq and python3");
        return None;
    }
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let id = std::process::id();
    let mut lab = Lab {
        procs: Vec::new(),
        _resolv: None,
        b: format!("ncchk{id}x{n}b"),
        r: format!("ncchk{id}x{n}r"),
        s: format!("ncchk{id}x{n}s"),
    };
    for ns in [&lab.b, &lab.r, &lab.s] {
        sh(&["ip", "netns", "add", ns]).expect("netns add");
        for key in ["all", "default"] {
            ns_sh(
                ns,
                &[
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{key}.accept_dad=0"),
                ],
            );
        }
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]).expect("lo up");
    }
    sh(&[
        "ip", "link", "add", "eth0", "netns", &lab.b, "type", "veth", "peer", "name", "r1",
        "netns", &lab.r,
    ])
    .expect("veth");
    sh(&[
        "ip", "link", "add", "r2", "netns", &lab.r, "type", "veth", "peer", "name", "s0", "netns",
        &lab.s,
    ])
    .expect("veth");
    let add = |ns: &str, a: &str, dev: &str| {
        let mut v = vec!["ip", "-n", ns, "addr", "add", a];
        if !a.contains(':') {
            v.extend_from_slice(&["brd", "+"]);
        }
        v.extend_from_slice(&["dev", dev]);
        sh(&v).unwrap_or_else(|e| panic!("{e}"));
    };
    if set.v4 {
        add(&lab.b, &format!("{BOX4}/24"), "eth0");
        add(&lab.r, &format!("{GW4}/24"), "r1");
        add(&lab.r, "10.231.2.1/24", "r2");
        add(&lab.s, &format!("{SRV4}/24"), "s0");
        add(&lab.s, "10.231.2.80/24", "s0");
        ns_sh(&lab.r, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    }
    if set.v6 {
        add(&lab.b, &format!("{BOX6}/64"), "eth0");
        add(&lab.r, &format!("{GW6}/64"), "r1");
        add(&lab.r, "fd31:2::1/64", "r2");
        add(&lab.s, &format!("{SRV6}/64"), "s0");
        add(&lab.s, "fd31:2::80/64", "s0");
        ns_sh(&lab.r, &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    }
    for (ns, dev) in [
        (&lab.b, "eth0"),
        (&lab.r, "r1"),
        (&lab.r, "r2"),
        (&lab.s, "s0"),
    ] {
        sh(&["ip", "-n", ns, "link", "set", dev, "up"]).expect("link up");
    }
    for (ns, dev) in [
        (&lab.b, "eth0"),
        (&lab.r, "r1"),
        (&lab.r, "r2"),
        (&lab.s, "s0"),
    ] {
        wait_up(ns, dev);
    }
    if set.v4 {
        sh(&["ip", "-n", &lab.b, "route", "add", "default", "via", GW4]).expect("route");
        sh(&[
            "ip",
            "-n",
            &lab.s,
            "route",
            "add",
            "default",
            "via",
            "10.231.2.1",
        ])
        .expect("route");
    }
    if set.v6 {
        sh(&[
            "ip", "-n", &lab.b, "-6", "route", "add", "default", "via", GW6,
        ])
        .expect("route6");
        sh(&[
            "ip",
            "-n",
            &lab.s,
            "-6",
            "route",
            "add",
            "default",
            "via",
            "fd31:2::1",
        ])
        .expect("route6");
    }
    let dns = if set.v4 { SRV4 } else { SRV6 };
    lab._resolv =
        Some(ResolvConf::new(&lab.b, &format!("nameserver {dns}\n")).expect("resolv.conf"));
    Some(lab)
}

fn have(prog: &str) -> bool {
    Command::new(prog)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

impl Lab {
    /// Datagrams to the server's UDP `port` vanish: no answer, no port unreachable.
    fn drop_udp_to_server(&self, port: u16) {
        let port = port.to_string();
        ns_sh(&self.s, &["nft", "add", "table", "inet", "t"]);
        ns_sh(
            &self.s,
            &[
                "nft",
                "add",
                "chain",
                "inet",
                "t",
                "in",
                "{ type filter hook input priority 0 ; }",
            ],
        );
        ns_sh(
            &self.s,
            &[
                "nft", "add", "rule", "inet", "t", "in", "udp", "dport", &port, "drop",
            ],
        );
    }

    /// The IPv4 gateway's address removed from the router: nothing answers for it.
    fn gateway_gone(&self) {
        sh(&[
            "ip",
            "-n",
            &self.r,
            "addr",
            "del",
            &format!("{GW4}/24"),
            "dev",
            "r1",
        ])
        .expect("del");
    }

    /// dnsmasq on the server: ok.test has an address, any other name is
    /// NXDOMAIN (so is the root's NS: it answers only for local names).
    fn dns(&mut self, addr: &str) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.s, "/usr/sbin/dnsmasq", "--no-daemon"])
            .args([
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                &format!("--listen-address={addr}"),
                "--address=/ok.test/10.231.2.80",
                "--address=/ok.test/fd31:2::80",
                "--local=/#/",
                "--pid-file=",
                "--user=root",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq");
        self.procs.push(child);
        // Ready once port 53 is bound.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = Command::new("ip")
                .args(["netns", "exec", &self.s, "ss", "-Hlun", "sport = :53"])
                .output()
                .expect("ss");
            if !out.stdout.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "dnsmasq did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The python3 server in `mode` on the server namespace.
    fn server(&mut self, mode: &str, addr: &str, port: &str) {
        let mut child = Command::new("ip")
            .args([
                "netns", "exec", &self.s, "python3", "-c", SERVER_PY, mode, addr, port,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        let out = child.stdout.take().expect("stdout");
        let _ = BufReader::new(out).read_line(&mut line);
        assert_eq!(line.trim(), "ready", "the {mode} server did not start");
        self.procs.push(child);
    }

    /// Everything up: DNS, HTTP (204) and the UDP echo, on IPv4.
    fn serve_all(&mut self) {
        self.dns(SRV4);
        self.server("http", "0.0.0.0", HTTP_PORT);
        self.server("udp", SRV4, UDP_PORT);
    }

    /// Wait until TCP port `port` listens in the server namespace.
    fn wait_tcp(&self, port: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.s,
                    "ss",
                    "-Hltn",
                    &format!("sport = :{port}"),
                ])
                .output()
                .expect("ss");
            if !out.stdout.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "nothing listens on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn check(&self, args: &[&str]) -> (Option<i32>, String, Duration) {
        run_in(Some(&self.b), args)
    }
}

/// `netcrab --check ARGS` (in namespace `ns` when given): exit code, stdout, time.
fn run_in(ns: Option<&str>, args: &[&str]) -> (Option<i32>, String, Duration) {
    let mut all = vec!["--check"];
    all.extend_from_slice(args);
    let start = Instant::now();
    let mut p = util::spawn(util::Spawn {
        args: &all,
        stdin: false,
        stdout: None,
        ns,
    });
    let out = p.finish();
    let took = start.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("netcrab --check {}:\n{text}{}", args.join(" "), out.stderr);
    (out.code, text, took)
}

/// The line of layer `name`: its status word and its evidence.
fn layer<'a>(text: &'a str, name: &str) -> (&'a str, &'a str) {
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no {name} line in:\n{text}"));
    let mut w = line.split_whitespace();
    w.next();
    let status = w.next().unwrap_or_default();
    let at = line.find(" ms  ").map_or(line.len(), |i| i + 5);
    (status, &line[at..])
}

fn verdict(text: &str) -> &str {
    let last = text.lines().last().unwrap_or_default();
    assert!(last.starts_with("verdict: "), "no verdict last in:\n{text}");
    last
}

fn parse_checked(text: &str) -> Json {
    assert_eq!(
        text.lines().count(),
        1,
        "one JSON object on one line: {text}"
    );
    let v = json::parse(text).unwrap_or_else(|e| panic!("bad JSON ({e}): {text}"));
    assert_eq!(v.keys(), TOP_KEYS, "{text}");
    let names: Vec<&str> = v["layers"].arr().iter().map(|l| l["name"].str()).collect();
    assert_eq!(names, LAYERS, "{text}");
    for l in v["layers"].arr() {
        assert_eq!(l.keys(), LAYER_KEYS, "{text}");
        assert!(matches!(l["ms"], Json::Num(_)), "{text}");
    }
    assert_eq!(v["dns"].keys(), ["source", "servers", "search"], "{text}");
    v
}

fn targets_all() -> Vec<String> {
    vec![
        format!("{SRV4}:{HTTP_PORT}"),
        format!("udp:{SRV4}:{UDP_PORT}"),
    ]
}

#[test]
fn check_all_good_every_layer_passes() {
    let Some(mut lab) = lab_or_skip(V4_ONLY) else {
        return;
    };
    lab.serve_all();
    // The URL by name: looked up through the namespace's resolv.conf.
    let url = format!("http://ok.test:{HTTP_PORT}/generate_204");
    let t = targets_all();
    let args = ["--check-name", "ok.test", "--check-url", &url, &t[0], &t[1]];
    let (code, text, _) = lab.check(&args);
    assert_eq!(code, Some(0), "{text}");
    for name in LAYERS {
        assert_eq!(layer(&text, name).0, "ok", "{name} in:\n{text}");
    }
    assert!(
        layer(&text, "link").1.contains("eth0 up, carrier"),
        "{text}"
    );
    assert!(
        layer(&text, "address")
            .1
            .contains(&format!("{BOX4}/24 on eth0")),
        "{text}"
    );
    let gw = layer(&text, "gateway").1;
    assert!(gw.starts_with(&format!("{GW4} on eth0: ARP ")), "{text}");
    assert!(
        gw.contains("echo reply in"),
        "as root the echo is sent: {text}"
    );
    assert!(
        layer(&text, "dns")
            .1
            .contains("NOERROR, 1 record (10.231.2.80)"),
        "{text}"
    );
    let tg = layer(&text, "targets").1;
    assert!(tg.contains("TCP connected"), "{text}");
    assert!(tg.contains("UDP answer from"), "{text}");
    assert!(tg.contains(&format!("path MTU 1500 to {SRV4}")), "{text}");
    assert!(
        layer(&text, "web")
            .1
            .contains(": 204 from 10.231.2.80:8080 in"),
        "{text}"
    );
    assert!(verdict(&text).starts_with("verdict: online: "), "{text}");

    let mut j = vec!["--json"];
    j.extend_from_slice(&args);
    let (code, text, _) = lab.check(&j);
    assert_eq!(code, Some(0), "{text}");
    let v = parse_checked(&text);
    for l in v["layers"].arr() {
        assert_eq!(l["ok"], true.into(), "{text}");
        assert_eq!(l["skipped"], Json::Null, "{text}");
    }
    assert_eq!(v["exit"], 0.0.into());
    assert_eq!(v["first_failure"], Json::Null);
    assert_eq!(v["privilege"], Json::Arr(vec![]));
    assert_eq!(v["dns"]["servers"], Json::Arr(vec![SRV4.into()]));
    let eth0 = v["interfaces"]
        .arr()
        .iter()
        .find(|i| i["name"] == "eth0".into())
        .unwrap_or_else(|| panic!("no eth0 in {text}"));
    assert_eq!(eth0["addresses"].arr()[0]["address"], BOX4.into());
    assert_eq!(
        v["default_routes"]["inet"].arr()[0]["gateway"],
        GW4.into(),
        "{text}"
    );
}

#[test]
fn check_gateway_gone_fails_at_the_gateway() {
    let Some(mut lab) = lab_or_skip(V4_ONLY) else {
        return;
    };
    lab.serve_all();
    lab.gateway_gone();
    let t = targets_all();
    let url = format!("http://{SRV4}:{HTTP_PORT}/");
    let (code, text, took) = lab.check(&["--check-url", &url, &t[0], &t[1]]);
    assert_eq!(code, Some(12), "{text}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let (st, ev) = layer(&text, "gateway");
    assert_eq!(st, "FAIL", "{text}");
    assert!(
        ev.contains("ARP no reply within 2 s (sent directly)"),
        "{text}"
    );
    for name in ["dns", "targets", "web"] {
        assert_eq!(
            layer(&text, name),
            ("skip", "skipped: no gateway"),
            "{text}"
        );
    }
    assert!(
        verdict(&text).starts_with("verdict: gateway fails: "),
        "{text}"
    );
    assert!(verdict(&text).ends_with("(exit 12)"), "{text}");
}

#[test]
fn check_dns_silent_and_refusing() {
    let Some(mut lab) = lab_or_skip(V4_ONLY) else {
        return;
    };
    // Refusing: nothing listens on port 53 (port unreachable comes back).
    let (code, text, _) = lab.check(&[]);
    assert_eq!(code, Some(13), "{text}");
    assert_eq!(layer(&text, "gateway").0, "ok", "{text}");
    let (st, ev) = layer(&text, "dns");
    assert_eq!(st, "FAIL", "{text}");
    assert!(
        ev.contains(&format!("{SRV4}: refused (port 53 closed)")),
        "{text}"
    );
    assert!(
        verdict(&text).contains("dns fails: the DNS server refuses"),
        "{text}"
    );
    // Silent: dnsmasq runs but its packets are dropped.
    lab.dns(SRV4);
    lab.drop_udp_to_server(53);
    let (code, text, took) = lab.check(&["-w", "1"]);
    assert_eq!(code, Some(13), "{text}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(layer(&text, "gateway").0, "ok", "{text}");
    assert!(
        layer(&text, "dns").1.contains("no answer within 1 s"),
        "{text}"
    );
    assert!(verdict(&text).contains("does not answer"), "{text}");
}

#[test]
fn check_nxdomain_is_an_answer() {
    let Some(mut lab) = lab_or_skip(V4_ONLY) else {
        return;
    };
    lab.dns(SRV4);
    let (code, text, _) = lab.check(&["--check-name", "no-such-name.test"]);
    assert_eq!(code, Some(0), "{text}");
    let (st, ev) = layer(&text, "dns");
    assert_eq!(st, "ok", "{text}");
    assert!(
        ev.starts_with(&format!("no-such-name.test: {SRV4}: NXDOMAIN")),
        "{text}"
    );
}

#[test]
fn check_captive_portal_redirect() {
    let Some(mut lab) = lab_or_skip(V4_ONLY) else {
        return;
    };
    lab.dns(SRV4);
    lab.server("portal", SRV4, HTTP_PORT);
    let url = format!("http://{SRV4}:{HTTP_PORT}/generate_204");
    let (code, text, _) = lab.check(&["--check-url", &url]);
    assert_eq!(code, Some(15), "{text}");
    let (st, ev) = layer(&text, "web");
    assert_eq!(st, "FAIL", "{text}");
    assert!(ev.contains("302 from"), "{text}");
    assert!(
        ev.contains("redirect to http://portal.test/login"),
        "{text}"
    );
    assert!(verdict(&text).contains("captive portal"), "{text}");
    // The same status expected: it passes.
    let (code, text, _) = lab.check(&["--check-url", &url, "--check-expect", "302"]);
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn check_no_carrier() {
    let Some(lab) = lab_or_skip(V4_ONLY) else {
        return;
    };
    sh(&["ip", "-n", &lab.r, "link", "set", "r1", "down"]).expect("down");
    let (code, text, took) = lab.check(&[&format!("{SRV4}:80")]);
    assert_eq!(code, Some(10), "{text}");
    assert!(took < Duration::from_secs(10));
    assert_eq!(
        layer(&text, "link"),
        ("FAIL", "eth0 has no carrier"),
        "{text}"
    );
    assert_eq!(
        layer(&text, "address"),
        ("skip", "skipped: no link"),
        "{text}"
    );
    for name in ["gateway", "dns", "targets"] {
        assert_eq!(
            layer(&text, name),
            ("skip", "skipped: no address"),
            "{text}"
        );
    }
    assert!(verdict(&text).contains("link fails: no carrier"), "{text}");
}

#[test]
fn check_a_box_with_no_interface_but_loopback_ends_at_once() {
    let Some(lab) = lab_or_skip(V4_ONLY) else {
        return;
    };
    sh(&["ip", "-n", &lab.b, "link", "del", "eth0"]).expect("del");
    let (code, text, took) = lab.check(&["--json"]);
    assert_eq!(code, Some(10), "{text}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let v = parse_checked(&text);
    assert_eq!(v["first_failure"], "link".into());
    assert_eq!(v["exit"], 10.0.into());
    assert_eq!(
        v["layers"].arr()[0]["evidence"],
        "no interface except loopback".into()
    );
    assert_eq!(v["layers"].arr()[1]["skipped"], "no link".into());
}

#[test]
fn check_only_a_self_assigned_address() {
    let Some(lab) = lab_or_skip(V4_ONLY) else {
        return;
    };
    sh(&["ip", "-n", &lab.b, "addr", "flush", "dev", "eth0"]).expect("flush");
    sh(&[
        "ip",
        "-n",
        &lab.b,
        "addr",
        "add",
        "169.254.7.7/16",
        "dev",
        "eth0",
    ])
    .expect("add");
    let (code, text, _) = lab.check(&[]);
    assert_eq!(code, Some(11), "{text}");
    let (st, ev) = layer(&text, "address");
    assert_eq!(st, "FAIL", "{text}");
    assert_eq!(
        ev,
        "only 169.254.7.7/16 on eth0: a self-assigned address, no DHCP answer"
    );
    assert!(verdict(&text).contains("no DHCP answer"), "{text}");
}

#[test]
fn check_ipv6_only_with_a_v6_default_route() {
    let Some(mut lab) = lab_or_skip(V6_ONLY) else {
        return;
    };
    lab.dns(SRV6);
    lab.server("http", "::", HTTP_PORT);
    let target = format!("[{SRV6}]:{HTTP_PORT}");
    let (code, text, _) = lab.check(&["--check-name", "ok.test", "-6", &target]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        layer(&text, "address")
            .1
            .contains(&format!("{BOX6}/64 on eth0")),
        "{text}"
    );
    let gw = layer(&text, "gateway").1;
    assert!(gw.starts_with(&format!("{GW6} on eth0: NDP ")), "{text}");
    assert!(gw.contains("echo reply in"), "ICMPv6 echo as root: {text}");
    assert!(
        layer(&text, "dns")
            .1
            .contains("NOERROR, 1 record (fd31:2::80)"),
        "{text}"
    );
    // QEMU's user mode lacks IPV6_MTU_DISCOVER: the search says so there.
    let pmtu = layer(&text, "targets").1;
    assert!(
        pmtu.contains("path MTU 1500")
            || (runner_kind() == Runner::Qemu && pmtu.contains("path MTU not measured")),
        "{text}"
    );
}

#[test]
fn check_an_address_without_brd_passes() {
    let Some(mut lab) = lab_or_skip(V4_ONLY) else {
        return;
    };
    lab.dns(SRV4);
    sh(&["ip", "-n", &lab.b, "addr", "flush", "dev", "eth0"]).expect("flush");
    sh(&[
        "ip",
        "-n",
        &lab.b,
        "addr",
        "add",
        &format!("{BOX4}/24"),
        "dev",
        "eth0",
    ])
    .expect("add");
    sh(&["ip", "-n", &lab.b, "route", "add", "default", "via", GW4]).expect("route");
    let (code, text, _) = lab.check(&[]);
    assert_eq!(code, Some(0), "{text}");
    let mut p = util::spawn(util::Spawn {
        args: &["--ifaces"],
        stdin: false,
        stdout: None,
        ns: Some(&lab.b),
    });
    let out = p.expect_exit(0);
    let ifaces = String::from_utf8_lossy(&out.stdout);
    assert!(
        ifaces.contains(&format!("    inet  {BOX4}/24 scope global\n")),
        "{ifaces}"
    );
}

#[test]
fn check_tcp_and_udp_targets_open_closed_silent() {
    let Some(mut lab) = lab_or_skip(V4_ONLY) else {
        return;
    };
    lab.serve_all();
    let open = format!("{SRV4}:{HTTP_PORT}");
    let closed = format!("{SRV4}:8081");
    let answers = format!("udp:{SRV4}:{UDP_PORT}");
    let shut = format!("udp:{SRV4}:7008");
    // A UDP port whose datagrams vanish: no answer, no port unreachable.
    lab.drop_udp_to_server(7009);
    let silent = format!("udp:{SRV4}:7009");
    let (code, text, took) = lab.check(&[&open, &closed, &answers, &shut, &silent]);
    assert_eq!(code, Some(14), "{text}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    let ev = layer(&text, "targets").1;
    assert!(
        ev.contains(&format!("{open}: TCP connected to {open} in ")),
        "{text}"
    );
    assert!(
        ev.contains(&format!("{closed}: connection refused")),
        "{text}"
    );
    assert!(
        ev.contains(&format!(
            "{answers}: UDP answer from {SRV4}:{UDP_PORT} (16 bytes)"
        )),
        "{text}"
    );
    assert!(
        ev.contains(&format!("{shut}: UDP port closed (ICMP port unreachable)")),
        "{text}"
    );
    assert!(
        ev.contains(&format!("{silent}: no UDP answer within 2 s")),
        "{text}"
    );
    assert!(
        verdict(&text).starts_with("verdict: targets fails: "),
        "{text}"
    );
}

/// A narrower link behind the router: its "too big" answer lowers the path MTU.
#[test]
fn check_path_mtu_through_a_narrower_link() {
    let Some(mut lab) = lab_or_skip(V4_ONLY) else {
        return;
    };
    lab.serve_all();
    sh(&["ip", "-n", &lab.r, "link", "set", "r2", "mtu", "1400"]).expect("mtu");
    sh(&["ip", "-n", &lab.s, "link", "set", "s0", "mtu", "1400"]).expect("mtu");
    let (code, text, _) = lab.check(&[&format!("udp:{SRV4}:{UDP_PORT}")]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        layer(&text, "targets")
            .1
            .contains(&format!("path MTU 1400 to {SRV4}")),
        "{text}"
    );
}

/// A copy of the binary any user may run (the build directory may be
/// private), in its own directory, removed on drop.
struct Nobody(std::path::PathBuf);

impl Nobody {
    fn new() -> Nobody {
        let bin = std::env::var("NETCRAB_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_netcrab").to_string());
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("ncchk-priv-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let copy = dir.join("netcrab");
        std::fs::copy(&bin, &copy).expect("copy");
        sh(&[
            "chmod",
            "755",
            dir.to_str().unwrap(),
            copy.to_str().unwrap(),
        ])
        .expect("chmod");
        Nobody(dir)
    }

    fn path(&self) -> std::path::PathBuf {
        self.0.join("netcrab")
    }

    /// `netcrab --check ARGS` as uid/gid 65534 in namespace `ns`.
    fn check(&self, ns: &str, args: &[&str]) -> (Option<i32>, String) {
        let out = Command::new("ip")
            .args([
                "netns", "exec", ns, "setpriv", "--reuid", "65534", "--regid", "65534",
            ])
            .args(["--clear-groups", self.path().to_str().unwrap(), "--check"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("setpriv");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        println!(
            "--check {} as uid 65534:\n{text}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    }
}

impl Drop for Nobody {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The set-up of the tests run as uid 65534: an IPv4 lab with DNS where no
/// group may open ping sockets, and a copy of the binary any user may run.
/// `None` (said why) where that cannot be made.
fn unprivileged_lab_or_skip() -> Option<(Lab, Nobody)> {
    if !check_built() {
        return None;
    }
    if runner_kind() != Runner::Native {
        skip("setpriv runs the native binary only");
        return None;
    }
    let mut lab = lab_or_skip(V4_ONLY)?;
    if !have("setpriv") {
        skip("needs setpriv");
        return None;
    }
    lab.dns(SRV4);
    ns_sh(&lab.b, &["sysctl", "-qw", "net.ipv4.ping_group_range=1 0"]);
    Some((lab, Nobody::new()))
}

/// Without privilege, a gateway whose neighbour entry is stale (learned
/// before) must answer now: a TCP port of it (open or reset) does; a gone
/// gateway with a stale entry fails.
#[test]
fn check_unprivileged_with_a_stale_neighbour_entry() {
    let Some((lab, nobody)) = unprivileged_lab_or_skip() else {
        return;
    };
    let mac = {
        let out = Command::new("ip")
            .args(["-n", &lab.r, "-o", "link", "show", "dev", "r1"])
            .output()
            .expect("ip");
        let t = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut w = t.split_whitespace().skip_while(|w| *w != "link/ether");
        w.nth(1).unwrap_or_default().to_string()
    };
    let stale = |m: &str| {
        sh(&[
            "ip", "-n", &lab.b, "neigh", "replace", GW4, "lladdr", m, "nud", "stale", "dev", "eth0",
        ])
        .expect("neigh");
    };
    stale(&mac);
    let (code, text) = nobody.check(&lab.b, &[]);
    assert_eq!(code, Some(0), "{text}");
    let gw = layer(&text, "gateway").1;
    assert!(gw.contains(" answered with a reset ("), "{text}");
    // The gateway gone, its entry left stale: no answer of any kind.
    lab.gateway_gone();
    stale(&mac);
    let (code, text) = nobody.check(&lab.b, &[]);
    assert_eq!(code, Some(12), "{text}");
    assert!(
        layer(&text, "gateway")
            .1
            .contains("ARP no answer within 2 s"),
        "{text}"
    );
}

#[test]
fn check_as_an_unprivileged_user_says_what_needed_privilege() {
    let Some((lab, nobody)) = unprivileged_lab_or_skip() else {
        return;
    };
    let (code, text) = nobody.check(&lab.b, &[]);
    // Every group may open ping sockets: the echo needs no privilege then.
    ns_sh(
        &lab.b,
        &["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"],
    );
    let (pinged, j) = nobody.check(&lab.b, &["--json"]);
    assert_eq!(pinged, Some(0), "{j}");
    let v = parse_checked(&j);
    let gw = v["layers"].arr()[2]["evidence"].str().to_string();
    assert!(
        gw.contains("echo reply in") && gw.contains("(ping socket)"),
        "{j}"
    );
    let privilege = v["privilege"].arr();
    assert_eq!(privilege.len(), 1, "{j}");
    assert!(
        privilege[0]
            .str()
            .starts_with("ARP/NDP sent directly needs root"),
        "{j}"
    );
    assert_eq!(code, Some(0), "{text}");
    let gw = layer(&text, "gateway").1;
    assert!(gw.contains("echo not allowed (needs privilege)"), "{text}");
    // The kernel's own ARP (for the nudge or the TCP knock) filled the entry.
    assert!(
        gw.contains("ARP answered in") || gw.contains("ARP entry reachable"),
        "ARP works without privilege: {text}"
    );
    assert!(
        text.contains("\nprivilege: ICMP echo to the gateway needs root"),
        "{text}"
    );
    assert!(
        text.contains("\nprivilege: ARP/NDP sent directly needs root or CAP_NET_RAW"),
        "{text}"
    );
}

/// Anywhere (natively, under QEMU, under Wine): the layers that would send
/// off this machine are skipped, the targets are loopback listeners of
/// this test. Every layer prints its line and the verdict comes last.
#[test]
fn check_here_with_loopback_targets() {
    if !check_built() {
        return;
    }
    let tcp = TcpListener::bind("127.0.0.1:0").expect("bind");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let tport = tcp.local_addr().unwrap().port();
    let uport = udp.local_addr().unwrap().port();
    udp.set_read_timeout(Some(Duration::from_millis(100))).ok();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !s2.load(Ordering::SeqCst) {
            if let Ok((n, peer)) = udp.recv_from(&mut buf) {
                let _ = udp.send_to(&buf[..n], peer);
            }
        }
    });
    let t = format!("127.0.0.1:{tport}");
    let u = format!("udp:127.0.0.1:{uport}");
    let (code, text, _) = run_in(None, &["--check-skip", "gateway,dns", &t, &u]);
    stop.store(true, Ordering::SeqCst);
    let _ = echo.join();
    drop(tcp);
    // The link and address layers judge this machine, which may be offline.
    assert!(matches!(code, Some(0) | Some(10) | Some(11)), "{text}");
    for name in LAYERS {
        layer(&text, name);
    }
    assert_eq!(
        layer(&text, "gateway"),
        ("skip", "skipped: --check-skip"),
        "{text}"
    );
    assert_eq!(
        layer(&text, "dns"),
        ("skip", "skipped: --check-skip"),
        "{text}"
    );
    if code == Some(0) {
        let ev = layer(&text, "targets").1;
        assert!(ev.contains("TCP connected"), "{text}");
        assert!(ev.contains("UDP answer"), "{text}");
    }
    verdict(&text);
}

#[test]
fn check_usage_errors() {
    for (args, want) in [
        (vec!["--check-name", "x.test"], "--check-name needs --check"),
        (
            vec!["--check", "-l", "80"],
            "-l cannot be used with --check",
        ),
        (vec!["--check", "h"], "invalid --check target 'h'"),
        (
            vec!["--check", "--check-url", "https://h/"],
            "https is not supported",
        ),
        (
            vec!["--check", "--check-expect", "200"],
            "--check-expect needs --check-url",
        ),
        (
            vec!["--check", "--check-skip", "link"],
            "invalid --check-skip layer 'link'",
        ),
        (vec!["--check", "-w", "0"], "invalid -w '0' for --check"),
    ] {
        let (_p, out) = util::run(&args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        // Without the feature, --check itself is the usage error.
        let want = if cfg!(feature = "check") || args[0] != "--check" {
            want
        } else {
            "--check needs the 'check' feature"
        };
        assert!(out.stderr.contains(want), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stdout.is_empty());
    }
}

/// TCP targets and the web layer through a SOCKS5 proxy (-X 5 -x).
#[test]
fn check_targets_through_a_proxy() {
    let Some(mut lab) = lab_or_skip(V4_ONLY) else {
        return;
    };
    if !have("microsocks") && !std::path::Path::new("/usr/bin/microsocks").exists() {
        skip("needs microsocks");
        return;
    }
    lab.serve_all();
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.s,
            "microsocks",
            "-i",
            SRV4,
            "-p",
            "1080",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("microsocks");
    lab.procs.push(child);
    lab.wait_tcp("1080");
    let proxy = format!("{SRV4}:1080");
    let target = format!("10.231.2.80:{HTTP_PORT}");
    let url = format!("http://10.231.2.80:{HTTP_PORT}/");
    let (code, text, _) = lab.check(&["-X", "5", "-x", &proxy, "--check-url", &url, &target]);
    assert_eq!(code, Some(0), "{text}");
    let want = format!("TCP connected to {target} via SOCKS5 proxy {proxy} in ");
    assert!(layer(&text, "targets").1.contains(&want), "{text}");
    assert!(
        !layer(&text, "targets").1.contains("path MTU"),
        "no path MTU through a proxy: {text}"
    );
    assert!(
        layer(&text, "web")
            .1
            .contains(&format!("204 from {target} via SOCKS5")),
        "{text}"
    );
    // udp: targets cannot go through a proxy.
    let (code, _, _) = lab.check(&["-x", &proxy, &format!("udp:{SRV4}:{UDP_PORT}")]);
    assert_eq!(code, Some(2));
}

/// --check never reads stdin: it ends the same with stdin an open pipe
/// that never ends, /dev/null and a terminal. Only the layers that send
/// nothing run (this machine's own links and addresses).
#[test]
fn check_does_not_wait_for_stdin() {
    if !check_built() {
        return;
    }
    let args = ["--check", "--check-skip", "gateway,dns,targets,web"];
    for kind in util::EVERY_STDIN {
        let Some(mut p) = util::start_with(kind, &args) else {
            continue;
        };
        let out = p.finish();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            matches!(out.code, Some(0) | Some(10) | Some(11)),
            "{kind:?}: {text}{}",
            out.stderr
        );
        for name in LAYERS {
            layer(&text, name);
        }
        verdict(&text);
    }
}

/// Both families up: the gateway of each is asked (at once, within one wait).
#[test]
fn check_dual_stack_asks_both_gateways() {
    let Some(mut lab) = lab_or_skip(DUAL) else {
        return;
    };
    lab.dns(SRV4);
    let (code, text, _) = lab.check(&[]);
    assert_eq!(code, Some(0), "{text}");
    let gw = layer(&text, "gateway").1;
    assert!(gw.contains(&format!("{GW4} on eth0: ARP ")), "{text}");
    assert!(gw.contains(&format!("; {GW6} on eth0: NDP ")), "{text}");
    assert!(
        layer(&text, "address")
            .1
            .contains(&format!("{BOX4}/24 on eth0, {BOX6}/64 on eth0")),
        "{text}"
    );
    // -4: only the IPv4 side.
    let (code, text, _) = lab.check(&["-4"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(!layer(&text, "gateway").1.contains(GW6), "{text}");
}

/// IPv6 duplicate address detection: an address still being checked is
/// "tentative"; one another host already has is "dadfailed".
#[test]
fn check_tentative_and_dad_failed_addresses() {
    let Some(lab) = lab_or_skip(V6_ONLY) else {
        return;
    };
    let b = lab.b.clone();
    sh(&[
        "ip", "-n", &b, "addr", "flush", "dev", "eth0", "scope", "global",
    ])
    .expect("flush");
    for (k, v) in [
        ("conf.eth0.accept_dad", "1"),
        ("conf.eth0.dad_transmits", "3"),
        ("neigh.eth0.retrans_time_ms", "10000"),
    ] {
        ns_sh(&b, &["sysctl", "-qw", &format!("net.ipv6.{k}={v}")]);
    }
    // Nobody else has fd31:1::7: it stays tentative for 30 s.
    sh(&["ip", "-n", &b, "addr", "add", "fd31:1::7/64", "dev", "eth0"]).expect("add");
    let (code, text, _) = lab.check(&["-6"]);
    assert_eq!(code, Some(11), "{text}");
    assert_eq!(
        layer(&text, "address"),
        (
            "FAIL",
            "fd31:1::7/64 on eth0: tentative (duplicate address detection not finished)"
        ),
        "{text}"
    );
    // The router has the gateway's address: the box's copy fails DAD.
    sh(&[
        "ip", "-n", &b, "addr", "flush", "dev", "eth0", "scope", "global",
    ])
    .expect("flush");
    ns_sh(
        &b,
        &["sysctl", "-qw", "net.ipv6.neigh.eth0.retrans_time_ms=100"],
    );
    sh(&[
        "ip",
        "-n",
        &b,
        "addr",
        "add",
        &format!("{GW6}/64"),
        "dev",
        "eth0",
    ])
    .expect("add");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("ip")
            .args(["-n", &b, "-6", "addr", "show", "dev", "eth0"])
            .output()
            .expect("ip");
        if String::from_utf8_lossy(&out.stdout).contains("dadfailed") {
            break;
        }
        assert!(Instant::now() < deadline, "DAD did not fail");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, text, _) = lab.check(&["-6"]);
    assert_eq!(code, Some(11), "{text}");
    let (st, ev) = layer(&text, "address");
    assert_eq!(st, "FAIL", "{text}");
    assert!(
        ev.contains(&format!(
            "{GW6}/64 on eth0: duplicate address detection failed"
        )),
        "{text}"
    );
    assert!(
        verdict(&text).contains("another host on the link already uses this address"),
        "{text}"
    );
    let mut p = util::spawn(util::Spawn {
        args: &["--ifaces"],
        stdin: false,
        stdout: None,
        ns: Some(&b),
    });
    let out = p.finish();
    let ifaces = String::from_utf8_lossy(&out.stdout);
    assert!(
        ifaces.contains(&format!("inet6 {GW6}/64 scope global ")),
        "{ifaces}"
    );
    assert!(ifaces.contains(" dadfailed"), "{ifaces}");
}

/// Two servers configured, one of them gone: each is asked (in order, at
/// once), and one answer is enough.
#[test]
fn check_dns_one_of_two_servers_answers() {
    let Some(mut lab) = lab_or_skip(V4_ONLY) else {
        return;
    };
    lab.dns(SRV4);
    lab._resolv = None;
    lab._resolv = Some(
        ResolvConf::new(&lab.b, "nameserver 10.231.2.54\nnameserver 10.231.2.53\n")
            .expect("resolv.conf"),
    );
    let (code, text, took) = lab.check(&[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let ev = layer(&text, "dns").1;
    assert!(ev.starts_with("the root's NS: 10.231.2.54: "), "{text}");
    assert!(ev.contains("; 10.231.2.53: NXDOMAIN"), "{text}");
}
