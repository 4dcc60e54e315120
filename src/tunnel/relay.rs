//! The relay: a listener for inside ends (control and data connections) and
//! public listeners for clients, one per service (TCP listeners, or UDP
//! sockets whose peers each get a flow). Each client or flow waits (at most
//! [`MAX_PENDING`] at once, each at most [`HANDSHAKE`]) until the inside end
//! opens a data connection for it, then the two are spliced.

use super::auth::{self, Role, Secret};
use super::data::{self, Dest};
use super::mailbox::{answer, mailbox, Answer, Mailbox, Post, Reply};
use super::mux::{self, Mux};
use super::opts::Proto;
use super::proto::{
    read_msg, read_msg_max, write_frame, write_msg, Mac, Msg, Nonce, MAX_BODY, MAX_MUX_BODY,
    VERSION,
};
use super::TunnelRelayOpts;
use super::{within, Watch, HANDSHAKE};
use crate::error::{describe, Error, Result};
use crate::net::sockopt::SockOpts;
use crate::net::spawn_detached as spawn;
use crate::net::udp::UdpOpts;
use crate::net::{family_name, resolve, tcp};
use crate::router::map::RouteMap;
use async_net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use smol::LocalExecutor;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Most clients waiting for the inside end at once; more are closed. A
/// waiting client costs a socket and a small entry: its data stays in the
/// kernel until it is paired.
pub const MAX_PENDING: usize = 128;

/// Most inside-link connections in their handshake at once (each at most
/// 2 x [`HANDSHAKE`]); more are closed at once, so a flood of idle
/// connections to the inside port cannot pile up.
const MAX_HANDSHAKES: usize = 256;

/// Datagrams queued per UDP flow (while it waits for its data connection,
/// or while that connection is slower than the peer); more are dropped.
const FLOW_QUEUE: usize = 64;
/// Bytes of datagrams queued across all flows at once; more are dropped,
/// so a flood of new source ports cannot grow memory without bound.
const MAX_QUEUED: usize = 8 << 20;

/// What the handshake returns for a connection closed before its first
/// byte.
const SILENT: &str = "closed without a byte";

/// The start of the Error an inside end gets when a newer one replaces it
/// (it then stops, so two inside ends do not take turns for ever).
pub const REPLACED: &str = "replaced by a newer inside end";

/// What a waiting client gets.
enum Outcome {
    /// A data connection from the inside end, already answered `Paired`.
    Data(TcpStream),
    /// The inside end could not serve it (the service is down...).
    Failed(String),
    /// A mux link: the client becomes one of its streams.
    Mux(Rc<Mux>),
}

struct Waiting {
    /// Its one answer (the first wins; one for a client that has gone is
    /// dropped).
    reply: Reply<Outcome>,
    service: u8,
    /// The challenge its data connection's Accept must answer.
    nonce: Nonce,
}

/// The logged-in inside end.
struct Control {
    gen: u64,
    /// The writer's queue of encoded messages (`Vec<u8>`, the element type
    /// the UDP flows' queues have: the mailbox's code exists once).
    out: Post<Vec<u8>>,
    peer: SocketAddr,
    /// A mux link's streams (`--tunnel-mux` on the inside end).
    mux: Option<Rc<Mux>>,
}

/// One public address: its protocol and what the Welcome calls it.
struct Public {
    proto: Proto,
    text: String,
}

struct Relay {
    secret: Option<Secret>,
    verbose: u8,
    publics: Vec<Public>,
    keepalive: Duration,
    udp_idle: Duration,
    udp_peers: usize,
    control: RefCell<Option<Control>>,
    /// By id (ids only grow: `next_id`), in the router's id map.
    pending: RefCell<RouteMap<Waiting>>,
    next_id: Cell<u64>,
    logins: Cell<u64>,
    handshakes: Cell<usize>,
    /// Bytes of datagrams queued in UDP flows.
    queued: Rc<Cell<usize>>,
}

