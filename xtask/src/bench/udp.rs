//! Workload 3: UDP receivers. One sender thread here blasts datagrams of a fixed size at the
//! tool for a fixed time; the tool writes what it receives to stdout, which is counted.

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::procs::{free_port, Counter, Proc};
use super::tcp::{MIB, READY};
use super::{annotate, measure, Entrant, Report, Role, Sample, Settings, Tools};
use crate::util::{err, Context, Result};

/// Runs the UDP workload for 64-byte and 1472-byte datagrams.
pub fn udp(s: &Settings, t: &Tools, report: &mut Report) {
    let secs = s.pick(1.0, 3.0);
    let reps = s.pick(2, 3);
    for size in [64usize, 1472] {
        let workload = format!("UDP {size} B datagrams, {secs:.0} s");
        let notes = std::cell::RefCell::new(Vec::<(String, f64, String)>::new());
        let entry = |name: &'static str, role: Role| -> Entrant<'_> {
            let notes = &notes;
            (
                name.into(),
                role,
                Box::new(move || {
                    let (sample, note) = udp_run(t, name, size, secs)?;
                    notes
                        .borrow_mut()
                        .push((name.to_string(), sample.value, note));
                    Ok(sample)
                }),
            )
        };
        let mut entrants = vec![entry("netcrab", Role::Netcrab)];
        for (name, have) in [("nc", &t.nc), ("ncat", &t.ncat), ("socat", &t.socat)] {
            if have.is_some() {
                entrants.push(entry(name, Role::Peer));
            }
        }
        measure(report, &workload, "dgrams/s", reps, false, entrants);
        // Note the run with the most datagrams per tool (the one measure kept).
        let mut best: Vec<(String, f64, String)> = Vec::new();
        for (tool, value, note) in notes.into_inner() {
            match best.iter_mut().find(|b| b.0 == tool) {
                Some(b) if b.1 < value => *b = (tool, value, note),
                Some(_) => {}
                None => best.push((tool, value, note)),
            }
        }
        for (tool, _, note) in best {
            annotate(report, &workload, &tool, note);
        }
        let nk = report.value(&workload, "netcrab");
        let peer = ["nc", "ncat", "socat"]
            .iter()
            .filter_map(|p| report.value(&workload, p))
            .reduce(f64::max);
        report.goal_ratio(
            &format!("UDP {size} B: netcrab >= 1.2x best peer dgrams/s"),
            nk,
            peer,
            1.2,
        );
    }
}

/// One receiver run; returns datagrams/s received and a note with MiB/s and loss.
fn udp_run(t: &Tools, tool: &str, size: usize, secs: f64) -> Result<(Sample, String)> {
    let port = free_port(true)?;
    let p = port.to_string();
    let addr = format!("127.0.0.1:{port}");
    let prog = |o: &Option<String>| o.clone().unwrap_or_default();
    let mut cmd = match tool {
        "netcrab" => {
            let mut c = Command::new(&t.netcrab);
            c.args(["-u", "-i", "none", "-l", &addr]);
            c
        }
        "nc" => {
            let mut c = Command::new(prog(&t.nc));
            c.args(["-d", "-u", "-l", "127.0.0.1", &p]);
            c
        }
        "ncat" => {
            let mut c = Command::new(prog(&t.ncat));
            c.args(["--recv-only", "-u", "-l", "127.0.0.1", &p]);
            c
        }
        "socat" => {
            let mut c = Command::new(prog(&t.socat));
            c.args(["-u", &format!("UDP-RECV:{port},bind=127.0.0.1"), "STDOUT"]);
            c
        }
        other => return Err(err(format!("unknown tool {other}"))),
    };
    let mut rx = Proc::spawn(tool, cmd.stdin(Stdio::null()).stdout(Stdio::piped()))?;
    if tool == "netcrab" {
        rx.wait_listening(READY)?;
    } else {
        rx.wait_port(true, port, READY)?;
    }
    let out = rx.take_stdout().ok_or_else(|| err("no stdout"))?;
    let counter = Counter::start(out, Duration::ZERO);
    let sock = UdpSocket::bind("127.0.0.1:0").context(|| "binding the sender".to_string())?;
    sock.connect(&addr)
        .context(|| "connecting the sender".to_string())?;
    let payload = vec![b'x'; size];
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        for _ in 0..64 {
            // Loopback drops at the receiver, silently; a send error (ICMP refusal) is not ours.
            if sock.send(&payload).is_ok() {
                sent += 1;
            }
        }
    }
    // Let the receiver drain its socket buffer and the pipe.
    std::thread::sleep(Duration::from_millis(300));
    rx.check_alive()?;
    let got = counter.bytes() / size as u64;
    let rss_kib = rx.peak_kib();
    drop(rx);
    if got == 0 {
        return Err(err(format!("{tool} received nothing ({sent} sent)")));
    }
    let loss = 100.0 * (sent.saturating_sub(got)) as f64 / sent as f64;
    let note = format!(
        "{:.1} MiB/s; {got} of {sent} received, loss {loss:.1}%",
        (got * size as u64) as f64 / MIB / secs
    );
    Ok((
        Sample {
            value: got as f64 / secs,
            rss_kib,
        },
        note,
    ))
}
