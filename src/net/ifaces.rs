//! The addresses of the local interfaces (for `:PORT` listeners).

use std::net::IpAddr;

/// One address of one interface.
#[derive(Debug, Clone)]
pub struct IfAddr {
    pub ip: IpAddr,
    /// IPv6 scope (interface index) for link-local addresses, else 0.
    pub scope: u32,
}

/// Every address of every interface that is up.
#[cfg(unix)]
pub fn local_addrs() -> std::io::Result<Vec<IfAddr>> {
    use std::net::{Ipv4Addr, Ipv6Addr};

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
        if ifa.ifa_addr.is_null() || ifa.ifa_flags & (libc::IFF_UP as libc::c_uint) == 0 {
            continue;
        }
        // SAFETY: ifa_addr is non-null; its family says which struct it is.
        let family = unsafe { (*ifa.ifa_addr).sa_family } as libc::c_int;
        match family {
            libc::AF_INET => {
                // SAFETY: family AF_INET means a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                out.push(IfAddr {
                    ip: IpAddr::V4(ip),
                    scope: 0,
                });
            }
            libc::AF_INET6 => {
                // SAFETY: family AF_INET6 means a sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                out.push(IfAddr {
                    ip: IpAddr::V6(ip),
                    scope: sin6.sin6_scope_id,
                });
            }
            _ => {}
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// Windows: not listed yet; the caller reports that `:PORT` is unavailable.
#[cfg(not(unix))]
pub fn local_addrs() -> std::io::Result<Vec<IfAddr>> {
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
