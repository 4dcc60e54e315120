//! HTTP/1.1 CONNECT, with `Proxy-Authorization: Basic` when a user is given.

use super::{fail, garbage, send, shown, Auth, Request};
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite};
use std::io::{self, ErrorKind};
use std::time::Duration;

/// The longest HTTP answer header read before giving up.
pub(super) const MAX_HTTP_HEADER: usize = 16 * 1024;

/// `Basic` credentials: standard base64 (RFC 4648) of `user:pass`.
pub(super) fn base64(data: &[u8]) -> String {
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
pub(super) async fn connect<S>(s: &mut S, req: &Request, who: &str) -> io::Result<()>
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
    // 407 and no user given: say how to give one.
    let hint = if code == 407 && req.auth.is_none() {
        " (it wants a user name: add -P USER)"
    } else {
        ""
    };
    Err(fail(
        kind,
        format!("{who} answered '{}'{hint}", shown(&line)),
    ))
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
