//! `--dhcp-probe IFACE`: against Debian's dnsmasq across two network
//! namespaces (root), with no server at all, against a fake server that
//! answers with broken offers, and with port 68 taken or no permission.
//! The argument checks run everywhere (also under Wine).

use crate::util::netns::{pair_or_skip, sh, Pair, NET};
use crate::util::{self, patience, skip};
use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether this build has the probe (a minimal build leaves it out; the flag
/// then gives a usage error, which `dhcp_usage_errors` checks).
fn dhcp_built() -> bool {
    if !cfg!(feature = "dhcp") {
        skip("needs the 'dhcp' feature");
    }
    cfg!(feature = "dhcp")
}

#[test]
fn dhcp_usage_errors() {
    // The interface name exists nowhere: even a build that went on to probe
    // would stop at "unknown interface" and send nothing.
    for args in [
        &["--dhcp-probe"][..],
        &["--dhcp-probe", ""],
        &["--dhcp-probe", "nctestnone0", "-w", "abc"],
        &["--dhcp-probe", "nctestnone0", "-w", "0"],
        &["--dhcp-probe", "nctestnone0", "127.0.0.1:80"],
        &["--dhcp-probe", "nctestnone0", "-l", "127.0.0.1:0"],
        &["--dhcp-probe", "nctestnone0", "--probe", "127.0.0.1:1"],
        &["--dhcp-probe", "nctestnone0", "--probe-time", "1"],
        &["--dhcp-probe", "nctestnone0", "-6"],
    ] {
        let (mut p, out) = util::run(args);
        if out.code != Some(2)
            || !out.stderr.starts_with("netcrab: ")
            || out.stderr.lines().count() != 1
        {
            p.fail("expected one usage error line (exit 2)");
        }
    }
    if !cfg!(feature = "dhcp") {
        let (mut p, out) = util::run(&["--dhcp-probe", "nctestnone0"]);
        if out.code != Some(2) || !out.stderr.contains("'dhcp' feature") {
            p.fail("expected a usage error naming the feature");
        }
    }
}

#[test]
fn dhcp_unknown_interface() {
    if !dhcp_built() {
        return;
    }
    let (mut p, out) = util::run(&["--dhcp-probe", "nosuchif0", "-w", "0.2"]);
    if out.code != Some(1)
        || out.stderr != "netcrab: unknown interface 'nosuchif0' (netcrab --ifaces lists them)\n"
    {
        p.fail("expected one 'unknown interface' line (exit 1)");
    }
}

/// Run `f` on a thread that has entered network namespace `ns` (setns
/// affects only the calling thread); sockets it makes stay in `ns`.
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: a valid namespace fd; CLONE_NEWNET moves this thread only.
        let r = unsafe { setns(file.as_raw_fd(), CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("namespace thread")
}

const CLONE_NEWNET: i32 = 0x4000_0000;
extern "C" {
    fn setns(fd: i32, nstype: i32) -> i32;
}

/// A UDP socket in `ns` on 0.0.0.0:`port`, tied to `dev` when given.
fn udp_in(ns: &str, dev: Option<&'static str>, port: u16) -> UdpSocket {
    in_ns(ns, move || {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        if let Some(d) = dev {
            s.bind_device(Some(d.as_bytes())).unwrap();
        }
        s.set_broadcast(true).unwrap();
        s.bind(&std::net::SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())
            .unwrap();
        s.into()
    })
}

/// vb's hardware address, as `ip link` shows it.
fn mac_of(ns: &str, dev: &str) -> String {
    let out = Command::new("ip")
        .args(["-n", ns, "-o", "link", "show", "dev", dev])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut w = text.split_whitespace();
    w.by_ref().find(|t| *t == "link/ether");
    w.next()
        .unwrap_or_else(|| panic!("no MAC in {text}"))
        .to_string()
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let d = std::env::temp_dir().join(format!(
            "netcrab-dhcp-{}-{}",
            std::process::id(),
            util::free_port()
        ));
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// dnsmasq, killed by its PID on drop.
struct Dnsmasq(Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dnsmasq_path() -> Option<PathBuf> {
    ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Start dnsmasq in `n.a` on va, DHCP only, offering 10.213.47.50-59 in
/// order (sequential, so the first offer is the range's first address).
fn start_dnsmasq(n: &Pair, dir: &Scratch, exe: &PathBuf) -> Dnsmasq {
    let conf = dir.0.join("dnsmasq.conf");
    let leases = dir.0.join("leases");
    let log = dir.0.join("log");
    std::fs::write(
        &conf,
        format!(
            "port=0\ninterface=va\nbind-interfaces\nno-resolv\nno-hosts\n\
             dhcp-range={NET}.50,{NET}.59,255.255.255.0,1h\ndhcp-sequential-ip\n\
             dhcp-option=option:router,{NET}.1\ndhcp-option=option:dns-server,{NET}.53\n\
             dhcp-leasefile={}\n",
            leases.display()
        ),
    )
    .unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &n.a])
        .arg(exe)
        .arg(format!("--conf-file={}", conf.display()))
        .arg(format!("--log-facility={}", log.display()))
        .args([
            "--no-ping",
            "--keep-in-foreground",
            "--log-dhcp",
            "--user=root",
            "--pid-file=",
        ])
        .stdin(Stdio::null())
        .spawn()
        .expect("start dnsmasq");
    let d = Dnsmasq(child);
    // Ready once it has bound its DHCP socket.
    let deadline = Instant::now() + patience();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("sockets bound exclusively to interface va") {
            return d;
        }
        if Instant::now() > deadline {
            panic!("dnsmasq did not start:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn dhcp_probe_gets_dnsmasq_offer() {
    if !dhcp_built() {
        return;
    }
    let Some(exe) = dnsmasq_path() else {
        skip("dnsmasq is not installed (apt-get install dnsmasq-base)");
        return;
    };
    let Some(n) = pair_or_skip() else { return };
    // The client side has no address at all, as on a box that got none.
    sh(&["ip", "-n", &n.b, "addr", "flush", "dev", "vb"]).unwrap();
    let mac = mac_of(&n.b, "vb");
    let dir = Scratch::new();
    let _server = start_dnsmasq(&n, &dir, &exe);

    let mut p = n.run(&n.b, &["--dhcp-probe", "vb", "-w", "3"], false);
    let out = p.expect_exit(0);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("text output:\n{text}");
    assert_eq!(
        text,
        format!(
            "server {NET}.1 offer {NET}.50 mask 255.255.255.0 router {NET}.1 dns {NET}.53 \
             lease 3600s from {NET}.1\n"
        )
    );
    assert_eq!(out.stderr, "", "stderr without -v");

    let mut p = n.run(&n.b, &["--dhcp-probe", "vb", "-w", "3", "--json"], false);
    let out = p.expect_exit(0);
    let json = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("JSON output:\n{json}");
    let head = format!("{{\"interface\":\"vb\",\"mac\":\"{mac}\",\"xid\":\"0x");
    assert!(json.starts_with(&head), "{json}");
    assert!(
        json.ends_with(&format!(
            "\"wait_s\":3,\"discovers_sent\":1,\"offers\":[{{\"server_id\":\"{NET}.1\",\
             \"offered\":\"{NET}.50\",\"mask\":\"255.255.255.0\",\"routers\":[\"{NET}.1\"],\
             \"dns\":[\"{NET}.53\"],\"lease_s\":3600,\"from\":\"{NET}.1\"}}]}}\n"
        )),
        "{json}"
    );
    // Two different transaction ids: no lease, so the same first address.
    let leases = std::fs::read(dir.0.join("leases")).expect("dnsmasq's lease file");
    assert!(
        leases.is_empty(),
        "a lease was recorded: {}",
        String::from_utf8_lossy(&leases)
    );
    let log = std::fs::read_to_string(dir.0.join("log")).unwrap_or_default();
    assert_eq!(log.matches("DHCPOFFER(va)").count(), 2, "{log}");
    assert!(!log.contains("DHCPREQUEST"), "{log}");
}

#[test]
fn dhcp_probe_no_server() {
    if !dhcp_built() {
        return;
    }
    let Some(n) = pair_or_skip() else { return };
    let t = Instant::now();
    let mut p = n.run(&n.b, &["--dhcp-probe", "vb", "-w", "1"], false);
    let out = p.expect_exit(1);
    let took = t.elapsed();
    assert!(took >= Duration::from_secs(1), "ended after {took:?}");
    assert!(took < Duration::from_secs(1) + patience(), "took {took:?}");
    assert!(out.stdout.is_empty());
    assert_eq!(
        out.stderr,
        "netcrab: no DHCP offer on vb within 1 s (1 DHCPDISCOVER sent)\n"
    );
    // --json: the object is still printed, with no offers.
    let mut p = n.run(&n.b, &["--dhcp-probe", "vb", "-w", "0.5", "--json"], false);
    let out = p.expect_exit(1);
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(
        json.starts_with("{\"interface\":\"vb\",")
            && json.ends_with(",\"wait_s\":0.5,\"discovers_sent\":1,\"offers\":[]}\n"),
        "{json}"
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

/// A BOOTREPLY for `xid` to `chaddr` offering 10.213.47.77, with `options`
/// after the magic cookie.
fn reply(xid: [u8; 4], chaddr: &[u8], options: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = 2;
    p[1] = 1;
    p[2] = 6;
    p[4..8].copy_from_slice(&xid);
    p[10] = 0x80;
    p[16..20].copy_from_slice(&[10, 213, 47, 77]);
    p[28..34].copy_from_slice(chaddr);
    p.extend_from_slice(&[99, 130, 83, 99]);
    p.extend_from_slice(options);
    p
}

/// Everything the fake server sends that is no offer for the probe.
fn bad_replies(xid: [u8; 4], chaddr: &[u8]) -> Vec<Vec<u8>> {
    let good = reply(xid, chaddr, &[53, 1, 2, 54, 4, 10, 213, 47, 1, 255]);
    let mut other = xid;
    other[3] ^= 1;
    let mut request = good.clone();
    request[0] = 1;
    let mut cookie = good.clone();
    cookie[236] = 98;
    let mut noise = reply(xid, chaddr, &util::random_bytes(120, 21));
    noise.truncate(300);
    vec![
        Vec::new(),
        good[..100].to_vec(),
        good[..239].to_vec(),
        reply(other, chaddr, &[53, 1, 2, 54, 4, 10, 213, 47, 1, 255]),
        request,
        cookie,
        // An option that runs past the end.
        reply(xid, chaddr, &[53, 1, 2, 54, 200, 1, 2]),
        // Known options of the wrong size.
        reply(xid, chaddr, &[53, 1, 2, 1, 3, 255, 255, 255, 255]),
        reply(xid, chaddr, &[53, 1, 2, 3, 6, 10, 0, 0, 1, 10, 0, 255]),
        reply(xid, chaddr, &[53, 2, 2, 2, 255]),
        // A length byte missing at the very end.
        reply(xid, chaddr, &[53, 1, 2, 3]),
        // An ACK, and no message type at all.
        reply(xid, chaddr, &[53, 1, 5, 255]),
        reply(xid, chaddr, &[54, 4, 10, 213, 47, 1, 255]),
        // A bad overload value.
        reply(xid, chaddr, &[53, 1, 2, 52, 1, 7, 255]),
        noise,
    ]
}

/// A valid offer with padding and an unknown option to skip.
fn good_offer(xid: [u8; 4], chaddr: &[u8]) -> Vec<u8> {
    reply(
        xid,
        chaddr,
        &[
            0, 0, 53, 1, 2, 224, 3, 9, 9, 9, 54, 4, 10, 213, 47, 1, 1, 4, 255, 255, 255, 0, 3, 8,
            10, 213, 47, 1, 10, 213, 47, 2, 0, 6, 4, 10, 213, 47, 53, 51, 4, 0, 0, 2, 88, 255,
        ],
    )
}

/// The fake server: for each new transaction, the bad replies, then (for
/// the second transaction) a good offer twice. Ends after two transactions.
fn fake_server(sock: UdpSocket) -> std::thread::JoinHandle<Result<usize, String>> {
    std::thread::spawn(move || {
        sock.set_read_timeout(Some(patience() * 2)).unwrap();
        let mut seen: Vec<[u8; 4]> = Vec::new();
        let mut buf = [0u8; 2048];
        let mut bad_count = 0;
        while seen.len() < 2 {
            let (n, _) = sock.recv_from(&mut buf).map_err(|e| e.to_string())?;
            if n < 240 || buf[0] != 1 {
                return Err(format!("not a DHCP request: {n} bytes"));
            }
            let xid = [buf[4], buf[5], buf[6], buf[7]];
            if seen.contains(&xid) {
                continue;
            }
            seen.push(xid);
            let chaddr = buf[28..34].to_vec();
            let to = (Ipv4Addr::BROADCAST, 68);
            let bad = bad_replies(xid, &chaddr);
            bad_count = bad.len();
            for b in bad {
                sock.send_to(&b, to).map_err(|e| e.to_string())?;
            }
            if seen.len() == 2 {
                let g = good_offer(xid, &chaddr);
                sock.send_to(&g, to).map_err(|e| e.to_string())?;
                sock.send_to(&g, to).map_err(|e| e.to_string())?;
            }
        }
        Ok(bad_count)
    })
}

#[test]
fn dhcp_probe_ignores_broken_offers() {
    if !dhcp_built() {
        return;
    }
    let Some(n) = pair_or_skip() else { return };
    let server = fake_server(udp_in(&n.a, Some("va"), 67));

    // Only broken answers: none counts, the probe says so.
    let mut p = n.run(&n.b, &["--dhcp-probe", "vb", "-w", "1.5", "-v"], false);
    let out = p.expect_exit(1);
    assert!(out.stdout.is_empty(), "{}", p.report());
    let ignored = out.stderr.matches("\nIgnored ").count();
    assert!(
        out.stderr
            .ends_with("netcrab: no DHCP offer on vb within 1.5 s (1 DHCPDISCOVER sent)\n"),
        "{}",
        p.report()
    );

    // The same, then a good offer (twice): one line, the duplicate noted.
    let mut p = n.run(&n.b, &["--dhcp-probe", "vb", "-w", "1.5", "-v"], false);
    let out2 = p.expect_exit(0);
    assert_eq!(
        String::from_utf8_lossy(&out2.stdout),
        format!(
            "server {NET}.1 offer {NET}.77 mask 255.255.255.0 router {NET}.1,{NET}.2 \
             dns {NET}.53 lease 600s from {NET}.1\n"
        )
    );
    assert!(
        out2.stderr.contains(&format!(
            "Another offer from server {NET}.1 (already shown)"
        )),
        "{}",
        p.report()
    );
    let bad = server.join().unwrap().expect("fake server");
    assert_eq!(
        ignored, bad,
        "one -v line per broken reply:\n{}",
        out.stderr
    );
    assert_eq!(
        out2.stderr.matches("\nIgnored ").count(),
        bad,
        "{}",
        out2.stderr
    );
    for why in [
        "Ignored 0 bytes",
        "truncated",
        "another transaction",
        "not a BOOTREPLY",
        "magic cookie",
        "only 2 left",
        "expected 4",
        "not a multiple of 4",
        "no length byte",
        "not an offer",
        "no DHCP message type",
        "overload",
    ] {
        assert!(out.stderr.contains(why), "no '{why}' in:\n{}", out.stderr);
    }
}

#[test]
fn dhcp_probe_interface_down() {
    if !dhcp_built() {
        return;
    }
    let Some(n) = pair_or_skip() else { return };
    sh(&["ip", "-n", &n.b, "link", "set", "vb", "down"]).unwrap();
    let mut p = n.run(&n.b, &["--dhcp-probe", "vb", "-w", "1"], false);
    let out = p.expect_exit(1);
    if out.stderr != "netcrab: sending the DHCPDISCOVER on vb: network unreachable (is vb up?)\n" {
        p.fail("expected one 'is vb up?' line");
    }
}

#[test]
fn dhcp_probe_port_68_taken() {
    if !dhcp_built() {
        return;
    }
    let Some(n) = pair_or_skip() else { return };
    let _holder = udp_in(&n.b, None, 68);
    let mut p = n.run(&n.b, &["--dhcp-probe", "vb", "-w", "1"], false);
    let out = p.expect_exit(1);
    if out.stderr.lines().count() != 1
        || !out
            .stderr
            .starts_with("netcrab: cannot bind UDP port 68 on vb: in use, most likely by this system's DHCP client")
    {
        p.fail("expected one 'port 68 in use' line");
    }
}

#[test]
fn dhcp_probe_without_permission() {
    if !dhcp_built() {
        return;
    }
    if !std::path::Path::new("/usr/bin/setpriv").exists() {
        skip("setpriv (util-linux) is not installed");
        return;
    }
    let Some(n) = pair_or_skip() else { return };
    // ip netns exec NS setpriv (as nobody) [runner] netcrab ...
    let c = util::command_in(Some(&n.b), &["--dhcp-probe", "vb", "-w", "1"]);
    let mut words: Vec<String> = std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    words.splice(4..4, nobody.iter().map(|s| s.to_string()));
    let out = Command::new(&words[0])
        .args(&words[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if stderr.contains("Permission denied") && !stderr.starts_with("netcrab") {
        skip(&format!("nobody cannot run the binary here: {stderr}"));
        return;
    }
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim_start().starts_with("qemu-"))
        .collect();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("permission denied (run as root"),
        "{stderr}"
    );
}
