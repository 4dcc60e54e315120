//! Linux: send queued datagrams in batches with one `sendmmsg(2)`, and
//! runs of equal-sized datagrams as one buffer the kernel cuts at the
//! segment size (UDP_SEGMENT, "GSO", Linux 4.18+). The datagrams on the wire
//! are exactly those given, in order: a segment group is consecutive
//! datagrams of one size (its last may be shorter, as the kernel allows).
//!
//! Each socket falls back on its own: a kernel or emulator that refuses
//! the segment option (EINVAL, EIO, ENOPROTOOPT) loses only that; one that
//! lacks `sendmmsg` (ENOSYS) sends one datagram a call.

use bytes::Bytes;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// `NETCRAB_NO_UDP_OFFLOAD` set (not empty, not `0`): no batched sends,
/// no segmentation offload either way (tests, A/B runs). Read once.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn offload_disabled() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| {
        std::env::var_os("NETCRAB_NO_UDP_OFFLOAD").is_some_and(|v| !v.is_empty() && v != "0")
    })
}

/// Messages per `sendmmsg` call.
pub const BATCH: usize = 64;
/// Segments per UDP_SEGMENT message (the kernel's UDP_MAX_SEGMENTS in 4.18).
const MAX_SEGMENTS: usize = 64;
/// Largest UDP payload of one message over IPv4 (65,535 less the IP and
/// UDP headers); IPv6 allows 20 bytes more, ignored for simplicity.
const MAX_PAYLOAD: usize = 65_507;
/// Room for one `cmsghdr` with a `u16` (the segment size), 8-aligned.
const CMSG_ROOM: usize = 32;

/// What this socket's kernel took so far.
#[derive(Debug, Clone, Copy)]
pub struct Offload {
    /// `sendmmsg` works (else one datagram a call).
    pub mmsg: bool,
    /// Segment sizes below this may be sent as one UDP_SEGMENT message:
    /// 0 = never. A refused size (larger than the path's MTU allows, or
    /// no support) lowers it.
    pub gso_below: usize,
}

impl Offload {
    /// Everything on, unless `NETCRAB_NO_UDP_OFFLOAD` turned it off.
    pub fn new() -> Offload {
        if offload_disabled() {
            Offload {
                mmsg: false,
                gso_below: 0,
            }
        } else {
            Offload {
                mmsg: true,
                gso_below: usize::MAX,
            }
        }
    }
}

/// One message: `count` datagrams from `first`, cut at `seg` bytes when
/// `count > 1`.
#[derive(Clone, Copy)]
struct Msg {
    first: usize,
    count: usize,
    seg: usize,
}

/// Group `dgrams` into at most BATCH messages.
fn group(dgrams: &[Bytes], gso_below: usize) -> Vec<Msg> {
    let mut msgs: Vec<Msg> = Vec::new();
    let mut total = 0usize;
    for (i, d) in dgrams.iter().enumerate() {
        let len = d.len();
        if let Some(m) = msgs.last_mut() {
            // The group's last datagram so far is full-sized (only the
            // last may be shorter), this one is not larger, and it fits.
            let last_full = dgrams[m.first + m.count - 1].len() == m.seg;
            if m.seg > 0
                && m.seg < gso_below
                && last_full
                && len <= m.seg
                && len > 0
                && m.count < MAX_SEGMENTS
                && total + len <= MAX_PAYLOAD
            {
                m.count += 1;
                total += len;
                continue;
            }
        }
        if msgs.len() == BATCH {
            break;
        }
        msgs.push(Msg {
            first: i,
            count: 1,
            seg: len,
        });
        total = len;
    }
    msgs
}

