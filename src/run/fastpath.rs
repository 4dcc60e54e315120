//! Linux fast path for one-to-one transfers (P2P). When stdin is a pipe and
//! its bytes go to exactly one TCP socket, they move pipe -> socket with
//! splice(2); when exactly one socket feeds stdout, its bytes move socket ->
//! stdout with splice(2) (straight into a pipe; through a pipe of our own
//! into a file or /dev/null). The bytes never enter user space.
//!
//! It applies only while nothing else would see or change the bytes (no
//! `-C`, hex dump, faults, idle timeout or per-chunk traces) and while no
//! other socket shares the stream; otherwise, on other systems, and with
//! `NETCRAB_NO_SPLICE=1` (tests, A/B runs) the copy path runs. Splice moves
//! nothing that it cannot deliver, so switching paths never drops a byte,
//! and half-close, the lifecycle and the statistics see exactly what the
//! copy path would show them.

use super::shared::Shared;
use super::splice::{make_pipe, splice, take_back, Pipe};
use crate::local::{InputMode, OutputMode};
use crate::router::{RouteId, LOCAL};
use crate::sync64::AtomicU64;
use smol::Async;
use std::cell::Cell;
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Whether splice(2) may be used at all (relays too): not with
/// `NETCRAB_NO_SPLICE` set to anything but empty or `0`.
pub fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var_os("NETCRAB_NO_SPLICE").is_none_or(|v| v.is_empty() || v == "0")
    })
}

/// Successful splices between two looks at the rest of the executor: long
/// enough to stay in the loop while data flows, short enough that a reply,
/// a timer or Ctrl-C is never kept waiting.
const CALLS_PER_YIELD: u32 = 16;

/// Bytes asked of one splice from a socket (and our pipes' size).
const STEP: usize = 1 << 20;

