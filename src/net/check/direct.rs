//! ARP and NDP sent directly (Linux, with CAP_NET_RAW): a fresh answer from
//! the gateway's link layer, whatever the kernel's neighbour entry says (a
//! stale entry may be from before the gateway went away). ARP goes out on
//! an AF_PACKET datagram socket, NDP as an ICMPv6 neighbour solicitation
//! on a raw socket, both to the interface of the default route.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

pub enum Direct {
    /// The gateway's MAC, and how long the answer took.
    Reply(String, Duration),
    NoReply,
    /// This process may not open the socket.
    NoPrivilege,
    /// Not tried here (no MAC on the link, no source address, a socket
    /// error): the neighbour table is read instead.
    Unavailable,
}

const ETH_P_ARP: u16 = 0x0806;

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn mac_of(b: &[u8]) -> String {
    crate::net::ifaces::mac_text(b).unwrap_or_else(|| "no MAC".into())
}

fn denied(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
}

/// The ARP request (Ethernet, IPv4) from `mac`/`ip` for `target`.
pub fn arp_request(mac: [u8; 6], ip: Ipv4Addr, target: Ipv4Addr) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[..8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    p[8..14].copy_from_slice(&mac);
    p[14..18].copy_from_slice(&ip.octets());
    p[24..28].copy_from_slice(&target.octets());
    p
}

/// The sender's MAC when `p` is an ARP reply from `target`.
pub fn arp_reply_from(p: &[u8], target: Ipv4Addr) -> Option<String> {
    let p = p.get(..28)?;
    (p[..8] == [0, 1, 8, 0, 6, 4, 0, 2] && p[14..18] == target.octets()).then(|| mac_of(&p[8..14]))
}

/// A socket, a request and where to send it: ARP's or NDP's, or why not.
type Setup = Result<(smol::Async<OwnedFd>, Vec<u8>, socket2::SockAddr), Direct>;

/// The ARP request for `target` on interface `index`, and its socket.
fn arp(target: Ipv4Addr, index: u32, mac: &str, src: Ipv4Addr) -> Setup {
    let Some(mac) = parse_mac(mac) else {
        return Err(Direct::Unavailable);
    };
    // SAFETY: plain socket call; the descriptor is owned right below.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            i32::from(ETH_P_ARP.to_be()),
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(if denied(&e) {
            Direct::NoPrivilege
        } else {
            Direct::Unavailable
        });
    }
    // SAFETY: a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain data; all zero is valid, then filled in.
    let mut ll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    ll.sll_family = libc::AF_PACKET as u16;
    ll.sll_protocol = ETH_P_ARP.to_be();
    ll.sll_ifindex = index as i32;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: a valid descriptor and a sockaddr_ll of the given length.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &ll as *const libc::sockaddr_ll as *const libc::sockaddr,
            len,
        )
    };
    if r != 0 {
        return Err(Direct::Unavailable);
    }
    let Ok(a) = smol::Async::new(fd) else {
        return Err(Direct::Unavailable);
    };
    let req = arp_request(mac, src, target);
    // SAFETY: the storage is larger than a sockaddr_ll; `len` is its size.
    let to = unsafe {
        socket2::SockAddr::try_init(|storage, l| {
            std::ptr::write(storage.cast::<libc::sockaddr_ll>(), ll);
            *l = len;
            Ok(())
        })
    };
    let Ok(((), to)) = to else {
        return Err(Direct::Unavailable);
    };
    Ok((a, req.to_vec(), to))
}

/// Sends `req` to `to` on `a`, then waits up to `wait` for the first datagram
/// `answer` accepts. ARP and NDP share it (one copy of the read loop).
async fn exchange(
    a: &smol::Async<OwnedFd>,
    req: &[u8],
    to: &socket2::SockAddr,
    answer: &(dyn Fn(&[u8]) -> Option<String> + Sync),
    wait: Duration,
) -> Direct {
    let start = Instant::now();
    let sent = a
        .write_with(|fd| {
            // SAFETY: the request and the address outlive the call.
            let n = unsafe {
                libc::sendto(
                    fd.as_raw_fd(),
                    req.as_ptr() as *const libc::c_void,
                    req.len(),
                    0,
                    to.as_ptr().cast::<libc::sockaddr>(),
                    to.len(),
                )
            };
            if n < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        })
        .await;
    if sent.is_err() {
        return Direct::Unavailable;
    }
    let replies = async {
        let mut buf = [0u8; 1500];
        loop {
            let got = a
                .read_with(|fd| {
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
                        Err(std::io::Error::last_os_error())
                    } else {
                        Ok(n as usize)
                    }
                })
                .await;
            match got {
                Ok(n) => {
                    if let Some(m) = answer(&buf[..n]) {
                        return Some(m);
                    }
                }
                Err(_) => return None,
            }
        }
    };
    let late = async {
        smol::Timer::after(wait).await;
        None
    };
    match smol::future::or(replies, late).await {
        Some(m) => Direct::Reply(m, start.elapsed()),
        None => Direct::NoReply,
    }
}

