//! The address grammar: targets (`[SRC=]HOST:PORT[xN]`), listen addresses
//! (`HOST:PORT`, `[v6]:PORT`, `:PORT`, `*:PORT`, `*`, `PORT`) and sources.
//! Parsing is pure (no lookups); `Display` prints a value back in a form
//! that parses to an equal value. `unix:PATH` names a UNIX domain socket
//! wherever a `HOST:PORT` goes (a target, a listen address).

use crate::error::{usage, Error};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// Largest `xN` multiplier accepted: each copy is a socket.
pub const MAX_MULTIPLIER: u32 = 65_535;
/// Longest host name accepted (DNS limit).
const MAX_HOST_LEN: usize = 253;

/// A host: a literal IP (with an IPv6 scope when given) or a name to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    /// An IPv6 literal with a zone (`fe80::1%eth0` or `fe80::1%2`).
    Scoped(Ipv6Addr, String),
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Ip(IpAddr::V4(a)) => write!(f, "{a}"),
            Host::Scoped(a, zone) => write!(f, "[{a}%{zone}]"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// `HOST:PORT` with a required port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: Host,
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Where a listener binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenSpec {
    /// `HOST:PORT` or `[v6]:PORT`: every address the host resolves to.
    Addr(HostPort),
    /// `:PORT`: every address of every local interface, one socket each.
    AllLocal(u16),
    /// `*:PORT` (and `*`, `PORT`): `0.0.0.0:PORT` and `[::]:PORT` side by side.
    Wildcard(u16),
    /// `unix:PATH` (or any address with `-U`): a UNIX domain socket. The
    /// path as given (it came from the command line as text).
    Unix(String),
}

impl fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenSpec::Addr(hp) => hp.fmt(f),
            ListenSpec::AllLocal(p) => write!(f, ":{p}"),
            ListenSpec::Wildcard(p) => write!(f, "*:{p}"),
            ListenSpec::Unix(p) => write!(f, "{UNIX_PREFIX}{p}"),
        }
    }
}

/// The local side of an outbound socket (`SRC` in `SRC=DST`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    /// `None`: the wildcard address of the destination's family.
    pub host: Option<Host>,
    pub port: u16,
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            None => write!(f, ":{}", self.port),
            Some(h) => write!(f, "{h}:{}", self.port),
        }
    }
}

/// A positional target: `[SRC=]HOST:PORT[xN]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    pub source: Option<SourceSpec>,
    pub dest: HostPort,
    pub count: u32,
}

impl fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.source {
            write!(f, "{s}=")?;
        }
        write!(f, "{}", self.dest)?;
        if self.count != 1 {
            write!(f, "x{}", self.count)?;
        }
        Ok(())
    }
}

/// The prefix of a UNIX domain socket address.
pub const UNIX_PREFIX: &str = "unix:";
/// `sun_path`'s size on Linux (and the BSDs' 104 is below it): a path must
/// leave room for its terminating NUL.
pub const SUN_PATH_LEN: usize = 108;

/// The path of a `unix:PATH` address, if `s` is one.
pub fn unix_path_of(s: &str) -> Option<&str> {
    s.strip_prefix(UNIX_PREFIX)
}

fn parse_unix_text(p: &str, whole: &str) -> Result<String, String> {
    if p.is_empty() {
        return Err(format!(
            "missing path in '{}' (expected unix:PATH)",
            clip(whole)
        ));
    }
    if p.contains('\0') {
        return Err(format!("NUL byte in UNIX socket path '{}'", clip(p)));
    }
    if p.len() >= SUN_PATH_LEN {
        return Err(format!(
            "UNIX socket path '{}' is {} bytes, longer than the {} a socket address holds",
            clip(p),
            p.len(),
            SUN_PATH_LEN - 1
        ));
    }
    Ok(p.to_string())
}

/// Parse a UNIX socket path (without the `unix:` prefix): not empty, no
/// NUL, short enough for `sun_path` (a usage error naming the path).
pub fn parse_unix_path(p: &str) -> Result<String, Error> {
    parse_unix_text(p, p).map_err(usage)
}

