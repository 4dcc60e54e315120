//! Web (only with `--check-url http://HOST[:PORT]/PATH`): a plain HTTP GET
//! through the same route as the targets (`-X/-x` included). The expected
//! status (`--check-expect`, default 200 or 204) passes; a redirect or any
//! other status is reported as a likely captive portal.

use super::report::{blocked, Layer};
use super::targets::{connect, route_of};
use super::{ms, Ctx};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use std::time::Instant;

/// The most of the answer read: the status line and headers.
const HEAD_MAX: usize = 8192;

pub async fn run(ctx: &mut Ctx, before: &[Layer]) -> Layer {
    let Some(url) = ctx.opts.url.clone() else {
        return Layer::skip("web", "no --check-url given");
    };
    if let Some(l) = blocked("web", before, "address", "no address") {
        return l;
    }
    if let crate::addr::Host::Ip(ip) = url.dest.host {
        if ctx.opts.proxy.is_none() {
            if let Some(why) = ctx.cannot_reach(ip) {
                return Layer::skip("web", why);
            }
        }
    } else if ctx.dns_ok == Some(false) && ctx.opts.proxy.is_none() {
        return Layer::skip("web", "no DNS for the URL's host name");
    }
    let wait = ctx.opts.wait;
    let r = route_of(ctx);
    let start = Instant::now();
    let fetched = smol::future::or(get(&url, &r, wait), async {
        smol::Timer::after(wait).await;
        Err(format!(
            "no answer within {} s",
            crate::decimal::secs_shortest(wait)
        ))
    })
    .await;
    let (status, location, to) = match fetched {
        Ok(x) => x,
        Err(e) => {
            return Layer::fail(
                "web",
                format!("{}: {e}", url.text),
                "the web server cannot be reached (or the portal drops what it does not catch)",
            )
        }
    };
    let t = ms(start);
    let wanted = match ctx.opts.expect {
        Some(c) => status == c,
        None => status == 200 || status == 204,
    };
    let want = ctx
        .opts
        .expect
        .map_or_else(|| "200 or 204".to_string(), |c| c.to_string());
    if wanted {
        return Layer::pass("web", format!("{}: {status} from {to} in {t} ms", url.text));
    }
    let mut ev = format!(
        "{}: {status} from {to} in {t} ms, expected {want}",
        url.text
    );
    if let Some(l) = &location {
        ev.push_str(&format!(", redirect to {l}"));
    }
    let cause = if (300..400).contains(&status) {
        "likely a captive portal: the web answer is a redirect (log in through a browser)"
    } else {
        "likely a captive portal or a filtering proxy: not the status the URL gives"
    };
    Layer::fail("web", ev, cause)
}

/// The status and Location of a GET.
async fn get(
    url: &crate::cli::CheckUrl,
    r: &super::targets::Route,
    wait: std::time::Duration,
) -> Result<(u16, Option<String>, String), String> {
    let (mut s, to) = connect(&url.dest, r, wait).await?;
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: netcrab-check/{}\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n",
        url.path,
        url.host_header,
        env!("CARGO_PKG_VERSION")
    );
    let err = |e: std::io::Error| crate::error::describe(&e);
    s.write_all(req.as_bytes()).await.map_err(err)?;
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < HEAD_MAX {
        let n = s.read(&mut buf).await.map_err(err)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let (status, location) = parse_head(&head)?;
    Ok((status, location, to))
}

/// The status code and the Location header of a response head.
pub fn parse_head(head: &[u8]) -> Result<(u16, Option<String>), String> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut words = first.split_whitespace();
    let version = words.next().unwrap_or_default();
    let code = words.next().and_then(|c| c.parse::<u16>().ok());
    let (true, Some(code)) = (version.starts_with("HTTP/"), code) else {
        let shown: String = first.chars().take(60).collect();
        return Err(if head.is_empty() {
            "the connection closed without an answer".into()
        } else {
            format!("not an HTTP answer: {shown:?}")
        });
    };
    let location = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("location"))
        .map(|(_, v)| v.trim().chars().take(200).collect());
    Ok((code, location))
}

#[cfg(test)]
mod tests {
    #[test]
    fn status_and_location() {
        let h = b"HTTP/1.1 302 Found\r\nlocation: http://portal.test/login\r\n\r\n";
        assert_eq!(
            super::parse_head(h).unwrap(),
            (302, Some("http://portal.test/login".to_string()))
        );
        assert_eq!(
            super::parse_head(b"HTTP/1.0 204 No Content\r\n\r\n").unwrap(),
            (204, None)
        );
        assert!(super::parse_head(b"SSH-2.0-x\r\n").is_err());
        assert!(super::parse_head(b"").is_err());
        assert!(super::parse_head(b"HTTP/1.1 abc\r\n").is_err());
    }
}