/// The neighbour solicitation for `target` (the kernel fills in the checksum).
pub fn ns_request(mac: [u8; 6], target: Ipv6Addr) -> Vec<u8> {
    let mut p = vec![135, 0, 0, 0, 0, 0, 0, 0];
    p.extend_from_slice(&target.octets());
    p.extend_from_slice(&[1, 1]);
    p.extend_from_slice(&mac);
    p
}

/// The advertised MAC (or "no MAC") when `p` is an advertisement for `target`.
pub fn na_for(p: &[u8], target: Ipv6Addr) -> Option<String> {
    if p.len() < 24 || p[0] != 136 || p[1] != 0 || p[8..24] != target.octets() {
        return None;
    }
    let mut opts = &p[24..];
    while opts.len() >= 8 {
        let len = usize::from(opts[1]) * 8;
        if len == 0 || len > opts.len() {
            break;
        }
        if opts[0] == 2 && len >= 8 {
            return Some(mac_of(&opts[2..8]));
        }
        opts = &opts[len..];
    }
    Some("no MAC".into())
}

/// The neighbour solicitation for `target` on interface `index`, and its socket.
fn ndp(target: Ipv6Addr, index: u32, mac: &str) -> Setup {
    use socket2::{Domain, Protocol, Socket, Type};
    let Some(mac) = parse_mac(mac) else {
        return Err(Direct::Unavailable);
    };
    let s = match Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)) {
        Ok(s) => s,
        Err(e) if denied(&e) => return Err(Direct::NoPrivilege),
        Err(_) => return Err(Direct::Unavailable),
    };
    // NDP messages must carry hop limit 255 (RFC 4861), to the
    // solicited-node group of the target, out of the route's interface.
    let o = target.octets();
    let group = Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    );
    let setup = s
        .set_multicast_hops_v6(255)
        .and_then(|()| s.set_unicast_hops_v6(255))
        .and_then(|()| s.set_multicast_if_v6(index))
        .and_then(|()| s.set_nonblocking(true));
    if setup.is_err() {
        return Err(Direct::Unavailable);
    }
    let Ok(a) = smol::Async::new(OwnedFd::from(s)) else {
        return Err(Direct::Unavailable);
    };
    let to: socket2::SockAddr = SocketAddr::V6(SocketAddrV6::new(group, 0, 0, index)).into();
    let req = ns_request(mac, target);
    Ok((a, req, to))
}

/// ARP or NDP for `gw`, as the family says.
pub async fn ask(
    gw: IpAddr,
    index: u32,
    mac: &str,
    src: Option<Ipv4Addr>,
    wait: Duration,
) -> Direct {
    // The setups are plain functions and the exchange one await for both.
    let setup = match gw {
        IpAddr::V4(v4) => match src {
            Some(s) => arp(v4, index, mac, s),
            None => Err(Direct::Unavailable),
        },
        IpAddr::V6(v6) => ndp(v6, index, mac),
    };
    let (a, req, to) = match setup {
        Ok(s) => s,
        Err(d) => return d,
    };
    let answer = |p: &[u8]| match gw {
        IpAddr::V4(t) => arp_reply_from(p, t),
        IpAddr::V6(t) => na_for(p, t),
    };
    exchange(&a, &req, &to, &answer, wait).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_and_ndp_packets() {
        let mac = parse_mac("02:00:00:00:00:01").unwrap();
        assert_eq!(parse_mac("02:00"), None);
        assert_eq!(parse_mac("02:00:00:00:00:01:02"), None);
        let gw: Ipv4Addr = "192.0.2.1".parse().unwrap();
        let mut reply = arp_request([2, 0, 0, 0, 0, 9], gw, "192.0.2.2".parse().unwrap());
        assert_eq!(arp_reply_from(&reply, gw), None, "a request is no reply");
        reply[7] = 2;
        assert_eq!(
            arp_reply_from(&reply, gw).as_deref(),
            Some("02:00:00:00:00:09")
        );
        assert_eq!(arp_reply_from(&reply[..20], gw), None);
        let t: Ipv6Addr = "fe80::1".parse().unwrap();
        let mut na = ns_request(mac, t);
        na[0] = 136;
        na[24] = 2;
        assert_eq!(na_for(&na, t).as_deref(), Some("02:00:00:00:00:01"));
        for n in 0..na.len() {
            let _ = na_for(&na[..n], t);
        }
        na[25] = 0;
        assert_eq!(na_for(&na, t).as_deref(), Some("no MAC"));
    }
}
