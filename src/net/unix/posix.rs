//! The Unix side of net::unix: async-net's UNIX sockets, the socket file
//! checks, datagram sockets and the signal thread's self-pipe.

use super::{clear_stale, FileId, OwnedPath};
use async_net::unix::UnixDatagram;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use async_net::unix::UnixStream;

/// The socket under a `UnixStream`, as the reactor holds it.
pub type RawStream = std::os::unix::net::UnixStream;

/// Every Unix has AF_UNIX.
pub fn available() -> io::Result<()> {
    Ok(())
}

/// A listening UNIX stream socket.
pub struct UnixListener(async_net::unix::UnixListener);

impl UnixListener {
    pub(super) fn bind(path: &Path) -> io::Result<UnixListener> {
        async_net::unix::UnixListener::bind(path).map(UnixListener)
    }

    /// The next client, and its path when it bound one.
    pub async fn accept(&self) -> io::Result<(UnixStream, Option<PathBuf>)> {
        let (s, peer) = self.0.accept().await?;
        Ok((s, peer.as_pathname().map(Path::to_path_buf)))
    }

    /// Until a client waits to be accepted.
    pub async fn readable(&self) -> io::Result<()> {
        let io: Arc<smol::Async<std::os::unix::net::UnixListener>> = self.0.clone().into();
        io.readable().await
    }
}

pub(super) async fn connect(path: &Path) -> io::Result<UnixStream> {
    UnixStream::connect(path).await
}

pub(super) fn file_id(path: &Path) -> Option<FileId> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Something is at `path` (a dangling symlink too).
pub(super) fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

pub(super) fn is_socket_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// Whether something accepts on `path` (a blocking connect: a local
/// socket answers at once).
pub(super) fn probe(path: &Path, dgram: bool) -> io::Result<()> {
    if dgram {
        std::os::unix::net::UnixDatagram::unbound()?.connect(path)
    } else {
        std::os::unix::net::UnixStream::connect(path).map(drop)
    }
}

/// A datagram socket bound to `path` (replacing a stale socket file).
pub fn bind_dgram(path: &Path) -> io::Result<(UnixDatagram, OwnedPath)> {
    clear_stale(path, true)?;
    let s = UnixDatagram::bind(path)?;
    Ok((s, OwnedPath::new(path)))
}

/// A private path for a datagram client that gave no `-s`, so replies can
/// reach it (as nc does); in the temporary directory, removed at the end.
pub fn private_dgram() -> io::Result<(UnixDatagram, OwnedPath)> {
    let dir = std::env::temp_dir();
    for _ in 0..16 {
        let mut r = [0u8; 6];
        getrandom::fill(&mut r).map_err(|e| io::Error::other(e.to_string()))?;
        let tag: String = r.iter().map(|b| format!("{b:02x}")).collect();
        let path = dir.join(format!("netcrab-{}-{tag}.sock", std::process::id()));
        match UnixDatagram::bind(&path) {
            Ok(s) => return Ok((s, OwnedPath::new(&path))),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free temporary socket path",
    ))
}

/// A pipe (read end, write end) for the signal thread's self-pipe. Not a
/// socket pair: a connected UNIX socket that is no client of ours would
/// look, to anyone counting this process's connected UNIX sockets (as the
/// compatibility scorecard does for `-k -U`), like a client still held.
pub fn self_pipe() -> io::Result<(std::fs::File, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe(2) fills the two descriptors on success; each is then
    // owned by exactly one value below.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nothing else.
    unsafe {
        Ok((
            std::fs::File::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        ))
    }
}
