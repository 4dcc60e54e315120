//! One probe client on the server: the Hello, then one request at a time
//! until Bye. Every wait has a timeout; any protocol error ends the session.

use super::clients::Clients;
use super::proto::{read_msg, write_raw, Msg, DATA_CHUNK, VERSION};
use super::wire::{Dgram, Kind, HEADER};
use super::{mcast, timeout};
use crate::error::describe;
use crate::net::sockopt::SockOpts;
use async_net::{TcpStream, UdpSocket};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// How long the client may take to say Hello.
const HELLO_WAIT: Duration = Duration::from_secs(10);
/// How long the client may stay silent between requests.
const IDLE_WAIT: Duration = Duration::from_secs(30);
/// Longest pause inside a throughput run.
const DATA_WAIT: Duration = Duration::from_secs(10);
/// Longest throughput run served.
const MAX_RUN: Duration = Duration::from_secs(60);
/// Connect timeout of the reverse check.
const REVERSE_WAIT: Duration = Duration::from_secs(3);

/// Removes the client's token when the session ends, however it ends.
struct Registered<'a>(&'a Clients, u64);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.unregister(self.1);
    }
}

pub async fn serve(
    s: &mut TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    shared: &Clients,
) -> Result<(), String> {
    let mut buf = Vec::new();
    match timeout(HELLO_WAIT, "the client's Hello", read_msg(s, &mut buf)).await? {
        Msg::Hello { version } if version == VERSION => {}
        Msg::Hello { version } => {
            return Err(format!(
                "client speaks protocol version {version}, this server {VERSION}"
            ))
        }
        m => return Err(format!("expected Hello, got {}", m.name())),
    }
    let token = shared.register();
    let _reg = Registered(shared, token);
    // Each request's reply is sent at the top of the loop, the Welcome
    // first: one await of `send` for all of them.
    let mut reply = Msg::Welcome {
        version: VERSION,
        token,
        udp_port: local.port(),
    };
    loop {
        send(s, &reply).await?;
        let m = timeout(IDLE_WAIT, "the next request", read_msg(s, &mut buf)).await?;
        reply = match m {
            Msg::Upload => upload(s, &mut buf).await?,
            Msg::Download { millis } => download(s, millis).await?,
            Msg::UdpStats => Msg::UdpStatsReply {
                pings: shared.pings(token),
            },
            Msg::Broadcast { port } => {
                let (sent, detail) = broadcast(peer, port, token).await;
                Msg::BroadcastDone { sent, detail }
            }
            Msg::Multicast { group, port } => multicast(s, local, group, port, token).await?,
            Msg::Reverse { port } => {
                let (ok, detail) = reverse(peer, port, token).await;
                Msg::ReverseResult { ok, detail }
            }
            Msg::Bye => return Ok(()),
            m => return Err(format!("unexpected {} from the client", m.name())),
        };
    }
}

async fn send(s: &mut TcpStream, m: &Msg) -> Result<(), String> {
    // Every write of the probe is a `write_raw` of an encoded frame: one
    // `timeout` instance for all of them.
    timeout(
        DATA_WAIT,
        "the client to take a reply",
        write_raw(s, &m.encode()),
    )
    .await
}

