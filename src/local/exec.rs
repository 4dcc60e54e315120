//! `-e CMD` / `--exec-each CMD`: a child process run through the platform
//! shell (`sh -c` on Unix, `cmd /C` on Windows). Its stdout is read on one
//! thread and its stdin written on another, each joined to the async side by
//! a small bounded channel, as for stdin/stdout. Its stderr is ours.
//!
//! Half-close: closing the sender that feeds the child closes its stdin; the
//! output channel closes at the child's stdout EOF. The reader thread then
//! waits for the child (no zombies) and reports the exit on `exited`.
//!
//! Ending: `Control::end` closes nothing by itself (the caller drops the
//! feed first), then asks the child to stop (SIGTERM to its process group on
//! Unix, so `sh -c 'sleep 9'` ends with its sleep) and kills it (SIGKILL,
//! TerminateProcess) if it has not exited after a grace.

use bytes::Bytes;
use smol::channel::{bounded, Receiver};
use std::io::{self, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Chunks in flight between a child's pipes and the async side.
const DEPTH: usize = 4;

/// A running child's channels.
pub struct ChildIo {
    /// Chunks the child wrote to its stdout; closes at its EOF.
    pub output: Receiver<Bytes>,
    /// Yields once the child has exited and been reaped (its status is
    /// reported on stderr; a `()` channel, the type other tasks use).
    pub exited: Receiver<()>,
    /// Ends the child from outside.
    pub control: Control,
}

/// A handle that can end a child. The `Child` itself is shared with the
/// thread that reaps it, so a signal never reaches a reaped (and possibly
/// reused) pid: both look at it under the same lock.
#[derive(Clone)]
pub struct Control {
    child: Arc<Mutex<Child>>,
}

impl Control {
    /// Whether the child has exited (and been reaped).
    pub fn exited(&self) -> bool {
        let mut c = self.child.lock().unwrap_or_else(|p| p.into_inner());
        !matches!(c.try_wait(), Ok(None))
    }

    /// Ask the child to stop: SIGTERM to its process group (Unix); on
    /// Windows there is no gentle ask, so this is `kill`.
    pub fn terminate(&self) {
        let mut c = self.child.lock().unwrap_or_else(|p| p.into_inner());
        if !matches!(c.try_wait(), Ok(None)) {
            return;
        }
        #[cfg(unix)]
        {
            // The child leads its own process group (see `spawn`).
            let Ok(pgid) = i32::try_from(c.id()) else {
                return;
            };
            // SAFETY: kill(2) takes plain integers; the group is ours and
            // still alive (not reaped: we hold the lock `try_wait` needs).
            unsafe {
                libc::kill(-pgid, libc::SIGTERM);
            }
        }
        #[cfg(not(unix))]
        {
            let _ = c.kill();
        }
    }

    /// End the child now (SIGKILL to its process group; TerminateProcess).
    pub fn kill(&self) {
        let mut c = self.child.lock().unwrap_or_else(|p| p.into_inner());
        if !matches!(c.try_wait(), Ok(None)) {
            return;
        }
        #[cfg(unix)]
        if let Ok(pgid) = i32::try_from(c.id()) {
            // SAFETY: as in `terminate`.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = c.kill();
    }

    /// Terminate, then kill if it is still running after `grace`. Blocks
    /// for at most `grace` (call it off the executor or at exit).
    pub fn end(&self, grace: Duration) {
        if self.exited() {
            return;
        }
        self.terminate();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.kill();
    }
}

/// Every child started, so a second signal can end them all at once
/// (`kill_all`); entries of reaped and dropped children are pruned as new
/// ones come.
static LIVE: Mutex<Vec<std::sync::Weak<Mutex<Child>>>> = Mutex::new(Vec::new());

fn remember(child: &Arc<Mutex<Child>>) {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(child));
}

/// Kill every child still running, now (the process is about to exit).
pub fn kill_all() {
    let live: Vec<_> = {
        let live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
        live.iter().filter_map(|w| w.upgrade()).collect()
    };
    for child in live {
        Control { child }.kill();
    }
}

/// End every child still running: SIGTERM to all, then SIGKILL to those
/// still there after `grace` (waits at most `grace` in all).
pub fn end_all(children: &[Control], grace: Duration) {
    let running: Vec<&Control> = children.iter().filter(|c| !c.exited()).collect();
    if running.is_empty() {
        return;
    }
    for c in &running {
        c.terminate();
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && running.iter().any(|c| !c.exited()) {
        thread::sleep(Duration::from_millis(10));
    }
    for c in running {
        c.kill();
    }
}

fn shell(cmd: &str) -> Command {
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        let mut c = Command::new("cmd");
        c.arg("/C").raw_arg(cmd);
        c
    }
    #[cfg(not(windows))]
    {
        let mut c = Command::new("sh");
        c.arg("-c").arg(cmd);
        c
    }
}

/// Start `cmd`; `input` feeds its stdin (closing it closes the child's
/// stdin). Its stdout is read in blocks of up to `block` bytes.
pub fn spawn(cmd: &str, block: usize, input: Receiver<Bytes>, verbose: u8) -> io::Result<ChildIo> {
    let mut command = shell(cmd);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // Its own process group, so ending it ends what it started too.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn()?;
    let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::other("the child's pipes are missing"));
    };
    let pid = child.id();
    if verbose > 0 {
        eprintln!("Started command (pid {pid}): {cmd}");
    }
    let writer = super::thread("exec-stdin", move || {
        while let Ok(chunk) = input.recv_blocking() {
            if stdin.write_all(&chunk).and_then(|_| stdin.flush()).is_err() {
                // The child stopped reading: dropping `input` makes
                // further sends fail, which switches this output off.
                break;
            }
        }
        // Dropping stdin here closes the child's stdin (EOF).
    });
    if let Err(e) = writer {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let (out_tx, output) = bounded::<Bytes>(DEPTH);
    let (exit_tx, exited) = bounded::<()>(1);
    let control = Control {
        child: Arc::new(Mutex::new(child)),
    };
    remember(&control.child);
    let reaper = control.clone();
    let cmd_copy = cmd.to_string();
    let reader = super::thread("exec-stdout", move || {
        let block = block.max(1);
        loop {
            // As stdin's reader: straight into a pooled buffer, no copy.
            let mut buf = super::pool::take_at_least(block);
            match stdout.read(&mut buf[..block]) {
                Ok(0) => break,
                Ok(n) => {
                    if out_tx.send_blocking(super::pool::freeze(buf, n)).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        drop(out_tx);
        drop(stdout);
        // Reap it without holding the lock while it runs, so `Control`
        // can still signal it.
        let status = loop {
            let mut c = reaper.child.lock().unwrap_or_else(|p| p.into_inner());
            match c.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) => {}
                Err(_) => break None,
            }
            drop(c);
            thread::sleep(Duration::from_millis(20));
        };
        match status {
            Some(s) if s.success() => {
                if verbose > 0 {
                    eprintln!("Command (pid {pid}) exited: {s}");
                }
            }
            // sh's own message (not found, not executable) came first.
            Some(s) if matches!(s.code(), Some(126 | 127)) => {
                eprintln!("netcrab: command could not be run ({s}): {cmd_copy}")
            }
            Some(s) => eprintln!("Command (pid {pid}) exited: {s}"),
            None => eprintln!("Command (pid {pid}) ended; its status is unknown"),
        }
        let _ = exit_tx.send_blocking(());
    });
    if let Err(e) = reader {
        control.kill();
        return Err(e);
    }
    Ok(ChildIo {
        output,
        exited,
        control,
    })
}
