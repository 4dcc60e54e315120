//! `-z` port scans: bounded connects in flight, one line per port in the
//! order given, exactly the listening ports reported open.
//!
//! Scans in the shared namespace use 10000-31999, where no other test's
//! listener lives (those are in the ephemeral range or, from
//! `util::free_port`, in 5000-9999), and first check that nothing else
//! listens in their block; the whole 1-65535 range is scanned only inside a
//! network namespace of its own, where nothing but the test listens.

use crate::util::{self, runner_kind, skip, start_no_input, Output, Proc, Runner};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Scan lines `127.0.0.1:PORT STATE ...`, in the order printed.
fn scan_lines(stderr: &str) -> Vec<(u16, String)> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("127.0.0.1:"))
        .filter_map(|rest| {
            let (port, state) = rest.split_once(' ')?;
            let state = state.split(' ').next()?;
            Some((port.parse().ok()?, state.to_string()))
        })
        .collect()
}

/// Check a scan of `ports` (in this order): one line each, in order, open
/// exactly for `open`, closed for the rest (nothing failed or timed out).
fn check_scan(out: &Output, ports: &[u16], open: &[u16]) {
    let lines = scan_lines(&out.stderr);
    let got: Vec<u16> = lines.iter().map(|(p, _)| *p).collect();
    let tail: String = out
        .stderr
        .lines()
        .filter(|l| !l.ends_with("closed (connection refused)"))
        .take(20)
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        got.len(),
        ports.len(),
        "one line per port; other lines:\n{tail}"
    );
    if let Some(i) = (0..got.len()).find(|&i| got[i] != ports[i]) {
        panic!(
            "line {i} is port {}, expected {} (not in order); other lines:\n{tail}",
            got[i], ports[i]
        );
    }
    let reported_open: Vec<u16> = lines
        .iter()
        .filter(|(_, s)| s == "open")
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(reported_open, open, "open ports; other lines:\n{tail}");
    let odd: Vec<&(u16, String)> = lines
        .iter()
        .filter(|(_, s)| s != "open" && s != "closed")
        .take(5)
        .collect();
    assert!(odd.is_empty(), "ports neither open nor closed: {odd:?}");
    // As nc: exit 0 if any port is open (issue 26; it was "only if all").
    let want = if open.is_empty() { 1 } else { 0 };
    assert_eq!(out.code, Some(want), "exit code; other lines:\n{tail}");
}

/// Wait up to `limit` for `p` to exit; its output and how long it took.
/// (Not `Proc::finish`: its patience is shorter, and its failure report
/// would print every one of thousands of lines.)
fn wait_scan(p: &mut Proc, limit: Duration) -> (Output, Duration) {
    let t0 = Instant::now();
    while p.running() {
        if t0.elapsed() > limit {
            let err = p.stderr();
            let n = scan_lines(&err).len();
            p.kill();
            panic!("the scan did not end within {limit:?} ({n} ports reported)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = t0.elapsed();
    (p.finish(), took)
}

/// A block of `len` ports from `from` upwards (below the ephemeral range)
/// where nothing listens, with listeners of our own bound at `offsets`.
fn quiet_block(from: u16, len: u16, offsets: &[u16]) -> (u16, Vec<TcpListener>) {
    (0..)
        .map(|i| from + i * len)
        .take_while(|start| start + len < 32_000)
        .find_map(|start| try_block(start, len, offsets).map(|held| (start, held)))
        .unwrap_or_else(|| panic!("no quiet block of {len} ports from {from}"))
}

fn try_block(start: u16, len: u16, offsets: &[u16]) -> Option<Vec<TcpListener>> {
    let held = offsets
        .iter()
        .map(|o| TcpListener::bind(("127.0.0.1", start + o)).ok())
        .collect::<Option<Vec<_>>>()?;
    let busy = (0..len)
        .filter(|o| !offsets.contains(o))
        .any(|o| TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], start + o))).is_ok());
    (!busy).then_some(held)
}

#[test]
fn a_port_block_is_reported_in_order_with_exactly_the_listeners() {
    let offsets = [0, 517, 999];
    let (base, _held) = quiet_block(10_000, 1000, &offsets);
    let ports: Vec<u16> = (base..base + 1000).collect();
    let open: Vec<u16> = offsets.iter().map(|o| base + o).collect();
    let range = format!("{}-{}", base, base + 999);
    let mut p = start_no_input(&["-z", "-w", "5", "127.0.0.1", &range]);
    let (out, took) = wait_scan(&mut p, util::patience() * 2);
    check_scan(&out, &ports, &open);
    eprintln!("1000 ports in {took:?}");
}

