//! stdin and stdout on their own threads, joined to the async side by small
//! bounded channels (so a slow stdout or a fast stdin never grows memory).
//! Blocking reads never run on the executor (the original's W14).

use super::pool;
use crate::sync64::AtomicU64;
use bytes::Bytes;
use smol::channel::{bounded, Receiver, Sender};
use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;

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
    // Duplicated here, not in the thread (as stdout's): the descriptor set
    // is complete when the run starts, however late the thread runs.
    let mut lock = raw_stdin();
    let spawned = super::thread("stdin", move || {
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
                // Windows: a pipe whose writer has gone (std's stdin says EOF).
                Err(e) if cfg!(windows) && e.kind() == io::ErrorKind::BrokenPipe => break,
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
    pub done: Done,
    /// Chunks written so far (a splice into stdout waits until every chunk
    /// sent has been written, so it never overtakes one).
    pub written: Arc<AtomicU64>,
}

/// Yields the stdout thread's `StdoutEnd` once. It travels as an `i32`,
/// the element type of the signal channel, so async-channel's code for it
/// is not compiled a second time.
#[derive(Clone)]
pub struct Done(Receiver<i32>);

impl Done {
    pub async fn recv(&self) -> Option<StdoutEnd> {
        self.0.recv().await.ok().map(StdoutEnd::from_code)
    }

    pub fn recv_blocking(&self) -> Option<StdoutEnd> {
        self.0.recv_blocking().ok().map(StdoutEnd::from_code)
    }
}

/// How the stdout thread ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdoutEnd {
    /// Every chunk was written.
    Drained,
    /// stdout was closed by its reader (`| head`): not an error.
    Closed,
    /// Writing failed otherwise (a full disk): reported, exit 1.
    Failed,
}

impl StdoutEnd {
    fn from_code(code: i32) -> StdoutEnd {
        match code {
            1 => StdoutEnd::Closed,
            2 => StdoutEnd::Failed,
            _ => StdoutEnd::Drained,
        }
    }

    fn code(self) -> i32 {
        match self {
            StdoutEnd::Drained => 0,
            StdoutEnd::Closed => 1,
            StdoutEnd::Failed => 2,
        }
    }
}

/// `join_small`: small chunks already queued may share one write. False
/// only for UDP into a stdout that keeps write boundaries (a datagram
/// socket): there each datagram is its own write, so the reader gets them
/// whole.
pub fn spawn_stdout(join_small: bool) -> Stdout {
    let (tx, rx) = bounded::<Bytes>(DEPTH);
    let (done_tx, done) = bounded::<i32>(1);
    let written = Arc::new(AtomicU64::new(0));
    let count = written.clone();
    // Duplicated here, not in the thread: the descriptor set is complete
    // when this returns (a thread that starts late would open it later).
    let mut lock = raw_stdout();
    let spawned = super::thread("stdout", move || {
        let mut end = StdoutEnd::Drained;
        let mut batch = Vec::new();
        while let Ok(chunk) = rx.recv_blocking() {
            let mut r = if join_small {
                write_batched(&mut lock, chunk, &rx, &mut batch)
            } else {
                lock.write_all(&chunk).map(|()| 1)
            }
            .map(|chunks| {
                count.fetch_add(chunks, Ordering::Release);
            });
            // Flush when nothing else is waiting, so interactive output shows.
            if r.is_ok() && rx.is_empty() {
                r = lock.flush();
            }
            if let Err(e) = r {
                end = write_failed(&e);
                break;
            }
        }
        if end == StdoutEnd::Drained {
            if let Err(e) = lock.flush() {
                end = write_failed(&e);
            }
        }
        // Dropping `rx` here makes further sends fail: the sign that output is gone.
        drop(rx);
        let _ = done_tx.send_blocking(end.code());
    });
    if let Err(e) = spawned {
        eprintln!("netcrab: cannot start the stdout writer: {e}");
    }
    Stdout {
        tx,
        done: Done(done),
        written,
    }
}

/// Whether a write failed because stdout's reader has gone (`| head`):
/// EPIPE on Unix; on Windows a broken or no longer connected pipe
/// (ERROR_BROKEN_PIPE 109, ERROR_NO_DATA 232, ERROR_PIPE_NOT_CONNECTED 233).
fn reader_gone(e: &io::Error) -> bool {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return true;
    }
    cfg!(windows) && matches!(e.raw_os_error(), Some(109 | 232 | 233))
}

/// A reader that has gone is a quiet end; any other write error (a full
/// disk, an I/O error) is data lost: one line, and the run exits 1.
fn write_failed(e: &io::Error) -> StdoutEnd {
    if reader_gone(e) {
        StdoutEnd::Closed
    } else {
        eprintln!("netcrab: writing stdout: {}", crate::error::describe(e));
        StdoutEnd::Failed
    }
}

