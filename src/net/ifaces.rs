//! The local interfaces and their addresses (for `:PORT` listeners,
//! `--mc-if` and `--ifaces`).

use std::net::IpAddr;

/// One address of one interface.
#[derive(Debug, Clone)]
pub struct IfAddr {
    pub name: String,
    pub ip: IpAddr,
    /// Prefix length of the netmask, when known.
    pub prefix: Option<u8>,
    /// The subnet broadcast address (IPv4), when the interface has one.
    pub broadcast: Option<IpAddr>,
    /// IPv6 scope (interface index) for link-local addresses, else 0.
    pub scope: u32,
    pub up: bool,
    pub loopback: bool,
    pub can_broadcast: bool,
    pub can_multicast: bool,
}

/// Every address of every interface that is up.
pub fn local_addrs() -> std::io::Result<Vec<IfAddr>> {
    Ok(all_addrs()?.into_iter().filter(|a| a.up).collect())
}

#[cfg(unix)]
fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<(IpAddr, u32)> {
    use std::net::{Ipv4Addr, Ipv6Addr};
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

/// Every address of every interface, up or not.
#[cfg(unix)]
pub fn all_addrs() -> std::io::Result<Vec<IfAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        let Some((ip, scope)) = sockaddr_ip(ifa.ifa_addr) else {
            continue;
        };
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let flags = ifa.ifa_flags;
        let has = |f: libc::c_int| flags & (f as libc::c_uint) != 0;
        let prefix = sockaddr_ip(ifa.ifa_netmask).map(|(m, _)| match m {
            IpAddr::V4(m) => u32::from(m).count_ones() as u8,
            IpAddr::V6(m) => u128::from(m).count_ones() as u8,
        });
        let can_broadcast = has(libc::IFF_BROADCAST);
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
        out.push(IfAddr {
            name,
            ip,
            prefix,
            broadcast,
            scope,
            up: has(libc::IFF_UP),
            loopback: has(libc::IFF_LOOPBACK),
            can_broadcast,
            can_multicast: has(libc::IFF_MULTICAST),
        });
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// Every address of every adapter, from GetAdaptersAddresses (iphlpapi).
#[cfg(windows)]
pub fn all_addrs() -> std::io::Result<Vec<IfAddr>> {
    windows::all_addrs()
}

#[cfg(not(any(unix, windows)))]
pub fn all_addrs() -> std::io::Result<Vec<IfAddr>> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "listing local interfaces is not supported on this platform",
    ))
}

/// Subnet broadcast of an IPv4 address with a prefix length.
#[cfg(any(windows, test))]
fn v4_broadcast(ip: std::net::Ipv4Addr, prefix: u8) -> std::net::Ipv4Addr {
    let host_bits = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
    std::net::Ipv4Addr::from(u32::from(ip) | host_bits)
}

#[cfg(windows)]
mod windows {
    //! The few fields of the Windows adapter structures netcrab reads,
    //! laid out as in iptypes.h (64-bit and 32-bit alike via repr(C)).
    use super::{v4_broadcast, IfAddr};
    use std::ffi::c_void;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    #[repr(C)]
    struct SocketAddress {
        sockaddr: *const u8,
        len: i32,
    }

    #[repr(C)]
    struct Unicast {
        length: u32,
        flags: u32,
        next: *const Unicast,
        address: SocketAddress,
        prefix_origin: i32,
        suffix_origin: i32,
        dad_state: i32,
        valid_lifetime: u32,
        preferred_lifetime: u32,
        lease_lifetime: u32,
        on_link_prefix_length: u8,
    }

    #[repr(C)]
    struct Adapter {
        length: u32,
        if_index: u32,
        next: *const Adapter,
        adapter_name: *const u8,
        first_unicast: *const Unicast,
        first_anycast: *const c_void,
        first_multicast: *const c_void,
        first_dns: *const c_void,
        dns_suffix: *const u16,
        description: *const u16,
        friendly_name: *const u16,
        physical: [u8; 8],
        physical_len: u32,
        flags: u32,
        mtu: u32,
        if_type: u32,
        oper_status: i32,
        ipv6_if_index: u32,
    }

    #[link(name = "iphlpapi")]
    extern "system" {
        fn GetAdaptersAddresses(
            family: u32,
            flags: u32,
            reserved: *mut c_void,
            out: *mut u8,
            size: *mut u32,
        ) -> u32;
    }

    const SKIP_ANYCAST_MULTICAST_DNS: u32 = 0x2 | 0x4 | 0x8;
    const ERROR_BUFFER_OVERFLOW: u32 = 111;
    const IF_TYPE_SOFTWARE_LOOPBACK: u32 = 24;
    const NO_MULTICAST: u32 = 0x10;

