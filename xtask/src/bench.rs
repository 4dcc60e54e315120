//! `cargo xtask bench [--quick] [--json FILE]`: netcrab against OpenBSD nc, ncat, socat (and
//! iperf3 as the ceiling) on loopback. Peers are installed with apt-get when missing, netcrab is
//! built with `cargo build --release`, every workload runs each tool interleaved and keeps the
//! best run. Goals are printed next to the figures but never enforced: the exit code is non-zero
//! only when a measurement itself broke.

mod file;
mod procs;
mod report;
mod run;
mod scale;
mod tcp;
mod tunnel;
mod udp;
mod udp_gen;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use crate::util::{cargo, err, have_program, run, target_dir, Context, Result};
use report::{Report, Role, Settings, Tools};

/// Parses the task's options.
pub fn parse(args: &[String]) -> Result<Settings> {
    let mut settings = Settings::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => settings.quick = true,
            "--json" => {
                let file = it.next().ok_or_else(|| err("--json needs a file name"))?;
                settings.json = Some(PathBuf::from(file));
            }
            s if s.starts_with("--json=") => settings.json = Some(PathBuf::from(&s[7..])),
            "--only" => {
                let name = it
                    .next()
                    .ok_or_else(|| err("--only needs a workload name"))?;
                settings.only = Some(name.clone());
            }
            other => return Err(err(format!("bench: unknown option `{other}`"))),
        }
    }
    Ok(settings)
}

/// The task.
pub fn task(args: &[String]) -> Result<ExitCode> {
    let settings = parse(args)?;
    let start = Instant::now();
    raise_nofile();
    let tools = prepare()?;
    let mut report = Report::default();
    type Workload = fn(&Settings, &Tools, &mut Report);
    let workloads: [(&str, Workload); 12] = [
        ("p2p", tcp::p2p),
        ("relay", tcp::relay),
        ("udp", udp::udp),
        ("udp-gen", udp_gen::generator),
        ("file", file::files),
        ("udp-flows", udp::flows),
        ("hub", scale::hub),
        ("idle", scale::idle),
        ("slow-reader", tcp::slow_reader),
        ("startup", scale::startup),
        ("rand", tcp::rand),
        ("tunnel", tunnel::exchanges),
    ];
    if let Some(only) = &settings.only {
        if !workloads.iter().any(|(name, _)| name == only) {
            let names: Vec<&str> = workloads.iter().map(|w| w.0).collect();
            return Err(err(format!(
                "bench: --only {only}: not one of {}",
                names.join(", ")
            )));
        }
    }
    for (name, run) in workloads {
        if settings.only.as_deref().is_none_or(|o| o == name) {
            run(&settings, &tools, &mut report);
        }
    }

    let took = start.elapsed().as_secs_f64();
    let mode = settings.pick("--quick", "full");
    println!("\nnetcrab bench ({mode}, loopback, {took:.0}s)\n");
    print!("{}", table(&report));
    println!();
    print!("{}", goals(&report));
    if let Some(path) = &settings.json {
        std::fs::write(path, json(&report, settings.quick))
            .context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: rows written to {}", path.display());
    }
    let failed = report.rows.iter().filter(|r| r.failed).count();
    if failed > 0 {
        eprintln!("bench: {failed} row(s) FAILED (see the notes)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Raises our RLIMIT_NOFILE soft limit to the hard limit (std has no setrlimit, so through
/// util-linux `prlimit` on our own pid); children inherit it. Best effort.
fn raise_nofile() {
    let pid = std::process::id().to_string();
    let hard = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            let line = l.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(4).map(str::to_string)
        });
    if let Some(hard) = hard {
        let raised = Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={hard}:")])
            .status();
        if !matches!(raised, Ok(s) if s.success()) {
            eprintln!("bench: warning: could not raise RLIMIT_NOFILE to {hard} with prlimit");
        }
    }
}

/// Installs missing peers (Debian packages) and builds netcrab.
fn prepare() -> Result<Tools> {
    // (program, Debian package); OpenBSD nc is /bin/nc.openbsd whatever `nc` points at.
    let wanted = [
        ("nc.openbsd", "netcat-openbsd"),
        ("ncat", "ncat"),
        ("socat", "socat"),
        ("iperf3", "iperf3"),
        ("haproxy", "haproxy"),
    ];
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(p, _)| !have_program(p))
        .map(|(_, pkg)| *pkg)
        .collect();
    if !missing.is_empty() {
        eprintln!("bench: installing {}", missing.join(" "));
        if let Err(e) = crate::apt::apt_install(&missing) {
            eprintln!("bench: warning: {e}; rows of missing peers are left out");
        }
    }
    let find = |p: &str| have_program(p).then(|| p.to_string());
    run(cargo().args([
        "build",
        "--release",
        "--package",
        "netcrab",
        "--bin",
        "netcrab",
    ]))
    .context(|| "building netcrab (release)".to_string())?;
    let netcrab = target_dir().join("release").join("netcrab");
    if !netcrab.is_file() {
        return Err(err(format!("no binary at {}", netcrab.display())));
    }
    Ok(Tools {
        netcrab,
        nc: find("nc.openbsd"),
        ncat: find("ncat"),
        socat: find("socat"),
        iperf3: find("iperf3"),
        haproxy: find("haproxy"),
    })
}

