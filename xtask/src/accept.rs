//! `cargo xtask accept`: the black-box acceptance scenarios (`../shared/acceptance/accept.py`,
//! Python standard library only) against netcrab: the host's `cargo build --release` binary
//! (`--native`) and each target's cross-built binary under its runner (`--runner`, which makes
//! accept.py scale its waits for an emulator).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::setup::stop_wineserver;
use crate::target::Target;
use crate::test::{kill_descendants, prepare};
use crate::util::{cargo, err, project_root, run, show, target_dir, wait_bounded, Context, Result};
use crate::Opts;

/// One accept.py run must not eat CI's budget: 24 scenarios of at most 90 s each under an
/// emulator would be 36 minutes, far beyond what a working binary needs (~1-3 minutes).
const RUN_LIMIT: Duration = Duration::from_secs(15 * 60);

/// The script, beside the project: CI lays `shared/` next to the clone. `NETCRAB_ACCEPT`
/// overrides.
fn script() -> Result<PathBuf> {
    let path = std::env::var_os("NETCRAB_ACCEPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("../shared/acceptance/accept.py"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(err(format!(
            "no acceptance script at {} (set NETCRAB_ACCEPT=path)",
            path.display()
        )))
    }
}

/// What one run gave.
struct Outcome {
    name: String,
    /// accept.py's closing line (`passed P/T (failed F, skipped S)`), or why there is none.
    summary: String,
    ok: bool,
    took: Duration,
}

/// Runs the scenarios for the host build (`native`) and the selected targets.
pub fn task(opts: &Opts, native: bool) -> Result<ExitCode> {
    let script = script()?;
    let mut outcomes = Vec::new();
    if native {
        let start = Instant::now();
        let result = native_binary().and_then(|bin| {
            with_one_retry(&opts.passthrough, |args| {
                let mut cmd = script_command(&script, &bin, None);
                cmd.args(args);
                run_bounded_script(&mut cmd)
            })
        });
        outcomes.push(outcome("native (release)", result, start));
    }
    for t in &opts.targets {
        let start = Instant::now();
        let result = run_target(&script, t, &opts.passthrough);
        outcomes.push(outcome(&t.triple, result, start));
    }
    eprintln!("\nacceptance summary:");
    for o in &outcomes {
        let verdict = if o.ok { "ok" } else { "FAILED" };
        eprintln!(
            "  {:<30} {verdict:<7} {:>6.1}s  {}",
            o.name,
            o.took.as_secs_f64(),
            o.summary
        );
    }
    let failed = outcomes.iter().filter(|o| !o.ok).count();
    if failed == 0 {
        eprintln!("acceptance: all {} run(s) ok", outcomes.len());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("acceptance: {failed} of {} run(s) FAILED", outcomes.len());
        Ok(ExitCode::FAILURE)
    }
}

fn outcome(name: &str, result: Result<(bool, String)>, start: Instant) -> Outcome {
    let (ok, summary) = result.unwrap_or_else(|e| (false, format!("error: {e}")));
    Outcome {
        name: name.to_string(),
        summary,
        ok,
        took: start.elapsed(),
    }
}

/// `cargo build --release` (a no-op when CI has just built it) and its binary.
pub(crate) fn native_binary() -> Result<PathBuf> {
    run(cargo().args([
        "build",
        "--release",
        "--package",
        "netcrab",
        "--bin",
        "netcrab",
    ]))?;
    Ok(target_dir().join("release/netcrab"))
}

/// Builds the target's full binary (the artifact `dist` and `test` share) and runs the script
/// under the target's runner; under Wine with the prefix's services started first (see test.rs).
fn run_target(script: &Path, t: &Target, passthrough: &[String]) -> Result<(bool, String)> {
    let bin = prepare(t)?;
    let wine = t.wineserver.as_deref();
    let result = with_one_retry(passthrough, |args| {
        let mut cmd = script_command(script, &bin, Some(t));
        cmd.args(args);
        let run = run_bounded_script(&mut cmd);
        if let Some(server) = wine {
            stop_wineserver(t, server);
        }
        run
    });
    result
}

