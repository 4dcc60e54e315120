//! DHCPv4 messages (RFC 2131, options from RFC 2132): build the one
//! DHCPDISCOVER the probe sends, and read the DHCPOFFERs that answer it.
//! The reader trusts nothing: every length is checked against the buffer,
//! unknown options are skipped, and anything that does not add up is an
//! `Err` with the reason (the caller prints it with `-v`), never a panic.

use std::net::Ipv4Addr;

/// The fixed BOOTP header: op .. file, before the magic cookie.
const HEADER: usize = 236;
/// RFC 2131 3: the options field starts with 99.130.83.99.
const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// BOOTREQUEST / BOOTREPLY.
const OP_REQUEST: u8 = 1;
const OP_REPLY: u8 = 2;
/// The broadcast bit of `flags`: "answer me by broadcast, I have no address yet".
const FLAG_BROADCAST: u16 = 0x8000;

// Option codes used here (RFC 2132).
const PAD: u8 = 0;
const END: u8 = 255;
const SUBNET_MASK: u8 = 1;
const ROUTER: u8 = 3;
const DNS: u8 = 6;
const LEASE_TIME: u8 = 51;
const OVERLOAD: u8 = 52;
const MSG_TYPE: u8 = 53;
const SERVER_ID: u8 = 54;
const PARAM_LIST: u8 = 55;
const MAX_SIZE: u8 = 57;

const DHCPDISCOVER: u8 = 1;
const DHCPOFFER: u8 = 2;

/// Where `sname` (64 bytes) and `file` (128 bytes) sit in the header; option
/// overload (52) may put options there.
const SNAME: std::ops::Range<usize> = 44..108;
const FILE: std::ops::Range<usize> = 108..236;

/// The DHCPDISCOVER for transaction `xid` from hardware address `mac`:
/// broadcast flag set, asking for mask, routers, DNS and lease time.
/// Padded to 300 bytes, the BOOTP minimum some relays insist on.
pub fn discover(xid: u32, mac: [u8; 6], secs: u16) -> Vec<u8> {
    let mut p = vec![0u8; HEADER];
    p[0] = OP_REQUEST;
    p[1] = 1; // htype: Ethernet
    p[2] = 6; // hlen
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[8..10].copy_from_slice(&secs.to_be_bytes());
    p[10..12].copy_from_slice(&FLAG_BROADCAST.to_be_bytes());
    p[28..34].copy_from_slice(&mac);
    p.extend_from_slice(&MAGIC);
    p.extend_from_slice(&[MSG_TYPE, 1, DHCPDISCOVER]);
    p.extend_from_slice(&[PARAM_LIST, 4, SUBNET_MASK, ROUTER, DNS, LEASE_TIME]);
    // Room for a full offer in one Ethernet frame.
    p.extend_from_slice(&[MAX_SIZE, 2, 0x05, 0xDC]);
    p.push(END);
    if p.len() < 300 {
        p.resize(300, PAD);
    }
    p
}

/// What a DHCPOFFER says, as far as the probe reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Option 54, the address the server identifies itself by.
    pub server_id: Option<Ipv4Addr>,
    /// `yiaddr`: the address offered to us.
    pub offered: Ipv4Addr,
    pub mask: Option<Ipv4Addr>,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    /// Seconds; 0xFFFF_FFFF means infinite (RFC 2132 9.2).
    pub lease: Option<u32>,
}

/// Why a datagram is not an offer for us.
pub type Ignored = String;

