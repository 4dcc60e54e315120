//! A minimal DNS message: one question out, the header and answer records
//! in (RFC 1035). The parser takes any bytes: malformed input is an `Err`,
//! never a panic, and name compression is followed a bounded number of times.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_AAAA: u16 = 28;

/// A query for `name` (empty: the root) of `qtype`, recursion desired.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let l = &label.as_bytes()[..label.len().min(63)];
        q.push(l.len() as u8);
        q.extend_from_slice(l);
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// What an answer says.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub id: u16,
    pub rcode: u8,
    pub truncated: bool,
    /// Answer records of the asked type.
    pub records: usize,
    /// The addresses among them (A / AAAA).
    pub addrs: Vec<IpAddr>,
}

pub fn rcode_name(r: u8) -> &'static str {
    match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "error",
    }
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2)
        .map(|s| u16::from_be_bytes([s[0], s[1]]))
        .ok_or_else(|| "truncated message".to_string())
}

/// The offset just past the name at `at` (compression pointers end a name).
fn skip_name(b: &[u8], mut at: usize) -> Result<usize, String> {
    for _ in 0..128 {
        let len = *b.get(at).ok_or("name runs past the end")?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(at + 1),
            0x00 => at += 1 + usize::from(len),
            0xc0 => {
                b.get(at + 1).ok_or("pointer runs past the end")?;
                return Ok(at + 2);
            }
            _ => return Err("bad label type".into()),
        }
    }
    Err("name too long".into())
}

/// Parse a reply to query `id`; `qtype` picks the records counted.
pub fn parse(b: &[u8], id: u16, qtype: u16) -> Result<Answer, String> {
    if b.len() < 12 {
        return Err(format!("{}-byte reply, shorter than a DNS header", b.len()));
    }
    let got = u16_at(b, 0)?;
    if got != id {
        return Err(format!("reply for another query (id {got})"));
    }
    let flags = u16_at(b, 2)?;
    if flags & 0x8000 == 0 {
        return Err("a query, not a reply".into());
    }
    let qd = u16_at(b, 4)?;
    let an = u16_at(b, 6)?;
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(b, at)? + 4;
    }
    let mut a = Answer {
        id,
        rcode: (flags & 0x000f) as u8,
        truncated: flags & 0x0200 != 0,
        records: 0,
        addrs: Vec::new(),
    };
    for _ in 0..an {
        at = skip_name(b, at)?;
        let ty = u16_at(b, at)?;
        let len = usize::from(u16_at(b, at + 8)?);
        let data = b
            .get(at + 10..at + 10 + len)
            .ok_or("record runs past the end")?;
        at += 10 + len;
        if ty != qtype {
            continue;
        }
        a.records += 1;
        match (ty, data.len()) {
            (TYPE_A, 4) => a.addrs.push(IpAddr::V4(Ipv4Addr::new(
                data[0], data[1], data[2], data[3],
            ))),
            (TYPE_AAAA, 16) => {
                let mut o = [0u8; 16];
                o.copy_from_slice(data);
                a.addrs.push(IpAddr::V6(Ipv6Addr::from(o)));
            }
            _ => {}
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply to `query(7, "a.test", A)` with two A records, the second
    /// name a compression pointer to the question.
    fn reply() -> Vec<u8> {
        let mut r = query(7, "a.test", TYPE_A);
        r[2] = 0x81;
        r[3] = 0x80;
        r[7] = 2;
        for ip in [[192, 0, 2, 1], [192, 0, 2, 2]] {
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            r.extend_from_slice(&ip);
        }
        r
    }

    #[test]
    fn query_then_reply() {
        let q = query(0x1234, "", TYPE_NS);
        assert_eq!(q, [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]);
        let a = parse(&reply(), 7, TYPE_A).unwrap();
        assert_eq!(a.rcode, 0);
        assert_eq!(a.records, 2);
        assert_eq!(a.addrs[1], "192.0.2.2".parse::<IpAddr>().unwrap());
        assert!(parse(&reply(), 8, TYPE_A).is_err());
        let mut nx = query(9, "no.test", TYPE_A);
        nx[2] = 0x81;
        nx[3] = 0x83;
        assert_eq!(rcode_name(parse(&nx, 9, TYPE_A).unwrap().rcode), "NXDOMAIN");
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        let good = reply();
        for n in 0..good.len() {
            let _ = parse(&good[..n], 7, TYPE_A);
        }
        // Every byte set to each of a few values, and a pseudo-random walk.
        for i in 0..good.len() {
            for v in [0u8, 1, 0x3f, 0x40, 0xc0, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                let _ = parse(&b, 7, TYPE_A);
            }
        }
        let mut x: u32 = 0x1234_5678;
        for _ in 0..2000 {
            let mut b = good.clone();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let i = (x as usize) % b.len();
                b[i] = (x >> 8) as u8;
            }
            let _ = parse(&b, u16::from_be_bytes([b[0], b[1]]), TYPE_A);
        }
        // A pointer loop and counts far beyond the data.
        let mut lp = vec![0, 7, 0x81, 0x80, 0, 1, 0xff, 0xff, 0, 0, 0, 0];
        lp.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert!(parse(&lp, 7, TYPE_A).is_err());
        let deep: Vec<u8> = [0, 7, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0]
            .into_iter()
            .chain(std::iter::repeat_n(1u8, 300))
            .collect();
        assert!(parse(&deep, 7, TYPE_A).is_err());
    }
}
