//! The socket side of the DHCP probe: a UDP socket on port 68 tied to one
//! interface, and that interface's hardware address. Linux ties the socket
//! with SO_BINDTODEVICE (so the interface needs no address); Windows has no
//! such option, so there the socket binds to the interface's IPv4 address.
#![cfg_attr(not(any(target_os = "linux", windows)), allow(dead_code))]

use crate::error::{describe, Error};
use std::io;
use std::net::UdpSocket;

/// The client and server ports of DHCP.
pub const CLIENT_PORT: u16 = 68;
pub const SERVER_PORT: u16 = 67;

/// A socket ready to send the DISCOVER and hear the offers.
pub struct Link {
    pub sock: UdpSocket,
    /// The hardware address put in `chaddr`.
    pub mac: [u8; 6],
    /// False when the interface has no Ethernet address of its own and a
    /// random locally administered one stands in (see README).
    pub own_mac: bool,
}

fn unknown(iface: &str) -> Error {
    Error::Runtime(format!(
        "unknown interface '{}' (netcrab --ifaces lists them)",
        crate::addr::clip(iface)
    ))
}

/// Port 68 could not be bound: say why and what to do, in one line.
fn bind_error(iface: &str, e: &io::Error) -> Error {
    let msg = match e.kind() {
        io::ErrorKind::AddrInUse => format!(
            "cannot bind UDP port 68 on {iface}: in use, most likely by this system's DHCP client \
             ({}); stop it for {iface}, or probe from another box",
            if cfg!(windows) {
                "the DHCP Client service"
            } else {
                "dhclient, systemd-networkd, NetworkManager"
            }
        ),
        // Windows needs no privilege for low ports: WSAEACCES there means
        // another socket holds the port exclusively.
        io::ErrorKind::PermissionDenied if cfg!(windows) => format!(
            "cannot bind UDP port 68 on {iface}: access denied, most likely held exclusively by \
             the DHCP Client service; probe from another box"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "cannot bind UDP port 68 on {iface}: permission denied (run as root, or give \
             netcrab CAP_NET_BIND_SERVICE and CAP_NET_RAW)"
        ),
        _ => format!("cannot bind UDP port 68 on {iface}: {}", describe(e)),
    };
    Error::Runtime(msg)
}

/// A random locally administered unicast address (02:xx:xx:xx:xx:xx), for an
/// interface without an Ethernet address of its own.
fn stand_in_mac() -> [u8; 6] {
    let mut m = [0u8; 6];
    // Not secret, only unlikely to clash: a fixed fallback is fine.
    if getrandom::fill(&mut m).is_err() {
        m = [0, 0x4e, 0x43, 0x52, 0x41, 0x42];
    }
    m[0] = (m[0] & 0xFC) | 0x02;
    m
}

fn usable(mac: Option<[u8; 6]>) -> ([u8; 6], bool) {
    match mac {
        // All zeros (loopback, tunnels) or a multicast bit: not an address to send.
        Some(m) if m != [0; 6] && m[0] & 1 == 0 => (m, true),
        _ => (stand_in_mac(), false),
    }
}

#[cfg(target_os = "linux")]
pub fn open(iface: &str) -> Result<Link, Error> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::net::{Ipv4Addr, SocketAddrV4};

    let name = std::ffi::CString::new(iface).map_err(|_| unknown(iface))?;
    // SAFETY: `name` is a valid NUL-terminated string.
    if unsafe { libc::if_nametoindex(name.as_ptr()) } == 0 {
        return Err(unknown(iface));
    }
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| crate::error::runtime("creating a UDP socket", &e))?;
    let (mac, own_mac) = usable(linux_mac(&sock, iface));
    sock.bind_device(Some(iface.as_bytes()))
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => Error::Runtime(format!(
                "cannot bind to interface {iface}: permission denied (run as root, or give \
                 netcrab CAP_NET_RAW and CAP_NET_BIND_SERVICE)"
            )),
            Some(libc::ENODEV) => unknown(iface),
            _ => Error::Runtime(format!(
                "cannot bind to interface {iface}: {}",
                describe(&e)
            )),
        })?;
    sock.set_broadcast(true)
        .map_err(|e| crate::error::runtime("setting SO_BROADCAST", &e))?;
    sock.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT).into())
        .map_err(|e| bind_error(iface, &e))?;
    Ok(Link {
        sock: sock.into(),
        mac,
        own_mac,
    })
}

/// The interface's hardware address (SIOCGIFHWADDR), when it is Ethernet.
/// The ioctl, unlike /sys/class/net, also answers inside a network namespace
/// whose /sys shows another one.
#[cfg(target_os = "linux")]
fn linux_mac(sock: &socket2::Socket, iface: &str) -> Option<[u8; 6]> {
    use std::os::fd::AsRawFd;
    // SAFETY: ifreq is plain data; all zeros is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let name = iface.as_bytes();
    if name.len() >= req.ifr_name.len() {
        return None;
    }
    for (d, s) in req.ifr_name.iter_mut().zip(name) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR reads ifr_name and writes ifr_hwaddr of `req`,
    // which lives for the call; the fd is an open socket.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR as _, &mut req) };
    if r != 0 {
        return None;
    }
    // SAFETY: after SIOCGIFHWADDR succeeded the union holds ifr_hwaddr.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    if sa.sa_family != libc::ARPHRD_ETHER {
        return None;
    }
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Some(mac)
}

