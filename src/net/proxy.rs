//! Outbound TCP through a proxy: HTTP CONNECT, SOCKS5 (RFC 1928, with the
//! user name and password of RFC 1929), SOCKS4 and SOCKS4a.
//!
//! The handshakes are plain functions over any async stream, unit-tested
//! below against scripted answers. `connect` dials the proxy and runs the
//! handshake within the connect timeout (`-w`, or `DEFAULT_HANDSHAKE`).
//! Every answer is read with a known length or a bound, so a proxy that
//! sends garbage, closes early or never answers gives one error, never a
//! hang.

use super::sockopt::SockOpts;
use crate::addr::{clip, Host, HostPort};
use crate::cli::Family;
use crate::error::Error;
use async_net::TcpStream;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::fmt;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The handshake's bound when no `-w` is given.
pub const DEFAULT_HANDSHAKE: Duration = Duration::from_secs(30);
/// The longest HTTP answer header read before giving up.
const MAX_HTTP_HEADER: usize = 16 * 1024;
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
            format!("{who} did not answer within {} s", secs(left)),
        ))
    };
    smol::future::or(handshake(&mut stream, req, &who), late).await?;
    Ok(stream)
}

fn secs(d: Duration) -> String {
    let s = format!("{:.1}", d.as_secs_f64());
    s.strip_suffix(".0").map(String::from).unwrap_or(s)
}

/// Run `req`'s handshake on `s`; `who` names the proxy in errors. On
/// success the stream carries the target's bytes, and nothing of them has
/// been read.
pub async fn handshake<S>(s: &mut S, req: &Request, who: &str) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match req.kind {
        Kind::Http => http_connect(s, req, who).await,
        Kind::Socks5 => socks5(s, req, who).await,
        Kind::Socks4 | Kind::Socks4a => socks4(s, req, who).await,
    }
}

/// A failure the proxy code phrased itself; `crate::error::describe` shows
/// its text whatever its kind.
#[derive(Debug)]
pub struct ProxyError(String);

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProxyError {}

