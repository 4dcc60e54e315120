//! The local interfaces and their addresses (for `:PORT` listeners,
//! `--mc-if` and `--ifaces`), and for `--ifaces` also each link's state, the
//! default routes and the DNS configuration.

#[cfg(any(target_os = "linux", target_os = "android"))]
#[cfg_attr(not(feature = "check"), allow(dead_code))]
pub mod netlink;
mod report;
#[cfg(any(unix, test))]
mod resolv;
#[cfg(any(target_os = "linux", target_os = "android", test))]
mod routes;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

pub use report::{json, looks_connected, text};
#[cfg(feature = "check")]
pub use report::{json_parts, scope_name};

use std::net::IpAddr;

/// One address of one interface.
#[derive(Debug, Clone)]
pub struct IfAddr {
    pub name: String,
    pub ip: IpAddr,
    /// Prefix length of the netmask, when known.
    pub prefix: Option<u8>,
    /// The subnet broadcast address (IPv4), when the address has one.
    pub broadcast: Option<IpAddr>,
    /// The other end of a point-to-point address (`ip addr add A peer P`).
    pub peer: Option<IpAddr>,
    /// Duplicate address detection has not finished (IPv6; also IPv4 ACD).
    pub tentative: bool,
    /// Duplicate address detection found the address in use elsewhere.
    pub dad_failed: bool,
    /// Deprecated (preferred lifetime over): kept, not used for new traffic.
    pub deprecated: bool,
    /// IPv6 scope (interface index) for link-local addresses, else 0.
    pub scope: u32,
    pub up: bool,
    pub loopback: bool,
    pub can_broadcast: bool,
    pub can_multicast: bool,
}

/// One interface as a link: what `--ifaces` shows above its addresses.
/// `None` means the OS does not say.
#[derive(Debug, Clone, Default)]
pub struct Link {
    pub name: String,
    pub index: Option<u32>,
    /// Administratively up (Windows: operationally up, the only state it gives here).
    pub up: bool,
    /// Operational state: `up`, `down`, `dormant`, `testing`, `unknown`,
    /// `notpresent` or `lowerlayerdown`.
    pub state: Option<&'static str>,
    pub carrier: Option<bool>,
    pub mtu: Option<u32>,
    /// Hardware address as `aa:bb:cc:dd:ee:ff`; `None` when it has none.
    pub mac: Option<String>,
    pub loopback: bool,
    pub can_broadcast: bool,
    pub can_multicast: bool,
    /// IPv4 DHCP on (Windows only).
    pub dhcp: Option<bool>,
}

/// One default route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The next hop; `None` for a default route straight onto a link.
    pub gateway: Option<IpAddr>,
    pub iface: String,
    pub metric: Option<u32>,
}

/// The resolver's configuration.
#[derive(Debug, Clone)]
pub struct Dns {
    /// Where it was read from.
    pub source: &'static str,
    /// Name server addresses as written (an IPv6 one may carry `%zone`);
    /// `Err` says why they could not be read.
    pub servers: Result<Vec<String>, String>,
    pub search: Vec<String>,
}

/// Everything `--ifaces` reports.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub links: Vec<Link>,
    pub addrs: Vec<IfAddr>,
    /// Default routes per family; `Err` says why the table could not be read.
    pub routes4: Result<Vec<Route>, String>,
    pub routes6: Result<Vec<Route>, String>,
    pub dns: Dns,
}

/// Every address of every interface that is up.
pub fn local_addrs() -> std::io::Result<Vec<IfAddr>> {
    Ok(all_addrs()?.into_iter().filter(|a| a.up).collect())
}

/// Every address of every interface, up or not.
#[cfg(unix)]
pub fn all_addrs() -> std::io::Result<Vec<IfAddr>> {
    unix::walk().map(|(_, addrs)| addrs)
}

/// Every address of every adapter, from GetAdaptersAddresses (iphlpapi).
#[cfg(windows)]
pub fn all_addrs() -> std::io::Result<Vec<IfAddr>> {
    windows::walk().map(|w| w.addrs)
}

#[cfg(not(any(unix, windows)))]
pub fn all_addrs() -> std::io::Result<Vec<IfAddr>> {
    Err(unsupported())
}

#[cfg(not(any(unix, windows)))]
fn unsupported() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "listing local interfaces is not supported on this platform",
    )
}

/// Links, addresses, default routes and DNS, for `--ifaces`.
#[cfg(unix)]
pub fn snapshot() -> std::io::Result<Snapshot> {
    let (mut links, addrs) = unix::walk()?;
    unix::fill_in(&mut links);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let (routes4, routes6) = (routes::default_v4(), routes::default_v6());
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let (routes4, routes6) = {
        let why = || Err("not read on this platform".to_string());
        (why(), why())
    };
    Ok(Snapshot {
        links,
        addrs,
        routes4,
        routes6,
        dns: resolv::read(),
    })
}

#[cfg(windows)]
pub fn snapshot() -> std::io::Result<Snapshot> {
    let w = windows::walk()?;
    Ok(Snapshot {
        links: w.links,
        addrs: w.addrs,
        routes4: Ok(w.routes4),
        routes6: Ok(w.routes6),
        dns: Dns {
            source: "GetAdaptersAddresses",
            servers: Ok(w.dns_servers),
            search: w.dns_search,
        },
    })
}

#[cfg(not(any(unix, windows)))]
pub fn snapshot() -> std::io::Result<Snapshot> {
    Err(unsupported())
}

/// Subnet broadcast of an IPv4 address with a prefix length.
#[cfg(any(windows, test))]
fn v4_broadcast(ip: std::net::Ipv4Addr, prefix: u8) -> std::net::Ipv4Addr {
    let host_bits = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
    std::net::Ipv4Addr::from(u32::from(ip) | host_bits)
}

/// The subnet broadcast of an address where the OS implies one from the
/// prefix (Windows): none for /31 and /32, which have no broadcast (RFC 3021).
#[cfg(any(windows, test))]
fn implied_broadcast(ip: std::net::Ipv4Addr, prefix: u8) -> Option<std::net::Ipv4Addr> {
    (prefix < 31).then(|| v4_broadcast(ip, prefix))
}

/// A hardware address as `aa:bb:cc:dd:ee:ff`; `None` when empty or all zero.
#[cfg(any(unix, windows))]
pub fn mac_text(bytes: &[u8]) -> Option<String> {
    if bytes.iter().all(|&b| b == 0) {
        return None;
    }
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(parts.join(":"))
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
        assert_eq!(
            super::implied_broadcast("10.1.2.3".parse().unwrap(), 32),
            None
        );
        assert_eq!(
            super::implied_broadcast("10.1.2.3".parse().unwrap(), 31),
            None
        );
    }

    #[test]
    fn mac_text_skips_empty_and_zero() {
        assert_eq!(super::mac_text(&[]), None);
        assert_eq!(super::mac_text(&[0; 6]), None);
        assert_eq!(
            super::mac_text(&[0x02, 0xfc, 0, 0, 0, 1]).as_deref(),
            Some("02:fc:00:00:00:01")
        );
    }
}
