//! Sockets: name resolution, local interfaces, socket options, TCP.

pub mod acl;
pub mod ifaces;
pub mod limits;
pub mod proxy;
pub mod resolve;
pub mod sockopt;
pub mod tcp;
pub mod udp;

use std::net::SocketAddr;

/// "IPv4" or "IPv6", as status lines print it.
pub fn family_name(a: &SocketAddr) -> &'static str {
    if a.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}
