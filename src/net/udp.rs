//! UDP sockets: options, multicast membership, and the Windows reset quirk.

use super::sockopt::{self, SockOpts};
use async_net::UdpSocket;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// What a UDP socket needs beyond the common options.
#[derive(Debug, Clone, Default)]
pub struct UdpOpts {
    pub broadcast: bool,
    /// Share the port with other members of the group (several netcrabs
    /// on one host can listen to one group).
    pub multicast: bool,
    pub mc_loop: bool,
}

/// Bind a UDP socket with the options applied.
pub fn bind(addr: SocketAddr, opts: &SockOpts, u: &UdpOpts) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        // `*:PORT` binds 0.0.0.0 and [::] side by side.
        s.set_only_v6(true)?;
    }
    if u.multicast {
        sockopt::reuse_addr(&s)?;
        #[cfg(all(unix, not(target_os = "solaris"), not(target_os = "illumos")))]
        s.set_reuse_port(true)?;
    }
    // Unicast TTL only without multicast: there --ttl is the multicast TTL.
    let common = SockOpts {
        ttl: if u.multicast { None } else { opts.ttl },
        ..*opts
    };
    common.apply(&s, addr.is_ipv6())?;
    if u.broadcast {
        s.set_broadcast(true)?;
    }
    if addr.is_ipv4() {
        s.set_multicast_loop_v4(u.mc_loop)?;
        s.set_multicast_ttl_v4(opts.ttl.unwrap_or(1))?;
    } else {
        s.set_multicast_loop_v6(u.mc_loop)?;
        s.set_multicast_hops_v6(opts.ttl.unwrap_or(1))?;
    }
    s.bind(&addr.into())?;
    disable_connreset(&s);
    UdpSocket::try_from(std::net::UdpSocket::from(s))
}

/// Join `group` on socket `s`. IPv4 uses `ip_mreq` with an interface
/// address (qemu-user mistranslates `ip_mreqn`), IPv6 an interface index.
pub fn join(s: &UdpSocket, group: IpAddr, iface: &McIface) -> io::Result<()> {
    let sock = socket2::SockRef::from(s);
    match group {
        IpAddr::V4(g) => {
            let ifaddr = match iface {
                McIface::V4(a) => *a,
                _ => Ipv4Addr::UNSPECIFIED,
            };
            if !ifaddr.is_unspecified() {
                tolerate_missing(sock.set_multicast_if_v4(&ifaddr))?;
            }
            sock.join_multicast_v4(&g, &ifaddr)
                .map_err(|e| explain_join(e, iface))
        }
        IpAddr::V6(g) => {
            let idx = match iface {
                McIface::Index(i) => *i,
                _ => 0,
            };
            if idx != 0 {
                tolerate_missing(sock.set_multicast_if_v6(idx))?;
            }
            sock.join_multicast_v6(&g, idx)
                .map_err(|e| explain_join(e, iface))
        }
    }
}

/// A failed join names the interface it tried and, when the system found none (ENODEV: no
/// route to the multicast range on a link set up without one), how to name one.
fn explain_join(e: io::Error, iface: &McIface) -> io::Error {
    let tried = match iface {
        McIface::Default => "the default interface (the route to the group)".to_string(),
        McIface::V4(a) if a.is_unspecified() => {
            "the default interface (the route to the group)".to_string()
        }
        McIface::V4(a) => format!("the interface with address {a}"),
        McIface::Index(i) => format!("interface index {i}"),
    };
    let hint = if e.raw_os_error() == Some(ENODEV) {
        "; no such interface: give one with --mc-if NAME|ADDR, or add a route to the group's range"
    } else {
        ""
    };
    let msg = format!("{} on {tried}{hint}", crate::error::describe(&e));
    crate::error::phrased(e.kind(), msg)
}

#[cfg(unix)]
const ENODEV: i32 = libc::ENODEV;
#[cfg(not(unix))]
const ENODEV: i32 = i32::MIN; // no such code from Winsock: no hint there

/// qemu-user does not implement IP_MULTICAST_IF (ENOPROTOOPT). Sending then
/// follows the routing table, and the join still names the interface for
/// receiving, so carry on without it.
fn tolerate_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.raw_os_error() == Some(ENOPROTOOPT) => Ok(()),
        other => other,
    }
}

#[cfg(unix)]
const ENOPROTOOPT: i32 = libc::ENOPROTOOPT;
#[cfg(not(unix))]
const ENOPROTOOPT: i32 = 10042; // WSAENOPROTOOPT

/// The interface multicast uses (`--mc-if`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McIface {
    Default,
    V4(Ipv4Addr),
    Index(u32),
}