/// A bound public socket.
enum Bound {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// Bind everything up front (errors come before "Listening on"), then serve
/// until killed.
pub fn run(o: TunnelRelayOpts) -> Result<u8> {
    // Each client or flow holds descriptors (its socket, its data connection).
    crate::net::limits::raise_nofile();
    let inside = bind_tcp(&o.inside, &o, "tunnel inside ends")?;
    let mut publics = Vec::new();
    let mut bound = Vec::new();
    for (k, (proto, spec)) in o.public.iter().enumerate() {
        let socks = bind_public(*proto, spec, &o, "tunnel clients")?;
        let addrs: Vec<String> = socks.iter().map(|(_, a)| a.to_string()).collect();
        publics.push(Public {
            proto: *proto,
            text: format!("{}:{}", proto.name(), addrs.join(", ")),
        });
        bound.extend(socks.into_iter().map(|(b, a)| (k as u8, b, a)));
    }
    let relay = Rc::new(Relay {
        secret: Secret::from_bytes(o.secret.map(|s| s.0)),
        verbose: o.verbose,
        publics,
        keepalive: o.keepalive,
        udp_idle: o.udp_idle,
        udp_peers: o.udp_peers,
        control: RefCell::new(None),
        pending: RefCell::new(RouteMap::new()),
        next_id: Cell::new(1),
        logins: Cell::new(0),
        handshakes: Cell::new(0),
        queued: Rc::new(Cell::new(0)),
    });
    let ex: Rc<LocalExecutor<'static>> = Rc::new(LocalExecutor::new());
    crate::net::run_local(
        &ex,
        Box::pin(async {
            for (l, local) in inside {
                spawn(&ex, accept_loop(l, local, None, ex.clone(), relay.clone()));
            }
            for (k, b, local) in bound {
                match b {
                    Bound::Tcp(l) => spawn(
                        &ex,
                        accept_loop(l, local, Some(k), ex.clone(), relay.clone()),
                    ),
                    Bound::Udp(u) => spawn(
                        &ex,
                        udp_public(Rc::new(u), local, k, ex.clone(), relay.clone()),
                    ),
                }
            }
            smol::future::pending::<()>().await;
        }),
    );
    Ok(0)
}

fn bind_tcp(
    spec: &crate::addr::ListenSpec,
    o: &TunnelRelayOpts,
    what: &str,
) -> Result<Vec<(TcpListener, SocketAddr)>> {
    let mut out = Vec::new();
    for (b, a) in bind_public(Proto::Tcp, spec, o, what)? {
        if let Bound::Tcp(l) = b {
            out.push((l, a));
        }
    }
    Ok(out)
}

fn bind_public(
    proto: Proto,
    spec: &crate::addr::ListenSpec,
    o: &TunnelRelayOpts,
    what: &str,
) -> Result<Vec<(Bound, SocketAddr)>> {
    let mut out = Vec::new();
    for a in resolve::listen(spec, o.family, o.numeric)? {
        let cannot =
            |e: std::io::Error| Error::Runtime(format!("cannot listen on {a}: {}", describe(&e)));
        let (b, local) = match proto {
            Proto::Tcp => {
                let l = tcp::listen(a, &SockOpts::default()).map_err(cannot)?;
                let local = l.local_addr().map_err(cannot)?;
                (Bound::Tcp(l), local)
            }
            Proto::Udp => {
                // Room for bursts from many peers (the kernel caps it).
                let big = SockOpts {
                    rcvbuf: Some(4 << 20),
                    ..SockOpts::default()
                };
                let u = crate::net::udp::bind(a, &big, &UdpOpts::default())
                    .or_else(|_| {
                        crate::net::udp::bind(a, &SockOpts::default(), &UdpOpts::default())
                    })
                    .map_err(cannot)?;
                let local = u.local_addr().map_err(cannot)?;
                (Bound::Udp(u), local)
            }
        };
        eprintln!(
            "Listening on {local}, protocol {} ({what}), family {}",
            proto.name().to_ascii_uppercase(),
            family_name(&local)
        );
        out.push((b, local));
    }
    Ok(out)
}

async fn accept_next(
    l: &TcpListener,
    local: SocketAddr,
    keepalive: Duration,
) -> (TcpStream, SocketAddr) {
    loop {
        match l.accept().await {
            Ok(x) => {
                // Small frames (Conn after Conn) and forwarded writes go out at
                // once: Nagle would hold each behind the previous one's ACK,
                // which a delayed ACK makes 40 ms.
                let _ = x.0.set_nodelay(true);
                data::keepalive(&x.0, keepalive);
                return x;
            }
            Err(e) => {
                // Out of descriptors and the like: wait, then go on.
                eprintln!("netcrab: tunnel listener {local}: accept: {}", describe(&e));
                smol::Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Register a waiting client (or flow) of service `k` and tell the inside
/// end, when one is logged in. None when the OS has no random numbers.
fn register(relay: &Relay, k: u8) -> Option<(u64, Answer<Outcome>)> {
    let mux = relay.control.borrow().as_ref().and_then(|c| c.mux.clone());
    if let Some(m) = mux {
        // A mux link: no data connection to wait for, so no nonce. The
        // answer is in its channel: it waits for nothing, so it takes no
        // place among the clients waiting (MAX_PENDING).
        let id = relay.next_id.get();
        relay.next_id.set(id.wrapping_add(1));
        let (tx, rx) = answer();
        let _ = tx.send(Outcome::Mux(m));
        return Some((id, rx));
    }
    let nonce = match auth::nonce() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("netcrab: tunnel: {e}; client refused");
            return None;
        }
    };
    let id = relay.next_id.get();
    relay.next_id.set(id.wrapping_add(1));
    let (tx, rx) = answer();
    relay.pending.borrow_mut().insert(
        id,
        Waiting {
            reply: tx,
            service: k,
            nonce,
        },
    );
    if let Some(c) = relay.control.borrow().as_ref() {
        // Full or closed: the next login announces every waiting client.
        let _ = c.out.send(
            Msg::Conn {
                id,
                service: k,
                nonce,
            }
            .encode(),
        );
    }
    Some((id, rx))
}

// ---- clients -------------------------------------------------------------

/// Accept on one listener: inside ends (`k` None), or the clients of
/// service `k`. One loop for both (one task type).
async fn accept_loop(
    l: TcpListener,
    local: SocketAddr,
    k: Option<u8>,
    ex: Rc<LocalExecutor<'static>>,
    relay: Rc<Relay>,
) {
    loop {
        let (stream, peer) = accept_next(&l, local, relay.keepalive).await;
        let Some(k) = k else {
            if relay.handshakes.get() >= MAX_HANDSHAKES {
                eprintln!(
                    "netcrab: tunnel inside link {peer}: refused, {MAX_HANDSHAKES} handshakes already under way"
                );
                continue;
            }
            spawn(&ex, inside_link(relay.clone(), stream, peer));
            continue;
        };
        if relay.pending.borrow().len() >= MAX_PENDING {
            eprintln!(
                "netcrab: tunnel client {peer}: refused, {MAX_PENDING} clients already wait for the inside end"
            );
            continue;
        }
        let Some((id, rx)) = register(&relay, k) else {
            continue;
        };
        spawn(&ex, client(relay.clone(), id, k, stream, peer, rx));
    }
}

enum Wait {
    Got(Outcome),
    Gone,
    TimedOut,
}

/// Wait for client `id`'s data connection (at most [`HANDSHAKE`]), or for
/// the TCP client to go (not generic over that: built once).
async fn wait_for_data(
    relay: &Relay,
    id: u64,
    rx: Answer<Outcome>,
    client: Option<&TcpStream>,
) -> Wait {
    // A mux link's answer is already there: no deadline timer (each costs
    // the reactor a wake-up and system calls per client).
    if let Some(o) = rx.try_recv() {
        relay.pending.borrow_mut().remove(&id);
        return Wait::Got(o);
    }
    let deadline = Instant::now() + HANDSHAKE;
    let wait = futures_lite::future::or(
        async {
            match rx.recv().await {
                Some(o) => Wait::Got(o),
                None => Wait::Got(Outcome::Failed("dropped".into())),
            }
        },
        futures_lite::future::or(
            async {
                match client {
                    Some(s) => vanished(s).await,
                    None => smol::future::pending().await,
                }
            },
            async {
                smol::Timer::at(deadline).await;
                Wait::TimedOut
            },
        ),
    )
    .await;
    relay.pending.borrow_mut().remove(&id);
    wait
}

fn why_unanswered(relay: &Relay) -> &'static str {
    if relay.control.borrow().is_some() {
        "no answer from the inside end"
    } else {
        "no inside end connected"
    }
}

/// One client: wait for its data connection, then splice.
async fn client(
    relay: Rc<Relay>,
    id: u64,
    k: u8,
    stream: TcpStream,
    peer: SocketAddr,
    rx: Answer<Outcome>,
) {
    if relay.verbose > 0 {
        eprintln!("Tunnel client {peer} connected (id {id})");
    }
    match wait_for_data(&relay, id, rx, Some(&stream)).await {
        Wait::Got(Outcome::Data(data)) => {
            if relay.verbose > 0 {
                eprintln!("Tunnel client {peer} paired (id {id})");
            }
            data::pipe(data::Plain::Tcp(stream), data).await;
            if relay.verbose > 0 {
                eprintln!("Tunnel client {peer} done (id {id})");
            }
        }
        Wait::Got(Outcome::Mux(m)) => {
            if relay.verbose > 0 {
                eprintln!("Tunnel client {peer}: stream {id} on the mux link");
            }
            let st = m.open(id, k, false);
            match m.run(id, st, mux::Local::Tcp(stream)).await {
                Ok(()) if relay.verbose > 0 => eprintln!("Tunnel client {peer} done (id {id})"),
                Ok(()) => {}
                Err(e) => eprintln!("netcrab: tunnel client {peer}: {e}; reset"),
            }
        }
        Wait::Got(Outcome::Failed(why)) => {
            eprintln!(
                "netcrab: tunnel client {peer}: the inside end cannot serve it ({why}); closed"
            );
        }
        Wait::Gone => {
            eprintln!("netcrab: tunnel client {peer}: left before the inside end answered");
        }
        Wait::TimedOut => {
            eprintln!(
                "netcrab: tunnel client {peer}: {} within {} s; closed",
                why_unanswered(&relay),
                HANDSHAKE.as_secs()
            );
        }
    }
}

/// Resolves when a waiting client resets its connection. Data or an end of
/// input cannot tell a gone client from an early one, so those wait on.
async fn vanished(s: &TcpStream) -> Wait {
    let mut b = [0u8; 1];
    if s.peek(&mut b).await.is_err() {
        return Wait::Gone;
    }
    smol::future::pending().await
}

// ---- UDP services ----------------------------------------------------------

type Flows = Rc<RefCell<HashMap<SocketAddr, Post<Vec<u8>>>>>;

/// Queue a datagram on a flow, within the flow's and the relay's bounds.
fn enqueue(relay: &Relay, tx: &Post<Vec<u8>>, d: &[u8]) -> bool {
    if relay.queued.get() + d.len() > MAX_QUEUED {
        return false;
    }
    if !tx.send(d.to_vec()) {
        return false;
    }
    relay.queued.set(relay.queued.get() + d.len());
    true
}

/// A public UDP socket: each source address is a flow of its own.
async fn udp_public(
    sock: Rc<UdpSocket>,
    local: SocketAddr,
    k: u8,
    ex: Rc<LocalExecutor<'static>>,
    relay: Rc<Relay>,
) {
    let flows: Flows = Rc::new(RefCell::new(HashMap::new()));
    let mut buf = vec![0u8; 65_536];
    let mut dropped: u64 = 0;
    let mut said_full = false;
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(_) => {
                // An ICMP error for an earlier reply (Windows reports it
                // here); the socket goes on.
                smol::Timer::after(Duration::from_millis(1)).await;
                continue;
            }
        };
        if n == 0 || n > data::MAX_DATAGRAM {
            continue;
        }
        let tx = flows.borrow().get(&peer).cloned();
        if let Some(tx) = tx {
            if !enqueue(&relay, &tx, &buf[..n]) {
                dropped += 1;
            }
            continue;
        }
        let full =
            flows.borrow().len() >= relay.udp_peers || relay.pending.borrow().len() >= MAX_PENDING;
        if full {
            dropped += 1;
            if !said_full {
                eprintln!(
                    "netcrab: tunnel UDP {local}: {} flows at once (--udp-peers) or {MAX_PENDING} waiting; datagrams from new peers are dropped",
                    relay.udp_peers
                );
                said_full = true;
            }
            continue;
        }
        if said_full && relay.verbose > 0 {
            eprintln!(
                "Tunnel UDP {local}: new peers served again ({dropped} datagrams dropped so far)"
            );
        }
        said_full = false;
        let Some((id, reply)) = register(&relay, k) else {
            continue;
        };
        let (tx, rx) = mailbox(FLOW_QUEUE);
        enqueue(&relay, &tx, &buf[..n]);
        flows.borrow_mut().insert(peer, tx);
        spawn(
            &ex,
            udp_flow(
                relay.clone(),
                (id, k),
                peer,
                sock.clone(),
                rx,
                reply,
                flows.clone(),
            ),
        );
    }
}

