//! SOCKS5 (RFC 1928, user name and password per RFC 1929), SOCKS4 and SOCKS4a.

use super::{fail, garbage, recv, send, Auth, Kind, Request, Target};
use crate::addr::clip;
use futures_lite::{AsyncRead, AsyncWrite};
use std::io::{self, ErrorKind};
use std::net::SocketAddr;

/// SOCKS5: offer no authentication (and user/password when we have one),
/// then CONNECT with an IPv4, IPv6 or name address.
pub(super) async fn socks5<S>(s: &mut S, req: &Request, who: &str) -> io::Result<()>
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
pub(super) async fn socks4<S>(s: &mut S, req: &Request, who: &str) -> io::Result<()>
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
