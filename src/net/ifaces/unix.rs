//! getifaddrs: every link and every address (Linux and other Unixes), plus
//! each link's MTU from SIOCGIFMTU.

use super::{IfAddr, Link};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<(IpAddr, u32)> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: non-null; the family field says which struct it is.
    match unsafe { (*sa).sa_family } as libc::c_int {
        libc::AF_INET => {
            // SAFETY: AF_INET means a sockaddr_in.
            let sin = unsafe { &*(sa as *const libc::sockaddr_in) };
            Some((
                IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))),
                0,
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: AF_INET6 means a sockaddr_in6.
            let sin6 = unsafe { &*(sa as *const libc::sockaddr_in6) };
            Some((
                IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)),
                sin6.sin6_scope_id,
            ))
        }
        _ => None,
    }
}

/// The hardware address of a link entry (Linux: a sockaddr_ll).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn sockaddr_mac(sa: *const libc::sockaddr) -> Option<String> {
    // SAFETY: checked non-null first; the family says it is a sockaddr_ll.
    if sa.is_null() || unsafe { (*sa).sa_family } as libc::c_int != libc::AF_PACKET {
        return None;
    }
    // SAFETY: AF_PACKET means a sockaddr_ll.
    let ll = unsafe { &*(sa as *const libc::sockaddr_ll) };
    let n = usize::from(ll.sll_halen).min(ll.sll_addr.len());
    super::mac_text(&ll.sll_addr[..n])
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn sockaddr_mac(_sa: *const libc::sockaddr) -> Option<String> {
    None
}

/// The operational state and carrier from the flags. Linux puts the link's
/// RFC 2863 state into IFF_RUNNING / IFF_DORMANT and the carrier into
/// IFF_LOWER_UP; elsewhere only IFF_RUNNING says anything.
fn state_of(flags: libc::c_uint) -> (Option<&'static str>, Option<bool>) {
    let has = |f: libc::c_int| flags & (f as libc::c_uint) != 0;
    let state = if !has(libc::IFF_UP) {
        "down"
    } else if has(libc::IFF_RUNNING) {
        "up"
    } else {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if has(libc::IFF_DORMANT) {
            return (Some("dormant"), Some(has(libc::IFF_LOWER_UP)));
        }
        "down"
    };
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let carrier = Some(has(libc::IFF_LOWER_UP));
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let carrier = None;
    (Some(state), carrier)
}

/// Links (in the order the OS lists them) and every address, up or not.
pub fn walk() -> std::io::Result<(Vec<Link>, Vec<IfAddr>)> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut links: Vec<Link> = Vec::new();
    let mut addrs = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let flags = ifa.ifa_flags;
        let has = |f: libc::c_int| flags & (f as libc::c_uint) != 0;
        let can_broadcast = has(libc::IFF_BROADCAST);
        // An address of `eth0:1` (a Linux label) belongs to link `eth0`.
        let base = name.split(':').next().unwrap_or(&name);
        if !links.iter().any(|l| l.name == base || l.name == name) {
            let (state, carrier) = state_of(flags);
            links.push(Link {
                name: name.clone(),
                up: has(libc::IFF_UP),
                state,
                carrier,
                loopback: has(libc::IFF_LOOPBACK),
                can_broadcast,
                can_multicast: has(libc::IFF_MULTICAST),
                ..Link::default()
            });
        }
        let Some((ip, scope)) = sockaddr_ip(ifa.ifa_addr) else {
            if let Some(mac) = sockaddr_mac(ifa.ifa_addr) {
                if let Some(l) = links.iter_mut().find(|l| l.name == name) {
                    l.mac = Some(mac);
                }
            }
            continue;
        };
        let prefix = sockaddr_ip(ifa.ifa_netmask).map(|(m, _)| match m {
            IpAddr::V4(m) => u32::from(m).count_ones() as u8,
            IpAddr::V6(m) => u128::from(m).count_ones() as u8,
        });
        // On Linux the broadcast address shares a union with the peer address.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let brd = ifa.ifa_ifu;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let brd = ifa.ifa_dstaddr;
        let broadcast = if can_broadcast && ip.is_ipv4() {
            sockaddr_ip(brd).map(|(b, _)| b)
        } else {
            None
        };
        addrs.push(IfAddr {
            name,
            ip,
            prefix,
            broadcast,
            peer: None,
            tentative: false,
            dad_failed: false,
            deprecated: false,
            scope,
            up: has(libc::IFF_UP),
            loopback: has(libc::IFF_LOOPBACK),
            can_broadcast,
            can_multicast: has(libc::IFF_MULTICAST),
        });
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    correct(&mut addrs);
    Ok((links, addrs))
}

