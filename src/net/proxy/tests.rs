//! The handshakes against scripted answers, and the DNS decisions.

use super::http::{base64, MAX_HTTP_HEADER};
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
        "proxy P answered 'HTTP/1.1 407 Proxy Authentication Required' (it wants a user name: add -P USER)"
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
    let ask = |k, d, s: &str| request(&spec(k, d), &hp(s), Family::Any, false).map(|r| r.target);
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
