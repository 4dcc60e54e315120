//! What one ICMP echo gave: shared by the Linux sockets (icmp.rs) and Windows'
//! IcmpSendEcho (win.rs), so neither imports the other.

use std::time::Duration;

pub enum Echo {
    /// A reply after this long, and which socket sent the request.
    Reply(Duration, &'static str),
    NoReply(&'static str),
    /// Neither socket kind may be opened by this process.
    #[cfg_attr(windows, allow(dead_code))]
    NoPrivilege,
    Error(String),
}