    fn wide(p: *const u16) -> String {
        if p.is_null() {
            return String::new();
        }
        let mut n = 0;
        // SAFETY: a NUL-terminated UTF-16 string owned by the adapter list.
        while unsafe { *p.add(n) } != 0 {
            n += 1;
        }
        // SAFETY: `n` code units were just read.
        String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, n) })
    }

    fn ip_of(sa: *const u8) -> Option<(IpAddr, u32)> {
        if sa.is_null() {
            return None;
        }
        // SAFETY: a sockaddr from the adapter list; the family says its size.
        unsafe {
            match u16::from_ne_bytes([*sa, *sa.add(1)]) {
                2 => {
                    let b = std::slice::from_raw_parts(sa.add(4), 4);
                    Some((IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])), 0))
                }
                23 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(std::slice::from_raw_parts(sa.add(8), 16));
                    let s = std::slice::from_raw_parts(sa.add(24), 4);
                    Some((
                        IpAddr::V6(Ipv6Addr::from(a)),
                        u32::from_ne_bytes([s[0], s[1], s[2], s[3]]),
                    ))
                }
                _ => None,
            }
        }
    }

    pub fn all_addrs() -> std::io::Result<Vec<IfAddr>> {
        let mut size: u32 = 16 * 1024;
        let mut buf: Vec<u64>;
        loop {
            // u64 elements keep the buffer aligned for the structures.
            buf = vec![0u64; (size as usize).div_ceil(8)];
            // SAFETY: `buf` has room for `size` bytes.
            let r = unsafe {
                GetAdaptersAddresses(
                    0,
                    SKIP_ANYCAST_MULTICAST_DNS,
                    std::ptr::null_mut(),
                    buf.as_mut_ptr() as *mut u8,
                    &mut size,
                )
            };
            match r {
                0 => break,
                ERROR_BUFFER_OVERFLOW => continue,
                e => return Err(std::io::Error::from_raw_os_error(e as i32)),
            }
        }
        let mut out = Vec::new();
        let mut ad = buf.as_ptr() as *const Adapter;
        while !ad.is_null() {
            // SAFETY: a node of the list GetAdaptersAddresses wrote into `buf`.
            let a = unsafe { &*ad };
            ad = a.next;
            let name = wide(a.friendly_name);
            let loopback = a.if_type == IF_TYPE_SOFTWARE_LOOPBACK;
            let mut u = a.first_unicast;
            while !u.is_null() {
                // SAFETY: a node of the unicast list inside `buf`.
                let ua = unsafe { &*u };
                u = ua.next;
                let Some((ip, scope)) = ip_of(ua.address.sockaddr) else {
                    continue;
                };
                let prefix = ua.on_link_prefix_length;
                let broadcast = match ip {
                    IpAddr::V4(v4) if !loopback => Some(IpAddr::V4(v4_broadcast(v4, prefix))),
                    _ => None,
                };
                out.push(IfAddr {
                    name: name.clone(),
                    ip,
                    prefix: Some(prefix),
                    broadcast,
                    scope,
                    up: a.oper_status == 1,
                    loopback,
                    can_broadcast: broadcast.is_some(),
                    can_multicast: a.flags & NO_MULTICAST == 0,
                });
            }
        }
        Ok(out)
    }
}

/// The interface index of a zone name (`eth0`) or number (`2`).
pub fn scope_id(zone: &str) -> Option<u32> {
    if let Ok(n) = zone.parse::<u32>() {
        return Some(n);
    }
    #[cfg(windows)]
    if let Ok(list) = all_addrs() {
        if let Some(a) = list.iter().find(|a| a.name == zone && a.scope != 0) {
            return Some(a.scope);
        }
    }
    #[cfg(unix)]
    {
        let c = std::ffi::CString::new(zone).ok()?;
        // SAFETY: `c` is a valid NUL-terminated string.
        let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
        if idx != 0 {
            return Some(idx);
        }
    }
    None
}

/// `--ifaces`: one line per address, grouped by interface.
pub fn report() -> std::io::Result<String> {
    use std::fmt::Write;
    let mut addrs = all_addrs()?;
    // Group by interface, keeping the order interfaces first appear in.
    let mut order: Vec<String> = Vec::new();
    for a in &addrs {
        if !order.contains(&a.name) {
            order.push(a.name.clone());
        }
    }
    addrs.sort_by_key(|a| order.iter().position(|n| *n == a.name));
    let mut out = String::new();
    let mut last = String::new();
    for a in &addrs {
        if a.name != last {
            let mut flags = vec![if a.up { "up" } else { "down" }];
            for (on, name) in [
                (a.loopback, "loopback"),
                (a.can_broadcast, "broadcast"),
                (a.can_multicast, "multicast"),
            ] {
                if on {
                    flags.push(name);
                }
            }
            let _ = writeln!(out, "{}: {}", a.name, flags.join(","));
            last = a.name.clone();
        }
        let family = if a.ip.is_ipv4() { "inet " } else { "inet6" };
        let _ = write!(out, "    {family} {}", a.ip);
        if let Some(p) = a.prefix {
            let _ = write!(out, "/{p}");
        }
        if a.scope != 0 {
            let _ = write!(out, " scope {}", a.scope);
        }
        if let Some(b) = a.broadcast {
            let _ = write!(out, " broadcast {b}");
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn broadcast_from_prefix() {
        let b = super::v4_broadcast("10.1.2.3".parse().unwrap(), 24);
        assert_eq!(b.to_string(), "10.1.2.255");
        assert_eq!(
            super::v4_broadcast("10.1.2.3".parse().unwrap(), 0).to_string(),
            "255.255.255.255"
        );
        assert_eq!(
            super::v4_broadcast("10.1.2.3".parse().unwrap(), 32).to_string(),
            "10.1.2.3"
        );
    }
}
