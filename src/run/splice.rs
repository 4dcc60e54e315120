//! Linux fast path for channel tunnels: once two TCP sockets are paired
//! and nothing else needs to see their bytes (`-o none`, no stats, hex dump,
//! faults or idle timeout, no live local input), data moves socket → pipe
//! → socket with splice(2), never entering user space.

use super::shared::Shared;
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
    /// Back to the ordinary path: the partner left or changed (linger
    /// re-pairing), or could not be written (`partner_failed`). `pending` is
    /// what was read but not written: it must still be delivered.
    Detour {
        pending: bytes::Bytes,
        partner_failed: bool,
    },
    /// No pipe could be made (descriptors exhausted): copy instead.
    Unavailable(io::Error),
}

/// Whether this run may splice between paired sockets now: the settings
/// leave relayed bytes untouched and no live local input shares the stream.
pub fn allowed(shared: &Shared) -> bool {
    shared.cfg.untouched.relay && shared.router.borrow().local_input() != LocalInput::Live
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

/// A pipe of our own (non-blocking, close-on-exec).
pub struct Pipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
}

fn pipe() -> io::Result<Pipe> {
    // Test hook: act as if descriptors had run out, to exercise the
    // fall-back to copying (tests/router.rs).
    if std::env::var_os("NETCRAB_TEST_NO_PIPE").is_some() {
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

/// Move everything `from` sends into `to` until EOF, an error, or
/// `still_partner` says `to` is no longer the partner. The pipe is emptied
/// after every fill, so a splice into it never finds it full (EAGAIN then
/// always means "socket not ready"), and nothing in it is ever dropped.
pub async fn run(
    from: &Async<TcpStream>,
    to: &Async<TcpStream>,
    moved: &mut u64,
    still_partner: impl Fn() -> bool,
) -> Spliced {
    let p = match pipe() {
        Ok(p) => p,
        Err(e) => return Spliced::Unavailable(e),
    };
    let mut calls = 0u32;
    loop {
        // read_with only waits when the socket has nothing: while data
        // flows this loop never yields by itself, so let the other
        // connections' tasks in now and then.
        calls += 1;
        if calls % 16 == 0 {
            futures_lite::future::yield_now().await;
        }
        let got = from
            .read_with(|s| splice(s.as_raw_fd(), p.write.as_raw_fd(), STEP))
            .await;
        let mut left = match got {
            Ok(0) => return Spliced::Eof,
            Ok(n) => n,
            Err(e) => return Spliced::ReadFailed(e),
        };
        while left > 0 {
            if !still_partner() {
                return detour(&p, left, false);
            }
            match to
                .write_with(|s| splice(p.read.as_raw_fd(), s.as_raw_fd(), left))
                .await
            {
                Ok(n) if n > 0 => {
                    left -= n;
                    *moved += n as u64;
                }
                _ => return detour(&p, left, true),
            }
        }
    }
}

/// Take the `left` bytes still in the pipe back into user space.
fn detour(p: &Pipe, left: usize, partner_failed: bool) -> Spliced {
    Spliced::Detour {
        pending: bytes::Bytes::from(take_back(p, left)),
        partner_failed,
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
