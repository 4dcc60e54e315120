//! What every bench workload shares: the settings, the tools found, one measured sample, the
//! report's rows and goals, `measure` (best of N, interleaved) and the notes of the best runs.
//! The workloads, `run.rs` and bench.rs (the task, the table) use it; it uses none of them.

use std::cell::RefCell;
use std::path::PathBuf;

use crate::util::Result;

/// The command line of the task.
#[derive(Debug, Default)]
pub struct Settings {
    /// Fewer repetitions and smaller sizes (under 5 minutes on 2 cores).
    pub quick: bool,
    /// Where to write the rows as JSON.
    pub json: Option<PathBuf>,
    /// `--only NAME`: run just that workload (the names `task` lists).
    pub only: Option<String>,
}

impl Settings {
    /// Picks the quick or the full value.
    pub fn pick<T>(&self, quick: T, full: T) -> T {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

/// Paths of the programs under test; a peer that could not be installed is `None`.
#[derive(Debug)]
pub struct Tools {
    pub netcrab: PathBuf,
    pub nc: Option<String>,
    pub ncat: Option<String>,
    pub socat: Option<String>,
    pub iperf3: Option<String>,
    pub haproxy: Option<String>,
}

/// How a tool's figure takes part in the "vs best peer" ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The subject: its row gets the ratio.
    Netcrab,
    /// A competitor: the best of these is the ratio's denominator.
    Peer,
    /// A reference (iperf3, a direct connection): shown, not compared.
    Reference,
}

/// One measurement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// The figure, in the workload's unit.
    pub value: f64,
    /// Peak RSS of the tool's processes, KiB (0: not measured).
    pub rss_kib: u64,
    /// CPU time (user + system) the tool's process used per GiB moved, in
    /// seconds: fair where tools compete for the same cores (a relay).
    pub cpu_per_gib: Option<f64>,
}

impl Sample {
    /// A figure and a peak RSS, no CPU time.
    pub fn new(value: f64, rss_kib: u64) -> Sample {
        Sample {
            value,
            rss_kib,
            cpu_per_gib: None,
        }
    }
}

/// One table row.
#[derive(Debug, Clone)]
pub struct Row {
    pub workload: String,
    pub tool: String,
    pub role: Role,
    pub value: Option<f64>,
    pub unit: &'static str,
    pub rss_kib: Option<u64>,
    /// netcrab / best peer.
    pub ratio: Option<f64>,
    /// Extra facts (loss, counts) or the error of a broken run.
    pub note: String,
    pub failed: bool,
}

/// A goal from the issue and whether the figures meet it.
#[derive(Debug, Clone)]
pub struct Goal {
    pub text: String,
    pub figure: String,
    pub met: Option<bool>,
}

/// Everything measured.
#[derive(Debug, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub goals: Vec<Goal>,
}

impl Report {
    /// The figure of `tool` in `workload`, if it ran.
    pub fn value(&self, workload: &str, tool: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.workload == workload && r.tool == tool)
            .and_then(|r| r.value)
    }

    /// The peak RSS of `tool` in `workload`, in MiB.
    pub fn rss_mib(&self, workload: &str, tool: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.workload == workload && r.tool == tool)
            .and_then(|r| r.rss_kib)
            .map(|k| k as f64 / 1024.0)
    }

    /// Records a goal "`a` / `b` >= `min`" (ratio of two rows' figures).
    pub fn goal_ratio(&mut self, text: &str, a: Option<f64>, b: Option<f64>, min: f64) {
        let ratio = a.zip(b).filter(|(_, b)| *b > 0.0).map(|(a, b)| a / b);
        self.goals.push(Goal {
            text: text.to_string(),
            figure: ratio.map_or("n/a".into(), |r| format!("{r:.2}x")),
            met: ratio.map(|r| r >= min),
        });
    }

    /// Records a goal "`value` <= `max`" in `unit`.
    pub fn goal_max(&mut self, text: &str, value: Option<f64>, max: f64, unit: &str) {
        self.goals.push(Goal {
            text: text.to_string(),
            figure: value.map_or("n/a".into(), |v| format!("{v:.2} {unit}")),
            met: value.map(|v| v <= max),
        });
    }
}

/// A tool taking part in a workload: its name, role and one run.
pub type Entrant<'a> = (String, Role, Box<dyn Fn() -> Result<Sample> + 'a>);

/// The one entrant of a workload that measures netcrab alone (a reference: no ratio).
pub fn alone<'a>(name: &str, run: impl Fn() -> Result<Sample> + 'a) -> Vec<Entrant<'a>> {
    vec![(name.into(), Role::Reference, Box::new(run))]
}