/// Shorten what we echo back so a 10,000-character argument still gives one
/// readable line.
pub fn clip(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}...")
    }
}

fn parse_port(p: &str, whole: &str) -> Result<u16, String> {
    if p.is_empty() {
        return Err(format!("missing port in '{}'", clip(whole)));
    }
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        // netcat habit: a service name (`http`) where a port goes.
        if let Some(port) = crate::net::services::port(p) {
            return Ok(port);
        }
        if crate::net::services::is_name(p) {
            return Err(format!(
                "unknown service '{}' in '{}' (not in the services database)",
                clip(p),
                clip(whole)
            ));
        }
        return Err(format!("invalid port '{}' in '{}'", clip(p), clip(whole)));
    }
    p.parse::<u16>()
        .map_err(|_| format!("invalid port '{}' in '{}' (0-65535)", clip(p), clip(whole)))
}

fn parse_host(h: &str, whole: &str) -> Result<Host, String> {
    if h.is_empty() {
        return Err(format!("missing host in '{}'", clip(whole)));
    }
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    if h.len() > MAX_HOST_LEN {
        return Err(format!(
            "invalid host name '{}' in '{}' (longer than {MAX_HOST_LEN} characters)",
            clip(h),
            clip(whole)
        ));
    }
    let ok_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let trimmed = h.strip_suffix('.').unwrap_or(h);
    if !trimmed.split('.').all(ok_label) {
        return Err(format!(
            "invalid host name '{}' in '{}'",
            clip(h),
            clip(whole)
        ));
    }
    Ok(Host::Name(h.to_string()))
}

/// Parse the inside of `[...]`: an IPv6 literal, maybe with `%zone`.
fn parse_bracketed(inner: &str, whole: &str) -> Result<Host, String> {
    let (addr, zone) = match inner.split_once('%') {
        Some((a, z)) => (a, Some(z)),
        None => (inner, None),
    };
    let ip: Ipv6Addr = addr.parse().map_err(|_| {
        format!(
            "invalid IPv6 address '{}' in '{}'",
            clip(inner),
            clip(whole)
        )
    })?;
    match zone {
        None => Ok(Host::Ip(IpAddr::V6(ip))),
        Some(z)
            if !z.is_empty()
                && z.len() <= 32
                && z.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) =>
        {
            Ok(Host::Scoped(ip, z.to_string()))
        }
        Some(z) => Err(format!(
            "invalid IPv6 zone '{}' in '{}'",
            clip(z),
            clip(whole)
        )),
    }
}

/// Split `HOST:PORT`, `[v6]:PORT` or a bare `v6:PORT` into host and port text.
/// The host text may be empty (`:PORT`). Returns `None` for the port when the
/// string has none.
fn split_host_port(s: &str) -> Result<(Option<Host>, Option<&str>), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("missing ']' in '{}'", clip(s)))?;
        let host = parse_bracketed(inner, s)?;
        return match after {
            "" => Ok((Some(host), None)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((Some(host), Some(p))),
                None => Err(format!(
                    "unexpected '{}' after ']' in '{}'",
                    clip(after),
                    clip(s)
                )),
            },
        };
    }
    match s.rfind(':') {
        None => Ok((Some(parse_host(s, s)?), None)),
        Some(i) => {
            let (h, p) = (&s[..i], &s[i + 1..]);
            if h.is_empty() {
                return Ok((None, Some(p)));
            }
            if h.contains(':') {
                // A bare IPv6 literal with the port after the last colon: `::1:80`.
                let ip: Ipv6Addr = h.parse().map_err(|_| {
                    format!("invalid address '{}' (write IPv6 as [addr]:port)", clip(s))
                })?;
                return Ok((Some(Host::Ip(IpAddr::V6(ip))), Some(p)));
            }
            Ok((Some(parse_host(h, s)?), Some(p)))
        }
    }
}

