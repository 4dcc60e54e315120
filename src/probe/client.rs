//! The probe client: connect, say Hello, run each check in turn, print the
//! report. Exit code 0 when every applicable check passed.

use super::checks::{self, Ctl};
use super::proto::{Msg, VERSION};
use super::report::{self, Check};
use super::ProbeOpts;
use crate::error::{describe, runtime, Result};
use crate::net::sockopt::SockOpts;
use async_net::UdpSocket;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const CONNECT_WAIT: Duration = Duration::from_secs(5);
const NAMES: [&str; 6] = ["tcp", "udp", "pmtu", "broadcast", "multicast", "reverse"];

pub fn run(o: ProbeOpts) -> Result<u8> {
    let addrs = crate::net::resolve::dest(&o.server, o.family, o.numeric)?;
    let mut checks = Vec::new();
    crate::net::block_on(async { checks = probe(&o, &addrs).await });
    let out = if o.json {
        report::json(&checks)
    } else {
        report::text(&checks)
    };
    crate::local::stdio::print_text(&out).map_err(|e| runtime("writing the report", &e))?;
    Ok(if checks.iter().all(Check::acceptable) {
        0
    } else {
        1
    })
}

/// Every check but `first`, skipped for `why`.
fn rest_skipped(first: Check, why: &str) -> Vec<Check> {
    let mut v = vec![first];
    v.extend(NAMES[1..].iter().map(|n| Check::skipped(n, why)));
    v
}

async fn probe(o: &ProbeOpts, addrs: &[SocketAddr]) -> Vec<Check> {
    let mut errors = Vec::new();
    let mut conn = None;
    for a in addrs {
        let t = Instant::now();
        match crate::net::tcp::connect(*a, None, &SockOpts::default(), Some(CONNECT_WAIT)).await {
            Ok(s) => {
                conn = Some((s, t.elapsed(), *a));
                break;
            }
            Err(e) => errors.push(format!("{a}: {}", describe(&e))),
        }
    }
    let Some((s, connect, peer)) = conn else {
        let why = format!("cannot connect to the probe server ({})", errors.join("; "));
        return rest_skipped(Check::failed("tcp", &why), "no control connection");
    };
    let mut ctl = match hello(s, peer).await {
        Ok(c) => c,
        Err(e) => {
            let why = format!("control connection to {peer}: {e}");
            return rest_skipped(Check::failed("tcp", &why), "no control connection");
        }
    };
    // Without it only the checks on this socket are skipped (multicast has
    // its own socket; reverse is TCP).
    let udp = udp_socket(ctl.server_udp).map_err(|e| format!("UDP socket: {}", describe(&e)));
    let mut out = Vec::new();
    let mut lost: Option<String> = None;
    for name in NAMES {
        if let Some(why) = &lost {
            out.push(Check::skipped(
                name,
                &format!("control connection lost: {why}"),
            ));
            continue;
        }
        let r = match (name, &udp) {
            ("tcp", _) => checks::tcp::run(&mut ctl, connect, o.time).await,
            ("udp" | "pmtu" | "broadcast", Err(why)) => {
                out.push(Check::skipped(name, why));
                continue;
            }
            ("udp", Ok((u, _))) => checks::udp::run(&mut ctl, u).await,
            ("pmtu", Ok((u, df))) => checks::pmtu::run(&mut ctl, u, df).await,
            ("broadcast", Ok((u, _))) => checks::broadcast::run(&mut ctl, u).await,
            ("multicast", _) => checks::multicast::run(&mut ctl, o.group).await,
            _ => checks::reverse::run(&mut ctl).await,
        };
        out.push(r.unwrap_or_else(|e| {
            let c = Check::failed(name, &e);
            lost = Some(e);
            c
        }));
    }
    if lost.is_none() {
        let _ = ctl.send(&Msg::Bye).await;
    }
    out
}

/// Hello → Welcome.
async fn hello(s: async_net::TcpStream, peer: SocketAddr) -> std::result::Result<Ctl, String> {
    let local = s.local_addr().map_err(|e| describe(&e))?;
    let mut ctl = Ctl::new(s, 0, peer, local);
    ctl.send(&Msg::Hello { version: VERSION }).await?;
    let welcome = ctl
        .recv("the server's Welcome", Duration::from_secs(10))
        .await
        .map_err(|e| {
            if e.contains("not a netcrab probe message") {
                format!("not a netcrab probe server: {e}")
            } else {
                e
            }
        })?;
    match welcome {
        Msg::Welcome {
            version: VERSION,
            token,
            udp_port,
        } => {
            ctl.token = token;
            ctl.server_udp = SocketAddr::new(peer.ip(), udp_port);
            Ok(ctl)
        }
        Msg::Welcome { version, .. } => Err(format!(
            "server speaks protocol version {version}, this client {VERSION}"
        )),
        m => Err(checks::unexpected(&m, "Welcome")),
    }
}

/// The client's UDP socket: the wildcard of the server's family (so subnet
/// broadcasts arrive too), with don't-fragment when it can be set.
fn udp_socket(server: SocketAddr) -> std::io::Result<(UdpSocket, std::result::Result<(), String>)> {
    let any = crate::net::resolve::wildcard(server.is_ipv4(), 0);
    let u = crate::net::udp::bind(any, &SockOpts::default(), &Default::default())?;
    let df = super::dontfrag::set(&u, server.is_ipv6()).map_err(|e| describe(&e));
    Ok((u, df))
}
