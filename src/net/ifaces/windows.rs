//! GetAdaptersAddresses (iphlpapi): adapters, their addresses, gateways and
//! DNS servers in one call. The structures are transcribed from iptypes.h
//! (IP_ADAPTER_ADDRESSES_LH, Vista and later); fields past what an adapter's
//! `length` covers are never read.

use super::{implied_broadcast, mac_text, IfAddr, Link, Route};
use std::ffi::c_void;
use std::mem::{offset_of, size_of};
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

/// IP_ADAPTER_DNS_SERVER_ADDRESS and IP_ADAPTER_GATEWAY_ADDRESS share this shape.
#[repr(C)]
struct AddrNode {
    length: u32,
    reserved: u32,
    next: *const AddrNode,
    address: SocketAddress,
}

/// IP_ADAPTER_DNS_SUFFIX.
#[repr(C)]
struct SuffixNode {
    next: *const SuffixNode,
    string: [u16; 256],
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
    first_dns: *const AddrNode,
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
    zone_indices: [u32; 16],
    first_prefix: *const c_void,
    transmit_link_speed: u64,
    receive_link_speed: u64,
    first_wins: *const c_void,
    first_gateway: *const AddrNode,
    ipv4_metric: u32,
    ipv6_metric: u32,
    luid: u64,
    dhcpv4_server: SocketAddress,
    compartment_id: u32,
    network_guid: [u32; 4],
    connection_type: i32,
    tunnel_type: i32,
    dhcpv6_server: SocketAddress,
    dhcpv6_client_duid: [u8; 130],
    dhcpv6_client_duid_length: u32,
    dhcpv6_iaid: u32,
    first_dns_suffix: *const SuffixNode,
}

// The transcription matches the SDK's sizeof on 64-bit Windows.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<Adapter>() == 448 && offset_of!(Adapter, first_gateway) == 208);

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

const SKIP_ANYCAST: u32 = 0x2;
const SKIP_MULTICAST: u32 = 0x4;
const INCLUDE_GATEWAYS: u32 = 0x80;
const ERROR_BUFFER_OVERFLOW: u32 = 111;
const IF_TYPE_SOFTWARE_LOOPBACK: u32 = 24;
const DHCP_ENABLED: u32 = 0x4;
const NO_MULTICAST: u32 = 0x10;

/// What one GetAdaptersAddresses call tells.
pub struct Walk {
    pub links: Vec<Link>,
    pub addrs: Vec<IfAddr>,
    pub routes4: Vec<Route>,
    pub routes6: Vec<Route>,
    /// DNS servers of the adapters that are up, without repeats.
    pub dns_servers: Vec<String>,
    pub dns_search: Vec<String>,
}

/// A NUL-terminated UTF-16 string, read at most `max` units far.
fn wide(p: *const u16, max: usize) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut n = 0;
    // SAFETY: a NUL-terminated UTF-16 string owned by the adapter list.
    while n < max && unsafe { *p.add(n) } != 0 {
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

/// The addresses of a DNS server or gateway list.
fn node_ips(mut p: *const AddrNode) -> Vec<(IpAddr, u32)> {
    let mut out = Vec::new();
    while !p.is_null() {
        // SAFETY: a node of a list inside the GetAdaptersAddresses buffer.
        let n = unsafe { &*p };
        p = n.next;
        out.extend(ip_of(n.address.sockaddr));
    }
    out
}

/// IF_OPER_STATUS as the words `--ifaces` uses.
fn state_name(s: i32) -> Option<&'static str> {
    Some(match s {
        1 => "up",
        2 => "down",
        3 => "testing",
        4 => "unknown",
        5 => "dormant",
        6 => "notpresent",
        7 => "lowerlayerdown",
        _ => return None,
    })
}