#[cfg(windows)]
pub fn open(iface: &str) -> Result<Link, Error> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::net::SocketAddrV4;

    let (ip, mac) = windows::find(iface)
        .map_err(|e| crate::error::runtime("listing interfaces", &e))?
        .ok_or_else(|| unknown(iface))?;
    let ip = ip.ok_or_else(|| {
        Error::Runtime(format!(
            "interface {iface} has no IPv4 address; on Windows the probe binds to one \
             (an automatic 169.254.x.x address will do)"
        ))
    })?;
    let (mac, own_mac) = usable(mac);
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| crate::error::runtime("creating a UDP socket", &e))?;
    sock.set_broadcast(true)
        .map_err(|e| crate::error::runtime("setting SO_BROADCAST", &e))?;
    sock.bind(&SocketAddrV4::new(ip, CLIENT_PORT).into())
        .map_err(|e| bind_error(iface, &e))?;
    Ok(Link {
        sock: sock.into(),
        mac,
        own_mac,
    })
}

#[cfg(not(any(target_os = "linux", windows)))]
pub fn open(_iface: &str) -> Result<Link, Error> {
    Err(Error::Runtime(
        "--dhcp-probe is supported on Linux and Windows only".to_string(),
    ))
}

#[cfg(windows)]
mod windows {
    //! An adapter's first IPv4 address and its hardware address, from
    //! GetAdaptersAddresses. Only the leading fields of the structures are
    //! declared, laid out as in iptypes.h.
    use std::ffi::c_void;
    use std::net::Ipv4Addr;

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

    const AF_INET: u32 = 2;
    const SKIP_ANYCAST_MULTICAST_DNS: u32 = 0x2 | 0x4 | 0x8;
    const ERROR_BUFFER_OVERFLOW: u32 = 111;

    /// A NUL-terminated UTF-16 string.
    fn wide(p: *const u16) -> String {
        if p.is_null() {
            return String::new();
        }
        let mut n = 0;
        // SAFETY: a NUL-terminated string owned by the adapter list.
        while unsafe { *p.add(n) } != 0 {
            n += 1;
        }
        // SAFETY: `n` code units were just read.
        String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, n) })
    }

    /// A NUL-terminated byte string.
    fn narrow(p: *const u8) -> String {
        if p.is_null() {
            return String::new();
        }
        // SAFETY: a NUL-terminated string owned by the adapter list.
        unsafe { std::ffi::CStr::from_ptr(p.cast()) }
            .to_string_lossy()
            .into_owned()
    }

    /// The adapter named `iface` (its friendly name, as `--ifaces` shows, or
    /// its GUID name): its first IPv4 address and its 6-byte hardware address.
    /// `None` when there is no such adapter.
    #[allow(clippy::type_complexity)]
    pub fn find(iface: &str) -> std::io::Result<Option<(Option<Ipv4Addr>, Option<[u8; 6]>)>> {
        let mut size: u32 = 16 * 1024;
        let mut buf: Vec<u64>;
        loop {
            // u64 elements keep the buffer aligned for the structures.
            buf = vec![0u64; (size as usize).div_ceil(8)];
            // SAFETY: `buf` has room for `size` bytes.
            let r = unsafe {
                GetAdaptersAddresses(
                    AF_INET,
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
        let mut ad = buf.as_ptr() as *const Adapter;
        while !ad.is_null() {
            // SAFETY: a node of the list GetAdaptersAddresses wrote into `buf`.
            let a = unsafe { &*ad };
            ad = a.next;
            let named = wide(a.friendly_name) == iface
                || narrow(a.adapter_name).eq_ignore_ascii_case(iface);
            if !named {
                continue;
            }
            let mac = (a.physical_len == 6).then(|| {
                let mut m = [0u8; 6];
                m.copy_from_slice(&a.physical[..6]);
                m
            });
            let mut ip = None;
            let mut u = a.first_unicast;
            while !u.is_null() && ip.is_none() {
                // SAFETY: a node of the unicast list inside `buf`.
                let ua = unsafe { &*u };
                u = ua.next;
                let sa = ua.address.sockaddr;
                if sa.is_null() || ua.address.len < 8 {
                    continue;
                }
                // SAFETY: a sockaddr of at least 8 bytes; family in the first two.
                let b = unsafe { std::slice::from_raw_parts(sa, 8) };
                if u16::from_ne_bytes([b[0], b[1]]) == AF_INET as u16 {
                    ip = Some(Ipv4Addr::new(b[4], b[5], b[6], b[7]));
                }
            }
            return Ok(Some((ip, mac)));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stand_in_mac_is_local_unicast() {
        let (m, own) = super::usable(Some([0; 6]));
        assert!(!own);
        assert_eq!(m[0] & 3, 2);
        let (m, own) = super::usable(Some([0x52, 0x54, 0, 1, 2, 3]));
        assert!(own);
        assert_eq!(m, [0x52, 0x54, 0, 1, 2, 3]);
    }
}
