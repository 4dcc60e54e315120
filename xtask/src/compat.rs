//! `cargo xtask compat`: the netcat compatibility scorecard (`../shared/acceptance/compat.py`,
//! cases ported from OpenBSD nc's regress and ncat's test suite) against netcrab, natively
//! (`--native`) and under each target's runner, held against `tests/compat-gaps.txt`.
//!
//! The scorecard exits non-zero while any case fails, and netcrab does not pass all of it yet.
//! So the gate is a ratchet: a case that fails and is not listed as a known gap fails the task
//! (after one retry of that case alone, as `accept` does); a listed gap that now passes is
//! named, so the list only shrinks. With `--ci`, each target runs its `ci-compat` share (the
//! whole scorecard under Wine takes about 20 minutes here; see targets/).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use crate::accept::{native_binary, run_bounded_script_lines};
use crate::setup::stop_wineserver;
use crate::target::{CiTests, Target};
use crate::test::prepare;
use crate::util::{err, project_root, Context, Result};
use crate::Opts;

/// The scorecard, beside the project (CI lays `shared/` next to the clone). `NETCRAB_COMPAT`
/// overrides.
fn script() -> Result<PathBuf> {
    let path = std::env::var_os("NETCRAB_COMPAT")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("../shared/acceptance/compat.py"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(err(format!(
            "no scorecard at {} (set NETCRAB_COMPAT=path)",
            path.display()
        )))
    }
}

/// One known gap: a case netcrab fails, everywhere or only under some targets.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Gap {
    /// Empty: every binary; else only these target triples (`native` for the host build).
    only: Vec<String>,
    reason: String,
}

/// `tests/compat-gaps.txt`: `CASE [@TARGET ...]: reason`, `#` comments.
fn parse_gaps(text: &str) -> Result<BTreeMap<String, Gap>> {
    let mut gaps = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (head, reason) = line
            .split_once(':')
            .ok_or_else(|| err(format!("compat-gaps.txt:{}: no ': reason'", n + 1)))?;
        let mut words = head.split_whitespace();
        let case = words
            .next()
            .ok_or_else(|| err(format!("compat-gaps.txt:{}: no case name", n + 1)))?;
        let mut only = Vec::new();
        for w in words {
            let t = w.strip_prefix('@').ok_or_else(|| {
                err(format!(
                    "compat-gaps.txt:{}: `{w}` is neither the case nor @TARGET",
                    n + 1
                ))
            })?;
            only.push(t.to_string());
        }
        let gap = Gap {
            only,
            reason: reason.trim().to_string(),
        };
        if gaps.insert(case.to_string(), gap).is_some() {
            return Err(err(format!(
                "compat-gaps.txt:{}: `{case}` listed twice",
                n + 1
            )));
        }
    }
    Ok(gaps)
}

fn gaps_file() -> PathBuf {
    project_root().join("tests/compat-gaps.txt")
}

fn load_gaps() -> Result<BTreeMap<String, Gap>> {
    let path = gaps_file();
    let text = std::fs::read_to_string(&path).context(|| format!("reading {}", path.display()))?;
    parse_gaps(&text)
}

/// Whether `case` is a known gap for the binary called `who` (a triple or `native`).
fn is_gap(gaps: &BTreeMap<String, Gap>, case: &str, who: &str) -> bool {
    gaps.get(case)
        .is_some_and(|g| g.only.is_empty() || g.only.iter().any(|t| t == who))
}

/// What one binary's run gave, judged against the gaps.
struct Judged {
    name: String,
    summary: String,
    regressions: Vec<String>,
    now_passing: Vec<String>,
    failed_run: Option<String>,
    took: std::time::Duration,
}

/// The case lines of one scorecard run.
#[derive(Default)]
struct Cases {
    passed: Vec<String>,
    failed: Vec<String>,
}

