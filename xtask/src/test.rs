//! `cargo xtask test`: build netcrab for a target, then run the *host* black-box suite
//! (`cargo test --test main`) against that binary through the target's runner. The suite runs at
//! native speed; only netcrab itself is emulated, and nothing is wrapped twice.

use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use crate::build::{build, Flavor, Overrides};
use crate::setup::{stop_wineserver, wine_prefix};
use crate::target::Target;
use crate::util::{cargo, err, have_program, project_root, show, Context, Result};
use crate::Opts;

/// Runs the suite for every selected target and prints a summary; fails if any failed.
pub fn task(opts: &Opts) -> Result<ExitCode> {
    if !project_root().join("tests/main.rs").is_file() {
        return Err(err("tests/main.rs does not exist yet: nothing to run"));
    }
    let mut results = Vec::new();
    for t in &opts.targets {
        let start = Instant::now();
        let outcome = test_target(t, &opts.passthrough);
        if let Err(e) = &outcome {
            eprintln!("xtask: test {}: {e}", t.triple);
        }
        results.push((t.triple.as_str(), outcome.is_ok(), start.elapsed()));
    }
    eprintln!("\ntest summary:");
    for (triple, ok, took) in &results {
        let verdict = if *ok { "ok" } else { "FAILED" };
        eprintln!("  {triple:<30} {verdict:<7} {:>6.1}s", took.as_secs_f64());
    }
    let failed = results.iter().filter(|r| !r.1).count();
    // Worded so it can't be mistaken for a test runner's "N passed, N failed" closing line.
    if failed == 0 {
        eprintln!("all {} target(s) ok", results.len());
    } else {
        eprintln!("{failed} of {} target(s) FAILED", results.len());
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Builds for one target and runs the host suite against it.
fn test_target(t: &Target, passthrough: &[String]) -> Result<()> {
    if let Some(program) = t.runner.first() {
        if !have_program(program) {
            return Err(err(format!(
                "runner `{program}` not found: run `cargo xtask setup --target {}`",
                t.triple
            )));
        }
    }
    let bin = build(t, Flavor::Full, &Overrides::default())?;
    let bin = bin
        .canonicalize()
        .context(|| format!("resolving {}", bin.display()))?;

    let mut cmd = cargo();
    cmd.args(["test", "--package", "netcrab", "--test", "main"]);
    if !passthrough.is_empty() {
        cmd.arg("--").args(passthrough);
    }
    cmd.env("NETCRAB_BIN", &bin)
        .env("NETCRAB_TARGET", &t.triple);
    if t.runner.is_empty() {
        cmd.env_remove("NETCRAB_RUNNER");
    } else {
        cmd.env("NETCRAB_RUNNER", t.runner.join(" "));
    }
    cmd.envs(t.runner_env.iter().map(|(k, v)| (k, v)));
    if let Some(n) = t.test_threads {
        // An explicit RUST_TEST_THREADS from the caller wins.
        if std::env::var_os("RUST_TEST_THREADS").is_none() {
            cmd.env("RUST_TEST_THREADS", n.to_string());
        }
    }

    // Under Wine: make sure the prefix exists, and keep one wineserver alive for the whole run,
    // started here with no stdio, so no netcrab start spawns one that holds the tests' pipes.
    let wine = t.wineserver.as_deref();
    if let Some(server) = wine {
        wine_prefix(t)?;
        let mut persist = Command::new(server);
        persist
            .arg("-p")
            .envs(t.runner_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // wineserver forks into the background and the parent exits at once.
        persist
            .status()
            .context(|| format!("starting `{}`", show(&persist)))?;
    }

    eprintln!("$ {}", show(&cmd));
    let status = cmd
        .status()
        .context(|| format!("starting `{}`", show(&cmd)));
    if let Some(server) = wine {
        stop_wineserver(t, server);
    }
    let status = status?;
    if status.success() {
        Ok(())
    } else {
        Err(err(format!(
            "host suite failed against {}: {status}",
            bin.display()
        )))
    }
}
