//! stdin and stdout on their own threads, joined to the async side by small
//! bounded channels (so a slow stdout or a fast stdin never grows memory).
//! Blocking reads never run on the executor (the original's W14).

use super::pool;
use bytes::Bytes;
use smol::channel::{bounded, Receiver, Sender};
use std::io::{self, Read, Write};
use std::thread;

/// Chunks in flight between a stdio thread and the async side: enough that
/// the threads rarely wait on each other (a wake-up per chunk is costly for
/// small UDP datagrams), few enough to bound memory (DEPTH x 128 KiB).
const DEPTH: usize = 32;

/// Read stdin in blocks of up to `block` bytes. The channel closes at EOF;
/// a read error is reported once on stderr and ends input (no busy retry).
/// With `char_mode` (`-i stdin` at a terminal) keys are sent as typed and
/// Ctrl-D ends input.
pub fn spawn_stdin(block: usize, char_mode: bool) -> Receiver<Bytes> {
    let (tx, rx) = bounded::<Bytes>(DEPTH);
    let char_mode = char_mode && super::terminal::enter_char_mode();
    let spawned = thread::Builder::new().name("stdin".into()).spawn(move || {
        let stdin = io::stdin();
        let mut lock = stdin.lock();
        loop {
            let mut buf = pool::take_at_least(block);
            match lock.read(&mut buf[..block]) {
                Ok(0) => break,
                Ok(n) => {
                    let eof_at = char_mode
                        .then(|| {
                            buf[..n]
                                .iter()
                                .position(|b| *b == super::terminal::END_OF_INPUT)
                        })
                        .flatten();
                    let keep = eof_at.unwrap_or(n);
                    if keep > 0 && tx.send_blocking(pool::freeze(buf, keep)).is_err() {
                        break;
                    }
                    if eof_at.is_some() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("netcrab: reading stdin: {e}");
                    break;
                }
            }
        }
    });
    if let Err(e) = spawned {
        eprintln!("netcrab: cannot start the stdin reader: {e}");
    }
    rx
}

/// The stdout writer: send chunks into `tx`; `done` yields once everything
/// sent has been written and flushed, or stdout has closed.
pub struct Stdout {
    pub tx: Sender<Bytes>,
    pub done: Receiver<StdoutEnd>,
}

/// How the stdout thread ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdoutEnd {
    /// Every chunk was written.
    Drained,
    /// stdout was closed by its reader (`| head`): not an error.
    Closed,
}

pub fn spawn_stdout() -> Stdout {
    let (tx, rx) = bounded::<Bytes>(DEPTH);
    let (done_tx, done) = bounded::<StdoutEnd>(1);
    // Duplicated here, not in the thread: the descriptor set is complete
    // when this returns (a thread that starts late would open it later).
    let mut lock = raw_stdout();
    let spawned = thread::Builder::new().name("stdout".into()).spawn(move || {
        let mut end = StdoutEnd::Drained;
        while let Ok(chunk) = rx.recv_blocking() {
            let mut r = lock.write_all(&chunk);
            // Flush when nothing else is waiting, so interactive output shows.
            if r.is_ok() && rx.is_empty() {
                r = lock.flush();
            }
            if r.is_err() {
                end = StdoutEnd::Closed;
                break;
            }
        }
        if end == StdoutEnd::Drained && lock.flush().is_err() {
            end = StdoutEnd::Closed;
        }
        // Dropping `rx` here makes further sends fail: the sign that output is gone.
        drop(rx);
        let _ = done_tx.send_blocking(end);
    });
    if let Err(e) = spawned {
        eprintln!("netcrab: cannot start the stdout writer: {e}");
    }
    Stdout { tx, done }
}

/// stdout without std's line buffering, so each chunk (a UDP datagram, say)
/// is one write. Falls back to std's handle if the descriptor can't be
/// duplicated.
fn raw_stdout() -> Box<dyn Write + Send> {
    #[cfg(unix)]
    let dup = {
        use std::os::fd::AsFd;
        io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
    };
    #[cfg(windows)]
    let dup = {
        use std::os::windows::io::AsHandle;
        io::stdout()
            .as_handle()
            .try_clone_to_owned()
            .map(std::fs::File::from)
    };
    match dup {
        Ok(f) => Box::new(f),
        Err(_) => Box::new(io::stdout()),
    }
}