/// Read `buf` as a DHCPOFFER answering transaction `xid`.
pub fn parse_offer(buf: &[u8], xid: u32) -> Result<Offer, Ignored> {
    if buf.len() < HEADER + MAGIC.len() {
        return Err(format!(
            "truncated: {} bytes, shorter than a DHCP header ({} bytes)",
            buf.len(),
            HEADER + MAGIC.len()
        ));
    }
    if buf[0] != OP_REPLY {
        return Err(format!("not a BOOTREPLY (op {})", buf[0]));
    }
    let got = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if got != xid {
        return Err(format!("for another transaction (xid 0x{got:08x})"));
    }
    if buf[HEADER..HEADER + 4] != MAGIC {
        return Err("no DHCP magic cookie".to_string());
    }
    let mut opts = Options::default();
    walk(&buf[HEADER + 4..], &mut opts, "options")?;
    // Overload: the sname and/or file fields carry more options (file first).
    match opts.overload {
        None => {}
        Some(1) => walk(&buf[FILE], &mut opts, "file field")?,
        Some(2) => walk(&buf[SNAME], &mut opts, "sname field")?,
        Some(3) => {
            walk(&buf[FILE], &mut opts, "file field")?;
            walk(&buf[SNAME], &mut opts, "sname field")?;
        }
        Some(v) => return Err(format!("option 52 (overload) has invalid value {v}")),
    }
    match opts.msg_type {
        Some(DHCPOFFER) => {}
        Some(t) => return Err(format!("DHCP message type {t}, not an offer (2)")),
        None => return Err("no DHCP message type (option 53)".to_string()),
    }
    Ok(Offer {
        server_id: opts.server_id,
        offered: ip(&buf[16..20]),
        mask: opts.mask,
        routers: opts.routers,
        dns: opts.dns,
        lease: opts.lease,
    })
}

#[derive(Default)]
struct Options {
    msg_type: Option<u8>,
    overload: Option<u8>,
    server_id: Option<Ipv4Addr>,
    mask: Option<Ipv4Addr>,
    routers: Vec<Ipv4Addr>,
    dns: Vec<Ipv4Addr>,
    lease: Option<u32>,
}

fn ip(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// Read one options area into `o`. An option running past the end, or a
/// known option of the wrong size, makes the whole message malformed.
/// A missing End is tolerated when the area ends exactly after an option.
fn walk(area: &[u8], o: &mut Options, what: &str) -> Result<(), Ignored> {
    let mut i = 0;
    while i < area.len() {
        let code = area[i];
        i += 1;
        match code {
            PAD => continue,
            END => return Ok(()),
            _ => {}
        }
        let Some(&len) = area.get(i) else {
            return Err(format!("{what}: option {code} has no length byte"));
        };
        i += 1;
        let Some(v) = area.get(i..i + usize::from(len)) else {
            return Err(format!(
                "{what}: option {code} says {len} bytes, only {} left",
                area.len() - i
            ));
        };
        i += usize::from(len);
        let exact = |want: usize, name: &str| {
            if v.len() == want {
                Ok(())
            } else {
                Err(format!(
                    "option {code} ({name}) has length {}, expected {want}",
                    v.len()
                ))
            }
        };
        match code {
            MSG_TYPE => {
                exact(1, "message type")?;
                o.msg_type = Some(v[0]);
            }
            OVERLOAD if what == "options" => {
                exact(1, "overload")?;
                o.overload = Some(v[0]);
            }
            SERVER_ID => {
                exact(4, "server identifier")?;
                o.server_id = Some(ip(v));
            }
            SUBNET_MASK => {
                exact(4, "subnet mask")?;
                o.mask = Some(ip(v));
            }
            LEASE_TIME => {
                exact(4, "lease time")?;
                o.lease = Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
            }
            ROUTER | DNS => {
                let name = if code == ROUTER {
                    "routers"
                } else {
                    "DNS servers"
                };
                if v.is_empty() || v.len() % 4 != 0 {
                    return Err(format!(
                        "option {code} ({name}) has length {}, not a multiple of 4",
                        v.len()
                    ));
                }
                let list = if code == ROUTER {
                    &mut o.routers
                } else {
                    &mut o.dns
                };
                // RFC 3396: a repeated option continues the earlier one.
                list.extend(v.chunks_exact(4).map(ip));
            }
            // Anything else (including 52 inside an overloaded field) is skipped.
            _ => {}
        }
    }
    Ok(())
}

/// A reply to `xid` offering 10.0.0.50, with `options` after the cookie
/// (for the tests and the fuzz test).
#[cfg(test)]
pub fn test_reply(xid: u32, options: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; HEADER];
    p[0] = OP_REPLY;
    p[1] = 1;
    p[2] = 6;
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[16..20].copy_from_slice(&[10, 0, 0, 50]);
    p.extend_from_slice(&MAGIC);
    p.extend_from_slice(options);
    p
}