/// One UDP peer's flow: wait for its data connection, then datagrams both
/// ways until it has been idle for --udp-idle.
async fn udp_flow(
    relay: Rc<Relay>,
    (id, k): (u64, u8),
    peer: SocketAddr,
    sock: Rc<UdpSocket>,
    rx: Mailbox<Vec<u8>>,
    reply: Answer<Outcome>,
    flows: Flows,
) {
    if relay.verbose > 0 {
        eprintln!("Tunnel UDP peer {peer}: new flow (id {id})");
    }
    match wait_for_data(&relay, id, reply, None).await {
        Wait::Got(Outcome::Data(data)) => {
            let seen = Cell::new(Instant::now());
            let up = async {
                let mut w = data.clone();
                while let Some(d) = rx.recv().await {
                    relay.queued.set(relay.queued.get().saturating_sub(d.len()));
                    seen.set(Instant::now());
                    if data::send_datagram(&mut w, &d).await.is_err() {
                        return;
                    }
                }
            };
            let dest = Dest::Peer(sock, peer);
            let down = data::unframe_udp(data.clone(), &dest, &seen);
            let idle = data::idle(&seen, relay.udp_idle);
            futures_lite::future::or(up, futures_lite::future::or(down, idle)).await;
            let _ = data.shutdown(Shutdown::Both);
            if relay.verbose > 0 {
                eprintln!("Tunnel UDP peer {peer}: flow ended (id {id})");
            }
        }
        Wait::Got(Outcome::Mux(m)) => {
            let st = m.open(id, k, true);
            let end = mux::UdpEnd::Peer {
                sock,
                peer,
                rx: rx.clone(),
                queued: relay.queued.clone(),
            };
            let idle = Some(relay.udp_idle);
            match m.run(id, st, mux::Local::Udp { end, idle }).await {
                Err(e) if e != "the flow ended" => {
                    eprintln!("netcrab: tunnel UDP peer {peer}: {e}")
                }
                _ if relay.verbose > 0 => {
                    eprintln!("Tunnel UDP peer {peer}: flow ended (id {id})")
                }
                _ => {}
            }
        }
        Wait::Got(Outcome::Failed(why)) => {
            eprintln!("netcrab: tunnel UDP peer {peer}: the inside end cannot serve it ({why})");
        }
        Wait::Gone => {}
        Wait::TimedOut => {
            eprintln!(
                "netcrab: tunnel UDP peer {peer}: {} within {} s; its datagrams were dropped",
                why_unanswered(&relay),
                HANDSHAKE.as_secs()
            );
        }
    }
    flows.borrow_mut().remove(&peer);
    while let Some(d) = rx.try_recv() {
        relay.queued.set(relay.queued.get().saturating_sub(d.len()));
    }
}