fn call() -> std::io::Result<Vec<u64>> {
    let mut size: u32 = 16 * 1024;
    loop {
        // u64 elements keep the buffer aligned for the structures.
        let mut buf = vec![0u64; (size as usize).div_ceil(8)];
        // SAFETY: `buf` has room for `size` bytes.
        let r = unsafe {
            GetAdaptersAddresses(
                0,
                SKIP_ANYCAST | SKIP_MULTICAST | INCLUDE_GATEWAYS,
                std::ptr::null_mut(),
                buf.as_mut_ptr() as *mut u8,
                &mut size,
            )
        };
        match r {
            0 => return Ok(buf),
            ERROR_BUFFER_OVERFLOW => continue,
            e => return Err(std::io::Error::from_raw_os_error(e as i32)),
        }
    }
}

pub fn walk() -> std::io::Result<Walk> {
    let buf = call()?;
    let mut w = Walk {
        links: Vec::new(),
        addrs: Vec::new(),
        routes4: Vec::new(),
        routes6: Vec::new(),
        dns_servers: Vec::new(),
        dns_search: Vec::new(),
    };
    let mut ad = buf.as_ptr() as *const Adapter;
    while !ad.is_null() {
        // SAFETY: a node of the list GetAdaptersAddresses wrote into `buf`.
        let a = unsafe { &*ad };
        ad = a.next;
        // Fields up to ipv6_if_index exist since XP; later ones only when
        // the adapter's length covers them.
        let has = |end: usize| a.length as usize >= end;
        let name = wide(a.friendly_name, 1024);
        let loopback = a.if_type == IF_TYPE_SOFTWARE_LOOPBACK;
        let up = a.oper_status == 1;
        let phys = &a.physical[..(a.physical_len as usize).min(a.physical.len())];
        w.links.push(Link {
            name: name.clone(),
            index: (a.if_index != 0)
                .then_some(a.if_index)
                .or((a.ipv6_if_index != 0).then_some(a.ipv6_if_index)),
            up,
            state: state_name(a.oper_status),
            carrier: None,
            mtu: (a.mtu != 0 && a.mtu != u32::MAX).then_some(a.mtu),
            mac: mac_text(phys),
            loopback,
            can_broadcast: !loopback,
            can_multicast: a.flags & NO_MULTICAST == 0,
            dhcp: Some(a.flags & DHCP_ENABLED != 0),
        });
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
                IpAddr::V4(v4) if !loopback => implied_broadcast(v4, prefix).map(IpAddr::V4),
                _ => None,
            };
            // NL_DAD_STATE: 1 tentative, 2 duplicate, 3 deprecated, 4 preferred.
            let dad = ua.dad_state;
            w.addrs.push(IfAddr {
                name: name.clone(),
                ip,
                prefix: Some(prefix),
                broadcast,
                peer: None,
                tentative: dad == 1,
                dad_failed: dad == 2,
                deprecated: dad == 3,
                scope,
                up,
                loopback,
                can_broadcast: broadcast.is_some(),
                can_multicast: a.flags & NO_MULTICAST == 0,
            });
        }
        if has(offset_of!(Adapter, first_gateway) + size_of::<usize>()) {
            for (ip, _) in node_ips(a.first_gateway) {
                let r = Route {
                    gateway: (!ip.is_unspecified()).then_some(ip),
                    iface: name.clone(),
                    metric: None,
                };
                if ip.is_ipv4() {
                    w.routes4.push(r);
                } else {
                    w.routes6.push(r);
                }
            }
        }
        if !up {
            continue;
        }
        for (ip, zone) in node_ips(a.first_dns) {
            let s = match ip {
                IpAddr::V6(_) if zone != 0 => format!("{ip}%{zone}"),
                _ => ip.to_string(),
            };
            if !w.dns_servers.contains(&s) {
                w.dns_servers.push(s);
            }
        }
        let mut suffixes = vec![wide(a.dns_suffix, 256)];
        if has(size_of::<Adapter>()) {
            let mut p = a.first_dns_suffix;
            while !p.is_null() {
                // SAFETY: a node of the suffix list inside `buf`.
                let n = unsafe { &*p };
                p = n.next;
                suffixes.push(wide(n.string.as_ptr(), n.string.len()));
            }
        }
        for s in suffixes {
            if !s.is_empty() && !w.dns_search.contains(&s) {
                w.dns_search.push(s);
            }
        }
    }
    Ok(w)
}
