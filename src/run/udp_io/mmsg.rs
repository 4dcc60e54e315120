//! Linux: receive up to `SLOTS` queued datagrams with one `recvmmsg(2)`.
//!
//! One scratch area per thread (the executor is single-threaded, so that
//! is one for the process) serves every socket; it is allocated on first
//! use. Each received datagram is copied out into its own `Bytes`, so a
//! queued small datagram holds only its own size.
//!
//! With UDP_GRO on (`enable_gro`, Linux 5.0+) one slot may hold several
//! datagrams of one sender, all of the segment size the kernel reports in
//! a control message except perhaps the last: they are cut apart here,
//! so nothing after this sees a difference.

use bytes::Bytes;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams per `recvmmsg` call.
const SLOTS: usize = 32;
/// Bytes per datagram: more than the largest UDP payload over IPv4
/// (65,507) or IPv6 without jumbograms (65,527).
const SLOT_SIZE: usize = 65_536;

/// Control bytes per slot (8-aligned): room for the GRO segment size and
/// anything else a socket option may add.
const CTL_SIZE: usize = 128;

struct Scratch {
    data: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    ctl: Vec<u64>,
}

/// Ask the kernel to hand over runs of one sender's datagrams at once
/// (UDP_GRO). Only for a socket read with `recv_batch`, which cuts them
/// apart again; false when refused (an old kernel, an emulator).
pub fn enable_gro(fd: RawFd) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: an int option, passed by pointer with its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_UDP,
            libc::UDP_GRO,
            (&on as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    r == 0
}

/// Turn UDP_GRO off again (where batches turned out not to work).
pub fn disable_gro(fd: RawFd) {
    let off: libc::c_int = 0;
    // SAFETY: as in enable_gro.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_UDP,
            libc::UDP_GRO,
            (&off as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

thread_local! {
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
    /// Set once `recvmmsg` turned out to be missing (an old kernel or an
    /// emulator); this thread then receives one datagram per call.
    static UNSUPPORTED: Cell<bool> = const { Cell::new(false) };
}

/// Receive what is queued on `fd` (at least one datagram, at most
/// `SLOTS`) onto the end of `out`, in arrival order. `None`: batches are
/// not available here, receive one datagram the ordinary way instead.
/// `Some(Err(WouldBlock))` when nothing is queued.
pub fn recv_batch(fd: RawFd, out: &mut VecDeque<(Bytes, SocketAddr)>) -> Option<io::Result<()>> {
    if UNSUPPORTED.get() {
        return None;
    }
    let r = SCRATCH.with(|cell| {
        // Never busy (nothing awaits while it is held), but a second
        // borrow must not panic: fall back instead.
        let mut slot = cell.try_borrow_mut().ok()?;
        let scratch = slot.get_or_insert_with(|| Scratch {
            data: vec![0u8; SLOTS * SLOT_SIZE],
            // SAFETY: sockaddr_storage is plain old data; all zeroes is a
            // valid (AF_UNSPEC) value.
            addrs: vec![unsafe { mem::zeroed() }; SLOTS],
            ctl: vec![0u64; SLOTS * CTL_SIZE / 8],
        });
        Some(fill(fd, scratch, out))
    })?;
    match r {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EINVAL)) => {
            UNSUPPORTED.set(true);
            None
        }
        r => Some(r),
    }
}

fn fill(
    fd: RawFd,
    scratch: &mut Scratch,
    out: &mut VecDeque<(Bytes, SocketAddr)>,
) -> io::Result<()> {
    let base = scratch.data.as_mut_ptr();
    let mut iov: [libc::iovec; SLOTS] = std::array::from_fn(|i| libc::iovec {
        iov_base: base.wrapping_add(i * SLOT_SIZE).cast(),
        iov_len: SLOT_SIZE,
    });
    // SAFETY: mmsghdr is a plain C struct; all zeroes is valid (null
    // pointers, zero lengths, no flags).
    let mut hdrs: [libc::mmsghdr; SLOTS] = unsafe { mem::zeroed() };
    for (i, h) in hdrs.iter_mut().enumerate() {
        h.msg_hdr.msg_name = (&mut scratch.addrs[i] as *mut libc::sockaddr_storage).cast();
        h.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msg_hdr.msg_iov = &mut iov[i];
        h.msg_hdr.msg_iovlen = 1;
        h.msg_hdr.msg_control = scratch.ctl[i * CTL_SIZE / 8..].as_mut_ptr().cast();
        h.msg_hdr.msg_controllen = CTL_SIZE as _;
    }
    // SAFETY: every header points at its own iovec (one buffer of
    // SLOT_SIZE bytes inside `scratch.data`), its own sockaddr_storage and
    // its own CTL_SIZE control bytes inside `scratch.ctl`,
    // all alive and not otherwise borrowed until the call returns; the
    // count passed is the length of `hdrs`. A null timeout waits for
    // nothing more: on this non-blocking socket the call returns what is
    // queued, or EAGAIN when nothing is.
    let n = unsafe {
        libc::recvmmsg(
            fd,
            hdrs.as_mut_ptr(),
            SLOTS as libc::c_uint,
            libc::MSG_DONTWAIT as _,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    for (i, h) in hdrs.iter().take(n as usize).enumerate() {
        // MSG_TRUNC (a datagram larger than a slot; not possible for UDP
        // without IPv6 jumbograms): deliver what fits, as recv_from into
        // a buffer does, so both receive paths give the same bytes.
        let len = (h.msg_len as usize).min(SLOT_SIZE);
        let Some(from) = to_socket_addr(&scratch.addrs[i], h.msg_hdr.msg_namelen) else {
            continue; // not IPv4 or IPv6: nothing to route it to
        };
        let start = i * SLOT_SIZE;
        let data = &scratch.data[start..start + len];
        match gro_segment(&h.msg_hdr) {
            Some(seg) if seg < len => {
                for d in data.chunks(seg) {
                    out.push_back((Bytes::copy_from_slice(d), from));
                }
            }
            _ => out.push_back((Bytes::copy_from_slice(data), from)),
        }
    }
    Ok(())
}

/// The segment size of a GRO-merged receive, from its control message.
fn gro_segment(m: &libc::msghdr) -> Option<usize> {
    if m.msg_controllen == 0 {
        return None;
    }
    // SAFETY: the CMSG macros walk the control buffer recvmmsg filled,
    // within msg_controllen; the data of a UDP_GRO message is an int.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(m);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == libc::UDP_GRO {
                let seg = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                return usize::try_from(seg).ok().filter(|s| *s > 0);
            }
            c = libc::CMSG_NXTHDR(m, c);
        }
    }
    None
}

/// The sender's address as the kernel wrote it (IPv4 or IPv6 only).
fn to_socket_addr(ss: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match ss.ss_family as libc::c_int {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, the
            // length covers it, and sockaddr_storage is larger and at least
            // as aligned as any sockaddr type.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddrV4::new(ip, u16::from_be(a.sin_port)).into())
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for a sockaddr_in6.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            let port = u16::from_be(a.sin6_port);
            Some(SocketAddrV6::new(ip, port, a.sin6_flowinfo, a.sin6_scope_id).into())
        }
        _ => None,
    }
}