#[cfg(test)]
mod tests {
    use super::test_reply as reply;
    use super::*;

    const GOOD: &[u8] = &[
        53, 1, 2, 54, 4, 10, 0, 0, 1, 1, 4, 255, 255, 255, 0, 3, 8, 10, 0, 0, 1, 10, 0, 0, 2, 6, 4,
        10, 0, 0, 53, 0, 0, 224, 3, 1, 2, 3, 51, 4, 0, 0, 14, 16, 255,
    ];

    #[test]
    fn discover_layout() {
        let p = discover(0xdead_beef, [2, 1, 2, 3, 4, 5], 3);
        assert_eq!(p.len(), 300);
        assert_eq!(&p[..3], &[1, 1, 6]);
        assert_eq!(&p[4..8], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(&p[8..10], &[0, 3]);
        assert_eq!(&p[10..12], &[0x80, 0]);
        assert_eq!(&p[28..34], &[2, 1, 2, 3, 4, 5]);
        assert_eq!(&p[236..243], &[99, 130, 83, 99, 53, 1, 1]);
    }

    #[test]
    fn reads_an_offer() {
        let o = parse_offer(&reply(7, GOOD), 7).unwrap();
        assert_eq!(o.server_id, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(o.offered, Ipv4Addr::new(10, 0, 0, 50));
        assert_eq!(o.mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(
            o.routers,
            vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)]
        );
        assert_eq!(o.dns, vec![Ipv4Addr::new(10, 0, 0, 53)]);
        assert_eq!(o.lease, Some(3600));
    }

    #[test]
    fn missing_end_is_tolerated() {
        let o = parse_offer(&reply(7, &GOOD[..GOOD.len() - 1]), 7).unwrap();
        assert_eq!(o.lease, Some(3600));
    }

    #[test]
    fn overloaded_file_field() {
        let mut p = reply(7, &[53, 1, 2, 52, 1, 1, 255]);
        p[FILE.start..FILE.start + 7].copy_from_slice(&[51, 4, 0, 0, 0, 60, 255]);
        assert_eq!(parse_offer(&p, 7).unwrap().lease, Some(60));
    }

    #[test]
    fn rejects_what_is_not_an_offer_for_us() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (reply(7, GOOD)[..200].to_vec(), "truncated"),
            (reply(8, GOOD), "another transaction"),
            (reply(7, &[53, 1, 5, 255]), "not an offer"),
            (reply(7, &[54, 3, 1, 2, 3, 255]), "has length"),
            (reply(7, &[53, 1, 2, 54, 9, 1, 2]), "only 2 left"),
            (reply(7, &[53, 1, 2, 3, 3, 1, 2, 3, 255]), "multiple of 4"),
            (reply(7, &[53, 1, 2, 1, 3, 255, 255, 0, 255]), "expected 4"),
            (reply(7, &[53, 1, 2, 52, 1, 9, 255]), "overload"),
            (reply(7, &[53]), "no length byte"),
            (
                reply(7, &[1, 4, 255, 255, 255, 0, 255]),
                "no DHCP message type",
            ),
        ];
        for (p, want) in cases {
            let e = parse_offer(&p, 7).unwrap_err();
            assert!(e.contains(want), "{e:?} should say {want:?}");
        }
        let mut bad_cookie = reply(7, GOOD);
        bad_cookie[HEADER] = 0;
        assert!(parse_offer(&bad_cookie, 7).unwrap_err().contains("cookie"));
        let mut request = reply(7, GOOD);
        request[0] = OP_REQUEST;
        assert!(parse_offer(&request, 7).unwrap_err().contains("BOOTREPLY"));
    }
}