/// Parse a destination `HOST:PORT`.
fn parse_host_port_text(s: &str) -> Result<HostPort, String> {
    match split_host_port(s)? {
        (Some(host), Some(p)) => Ok(HostPort {
            host,
            port: parse_port(p, s)?,
        }),
        (None, _) => Err(format!("missing host in '{}'", clip(s))),
        (Some(_), None) => Err(format!(
            "missing port in '{}' (expected HOST:PORT)",
            clip(s)
        )),
    }
}

/// Parse a listen address.
fn parse_listen_text(s: &str) -> Result<ListenSpec, String> {
    if s.is_empty() {
        return Err("empty listen address (expected HOST:PORT, :PORT or *:PORT)".into());
    }
    if s == "*" {
        return Ok(ListenSpec::Wildcard(0));
    }
    if let Some(p) = unix_path_of(s) {
        return Ok(ListenSpec::Unix(parse_unix_text(p, s)?));
    }
    if let Some(p) = s.strip_prefix("*:") {
        return Ok(ListenSpec::Wildcard(parse_port(p, s)?));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        // netcat habit: `-l 8000` listens on every address.
        return Ok(ListenSpec::Wildcard(parse_port(s, s)?));
    }
    match split_host_port(s)? {
        (None, Some(p)) => Ok(ListenSpec::AllLocal(parse_port(p, s)?)),
        (Some(host), Some(p)) => Ok(ListenSpec::Addr(HostPort {
            host,
            port: parse_port(p, s)?,
        })),
        (_, None) => Err(format!(
            "missing port in listen address '{}' (expected HOST:PORT, :PORT or *:PORT)",
            clip(s)
        )),
    }
}

/// Parse a source address: `IP`, `IP:PORT`, `:PORT`, `[v6]`, `[v6]:PORT`, `*`, `*:PORT`.
fn parse_source_text(s: &str) -> Result<SourceSpec, String> {
    if s.is_empty() {
        return Err("empty source address before '='".into());
    }
    if s == "*" {
        return Ok(SourceSpec {
            host: None,
            port: 0,
        });
    }
    if let Some(p) = s.strip_prefix("*:") {
        return Ok(SourceSpec {
            host: None,
            port: parse_port(p, s)?,
        });
    }
    let (host, port) = split_host_port(s)?;
    let port = match port {
        Some(p) => parse_port(p, s)?,
        None => 0,
    };
    Ok(SourceSpec { host, port })
}

/// Parse a target: `[SRC=]HOST:PORT[xN]`.
fn parse_target_text(s: &str) -> Result<TargetSpec, String> {
    if s.is_empty() {
        return Err("empty target (expected HOST:PORT)".into());
    }
    let (rest, count) = split_multiplier(s)?;
    let (source, dest) = match rest.split_once('=') {
        None => (None, rest),
        Some((src, dst)) => {
            if dst.contains('=') {
                return Err(format!("more than one '=' in '{}'", clip(s)));
            }
            (Some(parse_source_text(src)?), dst)
        }
    };
    let dest = parse_host_port_text(dest)?;
    Ok(TargetSpec {
        source,
        dest,
        count,
    })
}

/// Split a trailing `xN` multiplier off a target.
fn split_multiplier(s: &str) -> Result<(&str, u32), String> {
    if let Some(i) = s.rfind('x') {
        let (head, digits) = (&s[..i], &s[i + 1..]);
        let after_port = head
            .rsplit(':')
            .next()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if after_port && head.contains(':') {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "invalid multiplier 'x{}' in '{}'",
                    clip(digits),
                    clip(s)
                ));
            }
            let n: u32 = digits.parse().unwrap_or(0);
            if n == 0 || n > MAX_MULTIPLIER {
                return Err(format!(
                    "invalid multiplier 'x{}' in '{}' (1-{MAX_MULTIPLIER})",
                    clip(digits),
                    clip(s)
                ));
            }
            return Ok((head, n));
        }
    }
    Ok((s, 1))
}

/// Most ports one `-z` target may list.
const MAX_SCAN_PORTS: usize = 65_536;

