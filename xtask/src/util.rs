//! Shared helpers: the error type, paths, and running commands with bounded waits.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// An error with the story of what we were doing, outermost context first.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The xtask result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds an [`Error`] from a message.
pub fn err(msg: impl Into<String>) -> Error {
    Error(msg.into())
}

/// Adds "what we were doing" to any displayable error (bore's `with_context` idea).
pub trait Context<T> {
    /// Prefixes the error with `ctx()`.
    fn context(self, ctx: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn context(self, ctx: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error(format!("{}: {e}", ctx())))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, ctx: impl FnOnce() -> String) -> Result<T> {
        self.ok_or_else(|| Error(ctx()))
    }
}

/// The workspace root: the parent of xtask's manifest directory. `cargo run` sets
/// CARGO_MANIFEST_DIR at run time too; that one wins over the compile-time copy.
pub fn project_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set (relative to the
/// project root, where `cargo()` runs), else `<root>/target`.
pub fn target_dir() -> PathBuf {
    let root = project_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// `cargo`, as the cargo that runs us (`$CARGO`), falling back to the one on PATH.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(project_root());
    cmd
}

/// Renders a command as a shell-like line for logs and error messages.
pub fn show(cmd: &Command) -> String {
    let mut line: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_str()?, v?.to_str()?)))
        .collect();
    line.push(cmd.get_program().to_string_lossy().into_owned());
    line.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    line.join(" ")
}

/// Runs a command with inherited stdio and fails unless it exits 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", show(cmd));
    let status = cmd
        .status()
        .context(|| format!("cannot start `{}`", show(cmd)))?;
    check_status(cmd, status)
}

/// Runs a command and returns its stdout; stderr passes through.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .context(|| format!("cannot start `{}`", show(cmd)))?;
    check_status(cmd, out.status)?;
    String::from_utf8(out.stdout).context(|| format!("`{}` printed non-UTF-8", show(cmd)))
}

/// Turns a non-zero exit into an error naming the command.
fn check_status(cmd: &Command, status: ExitStatus) -> Result<()> {
    if status.success() {
        Ok(())
    } else {
        Err(err(format!("`{}` failed: {status}", show(cmd))))
    }
}

/// Runs a command with stdin closed, killing it after `limit`; `Ok(None)` means it timed out.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Result<Option<ExitStatus>> {
    eprintln!("$ {}  (time limit {}s)", show(cmd), limit.as_secs());
    let mut child = cmd
        .stdin(Stdio::null())
        .spawn()
        .context(|| format!("cannot start `{}`", show(cmd)))?;
    wait_bounded(&mut child, limit, || {}).context(|| format!("waiting for `{}`", show(cmd)))
}

/// `run_bounded` that must succeed: a failure or a timeout is an error naming the command.
pub fn run_bounded_ok(cmd: &mut Command, limit: Duration) -> Result<()> {
    match run_bounded(cmd, limit)? {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(err(format!("`{}` failed: {status}", show(cmd)))),
        None => Err(err(format!(
            "`{}` did not finish in {}s",
            show(cmd),
            limit.as_secs()
        ))),
    }
}

/// Polls a child until it exits or `limit` passes; on timeout calls `on_timeout` (to kill what
/// the child started), then kills the child.
pub fn wait_bounded(
    child: &mut Child,
    limit: Duration,
    on_timeout: impl FnOnce(),
) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            on_timeout();
            // Best effort: the child may have exited between the poll and the kill.
            child.kill().ok();
            child.wait().ok();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `program` resolves: an existing path, or a name found on PATH.
pub fn have_program(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Formats a byte count as KiB with one decimal.
pub fn kib(bytes: u64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

/// The `version` of the `[package]` table in the root Cargo.toml.
pub fn package_version() -> Result<String> {
    let path = project_root().join("Cargo.toml");
    let text = fs::read_to_string(&path).context(|| format!("reading {}", path.display()))?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some((key, value)) = line.split_once('=') {
                if key.trim() == "version" {
                    return Ok(value.trim().trim_matches('"').to_string());
                }
            }
        }
    }
    Err(err(format!("no [package] version in {}", path.display())))
}