/// Runs the scenarios; when one or two fail, runs just those once more
/// (timing under a loaded emulator), as `xtask test` does for tests. The
/// run counts as passed only if the retry passes, and its summary says
/// which scenarios needed it.
fn with_one_retry(
    passthrough: &[String],
    mut run: impl FnMut(&[String]) -> Result<Run>,
) -> Result<(bool, String)> {
    let (ok, summary, failed) = run(passthrough)?;
    if ok || failed.is_empty() || failed.len() > 2 {
        return Ok((ok, summary));
    }
    let mut args = passthrough.to_vec();
    for name in &failed {
        args.push("-k".into());
        args.push(name.clone());
    }
    eprintln!("acceptance: retrying {} once", failed.join(", "));
    let (again, _, _) = run(&args)?;
    let note = if again {
        "passed only on retry"
    } else {
        "failed again"
    };
    Ok((again, format!("{summary}; {} {note}", failed.join(", "))))
}

/// `python3 accept.py --bin BIN [--runner "..."]`, with the runner's environment.
fn script_command(script: &Path, bin: &Path, t: Option<&Target>) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg("--bin").arg(bin);
    if let Some(t) = t.filter(|t| !t.runner.is_empty()) {
        cmd.arg("--runner").arg(t.runner.join(" "));
        cmd.envs(t.runner_env.iter().map(|(k, v)| (k, v)));
    }
    cmd
}

/// One run of accept.py: exit 0, its closing line, the scenarios that failed.
type Run = (bool, String, Vec<String>);

/// One run of a script with the cases' output lines kept (compat.rs judges them).
pub(crate) struct ScriptRun {
    pub lines: Vec<String>,
}

/// Runs accept.py with its output passed through.
fn run_bounded_script(cmd: &mut Command) -> Result<Run> {
    let (run, _) = run_bounded_lines(cmd, "")?;
    Ok(run)
}

/// Runs a scorecard script (compat.py) with its output passed through, each line after
/// `prefix` (runs side by side stay readable), keeping its lines.
pub(crate) fn run_bounded_script_lines(cmd: &mut Command, prefix: &str) -> Result<ScriptRun> {
    let (_, lines) = run_bounded_lines(cmd, prefix)?;
    Ok(ScriptRun { lines })
}

/// Runs a script bounded by RUN_LIMIT: accept.py's verdict and every line it printed.
fn run_bounded_lines(cmd: &mut Command, prefix: &str) -> Result<(Run, Vec<String>)> {
    let prefix = prefix.to_string();
    use std::io::{BufRead, BufReader, Write};
    eprintln!("$ {}", show(cmd));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context(|| format!("starting `{}`", show(cmd)))?;
    let reader = child.stdout.take().map(|out| {
        std::thread::spawn(move || {
            let mut last = String::new();
            let mut failed = Vec::new();
            let mut all = Vec::new();
            let mut stdout = std::io::stdout();
            for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                let _ = writeln!(stdout, "{prefix}{line}");
                if line.starts_with("passed ") {
                    last = line.clone();
                }
                if let Some(rest) = line.strip_prefix("FAIL ") {
                    let name = rest.split(':').next().unwrap_or(rest).trim();
                    failed.push(name.to_string());
                }
                all.push(line);
            }
            (last, failed, all)
        })
    });
    let pid = child.id();
    // On timeout: netcrab and its runner too, not only the script.
    let status = wait_bounded(&mut child, RUN_LIMIT, || kill_descendants(pid))
        .context(|| format!("waiting for `{}`", show(cmd)))?;
    let (summary, failed, lines) = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    let run = match status {
        Some(s) => (s.success(), summary, failed),
        None => (
            false,
            format!("killed after {} minutes", RUN_LIMIT.as_secs() / 60),
            failed,
        ),
    };
    Ok((run, lines))
}