fn cases_of(lines: &[String]) -> Cases {
    let mut c = Cases::default();
    for line in lines {
        if let Some(rest) = line.strip_prefix("PASS ") {
            c.passed.push(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("FAIL ") {
            let name = rest.split(':').next().unwrap_or(rest).trim();
            c.failed.push(name.to_string());
        }
    }
    c
}

/// `python3 compat.py --bin BIN --flavor netcrab [--runner ...] ARGS`.
fn command(script: &Path, bin: &Path, t: Option<&Target>, args: &[String]) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .arg("--bin")
        .arg(bin)
        .args(["--flavor", "netcrab"]);
    if let Some(t) = t.filter(|t| !t.runner.is_empty()) {
        cmd.arg("--runner").arg(t.runner.join(" "));
        cmd.envs(t.runner_env.iter().map(|(k, v)| (k, v)));
    }
    cmd.args(args);
    cmd
}

/// Runs the scorecard for one binary; unlisted failures are retried once, alone.
fn judge(
    name: &str,
    who: &str,
    gaps: &BTreeMap<String, Gap>,
    mut run: impl FnMut(&[String]) -> Result<Vec<String>>,
    args: &[String],
) -> Judged {
    let start = Instant::now();
    let mut j = Judged {
        name: name.to_string(),
        summary: String::new(),
        regressions: Vec::new(),
        now_passing: Vec::new(),
        failed_run: None,
        took: Default::default(),
    };
    match run(args) {
        Err(e) => j.failed_run = Some(e.to_string()),
        Ok(lines) => {
            j.summary = lines
                .iter()
                .rev()
                .find(|l| l.starts_with("passed "))
                .cloned()
                .unwrap_or_else(|| "no closing line (killed?)".into());
            if !lines.iter().any(|l| l.starts_with("passed ")) {
                j.failed_run = Some(j.summary.clone());
            }
            let cases = cases_of(&lines);
            let unlisted: Vec<String> = cases
                .failed
                .iter()
                .filter(|c| !is_gap(gaps, c, who))
                .cloned()
                .collect();
            j.now_passing = cases
                .passed
                .iter()
                .filter(|c| is_gap(gaps, c, who))
                .cloned()
                .collect();
            j.regressions = retry(&unlisted, args, &mut run);
        }
    }
    j.took = start.elapsed();
    j
}

/// Runs each failed case once more (at most five, so a broken binary fails at once); returns
/// those that failed again.
fn retry(
    failed: &[String],
    args: &[String],
    run: &mut impl FnMut(&[String]) -> Result<Vec<String>>,
) -> Vec<String> {
    if failed.is_empty() || failed.len() > 5 {
        return failed.to_vec();
    }
    eprintln!("compat: retrying {} once", failed.join(", "));
    let mut again = args.to_vec();
    for case in failed {
        // compat.py's -k is a substring: anchor it with the whole id.
        again.push("-k".into());
        again.push(case.clone());
    }
    match run(&again) {
        Ok(lines) => {
            let passed = cases_of(&lines).passed;
            failed
                .iter()
                .filter(|c| !passed.contains(c))
                .cloned()
                .collect()
        }
        Err(_) => failed.to_vec(),
    }
}

/// One binary to hold against the scorecard.
struct Job<'a> {
    name: String,
    /// The triple, or `native`: what `@TARGET` in the gaps file matches.
    who: String,
    bin: PathBuf,
    target: Option<&'a Target>,
    args: Vec<String>,
}

impl Job<'_> {
    fn run(&self, script: &Path, gaps: &BTreeMap<String, Gap>) -> Judged {
        let prefix = format!("[{}] ", self.who);
        let run = |a: &[String]| {
            let out =
                run_bounded_script_lines(&mut command(script, &self.bin, self.target, a), &prefix);
            if let Some(t) = self.target {
                if let Some(server) = t.wineserver.as_deref() {
                    stop_wineserver(t, server);
                }
            }
            out.map(|r| r.lines)
        };
        judge(&self.name, &self.who, gaps, run, &self.args)
    }
}

/// The `-k` filters of a target's CI share; `None` when it runs no scorecard in CI.
fn share(t: &Target) -> Option<Vec<String>> {
    match &t.ci_compat {
        CiTests::All => Some(Vec::new()),
        CiTests::None => None,
        CiTests::Filters(f) => Some(f.iter().flat_map(|k| ["-k".into(), k.clone()]).collect()),
    }
}

