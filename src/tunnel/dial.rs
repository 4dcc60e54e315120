//! How the inside end reaches the relay: directly, or through the proxy of
//! `-X/-x/-P` / `--proxy...`, for the control connection and every data
//! connection alike. Name lookups run on a thread (`smol::unblock`), never
//! on the event loop that carries the live clients.

use crate::addr::HostPort;
use crate::error::{describe, Error};
use crate::net::proxy::{self, ProxySpec};
use crate::net::sockopt::SockOpts;
use crate::net::{resolve, tcp, Family};
use async_net::TcpStream;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

/// Where connections to the relay go, resolved once per control session.
#[derive(Clone)]
pub enum Route {
    /// Straight to one of these.
    Direct(Vec<SocketAddr>),
    /// Through the proxy at one of `addrs`, asking it for `req`.
    Proxy {
        addrs: Vec<SocketAddr>,
        req: proxy::Request,
    },
}

/// Why a dial failed.
pub enum DialError {
    /// Worth another try (down, refused, timed out, a proxy's refusal).
    Retry(String),
    /// A person must fix it: the proxy rejected our credentials.
    Fatal(String),
}

/// Resolve `hp` on a thread.
pub async fn lookup(
    hp: &HostPort,
    family: Family,
    numeric: bool,
) -> Result<Vec<SocketAddr>, Error> {
    let hp = hp.clone();
    given(crate::net::unblock(move || resolve::dest(&hp, family, numeric)).await)
}

/// The result of work on a thread (`net::unblock`); a plain fn, so the
/// lookups' futures hold no wrapper future of their own.
fn given<T>(r: Option<Result<T, Error>>) -> Result<T, Error> {
    r.unwrap_or_else(|| Err(Error::Runtime("a lookup thread gave no result".into())))
}

impl Route {
    /// The route to `relay`: through `proxy` unless `--no-proxy` exempts it.
    pub async fn to(
        relay: &HostPort,
        proxy: Option<&ProxySpec>,
        family: Family,
        numeric: bool,
    ) -> Result<Route, Error> {
        match proxy {
            Some(p) if !p.bypasses(&relay.host) => {
                let addrs = lookup(&p.addr, family, numeric).await?;
                let (p, relay) = (p.clone(), relay.clone());
                let req = given(
                    crate::net::unblock(move || proxy::request(&p, &relay, family, numeric)).await,
                )?;
                Ok(Route::Proxy { addrs, req })
            }
            _ => Ok(Route::Direct(lookup(relay, family, numeric).await?)),
        }
    }

    /// After the control connection is up: later connections take the
    /// same way (the same relay address, or the same proxy).
    pub fn pinned(&self, used: SocketAddr) -> Route {
        match self {
            Route::Direct(_) => Route::Direct(vec![used]),
            Route::Proxy { req, .. } => Route::Proxy {
                addrs: vec![used],
                req: req.clone(),
            },
        }
    }

    /// What a status line calls this route.
    pub fn via(&self) -> String {
        match self {
            Route::Direct(_) => String::new(),
            Route::Proxy { addrs, req } => match addrs.first() {
                Some(a) => format!(" via {} proxy {a}", kind_name(req.kind)),
                None => String::new(),
            },
        }
    }

    /// Connect to the first address that answers; returns the stream and
    /// the address used (the relay's, or the proxy's).
    /// `wait` bounds each connect (and proxy handshake); `None` leaves the
    /// bound to the caller.
    pub async fn dial(
        &self,
        wait: Option<Duration>,
        keepalive: Duration,
    ) -> Result<(TcpStream, SocketAddr), DialError> {
        let (addrs, req) = match self {
            Route::Direct(a) => (a, None),
            Route::Proxy { addrs, req } => (addrs, Some(req)),
        };
        let mut err = DialError::Retry("no address".into());
        for a in addrs {
            let r = match req {
                None => tcp::connect(*a, None, &SockOpts::default(), wait)
                    .await
                    .map_err(|e| DialError::Retry(format!("relay {a}: {}", describe(&e)))),
                Some(req) => via_proxy(*a, wait, req).await,
            };
            match r {
                Ok(s) => {
                    // No Nagle delay for frames and forwarded writes.
                    let _ = s.set_nodelay(true);
                    super::data::keepalive(&s, keepalive);
                    return Ok((s, *a));
                }
                Err(DialError::Fatal(e)) => return Err(DialError::Fatal(e)),
                Err(e) => err = e,
            }
        }
        Err(err)
    }
}

#[cfg(feature = "proxy")]
async fn via_proxy(
    at: SocketAddr,
    wait: Option<Duration>,
    req: &proxy::Request,
) -> Result<TcpStream, DialError> {
    proxy::connect(at, None, &SockOpts::default(), wait, req)
        .await
        .map_err(|e| {
            // The proxy's text names it and quotes its answer.
            let text = format!("relay {}: {}", req.target, describe(&e));
            // SOCKS rejects a user as PermissionDenied; HTTP proxies say
            // 407, or 401 (tinyproxy's BasicAuth).
            let http_auth = text.contains("answered 'HTTP/")
                && (text.contains(" 407 ") || text.contains(" 401 "));
            if e.kind() == ErrorKind::PermissionDenied || http_auth {
                DialError::Fatal(format!("{text}; fix the proxy user or password"))
            } else {
                DialError::Retry(text)
            }
        })
}

#[cfg(not(feature = "proxy"))]
async fn via_proxy(
    _: SocketAddr,
    _: Option<Duration>,
    _: &proxy::Request,
) -> Result<TcpStream, DialError> {
    let _ = ErrorKind::Other;
    Err(DialError::Fatal("this build has no proxy support".into()))
}

fn kind_name(k: proxy::Kind) -> &'static str {
    match k {
        proxy::Kind::Http => "HTTP",
        proxy::Kind::Socks5 => "SOCKS5",
        proxy::Kind::Socks4 => "SOCKS4",
        proxy::Kind::Socks4a => "SOCKS4a",
    }
}
