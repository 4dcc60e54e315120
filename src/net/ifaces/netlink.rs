//! Linux rtnetlink dumps: each address with what getifaddrs leaves out
//! (whether a broadcast address was set at all, the peer of a
//! point-to-point address, the IFA_F_* flags such as tentative and
//! dadfailed), and the neighbour table (ARP / NDP entries and their state).
//! The parsers take plain bytes, so malformed input is only skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const HDR: usize = 16;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;

pub const IFA_F_DADFAILED: u32 = 0x08;
pub const IFA_F_DEPRECATED: u32 = 0x20;
pub const IFA_F_TENTATIVE: u32 = 0x40;

/// Neighbour states (NUD_*).
pub const NUD_INCOMPLETE: u16 = 0x01;
pub const NUD_REACHABLE: u16 = 0x02;
pub const NUD_FAILED: u16 = 0x20;
pub const NUD_NOARP: u16 = 0x40;
pub const NUD_PERMANENT: u16 = 0x80;
/// A fresh answer (or an entry that needs none).
pub const NUD_CONFIRMED: u16 = NUD_REACHABLE | NUD_NOARP | NUD_PERMANENT;

/// One address as rtnetlink reports it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NlAddr {
    pub index: u32,
    pub prefix: u8,
    pub flags: u32,
    /// IFA_LOCAL: the interface's own address (absent on some IPv6 ones).
    pub local: Option<IpAddr>,
    /// IFA_ADDRESS: the peer on a point-to-point address, else the same as local.
    pub address: Option<IpAddr>,
    pub broadcast: Option<IpAddr>,
    pub label: Option<String>,
}

impl NlAddr {
    /// The interface's own address.
    pub fn ip(&self) -> Option<IpAddr> {
        self.local.or(self.address)
    }

    /// The peer of a point-to-point address.
    pub fn peer(&self) -> Option<IpAddr> {
        match (self.local, self.address) {
            (Some(l), Some(a)) if l != a => Some(a),
            _ => None,
        }
    }
}

/// One neighbour entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Neigh {
    pub index: u32,
    pub ip: IpAddr,
    pub state: u16,
    pub mac: Option<String>,
}

impl Neigh {
    /// Whether the entry holds a link-layer address that answered.
    pub fn resolved(&self) -> bool {
        self.state & (NUD_INCOMPLETE | NUD_FAILED) == 0 && self.state != 0 && self.mac.is_some()
    }

    pub fn state_name(&self) -> &'static str {
        match self.state {
            0x01 => "incomplete",
            0x02 => "reachable",
            0x04 => "stale",
            0x08 => "delay",
            0x10 => "probe",
            0x20 => "failed",
            0x40 => "noarp",
            0x80 => "permanent",
            _ => "none",
        }
    }
}

/// Every address of every interface (both families).
pub fn addrs() -> std::io::Result<Vec<NlAddr>> {
    let body = [0u8; 8]; // ifaddrmsg, AF_UNSPEC
    let msgs = dump(RTM_GETADDR, &body)?;
    Ok(msgs
        .iter()
        .filter(|(t, _)| *t == RTM_NEWADDR)
        .filter_map(|(_, p)| parse_addr(p))
        .collect())
}

/// Every neighbour entry (ARP and NDP).
pub fn neighbours() -> std::io::Result<Vec<Neigh>> {
    let body = [0u8; 12]; // ndmsg, AF_UNSPEC
    let msgs = dump(RTM_GETNEIGH, &body)?;
    Ok(msgs
        .iter()
        .filter(|(t, _)| *t == RTM_NEWNEIGH)
        .filter_map(|(_, p)| parse_neigh(p))
        .collect())
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The route attributes in `b`: (type, value) pairs; stops at the first bad one.
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let (Some(len), Some(ty)) = (u16_at(b, 0), u16_at(b, 2)) else {
            break;
        };
        let len = usize::from(len);
        if len < 4 || len > b.len() {
            break;
        }
        out.push((ty & 0x3fff, &b[4..len]));
        let next = (len + 3) & !3;
        b = b.get(next..).unwrap_or_default();
    }
    out
}