/// Count Data until UploadEnd; the report (bytes and time since the first
/// Data) to send.
async fn upload(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Msg, String> {
    let mut bytes = 0u64;
    let mut first: Option<Instant> = None;
    loop {
        match timeout(DATA_WAIT, "upload data", read_msg(s, buf)).await? {
            Msg::Data(n) => {
                let t = first.get_or_insert_with(Instant::now);
                bytes += n as u64;
                if t.elapsed() > MAX_RUN + DATA_WAIT {
                    return Err("upload ran far longer than allowed".into());
                }
            }
            Msg::UploadEnd => break,
            m => return Err(format!("unexpected {} during the upload", m.name())),
        }
    }
    let micros = first.map_or(0, |t| t.elapsed().as_micros() as u64);
    Ok(Msg::UploadResult { bytes, micros })
}

/// Send Data for `millis` (at most a minute); then DownloadEnd, to send.
async fn download(s: &mut TcpStream, millis: u32) -> Result<Msg, String> {
    let run = Duration::from_millis(u64::from(millis)).min(MAX_RUN);
    let frame = Msg::Data(DATA_CHUNK).encode();
    let start = Instant::now();
    let mut bytes = 0u64;
    while start.elapsed() < run {
        timeout(DATA_WAIT, "the client to read", write_raw(s, &frame)).await?;
        bytes += DATA_CHUNK as u64;
    }
    Ok(Msg::DownloadEnd { bytes })
}

/// Send to the broadcast address of every local subnet the client is on.
/// Returns how many datagrams went out and to where (or why none).
async fn broadcast(peer: SocketAddr, port: u16, token: u64) -> (u16, String) {
    if port < 1024 {
        return (
            0,
            format!("refusing to broadcast to port {port} (below 1024)"),
        );
    }
    let client = match peer.ip().to_canonical() {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => return (0, "IPv6 has no broadcast".into()),
    };
    let addrs = match crate::net::ifaces::local_addrs() {
        Ok(a) => a,
        Err(e) => return (0, format!("cannot list the server's addresses: {e}")),
    };
    let mut targets: Vec<Ipv4Addr> = Vec::new();
    // The server's subnets that hold the client but have no broadcast address.
    let mut without: Vec<String> = Vec::new();
    for a in &addrs {
        let (IpAddr::V4(ip), Some(p)) = (a.ip, a.prefix) else {
            continue;
        };
        let subnet = crate::net::acl::Cidr::new(IpAddr::V4(ip), p);
        if !subnet.contains(IpAddr::V4(client)) {
            continue;
        }
        // Only the address's own broadcast (none for `ip addr add` without
        // `brd`, nor for a point-to-point peer).
        match a.broadcast {
            Some(IpAddr::V4(b)) if b != ip => {
                if !targets.contains(&b) {
                    targets.push(b);
                }
            }
            _ => without.push(format!("{ip}/{p} on {}", a.name)),
        }
    }
    if targets.is_empty() {
        let why = match without.first() {
            Some(a) => format!("the server's address {a} has no broadcast address"),
            None => format!("the client {client} is not on a broadcast subnet of the server"),
        };
        return (0, why);
    }
    let sock = match bcast_socket() {
        Ok(s) => s,
        Err(e) => return (0, format!("broadcast socket: {}", describe(&e))),
    };
    let mut sent = 0u16;
    let mut errors = Vec::new();
    for round in 0..3u32 {
        for b in &targets {
            let d = Dgram {
                kind: Kind::Broadcast,
                token,
                seq: round,
            }
            .encode(HEADER);
            match sock
                .send_to(&d, SocketAddr::new(IpAddr::V4(*b), port))
                .await
            {
                Ok(_) => sent = sent.saturating_add(1),
                Err(e) => errors.push(format!("{b}: {}", describe(&e))),
            }
        }
        smol::Timer::after(Duration::from_millis(50)).await;
    }
    let list: Vec<String> = targets.iter().map(|b| format!("{b}:{port}")).collect();
    let mut detail = list.join(", ");
    if let Some(e) = errors.first() {
        detail.push_str(&format!(" (send failed: {e})"));
    }
    (sent, detail)
}

fn bcast_socket() -> std::io::Result<UdpSocket> {
    let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    let broadcast = crate::net::udp::UdpOpts {
        broadcast: true,
        ..Default::default()
    };
    crate::net::udp::bind(any, &SockOpts::default(), &broadcast)
}

/// Join the group the client names, tell it we are ready, exchange
/// datagrams; the reply to send: how many of the client's arrived (or
/// why the group was not joined).
async fn multicast(
    s: &mut TcpStream,
    local: SocketAddr,
    group: IpAddr,
    port: u16,
    token: u64,
) -> Result<Msg, String> {
    // Only a multicast group, and no privileged port to share.
    let sock = if !group.is_multicast() || port < 1024 {
        Err(format!(
            "refusing group {group} port {port} (a multicast group and a port from 1024 please)"
        ))
    } else {
        // The connection's own address, not the listener's (a `*:P` server's is the
        // wildcard, whose join follows the route to the group, which a link may lack).
        let here = s.local_addr().map_or(local.ip(), |a| a.ip());
        mcast::socket(here, group, port)
    };
    let sock = match sock {
        Ok(u) => u,
        Err(e) => {
            let detail = format!("server: {e}");
            return Ok(Msg::McReady { ok: false, detail });
        }
    };
    let ready = Msg::McReady {
        ok: true,
        detail: String::new(),
    };
    send(s, &ready).await?;
    let heard = mcast::exchange(&sock, group, port, token, Kind::McServer, Kind::McClient).await;
    Ok(Msg::McResult { heard })
}

/// Connect back to the client's own address at `port` and send the token.
async fn reverse(peer: SocketAddr, port: u16, token: u64) -> (bool, String) {
    let dest = SocketAddr::new(peer.ip(), port);
    let opts = SockOpts::default();
    match crate::net::tcp::connect(dest, None, &opts, Some(REVERSE_WAIT)).await {
        Ok(mut c) => {
            let mut hello = b"NCPR-REV".to_vec();
            hello.extend_from_slice(&token.to_be_bytes());
            // The control writes' future (a TCP stream's flush does nothing).
            let sent = timeout(
                DATA_WAIT,
                "the reverse connection",
                write_raw(&mut c, &hello),
            )
            .await;
            match sent {
                Ok(()) => (true, format!("server connected to {dest}")),
                Err(e) => (false, format!("connected to {dest}, then: {e}")),
            }
        }
        Err(e) => (
            false,
            format!("server connecting to {dest}: {}", describe(&e)),
        ),
    }
}
