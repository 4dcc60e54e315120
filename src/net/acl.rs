//! Access control for listeners: `--allow` / `--deny` with addresses and
//! CIDR blocks, v4 and v6, from the command line or files. Deny wins.

use std::net::IpAddr;

/// An address block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// `net/bits`; `bits` beyond the family's width means the whole address.
    pub fn new(net: IpAddr, bits: u8) -> Cidr {
        Cidr {
            net,
            bits: bits.min(width(net)),
        }
    }

    /// `10.0.0.0/8`, `fe80::/10`, or a single address.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let net: IpAddr = addr.parse().map_err(|_| {
            format!(
                "invalid address '{}' in '{}'",
                crate::addr::clip(addr),
                crate::addr::clip(s)
            )
        })?;
        let max = width(net);
        let bits = match bits {
            None => max,
            Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(|| {
                format!(
                    "invalid prefix length '/{}' in '{}' (0-{max})",
                    crate::addr::clip(b),
                    crate::addr::clip(s)
                )
            })?,
        };
        Ok(Cidr::new(net, bits))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Bits in an address of `ip`'s family.
fn width(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// An IPv4-mapped IPv6 peer (`::ffff:10.0.0.1`) counts as its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The rules of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    pub allow: Vec<Cidr>,
    pub deny: Vec<Cidr>,
}

impl Acl {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// Deny wins; with any allow rule, only allowed peers get in.
    pub fn permits(&self, ip: IpAddr) -> bool {
        if self.deny.iter().any(|c| c.contains(ip)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|c| c.contains(ip))
    }
}

/// One `--allow`/`--deny` entry: an address, a block, or (as ncat takes it) a host name,
/// which stands for every address it resolves to. Names are looked up here, once, while the
/// arguments are read (before the event loop runs); `numeric` (`-n`) refuses them.
pub fn parse_entry(s: &str, numeric: bool) -> Result<Vec<Cidr>, String> {
    let parsed = Cidr::parse(s);
    let name = s.trim();
    if parsed.is_ok() || name.contains('/') || !looks_like_name(name) {
        return parsed.map(|c| vec![c]);
    }
    if numeric {
        return Err(format!(
            "'{}' is a name, and -n forbids name lookups",
            crate::addr::clip(name)
        ));
    }
    use std::net::ToSocketAddrs;
    let addrs: Vec<Cidr> = (name, 0)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{}': {e}", crate::addr::clip(name)))?
        .map(|a| Cidr::new(canonical(a.ip()), 128))
        .collect();
    if addrs.is_empty() {
        return Err(format!(
            "'{}' resolves to no address",
            crate::addr::clip(name)
        ));
    }
    Ok(addrs)
}

/// A host name's shape: letters, digits, `-`, `.`, `_`, with a letter or digit first.
fn looks_like_name(s: &str) -> bool {
    s.bytes().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
}

/// Read a rules file: entries separated by white space or commas (several on a line, as ncat
/// reads them), `#` comments.
pub fn parse_file(path: &str, numeric: bool) -> Result<Vec<Cidr>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read '{}': {e}", crate::addr::clip(path)))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for entry in line.split(|c: char| c.is_whitespace() || c == ',') {
            if entry.is_empty() {
                continue;
            }
            out.extend(
                parse_entry(entry, numeric)
                    .map_err(|e| format!("{}:{}: {e}", crate::addr::clip(path), i + 1))?,
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_match() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains(ip("10.1.2.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.9.9")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        let v6 = Cidr::parse("fe80::/10").unwrap();
        assert!(v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("::1")));
        assert!(Cidr::parse("::1").unwrap().contains(ip("::1")));
        assert!(Cidr::parse("10.0.0.0/33").unwrap_err().contains("/33"));
        assert!(Cidr::parse("nonsense").is_err());
    }

    #[test]
    fn entries_take_names_and_files_take_several_per_line() {
        let local = parse_entry("localhost", false).unwrap();
        assert!(local.iter().any(|c| c.contains(ip("127.0.0.1"))));
        assert!(parse_entry("localhost", true).unwrap_err().contains("-n"));
        assert_eq!(parse_entry("10.0.0.0/8", true).unwrap().len(), 1);
        assert!(parse_entry("no_such.host.invalid", false).is_err());
        assert!(parse_entry("10.0.0.0/x", false).is_err());
        let dir = std::env::temp_dir().join(format!("netcrab-acl-{}", std::process::id()));
        std::fs::write(&dir, "1.2.3.4 10.0.0.0/8,::1 # note\n\n# all\n").unwrap();
        let got = parse_file(dir.to_str().unwrap(), true).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(got.len(), 3);
        assert!(got[2].contains(ip("::1")));
    }

    #[test]
    fn deny_wins_and_allow_restricts() {
        let acl = Acl {
            allow: vec![Cidr::parse("127.0.0.0/8").unwrap()],
            deny: vec![Cidr::parse("127.0.0.9").unwrap()],
        };
        assert!(acl.permits(ip("127.0.0.1")));
        assert!(!acl.permits(ip("127.0.0.9")));
        assert!(!acl.permits(ip("10.0.0.1")));
        assert!(Acl::default().permits(ip("10.0.0.1")));
    }
}
