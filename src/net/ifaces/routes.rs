//! Default routes on Linux, from /proc/net/route and /proc/net/ipv6_route
//! (the calling process's network namespace; plain text, no netlink).

use super::Route;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const RTF_UP: u32 = 0x1;
const RTF_GATEWAY: u32 = 0x2;
const RTF_REJECT: u32 = 0x200;

#[cfg(any(target_os = "linux", target_os = "android"))]
fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn default_v4() -> Result<Vec<Route>, String> {
    read("/proc/net/route").map(|t| parse_v4(&t))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn default_v6() -> Result<Vec<Route>, String> {
    read("/proc/net/ipv6_route").map(|t| parse_v6(&t))
}

/// `Iface Destination Gateway Flags RefCnt Use Metric Mask ...`: addresses
/// are the kernel's 32-bit words in hex, in the machine's byte order.
pub fn parse_v4(text: &str) -> Vec<Route> {
    let hex = |s: &str| u32::from_str_radix(s, 16).ok();
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let (Some(dest), Some(gw), Some(flags), Some(mask)) =
            (hex(f[1]), hex(f[2]), hex(f[3]), hex(f[7]))
        else {
            continue;
        };
        if dest != 0 || mask != 0 || flags & RTF_UP == 0 || flags & RTF_REJECT != 0 {
            continue;
        }
        let gateway =
            (flags & RTF_GATEWAY != 0).then(|| IpAddr::V4(Ipv4Addr::from(gw.to_ne_bytes())));
        out.push(Route {
            gateway,
            iface: f[0].to_string(),
            metric: f[6].parse().ok(),
        });
    }
    out
}

/// `dest plen src plen next_hop metric refcnt use flags dev`, no header;
/// addresses as 32 hex digits in network order.
pub fn parse_v6(text: &str) -> Vec<Route> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 {
            continue;
        }
        let (Some(dest), Some(via)) = (v6_hex(f[0]), v6_hex(f[4])) else {
            continue;
        };
        let (Ok(plen), Ok(metric), Ok(flags)) = (
            u8::from_str_radix(f[1], 16),
            u32::from_str_radix(f[5], 16),
            u32::from_str_radix(f[8], 16),
        ) else {
            continue;
        };
        // The kernel's own "unreachable" default on lo carries RTF_REJECT.
        if !dest.is_unspecified() || plen != 0 || flags & RTF_UP == 0 || flags & RTF_REJECT != 0 {
            continue;
        }
        out.push(Route {
            gateway: (!via.is_unspecified()).then_some(IpAddr::V6(via)),
            iface: f[9].to_string(),
            metric: Some(metric),
        });
    }
    out
}

fn v6_hex(s: &str) -> Option<Ipv6Addr> {
    (s.len() == 32)
        .then(|| u128::from_str_radix(s, 16).ok())
        .flatten()
        .map(Ipv6Addr::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_default_routes_only() {
        // Addresses as a little-endian kernel prints them.
        let gw = u32::from_ne_bytes([192, 0, 2, 1]);
        let net = u32::from_ne_bytes([192, 0, 2, 0]);
        let mask = u32::from_ne_bytes([255, 255, 255, 0]);
        let text = format!(
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
             eth0\t00000000\t{gw:08X}\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
             eth0\t{net:08X}\t00000000\t0001\t0\t0\t0\t{mask:08X}\t0\t0\t0\n\
             ppp0\t00000000\t00000000\t0001\t0\t0\t5\t00000000\t0\t0\t0\n\
             eth1\t00000000\t{gw:08X}\t0002\t0\t0\t0\t00000000\t0\t0\t0\n"
        );
        let r = parse_v4(&text);
        assert_eq!(
            r,
            vec![
                Route {
                    gateway: Some("192.0.2.1".parse().unwrap()),
                    iface: "eth0".into(),
                    metric: Some(100)
                },
                Route {
                    gateway: None,
                    iface: "ppp0".into(),
                    metric: Some(5)
                },
            ]
        );
        assert!(parse_v4("").is_empty());
        assert!(parse_v4("header\ngarbage line here\n").is_empty());
    }

    #[test]
    fn v6_default_routes_skip_the_reject_entry() {
        let z = "0".repeat(32);
        let text = format!(
            "fd000000000000000000000000000000 40 {z} 00 {z} 00000100 00000001 00000000 00000001     eth0\n\
             {z} 00 {z} 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n\
             {z} 00 {z} 00 {z} ffffffff 00000001 00000000 00200200       lo\n"
        );
        assert_eq!(
            parse_v6(&text),
            vec![Route {
                gateway: Some("fd00::1".parse().unwrap()),
                iface: "eth0".into(),
                metric: Some(0x400)
            }]
        );
        assert!(parse_v6("short line").is_empty());
    }
}