/// Runs the scorecard for the host build (`native`) and the selected targets. The binaries are
/// built first, one after another; then every run goes at once, side by side (a run mostly
/// waits: on its peers, on timers, on an emulator that idles), each line prefixed with the
/// run's name.
pub fn task(opts: &Opts, native: bool) -> Result<ExitCode> {
    let script = script()?;
    let gaps = load_gaps()?;
    let mut jobs: Vec<Job> = Vec::new();
    if native {
        jobs.push(Job {
            name: "native (release)".into(),
            who: "native".into(),
            bin: native_binary()?,
            target: None,
            args: opts.passthrough.clone(),
        });
    }
    for t in &opts.targets {
        let mut args = opts.passthrough.clone();
        if opts.ci {
            match share(t) {
                Some(filters) => args.extend(filters),
                None => {
                    eprintln!("compat: {}: SKIP (ci-compat = none)", t.triple);
                    continue;
                }
            }
        }
        jobs.push(Job {
            name: t.triple.clone(),
            who: t.triple.clone(),
            bin: prepare(t)?,
            target: Some(t),
            args,
        });
    }
    let results: Vec<Judged> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|job| {
                let (script, gaps) = (&script, &gaps);
                scope.spawn(move || job.run(script, gaps))
            })
            .collect();
        handles
            .into_iter()
            .zip(&jobs)
            .map(|(h, job)| {
                h.join().unwrap_or_else(|_| Judged {
                    name: job.name.clone(),
                    summary: String::new(),
                    regressions: Vec::new(),
                    now_passing: Vec::new(),
                    failed_run: Some("the run's thread panicked".into()),
                    took: Default::default(),
                })
            })
            .collect()
    });
    eprintln!("\ncompat summary (known gaps: {}):", gaps_file().display());
    let mut bad = 0;
    for j in &results {
        let ok = j.failed_run.is_none() && j.regressions.is_empty();
        if !ok {
            bad += 1;
        }
        eprintln!(
            "  {:<30} {:<7} {:>6.1}s  {}",
            j.name,
            if ok { "ok" } else { "FAILED" },
            j.took.as_secs_f64(),
            j.summary
        );
        if let Some(why) = &j.failed_run {
            eprintln!("      the run itself failed: {why}");
        }
        for c in &j.regressions {
            eprintln!("      REGRESSION {c}: fails and is not a known gap");
        }
        for c in &j.now_passing {
            eprintln!("      now passes: {c} (remove it from compat-gaps.txt)");
        }
    }
    if bad == 0 {
        eprintln!("compat: all {} run(s) ok", results.len());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("compat: {bad} of {} run(s) FAILED", results.len());
        Ok(ExitCode::FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_parse_with_targets_and_comments() -> Result<()> {
        let g = parse_gaps(
            "# c\n\nobsd_a: no UNIX sockets\nncat_b @x86_64-win7-windows-gnu @native: slow\n",
        )?;
        assert!(is_gap(&g, "obsd_a", "native"));
        assert!(is_gap(&g, "ncat_b", "x86_64-win7-windows-gnu"));
        assert!(!is_gap(&g, "ncat_b", "aarch64-unknown-linux-musl"));
        assert!(!is_gap(&g, "ncat_c", "native"));
        assert!(parse_gaps("x y: r").is_err());
        assert!(parse_gaps("x").is_err());
        assert!(parse_gaps("x: a\nx: b").is_err());
        Ok(())
    }

    #[test]
    fn unlisted_failures_are_regressions_and_listed_passes_are_named() {
        let g = parse_gaps("ncat_gap: known\n").unwrap_or_default();
        let lines: Vec<String> = [
            "PASS ncat_gap",
            "FAIL ncat_new: broke",
            "PASS ok",
            "passed 2/3 (failed 1, skipped 0)",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let j = judge("t", "native", &g, |_| Ok(lines.clone()), &[]);
        assert_eq!(j.regressions, vec!["ncat_new".to_string()]);
        assert_eq!(j.now_passing, vec!["ncat_gap".to_string()]);
        assert!(j.failed_run.is_none());
    }

    #[test]
    fn a_run_with_no_closing_line_fails() {
        let j = judge(
            "t",
            "native",
            &BTreeMap::new(),
            |_| Ok(vec!["PASS a".into()]),
            &[],
        );
        assert!(j.failed_run.is_some());
    }
}
