//! The Windows side of net::unix: AF_UNIX stream sockets (Windows 10 1803
//! and later), made by socket2 and driven by async-io in std's socket
//! types, so the serving code reads and writes them as it does TCP. Windows has no AF_UNIX datagrams,
//! and older Windows (and Wine 8) no AF_UNIX at all: socket() then fails
//! with WSAEAFNOSUPPORT and every use says so in one line.
//!
//! The socket file is a reparse point (tag IO_REPARSE_TAG_AF_UNIX) that
//! stays when its listener dies; the stale-file rule of net::unix needs to
//! tell it from other files, which std does not expose: two kernel32 calls
//! on a handle opened on the reparse point itself.

use super::FileId;
use futures_lite::{AsyncRead, AsyncWrite};
use smol::Async;
use socket2::{Domain, SockAddr, SockRef, Socket, Type};
use std::ffi::c_void;
use std::io;
use std::net::Shutdown;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::{AsRawHandle, RawHandle};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The socket under a `UnixStream`, as the reactor holds it. A SOCKET is
/// a SOCKET: std's TcpStream reads, writes and shuts down any connected
/// stream socket, so an AF_UNIX stream rides in one and shares all the
/// TCP code already in the binary (its address methods, which would not
/// parse an AF_UNIX address, are never called on it: the newtype below
/// offers none).
pub type RawStream = std::net::TcpStream;

/// What every use says where the system has no AF_UNIX.
const NO_AF_UNIX: &str =
    "UNIX domain sockets need Windows 10 1803 or later (this system has no AF_UNIX)";

// Winsock's answers to socket(AF_UNIX, ...) on a system without it.
const WSAEINVAL: i32 = 10022;
const WSAEPROTONOSUPPORT: i32 = 10043;
const WSAESOCKTNOSUPPORT: i32 = 10044;
const WSAEAFNOSUPPORT: i32 = 10047;

fn socket() -> io::Result<Socket> {
    Socket::new(Domain::UNIX, Type::STREAM, None).map_err(|e| match e.raw_os_error() {
        Some(WSAEINVAL | WSAEPROTONOSUPPORT | WSAESOCKTNOSUPPORT | WSAEAFNOSUPPORT) => {
            crate::error::phrased(io::ErrorKind::Unsupported, NO_AF_UNIX.to_string())
        }
        _ => e,
    })
}

/// Whether this Windows has AF_UNIX (an error saying it needs 1803+).
pub fn available() -> io::Result<()> {
    socket().map(drop)
}

/// A connected AF_UNIX stream socket; clones share it (as async-net's do).
/// Closing it sends the FIN, as async-net's TcpStream does.
#[derive(Clone)]
pub struct UnixStream(async_net::TcpStream);

impl UnixStream {
    fn new(s: Socket) -> io::Result<UnixStream> {
        async_net::TcpStream::try_from(std::net::TcpStream::from(s)).map(UnixStream)
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.shutdown(how)
    }
}

impl From<UnixStream> for Arc<Async<RawStream>> {
    fn from(s: UnixStream) -> Self {
        s.0.into()
    }
}

impl AsyncRead for UnixStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for UnixStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// A listening AF_UNIX stream socket, held as a std TcpListener for the
/// same reason as the stream (its own accept, which would not parse the
/// peer's address, is never called: accept goes through socket2).
pub struct UnixListener(Async<std::net::TcpListener>);

impl UnixListener {
    pub(super) fn bind(path: &Path) -> io::Result<UnixListener> {
        let s = socket()?;
        s.bind(&SockAddr::unix(path)?)?;
        s.listen(128)?;
        Async::new(std::net::TcpListener::from(s)).map(UnixListener)
    }

    /// The next client, and its path when it bound one.
    pub async fn accept(&self) -> io::Result<(UnixStream, Option<PathBuf>)> {
        let (s, peer) = self.0.read_with(|l| SockRef::from(l).accept()).await?;
        Ok((UnixStream::new(s)?, pathname(&peer)))
    }

    /// Until a client waits to be accepted.
    pub async fn readable(&self) -> io::Result<()> {
        self.0.readable().await
    }
}