/// Resolve `--mc-if`: an IPv4 address, or an interface name / index (for
/// IPv4 the name is turned into that interface's first IPv4 address).
pub fn mc_iface(spec: Option<&str>, v4: bool) -> Result<McIface, String> {
    let Some(spec) = spec else {
        return Ok(McIface::Default);
    };
    if let Ok(a) = spec.parse::<Ipv4Addr>() {
        return Ok(McIface::V4(a));
    }
    let idx = super::ifaces::scope_id(spec)
        .ok_or_else(|| format!("unknown interface '{spec}' for --mc-if"))?;
    if !v4 {
        return Ok(McIface::Index(idx));
    }
    let addrs = super::ifaces::local_addrs().map_err(|e| format!("--mc-if '{spec}': {e}"))?;
    addrs
        .iter()
        .find_map(|i| match i.ip {
            IpAddr::V4(a) if i.name == spec => Some(McIface::V4(a)),
            _ => None,
        })
        .ok_or_else(|| format!("interface '{spec}' has no IPv4 address for --mc-if"))
}

/// Windows reports an ICMP port-unreachable from an earlier send as
/// WSAECONNRESET on the next receive, which would end a UDP listener.
/// SIO_UDP_CONNRESET turns that off.
#[cfg(windows)]
fn disable_connreset(s: &Socket) {
    use std::os::windows::io::AsRawSocket;
    const SIO_UDP_CONNRESET: u32 = 0x9800_000C;
    #[link(name = "ws2_32")]
    extern "system" {
        fn WSAIoctl(
            s: usize,
            code: u32,
            inbuf: *const core::ffi::c_void,
            inlen: u32,
            outbuf: *mut core::ffi::c_void,
            outlen: u32,
            returned: *mut u32,
            overlapped: *mut core::ffi::c_void,
            completion: *mut core::ffi::c_void,
        ) -> i32;
    }
    let off: u32 = 0;
    let mut returned: u32 = 0;
    // SAFETY: a valid socket handle and buffers that outlive the call. A
    // failure only leaves the default on, which the receive loop tolerates.
    unsafe {
        WSAIoctl(
            s.as_raw_socket() as usize,
            SIO_UDP_CONNRESET,
            &off as *const u32 as *const _,
            4,
            std::ptr::null_mut(),
            0,
            &mut returned,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
    }
}

#[cfg(not(windows))]
fn disable_connreset(_: &Socket) {}

/// Have the kernel report ICMP errors (port unreachable) for datagrams this
/// unconnected socket sends (Linux: IP_RECVERR / IPV6_RECVERR). Each error
/// is then queued on the socket's error queue, which
/// [`take_unreachable`] drains. Elsewhere nothing is reported.
#[cfg(target_os = "linux")]
pub fn report_unreachable(s: &UdpSocket, v6: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    let (level, name) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::IPPROTO_IP, libc::IP_RECVERR)
    };
    // SAFETY: a valid descriptor and an int-sized option value.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            &on as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Drain the socket's error queue (never blocks): the destination and the
/// error of each datagram an ICMP error came back for, at most `max`.
/// Entries that are not ICMP port-unreachable (ECONNREFUSED) are dropped.
#[cfg(target_os = "linux")]
pub fn take_unreachable(fd: std::os::fd::RawFd, out: &mut Vec<SocketAddr>, max: usize) -> usize {
    let mut taken = 0;
    // Bounded: the queue is limited by the receive buffer, and `max`
    // keeps one call short.
    while taken < max {
        // SAFETY: zeroed plain C structs; recvmsg writes within the
        // lengths given, and the control buffer is aligned for cmsghdr.
        let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut data = [0u8; 64];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        let mut control = [0u64; 64];
        // SAFETY: msghdr is a plain C struct; all zeroes is a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = &mut name as *mut _ as *mut libc::c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: msg points at live buffers for the whole call.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if n < 0 {
            break; // EAGAIN: the queue is empty
        }
        taken += 1;
        let mut refused = false;
        // SAFETY: the CMSG macros walk the control buffer recvmsg filled.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let h = &*c;
                let ours = (h.cmsg_level == libc::IPPROTO_IP && h.cmsg_type == libc::IP_RECVERR)
                    || (h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_RECVERR);
                if ours {
                    let e = std::ptr::read_unaligned(
                        libc::CMSG_DATA(c) as *const libc::sock_extended_err
                    );
                    refused |= e.ee_errno == libc::ECONNREFUSED as u32;
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        if !refused {
            continue;
        }
        if let Some(a) = from_storage(&name) {
            out.push(a);
        }
    }
    taken
}

/// The address in a `sockaddr_storage` the kernel filled (IPv4 or IPv6).
#[cfg(target_os = "linux")]
fn from_storage(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{SocketAddrV4, SocketAddrV6};
    match s.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a = unsafe { &*(s as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe { &*(s as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                a.sin6_addr.s6_addr.into(),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}