// ---- inside ends -----------------------------------------------------------

/// What an inside-link connection turned out to be.
enum Link {
    Control,
    Mux,
    Data(u64),
}

/// One connection from an inside end: handshake, then control or data.
async fn inside_link(relay: Rc<Relay>, mut s: TcpStream, peer: SocketAddr) {
    relay.handshakes.set(relay.handshakes.get() + 1);
    // One deadline for the whole handshake (and a data connection's Paired).
    let link = within(HANDSHAKE, "complete handshake", async {
        match handshake(&relay, &mut s).await? {
            Link::Data(id) => data(&relay, s.clone(), id).await.map(|()| Link::Data(id)),
            link => Ok(link),
        }
    })
    .await;
    relay.handshakes.set(relay.handshakes.get() - 1);
    let result = match link {
        Ok(Link::Control) => login(&relay, s.clone(), peer, false).await,
        Ok(Link::Mux) => login(&relay, s.clone(), peer, true).await,
        Ok(Link::Data(_)) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        if e == SILENT {
            // An inside end whose service failed before it used a data
            // connection it had opened, a health check, a port scan.
            if relay.verbose > 1 {
                eprintln!("Tunnel inside link {peer}: closed without a byte");
            }
            return;
        }
        eprintln!("netcrab: tunnel inside link {peer} dropped: {e}");
        let _ = within(Duration::from_secs(1), "room for the error", async {
            write_msg(&mut s, &Msg::Error(e)).await
        })
        .await;
        let _ = s.shutdown(Shutdown::Both);
    }
}