/// Formats a figure with sensible precision.
fn figure(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// The results as a Markdown table (readable in a terminal, pasteable into docs/BENCH.md).
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    out.push_str("| workload | tool | result | peak RSS | netcrab / best peer | notes |\n");
    out.push_str("| --- | --- | ---: | ---: | ---: | --- |\n");
    for r in &report.rows {
        let result = r
            .value
            .map_or("-".into(), |v| format!("{} {}", figure(v), r.unit));
        let rss = r
            .rss_kib
            .map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        let ratio = r.ratio.map_or(String::new(), |x| format!("{x:.2}x"));
        let _ = writeln!(
            out,
            "| {} | {} | {result} | {rss} | {ratio} | {} |",
            r.workload,
            r.tool,
            r.note.replace('|', "/")
        );
    }
    out
}

/// The goals, one line each.
pub fn goals(report: &Report) -> String {
    let mut out = String::from("Goals (not enforced):\n");
    for g in &report.goals {
        let verdict = match g.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "n/a",
        };
        let _ = writeln!(out, "- {}: {} ({verdict})", g.text, g.figure);
    }
    out
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number, or null.
fn json_num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v}"),
        _ => "null".to_string(),
    }
}

/// The report as JSON: `{"quick":..,"rows":[..],"goals":[..]}`.
pub fn json(report: &Report, quick: bool) -> String {
    let rows: Vec<String> = report
        .rows
        .iter()
        .map(|r| {
            format!(
                "{{\"workload\":{},\"tool\":{},\"role\":{},\"value\":{},\"unit\":{},\"peak_rss_kib\":{},\
                 \"ratio_vs_best_peer\":{},\"failed\":{},\"note\":{}}}",
                json_str(&r.workload),
                json_str(&r.tool),
                json_str(match r.role {
                    Role::Netcrab => "netcrab",
                    Role::Peer => "peer",
                    Role::Reference => "reference",
                }),
                json_num(r.value),
                json_str(r.unit),
                r.rss_kib.map_or("null".into(), |k| k.to_string()),
                json_num(r.ratio),
                r.failed,
                json_str(&r.note)
            )
        })
        .collect();
    let goals: Vec<String> = report
        .goals
        .iter()
        .map(|g| {
            format!(
                "{{\"goal\":{},\"figure\":{},\"met\":{}}}",
                json_str(&g.text),
                json_str(&g.figure),
                g.met.map_or("null".into(), |m| m.to_string())
            )
        })
        .collect();
    format!(
        "{{\"quick\":{quick},\"rows\":[\n  {}\n],\"goals\":[\n  {}\n]}}\n",
        rows.join(",\n  "),
        goals.join(",\n  ")
    )
}