fn fail(kind: ErrorKind, msg: String) -> io::Error {
    io::Error::new(kind, ProxyError(msg))
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

/// `Basic` credentials: standard base64 (RFC 4648) of `user:pass`.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// HTTP/1.1 CONNECT; any 2xx status opens the tunnel.
async fn http_connect<S>(s: &mut S, req: &Request, who: &str) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let authority = req.target.to_string();
    let mut ask = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(Auth {
        user,
        pass: Some(pass),
    }) = &req.auth
    {
        let token = base64(format!("{user}:{pass}").as_bytes());
        ask.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    ask.push_str("\r\n");
    send(s, ask.as_bytes(), who).await?;

    // Byte by byte up to the blank line, so no tunnel byte is read here.
    let mut total = 0;
    let line = http_line(s, &mut total, who).await?;
    let status = std::str::from_utf8(&line).unwrap_or("");
    let mut words = status.split_whitespace();
    let version = words.next().unwrap_or("");
    let code = words
        .next()
        .filter(|c| c.len() == 3)
        .and_then(|c| c.parse::<u16>().ok());
    let code = match code {
        Some(c) if version.starts_with("HTTP/") && (100..=599).contains(&c) => c,
        _ => return Err(garbage(who, "an HTTP proxy", &line)),
    };
    if (200..300).contains(&code) {
        // The headers, up to the blank line.
        while !http_line(s, &mut total, who).await?.is_empty() {}
        return Ok(());
    }
    // Proxies answer a refused target with 500 (tinyproxy), 502 or 503.
    let kind = match code {
        500 | 502 | 503 => ErrorKind::ConnectionRefused,
        504 => ErrorKind::TimedOut,
        _ => ErrorKind::Other,
    };
    Err(fail(kind, format!("{who} answered '{}'", shown(&line))))
}

/// One line of an HTTP answer, without its line ending. `total` counts the
/// answer's bytes so far: the answer is bounded, and its first bytes must
/// start an HTTP status line (anything else fails at once, not at the
/// timeout).
async fn http_line<S: AsyncRead + Unpin>(
    s: &mut S,
    total: &mut usize,
    who: &str,
) -> io::Result<Vec<u8>> {
    let first = *total == 0;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if *total >= MAX_HTTP_HEADER {
            return Err(fail(
                ErrorKind::InvalidData,
                format!("{who} sent an answer header longer than {MAX_HTTP_HEADER} bytes"),
            ));
        }
        match s.read(&mut byte).await {
            Ok(0) if first && line.is_empty() => {
                return Err(fail(
                    ErrorKind::Other,
                    format!("{who} closed the connection without answering"),
                ))
            }
            Ok(0) => {
                return Err(fail(
                    ErrorKind::Other,
                    format!("{who} closed the connection in the middle of its answer"),
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(fail(
                    e.kind(),
                    format!("{who}: {}", crate::error::describe(&e)),
                ))
            }
        }
        *total += 1;
        if byte[0] == b'\n' {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(line);
        }
        line.push(byte[0]);
        if first && line.len() <= 5 && !b"HTTP/".starts_with(&line) {
            // Not HTTP: show a little more of it, if it comes at once.
            let mut more = [0u8; 40];
            let n = smol::future::or(async { s.read(&mut more).await.unwrap_or(0) }, async {
                smol::Timer::after(Duration::from_millis(50)).await;
                0
            })
            .await;
            line.extend_from_slice(&more[..n]);
            let line = line
                .split(|&b| b == b'\r' || b == b'\n')
                .next()
                .unwrap_or(&[]);
            return Err(garbage(who, "an HTTP proxy", line));
        }
    }
}

/// SOCKS5: offer no authentication (and user/password when we have one),
/// then CONNECT with an IPv4, IPv6 or name address.
async fn socks5<S>(s: &mut S, req: &Request, who: &str) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let creds = match &req.auth {
        Some(Auth {
            user,
            pass: Some(pass),
        }) => Some((user.as_bytes(), pass.as_bytes())),
        _ => None,
    };
    let greeting: &[u8] = if creds.is_some() {
        &[5, 2, 0, 2]
    } else {
        &[5, 1, 0]
    };
    send(s, greeting, who).await?;
    let mut choice = [0u8; 2];
    recv(s, &mut choice, who).await?;
    if choice[0] != 5 {
        return Err(garbage(who, "a SOCKS5 proxy", &choice));
    }
    match (choice[1], creds) {
        (0, _) => {}
        (2, Some((user, pass))) => socks5_login(s, user, pass, who).await?,
        (0xFF, None) => {
            return Err(fail(
                ErrorKind::PermissionDenied,
                format!(
                "{who} refused every offered authentication method (it may want a user: -P USER)"
            ),
            ))
        }
        (0xFF, Some(_)) => {
            return Err(fail(
                ErrorKind::PermissionDenied,
                format!(
                "{who} refused every offered authentication method (none, user name and password)"
            ),
            ))
        }
        (m, _) => {
            return Err(fail(
                ErrorKind::InvalidData,
                format!("{who} chose authentication method {m}, which was not offered"),
            ))
        }
    }

    let mut ask = vec![5, 1, 0];
    push_socks5_addr(&mut ask, &req.target, who)?;
    send(s, &ask, who).await?;

    let mut head = [0u8; 4];
    recv(s, &mut head, who).await?;
    if head[0] != 5 || head[2] != 0 {
        return Err(garbage(who, "a SOCKS5 proxy", &head));
    }
    if head[1] != 0 {
        // The proxy closes after a failure reply; its address part is not read.
        let (kind, why) = socks5_reply(head[1]);
        return Err(fail(
            kind,
            format!(
                "{who} could not connect to {}: {why} (reply {})",
                req.target, head[1]
            ),
        ));
    }
    // The bound address, read and dropped.
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            recv(s, &mut len, who).await?;
            usize::from(len[0]) + 2
        }
        _ => return Err(garbage(who, "a SOCKS5 proxy", &head)),
    };
    let mut bound = vec![0u8; rest];
    recv(s, &mut bound, who).await
}

