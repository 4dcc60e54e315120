//! `cargo xtask`: project automation for netcrab (the cargo-xtask pattern). This file only
//! parses arguments and dispatches; each task lives in its own module.

mod accept;
mod apt;
mod bench;
mod build;
mod compat;
mod dist;
mod docs;
mod features;
mod setup;
mod sha256;
mod target;
mod test;
mod util;
mod verify;
mod zig;

use std::process::ExitCode;

use target::Target;
use util::{err, Result};

const HELP: &str = "\
usage: cargo xtask <task> [options]

tasks:
  setup   install what the targets need: apt packages, rustup targets and
          components, the Wine prefix (idempotent; safe to re-run)
  dist    size-optimised release builds, verified static, copied to dist/
          with the manual page netcrab.1 and SHA256SUMS; prints a size table
          for full and minimal builds
  test    build netcrab for a target and run the host suite (tests/main.rs)
          against it through the target's runner
  accept  the acceptance scenarios (../shared/acceptance/accept.py) against
          each target's binary under its runner; --native: against the
          host's `cargo build --release` binary (alone, or with --target/--all)
  compat  the netcat compatibility scorecard (../shared/acceptance/compat.py)
          against the host release build (--native) and each target under
          its runner; fails on a failing case not listed in
          tests/compat-gaps.txt (--ci: each target's `ci-compat` share)
  docs    write what the flag declarations (src/cli/args.rs) and src/cli/help.in
          give: --help's text, the manual page netcrab.1, docs/GUIDE.md's flag
          tables; [--check]: write nothing, fail if any of them is stale
  features
          cargo check with no optional feature, then with each feature
          alone (what `cargo hack --each-feature check` does)
  bench   netcrab vs nc, ncat, socat (and iperf3) on loopback: throughput,
          relay, UDP, hub, idle connections, memory, start-up; a table
          [--quick] [--json FILE] [--only NAME]

options:
  --target T   one target (repeatable); T is a file name in targets/
  --all        every target in targets/ (the default)
  --minimal    dist: only the --no-default-features build
  --ci         test: each target's `ci-tests` share; compat: its `ci-compat` share
  --compare-opt-levels
               dist: also build with opt-level \"s\" and \"z\" and print both sizes
  --native     accept, compat: the host release build
  -- ARGS      test: passed to the test binary (filters, --nocapture, ...);
               accept: passed to accept.py (-k NAME, --tag core, -v, ...)
";

/// Options shared by the tasks.
#[derive(Debug, Default)]
pub struct Opts {
    /// The selected targets.
    pub targets: Vec<Target>,
    /// `dist --minimal`.
    pub minimal: bool,
    /// `dist --compare-opt-levels`.
    pub compare_opt_levels: bool,
    /// Everything after `--`.
    pub passthrough: Vec<String>,
    /// `test --ci`: each target's `ci-tests` share of the suite.
    pub ci: bool,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    match task.as_deref() {
        None | Some("help" | "-h" | "--help") => {
            print!("{HELP}");
            list_targets()?;
            Ok(ExitCode::SUCCESS)
        }
        Some("setup") => setup::task(&parse_opts(&rest)?).map(|()| ExitCode::SUCCESS),
        Some("dist") => dist::task(&parse_opts(&rest)?).map(|()| ExitCode::SUCCESS),
        Some("test") => test::task(&parse_opts(&rest)?),
        Some(task @ ("accept" | "compat")) => {
            // `--native` alone runs only the host build; with --target/--all, both.
            let native = rest.iter().any(|a| a == "--native");
            let (own, passthrough) = match rest.iter().position(|a| a == "--") {
                Some(i) => rest.split_at(i),
                None => (&rest[..], &[][..]),
            };
            let others: Vec<String> = own.iter().filter(|a| *a != "--native").cloned().collect();
            let mut opts = parse_opts(&others)?;
            opts.passthrough = passthrough.iter().skip(1).cloned().collect();
            if native && others.is_empty() {
                opts.targets.clear();
            }
            if task == "accept" {
                accept::task(&opts, native)
            } else {
                compat::task(&opts, native)
            }
        }
        Some("bench") => bench::task(&rest),
        Some("docs") => docs::task(&rest),
        Some("features") => features::task(&rest),
        Some(other) => {
            eprint!("xtask: unknown task `{other}`\n\n{HELP}");
            Ok(ExitCode::from(2))
        }
    }
}

/// Prints the targets found in targets/.
fn list_targets() -> Result<()> {
    println!("\ntargets (targets/*.target):");
    for t in Target::all()? {
        let runner = if t.runner.is_empty() {
            "native".to_string()
        } else {
            t.runner.join(" ")
        };
        println!("  {:<30} {:<38} runner: {runner}", t.triple, t.title);
    }
    Ok(())
}

/// Parses `--target T`, `--all`, `--minimal`, `--compare-opt-levels` and `-- ARGS`.
fn parse_opts(args: &[String]) -> Result<Opts> {
    let mut opts = Opts::default();
    let mut all = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--all" => all = true,
            "--minimal" => opts.minimal = true,
            "--ci" => opts.ci = true,
            "--compare-opt-levels" => opts.compare_opt_levels = true,
            "--target" => {
                let t = it.next().ok_or_else(|| err("--target needs a value"))?;
                opts.targets.push(Target::named(t)?);
            }
            "--" => {
                opts.passthrough = it.cloned().collect();
                break;
            }
            s if s.starts_with("--target=") => {
                opts.targets.push(Target::named(&s["--target=".len()..])?);
            }
            other => return Err(err(format!("unknown option `{other}` (see `cargo xtask`)"))),
        }
    }
    if all && !opts.targets.is_empty() {
        return Err(err("give either --all or --target, not both"));
    }
    if opts.targets.is_empty() {
        opts.targets = Target::all()?;
    }
    Ok(opts)
}
