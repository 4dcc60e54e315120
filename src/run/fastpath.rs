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
use super::splice::{
    empty_pipe, ready, splice, unsupported, PipeInput, Sink, CALLS_PER_YIELD, STEP,
};
use crate::router::{RouteId, LOCAL};
use smol::Async;
use std::cell::Cell;
use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

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
                        super::quiet::until_quiet(shared, *last_input, input.fd.readable()).await;
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

/// Whether route `id` may splice into stdout now: it is the only route, its
/// bytes go to stdout alone, and the stdout thread has written everything
/// it was given (so nothing is overtaken or interleaved).
fn output_allowed(shared: &Shared, id: RouteId) -> bool {
    let Some(sink) = &shared.stdout_sink else {
        return false;
    };
    // The sink exists only where the settings leave output untouched.
    if sink.given_up.get() || sink.written.load(Ordering::Acquire) < shared.stdout_sent.get() {
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
                    if let Err(e) = empty_pipe(via, out, &sink.given_up, n) {
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
