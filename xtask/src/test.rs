//! `cargo xtask test`: build netcrab for a target, then run the *host* black-box suite
//! (`cargo test --test main`) against that binary through the target's runner. The suite runs at
//! native speed; only netcrab itself is emulated, and nothing is wrapped twice.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::build::{build, Flavor, Overrides};
use crate::setup::{stop_wineserver, wine_prefix};
use crate::target::{CiTests, Target};
use crate::util::{
    cargo, err, have_program, project_root, run_bounded_ok, show, wait_bounded, Context, Result,
};
use crate::Opts;

/// Runs the suite for every selected target and prints a summary; fails if any failed.
pub fn task(opts: &Opts) -> Result<ExitCode> {
    if !project_root().join("tests/main.rs").is_file() {
        return Err(err("tests/main.rs does not exist yet: nothing to run"));
    }
    let mut results = Vec::new();
    for t in &opts.targets {
        let mut args = opts.passthrough.clone();
        if opts.ci {
            match &t.ci_tests {
                CiTests::All => {}
                CiTests::None => {
                    eprintln!("xtask: test {}: ci-tests = none, skipped", t.triple);
                    continue;
                }
                // libtest runs the tests matching any of the filters.
                CiTests::Filters(filters) => {
                    args = filters.iter().cloned().chain(args).collect();
                }
            }
        }
        let start = Instant::now();
        let outcome = test_target(t, &args);
        if let Err(e) = &outcome {
            eprintln!("xtask: test {}: {e}", t.triple);
        }
        results.push((t, outcome, start.elapsed()));
    }
    eprintln!("\ntest summary:");
    for (t, outcome, took) in &results {
        let verdict = if outcome.is_ok() { "ok" } else { "FAILED" };
        eprint!(
            "  {:<30} {verdict:<7} {:>6.1}s",
            t.triple,
            took.as_secs_f64()
        );
        match outcome {
            Ok(retried) if !retried.is_empty() => {
                eprintln!("  (passed only on retry: {})", retried.join(" "))
            }
            _ => eprintln!(),
        }
        if !t.emulator_gaps.is_empty() {
            let names: Vec<&str> = t.emulator_gaps.iter().map(|g| g.0.as_str()).collect();
            eprintln!("    skipped as emulator gaps: {}", names.join(" "));
        }
    }
    let failed = results.iter().filter(|r| r.1.is_err()).count();
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

/// Checks the target's runner is there, builds its full binary (the artifact
/// `dist`, `test` and `accept` share) and, under Wine, starts the wineserver
/// and Wine's own services before anything runs, with no stdio. Otherwise
/// the first netcrab start spawns them (services.exe, rpcss, ...) and they
/// inherit the test's stdout/stderr pipes and outlive netcrab, so reading to
/// EOF never ends. Returns the binary's absolute path.
pub fn prepare(t: &Target) -> Result<std::path::PathBuf> {
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
    if let Some(server) = t.wineserver.as_deref() {
        wine_prefix(t)?;
        if let Err(e) = warm_up_wine(t, server) {
            stop_wineserver(t, server);
            return Err(e);
        }
    }
    Ok(bin)
}

/// Builds for one target and runs the host suite against it. Returns the tests that passed only
/// on their retry.
fn test_target(t: &Target, passthrough: &[String]) -> Result<Vec<String>> {
    let bin = prepare(t)?;
    let wine = t.wineserver.as_deref();

    let outcome = run_with_retry(t, &bin, passthrough);
    if let Some(server) = wine {
        stop_wineserver(t, server);
    }
    outcome
}

/// Runs the suite; then, where the target allows it, the tests that failed once more, one at a
/// time. Returns the tests that only passed the second time.
fn run_with_retry(t: &Target, bin: &Path, passthrough: &[String]) -> Result<Vec<String>> {
    report_gaps(t);
    let first = run_suite(&mut suite_command(t, bin, passthrough))?;
    let failed_only_tests = first.status.is_some_and(|s| !s.success())
        && !first.failed.is_empty()
        && first.failed.len() <= t.retry_failed;
    if !failed_only_tests {
        return verdict(first.status, bin, "").map(|()| Vec::new());
    }
    eprintln!(
        "xtask: failed under {}; running once more, alone (retry-failed = {}): {}",
        t.runner.join(" "),
        t.retry_failed,
        first.failed.join(" ")
    );
    let mut args: Vec<String> = vec!["--exact".into(), "--test-threads=1".into()];
    args.extend(first.failed.iter().cloned());
    let second = run_suite(&mut suite_command(t, bin, &args))?;
    verdict(second.status, bin, " (again on retry)").map(|()| first.failed)
}

/// Names each test the target file marks as an emulator gap (skipped with `--skip`).
fn report_gaps(t: &Target) {
    for (test, why) in &t.emulator_gaps {
        eprintln!(
            "SKIP: {test}: emulator gap under {}: {why}",
            t.runner.join(" ")
        );
    }
}

/// `Ok` when the suite passed; else why not (`None`: killed for taking too long).
fn verdict(status: Option<ExitStatus>, bin: &Path, when: &str) -> Result<()> {
    match status {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(err(format!(
            "host suite failed against {}{when}: {status}",
            bin.display()
        ))),
        None => Err(err(format!(
            "host suite did not finish in {} minutes{when} (killed)",
            SUITE_LIMIT.as_secs() / 60
        ))),
    }
}

/// `cargo test` of the host suite against `bin`, run through the target's runner.
fn suite_command(t: &Target, bin: &Path, test_args: &[String]) -> Command {
    let mut cmd = cargo();
    cmd.args(["test", "--package", "netcrab", "--test", "main"]);
    let skips = t
        .emulator_gaps
        .iter()
        .flat_map(|(test, _)| ["--skip".to_string(), test.clone()]);
    let args: Vec<String> = test_args.iter().cloned().chain(skips).collect();
    if !args.is_empty() {
        cmd.arg("--").args(args);
    }
    cmd.env("NETCRAB_BIN", bin).env("NETCRAB_TARGET", &t.triple);
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
    cmd
}

/// A hung suite must fail CI, not eat its whole time budget.
const SUITE_LIMIT: Duration = Duration::from_secs(25 * 60);

/// How one `cargo test` run ended: its status (`None` when killed for taking too long) and the
/// tests libtest reported as failed.
struct SuiteRun {
    status: Option<ExitStatus>,
    failed: Vec<String>,
}

/// Runs `cargo test`, passing its output through while noting `test NAME ... FAILED` lines; on
/// timeout kills it and everything under it (the test binary, netcrab, the runner), not just
/// cargo.
fn run_suite(cmd: &mut Command) -> Result<SuiteRun> {
    eprintln!("$ {}", show(cmd));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context(|| format!("starting `{}`", show(cmd)))?;
    let pid = child.id();
    let reader = child.stdout.take().map(|out| {
        std::thread::spawn(move || {
            let mut failed = Vec::new();
            let mut stdout = std::io::stdout();
            for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                let _ = writeln!(stdout, "{line}");
                if let Some(name) = failed_test(&line) {
                    failed.push(name.to_string());
                }
            }
            failed
        })
    });
    let status = wait_bounded(&mut child, SUITE_LIMIT, || kill_descendants(pid))
        .context(|| format!("waiting for `{}`", show(cmd)))?;
    let failed = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    Ok(SuiteRun { status, failed })
}