/// `-z`: expand `HOST:20-25,80` into one `HOST:PORT` string per port.
/// Strings without a list are returned as they are.
fn expand_port_list_text(s: &str) -> Result<Vec<String>, String> {
    let Some(i) = s.rfind(':') else {
        return Ok(vec![s.to_string()]);
    };
    let (head, list) = (&s[..i], &s[i + 1..]);
    if !list.contains(['-', ',']) {
        return Ok(vec![s.to_string()]);
    }
    let mut out = Vec::new();
    for part in list.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (parse_port(a, s)?, parse_port(b, s)?),
            None => {
                let p = parse_port(part, s)?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(format!("invalid port range '{part}' in '{}'", clip(s)));
        }
        // As nc: port 0 cannot be dialled, so a list naming it is a mistake.
        if lo == 0 {
            return Err(format!(
                "port 0 in '{}' (ports to scan are 1 to 65535)",
                clip(s)
            ));
        }
        for p in lo..=hi {
            out.push(format!("{head}:{p}"));
        }
        if out.len() > MAX_SCAN_PORTS {
            return Err(format!("too many ports in '{}'", clip(s)));
        }
    }
    Ok(out)
}

// The public parsers: errors are usage errors (exit 2) naming the bad part.

/// Parse a destination `HOST:PORT`.
pub fn parse_host_port(s: &str) -> Result<HostPort, Error> {
    parse_host_port_text(s).map_err(usage)
}

/// Parse a listen address.
pub fn parse_listen(s: &str) -> Result<ListenSpec, Error> {
    parse_listen_text(s).map_err(usage)
}

/// Parse a source address (`-s`): `IP`, `IP:PORT`, `:PORT`, `[v6]`.
pub fn parse_source(s: &str) -> Result<SourceSpec, Error> {
    parse_source_text(s).map_err(usage)
}

/// Parse a target: `[SRC=]HOST:PORT[xN]`.
pub fn parse_target(s: &str) -> Result<TargetSpec, Error> {
    parse_target_text(s).map_err(usage)
}

