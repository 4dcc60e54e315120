//! Two network namespaces joined by a veth pair, made and removed by the
//! test itself (root only). Traffic stays inside these namespaces. Used by
//! `netns.rs` and `probe.rs`.

use super::{runner_kind, skip, spawn, Proc, Runner, Spawn};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const NET: &str = "10.213.47";
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Two namespaces `a` (10.213.47.1 on `va`) and `b` (10.213.47.2 on `vb`).
/// Deleted on drop, also when the test fails.
pub struct Pair {
    pub a: String,
    pub b: String,
}

pub fn sh(args: &[&str]) -> Result<(), String> {
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

/// Whether this test may make network namespaces, or why not.
pub fn namespaces_possible() -> Result<(), String> {
    if runner_kind() == Runner::Wine {
        return Err("network namespaces are not used under Wine (wineserver is shared)".into());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { geteuid() } != 0 {
        return Err("needs root to create network namespaces".into());
    }
    Ok(())
}

impl Pair {
    /// Build the pair, or say why it cannot be built here.
    pub fn new() -> Result<Pair, String> {
        namespaces_possible()?;
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
        veth([(&p.a, "va", 1), (&p.b, "vb", 2)], NET, true)?;
        Ok(p)
    }

    pub fn run(&self, ns: &str, args: &[&str], stdin: bool) -> Proc {
        spawn(Spawn {
            args,
            stdin,
            stdout: None,
            ns: Some(ns),
        })
    }
}

/// A veth pair between two namespaces: each end `(ns, dev, host)` gets
/// `NET.host/24` (`net` the first three parts) and is up with its `lo`;
/// with `multicast`, a broadcast address and a route to 224.0.0.0/4 too.
/// Returns once both ends have carrier (packets sent before are dropped).
fn veth(ends: [(&str, &str, u8); 2], net: &str, multicast: bool) -> Result<(), String> {
    let [(ns1, dev1, _), (ns2, dev2, _)] = ends;
    sh(&[
        "ip", "link", "add", dev1, "netns", ns1, "type", "veth", "peer", "name", dev2, "netns", ns2,
    ])?;
    for (ns, dev, host) in ends {
        let addr = format!("{net}.{host}/24");
        let mut add = vec!["ip", "-n", ns, "addr", "add", &addr];
        if multicast {
            add.extend_from_slice(&["brd", "+"]);
        }
        add.extend_from_slice(&["dev", dev]);
        sh(&add)?;
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        sh(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        if multicast {
            sh(&["ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", dev])?;
        }
    }
    for (ns, dev, _) in ends {
        wait_up(ns, dev)?;
    }
    Ok(())
}

/// Wait (at most 10 s) until `dev` in `ns` reports state UP.
pub fn wait_up(ns: &str, dev: &str) -> Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = Command::new("ip")
            .args(["-n", ns, "-o", "link", "show", "dev", dev])
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&out.stdout).contains("state UP") {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("{dev} in {ns} did not come up"));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
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

pub fn pair_or_skip() -> Option<Pair> {
    match Pair::new() {
        Ok(p) => Some(p),
        Err(why) => {
            skip(&why);
            None
        }
    }
}

/// `/etc/netns/NS/resolv.conf`, which `ip netns exec NS` bind-mounts over
/// /etc/resolv.conf for the commands it runs. Removed on drop.
pub struct ResolvConf(std::path::PathBuf);

impl ResolvConf {
    pub fn new(ns: &str, text: &str) -> Result<ResolvConf, String> {
        let dir = std::path::Path::new("/etc/netns").join(ns);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let guard = ResolvConf(dir);
        let file = guard.0.join("resolv.conf");
        std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
        Ok(guard)
    }
}

impl Drop for ResolvConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A third namespace `c` joined to `b` only (10.213.48.2 on `vc`, `b` has
/// 10.213.48.1 on `vbc`). `b` does not forward, so from `c` nothing in `a`
/// can be reached except through a program running in `b` (a proxy).
/// Deleted on drop.
pub struct Behind {
    pub c: String,
}

pub const NET_C: &str = "10.213.48";

impl Behind {
    pub fn new(p: &Pair) -> Result<Behind, String> {
        let c = format!("{}c", p.a.trim_end_matches('a'));
        sh(&["ip", "netns", "add", &c])?;
        let me = Behind { c };
        veth([(&p.b, "vbc", 1), (&me.c, "vc", 2)], NET_C, false)?;
        let _ = sh(&[
            "ip",
            "netns",
            "exec",
            &p.b,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=0",
        ]);
        Ok(me)
    }
}

impl Drop for Behind {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.c]);
    }
}

extern "C" {
    fn setns(fd: i32, nstype: i32) -> i32;
}

/// Move the calling thread into network namespace `ns` (sockets it opens
/// from then on live there). Use on a thread of its own.
pub fn enter(ns: &str) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    const CLONE_NEWNET: i32 = 0x4000_0000;
    let path = format!("/var/run/netns/{ns}");
    let f = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    // SAFETY: a valid descriptor of a namespace file; affects this thread only.
    if unsafe { setns(f.as_raw_fd(), CLONE_NEWNET) } != 0 {
        return Err(format!("setns {ns}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Run `f` on a new thread inside namespace `ns` and return its result.
pub fn within_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns).expect("enter the namespace");
        f()
    })
    .join()
    .expect("thread in the namespace")
}
