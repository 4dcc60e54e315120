//! Workload: file -> socket -> file. A file on tmpfs (/dev/shm) is the sender's stdin, the
//! receiver's stdout another file there (`tool HOST PORT < in`, `tool -l ... > out`); MiB/s
//! over the whole transfer (sender start to both exits), the copy checked by size.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

use super::report::{measure, Entrant, Report, Role, Sample, Settings, Tools};
use super::run::{transfer, Ends};
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

/// One transfer of `input` into `output` with `tool`; the figure is size / wall time (sender
/// start to both exits).
fn file_run(t: &Tools, tool: &str, input: &PathBuf, output: &PathBuf, mib: u64) -> Result<Sample> {
    let out = File::create(output).context(|| format!("creating {}", output.display()))?;
    let inp = File::open(input).context(|| format!("opening {}", input.display()))?;
    let ends = Ends {
        listener_stdin: Stdio::null(),
        listener_stdout: out.into(),
        sender_stdout: Stdio::null(),
    };
    let done = transfer(t, tool, ends, || Ok((inp.into(), None)))?;
    let got = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    if got != mib << 20 {
        return Err(err(format!("{tool}: {got} bytes arrived of {}", mib << 20)));
    }
    Ok(Sample::new(mib as f64 / done.secs, done.rss_kib))
}