/// RFC 1929 user name and password.
async fn socks5_login<S>(s: &mut S, user: &[u8], pass: &[u8], who: &str) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (Ok(ulen), Ok(plen)) = (u8::try_from(user.len()), u8::try_from(pass.len())) else {
        return Err(fail(
            ErrorKind::InvalidInput,
            "a SOCKS5 user name and password are at most 255 bytes each".into(),
        ));
    };
    let mut ask = vec![1, ulen];
    ask.extend_from_slice(user);
    ask.push(plen);
    ask.extend_from_slice(pass);
    send(s, &ask, who).await?;
    let mut answer = [0u8; 2];
    recv(s, &mut answer, who).await?;
    // Version 1 per RFC 1929; some proxies echo 5.
    if answer[0] != 1 && answer[0] != 5 {
        return Err(garbage(
            who,
            "a SOCKS5 proxy to the user name and password",
            &answer,
        ));
    }
    if answer[1] != 0 {
        return Err(fail(
            ErrorKind::PermissionDenied,
            format!(
                "{who} rejected the user name and password (status {})",
                answer[1]
            ),
        ));
    }
    Ok(())
}

fn push_socks5_addr(out: &mut Vec<u8>, target: &Target, who: &str) -> io::Result<()> {
    match target {
        Target::Addr(SocketAddr::V4(a)) => {
            out.push(1);
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.port().to_be_bytes());
        }
        Target::Addr(SocketAddr::V6(a)) => {
            out.push(4);
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.port().to_be_bytes());
        }
        Target::Name(name, port) => {
            let Ok(len) = u8::try_from(name.len()) else {
                return Err(fail(
                    ErrorKind::InvalidInput,
                    format!("{who}: the name '{}' is too long for SOCKS5", clip(name)),
                ));
            };
            out.push(3);
            out.push(len);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&port.to_be_bytes());
        }
    }
    Ok(())
}

/// RFC 1928's reply codes.
fn socks5_reply(code: u8) -> (ErrorKind, &'static str) {
    match code {
        1 => (ErrorKind::Other, "general failure"),
        2 => (ErrorKind::Other, "not allowed by the proxy's rules"),
        3 => (ErrorKind::Other, "network unreachable"),
        4 => (ErrorKind::Other, "host unreachable"),
        5 => (ErrorKind::ConnectionRefused, "connection refused"),
        6 => (ErrorKind::TimedOut, "timed out (TTL expired)"),
        7 => (ErrorKind::Other, "command not supported"),
        8 => (ErrorKind::Other, "address type not supported"),
        _ => (ErrorKind::Other, "unknown error"),
    }
}