/// A descriptor's type, from fstat.
fn file_type(fd: RawFd) -> Option<(libc::mode_t, libc::dev_t)> {
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
fn ready(fd: RawFd, events: libc::c_short) -> bool {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one pollfd we own, no wait.
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}

/// Whether the settings leave the bytes as they are in both directions
/// (nothing sees, delays or changes them), so either may splice.
fn settings_allow(c: &super::config::Config) -> bool {
    enabled()
        && !c.udp
        && !c.hexdump
        && c.idle_timeout.is_none()
        && c.verbose <= 2
        && c.exec.is_none()
}

// ---------------------------------------------------------------- stdin

/// stdin, when it is a pipe that may be spliced from.
pub struct PipeInput {
    fd: Async<OwnedFd>,
    /// Most bytes per splice (`--ss`): sends are no larger than on the copy path.
    block: usize,
}

impl PipeInput {
    /// `Some` when local input is stdin, stdin is a pipe, and the settings
    /// leave its bytes as they are.
    pub fn new(shared_cfg: &super::config::Config) -> Option<PipeInput> {
        let c = shared_cfg;
        let ok = settings_allow(c)
            && matches!(c.input, InputMode::Stdin | InputMode::StdinNochar)
            && !c.crlf
            && c.faults.send_delay == (0, 0)
            && c.faults.send_drop == 0.0
            && file_type(0).is_some_and(|(t, _)| t == libc::S_IFIFO);
        if !ok {
            return None;
        }
        // A bigger pipe lets the writer run ahead, so it and we wake up less
        // often. Best effort: the default size still works.
        // SAFETY: fcntl on descriptor 0, which stays open.
        unsafe { libc::fcntl(0, libc::F_SETPIPE_SZ, STEP as libc::c_int) };
        Some(PipeInput {
            fd: watchable(0)?,
            block: c.send_size,
        })
    }
}

/// Why feeding stdin by splice stopped.
pub enum InputEnd {
    /// stdin ended.
    Eof,
    /// No socket to send to: wait for one, then try again.
    NoRoute,
    /// The fast path does not apply (any more): copy from now on.
    Copy,
}

/// The only socket local input goes to, when it may be spliced into now:
/// exactly one route, a TCP socket, and nothing queued or being written to
/// it by the copy path.
fn input_target(shared: &Shared) -> Result<(RouteId, Arc<Async<TcpStream>>), InputEnd> {
    let router = shared.router.borrow();
    match router.route_count() {
        0 => return Err(InputEnd::NoRoute),
        1 => {}
        _ => return Err(InputEnd::Copy),
    }
    let dests = router.dests(LOCAL);
    let [(id, _)] = dests.routes[..] else {
        return Err(InputEnd::Copy);
    };
    if router.queued_for(id) || shared.writing.borrow().contains(&id) {
        return Err(InputEnd::Copy);
    }
    match shared.sockets.borrow().get(&id) {
        Some(s) => Ok((id, s.clone())),
        None => Err(InputEnd::Copy),
    }
}

/// Move stdin into the only socket until stdin ends or the fast path stops
/// applying. `last_input` is when input last sent something (the close
/// grace counts from it).
pub async fn feed(shared: &Shared, input: &PipeInput, last_input: &mut Instant) -> InputEnd {
    let mut moved = 0u64;
    let end = feed_counted(shared, input, last_input, &mut moved).await;
    if shared.cfg.verbose > 1 && moved > 0 {
        eprintln!("Local input: spliced {moved} bytes");
    }
    end
}

async fn feed_counted(
    shared: &Shared,
    input: &PipeInput,
    last_input: &mut Instant,
    moved: &mut u64,
) -> InputEnd {
    let mut calls = 0u32;
    loop {
        let (id, sock) = match input_target(shared) {
            Ok(t) => t,
            Err(end) => return end,
        };
        let stdin = input.fd.as_raw_fd();
        match splice(stdin, sock.as_raw_fd(), input.block) {
            Ok(0) => return InputEnd::Eof,
            Ok(n) => {
                *last_input = Instant::now();
                shared.router.borrow_mut().fed(id);
                shared.router.borrow_mut().local_quiet(false);
                shared.observer.sent_len(id, n);
                *moved += n as u64;
                calls += 1;
                if calls % CALLS_PER_YIELD == 0 {
                    futures_lite::future::yield_now().await;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !ready(stdin, libc::POLLIN) {
                    // Nothing to send: the close grace runs while we wait.
                    let _ =
                        super::input::until_quiet(shared, *last_input, input.fd.readable()).await;
                } else if sock.writable().await.is_err() {
                    return InputEnd::Copy;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The socket failed (or splice cannot serve this pair): the copy
            // path meets the same error and handles it as it always does.
            Err(_) => return InputEnd::Copy,
        }
    }
}

// --------------------------------------------------------------- stdout

/// stdout, when a socket's bytes may be spliced into it.
pub struct StdoutSink {
    fd: Sink,
    /// Chunks the stdout thread has written (see `Shared::stdout_sent`).
    written: Arc<AtomicU64>,
}

impl StdoutSink {
    pub fn new(cfg: &super::config::Config, written: Arc<AtomicU64>) -> Option<StdoutSink> {
        if !enabled() || cfg.output != OutputMode::Stdout || cfg.udp {
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
        Some(StdoutSink { fd, written })
    }
}

/// Where spliced bytes go.
enum Sink {
    /// stdout is a pipe: splice straight in, waiting while it is full.
    Pipe(Async<OwnedFd>),
    /// stdout is a file or /dev/null (which the reactor cannot watch; they
    /// never make a writer wait for a reader): through our own pipe.
    File { out: std::fs::File, via: Pipe },
}

/// Whether route `id` may splice into stdout now: it is the only route, its
/// bytes go to stdout alone, and the stdout thread has written everything
/// it was given (so nothing is overtaken or interleaved).
fn output_allowed(shared: &Shared, id: RouteId) -> bool {
    let Some(sink) = &shared.stdout_sink else {
        return false;
    };
    if GIVEN_UP.get()
        || !settings_allow(&shared.cfg)
        || shared.cfg.faults.recv_delay != (0, 0)
        || shared.cfg.faults.recv_drop != 0.0
        || sink.written.load(Ordering::Acquire) < shared.stdout_sent.get()
    {
        return false;
    }
    let router = shared.router.borrow();
    if router.route_count() != 1 || router.awaits_partner(id) {
        return false;
    }
    let dests = router.dests(id);
    dests.routes.is_empty() && dests.local.is_some()
}

/// How splicing a socket into stdout ended.
pub enum OutputEnd {
    /// The socket sent EOF.
    Eof,
    /// Reading the socket failed.
    ReadFailed(io::Error),
    /// Back to the copy path (nothing is left in between).
    Copy,
}

/// Move what socket `id` receives into stdout while the fast path applies.
/// `activity` is the route's last-traffic time.
pub async fn drain_to_stdout(
    shared: &Shared,
    id: RouteId,
    sock: &Async<TcpStream>,
    activity: &Cell<Instant>,
) -> OutputEnd {
    let mut moved = 0u64;
    let end = drain_counted(shared, id, sock, activity, &mut moved).await;
    if shared.cfg.verbose > 1 && moved > 0 {
        eprintln!("Route {id}: spliced {moved} bytes to stdout");
    }
    end
}

async fn drain_counted(
    shared: &Shared,
    id: RouteId,
    sock: &Async<TcpStream>,
    activity: &Cell<Instant>,
    moved: &mut u64,
) -> OutputEnd {
    let mut calls = 0u32;
    while output_allowed(shared, id) {
        let Some(sink) = &shared.stdout_sink else {
            return OutputEnd::Copy;
        };
        let got = match &sink.fd {
            Sink::Pipe(out) => splice(sock.as_raw_fd(), out.as_raw_fd(), STEP),
            Sink::File { via, .. } => splice(sock.as_raw_fd(), via.write.as_raw_fd(), STEP),
        };
        match got {
            Ok(0) => return OutputEnd::Eof,
            Ok(n) => {
                if let Sink::File { out, via } = &sink.fd {
                    if let Err(e) = empty_pipe(via, out, n) {
                        if !unsupported(&e) {
                            stdout_failed(shared, &e);
                        }
                        return OutputEnd::Copy;
                    }
                }
                activity.set(Instant::now());
                shared.observer.received_len(id, n);
                *moved += n as u64;
                calls += 1;
                if calls % CALLS_PER_YIELD == 0 {
                    futures_lite::future::yield_now().await;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Straight into a pipe, "would block" may mean stdout is
                // full; into our own (always emptied) pipe it never does.
                let full = match &sink.fd {
                    Sink::Pipe(out) => ready(sock.as_raw_fd(), libc::POLLIN).then_some(out),
                    Sink::File { .. } => None,
                };
                if let Some(out) = full {
                    let _ = out.writable().await;
                } else if let Err(e) = sock.readable().await {
                    return OutputEnd::ReadFailed(e);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Straight into a pipe whose reader has gone.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
                stdout_failed(shared, &e);
                return OutputEnd::Copy;
            }
            Err(e) => return OutputEnd::ReadFailed(e),
        }
    }
    OutputEnd::Copy
}

/// Write the `left` bytes in our pipe to stdout (a file or /dev/null: such
/// writes do not wait on a reader). Where this file system cannot take a
/// splice, the bytes are copied out instead, the sink is given up (the copy
/// path serves from then on), and the error says so (`unsupported`).
fn empty_pipe(p: &Pipe, out: &std::fs::File, mut left: usize) -> io::Result<()> {
    while left > 0 {
        match splice(p.read.as_raw_fd(), out.as_raw_fd(), left) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => left -= n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if unsupported(&e) => {
                copy_out(p, out, left)?;
                GIVEN_UP.set(true);
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

thread_local! {
    /// stdout refused a splice: use the copy path for the rest of the run.
    static GIVEN_UP: Cell<bool> = const { Cell::new(false) };
}

/// Errors that mean "splice cannot serve this file", not "writing failed".
fn unsupported(e: &io::Error) -> bool {
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

/// Writing stdout failed: as on the copy path, a reader that has gone ends
/// the run quietly, any other failure (a full disk) is one line and exit 1.
fn stdout_failed(shared: &Shared, e: &io::Error) {
    use super::lifecycle::Stdout;
    let how = if e.raw_os_error() == Some(libc::EPIPE) {
        Stdout::Gone
    } else {
        eprintln!("netcrab: writing stdout: {}", crate::error::describe(e));
        Stdout::Failed
    };
    shared.router.borrow_mut().local_output_closed();
    shared.life.stdout_ended(how);
    shared.changed();
}
