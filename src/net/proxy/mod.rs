//! Outbound TCP through a proxy: HTTP CONNECT, SOCKS5 (RFC 1928, with the
//! user name and password of RFC 1929), SOCKS4 and SOCKS4a.
//!
//! The handshakes (`http.rs`, `socks.rs`) are plain functions over any
//! async stream, unit-tested in `tests.rs` against scripted answers; the one
//! base64 encoder (HTTP Basic) is in `http.rs`. `connect` dials the proxy and runs the
//! handshake within the connect timeout (`-w`, or `DEFAULT_HANDSHAKE`).
//! Every answer is read with a known length or a bound, so a proxy that
//! sends garbage, closes early or never answers gives one error, never a
//! hang.

// Without the feature only the settings remain (cli refuses the flags).
#![cfg_attr(not(feature = "proxy"), allow(dead_code, unused_imports))]

#[cfg(feature = "proxy")]
mod http;
#[cfg(feature = "proxy")]
mod socks;
#[cfg(all(test, feature = "proxy"))]
mod tests;

use super::sockopt::SockOpts;
use crate::addr::{clip, Host, HostPort};
use crate::error::Error;
use crate::net::Family;
use async_net::TcpStream;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::fmt;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The handshake's bound when no `-w` is given.
pub const DEFAULT_HANDSHAKE: Duration = Duration::from_secs(30);
/// Where a proxy user's password comes from (besides `--proxy-pass-file`).
pub const PASS_ENV: &str = "NETCRAB_PROXY_PASS";

/// The proxy protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Http,
    Socks5,
    Socks4,
    Socks4a,
}

impl Kind {
    /// OpenBSD nc's `-X` names and ncat's `--proxy-type` names.
    pub fn parse(s: &str) -> Option<Kind> {
        match s.to_ascii_lowercase().as_str() {
            "connect" | "http" => Some(Kind::Http),
            "5" | "socks5" => Some(Kind::Socks5),
            "4" | "socks4" => Some(Kind::Socks4),
            "4a" | "socks4a" => Some(Kind::Socks4a),
            _ => None,
        }
    }

    /// The port used when `-x`/`--proxy` gives none (as OpenBSD nc and ncat).
    pub fn default_port(self) -> u16 {
        match self {
            Kind::Http => 3128,
            _ => 1080,
        }
    }

    /// Whether a user needs a password too (SOCKS4 has only a user id).
    pub fn has_password(self) -> bool {
        matches!(self, Kind::Http | Kind::Socks5)
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Http => "HTTP",
            Kind::Socks5 => "SOCKS5",
            Kind::Socks4 => "SOCKS4",
            Kind::Socks4a => "SOCKS4a",
        }
    }
}

/// `--proxy-dns`: where a target's name is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dns {
    /// Here; the proxy gets an address.
    Local,
    /// By the proxy; it gets the name.
    Remote,
    /// Here first, by the proxy when that fails.
    Both,
    /// Nowhere: targets must be addresses.
    None,
}

impl Dns {
    pub fn parse(s: &str) -> Option<Dns> {
        match s.to_ascii_lowercase().as_str() {
            "local" => Some(Dns::Local),
            "remote" => Some(Dns::Remote),
            "both" => Some(Dns::Both),
            "none" => Some(Dns::None),
            _ => None,
        }
    }
}

/// A proxy user. The password never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    pub user: String,
    /// `None` for SOCKS4, whose user id has no password.
    pub pass: Option<String>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("user", &self.user)
            .field("pass", &self.pass.as_ref().map(|_| "(hidden)"))
            .finish()
    }
}

/// The proxy every outbound TCP connection goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySpec {
    pub kind: Kind,
    pub addr: HostPort,
    pub dns: Dns,
    pub auth: Option<Auth>,
    /// `--no-proxy`: targets reached directly.
    pub bypass: Vec<Bypass>,
}

/// A `--no-proxy` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bypass {
    /// Literal addresses in this block.
    Net(super::acl::Cidr),
    /// This name, as written (case aside).
    Name(String),
}

impl ProxySpec {
    /// Whether a target on `host` is reached directly.
    pub fn bypasses(&self, host: &Host) -> bool {
        self.bypass.iter().any(|b| match (b, host) {
            (Bypass::Net(net), Host::Ip(ip)) => net.contains(*ip),
            (Bypass::Net(net), Host::Scoped(ip, _)) => net.contains(IpAddr::V6(*ip)),
            (Bypass::Name(n), Host::Name(h)) => n.eq_ignore_ascii_case(h),
            _ => false,
        })
    }
}

/// What the proxy is asked to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Addr(SocketAddr),
    Name(String, u16),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Addr(a) => a.fmt(f),
            Target::Name(n, p) => write!(f, "{n}:{p}"),
        }
    }
}

/// One target's handshake: the protocol, the user and what to ask for.
#[derive(Debug, Clone)]
pub struct Request {
    pub kind: Kind,
    pub auth: Option<Auth>,
    pub target: Target,
}

impl Request {
    /// The same request for another port of the same host (`-z HOST:1-9`).
    pub fn with_port(&self, port: u16) -> Request {
        let mut r = self.clone();
        match &mut r.target {
            Target::Addr(a) => a.set_port(port),
            Target::Name(_, p) => *p = port,
        }
        r
    }
}