/// SOCKS4 (an IPv4 address) and SOCKS4a (a name, after the 0.0.0.1 marker).
async fn socks4<S>(s: &mut S, req: &Request, who: &str) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let user = req.auth.as_ref().map(|a| a.user.as_bytes()).unwrap_or(b"");
    let mut ask = vec![4, 1];
    let name = match &req.target {
        Target::Addr(SocketAddr::V4(a)) => {
            ask.extend_from_slice(&a.port().to_be_bytes());
            ask.extend_from_slice(&a.ip().octets());
            None
        }
        Target::Name(name, port) if req.kind == Kind::Socks4a => {
            ask.extend_from_slice(&port.to_be_bytes());
            ask.extend_from_slice(&[0, 0, 0, 1]);
            Some(name)
        }
        other => {
            return Err(fail(
                ErrorKind::InvalidInput,
                format!("{who} cannot be asked for {other}"),
            ))
        }
    };
    ask.extend_from_slice(user);
    ask.push(0);
    if let Some(n) = name {
        ask.extend_from_slice(n.as_bytes());
        ask.push(0);
    }
    send(s, &ask, who).await?;
    let mut answer = [0u8; 8];
    recv(s, &mut answer, who).await?;
    // VN is 0; some servers put 4 there.
    if answer[0] != 0 && answer[0] != 4 {
        return Err(garbage(who, "a SOCKS4 proxy", &answer));
    }
    let why = match answer[1] {
        90 => return Ok(()),
        91 => "request rejected or failed",
        92 => "it could not reach an identd on this machine",
        93 => "identd reported a different user id",
        _ => return Err(garbage(who, "a SOCKS4 proxy", &answer)),
    };
    // 91 is what a refused target gives.
    let kind = if answer[1] == 91 {
        ErrorKind::ConnectionRefused
    } else {
        ErrorKind::PermissionDenied
    };
    Err(fail(
        kind,
        format!(
            "{who} could not connect to {}: {why} (reply {})",
            req.target, answer[1]
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A stream that answers with `input` (then end of stream) and keeps
    /// what is written to it.
    struct Scripted {
        input: Vec<u8>,
        pos: usize,
        output: Vec<u8>,
    }

    impl AsyncRead for Scripted {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.input.len() - self.pos);
            let start = self.pos;
            buf[..n].copy_from_slice(&self.input[start..start + n]);
            self.pos += n;
            Poll::Ready(Ok(n))
        }
    }

    impl AsyncWrite for Scripted {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.output.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn run(
        kind: Kind,
        auth: Option<(&str, &str)>,
        target: Target,
        answer: &[u8],
    ) -> (io::Result<()>, Vec<u8>, Vec<u8>) {
        let req = Request {
            kind,
            auth: auth.map(|(u, p)| Auth {
                user: u.into(),
                pass: kind.has_password().then(|| p.into()),
            }),
            target,
        };
        let mut s = Scripted {
            input: answer.to_vec(),
            pos: 0,
            output: Vec::new(),
        };
        let r = smol::block_on(handshake(&mut s, &req, "proxy P"));
        let rest = s.input[s.pos..].to_vec();
        (r, s.output, rest)
    }

    fn name(n: &str, p: u16) -> Target {
        Target::Name(n.into(), p)
    }

    fn message(r: io::Result<()>) -> (ErrorKind, String) {
        let e = r.expect_err("the handshake should fail");
        (e.kind(), crate::error::describe(&e))
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded, "{plain}");
        }
    }

    #[test]
    fn http_connect_asks_with_basic_auth_and_reads_no_tunnel_byte() {
        let answer = b"HTTP/1.1 200 Connection established\r\nX: y\r\n\r\nDATA";
        let (r, sent, rest) = run(
            Kind::Http,
            Some(("Aladdin", "open sesame")),
            name("example.com", 80),
            answer,
        );
        r.unwrap();
        assert_eq!(
            String::from_utf8(sent).unwrap(),
            "CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\
             Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
        );
        assert_eq!(rest, b"DATA");
        let v6 = Target::Addr("[::1]:22".parse().unwrap());
        let (r, sent, _) = run(Kind::Http, None, v6, b"HTTP/1.0 200 OK\n\n");
        r.unwrap();
        assert!(String::from_utf8(sent)
            .unwrap()
            .starts_with("CONNECT [::1]:22 HTTP/1.1\r\n"));
    }

    #[test]
    fn http_errors_name_the_status_line() {
        let t = || name("h", 1);
        let (k, m) = message(
            run(
                Kind::Http,
                None,
                t(),
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
            )
            .0,
        );
        assert_eq!(k, ErrorKind::Other);
        assert_eq!(
            m,
            "proxy P answered 'HTTP/1.1 407 Proxy Authentication Required'"
        );
        let (k, _) = message(run(Kind::Http, None, t(), b"HTTP/1.0 503 No\r\n\r\n").0);
        assert_eq!(k, ErrorKind::ConnectionRefused);
        let (_, m) = message(run(Kind::Http, None, t(), b"SSH-2.0-OpenSSH\r\n\r\n").0);
        assert_eq!(
            m,
            "proxy P did not answer as an HTTP proxy (it sent 'SSH-2.0-OpenSSH')"
        );
        let (_, m) = message(run(Kind::Http, None, t(), b"").0);
        assert_eq!(m, "proxy P closed the connection without answering");
        let (_, m) = message(run(Kind::Http, None, t(), b"HTTP/1.1 200 OK\r\n").0);
        assert!(m.contains("in the middle of its answer"), "{m}");
        let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
        endless.resize(MAX_HTTP_HEADER + 10, b'a');
        let (_, m) = message(run(Kind::Http, None, t(), &endless).0);
        assert!(m.contains("longer than"), "{m}");
    }

    #[test]
    fn socks5_no_auth_with_each_address_type() {
        let ok4 = [5, 0, 5, 0, 0, 1, 127, 0, 0, 1, 0, 80];
        let (r, sent, _) = run(
            Kind::Socks5,
            None,
            Target::Addr("10.1.2.3:258".parse().unwrap()),
            &ok4,
        );
        r.unwrap();
        assert_eq!(sent, [5, 1, 0, 5, 1, 0, 1, 10, 1, 2, 3, 1, 2]);
        let (r, sent, _) = run(
            Kind::Socks5,
            None,
            Target::Addr("[::1]:80".parse().unwrap()),
            &ok4,
        );
        r.unwrap();
        let mut want = vec![5, 1, 0, 5, 1, 0, 4];
        want.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        want.extend_from_slice(&[0, 80]);
        assert_eq!(sent, want);
        // A name, and a reply whose bound address is a name too.
        let ok_name = [5, 0, 5, 0, 0, 3, 2, b'h', b'i', 0, 80, b'X'];
        let (r, sent, rest) = run(Kind::Socks5, None, name("ab", 7), &ok_name);
        r.unwrap();
        assert_eq!(sent, [5, 1, 0, 5, 1, 0, 3, 2, b'a', b'b', 0, 7]);
        assert_eq!(rest, b"X");
    }

    #[test]
    fn socks5_user_and_password() {
        let answer = [5, 2, 1, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        let (r, sent, _) = run(Kind::Socks5, Some(("u", "pw")), name("h", 1), &answer);
        r.unwrap();
        assert_eq!(&sent[..4], [5, 2, 0, 2]);
        assert_eq!(&sent[4..10], [1, 1, b'u', 2, b'p', b'w']);
        let (k, m) = message(run(Kind::Socks5, Some(("u", "pw")), name("h", 1), &[5, 2, 1, 1]).0);
        assert_eq!(k, ErrorKind::PermissionDenied);
        assert_eq!(m, "proxy P rejected the user name and password (status 1)");
        let (_, m) = message(run(Kind::Socks5, Some(("u", "pw")), name("h", 1), &[5, 2, 9, 9]).0);
        assert!(
            m.contains("did not answer as a SOCKS5 proxy to the user name"),
            "{m}"
        );
    }

    #[test]
    fn socks5_failures() {
        let t = || name("h", 1);
        let (_, m) = message(run(Kind::Socks5, None, t(), &[5, 0xFF]).0);
        assert!(
            m.starts_with("proxy P refused every offered authentication method"),
            "{m}"
        );
        let (_, m) = message(run(Kind::Socks5, None, t(), &[5, 2]).0);
        assert_eq!(
            m,
            "proxy P chose authentication method 2, which was not offered"
        );
        let (k, m) = message(run(Kind::Socks5, None, t(), &[5, 0, 5, 5, 0, 1]).0);
        assert_eq!(k, ErrorKind::ConnectionRefused);
        assert_eq!(
            m,
            "proxy P could not connect to h:1: connection refused (reply 5)"
        );
        let (k, _) = message(run(Kind::Socks5, None, t(), &[5, 0, 5, 6, 0, 1]).0);
        assert_eq!(k, ErrorKind::TimedOut);
        let (_, m) = message(run(Kind::Socks5, None, t(), b"HTTP/1.1 400").0);
        assert_eq!(m, "proxy P did not answer as a SOCKS5 proxy (it sent 'HT')");
        let (_, m) = message(run(Kind::Socks5, None, t(), &[5]).0);
        assert_eq!(m, "proxy P closed the connection during the handshake");
        let (_, m) = message(run(Kind::Socks5, None, t(), &[5, 0, 5, 0, 0, 9]).0);
        assert!(m.contains("did not answer as a SOCKS5 proxy"), "{m}");
        let (_, m) = message(run(Kind::Socks5, None, t(), &[5, 0, 5, 0, 0, 1, 1, 2]).0);
        assert_eq!(m, "proxy P closed the connection during the handshake");
    }

    #[test]
    fn socks4_and_4a() {
        let ok = [0, 90, 0, 0, 0, 0, 0, 0, b'Z'];
        let (r, sent, rest) = run(
            Kind::Socks4,
            Some(("bob", "")),
            Target::Addr("1.2.3.4:80".parse().unwrap()),
            &ok,
        );
        r.unwrap();
        assert_eq!(sent, [4, 1, 0, 80, 1, 2, 3, 4, b'b', b'o', b'b', 0]);
        assert_eq!(rest, b"Z");
        let (r, sent, _) = run(Kind::Socks4a, None, name("ab", 80), &ok);
        r.unwrap();
        assert_eq!(sent, [4, 1, 0, 80, 0, 0, 0, 1, 0, b'a', b'b', 0]);
        let (k, m) = message(
            run(
                Kind::Socks4,
                None,
                Target::Addr("1.2.3.4:80".parse().unwrap()),
                &[0, 91, 0, 0, 0, 0, 0, 0],
            )
            .0,
        );
        assert_eq!(k, ErrorKind::ConnectionRefused);
        assert!(m.contains("request rejected or failed (reply 91)"), "{m}");
        let (_, m) = message(
            run(
                Kind::Socks4,
                None,
                Target::Addr("1.2.3.4:80".parse().unwrap()),
                &[0, 90, 0],
            )
            .0,
        );
        assert_eq!(m, "proxy P closed the connection during the handshake");
        let (_, m) = message(
            run(
                Kind::Socks4,
                None,
                Target::Addr("[::1]:80".parse().unwrap()),
                &ok,
            )
            .0,
        );
        assert!(m.contains("cannot be asked for [::1]:80"), "{m}");
    }

    fn spec(kind: Kind, dns: Dns) -> ProxySpec {
        ProxySpec {
            kind,
            addr: crate::addr::parse_host_port("127.0.0.1:1080").unwrap(),
            dns,
            auth: None,
            bypass: Vec::new(),
        }
    }

    #[test]
    fn names_go_where_the_dns_setting_says() {
        let hp = |s: &str| crate::addr::parse_host_port(s).unwrap();
        let ask =
            |k, d, s: &str| request(&spec(k, d), &hp(s), Family::Any, false).map(|r| r.target);
        assert_eq!(
            ask(Kind::Socks5, Dns::Remote, "localhost:9").unwrap(),
            name("localhost", 9)
        );
        assert_eq!(
            ask(Kind::Http, Dns::Remote, "[::1]:9").unwrap(),
            Target::Addr("[::1]:9".parse().unwrap())
        );
        let local = ask(Kind::Socks5, Dns::Local, "localhost:9").unwrap();
        assert!(
            matches!(local, Target::Addr(a) if a.ip().is_loopback()),
            "{local:?}"
        );
        let v4 = ask(Kind::Socks4, Dns::Remote, "localhost:9").unwrap();
        assert!(matches!(v4, Target::Addr(a) if a.is_ipv4()), "{v4:?}");
        assert_eq!(
            ask(Kind::Socks4a, Dns::Remote, "localhost:9").unwrap(),
            name("localhost", 9)
        );
        assert!(ask(Kind::Socks4a, Dns::Remote, "[::1]:9").is_err());
        assert!(matches!(
            ask(Kind::Socks5, Dns::None, "localhost:9"),
            Err(Error::Usage(_))
        ));
        assert_eq!(
            ask(Kind::Socks5, Dns::Both, "no-such-host.invalid:9").unwrap(),
            name("no-such-host.invalid", 9)
        );
        let r = request(
            &spec(Kind::Socks5, Dns::Remote),
            &hp("localhost:9"),
            Family::Any,
            true,
        );
        assert!(matches!(r, Err(Error::Usage(_))));
    }

    #[test]
    fn the_password_is_not_in_debug_output() {
        let a = Auth {
            user: "u".into(),
            pass: Some("s3cret".into()),
        };
        assert!(!format!("{a:?}").contains("s3cret"));
    }
}
