//! Tests across a private network: two network namespaces joined by a veth
//! pair, made and removed by the test itself (root only). Traffic stays
//! inside these namespaces.

use crate::util::{self, runner_kind, skip, spawn, Proc, Runner, Spawn};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const NET: &str = "10.213.47";
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Two namespaces `a` (10.213.47.1 on `va`) and `b` (10.213.47.2 on `vb`).
/// Deleted on drop, also when the test fails.
struct Pair {
    a: String,
    b: String,
}

fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Pair {
    /// Build the pair, or say why it cannot be built here.
    fn new() -> Result<Pair, String> {
        if runner_kind() == Runner::Wine {
            return Err("network namespaces are not used under Wine (wineserver is shared)".into());
        }
        // SAFETY: geteuid has no preconditions.
        if unsafe { geteuid() } != 0 {
            return Err("needs root to create network namespaces".into());
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = std::process::id();
        let p = Pair {
            a: format!("ncrab{id}x{n}a"),
            b: format!("ncrab{id}x{n}b"),
        };
        sh(&["ip", "netns", "add", &p.a])?;
        sh(&["ip", "netns", "add", &p.b])?;
        for ns in [&p.a, &p.b] {
            // No duplicate address detection: IPv6 addresses usable at once.
            for key in ["all", "default"] {
                let _ = sh(&[
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{key}.accept_dad=0"),
                ]);
            }
        }
        sh(&[
            "ip", "link", "add", "va", "netns", &p.a, "type", "veth", "peer", "name", "vb",
            "netns", &p.b,
        ])?;
        for (ns, dev, host) in [(&p.a, "va", 1), (&p.b, "vb", 2)] {
            sh(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{NET}.{host}/24"),
                "brd",
                "+",
                "dev",
                dev,
            ])?;
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
            sh(&["ip", "-n", ns, "link", "set", dev, "up"])?;
            sh(&["ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", dev])?;
        }
        // Packets sent before the link has carrier are dropped: wait for it.
        for (ns, dev) in [(&p.a, "va"), (&p.b, "vb")] {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let out = Command::new("ip")
                    .args(["-n", ns, "-o", "link", "show", "dev", dev])
                    .output()
                    .map_err(|e| e.to_string())?;
                if String::from_utf8_lossy(&out.stdout).contains("state UP") {
                    break;
                }
                if std::time::Instant::now() > deadline {
                    return Err(format!("{dev} in {ns} did not come up"));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        Ok(p)
    }

    fn run(&self, ns: &str, args: &[&str], stdin: bool) -> Proc {
        spawn(Spawn {
            args,
            stdin,
            stdout: true,
            ns: Some(ns),
        })
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.a]);
        let _ = sh(&["ip", "netns", "del", &self.b]);
    }
}

extern "C" {
    fn geteuid() -> u32;
}

fn pair_or_skip() -> Option<Pair> {
    match Pair::new() {
        Ok(p) => Some(p),
        Err(why) => {
            skip(&why);
            None
        }
    }
}

#[test]
fn broadcast_reaches_the_subnet() {
    let Some(n) = pair_or_skip() else { return };
    let port = util::free_port().to_string();
    let mut rx = n.run(
        &n.b,
        &["-u", "-L", &format!("0.0.0.0:{port}"), "-i", "none"],
        false,
    );
    rx.listen_addr();
    let mut tx = n.run(&n.a, &["-u", "-b", &format!("{NET}.255:{port}")], true);
    tx.write_stdin(b"broadcast hello");
    let got = rx.wait_stdout_len(15);
    assert_eq!(got, b"broadcast hello");
}

#[test]
fn multicast_group_member_receives() {
    let Some(n) = pair_or_skip() else { return };
    let port = util::free_port().to_string();
    let group = format!("239.255.77.1:{port}");
    let mut rx = n.run(&n.b, &["-u", "--mc", "-L", &group, "-i", "none"], false);
    rx.wait_for("Joining multicast group");
    let mut tx = n.run(&n.a, &["-u", "--mc", "--mc-no-loop", &group], true);
    tx.wait_for("Joining multicast group");
    tx.write_stdin(b"group hello");
    assert_eq!(rx.wait_stdout_len(11), b"group hello");
    // --mc-no-loop: the sender does not hear itself.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        tx.stdout().is_empty(),
        "own multicast looped back despite --mc-no-loop"
    );
}

#[test]
fn ipv6_link_local_multicast() {
    let Some(n) = pair_or_skip() else { return };
    let port = util::free_port().to_string();
    let group = format!("[ff02::77]:{port}");
    let mut rx = n.run(
        &n.b,
        &["-u", "--mc", "--mc-if", "vb", "-L", &group, "-i", "none"],
        false,
    );
    rx.wait_for("Joining multicast group");
    let mut tx = n.run(&n.a, &["-u", "--mc", "--mc-if", "va", &group], true);
    tx.wait_for("Joining multicast group");
    tx.write_stdin(b"v6 group");
    assert_eq!(rx.wait_stdout_len(8), b"v6 group");
}

#[test]
fn ttl_is_set_on_the_wire() {
    let Some(n) = pair_or_skip() else { return };
    if Command::new("python3").arg("-V").output().is_err() {
        return skip("python3 is needed for the IP_RECVTTL receiver");
    }
    let port = util::free_port();
    let script = format!(
        "import socket\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.IPPROTO_IP,getattr(socket,'IP_RECVTTL',12),1)\n\
         s.bind(('{NET}.2',{port}))\n\
         print('ready',flush=True)\n\
         d,anc,f,a=s.recvmsg(2048,socket.CMSG_SPACE(4))\n\
         print('ttl',int.from_bytes(anc[0][2][:4],'little'),flush=True)\n"
    );
    let mut py = Command::new("ip")
        .args(["netns", "exec", &n.b, "python3", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut out = std::io::BufReader::new(py.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let mut tx = n.run(
        &n.a,
        &["-u", "--ttl", "3", &format!("{NET}.2:{port}")],
        true,
    );
    tx.write_stdin(b"ttl");
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let _ = py.kill();
    let _ = py.wait();
    assert_eq!(line.trim(), "ttl 3");
}

#[test]
fn ifaces_lists_the_namespace_address() {
    let Some(n) = pair_or_skip() else { return };
    let mut p = n.run(&n.a, &["--ifaces"], false);
    let out = p.expect_exit(0);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("va: up"), "{s}");
    assert!(
        s.contains(&format!("{NET}.1/24 broadcast {NET}.255")),
        "{s}"
    );
    assert!(
        s.contains("lo: up,loopback") && s.contains("127.0.0.1/8"),
        "{s}"
    );
}