/// The path of an AF_UNIX address, if it has one (a client that did not
/// bind has none). socket2 reads it only on Unix.
fn pathname(a: &SockAddr) -> Option<PathBuf> {
    if !a.is_unix() {
        return None;
    }
    // SAFETY: the storage holds at least `len` initialised bytes.
    let raw = unsafe { std::slice::from_raw_parts(a.as_ptr().cast::<u8>(), a.len() as usize) };
    // sun_family (two bytes), then sun_path up to its NUL.
    let path = raw.get(2..)?;
    let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
    let path = std::str::from_utf8(&path[..end]).ok()?;
    (!path.is_empty()).then(|| PathBuf::from(path))
}

pub(super) async fn connect(path: &Path) -> io::Result<UnixStream> {
    let addr = SockAddr::unix(path)?;
    let s = socket()?;
    // Windows' own words for a missing path differ; say it as Unix does.
    if let Err(e) = open_attributes(path) {
        if e.kind() == io::ErrorKind::NotFound {
            return Err(io::Error::new(e.kind(), "No such file or directory"));
        }
    }
    s.set_nonblocking(true)?;
    match s.connect(&addr) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    let s = Async::new(RawStream::from(s))?;
    s.writable().await?;
    if let Some(e) = s.get_ref().take_error()? {
        return Err(e);
    }
    Ok(UnixStream(s.into()))
}

/// Whether something accepts on `path` (a blocking connect: a local
/// socket answers at once). There are no AF_UNIX datagrams to probe.
pub(super) fn probe(path: &Path, _dgram: bool) -> io::Result<()> {
    socket()?.connect(&SockAddr::unix(path)?)
}

const FILE_READ_ATTRIBUTES: u32 = 0x80;
const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
const IO_REPARSE_TAG_AF_UNIX: u32 = 0x8000_0023;
/// FILE_INFO_BY_HANDLE_CLASS::FileAttributeTagInfo.
const FILE_ATTRIBUTE_TAG_INFO_CLASS: i32 = 9;

#[repr(C)]
#[derive(Default)]
struct AttributeTagInfo {
    attributes: u32,
    reparse_tag: u32,
}

/// BY_HANDLE_FILE_INFORMATION (FILETIMEs as two u32 each).
#[repr(C)]
#[derive(Default)]
struct HandleInfo {
    attributes: u32,
    times: [u32; 6],
    volume_serial: u32,
    size_high: u32,
    size_low: u32,
    links: u32,
    index_high: u32,
    index_low: u32,
}

#[link(name = "kernel32")]
extern "system" {
    fn GetFileInformationByHandleEx(h: RawHandle, class: i32, info: *mut c_void, size: u32) -> i32;
    fn GetFileInformationByHandle(h: RawHandle, info: *mut HandleInfo) -> i32;
}

/// The file at `path` itself (a reparse point is not followed), opened
/// only to read its attributes.
fn open_attributes(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .access_mode(FILE_READ_ATTRIBUTES)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS)
        .open(path)
}

/// Something is at `path` (its reparse point is not followed).
pub(super) fn exists(path: &Path) -> bool {
    open_attributes(path).is_ok()
}

/// An AF_UNIX socket file: a reparse point with the AF_UNIX tag.
pub(super) fn is_socket_file(path: &Path) -> bool {
    let Ok(f) = open_attributes(path) else {
        return false;
    };
    let mut info = AttributeTagInfo::default();
    // SAFETY: `info` is a FILE_ATTRIBUTE_TAG_INFO of the size given, and
    // the handle is open for as long as `f` lives.
    let ok = unsafe {
        GetFileInformationByHandleEx(
            f.as_raw_handle(),
            FILE_ATTRIBUTE_TAG_INFO_CLASS,
            (&mut info as *mut AttributeTagInfo).cast(),
            std::mem::size_of::<AttributeTagInfo>() as u32,
        )
    };
    ok != 0
        && info.attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0
        && info.reparse_tag == IO_REPARSE_TAG_AF_UNIX
}

/// The volume and file index: unlike the creation time (which NTFS carries
/// over to a file re-created under the same name), they change when
/// another socket file replaces ours.
pub(super) fn file_id(path: &Path) -> Option<FileId> {
    let f = open_attributes(path).ok()?;
    let mut info = HandleInfo::default();
    // SAFETY: `info` is a BY_HANDLE_FILE_INFORMATION; the handle is open.
    let ok = unsafe { GetFileInformationByHandle(f.as_raw_handle(), &mut info) };
    (ok != 0).then(|| {
        let index = (u64::from(info.index_high) << 32) | u64::from(info.index_low);
        (u64::from(info.volume_serial), index)
    })
}