/// Whether stdout keeps write boundaries (a datagram or seqpacket socket),
/// so each UDP datagram must be its own write. A pipe, file, terminal or
/// stream socket shows a byte stream: joining queued datagrams into one
/// write loses nothing there and saves a system call per datagram.
pub fn stdout_keeps_boundaries() -> bool {
    #[cfg(unix)]
    {
        // SAFETY: fstat fills the stat buffer we own for descriptor 1.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above; a failed call leaves the buffer unused.
        if unsafe { libc::fstat(1, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
            return false;
        }
        let mut ty: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `ty`.
        let r = unsafe {
            libc::getsockopt(
                1,
                libc::SOL_SOCKET,
                libc::SO_TYPE,
                (&mut ty as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        r == 0 && (ty == libc::SOCK_DGRAM || ty == libc::SOCK_SEQPACKET)
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Write a finished text (help, `--ifaces`, a probe report) to stdout. A
/// reader that has gone (`| head`) is not an error: it took what it wanted.
/// (`print!` would panic there: Rust ignores SIGPIPE.)
pub fn print_text(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if reader_gone(&e) => Ok(()),
        r => r,
    }
}

/// Small chunks (datagrams, typed lines) waiting behind `first` are joined
/// into one write, up to this many bytes: one syscall, not one per chunk.
const BATCH: usize = 64 * 1024;

/// Write `first`, and with it the small chunks already queued behind it.
/// Large chunks are written as they are (no copy). Returns how many chunks
/// were written.
fn write_batched<W: Write + ?Sized>(
    out: &mut W,
    first: Bytes,
    rx: &Receiver<Bytes>,
    batch: &mut Vec<u8>,
) -> io::Result<u64> {
    if first.len() >= BATCH / 2 || rx.is_empty() {
        return out.write_all(&first).map(|()| 1);
    }
    batch.clear();
    batch.extend_from_slice(&first);
    let mut chunks = 1;
    while batch.len() < BATCH {
        let Ok(next) = rx.try_recv() else { break };
        if batch.len() + next.len() > BATCH {
            // Too big to join: write what is gathered, then it.
            out.write_all(batch)?;
            batch.clear();
            return out.write_all(&next).map(|()| chunks + 1);
        }
        batch.extend_from_slice(&next);
        chunks += 1;
    }
    out.write_all(batch).map(|()| chunks)
}

/// stdin read with one read(2) per block, not through std's 8 KiB buffer:
/// a file then gives blocks of exactly `block` bytes (UDP datagrams of
/// `--ss`, not 8192-byte pieces cut short). A Windows console keeps std's
/// handle (it converts the console's text); so does a descriptor that
/// can't be duplicated.
fn raw_stdin() -> StdinReader {
    #[cfg(unix)]
    let dup = {
        use std::os::fd::AsFd;
        io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
    };
    #[cfg(windows)]
    let dup = {
        use std::io::IsTerminal;
        use std::os::windows::io::AsHandle;
        if io::stdin().is_terminal() {
            Err(io::ErrorKind::Unsupported.into())
        } else {
            io::stdin()
                .as_handle()
                .try_clone_to_owned()
                .map(std::fs::File::from)
        }
    };
    match dup {
        Ok(f) => StdinReader::Dup(f),
        Err(_) => StdinReader::Std(io::stdin()),
    }
}

/// The stdin thread's reader. An enum with only `read`, not a `Box<dyn
/// Read>`: a trait object would keep all of `Stdin`'s `Read` methods
/// (read_to_end, read_to_string, ...) in the binary, used or not.
enum StdinReader {
    Dup(std::fs::File),
    Std(io::Stdin),
}

impl StdinReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            StdinReader::Dup(f) => f.read(buf),
            StdinReader::Std(s) => s.read(buf),
        }
    }
}

/// stdout without std's line buffering, so each chunk (a UDP datagram, say)
/// is one write. Falls back to std's handle if the descriptor can't be
/// duplicated.
fn raw_stdout() -> StdoutWriter {
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
        Ok(f) => StdoutWriter::Dup(f),
        Err(_) => StdoutWriter::Std(io::stdout()),
    }
}

/// The stdout thread's writer: an enum rather than a `Box<dyn Write>`, for
/// the same reason as `StdinReader`.
enum StdoutWriter {
    Dup(std::fs::File),
    Std(io::Stdout),
}

impl Write for StdoutWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            StdoutWriter::Dup(f) => f.write(buf),
            StdoutWriter::Std(s) => s.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            StdoutWriter::Dup(f) => f.write_all(buf),
            StdoutWriter::Std(s) => s.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            StdoutWriter::Dup(f) => f.flush(),
            StdoutWriter::Std(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records each write call.
    #[derive(Default)]
    struct Calls(Vec<Vec<u8>>);

    impl Write for Calls {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.push(b.to_vec());
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn queued_small_chunks_become_one_write_in_order() {
        let (tx, rx) = bounded::<Bytes>(8);
        for c in ["b", "cc", "ddd"] {
            tx.try_send(Bytes::from(c)).ok();
        }
        let mut out = Calls::default();
        let mut batch = Vec::new();
        write_batched(&mut out, Bytes::from("a"), &rx, &mut batch).ok();
        assert_eq!(out.0, vec![b"abccddd".to_vec()]);
    }

    #[test]
    fn a_big_chunk_is_written_alone_after_the_gathered_ones() {
        let (tx, rx) = bounded::<Bytes>(8);
        let big = Bytes::from(vec![7u8; BATCH]);
        tx.try_send(Bytes::from("y")).ok();
        tx.try_send(big.clone()).ok();
        tx.try_send(Bytes::from("z")).ok();
        let mut out = Calls::default();
        let mut batch = Vec::new();
        write_batched(&mut out, Bytes::from("x"), &rx, &mut batch).ok();
        assert_eq!(out.0, vec![b"xy".to_vec(), big.to_vec()]);
        // "z" is still queued for the next round.
        assert_eq!(rx.try_recv().ok(), Some(Bytes::from("z")));
    }
}