/// With few descriptors, all connects at once ran out of them ("too many
/// open files" for most ports, open ones included); the default number in
/// flight follows the limit.
#[test]
fn a_low_descriptor_limit_still_scans_every_port() {
    let offsets = [3, 1500, 1999];
    let (base, _held) = quiet_block(14_000, 2000, &offsets);
    let ports: Vec<u16> = (base..base + 2000).collect();
    let open: Vec<u16> = offsets.iter().map(|o| base + o).collect();
    let range = format!("{}-{}", base, base + 1999);
    let mut args = vec!["-z", "-w", "5", "127.0.0.1", &range];
    if runner_kind() == Runner::Wine {
        // Windows has no descriptor limit to read: the default there is
        // fixed, so this checks the flag instead.
        args.extend(["--scan-parallel", "32"]);
    }
    // The harness's command, started by a shell that lowers the limit
    // (soft and hard, so netcrab cannot raise it again).
    let cmd = util::command(&args);
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" \"$@\"")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let child = sh.spawn().expect("start sh");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let res = rx
        .recv_timeout(util::patience() * 2)
        .expect("the scan did not end in time")
        .expect("wait for the scan");
    let out = Output {
        code: res.status.code(),
        stdout: Vec::new(),
        stderr: String::from_utf8_lossy(&res.stderr).replace('\r', ""),
    };
    check_scan(&out, &ports, &open);
}

#[test]
fn scan_parallel_is_checked_and_used() {
    for (args, needle) in [
        (
            vec!["-z", "--scan-parallel", "0", "127.0.0.1:1"],
            "--scan-parallel",
        ),
        (
            vec!["-z", "--scan-parallel", "x", "127.0.0.1:1"],
            "--scan-parallel",
        ),
        (vec!["--scan-parallel", "4", "127.0.0.1:1"], "-z"),
    ] {
        let (mut p, out) = util::run(&args);
        if out.code != Some(2) || !out.stderr.contains(needle) {
            p.fail(&format!("expected exit 2 naming {needle}"));
        }
    }
    // One connect at a time, the ports given out of order: reported in the
    // order given, and all open means exit 0.
    let (l1, l2) = (
        TcpListener::bind("127.0.0.1:0").unwrap(),
        TcpListener::bind("127.0.0.1:0").unwrap(),
    );
    let (p1, p2) = (
        l1.local_addr().unwrap().port(),
        l2.local_addr().unwrap().port(),
    );
    let (hi, lo) = (p1.max(p2), p1.min(p2));
    let list = format!("{hi},{lo}");
    let mut p = start_no_input(&["-z", "--scan-parallel=1", "127.0.0.1", &list]);
    let (out, _) = wait_scan(&mut p, util::patience());
    check_scan(&out, &[hi, lo], &[hi, lo]);
}

/// The whole range, 1-65535, in a namespace of its own (nothing else
/// listens there, and the scan disturbs no other test): listeners at both
/// ends and in the middle are exactly the ports reported open.
#[test]
fn the_whole_range_reports_exactly_the_listeners() {
    if runner_kind() != Runner::Native {
        return skip(
            "the 65,535-port scan runs natively only (too slow under an emulator); \
             a_port_block_is_reported_in_order_with_exactly_the_listeners covers the rest",
        );
    }
    let Some(ns) = util::netns::pair_or_skip() else {
        return;
    };
    let open = [1u16, 40_123, 65_535];
    let listen: Vec<String> = open.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut args = vec!["-m", "0", "-i", "none", "-o", "none"];
    for l in &listen {
        args.extend(["-L", l.as_str()]);
    }
    let mut server = ns.run(&ns.a, &args, false);
    server.listening(open.len());
    let mut p = ns.run(&ns.a, &["-z", "-w", "2", "127.0.0.1", "1-65535"], false);
    let (out, took) = wait_scan(&mut p, Duration::from_secs(60));
    let all: Vec<u16> = (1..=65_535).collect();
    check_scan(&out, &all, &open);
    eprintln!("65535 ports in {took:?}");
    assert!(
        took < Duration::from_secs(30),
        "the whole range took {took:?}"
    );
    drop(server);
}
