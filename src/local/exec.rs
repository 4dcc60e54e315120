//! `-e CMD` / `--exec-each CMD`: a child process run through the platform
//! shell (`sh -c` on Unix, `cmd /C` on Windows). Its stdout is read on one
//! thread and its stdin written on another, each joined to the async side by
//! a small bounded channel, as for stdin/stdout. Its stderr is ours.
//!
//! Half-close: closing the sender that feeds the child closes its stdin; the
//! output channel closes at the child's stdout EOF. The reader thread then
//! waits for the child (no zombies) and reports the exit on `exited`.

use bytes::Bytes;
use smol::channel::{bounded, Receiver};
use std::io::{self, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;

/// Chunks in flight between a child's pipes and the async side.
const DEPTH: usize = 4;

/// A running child's channels.
pub struct ChildIo {
    /// Chunks the child wrote to its stdout; closes at its EOF.
    pub output: Receiver<Bytes>,
    /// Yields once the child has exited and been reaped.
    pub exited: Receiver<Option<ExitStatus>>,
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
    let mut child = shell(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::other("the child's pipes are missing"));
    };
    let pid = child.id();
    if verbose > 0 {
        eprintln!("Started command (pid {pid}): {cmd}");
    }
    let writer = thread::Builder::new()
        .name("exec-stdin".into())
        .spawn(move || {
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
    let (exit_tx, exited) = bounded::<Option<ExitStatus>>(1);
    // The reader owns the child: after stdout's EOF it reaps it.
    let (child_slot_tx, child_slot_rx) = std::sync::mpsc::channel();
    let cmd_copy = cmd.to_string();
    let reader = thread::Builder::new()
        .name("exec-stdout".into())
        .spawn(move || {
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
            let status = match child_slot_rx.recv() {
                Ok(mut c) => {
                    let c: &mut std::process::Child = &mut c;
                    c.wait().ok()
                }
                Err(_) => None,
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
            let _ = exit_tx.send_blocking(status);
        });
    match reader {
        Ok(_) => {
            let _ = child_slot_tx.send(child);
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    }
    Ok(ChildIo { output, exited })
}