/// The services a Login announces, checked against the public addresses:
/// the same count, the same protocol at each place.
fn check_services(relay: &Relay, announced: &[String]) -> std::result::Result<(), String> {
    let same = announced.len() == relay.publics.len()
        && announced
            .iter()
            .zip(&relay.publics)
            .all(|(a, p)| Proto::of(a) == Some(p.proto));
    if same {
        return Ok(());
    }
    let ours: Vec<&str> = relay.publics.iter().map(|p| p.text.as_str()).collect();
    Err(format!(
        "refused: the relay's public addresses are [{}] but the inside end announces [{}] (the k-th service needs the k-th public address, of the same protocol)",
        ours.join("; "),
        announced.join("; ")
    ))
}

async fn handshake(relay: &Relay, s: &mut TcpStream) -> std::result::Result<Link, String> {
    let hello = read_msg(s).await.map_err(|e| {
        // Nothing at all, then the end: not worth a line.
        if e == super::proto::CLOSED {
            SILENT.to_string()
        } else {
            e
        }
    })?;
    let (version, inside) = match hello {
        Msg::Hello { version, nonce } => (version, nonce),
        m => return Err(format!("expected Hello, got {}", m.name())),
    };
    if version != VERSION {
        return Err(format!(
            "unsupported tunnel protocol version {version} (this relay speaks version {VERSION}); run the same netcrab version on both ends"
        ));
    }
    let nonce = auth::nonce()?;
    let proof = relay
        .secret
        .as_ref()
        .map(|k| k.sign(Role::Relay, &inside, &nonce, 0));
    let challenge = Msg::Challenge {
        version: VERSION,
        nonce,
        proof,
    };
    write_msg(s, &challenge).await?;
    let check =
        |role: Role, id: u64, mac: Option<Mac>| admit(relay, role, &inside, &nonce, id, mac);
    match read_msg(s).await? {
        Msg::Login { mac, services } => {
            check(Role::Login, 0, mac)?;
            check_services(relay, &services)?;
            Ok(Link::Control)
        }
        Msg::LoginMux { mac, services, mux } => {
            check(Role::Login, 0, mac)?;
            if mux != mux::VERSION {
                return Err(format!(
                    "unsupported mux version {mux} (this relay speaks mux version {}); run the same netcrab version on both ends",
                    mux::VERSION
                ));
            }
            check_services(relay, &services)?;
            Ok(Link::Mux)
        }
        Msg::Accept { id, mac } => {
            // The Accept answers the challenge its Conn carried.
            let Some(n) = relay.pending.borrow().get(&id).map(|w| w.nonce) else {
                return Err(format!(
                    "no client waits under id {id} (it left or timed out)"
                ));
            };
            admit(relay, Role::Accept, &n, &n, id, mac).map(|()| Link::Data(id))
        }
        Msg::Error(e) => Err(format!("the inside end says: {e}")),
        m => Err(format!("expected Login or Accept, got {}", m.name())),
    }
}

