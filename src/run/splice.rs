//! splice(2) and the descriptors it works on (Linux, feature "splice"):
//! pipes of our own, stdin and stdout as the kernel sees them. System calls
//! only (and sendfile(2) from a regular-file stdin): whether a splice may happen is decided elsewhere (the settings in
//! `Config::untouched`; the pairing and queues in `tcp/read.rs`, which
//! runs the relay and the splice into stdout, and `input.rs`, which
//! splices stdin).

use super::config::Config;
use crate::sync64::AtomicU64;
use smol::Async;
use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// Bytes moved per splice call (and the pipe size asked for).
pub const STEP: usize = 1 << 20;

/// A pipe of our own (non-blocking, close-on-exec).
pub struct Pipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
}

/// A pipe for the relay.
pub fn pipe() -> io::Result<Pipe> {
    // Test hook: act as if descriptors had run out, to exercise the
    // fall-back to copying (tests/router.rs). Read once, not per pipe.
    static NO_PIPE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *NO_PIPE.get_or_init(|| std::env::var_os("NETCRAB_TEST_NO_PIPE").is_some()) {
        return Err(io::Error::from_raw_os_error(libc::EMFILE));
    }
    make_pipe(STEP)
}

/// A pipe asking for `size` bytes of room.
pub fn make_pipe(size: usize) -> io::Result<Pipe> {
    let mut fds: [libc::c_int; 2] = [-1, -1];
    // SAFETY: pipe2 fills the two descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned only here.
    let p = unsafe {
        Pipe {
            read: OwnedFd::from_raw_fd(fds[0]),
            write: OwnedFd::from_raw_fd(fds[1]),
        }
    };
    // A bigger pipe means fewer calls; the default (64 KiB) still works.
    // SAFETY: fcntl on a descriptor we own.
    unsafe { libc::fcntl(p.write.as_raw_fd(), libc::F_SETPIPE_SZ, size as libc::c_int) };
    Ok(p)
}

pub fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: plain descriptors; null offsets (sockets and pipes have none).
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Read the `left` bytes a pipe of ours holds (after a splice into it that
/// could not be passed on).
pub fn take_back(p: &Pipe, left: usize) -> Vec<u8> {
    let mut buf = vec![0u8; left];
    let mut have = 0;
    while have < left {
        // SAFETY: reading into our own buffer, within its length.
        let n = unsafe {
            libc::read(
                p.read.as_raw_fd(),
                buf[have..].as_mut_ptr().cast(),
                left - have,
            )
        };
        if n <= 0 {
            // The pipe holds exactly `left` bytes; this cannot stop short
            // unless the kernel fails, and then nothing more can be had.
            break;
        }
        have += n as usize;
    }
    buf.truncate(have);
    buf
}

/// Successful splices between two looks at the rest of the executor: long
/// enough to stay in the loop while data flows, short enough that a reply,
/// a timer or Ctrl-C is never kept waiting.
pub const CALLS_PER_YIELD: u32 = 16;

/// A descriptor's type, from fstat.
pub fn file_type(fd: RawFd) -> Option<(libc::mode_t, libc::dev_t)> {
    // SAFETY: fstat fills the stat buffer we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; a failed call leaves the buffer unused.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_mode & libc::S_IFMT, st.st_rdev))
}

/// Whether `fd` was opened to append (`>> file`): splice(2) refuses such
/// a target, so those writes are copied.
fn appends(fd: RawFd) -> bool {
    // SAFETY: F_GETFL only reads the descriptor's flags.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    fl < 0 || fl & libc::O_APPEND != 0
}

/// A duplicate of `fd` the reactor can wait on. Its flags are left alone
/// (O_NONBLOCK would also change the descriptor other processes share):
/// every splice here asks SPLICE_F_NONBLOCK, and the reactor only needs
/// readiness.
fn watchable(fd: RawFd) -> Option<Async<OwnedFd>> {
    Async::new_nonblocking(duplicate(fd)?).ok()
}

/// A duplicate of stdin or stdout (0 or 1) of our own.
fn duplicate(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: fd 0 or 1 stays open for the whole run.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    borrowed.try_clone_to_owned().ok()
}

/// Whether `fd` is ready for `events` right now (poll with no wait).
pub fn ready(fd: RawFd, events: libc::c_short) -> bool {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one pollfd we own, no wait.
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}

// ---------------------------------------------------------------- stdin

/// stdin, when it is a pipe that may be spliced from or a regular file
/// that may be sent with sendfile(2).
pub struct PipeInput {
    pub fd: InputFd,
    /// Most bytes per call (`--ss`): sends are no larger than on the copy path.
    pub block: usize,
}

/// What stdin is, for the kernel path.
pub enum InputFd {
    /// A pipe: splice(2), waiting in the reactor while it is empty.
    Pipe(Async<OwnedFd>),
    /// A regular file: sendfile(2) from its current offset (shared with
    /// stdin, so the copy path would go on where this stopped). Never
    /// waits for data: the end of the file is the end of input, as a read
    /// returning 0 is on the copy path (a file that grows later, or is
    /// truncated, ends input just the same).
    File(OwnedFd),
}

impl InputFd {
    pub fn raw(&self) -> RawFd {
        match self {
            InputFd::Pipe(p) => p.as_raw_fd(),
            InputFd::File(f) => f.as_raw_fd(),
        }
    }

    /// Move up to `len` bytes into socket `to`: bytes moved, 0 at the end.
    pub fn send_to(&self, to: RawFd, len: usize) -> io::Result<usize> {
        match self {
            InputFd::Pipe(p) => splice(p.as_raw_fd(), to, len),
            InputFd::File(f) => sendfile(f.as_raw_fd(), to, len),
        }
    }

    /// Wait until there is something to read (a file always has).
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            InputFd::Pipe(p) => p.readable().await,
            InputFd::File(_) => Ok(()),
        }
    }
}