/// The test's name in libtest's `test NAME ... FAILED` line.
fn failed_test(line: &str) -> Option<&str> {
    line.strip_prefix("test ")?.strip_suffix(" ... FAILED")
}

/// SIGKILLs every descendant of `pid`, found through /proc (best effort; Linux only).
pub fn kill_descendants(pid: u32) {
    let mut stack = vec![pid];
    let mut found = Vec::new();
    while let Some(p) = stack.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                stack.push(child);
            }
        }
    }
    for p in found {
        // Best effort: a process may have exited meanwhile.
        Command::new("kill")
            .args(["-KILL", &p.to_string()])
            .status()
            .ok();
    }
}

/// Starts a persistent wineserver and Wine's services with stdio detached.
pub fn warm_up_wine(t: &Target, server: &str) -> Result<()> {
    let detached = |program: &str| {
        let mut c = t.runner_command(program);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    // `-p`: stay up between netcrab runs (it forks into the background; the parent exits).
    let mut persist = detached(server);
    persist.arg("-p");
    persist
        .status()
        .context(|| format!("starting `{}`", show(&persist)))?;
    // A plain `wineboot` on an existing prefix starts the services and returns.
    let mut boot = detached(t.wine_loader()?);
    boot.arg("wineboot");
    run_bounded_ok(&mut boot, Duration::from_secs(120))
}

#[cfg(test)]
mod tests {
    use super::failed_test;

    #[test]
    fn failed_lines_name_the_test() {
        assert_eq!(
            failed_test("test tcp::multiplier_opens_n_connections ... FAILED"),
            Some("tcp::multiplier_opens_n_connections")
        );
        assert_eq!(failed_test("test tcp::x ... ok"), None);
        assert_eq!(failed_test("failures:"), None);
        assert_eq!(failed_test("    tcp::x ... FAILED"), None);
    }
}