/// Whether `mac` proves the secret (any is fine when the relay has none).
fn admit(
    relay: &Relay,
    role: Role,
    a: &Nonce,
    b: &Nonce,
    id: u64,
    mac: Option<Mac>,
) -> std::result::Result<(), String> {
    match (&relay.secret, mac) {
        (None, _) => Ok(()),
        (Some(_), None) => Err("refused: no secret given (this relay requires one)".to_string()),
        (Some(k), Some(m)) if k.check(role, a, b, id, &m) => Ok(()),
        (Some(_), Some(_)) => Err("refused: wrong secret".to_string()),
    }
}

/// A data connection for client `id`: answer Paired and hand it over.
async fn data(relay: &Relay, mut s: TcpStream, id: u64) -> std::result::Result<(), String> {
    let Some(w) = relay.pending.borrow_mut().remove(&id) else {
        return Err(format!(
            "no client waits under id {id} (it left or timed out)"
        ));
    };
    match write_msg(&mut s, &Msg::Paired).await {
        Ok(()) => {
            // A client that has just gone drops the connection with it.
            let _ = w.reply.send(Outcome::Data(s));
            Ok(())
        }
        Err(e) => {
            let _ = w
                .reply
                .send(Outcome::Failed(format!("its data connection failed: {e}")));
            Err(e)
        }
    }
}

