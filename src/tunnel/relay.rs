//! The relay: a listener for inside ends (control and data connections) and
//! a public listener for clients. Each client waits (at most
//! [`MAX_PENDING`] at once, each at most [`HANDSHAKE`]) until the inside end
//! opens a data connection for it, then the two are spliced.

use super::auth::{self, Role, Secret};
use super::proto::{read_msg, write_msg, Mac, Msg, VERSION};
use super::TunnelRelayOpts;
use super::{pipe, within, CONTROL_IDLE, HANDSHAKE, PING_EVERY};
use crate::error::{describe, Error, Result};
use crate::net::sockopt::SockOpts;
use crate::net::{family_name, resolve, tcp};
use async_net::{Shutdown, TcpListener, TcpStream};
use smol::channel::{Receiver, Sender};
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

/// The start of the Error an inside end gets when a newer one replaces it
/// (it then stops, so two inside ends do not take turns for ever).
pub const REPLACED: &str = "replaced by a newer inside end";

/// What a waiting client gets.
enum Outcome {
    /// A data connection from the inside end, already answered `Paired`.
    Data(TcpStream),
    /// The inside end could not serve it (the service is down...).
    Failed(String),
}

struct Waiting {
    reply: Sender<Outcome>,
}

/// The logged-in inside end.
struct Control {
    gen: u64,
    out: Sender<Msg>,
    peer: SocketAddr,
}

struct Relay {
    secret: Option<Secret>,
    verbose: u8,
    /// Where clients connect, for the Welcome message.
    public: String,
    control: RefCell<Option<Control>>,
    pending: RefCell<HashMap<u64, Waiting>>,
    next_id: Cell<u64>,
    logins: Cell<u64>,
    handshakes: Cell<usize>,
}

