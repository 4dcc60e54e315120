//! Linux fast path for channel tunnels: once two TCP sockets are paired
//! and nothing else needs to see their bytes (`-o none`, no stats, hex dump,
//! faults or idle timeout, no live local input), data moves socket → pipe
//! → socket with splice(2), never entering user space.

use super::shared::Shared;
use crate::cli::{FwdMode, InputMode, OutputMode};
use crate::router::{LocalInput, RouteId};
use smol::Async;
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// Bytes moved per splice call (and the pipe size asked for).
const STEP: usize = 1 << 20;

/// How a spliced run ended.
pub enum Spliced {
    /// The source sent EOF.
    Eof,
    /// Reading the source failed.
    ReadFailed(io::Error),
    /// The partner can no longer be written: go back to the ordinary path.
    WriteFailed,
}

/// Whether this run's settings allow splicing between paired sockets.
pub fn allowed(shared: &Shared) -> bool {
    let c = &shared.cfg;
    matches!(c.mode, FwdMode::Channels | FwdMode::LingerChannels)
        && c.output == OutputMode::None
        && c.input != InputMode::Echo
        && c.idle_timeout.is_none()
        && !c.hexdump
        && c.stats.every.is_none()
        && !c.stats.at_exit
        && c.faults.recv_delay == (0, 0)
        && c.faults.recv_drop == 0.0
        && shared.router.borrow().local_input() != LocalInput::Live
}

/// The partner's socket, when route `id` may splice into it now: paired,
/// splicing allowed, and nothing queued for the partner by the ordinary
/// path (which would otherwise be overtaken).
pub fn partner(shared: &Shared, id: RouteId) -> Option<(RouteId, Arc<Async<TcpStream>>)> {
    if !allowed(shared) {
        return None;
    }
    let p = shared.router.borrow().partner_of(id)?;
    if shared.router.borrow().queued_for(p) {
        return None;
    }
    let io = shared.sockets.borrow().get(&p).cloned()?;
    Some((p, io))
}

struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

fn pipe() -> io::Result<Pipe> {
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
    unsafe { libc::fcntl(p.write.as_raw_fd(), libc::F_SETPIPE_SZ, STEP as libc::c_int) };
    Ok(p)
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
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

/// Move everything `from` sends into `to` until EOF or an error. The pipe
/// is emptied after every fill, so a splice into it never finds it full
/// (EAGAIN then always means "socket not ready").
pub async fn run(from: &Async<TcpStream>, to: &Async<TcpStream>, moved: &mut u64) -> Spliced {
    let p = match pipe() {
        Ok(p) => p,
        Err(_) => return Spliced::WriteFailed,
    };
    loop {
        let got = from
            .read_with(|s| splice(s.as_raw_fd(), p.write.as_raw_fd(), STEP))
            .await;
        let mut left = match got {
            Ok(0) => return Spliced::Eof,
            Ok(n) => n,
            Err(e) => return Spliced::ReadFailed(e),
        };
        while left > 0 {
            match to
                .write_with(|s| splice(p.read.as_raw_fd(), s.as_raw_fd(), left))
                .await
            {
                Ok(0) => return Spliced::WriteFailed,
                Ok(n) => {
                    left -= n;
                    *moved += n as u64;
                }
                Err(_) => return Spliced::WriteFailed,
            }
        }
    }
}
