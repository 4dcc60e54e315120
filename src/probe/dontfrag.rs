//! Don't-fragment on a UDP socket, for the path-MTU search.
//!
//! Linux: IP_MTU_DISCOVER = IP_PMTUDISC_DO (IPv4), IPV6_MTU_DISCOVER =
//! IPV6_PMTUDISC_DO plus IPV6_DONTFRAG (IPv6). A datagram over the known
//! path MTU then fails with EMSGSIZE instead of being fragmented. Elsewhere
//! (Windows' IP_DONTFRAGMENT included) the search is reported as skipped.

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

/// Not implemented here: the path-MTU check reports itself skipped.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
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
