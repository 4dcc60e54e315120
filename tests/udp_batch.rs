//! UDP sent in batches (sendmmsg, segmentation offload on Linux) and
//! received merged (UDP_GRO): datagrams arrive whole, in order, sized
//! exactly, on the offload path and on the fallback that
//! `NETCRAB_NO_UDP_OFFLOAD=1` forces (one datagram a call), natively,
//! under QEMU and under Wine.

use crate::util::peers::udp_peer as peer;
use crate::util::{command, random_bytes, skip, spawn_command, Proc};
use std::net::UdpSocket;

/// The two send paths: as the kernel allows, and forced one by one.
const PATHS: [Option<(&str, &str)>; 2] = [None, Some(("NETCRAB_NO_UDP_OFFLOAD", "1"))];

/// A receiver whose buffer holds every datagram a test sends, so nothing is
/// lost however fast netcrab sends (root forces a large buffer; without
/// root the test is skipped rather than flaky).
fn sink() -> Option<UdpSocket> {
    let s = peer();
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let size: libc::c_int = 64 << 20;
        // SAFETY: an int option passed by pointer with its size.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            skip("udp_batch: a 64 MiB receive buffer needs root (SO_RCVBUFFORCE)");
            return None;
        }
    }
    Some(s)
}

/// A file of `data` in the temporary directory (removed on drop).
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(tag: &str, data: &[u8]) -> TempFile {
        let p = std::env::temp_dir().join(format!("netcrab-{tag}-{}", std::process::id()));
        std::fs::write(&p, data).expect("write temp file");
        TempFile(p)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Start netcrab with stdin from `file` and one environment variable.
fn start_from(file: &TempFile, env: Option<(&str, &str)>, args: &[&str]) -> Proc {
    let mut c = command(args);
    c.stdin(std::fs::File::open(&file.0).expect("open temp file"));
    if let Some((k, v)) = env {
        c.env(k, v);
    }
    spawn_command(c, args, None)
}

/// Receive `want.len()` datagrams and compare each with what was meant.
fn expect_datagrams(p: &mut Proc, s: &UdpSocket, want: &[&[u8]], what: &str) {
    let mut buf = vec![0u8; 70_000];
    for (i, w) in want.iter().enumerate() {
        match s.recv(&mut buf) {
            Ok(n) if &buf[..n] == *w => {}
            Ok(n) => p.fail(&format!(
                "{what}: datagram {i} of {}: {n} bytes, want {} (or other bytes)",
                want.len(),
                w.len()
            )),
            Err(e) => p.fail(&format!(
                "{what}: datagram {i} of {} did not come: {e}",
                want.len()
            )),
        }
    }
}

#[test]
fn file_stdin_leaves_as_exact_send_size_datagrams_in_order() {
    let Some(s) = sink() else {
        return;
    };
    let addr = s.local_addr().unwrap().to_string();
    for env in PATHS {
        for (size, count) in [(64usize, 2000usize), (1472, 700), (8000, 100), (65507, 40)] {
            // A short last datagram: the kernel may take it in the same
            // segmented message as the full ones before it.
            let data = random_bytes(size * count + size / 3 + 1, size as u64);
            let file = TempFile::new(&format!("udpb-{size}"), &data);
            let ss = size.to_string();
            let mut p = start_from(&file, env, &["-u", "--ss", &ss, &addr]);
            let want: Vec<&[u8]> = data.chunks(size).collect();
            expect_datagrams(&mut p, &s, &want, &format!("--ss {size}, {env:?}"));
            if !crate::util::peers::udp_quiet_for(&s, 200) {
                p.fail(&format!("--ss {size}, {env:?}: more datagrams than sent"));
            }
        }
    }
}

#[test]
fn generated_datagrams_are_whole_and_counted() {
    if !cfg!(feature = "gen") {
        return skip("udp_batch: -i fixed needs the 'gen' feature");
    }
    let Some(s) = sink() else {
        return;
    };
    let addr = s.local_addr().unwrap().to_string();
    for env in PATHS {
        for size in [64usize, 1472, 65507] {
            let ss = size.to_string();
            let args = ["-u", "-i", "fixed", "--ss", &ss, &addr];
            let mut c = command(&args);
            c.stdin(std::process::Stdio::null());
            if let Some((k, v)) = env {
                c.env(k, v);
            }
            let mut p = spawn_command(c, &args, None);
            let mut buf = vec![0u8; 70_000];
            let first = match s.recv(&mut buf) {
                Ok(n) => buf[..n].to_vec(),
                Err(e) => p.fail(&format!("no datagram: {e}")),
            };
            if first.len() != size {
                p.fail(&format!("{env:?}: first datagram {} bytes", first.len()));
            }
            for i in 0..300 {
                match s.recv(&mut buf) {
                    Ok(n) if buf[..n] == first[..] => {}
                    r => p.fail(&format!(
                        "{env:?} --ss {size}: datagram {i}: {:?} bytes, not the pattern",
                        r.map(|_| ())
                    )),
                }
            }
            p.kill();
            // Drain what was queued before the next round.
            while !crate::util::peers::udp_quiet_for(&s, 100) {}
        }
    }
}

#[test]
fn stats_count_batched_datagrams_exactly() {
    if !cfg!(feature = "stats") {
        return skip("udp_batch: --stats needs the 'stats' feature");
    }
    let Some(s) = sink() else {
        return;
    };
    let addr = s.local_addr().unwrap().to_string();
    for env in PATHS {
        let data = random_bytes(1472 * 300 + 10, 31);
        let file = TempFile::new("udpb-stats", &data);
        let mut p = start_from(
            &file,
            env,
            &["-u", "--ss", "1472", "--stats", "-q", "0.3", &addr],
        );
        let want: Vec<&[u8]> = data.chunks(1472).collect();
        expect_datagrams(&mut p, &s, &want, "--stats run");
        let out = p.finish();
        let line = format!("out {} bytes in {} messages", data.len(), want.len());
        if !out.stderr.contains(&line) {
            p.fail(&format!("{env:?}: want '{line}' in the statistics"));
        }
    }
}

/// Send `burst` as datagrams of `seg` bytes (the last may be shorter) in one
/// segmented message where the kernel takes it, one by one elsewhere.
#[cfg(target_os = "linux")]
fn send_segmented(s: &UdpSocket, to: std::net::SocketAddr, burst: &[u8], seg: usize) {
    use std::os::fd::AsRawFd;
    let addr = socket2::SockAddr::from(to);
    let mut iov = libc::iovec {
        iov_base: burst.as_ptr() as *mut libc::c_void,
        iov_len: burst.len(),
    };
    let mut ctl = [0u64; 4];
    // SAFETY: plain C structs filled in place; the CMSG macros write
    // inside `ctl`, which outlives the call, as do `iov`, `burst`, `addr`.
    let r = unsafe {
        let mut m: libc::msghdr = std::mem::zeroed();
        m.msg_name = addr.as_ptr() as *mut libc::c_void;
        m.msg_namelen = addr.len();
        m.msg_iov = &mut iov;
        m.msg_iovlen = 1;
        m.msg_control = ctl.as_mut_ptr().cast();
        m.msg_controllen = libc::CMSG_SPACE(2) as _;
        let c = libc::CMSG_FIRSTHDR(&m);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = libc::UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(2) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), seg as u16);
        libc::sendmsg(s.as_raw_fd(), &m, 0)
    };
    if r < 0 {
        for d in burst.chunks(seg) {
            s.send_to(d, to).expect("send");
        }
    }
}