/// Expand a port list in a target (`HOST:20-25,80`) into one target each.
pub fn expand_port_list(s: &str) -> Result<Vec<String>, Error> {
    expand_port_list_text(s).map_err(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip() {
        for s in [
            "127.0.0.1:80",
            "[::1]:80",
            "example.com:443",
            "127.0.0.5:0=127.0.0.1:9",
            ":5000=127.0.0.1:9",
            "127.0.0.1:5000x12",
            "[fe80::1%eth0]:22",
            "[::1]:7=[::1]:8x2",
        ] {
            let t = parse_target_text(s).unwrap();
            assert_eq!(t.to_string(), s);
            assert_eq!(parse_target_text(&t.to_string()).unwrap(), t);
        }
    }

    #[test]
    fn port_lists() {
        let v = expand_port_list_text("h:20-22,80").unwrap();
        assert_eq!(v, ["h:20", "h:21", "h:22", "h:80"]);
        assert_eq!(expand_port_list_text("h:80").unwrap(), ["h:80"]);
        assert!(expand_port_list_text("h:25-20").is_err());
        assert!(expand_port_list_text("h:0-5")
            .unwrap_err()
            .contains("port 0"));
        assert!(expand_port_list_text("h:0,80")
            .unwrap_err()
            .contains("port 0"));
        assert!(expand_port_list_text("h:1-70000")
            .unwrap_err()
            .contains("70000"));
    }

    #[test]
    fn bare_v6_with_port() {
        let t = parse_target_text("::1:80").unwrap();
        assert_eq!(t.dest.host, Host::Ip("::1".parse().unwrap()));
        assert_eq!(t.dest.port, 80);
    }

    #[test]
    fn listen_forms() {
        assert_eq!(parse_listen_text("*").unwrap(), ListenSpec::Wildcard(0));
        assert_eq!(parse_listen_text("*:9").unwrap(), ListenSpec::Wildcard(9));
        assert_eq!(parse_listen_text("9").unwrap(), ListenSpec::Wildcard(9));
        assert_eq!(parse_listen_text(":9").unwrap(), ListenSpec::AllLocal(9));
        assert!(matches!(
            parse_listen_text("[::1]:9"),
            Ok(ListenSpec::Addr(_))
        ));
        assert!(parse_listen_text("localhost").is_err());
        assert_eq!(
            parse_listen_text("unix:/tmp/s").unwrap(),
            ListenSpec::Unix("/tmp/s".into())
        );
        assert!(parse_listen_text("unix:").is_err());
        let long = format!("unix:/{}", "a".repeat(107));
        assert!(parse_listen_text(&long).unwrap_err().contains("108 bytes"));
    }

    /// A small deterministic generator for the fuzz-style tests.
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        /// A random string from characters the grammar cares about, or a
        /// mutation of a valid example.
        fn input(&mut self) -> String {
            const SEEDS: &[&str] = &[
                "127.0.0.1:80",
                "[::1]:80",
                "host.example:443x3",
                "127.0.0.5:0=127.0.0.1:9",
                "[fe80::1%eth0]:22",
                ":5000",
                "*:7",
                "::1:80",
                "a=b:1",
            ];
            const ALPHABET: &[u8] = b"0123456789abcdefx:[]%=*.-_ /\\\0";
            if self.below(2) == 0 {
                let len = self.below(24);
                (0..len)
                    .map(|_| ALPHABET[self.below(ALPHABET.len())] as char)
                    .collect()
            } else {
                let mut v: Vec<char> = SEEDS[self.below(SEEDS.len())].chars().collect();
                for _ in 0..=self.below(3) {
                    let c = ALPHABET[self.below(ALPHABET.len())] as char;
                    match self.below(3) {
                        0 if !v.is_empty() => {
                            let i = self.below(v.len());
                            v.remove(i);
                        }
                        1 => {
                            let i = self.below(v.len() + 1);
                            v.insert(i, c);
                        }
                        _ if !v.is_empty() => {
                            let i = self.below(v.len());
                            v[i] = c;
                        }
                        _ => v.push(c),
                    }
                }
                v.into_iter().collect()
            }
        }
    }

    #[test]
    fn fuzzed_addresses_never_panic_and_print_back_equal() {
        let mut g = Gen(0x5eed_1234_abcd_0001);
        let mut accepted = 0;
        for _ in 0..100_000 {
            let s = g.input();
            if let Ok(t) = parse_target_text(&s) {
                accepted += 1;
                assert_eq!(
                    parse_target_text(&t.to_string()).as_ref(),
                    Ok(&t),
                    "{s:?} -> {t}"
                );
            }
            if let Ok(l) = parse_listen_text(&s) {
                assert_eq!(
                    parse_listen_text(&l.to_string()).as_ref(),
                    Ok(&l),
                    "{s:?} -> {l}"
                );
            }
            if let Ok(src) = parse_source_text(&s) {
                assert_eq!(
                    parse_source_text(&src.to_string()).as_ref(),
                    Ok(&src),
                    "{s:?} -> {src}"
                );
            }
            let _ = expand_port_list_text(&s);
        }
        // The generator must reach the accepting paths too, or this proves little.
        assert!(accepted > 1_000, "only {accepted} inputs parsed");
    }

    #[test]
    fn bad_inputs_name_the_part() {
        let e = parse_target_text("127.0.0.1:70000").unwrap_err();
        assert!(e.contains("'70000'"), "{e}");
        assert!(parse_target_text("127.0.0.1:80x0")
            .unwrap_err()
            .contains("x0"));
        assert!(parse_target_text("a=b=c:1").is_err());
        assert!(parse_target_text("host")
            .unwrap_err()
            .contains("missing port"));
        assert!(parse_target_text("[::1:80").is_err());
        assert!(parse_target_text("bad host:80").is_err());
        let long = "a".repeat(10_000) + ":80";
        assert!(parse_target_text(&long).unwrap_err().len() < 200);
    }
}