/// sendfile(2) from `from`'s current offset (which it advances) into
/// socket `to`, without waiting: WouldBlock when the socket is full.
fn sendfile(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: plain descriptors; a null offset means the file's own.
    let n = unsafe { libc::sendfile(to, from, std::ptr::null_mut(), len) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

impl PipeInput {
    /// `Some` when local input is stdin, stdin is a pipe or a regular
    /// file, and the settings leave its bytes as they are.
    pub fn new(shared_cfg: &Config) -> Option<PipeInput> {
        let c = shared_cfg;
        let kind = file_type(0).map(|(t, _)| t);
        if !c.untouched.input {
            return None;
        }
        let fd = match kind {
            Some(libc::S_IFIFO) => {
                // A bigger pipe lets the writer run ahead, so it and we wake
                // up less often. Best effort: the default size still works.
                // SAFETY: fcntl on descriptor 0, which stays open.
                unsafe { libc::fcntl(0, libc::F_SETPIPE_SZ, STEP as libc::c_int) };
                InputFd::Pipe(watchable(0)?)
            }
            Some(libc::S_IFREG) => InputFd::File(duplicate(0)?),
            // A terminal, /dev/zero, a socket: the copy path.
            _ => return None,
        };
        Some(PipeInput {
            fd,
            block: c.send_size,
        })
    }
}

// --------------------------------------------------------------- stdout

/// stdout, when a socket's bytes may be spliced into it.
pub struct StdoutSink {
    pub fd: Sink,
    /// Chunks the stdout thread has written; splicing waits until it has
    /// written all `sent`, so spliced bytes never overtake queued ones.
    pub written: Arc<AtomicU64>,
    /// Chunks handed to the stdout thread.
    pub sent: Cell<u64>,
    /// stdout refused a splice: the copy path serves for the rest of the run.
    pub given_up: Cell<bool>,
}

impl StdoutSink {
    pub fn new(cfg: &Config, written: Arc<AtomicU64>) -> Option<StdoutSink> {
        if !cfg.untouched.output {
            return None;
        }
        let (kind, rdev) = file_type(1)?;
        let dev_null = kind == libc::S_IFCHR && rdev == libc::makedev(1, 3);
        let fd = if kind == libc::S_IFIFO {
            Sink::Pipe(watchable(1)?)
        } else if (kind == libc::S_IFREG || dev_null) && !appends(1) {
            Sink::File {
                out: duplicate(1)?.into(),
                via: make_pipe(STEP).ok()?,
            }
        } else {
            // A terminal, a socket, or a file opened to append: the copy path.
            return None;
        };
        Some(StdoutSink {
            fd,
            written,
            sent: Cell::new(0),
            given_up: Cell::new(false),
        })
    }
}

/// Where spliced bytes go.
pub enum Sink {
    /// stdout is a pipe: splice straight in, waiting while it is full.
    Pipe(Async<OwnedFd>),
    /// stdout is a file or /dev/null (which the reactor cannot watch; they
    /// never make a writer wait for a reader): through our own pipe.
    File { out: std::fs::File, via: Pipe },
}

/// Write the `left` bytes in our pipe to stdout (a file or /dev/null: such
/// writes do not wait on a reader). Where this file system cannot take a
/// splice, the bytes are copied out instead, the sink is given up (the copy
/// path serves from then on), and the error says so (`unsupported`).
pub fn empty_pipe(
    p: &Pipe,
    out: &std::fs::File,
    given_up: &Cell<bool>,
    mut left: usize,
) -> io::Result<()> {
    while left > 0 {
        match splice(p.read.as_raw_fd(), out.as_raw_fd(), left) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => left -= n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if unsupported(&e) => {
                copy_out(p, out, left)?;
                given_up.set(true);
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Errors that mean "splice cannot serve this file", not "writing failed".
pub fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
    )
}

/// Copy the `left` bytes in our pipe to `out` with read and write.
fn copy_out(p: &Pipe, out: &std::fs::File, left: usize) -> io::Result<()> {
    use std::io::Write;
    let mut out = out;
    out.write_all(&take_back(p, left))
}
