//! ICMP echo with a round trip. Linux: an unprivileged ICMP datagram socket
//! when net.ipv4.ping_group_range holds our group, else a raw socket (root
//! or CAP_NET_RAW). Windows: IcmpSendEcho (IPv4). Elsewhere: not tried.

#[cfg(windows)]
use std::net::IpAddr;
use std::net::SocketAddr;
use std::time::Duration;

pub use super::echo::Echo;

/// The echo request: type, code 0, checksum, identifier, sequence, then a
/// payload that carries a random token (a ping socket rewrites the identifier).
#[cfg(unix)]
fn request(v6: bool, token: &[u8; 8]) -> Vec<u8> {
    let mut p = vec![if v6 { 128 } else { 8 }, 0, 0, 0, 0x6e, 0x63, 0, 1];
    p.extend_from_slice(token);
    p.extend_from_slice(b"netcrab-check");
    if !v6 {
        // IPv6's checksum covers a pseudo-header: the kernel fills it in.
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// The Internet checksum (RFC 1071).
#[cfg(unix)]
fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in b.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum = sum.wrapping_add(u32::from(w));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Whether `b` (raw IPv4 packets start with the IP header) is our echo reply.
#[cfg(unix)]
pub fn is_reply(mut b: &[u8], v6: bool, raw: bool, token: &[u8; 8]) -> bool {
    if raw && !v6 {
        let Some(&first) = b.first() else {
            return false;
        };
        let ihl = usize::from(first & 0x0f) * 4;
        if first >> 4 != 4 || ihl < 20 || b.len() < ihl {
            return false;
        }
        b = &b[ihl..];
    }
    b.len() >= 16 && b[0] == if v6 { 129 } else { 0 } && b[1] == 0 && &b[8..16] == token
}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub async fn echo(dst: SocketAddr, wait: Duration) -> Echo {
    use socket2::{Domain, Protocol, Socket, Type};
    let v6 = dst.is_ipv6();
    let (domain, proto) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    let denied = |e: &std::io::Error| {
        matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM))
            || e.raw_os_error() == Some(libc::EPROTONOSUPPORT)
    };
    let (sock, how, raw) = match Socket::new(domain, Type::DGRAM, Some(proto)) {
        Ok(s) => (s, "ping socket", false),
        Err(e) if denied(&e) => match Socket::new(domain, Type::RAW, Some(proto)) {
            Ok(s) => (s, "raw socket", true),
            Err(e) if denied(&e) => return Echo::NoPrivilege,
            Err(e) => return Echo::Error(crate::error::describe(&e)),
        },
        Err(e) => return Echo::Error(crate::error::describe(&e)),
    };
    let mut token = [0u8; 8];
    let _ = getrandom::fill(&mut token);
    let pkt = request(v6, &token);
    let Ok(a) = sock
        .set_nonblocking(true)
        .and_then(|()| smol::Async::new(sock))
    else {
        return Echo::Error("cannot register the ICMP socket".into());
    };
    let start = std::time::Instant::now();
    // A raw IPv6 socket takes the port field as the protocol: 0 here.
    let mut dst = dst;
    dst.set_port(0);
    let to: socket2::SockAddr = dst.into();
    let sent = a.write_with(|s| s.send_to(&pkt, &to)).await;
    if let Err(e) = sent {
        return Echo::Error(format!(
            "sending the echo request: {}",
            crate::error::describe(&e)
        ));
    }
    let replied = async {
        let mut buf = [0u8; 1500];
        loop {
            let got = a
                .read_with(|s| {
                    use std::io::Read;
                    (&*s).read(&mut buf)
                })
                .await;
            match got {
                Ok(n) if is_reply(&buf[..n], v6, raw, &token) => return true,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
    };
    let timeout = async {
        smol::Timer::after(wait).await;
        false
    };
    if smol::future::or(replied, timeout).await {
        Echo::Reply(start.elapsed(), how)
    } else {
        Echo::NoReply(how)
    }
}

#[cfg(windows)]
pub async fn echo(dst: SocketAddr, wait: Duration) -> Echo {
    match dst.ip() {
        IpAddr::V4(v4) => smol::unblock(move || super::win::icmp_echo(v4, wait)).await,
        IpAddr::V6(_) => Echo::Error("ICMPv6 echo is not implemented on Windows".into()),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", windows)))]
pub async fn echo(_dst: SocketAddr, _wait: Duration) -> Echo {
    Echo::Error("ICMP echo is not implemented on this platform".into())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn echo_request_and_reply() {
        let t = [1, 2, 3, 4, 5, 6, 7, 8];
        let p = request(false, &t);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        let mut reply = p.clone();
        reply[0] = 0;
        assert!(is_reply(&reply, false, false, &t));
        let mut ip = vec![0x45; 1];
        ip.extend_from_slice(&[0; 19]);
        ip.extend_from_slice(&reply);
        assert!(is_reply(&ip, false, true, &t));
        assert!(!is_reply(&p, false, false, &t));
        for n in 0..ip.len() {
            let _ = is_reply(&ip[..n], false, true, &t);
        }
        let mut r6 = request(true, &t);
        r6[0] = 129;
        assert!(is_reply(&r6, true, true, &t));
    }
}