/// Bind everything up front (errors come before "Listening on"), then serve
/// until killed.
pub fn run(o: TunnelRelayOpts) -> Result<u8> {
    let inside = bind(&o.inside, &o, "tunnel inside ends")?;
    let public = bind(&o.public, &o, "tunnel clients")?;
    let relay = Rc::new(Relay {
        secret: Secret::from_bytes(o.secret.map(|s| s.0)),
        verbose: o.verbose,
        public: public
            .iter()
            .map(|(_, a)| a.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        control: RefCell::new(None),
        pending: RefCell::new(HashMap::new()),
        next_id: Cell::new(1),
        logins: Cell::new(0),
        handshakes: Cell::new(0),
    });
    let ex: Rc<LocalExecutor<'static>> = Rc::new(LocalExecutor::new());
    smol::block_on(ex.run(async {
        for (l, local) in inside {
            ex.spawn(accept_inside(l, local, ex.clone(), relay.clone()))
                .detach();
        }
        for (l, local) in public {
            ex.spawn(accept_clients(l, local, ex.clone(), relay.clone()))
                .detach();
        }
        smol::future::pending::<()>().await;
    }));
    Ok(0)
}

fn bind(
    spec: &crate::addr::ListenSpec,
    o: &TunnelRelayOpts,
    what: &str,
) -> Result<Vec<(TcpListener, SocketAddr)>> {
    let mut out = Vec::new();
    for a in resolve::listen(spec, o.family, o.numeric)? {
        let l = tcp::listen(a, &SockOpts::default())
            .map_err(|e| Error::Runtime(format!("cannot listen on {a}: {}", describe(&e))))?;
        let local = l
            .local_addr()
            .map_err(|e| Error::Runtime(format!("listener on {a}: {}", describe(&e))))?;
        eprintln!(
            "Listening on {local}, protocol TCP ({what}), family {}",
            family_name(&local)
        );
        out.push((l, local));
    }
    Ok(out)
}

async fn accept_next(l: &TcpListener, local: SocketAddr) -> (TcpStream, SocketAddr) {
    loop {
        match l.accept().await {
            Ok(x) => {
                // Small frames (Conn after Conn) and forwarded writes go out at
                // once: Nagle would hold each behind the previous one's ACK,
                // which a delayed ACK makes 40 ms.
                let _ = x.0.set_nodelay(true);
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

// ---- clients -------------------------------------------------------------

async fn accept_clients(
    l: TcpListener,
    local: SocketAddr,
    ex: Rc<LocalExecutor<'static>>,
    relay: Rc<Relay>,
) {
    loop {
        let (stream, peer) = accept_next(&l, local).await;
        if relay.pending.borrow().len() >= MAX_PENDING {
            eprintln!(
                "netcrab: tunnel client {peer}: refused, {MAX_PENDING} clients already wait for the inside end"
            );
            continue;
        }
        let id = relay.next_id.get();
        relay.next_id.set(id.wrapping_add(1));
        let (tx, rx) = smol::channel::bounded(1);
        relay.pending.borrow_mut().insert(id, Waiting { reply: tx });
        if let Some(c) = relay.control.borrow().as_ref() {
            // Full or closed: the next login announces every waiting client.
            let _ = c.out.try_send(Msg::Conn { id });
        }
        ex.spawn(client(relay.clone(), id, stream, peer, rx))
            .detach();
    }
}

enum Wait {
    Got(Outcome),
    Gone,
    TimedOut,
}

/// One client: wait for its data connection, then splice.
async fn client(
    relay: Rc<Relay>,
    id: u64,
    stream: TcpStream,
    peer: SocketAddr,
    rx: Receiver<Outcome>,
) {
    if relay.verbose > 0 {
        eprintln!("Tunnel client {peer} connected (id {id})");
    }
    let deadline = Instant::now() + HANDSHAKE;
    let wait = futures_lite::future::or(
        async {
            match rx.recv().await {
                Ok(o) => Wait::Got(o),
                Err(_) => Wait::Got(Outcome::Failed("dropped".into())),
            }
        },
        futures_lite::future::or(vanished(&stream), async {
            smol::Timer::at(deadline).await;
            Wait::TimedOut
        }),
    )
    .await;
    relay.pending.borrow_mut().remove(&id);
    match wait {
        Wait::Got(Outcome::Data(data)) => {
            if relay.verbose > 0 {
                eprintln!("Tunnel client {peer} paired (id {id})");
            }
            pipe(stream, data).await;
            if relay.verbose > 0 {
                eprintln!("Tunnel client {peer} done (id {id})");
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
            let why = if relay.control.borrow().is_some() {
                "no answer from the inside end"
            } else {
                "no inside end connected"
            };
            eprintln!(
                "netcrab: tunnel client {peer}: {why} within {} s; closed",
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

// ---- inside ends -----------------------------------------------------------

async fn accept_inside(
    l: TcpListener,
    local: SocketAddr,
    ex: Rc<LocalExecutor<'static>>,
    relay: Rc<Relay>,
) {
    loop {
        let (stream, peer) = accept_next(&l, local).await;
        if relay.handshakes.get() >= MAX_HANDSHAKES {
            eprintln!(
                "netcrab: tunnel inside link {peer}: refused, {MAX_HANDSHAKES} handshakes already under way"
            );
            continue;
        }
        ex.spawn(inside_link(relay.clone(), stream, peer)).detach();
    }
}

/// What an inside-link connection turned out to be.
enum Link {
    Control,
    Data(u64),
}

/// One connection from an inside end: handshake, then control or data.
async fn inside_link(relay: Rc<Relay>, mut s: TcpStream, peer: SocketAddr) {
    relay.handshakes.set(relay.handshakes.get() + 1);
    let link = handshake(&relay, &mut s).await;
    relay.handshakes.set(relay.handshakes.get() - 1);
    let result = match link {
        Ok(Link::Control) => control(&relay, s.clone(), peer).await,
        Ok(Link::Data(id)) => data(&relay, s.clone(), id).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("netcrab: tunnel inside link {peer} dropped: {e}");
        let _ = within(Duration::from_secs(1), "room for the error", async {
            write_msg(&mut s, &Msg::Error(e)).await
        })
        .await;
        let _ = s.shutdown(Shutdown::Both);
    }
}

async fn handshake(relay: &Relay, s: &mut TcpStream) -> std::result::Result<Link, String> {
    let (version, inside) = match within(HANDSHAKE, "Hello", read_msg(s)).await? {
        Msg::Hello { version, nonce } => (version, nonce),
        m => return Err(format!("expected Hello, got {}", m.name())),
    };
    if version != VERSION {
        return Err(format!(
            "unsupported protocol version {version} (this relay speaks {VERSION})"
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
    within(
        HANDSHAKE,
        "room for the Challenge",
        write_msg(s, &challenge),
    )
    .await?;
    let check = |role: Role, id: u64, mac: Option<Mac>| match (&relay.secret, mac) {
        (None, _) => Ok(()),
        (Some(_), None) => Err("refused: no secret given (this relay requires one)".to_string()),
        (Some(k), Some(m)) if k.check(role, &inside, &nonce, id, &m) => Ok(()),
        (Some(_), Some(_)) => Err("refused: wrong secret".to_string()),
    };
    match within(HANDSHAKE, "Login or Accept", read_msg(s)).await? {
        Msg::Login { mac } => check(Role::Login, 0, mac).map(|()| Link::Control),
        Msg::Accept { id, mac } => check(Role::Accept, id, mac).map(|()| Link::Data(id)),
        Msg::Error(e) => Err(format!("the inside end says: {e}")),
        m => Err(format!("expected Login or Accept, got {}", m.name())),
    }
}

/// A data connection for client `id`: answer Paired and hand it over.
async fn data(relay: &Relay, mut s: TcpStream, id: u64) -> std::result::Result<(), String> {
    let Some(w) = relay.pending.borrow_mut().remove(&id) else {
        return Err(format!(
            "no client waits under id {id} (it left or timed out)"
        ));
    };
    match within(
        HANDSHAKE,
        "room for Paired",
        write_msg(&mut s, &Msg::Paired),
    )
    .await
    {
        Ok(()) => {
            // A client that has just gone drops the connection with it.
            let _ = w.reply.try_send(Outcome::Data(s));
            Ok(())
        }
        Err(e) => {
            let _ = w
                .reply
                .try_send(Outcome::Failed(format!("its data connection failed: {e}")));
            Err(e)
        }
    }
}

/// The control connection: announce waiting clients, ping, read Pong and
/// Failed. A newer login replaces it.
async fn control(relay: &Relay, s: TcpStream, peer: SocketAddr) -> std::result::Result<(), String> {
    let gen = relay.logins.get() + 1;
    relay.logins.set(gen);
    // Room for a Conn per waiting client, the Welcome and a few Pings.
    let (tx, rx) = smol::channel::bounded(MAX_PENDING + 8);
    let _ = tx.try_send(Msg::Welcome {
        public: relay.public.clone(),
    });
    for id in relay.pending.borrow().keys() {
        let _ = tx.try_send(Msg::Conn { id: *id });
    }
    let old = relay
        .control
        .borrow_mut()
        .replace(Control { gen, out: tx, peer });
    match old {
        Some(old) => {
            eprintln!(
                "Tunnel inside end {peer} logged in; the previous one ({}) is closed",
                old.peer
            );
            // Its writer sends this, then finds the queue closed and ends.
            let _ = old.out.try_send(Msg::Error(format!("{REPLACED} ({peer})")));
        }
        None => eprintln!("Tunnel inside end {peer} logged in"),
    }
    let ended = futures_lite::future::or(
        control_reader(relay, s.clone()),
        control_writer(rx, s.clone()),
    )
    .await;
    let current = relay.control.borrow().as_ref().map(|c| c.gen) == Some(gen);
    if current {
        relay.control.borrow_mut().take();
    }
    if !current {
        // Replaced by a newer login, which has said so.
        let _ = s.shutdown(Shutdown::Both);
        return Ok(());
    }
    ended
}

async fn control_reader(relay: &Relay, mut s: TcpStream) -> std::result::Result<(), String> {
    loop {
        match within(
            CONTROL_IDLE,
            "message from the inside end",
            read_msg(&mut s),
        )
        .await?
        {
            Msg::Pong => {}
            Msg::Failed { id, reason } => {
                if let Some(w) = relay.pending.borrow_mut().remove(&id) {
                    let _ = w.reply.try_send(Outcome::Failed(reason));
                }
            }
            Msg::Error(e) => return Err(format!("the inside end says: {e}")),
            m => return Err(format!("unexpected {} on the control connection", m.name())),
        }
    }
}

/// Send what the relay queues, and a Ping every [`PING_EVERY`]. Ends with
/// Ok when the relay drops the queue (a newer login replaced this one).
async fn control_writer(rx: Receiver<Msg>, mut s: TcpStream) -> std::result::Result<(), String> {
    let mut next_ping = Instant::now() + PING_EVERY;
    loop {
        let m = futures_lite::future::or(async { rx.recv().await.ok() }, async {
            smol::Timer::at(next_ping).await;
            Some(Msg::Ping)
        })
        .await;
        let Some(m) = m else {
            return Ok(());
        };
        if m == Msg::Ping {
            next_ping = Instant::now() + PING_EVERY;
        }
        within(HANDSHAKE, "room to send", write_msg(&mut s, &m)).await?;
    }
}