/// Send a prefix of `dgrams` (at most BATCH messages) to `peer` now:
/// the number of datagrams that went, or the error of the first
/// (WouldBlock when the socket is full). 0: the kernel refused an offload,
/// `off` is lowered, call again.
pub fn send(
    fd: RawFd,
    peer: &SocketAddr,
    dgrams: &[Bytes],
    off: &mut Offload,
) -> io::Result<usize> {
    if !off.mmsg || dgrams.len() == 1 {
        return send_one(fd, peer, &dgrams[0]);
    }
    let msgs = group(dgrams, off.gso_below);
    let addr = socket2::SockAddr::from(*peer);
    let iovs: Vec<libc::iovec> = dgrams[..msgs.last().map_or(0, |m| m.first + m.count)]
        .iter()
        .map(|d| libc::iovec {
            iov_base: d.as_ptr() as *mut libc::c_void,
            iov_len: d.len(),
        })
        .collect();
    // 8-byte aligned control space, one slot per message.
    let mut ctl = vec![0u64; msgs.len() * CMSG_ROOM / 8];
    // SAFETY: mmsghdr is a plain C struct; all zeroes is valid.
    let mut hdrs: Vec<libc::mmsghdr> = vec![unsafe { mem::zeroed() }; msgs.len()];
    for (k, (h, m)) in hdrs.iter_mut().zip(&msgs).enumerate() {
        h.msg_hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
        h.msg_hdr.msg_namelen = addr.len();
        h.msg_hdr.msg_iov = iovs[m.first..].as_ptr() as *mut libc::iovec;
        h.msg_hdr.msg_iovlen = m.count as _;
        if m.count > 1 {
            let slot = ctl[k * CMSG_ROOM / 8..].as_mut_ptr().cast::<libc::c_void>();
            h.msg_hdr.msg_control = slot;
            // SAFETY: CMSG_SPACE of a u16 (24 on 64-bit) fits CMSG_ROOM;
            // the header and data are written inside this message's slot.
            unsafe {
                h.msg_hdr.msg_controllen = libc::CMSG_SPACE(2) as _;
                let c = libc::CMSG_FIRSTHDR(&h.msg_hdr);
                (*c).cmsg_level = libc::SOL_UDP;
                (*c).cmsg_type = libc::UDP_SEGMENT;
                (*c).cmsg_len = libc::CMSG_LEN(2) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), m.seg as u16);
            }
        }
    }
    // SAFETY: every header points at the address, iovecs and control
    // slots above, all alive and unchanged until the call returns; the
    // iovecs point into `dgrams`, which the caller holds. The count is the
    // length of `hdrs`.
    let n = unsafe {
        libc::sendmmsg(
            fd,
            hdrs.as_mut_ptr(),
            hdrs.len() as libc::c_uint,
            libc::MSG_DONTWAIT as _,
        )
    };
    if n > 0 {
        return Ok(msgs[..n as usize].iter().map(|m| m.count).sum());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOSYS) => off.mmsg = false,
        // The segment option (or this segment size) refused: the first
        // message had the error, so only it needs a smaller limit.
        Some(libc::EINVAL | libc::EIO | libc::ENOPROTOOPT) if msgs[0].count > 1 => {
            off.gso_below = msgs[0].seg;
        }
        Some(libc::EINVAL | libc::ENOPROTOOPT) => off.mmsg = false,
        _ => return Err(e),
    }
    Ok(0)
}

/// One datagram with `sendto(2)`, as the other systems send.
fn send_one(fd: RawFd, peer: &SocketAddr, d: &Bytes) -> io::Result<usize> {
    let addr = socket2::SockAddr::from(*peer);
    // SAFETY: the buffer and the address are alive for the call.
    let n = unsafe {
        libc::sendto(
            fd,
            d.as_ptr().cast(),
            d.len(),
            libc::MSG_DONTWAIT,
            addr.as_ptr().cast(),
            addr.len(),
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(v: &[usize]) -> Vec<Bytes> {
        v.iter().map(|n| Bytes::from(vec![0u8; *n])).collect()
    }

    fn shape(m: &[Msg]) -> Vec<(usize, usize)> {
        m.iter().map(|m| (m.count, m.seg)).collect()
    }

    #[test]
    fn equal_runs_group_and_a_short_last_ends_its_group() {
        let d = sizes(&[100, 100, 100, 40, 100, 200, 200]);
        assert_eq!(
            shape(&group(&d, usize::MAX)),
            [(4, 100), (1, 100), (2, 200)]
        );
    }

    #[test]
    fn groups_respect_the_limits() {
        let d = sizes(&[1472; 100]);
        let g = group(&d, usize::MAX);
        assert_eq!(g[0].count, MAX_PAYLOAD / 1472);
        assert_eq!(g.iter().map(|m| m.count).sum::<usize>(), 100);
        let d = sizes(&[64; 200]);
        assert_eq!(shape(&group(&d, usize::MAX))[..3], [(64, 64); 3]);
        // No segmentation: one message per datagram, BATCH at most.
        let g = group(&d, 0);
        assert_eq!(g.len(), BATCH);
        assert!(g.iter().all(|m| m.count == 1));
        // Below the refused size only.
        let d = sizes(&[2000, 2000, 500, 500]);
        assert_eq!(shape(&group(&d, 1000)), [(1, 2000), (1, 2000), (2, 500)]);
        // Empty datagrams are sent alone.
        let d = sizes(&[10, 0, 0]);
        assert_eq!(shape(&group(&d, usize::MAX)), [(1, 10), (1, 0), (1, 0)]);
    }
}
