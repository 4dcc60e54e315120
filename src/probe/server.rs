//! The responder: per listen address a TCP control listener and a UDP socket
//! on the same port. Clients are served concurrently (one task each, at most
//! [`MAX_SESSIONS`] at once); the UDP socket answers pings and path-MTU
//! probes of known clients only.

use super::clients::{Clients, Slot};
use super::proto::{write_raw, Msg};
use super::session;
use super::wire::{set_kind, Dgram, Kind};
use super::ProbeServerOpts;
use crate::error::{describe, Error, Result};
use crate::net::sockopt::SockOpts;
use crate::net::spawn_detached as spawn;
use crate::net::{family_name, resolve, tcp};
use async_net::{TcpListener, TcpStream, UdpSocket};
use smol::LocalExecutor;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

/// Most connections served at once, counted from accept (a connection that
/// has not said Hello yet holds a slot too); more are told "busy" and closed.
const MAX_SESSIONS: usize = 64;
/// Most "busy" replies being written at once; past that a connection over
/// the limit is closed without one. (A reply fits any fresh socket's buffer,
/// so these end at once unless something is badly wrong.)
const MAX_BUSY_REPLIES: usize = 16;
/// Longest a "busy" or error reply may take.
const REPLY_WAIT: Duration = Duration::from_secs(1);

/// Bind everything up front (so errors come before "Listening on"), then
/// serve.
pub fn run(o: ProbeServerOpts) -> Result<u8> {
    let addrs = resolve::listen(&o.listen, o.family, o.numeric)?;
    let mut bound = Vec::new();
    for a in addrs {
        let l = tcp::listen(a, &SockOpts::default())
            .map_err(|e| Error::Runtime(format!("cannot listen on {a}: {}", describe(&e))))?;
        let local = l
            .local_addr()
            .map_err(|e| Error::Runtime(format!("listener on {a}: {}", describe(&e))))?;
        let u = bind_udp(local)
            .map_err(|e| Error::Runtime(format!("cannot bind UDP {local}: {}", describe(&e))))?;
        eprintln!(
            "Listening on {local}, protocol TCP+UDP (probe server), family {}",
            family_name(&local)
        );
        bound.push((l, u, local));
    }
    let ex: Rc<LocalExecutor<'static>> = Rc::new(LocalExecutor::new());
    let shared = Rc::new(Clients::default());
    // One slot: `--once` waits for the first session's end; later ones find
    // it full and leave nothing behind (unbounded, a long-running server
    // would keep one entry per client forever).
    let (done_tx, done_rx) = smol::channel::bounded::<()>(1);
    let once = o.once;
    crate::net::run_local(
        &ex,
        Box::pin(async {
            for (l, u, local) in bound {
                spawn(&ex, udp_loop(u, shared.clone()));
                spawn(
                    &ex,
                    accept_loop(l, local, ex.clone(), shared.clone(), done_tx.clone()),
                );
            }
            if once {
                let _ = done_rx.recv().await;
            } else {
                smol::future::pending::<()>().await;
            }
        }),
    );
    Ok(0)
}

/// The UDP socket beside a control listener: same address and port, with
/// don't-fragment so path-MTU echoes are not fragmented either.
fn bind_udp(local: SocketAddr) -> std::io::Result<UdpSocket> {
    let u = crate::net::udp::bind(local, &SockOpts::default(), &Default::default())?;
    // Where it is not available the client reports the MTU check skipped.
    let _ = super::dontfrag::set(&u, local.is_ipv6());
    Ok(u)
}

/// Accept for ever. Nothing here waits on a client: each connection, and
/// each "busy" reply, has a task of its own.
async fn accept_loop(
    l: TcpListener,
    local: SocketAddr,
    ex: Rc<LocalExecutor<'static>>,
    shared: Rc<Clients>,
    done: smol::channel::Sender<()>,
) {
    loop {
        let (stream, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors and the like: wait, then go on.
                eprintln!("netcrab: probe server {local}: accept: {}", describe(&e));
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        if shared.open.get() >= MAX_SESSIONS {
            eprintln!("netcrab: probe client {peer}: refused, {MAX_SESSIONS} clients already");
            if shared.busy_replies.get() < MAX_BUSY_REPLIES {
                let slot = Slot::take(&shared, |s| &s.busy_replies);
                spawn(&ex, busy_reply(stream, slot));
            }
            smol::future::yield_now().await;
            continue;
        }
        shared.served.set(shared.served.get().wrapping_add(1));
        let slot = Slot::take(&shared, |s| &s.open);
        spawn(&ex, session_task(stream, peer, local, slot, done.clone()));
        // A flood of connects keeps accept ready: let the sessions run too.
        smol::future::yield_now().await;
    }
}

/// Tell a client over the limit that the server is busy, then close.
async fn busy_reply(mut stream: TcpStream, _slot: Slot) {
    let busy = Msg::Error(format!("server busy ({MAX_SESSIONS} clients)"));
    let frame = busy.encode();
    let _ = super::timeout(REPLY_WAIT, "the busy reply", write_raw(&mut stream, &frame)).await;
}

/// Serve one client; its slot is held from accept until the socket closes.
async fn session_task(
    mut stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    slot: Slot,
    done: smol::channel::Sender<()>,
) {
    let shared = &slot.0;
    eprintln!("Probe client {peer} connected");
    match session::serve(&mut stream, peer, local, shared).await {
        Ok(()) => eprintln!("Probe client {peer} done"),
        Err(e) => {
            eprintln!("netcrab: probe client {peer}: {e}; connection closed");
            let frame = Msg::Error(e).encode();
            let _ = super::timeout(
                REPLY_WAIT,
                "the error reply",
                write_raw(&mut stream, &frame),
            )
            .await;
        }
    }
    drop(stream);
    let _ = done.try_send(());
}

/// Answer pings and path-MTU probes of known clients with a datagram of the
/// same size. Unknown senders get nothing (no reflection).
async fn udp_loop(u: UdpSocket, shared: Rc<Clients>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = match u.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(_) => {
                // ICMP errors from earlier sends surface here on some systems.
                smol::Timer::after(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some(d) = Dgram::decode(&buf[..n]) else {
            continue;
        };
        let reply = match d.kind {
            Kind::Ping if shared.ping(d.token) => Kind::Pong,
            Kind::Probe if shared.known(d.token) => Kind::Echo,
            _ => continue,
        };
        set_kind(&mut buf[..n], reply);
        // Too big for the path (EMSGSIZE) simply means no echo.
        let _ = u.send_to(&buf[..n], from).await;
    }
}