/// A logged-in link (one future for both kinds). A control link announces
/// waiting clients (`Conn`) and reads `Failed`; on a mux link every client
/// stream runs on this connection. Both ping and answer pings; a newer
/// login replaces either.
async fn login(
    relay: &Relay,
    s: TcpStream,
    peer: SocketAddr,
    mux: bool,
) -> std::result::Result<(), String> {
    let gen = relay.logins.get() + 1;
    relay.logins.set(gen);
    let welcome = Msg::Welcome {
        public: relay.publics.iter().map(|p| p.text.clone()).collect(),
    };
    let (m, tx, rx, max, what);
    if mux {
        let x = Mux::new();
        x.send(&welcome);
        // Clients waiting for an inside end are served on this link now.
        for w in relay.pending.borrow().values() {
            let _ = w.reply.send(Outcome::Mux(x.clone()));
        }
        // Pings and the "replaced" Error come through this queue, as for a
        // control link.
        (tx, rx) = mailbox(16);
        (m, max, what) = (Some(x), MAX_MUX_BODY, "the mux link");
    } else {
        // Room for a Conn per waiting client, the Welcome and a few Pings.
        (tx, rx) = mailbox(MAX_PENDING + 8);
        let _ = tx.send(welcome.encode());
        for (id, w) in relay.pending.borrow().iter() {
            let _ = tx.send(
                Msg::Conn {
                    id: *id,
                    service: w.service,
                    nonce: w.nonce,
                }
                .encode(),
            );
        }
        (m, max, what) = (None, MAX_BODY, "the control connection");
    }
    let old = relay.control.borrow_mut().replace(Control {
        gen,
        out: tx,
        peer,
        mux: m.clone(),
    });
    replaced(old, peer);
    let watch = Watch::new();
    let reader = async {
        // Small frames come many to a read; mux data bodies larger than the
        // buffer are read straight into their own.
        let mut r = futures_lite::io::BufReader::with_capacity(32 * 1024, s.clone());
        loop {
            let msg = read_msg_max(&mut r, max).await?;
            watch.heard();
            let msg = match &m {
                Some(m) => match m.on_frame(msg) {
                    Some(msg) => msg,
                    None => continue,
                },
                None => msg,
            };
            match (msg, &m) {
                (Msg::Pong, _) => {}
                (Msg::Ping, Some(m)) => m.send(&Msg::Pong),
                (Msg::Ping, None) => {
                    // Through the writer's queue (not held here: a replaced
                    // login's queue must close).
                    if let Some(c) = relay.control.borrow().as_ref().filter(|c| c.gen == gen) {
                        let _ = c.out.send(Msg::Pong.encode());
                    }
                }
                (Msg::Failed { id, reason }, None) => {
                    if let Some(w) = relay.pending.borrow_mut().remove(&id) {
                        let _ = w.reply.send(Outcome::Failed(reason));
                    }
                }
                (Msg::Error(e), _) => return Err(format!("the inside end says: {e}")),
                (msg, _) => return Err(format!("unexpected {} on {what}", msg.name())),
            }
        }
    };
    // Send what the relay queues. Ends with Ok when the relay drops the
    // queue (a newer login replaced this one).
    let writer = async {
        let Some(m) = &m else {
            let mut w = s.clone();
            while let Some(frame) = rx.recv().await {
                watch.writing(write_frame(&mut w, frame)).await?;
            }
            return Ok(());
        };
        let queue = async {
            while let Some(frame) = rx.recv().await {
                m.send_frame(frame);
            }
            // Replaced: what is queued (the Error) goes out first.
            m.flush(s.clone()).await;
            Ok(())
        };
        futures_lite::future::or(m.writer(s.clone(), &watch), queue).await
    };
    let ended = futures_lite::future::or(
        futures_lite::future::or(reader, writer),
        futures_lite::future::or(control_pinger(relay, gen), async {
            Err(watch.dog(relay.keepalive * 3, "the inside end").await)
        }),
    )
    .await;
    // A mux link's streams are reset; their clients see the cut.
    if let Some(m) = &m {
        m.close();
    }
    if !retire(relay, gen) {
        // Replaced by a newer login, which has said so.
        let _ = s.shutdown(Shutdown::Both);
        return Ok(());
    }
    ended
}

/// Whether login `gen` is still the current one; clears it when it is.
fn retire(relay: &Relay, gen: u64) -> bool {
    let current = relay.control.borrow().as_ref().map(|c| c.gen) == Some(gen);
    if current {
        relay.control.borrow_mut().take();
    }
    current
}

/// Say who logged in, and tell a replaced inside end.
fn replaced(old: Option<Control>, peer: SocketAddr) {
    match old {
        Some(old) => {
            eprintln!(
                "Tunnel inside end {peer} logged in; the previous one ({}) is closed",
                old.peer
            );
            // Its writer sends this, then finds the queue closed and ends.
            let _ = old
                .out
                .send(Msg::Error(format!("{REPLACED} ({peer})")).encode());
        }
        None => eprintln!("Tunnel inside end {peer} logged in"),
    }
}

/// A Ping into the writer's queue every keepalive interval, while this
/// login is the current one.
async fn control_pinger(relay: &Relay, gen: u64) -> std::result::Result<(), String> {
    loop {
        smol::Timer::after(relay.keepalive).await;
        match relay.control.borrow().as_ref().filter(|c| c.gen == gen) {
            Some(c) => {
                let _ = c.out.send(Msg::Ping.encode());
            }
            None => return Ok(()),
        }
    }
}
