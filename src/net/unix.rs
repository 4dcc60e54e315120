//! UNIX domain sockets: listening on a path (with the stale socket file
//! rule), connecting to one, datagram sockets (Unix only), and removing the
//! socket files we made when the run ends.
//!
//! One API for both systems: on Unix the types are async-net's; on Windows
//! (AF_UNIX streams, Windows 10 1803 and later) they are socket2 sockets
//! driven by async-io (unix/windows.rs). Windows has no AF_UNIX datagrams.

#[cfg(unix)]
mod posix;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
use posix as os;
#[cfg(windows)]
use windows as os;

pub use os::{available, RawStream, UnixListener, UnixStream};

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// What tells a socket file from one that replaced it at the same path.
type FileId = (u64, u64);

/// The socket files this run made and still owns, for the exits that skip
/// destructors (a second Ctrl-C, Windows' console close).
static OWNED: Mutex<Vec<(PathBuf, Option<FileId>)>> = Mutex::new(Vec::new());

/// A socket file this run made; removed when dropped (the end of the run,
/// Ctrl-C and SIGTERM included), unless something else has replaced it.
pub struct OwnedPath {
    path: PathBuf,
    id: Option<FileId>,
}

impl OwnedPath {
    fn new(path: &Path) -> OwnedPath {
        let id = os::file_id(path);
        if let Ok(mut owned) = OWNED.lock() {
            owned.push((path.to_path_buf(), id));
        }
        OwnedPath {
            path: path.to_path_buf(),
            id,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Remove `path` if it is still the file with `id`.
fn remove_if_ours(path: &Path, id: Option<FileId>) {
    let now = os::file_id(path);
    if now.is_some() && now == id {
        let _ = std::fs::remove_file(path);
    }
}

impl Drop for OwnedPath {
    fn drop(&mut self) {
        if let Ok(mut owned) = OWNED.lock() {
            // As bytes: a Path comparison parses components.
            let me = self.path.as_os_str();
            if let Some(i) = owned.iter().position(|(p, _)| p.as_os_str() == me) {
                owned.swap_remove(i);
            }
        }
        remove_if_ours(&self.path, self.id);
    }
}

/// Remove every socket file this run still owns, now: for an exit that
/// will not run destructors.
pub fn remove_owned_files() {
    // try_lock: called from a signal thread; never wait on the run.
    if let Ok(mut owned) = OWNED.try_lock() {
        for (p, id) in owned.drain(..) {
            remove_if_ours(&p, id);
        }
    }
}

/// Make room at `path` for a new socket: a socket file nothing accepts on
/// (left by a process that died) is removed; one that something accepts on
/// is "in use"; anything else is left alone (the bind then says why).
fn clear_stale(path: &Path, dgram: bool) -> io::Result<()> {
    if !os::exists(path) {
        return Ok(());
    }
    if !os::is_socket_file(path) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the path exists and is not a socket",
        ));
    }
    let alive = match os::probe(path, dgram) {
        Ok(()) => true,
        Err(e) => e.kind() != io::ErrorKind::ConnectionRefused,
    };
    if alive {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "in use (another process is serving on it)",
        ));
    }
    std::fs::remove_file(path)
}

/// Listen on `path`, replacing a stale socket file.
pub fn listen(path: &Path) -> io::Result<(UnixListener, OwnedPath)> {
    available()?;
    clear_stale(path, false)?;
    let l = UnixListener::bind(path)?;
    Ok((l, OwnedPath::new(path)))
}

/// Connect to a listening path, within `timeout` when given.
pub async fn connect(path: &Path, timeout: Option<Duration>) -> io::Result<UnixStream> {
    let dial = os::connect(path);
    match timeout {
        None => dial.await,
        Some(t) => {
            smol::future::or(dial, async {
                smol::Timer::after(t).await;
                Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
            })
            .await
        }
    }
}

#[cfg(unix)]
pub use posix::{bind_dgram, private_dgram, self_pipe};
