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

/// Windows: not listed yet; the caller reports that it is unavailable.
#[cfg(not(unix))]
pub fn all_addrs() -> std::io::Result<Vec<IfAddr>> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "listing local interfaces is not supported on this platform yet (use *:PORT)",
    ))
}

/// The interface index of a zone name (`eth0`) or number (`2`).
pub fn scope_id(zone: &str) -> Option<u32> {
    if let Ok(n) = zone.parse::<u32>() {
        return Some(n);
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
pub fn print_all() -> std::io::Result<()> {
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
    print!("{out}");
    Ok(())
}