fn ip_of(v: &[u8]) -> Option<IpAddr> {
    match v.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3]))),
        16 => {
            let a: [u8; 16] = v.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

/// An RTM_NEWADDR payload (ifaddrmsg + attributes).
pub fn parse_addr(p: &[u8]) -> Option<NlAddr> {
    let head = p.get(..8)?;
    let mut a = NlAddr {
        prefix: head[1],
        flags: u32::from(head[2]),
        index: u32_at(head, 4)?,
        ..NlAddr::default()
    };
    for (ty, v) in attrs(p.get(8..)?) {
        match ty {
            IFA_ADDRESS => a.address = ip_of(v),
            IFA_LOCAL => a.local = ip_of(v),
            IFA_BROADCAST => a.broadcast = ip_of(v),
            IFA_FLAGS => a.flags = u32_at(v, 0).unwrap_or(a.flags),
            IFA_LABEL => {
                let s = v.split(|&c| c == 0).next().unwrap_or_default();
                a.label = std::str::from_utf8(s).ok().map(str::to_string);
            }
            _ => {}
        }
    }
    a.ip().is_some().then_some(a)
}

/// An RTM_NEWNEIGH payload (ndmsg + attributes).
pub fn parse_neigh(p: &[u8]) -> Option<Neigh> {
    let head = p.get(..12)?;
    let index = u32_at(head, 4)?;
    let state = u16_at(head, 8)?;
    let mut ip = None;
    let mut mac = None;
    for (ty, v) in attrs(p.get(12..)?) {
        match ty {
            NDA_DST => ip = ip_of(v),
            NDA_LLADDR => mac = super::mac_text(v),
            _ => {}
        }
    }
    Some(Neigh {
        index,
        ip: ip?,
        state,
        mac,
    })
}

/// Split a buffer of netlink messages into (type, payload); `None` at the
/// end of the dump (NLMSG_DONE), `Err` for an NLMSG_ERROR with an error.
#[allow(clippy::type_complexity)]
pub fn split(mut b: &[u8], seq: u32) -> Result<(Vec<(u16, Vec<u8>)>, bool), i32> {
    let mut out = Vec::new();
    while b.len() >= HDR {
        let (Some(len), Some(ty), Some(s)) = (u32_at(b, 0), u16_at(b, 4), u32_at(b, 8)) else {
            break;
        };
        let len = len as usize;
        if len < HDR || len > b.len() {
            break;
        }
        let payload = &b[HDR..len];
        if s == seq {
            match ty {
                NLMSG_DONE => return Ok((out, true)),
                NLMSG_ERROR => {
                    let code = u32_at(payload, 0).map_or(0, |c| c as i32);
                    if code != 0 {
                        return Err(-code);
                    }
                }
                _ => out.push((ty, payload.to_vec())),
            }
        }
        let next = (len + 3) & !3;
        b = b.get(next..).unwrap_or_default();
    }
    Ok((out, false))
}

/// Send one dump request and collect every message of the answer.
#[allow(clippy::type_complexity)]
fn dump(ty: u16, body: &[u8]) -> std::io::Result<Vec<(u16, Vec<u8>)>> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: plain socket call; the descriptor is owned right below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval {
        tv_sec: 2,
        tv_usec: 0,
    };
    // SAFETY: a valid descriptor and a timeval that outlives the call.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    let seq: u32 = 0x6e63_7262;
    let total = HDR + body.len();
    let mut req = Vec::with_capacity(total);
    req.extend_from_slice(&(total as u32).to_ne_bytes());
    req.extend_from_slice(&ty.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(body);
    // SAFETY: sockaddr_nl is plain data; all zero then the family is valid.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: the request buffer and the address outlive the call.
    let r = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            req.as_ptr() as *const libc::c_void,
            req.len(),
            0,
            &kernel as *const libc::sockaddr_nl as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    // Bounded: a dump of a few thousand entries at most.
    for _ in 0..4096 {
        // SAFETY: `buf` is writable for its whole length.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if n == 0 {
            break;
        }
        match split(&buf[..n as usize], seq) {
            Ok((msgs, done)) => {
                out.extend(msgs);
                if done {
                    return Ok(out);
                }
            }
            Err(code) => return Err(std::io::Error::from_raw_os_error(code)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(ty: u16, v: &[u8]) -> Vec<u8> {
        let mut o = Vec::new();
        o.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
        o.extend_from_slice(&ty.to_ne_bytes());
        o.extend_from_slice(v);
        while o.len() % 4 != 0 {
            o.push(0);
        }
        o
    }

    #[test]
    fn a_point_to_point_address_has_a_peer_and_no_broadcast() {
        let mut p = vec![2, 32, 0, 0];
        p.extend_from_slice(&3u32.to_ne_bytes());
        p.extend(attr(IFA_ADDRESS, &[10, 79, 0, 2]));
        p.extend(attr(IFA_LOCAL, &[10, 78, 0, 1]));
        p.extend(attr(IFA_LABEL, b"d0\0"));
        p.extend(attr(IFA_FLAGS, &0x80u32.to_ne_bytes()));
        let a = parse_addr(&p).unwrap();
        assert_eq!(a.ip(), Some("10.78.0.1".parse().unwrap()));
        assert_eq!(a.peer(), Some("10.79.0.2".parse().unwrap()));
        assert_eq!(a.broadcast, None);
        assert_eq!(a.label.as_deref(), Some("d0"));
        assert_eq!((a.index, a.prefix, a.flags), (3, 32, 0x80));
    }

    #[test]
    fn malformed_input_is_skipped_not_a_panic() {
        // Every prefix and every single-byte change of a good message.
        let mut p = vec![10, 64, IFA_F_TENTATIVE as u8, 0];
        p.extend_from_slice(&2u32.to_ne_bytes());
        p.extend(attr(
            IFA_ADDRESS,
            &[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ));
        assert!(parse_addr(&p).unwrap().flags & IFA_F_TENTATIVE != 0);
        for n in 0..p.len() {
            let _ = parse_addr(&p[..n]);
            let _ = parse_neigh(&p[..n]);
            let _ = split(&p[..n], 1);
            for b in [0u8, 1, 3, 4, 0x7f, 0xff] {
                let mut q = p.clone();
                q[n] = b;
                let _ = parse_addr(&q);
                let _ = parse_neigh(&q);
                let _ = split(&q, 0);
            }
        }
        assert!(attrs(&[255, 255, 1, 0]).is_empty());
        assert!(attrs(&[2, 0, 1, 0]).is_empty());
    }

    #[test]
    fn a_neighbour_entry() {
        let mut p = vec![2, 0, 0, 0];
        p.extend_from_slice(&4u32.to_ne_bytes());
        p.extend_from_slice(&0x02u16.to_ne_bytes());
        p.extend_from_slice(&[0, 1]);
        p.extend(attr(NDA_DST, &[10, 0, 0, 1]));
        p.extend(attr(NDA_LLADDR, &[2, 0, 0, 0, 0, 1]));
        let n = parse_neigh(&p).unwrap();
        assert!(n.resolved());
        assert_eq!(n.state_name(), "reachable");
        assert_eq!(n.mac.as_deref(), Some("02:00:00:00:00:01"));
    }
}