/// Decide what to ask the proxy for when the target is `dest`: an address
/// as such, a name as the proxy DNS setting says (SOCKS4 carries only IPv4
/// addresses, so its names are always looked up here).
pub fn request(
    spec: &ProxySpec,
    dest: &HostPort,
    family: Family,
    numeric: bool,
) -> Result<Request, Error> {
    let v4_only = matches!(spec.kind, Kind::Socks4 | Kind::Socks4a);
    let target = match &dest.host {
        Host::Ip(ip) => Target::Addr(SocketAddr::new(*ip, dest.port)),
        // A scope means nothing to the proxy.
        Host::Scoped(ip, _) => Target::Addr(SocketAddr::new(IpAddr::V6(*ip), dest.port)),
        Host::Name(name) => {
            let local = |strict: bool| -> Result<Target, Error> {
                let found = super::resolve::dest(dest, family, numeric && strict)?;
                found
                    .iter()
                    .find(|a| !v4_only || a.is_ipv4())
                    .map(|a| Target::Addr(*a))
                    .ok_or_else(|| {
                        Error::Runtime(format!(
                            "'{}' has no IPv4 address, and SOCKS4 carries only IPv4",
                            clip(name)
                        ))
                    })
            };
            match (spec.dns, spec.kind) {
                (Dns::None, _) => {
                    return Err(Error::Usage(format!(
                        "'{}' is not a numeric address (--proxy-dns none forbids name lookups)",
                        clip(name)
                    )))
                }
                // `-n`: the same error as without a proxy.
                _ if numeric => local(true)?,
                (Dns::Local, _) | (_, Kind::Socks4) => local(false)?,
                (Dns::Remote, _) => Target::Name(name.clone(), dest.port),
                (Dns::Both, _) => {
                    local(false).unwrap_or_else(|_| Target::Name(name.clone(), dest.port))
                }
            }
        }
    };
    if let (true, Target::Addr(SocketAddr::V6(a))) = (v4_only, &target) {
        return Err(Error::Usage(format!(
            "{} carries only IPv4 addresses, not {}",
            spec.kind.name(),
            a.ip()
        )));
    }
    Ok(Request {
        kind: spec.kind,
        auth: spec.auth.clone(),
        target,
    })
}

/// Connect to the proxy at `proxy` (from `source` when given) and ask it
/// for `req`'s target, all within `timeout` when one is given (the
/// handshake alone within `DEFAULT_HANDSHAKE` otherwise). A connection the
/// proxy refuses because the target did is `ConnectionRefused`, a target
/// that timed out behind it `TimedOut`; failures to reach the proxy itself
/// are neither, so `-z` does not call the target closed.
#[cfg(feature = "proxy")]
pub async fn connect(
    proxy: SocketAddr,
    source: Option<SocketAddr>,
    opts: &SockOpts,
    timeout: Option<Duration>,
    req: &Request,
) -> io::Result<TcpStream> {
    let who = format!("{} proxy {proxy}", req.kind.name());
    let started = Instant::now();
    let mut stream = super::tcp::connect(proxy, source, opts, timeout)
        .await
        .map_err(|e| {
            fail(
                ErrorKind::Other,
                format!("{who}: {}", crate::error::describe(&e)),
            )
        })?;
    let left = match timeout {
        Some(t) => t.saturating_sub(started.elapsed()),
        None => DEFAULT_HANDSHAKE,
    };
    let late = async {
        smol::Timer::after(left).await;
        Err(fail(
            ErrorKind::Other,
            format!(
                "{who} did not answer within {} s",
                crate::decimal::secs_brief(timeout.unwrap_or(DEFAULT_HANDSHAKE))
            ),
        ))
    };
    smol::future::or(handshake(&mut stream, req, &who), late).await?;
    Ok(stream)
}

/// Run `req`'s handshake on `s`; `who` names the proxy in errors. On
/// success the stream carries the target's bytes, and nothing of them has
/// been read.
#[cfg(feature = "proxy")]
pub async fn handshake<S>(s: &mut S, req: &Request, who: &str) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match req.kind {
        Kind::Http => http::connect(s, req, who).await,
        Kind::Socks5 => socks::socks5(s, req, who).await,
        Kind::Socks4 | Kind::Socks4a => socks::socks4(s, req, who).await,
    }
}

/// A failure the proxy code phrased itself (it names the proxy):
/// `crate::error::describe` shows its text whatever its kind.
fn fail(kind: ErrorKind, msg: String) -> io::Error {
    crate::error::phrased(kind, msg)
}

/// The proxy's bytes as text fit for one error line.
fn shown(bytes: &[u8]) -> String {
    let text: String = bytes
        .iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    clip(&text)
}

async fn send<S: AsyncWrite + Unpin>(s: &mut S, data: &[u8], who: &str) -> io::Result<()> {
    let r = async {
        s.write_all(data).await?;
        s.flush().await
    };
    r.await
        .map_err(|e| fail(e.kind(), format!("{who}: {}", crate::error::describe(&e))))
}

/// Read exactly `buf.len()` bytes; an early close is the proxy's fault.
async fn recv<S: AsyncRead + Unpin>(s: &mut S, buf: &mut [u8], who: &str) -> io::Result<()> {
    s.read_exact(buf).await.map_err(|e| {
        if e.kind() == ErrorKind::UnexpectedEof {
            fail(
                ErrorKind::Other,
                format!("{who} closed the connection during the handshake"),
            )
        } else {
            fail(e.kind(), format!("{who}: {}", crate::error::describe(&e)))
        }
    })
}

fn garbage(who: &str, what: &str, got: &[u8]) -> io::Error {
    fail(
        ErrorKind::InvalidData,
        format!("{who} did not answer as {what} (it sent '{}')", shown(got)),
    )
}
