//! Windows: SendARP and IcmpSendEcho from iphlpapi (already linked for
//! GetAdaptersAddresses), both blocking: callers run them on a thread.

use super::echo::Echo;
use std::ffi::c_void;
use std::net::Ipv4Addr;
use std::time::Duration;

#[link(name = "iphlpapi")]
extern "system" {
    fn SendARP(dest: u32, src: u32, mac: *mut c_void, len: *mut u32) -> u32;
    fn IcmpCreateFile() -> isize;
    fn IcmpCloseHandle(h: isize) -> i32;
    fn IcmpSendEcho(
        h: isize,
        dest: u32,
        data: *const c_void,
        size: u16,
        options: *const c_void,
        reply: *mut c_void,
        reply_size: u32,
        timeout_ms: u32,
    ) -> u32;
}

/// The gateway's MAC from an ARP exchange, or why not.
pub fn send_arp(ip: Ipv4Addr) -> Result<String, String> {
    let mut mac = [0u8; 8];
    let mut len: u32 = mac.len() as u32;
    // SAFETY: `mac` is writable for `len` bytes; both outlive the call.
    let r = unsafe {
        SendARP(
            u32::from_ne_bytes(ip.octets()),
            0,
            mac.as_mut_ptr() as *mut c_void,
            &mut len,
        )
    };
    if r != 0 {
        return Err(match r {
            67 | 31 | 1168 => "no answer (SendARP)".to_string(),
            e => format!(
                "SendARP: {}",
                crate::error::describe(&std::io::Error::from_raw_os_error(e as i32))
            ),
        });
    }
    let n = (len as usize).min(mac.len());
    Ok(crate::net::ifaces::mac_text(&mac[..n]).unwrap_or_else(|| "no MAC".into()))
}

/// One echo request with IcmpSendEcho.
pub fn icmp_echo(ip: Ipv4Addr, wait: Duration) -> Echo {
    // SAFETY: no preconditions; the handle is closed below.
    let h = unsafe { IcmpCreateFile() };
    if h == -1 || h == 0 {
        return Echo::Error(format!(
            "IcmpCreateFile: {}",
            crate::error::describe(&std::io::Error::last_os_error())
        ));
    }
    let data = *b"netcrab-check...";
    // ICMP_ECHO_REPLY plus the echoed data and room for an ICMP error.
    let mut reply = vec![0u64; 128];
    let start = std::time::Instant::now();
    // SAFETY: a valid handle; data and reply buffers outlive the call and
    // their sizes are the ones passed.
    let n = unsafe {
        IcmpSendEcho(
            h,
            u32::from_ne_bytes(ip.octets()),
            data.as_ptr() as *const c_void,
            data.len() as u16,
            std::ptr::null(),
            reply.as_mut_ptr() as *mut c_void,
            (reply.len() * 8) as u32,
            wait.as_millis().clamp(1, u128::from(u32::MAX)) as u32,
        )
    };
    let elapsed = start.elapsed();
    // SAFETY: the handle came from IcmpCreateFile and is closed once.
    unsafe { IcmpCloseHandle(h) };
    if n == 0 {
        return Echo::NoReply("IcmpSendEcho");
    }
    // ICMP_ECHO_REPLY: Address (u32), Status (u32), RoundTripTime (u32), ...
    let status = (reply[0] >> 32) as u32;
    let rtt = (reply[1] & 0xffff_ffff) as u32;
    if status != 0 {
        return Echo::NoReply("IcmpSendEcho");
    }
    let d = Duration::from_millis(u64::from(rtt));
    Echo::Reply(if rtt == 0 { elapsed } else { d }, "IcmpSendEcho")
}