/// getifaddrs fills the broadcast slot with the address itself when none was
/// set (`ip addr add A/24 dev X` without `brd`), and with the peer on a
/// point-to-point address. rtnetlink says which is which, and adds the
/// IFA_F_* flags; without it, a "broadcast" equal to the address is dropped.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn correct(addrs: &mut [IfAddr]) {
    use super::netlink;
    let Ok(nl) = netlink::addrs() else {
        for a in addrs.iter_mut() {
            if a.broadcast == Some(a.ip) {
                a.broadcast = None;
            }
        }
        return;
    };
    for a in addrs.iter_mut() {
        let base = a.name.split(':').next().unwrap_or(&a.name);
        let index = index_of(base);
        let found = nl.iter().find(|n| {
            n.ip() == Some(a.ip)
                && (Some(n.index) == index || n.label.as_deref() == Some(a.name.as_str()))
        });
        let Some(n) = found else {
            if a.broadcast == Some(a.ip) {
                a.broadcast = None;
            }
            continue;
        };
        a.peer = n.peer();
        a.broadcast = if a.ip.is_ipv4() { n.broadcast } else { None };
        a.tentative = n.flags & netlink::IFA_F_TENTATIVE != 0;
        a.dad_failed = n.flags & netlink::IFA_F_DADFAILED != 0;
        a.deprecated = n.flags & netlink::IFA_F_DEPRECATED != 0;
    }
}

/// Elsewhere the broadcast slot is the broadcast address (or the peer, with
/// IFF_POINTOPOINT, which is not read here): only the self-copy is dropped.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn correct(addrs: &mut [IfAddr]) {
    for a in addrs.iter_mut() {
        if a.broadcast == Some(a.ip) {
            a.broadcast = None;
        }
    }
}

/// Each link's index and MTU (only `--ifaces` needs them).
pub fn fill_in(links: &mut [Link]) {
    let probe = MtuProbe::new();
    for l in links {
        l.index = index_of(&l.name);
        l.mtu = probe.as_ref().and_then(|p| p.mtu(&l.name));
    }
}

fn index_of(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}

/// A datagram socket to ask the kernel for MTUs with SIOCGIFMTU.
struct MtuProbe(std::os::fd::OwnedFd);

impl MtuProbe {
    fn new() -> Option<MtuProbe> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket call; the descriptor is owned below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
        // SAFETY: a fresh descriptor that nothing else owns.
        (fd >= 0).then(|| MtuProbe(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn mtu(&self, name: &str) -> Option<u32> {
        use std::os::fd::AsRawFd;
        // SAFETY: ifreq is plain data; all zero is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        let bytes = name.as_bytes();
        if bytes.len() >= req.ifr_name.len() {
            return None;
        }
        for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        // SAFETY: SIOCGIFMTU reads the name from `req` and writes the MTU into it.
        let r = unsafe { libc::ioctl(self.0.as_raw_fd(), libc::SIOCGIFMTU as _, &mut req) };
        // SAFETY: on success the kernel wrote the mtu member of the union.
        let mtu = unsafe { req.ifr_ifru.ifru_mtu };
        (r == 0).then(|| u32::try_from(mtu).ok()).flatten()
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn mtu(&self, _name: &str) -> Option<u32> {
        None
    }
}