/// Merged receives (UDP_GRO) are cut back into the datagrams sent: with
/// stdout a datagram socket, each read is exactly one of them.
#[cfg(target_os = "linux")]
#[test]
fn merged_receives_split_into_the_datagrams_sent() {
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixDatagram;
    if crate::util::skipped_under_wine("stdout is a Unix datagram socket here") {
        return;
    }
    for env in PATHS {
        let (ours, theirs) = UnixDatagram::pair().expect("socketpair");
        ours.set_read_timeout(Some(crate::util::patience()))
            .expect("timeout");
        let args = ["-u", "-l", "127.0.0.1:0", "-i", "none"];
        let mut c = command(&args);
        c.stdin(std::process::Stdio::null());
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let mut p = spawn_command(
            c,
            &args,
            Some(std::process::Stdio::from(OwnedFd::from(theirs))),
        );
        let to = p.listen_addr();
        let s = peer();
        let mut buf = vec![0u8; 70_000];
        for (round, (seg, n)) in [(1000usize, 20usize), (1472, 44), (64, 64), (8000, 8)]
            .into_iter()
            .enumerate()
        {
            // Equal-sized datagrams and a short last one, in one burst.
            let burst = random_bytes(seg * n + seg / 2, 900 + round as u64);
            send_segmented(&s, to, &burst, seg);
            for (i, d) in burst.chunks(seg).enumerate() {
                match ours.recv(&mut buf) {
                    Ok(k) if &buf[..k] == d => {}
                    r => p.fail(&format!(
                        "{env:?}: segment size {seg}, read {i}: {:?} bytes, want {}",
                        r,
                        d.len()
                    )),
                }
            }
        }
    }
}
