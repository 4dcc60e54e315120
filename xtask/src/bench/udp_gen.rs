//! Workload: netcrab as a UDP traffic generator (`-u -i fixed --ss N`) against
//! `iperf3 -u -b 0 -l N`. The figure is datagrams per second leaving the sender: for netcrab
//! the kernel's count of datagrams that reached a sink socket that never reads (every arrival
//! past its full buffer is a drop, in the socket's `drops` column of /proc/net/udp, so this
//! counts exactly what was delivered in the window); for iperf3 its own count of datagrams
//! sent (`sum_sent.packets` of `-J`).

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::procs::{dev_null, Proc};
use super::report::{measure, Entrant, Report, Role, Sample, Settings, Tools};
use super::run::iperf_server;
use crate::util::{err, Context, Result};

/// Runs the generator workload for 64-byte and 1472-byte datagrams.
pub fn generator(s: &Settings, t: &Tools, report: &mut Report) {
    let secs = s.pick(1.0, 3.0);
    let reps = s.pick(2, 3);
    for size in [64usize, 1472] {
        let workload = format!("UDP generator {size} B, {secs:.0} s");
        let mut entrants: Vec<Entrant> = vec![(
            "netcrab -i fixed".into(),
            Role::Netcrab,
            Box::new(move || netcrab_run(t, size, secs, false)),
        )];
        // The same without batches or segmentation: what they are worth.
        entrants.push((
            "netcrab, NETCRAB_NO_UDP_OFFLOAD=1".into(),
            Role::Reference,
            Box::new(move || netcrab_run(t, size, secs, true)),
        ));
        if let Some(iperf) = &t.iperf3 {
            entrants.push((
                "iperf3 -u -b 0".into(),
                Role::Peer,
                Box::new(move || iperf_run(iperf, size, secs)),
            ));
        }
        measure(report, &workload, "dgrams/s", reps, false, entrants);
        let nk = report.value(&workload, "netcrab -i fixed");
        let ip = report.value(&workload, "iperf3 -u -b 0");
        report.goal_ratio(
            &format!("UDP generator {size} B: netcrab >= 2x iperf3 -u"),
            nk,
            ip,
            2.0,
        );
    }
}

/// The `drops` column of the IPv4 loopback socket bound to `port` in /proc/net/udp.
fn drops(port: u16) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/udp").ok()?;
    let local = format!("0100007F:{port:04X}");
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&local.as_str()))
        .and_then(|f| f.last()?.parse().ok())
}

fn netcrab_run(t: &Tools, size: usize, secs: f64, plain: bool) -> Result<Sample> {
    let sink = UdpSocket::bind("127.0.0.1:0").context(|| "binding the sink".to_string())?;
    let port = sink.local_addr().map_err(|e| err(e.to_string()))?.port();
    let ss = size.to_string();
    let mut cmd = Command::new(&t.netcrab);
    if plain {
        cmd.env("NETCRAB_NO_UDP_OFFLOAD", "1");
    }
    let mut tx = Proc::spawn(
        "netcrab -u -i fixed",
        cmd.args([
            "-u",
            "-i",
            "fixed",
            "--ss",
            &ss,
            "127.0.0.1",
            &port.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(dev_null()?),
    )?;
    // Let it start and fill the sink's buffer: from then on every arrival is a drop.
    std::thread::sleep(Duration::from_millis(300));
    let d0 = drops(port).ok_or_else(|| err("sink socket not in /proc/net/udp"))?;
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let d1 = drops(port).ok_or_else(|| err("sink socket not in /proc/net/udp"))?;
    let took = start.elapsed().as_secs_f64();
    tx.check_alive()?;
    let rss_kib = tx.peak_kib();
    drop(tx);
    drop(sink);
    if d1 <= d0 {
        return Err(err("no datagram reached the sink"));
    }
    Ok(Sample::new((d1 - d0) as f64 / took, rss_kib))
}

fn iperf_run(iperf: &str, size: usize, secs: f64) -> Result<Sample> {
    let (mut server, sport) = iperf_server(iperf)?;
    let out = Command::new(iperf)
        .args(["-c", "127.0.0.1", "-p", &sport.to_string(), "-u", "-b", "0"])
        .args(["-l", &size.to_string(), "-t", &format!("{secs}"), "-J"])
        .stdin(Stdio::null())
        .output()
        .context(|| "running iperf3 -c".to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    server.wait_exit(Duration::from_secs(10)).ok();
    // "sum_sent": { ..., "seconds": S, ..., "packets": N, ... }
    let sent = text
        .find("\"sum_sent\"")
        .map(|i| &text[i..])
        .ok_or_else(|| err(format!("no sum_sent in iperf3 -J output: {text}")))?;
    let field = |name: &str| -> Option<f64> {
        let key = format!("\"{name}\":");
        let at = sent.find(&key)? + key.len();
        let rest = sent[at..].trim_start();
        let end = rest.find([',', '\n', '}'])?;
        rest[..end].trim().parse().ok()
    };
    let (packets, seconds) = field("packets")
        .zip(field("seconds"))
        .ok_or_else(|| err("no packets/seconds in iperf3's sum_sent"))?;
    if seconds <= 0.0 {
        return Err(err("iperf3 ran for no time"));
    }
    Ok(Sample {
        value: packets / seconds,
        ..Default::default()
    })
}
