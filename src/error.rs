//! One error type for the whole program, and the exit code each kind maps to.

use std::fmt;

/// What went wrong, already phrased for a person: the text names the bad part
/// (an argument) or the operation and address (a runtime failure).
#[derive(Debug)]
pub enum Error {
    /// A bad command line: exit code 2.
    Usage(String),
    /// A failure while running (bind, connect, I/O): exit code 1.
    Runtime(String),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Runtime(_) => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Runtime(m) => f.write_str(m),
        }
    }
}

/// Shorthand for a usage error.
pub fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

/// A runtime error: what was being done, and the I/O error that stopped it.
pub fn runtime(what: impl fmt::Display, e: &std::io::Error) -> Error {
    Error::Runtime(format!("{what}: {}", describe(e)))
}

/// An I/O error whose text was written where it happened and is shown as
/// it is (`describe` does not shorten it to its kind).
#[derive(Debug)]
struct Phrased(String);

impl std::fmt::Display for Phrased {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Phrased {}

/// An I/O error of `kind` that `describe` shows as `msg`.
pub fn phrased(kind: std::io::ErrorKind, msg: String) -> std::io::Error {
    std::io::Error::new(kind, Phrased(msg))
}

/// Describe an I/O error briefly: "connection refused" rather than the OS's
/// full sentence with an error number, which differs per platform.
pub fn describe(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    // musl words EMFILE differently from glibc; say it one way everywhere.
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::EMFILE) {
        return "too many open files".to_string();
    }
    // Failures phrased where they happened (they name a proxy, say).
    if let Some(inner) = e.get_ref() {
        if inner.is::<Phrased>() {
            return inner.to_string();
        }
    }
    let short = match e.kind() {
        ConnectionRefused => "connection refused",
        ConnectionReset => "connection reset by peer",
        ConnectionAborted => "connection aborted",
        AddrInUse => "address already in use",
        AddrNotAvailable => "address not available on this machine",
        PermissionDenied => "permission denied",
        TimedOut => "timed out",
        BrokenPipe => "broken pipe",
        _ => return e.to_string(),
    };
    short.to_string()
}

pub type Result<T> = std::result::Result<T, Error>;