/// Runs every entrant `reps` times, interleaved (tool A, B, C, A, B, C, ...), and adds one row
/// per entrant: the best run (highest, or lowest when `lower_is_better`), the highest peak RSS of
/// all runs, and on the netcrab row the ratio to the best peer. A failed run fails the row.
pub fn measure(
    report: &mut Report,
    workload: &str,
    unit: &'static str,
    reps: usize,
    lower_is_better: bool,
    entrants: Vec<Entrant<'_>>,
) {
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); entrants.len()];
    let mut errors: Vec<Option<String>> = vec![None; entrants.len()];
    for rep in 0..reps {
        for (i, (name, _, run)) in entrants.iter().enumerate() {
            if errors[i].is_some() {
                continue;
            }
            eprintln!("bench: {workload}: {name} (run {}/{reps})", rep + 1);
            match run() {
                Ok(s) => samples[i].push(s),
                Err(e) => {
                    eprintln!("bench: {workload}: {name}: {e}");
                    errors[i] = Some(e.to_string());
                }
            }
        }
    }
    let best = |s: &[Sample]| {
        let values = s.iter().map(|s| s.value);
        if lower_is_better {
            values.reduce(f64::min)
        } else {
            values.reduce(f64::max)
        }
    };
    let best_peer = entrants
        .iter()
        .zip(&samples)
        .zip(&errors)
        .filter(|(((_, role, _), _), e)| *role == Role::Peer && e.is_none())
        .filter_map(|(((..), s), _)| best(s))
        .reduce(|a, b| if lower_is_better { a.min(b) } else { a.max(b) });
    for (((name, role, _), s), e) in entrants.iter().zip(&samples).zip(errors) {
        let value = if e.is_none() { best(s) } else { None };
        let ratio = match (role, value, best_peer) {
            (Role::Netcrab, Some(v), Some(p)) if p > 0.0 => Some(v / p),
            _ => None,
        };
        let rss = s.iter().map(|s| s.rss_kib).max().filter(|&k| k > 0);
        let mut notes = Vec::new();
        if e.is_none() && s.len() > 1 {
            // Best of N is the figure; the spread says how much to trust it.
            let lo = s.iter().map(|s| s.value).fold(f64::INFINITY, f64::min);
            let hi = s.iter().map(|s| s.value).fold(f64::NEG_INFINITY, f64::max);
            notes.push(format!(
                "best of {}, spread {} to {}",
                s.len(),
                short(lo),
                short(hi)
            ));
        }
        if let Some(c) = s.iter().filter_map(|s| s.cpu_per_gib).reduce(f64::min) {
            notes.push(format!("CPU {c:.2} s/GiB"));
        }
        if let Some(e) = &e {
            notes.push(format!("FAILED: {e}"));
        }
        report.rows.push(Row {
            workload: workload.to_string(),
            tool: name.clone(),
            role: *role,
            value,
            unit,
            rss_kib: if e.is_none() { rss } else { None },
            ratio,
            failed: e.is_some(),
            note: notes.join("; "),
        });
    }
}

/// A figure with about three significant digits.
fn short(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Adds a note to the row of `tool` in `workload`.
pub fn annotate(report: &mut Report, workload: &str, tool: &str, note: String) {
    if let Some(row) = report
        .rows
        .iter_mut()
        .find(|r| r.workload == workload && r.tool == tool && !r.failed)
    {
        if !row.note.is_empty() {
            row.note.push_str("; ");
        }
        row.note.push_str(&note);
    }
}

/// The notes of entrants whose runs return one beside their sample (loss, latencies): each
/// tool's row gets the note of its best run, the one `measure` keeps (highest figure).
#[derive(Default)]
pub struct Notes(RefCell<Vec<(String, f64, String)>>);

impl Notes {
    /// An entrant whose every run's note is kept here.
    pub fn entrant<'a>(
        &'a self,
        name: &str,
        role: Role,
        run: impl Fn() -> Result<(Sample, String)> + 'a,
    ) -> Entrant<'a> {
        let tool = name.to_string();
        let run = move || {
            let (sample, note) = run()?;
            self.0.borrow_mut().push((tool.clone(), sample.value, note));
            Ok(sample)
        };
        (name.into(), role, Box::new(run))
    }

    /// Adds each tool's best-run note to its row of `workload`.
    pub fn annotate(self, report: &mut Report, workload: &str) {
        let mut best: Vec<(String, f64, String)> = Vec::new();
        for (tool, value, note) in self.0.into_inner() {
            match best.iter_mut().find(|b| b.0 == tool) {
                Some(b) if b.1 < value => *b = (tool, value, note),
                Some(_) => {}
                None => best.push((tool, value, note)),
            }
        }
        for (tool, _, note) in best {
            annotate(report, workload, &tool, note);
        }
    }
}

/// The soft RLIMIT_NOFILE now in force.
pub fn nofile_soft() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
