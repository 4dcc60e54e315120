//! Workload: file -> socket -> file. A file on tmpfs (/dev/shm) is the sender's stdin, the
//! receiver's stdout another file there (`tool HOST PORT < in`, `tool -l ... > out`); MiB/s
//! over the whole transfer (sender start to both exits), the copy checked by size.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::procs::{free_port, Proc};
use super::report::{measure, Entrant, Report, Role, Sample, Settings, Tools};
use super::tcp::READY;
use crate::util::{err, Context, Result};

/// Runs the file workload for netcrab, nc and socat.
pub fn files(s: &Settings, t: &Tools, report: &mut Report) {
    let mib: u64 = s.pick(256, 1024);
    let reps = s.pick(2, 3);
    let dir = PathBuf::from(if std::path::Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    });
    let input = dir.join(format!("netcrab-bench-in-{}", std::process::id()));
    let output = dir.join(format!("netcrab-bench-out-{}", std::process::id()));
    let workload = format!("file {mib} MiB -> socket -> file ({})", dir.display());
    if let Err(e) = make_file(&input, mib) {
        eprintln!("bench: {workload}: {e}");
        return;
    }
    let (i, o) = (&input, &output);
    let mut entrants: Vec<Entrant> = vec![(
        "netcrab".into(),
        Role::Netcrab,
        Box::new(move || file_run(t, "netcrab", i, o, mib)),
    )];
    for (name, have) in [("nc", &t.nc), ("socat", &t.socat)] {
        if have.is_some() {
            entrants.push((
                name.into(),
                Role::Peer,
                Box::new(move || file_run(t, name, i, o, mib)),
            ));
        }
    }
    measure(report, &workload, "MiB/s", reps, false, entrants);
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
    let nk = report.value(&workload, "netcrab");
    let nc = report.value(&workload, "nc");
    report.goal_ratio("file transfer: netcrab >= 1.5x OpenBSD nc", nk, nc, 1.5);
}

/// `mib` MiB of a non-zero pattern (pages that are really there, not a sparse file).
fn make_file(path: &PathBuf, mib: u64) -> Result<()> {
    let mut f = File::create(path).context(|| format!("creating {}", path.display()))?;
    let block: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 + 1) as u8).collect();
    for _ in 0..mib {
        f.write_all(&block)
            .context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn file_run(t: &Tools, tool: &str, input: &PathBuf, output: &PathBuf, mib: u64) -> Result<Sample> {
    let port = free_port(false)?;
    let p = port.to_string();
    let addr = format!("127.0.0.1:{port}");
    let prog = |o: &Option<String>| o.clone().unwrap_or_default();
    let (mut listen, mut connect) = match tool {
        "netcrab" => {
            let mut l = Command::new(&t.netcrab);
            l.args(["-l", &addr]);
            let mut c = Command::new(&t.netcrab);
            c.arg(&addr);
            (l, c)
        }
        "nc" => {
            let mut l = Command::new(prog(&t.nc));
            l.args(["-l", "127.0.0.1", &p]);
            let mut c = Command::new(prog(&t.nc));
            c.args(["-N", "127.0.0.1", &p]);
            (l, c)
        }
        "socat" => {
            let mut l = Command::new(prog(&t.socat));
            l.args([
                "-u",
                &format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr"),
                "STDOUT",
            ]);
            let mut c = Command::new(prog(&t.socat));
            c.args(["-u", "STDIN", &format!("TCP:{addr}")]);
            (l, c)
        }
        other => return Err(err(format!("unknown tool {other}"))),
    };
    let out = File::create(output).context(|| format!("creating {}", output.display()))?;
    let mut rx = Proc::spawn(
        &format!("{tool} (listener)"),
        listen.stdin(Stdio::null()).stdout(out),
    )?;
    if tool == "netcrab" {
        rx.wait_listening(READY)?;
    } else {
        rx.wait_port(false, port, READY)?;
    }
    let inp = File::open(input).context(|| format!("opening {}", input.display()))?;
    let start = Instant::now();
    let mut tx = Proc::spawn(
        &format!("{tool} (sender)"),
        connect.stdin(inp).stdout(Stdio::null()),
    )?;
    rx.wait_success(Duration::from_secs(120))?;
    let secs = start.elapsed().as_secs_f64();
    tx.wait_success(Duration::from_secs(10))?;
    let got = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    if got != mib << 20 {
        return Err(err(format!("{tool}: {got} bytes arrived of {}", mib << 20)));
    }
    Ok(Sample {
        value: mib as f64 / secs,
        rss_kib: rx.peak_kib().max(tx.peak_kib()),
        ..Default::default()
    })
}
