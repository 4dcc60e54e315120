//! Don't-fragment on a UDP socket, for the path-MTU search.
//!
//! Linux: IP_MTU_DISCOVER = IP_PMTUDISC_DO (IPv4), IPV6_MTU_DISCOVER =
//! IPV6_PMTUDISC_DO plus IPV6_DONTFRAG (IPv6). A datagram over the known
//! path MTU then fails with EMSGSIZE instead of being fragmented. Windows:
//! IP_DONTFRAGMENT / IPV6_DONTFRAG (a datagram over the MTU fails with
//! WSAEMSGSIZE). Elsewhere the search is reported as skipped.

use std::io;

/// Set don't-fragment on `s`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn set(s: &async_net::UdpSocket, v6: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = s.as_raw_fd();
    let opts: &[(libc::c_int, libc::c_int, libc::c_int)] = if v6 {
        &[
            (
                libc::IPPROTO_IPV6,
                libc::IPV6_MTU_DISCOVER,
                libc::IPV6_PMTUDISC_DO,
            ),
            (libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, 1),
        ]
    } else {
        &[(
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_DO,
        )]
    };
    for &(level, name, value) in opts {
        // SAFETY: a valid socket descriptor and a c_int option value that
        // outlives the call, with its exact size.
        let r = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                &value as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Windows: IP_DONTFRAGMENT (IPv4) / IPV6_DONTFRAG (IPv6), both 14.
#[cfg(windows)]
pub fn set(s: &async_net::UdpSocket, v6: bool) -> io::Result<()> {
    use std::os::windows::io::AsRawSocket;
    #[link(name = "ws2_32")]
    extern "system" {
        fn setsockopt(s: usize, level: i32, name: i32, value: *const u8, len: i32) -> i32;
        fn WSAGetLastError() -> i32;
    }
    const IPPROTO_IP: i32 = 0;
    const IPPROTO_IPV6: i32 = 41;
    const DONTFRAG: i32 = 14;
    let level = if v6 { IPPROTO_IPV6 } else { IPPROTO_IP };
    let on: u32 = 1;
    // SAFETY: a valid socket handle and a DWORD option that outlives the call.
    let r = unsafe {
        setsockopt(
            s.as_raw_socket() as usize,
            level,
            DONTFRAG,
            &on as *const u32 as *const u8,
            4,
        )
    };
    if r != 0 {
        // SAFETY: no preconditions.
        return Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() }));
    }
    Ok(())
}

/// Not implemented here: the path-MTU check reports itself skipped.
#[cfg(not(any(target_os = "linux", target_os = "android", windows)))]
pub fn set(_: &async_net::UdpSocket, _v6: bool) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "don't-fragment is not implemented on this platform",
    ))
}

/// Whether a send failed because the datagram exceeds the known path MTU.
pub fn too_big(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::EMSGSIZE)
    }
    #[cfg(windows)]
    {
        // WSAEMSGSIZE
        e.raw_os_error() == Some(10040)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = e;
        false
    }
}
