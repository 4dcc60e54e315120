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

/// Read a rules file: one address or block per line, `#` comments.
pub fn parse_file(path: &str) -> Result<Vec<Cidr>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read '{}': {e}", crate::addr::clip(path)))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        out.push(
            Cidr::parse(line).map_err(|e| format!("{}:{}: {e}", crate::addr::clip(path), i + 1))?,
        );
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
