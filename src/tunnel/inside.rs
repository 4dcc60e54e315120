//! The inside end: keeps one control connection to the relay (reconnecting
//! with back-off), and for each `Conn id` dials the service, then opens a
//! data connection to the relay carrying `Accept id` and splices the two.

use super::auth::{self, Role, Secret};
use super::proto::{read_msg, write_msg, Msg, VERSION};
use super::TunnelInsideOpts;
use super::{pipe, within, CONTROL_IDLE, HANDSHAKE};
use crate::addr::HostPort;
use crate::error::{describe, Error, Result};
use crate::net::sockopt::SockOpts;
use crate::net::Family;
use crate::net::{resolve, tcp};
use async_net::TcpStream;
use smol::lock::Mutex;
use smol::LocalExecutor;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

/// The first wait before connecting again; it doubles up to [`MAX_BACKOFF`]
/// and starts over after a login.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

struct Inside {
    relay: HostPort,
    service: HostPort,
    secret: Option<Secret>,
    family: Family,
    numeric: bool,
    verbose: u8,
    /// Connect timeout (relay and service).
    wait: Duration,
}

/// Why a control session ended.
enum Stop {
    /// Connect again after the back-off.
    Retry(String),
    /// Give up: the relay refused us, or the command line cannot work.
    Fatal(Error),
}

fn retry(e: impl Into<String>) -> Stop {
    Stop::Retry(e.into())
}

fn fatal(e: impl Into<String>) -> Stop {
    Stop::Fatal(Error::Runtime(e.into()))
}

pub fn run(o: TunnelInsideOpts) -> Result<u8> {
    let me = Rc::new(Inside {
        relay: o.relay,
        service: o.service,
        secret: Secret::from_bytes(o.secret.map(|s| s.0)),
        family: o.family,
        numeric: o.numeric,
        verbose: o.verbose,
        wait: o.wait,
    });
    let ex: Rc<LocalExecutor<'static>> = Rc::new(LocalExecutor::new());
    smol::block_on(ex.run(keep_connected(me, ex.clone())))
}

/// Sessions one after another, with back-off between failures. The same
/// failure is reported once, not at every attempt.
async fn keep_connected(me: Rc<Inside>, ex: Rc<LocalExecutor<'static>>) -> Result<u8> {
    let mut backoff = FIRST_BACKOFF;
    let mut last = String::new();
    loop {
        let mut logged_in = false;
        match session(&me, &ex, &mut logged_in).await {
            Stop::Fatal(e) => return Err(e),
            Stop::Retry(e) => {
                if logged_in {
                    backoff = FIRST_BACKOFF;
                    last.clear();
                }
                if e != last || me.verbose > 0 {
                    eprintln!(
                        "netcrab: tunnel: {e}; connecting again (every {} s at most)",
                        MAX_BACKOFF.as_secs()
                    );
                    last = e;
                }
                smol::Timer::after(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Resolve `hp`. A name lookup blocks (as everywhere in netcrab); it is
/// done once per control session, not per client.
fn lookup(me: &Inside, hp: &HostPort) -> std::result::Result<Vec<SocketAddr>, Error> {
    resolve::dest(hp, me.family, me.numeric)
}

/// Connect to the first of `addrs` that answers.
async fn connect(addrs: &[SocketAddr], wait: Duration) -> std::result::Result<TcpStream, String> {
    let mut err = String::from("no address");
    for a in addrs {
        match tcp::connect(*a, None, &SockOpts::default(), Some(wait)).await {
            Ok(s) => {
                // As on the relay: no Nagle delay for frames and forwarded writes.
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => err = format!("{a}: {}", describe(&e)),
        }
    }
    Err(err)
}

/// Hello, check the relay's Challenge (and its proof of the secret), then
/// send Login (`id` None) or Accept.
async fn handshake(
    me: &Inside,
    s: &mut TcpStream,
    id: Option<u64>,
) -> std::result::Result<(), Stop> {
    let inside = auth::nonce().map_err(fatal)?;
    let hello = Msg::Hello {
        version: VERSION,
        nonce: inside,
    };
    within(HANDSHAKE, "room for the Hello", write_msg(s, &hello))
        .await
        .map_err(retry)?;
    let (nonce, proof) = match within(HANDSHAKE, "Challenge", read_msg(s))
        .await
        .map_err(retry)?
    {
        Msg::Challenge {
            version: VERSION,
            nonce,
            proof,
        } => (nonce, proof),
        Msg::Challenge { version, .. } => {
            return Err(fatal(format!(
                "the relay speaks protocol version {version}, this end {VERSION}"
            )))
        }
        Msg::Error(e) => return Err(fatal(format!("the relay refused us: {e}"))),
        m => return Err(retry(format!("expected Challenge, got {}", m.name()))),
    };
    let role = if id.is_some() {
        Role::Accept
    } else {
        Role::Login
    };
    let mac = match (&me.secret, proof) {
        (None, None) => None,
        (Some(k), Some(p)) if k.check(Role::Relay, &inside, &nonce, 0, &p) => {
            Some(k.sign(role, &inside, &nonce, id.unwrap_or(0)))
        }
        (secret, proof) => {
            let why = match (secret, proof) {
                (Some(_), Some(_)) => {
                    "the relay's proof of the secret is wrong (the two ends hold different secrets)"
                }
                (Some(_), None) => "the relay has no secret, but the inside end has one",
                _ => "the relay requires a secret, but the inside end has none (--secret-file)",
            };
            // Tell the relay, so its log says why too.
            let _ = within(Duration::from_secs(1), "room for the Error", async {
                write_msg(s, &Msg::Error(why.to_string())).await
            })
            .await;
            return Err(fatal(format!("{why}; not serving this relay")));
        }
    };
    let m = match id {
        None => Msg::Login { mac },
        Some(id) => Msg::Accept { id, mac },
    };
    within(HANDSHAKE, "room for the Login", write_msg(s, &m))
        .await
        .map_err(retry)
}

/// One control connection, from connect to its end.
async fn session(me: &Rc<Inside>, ex: &Rc<LocalExecutor<'static>>, logged_in: &mut bool) -> Stop {
    let addrs = match lookup(me, &me.relay) {
        Ok(a) => a,
        Err(Error::Usage(e)) => return Stop::Fatal(Error::Usage(e)),
        Err(Error::Runtime(e)) => return retry(e),
    };
    // A service that cannot be resolved fails each client, promptly.
    let service = lookup(me, &me.service).map_err(|e| e.to_string());
    let service = Rc::new(service);
    let mut s = match connect(&addrs, me.wait).await {
        Ok(s) => s,
        Err(e) => return retry(format!("relay {e}")),
    };
    let relay_addr = match s.peer_addr() {
        Ok(a) => a,
        Err(e) => return retry(format!("relay: {}", describe(&e))),
    };
    if let Err(stop) = handshake(me, &mut s, None).await {
        return stop;
    }
    let public = match within(HANDSHAKE, "Welcome", read_msg(&mut s)).await {
        Ok(Msg::Welcome { public }) => public,
        Ok(Msg::Error(e)) => return fatal(format!("the relay refused us: {e}")),
        Ok(m) => return retry(format!("expected Welcome, got {}", m.name())),
        Err(e) => return retry(format!("relay {relay_addr}: {e}")),
    };
    *logged_in = true;
    eprintln!(
        "Tunnel up: relay {relay_addr}, clients connect to {public}, service {}",
        me.service
    );
    let writer = Rc::new(Mutex::new(s.clone()));
    loop {
        let m = match within(CONTROL_IDLE, "message from the relay", read_msg(&mut s)).await {
            Ok(m) => m,
            Err(e) => return retry(format!("relay {relay_addr}: {e}")),
        };
        match m {
            Msg::Ping => {
                let mut w = writer.lock().await;
                if let Err(e) = within(
                    HANDSHAKE,
                    "room for the Pong",
                    write_msg(&mut *w, &Msg::Pong),
                )
                .await
                {
                    return retry(format!("relay {relay_addr}: {e}"));
                }
            }
            Msg::Conn { id } => {
                ex.spawn(serve(
                    me.clone(),
                    service.clone(),
                    relay_addr,
                    id,
                    writer.clone(),
                ))
                .detach();
            }
            Msg::Error(e) if e.starts_with(super::relay::REPLACED) => {
                return fatal(format!("relay {relay_addr}: {e}; stopping"))
            }
            Msg::Error(e) => return retry(format!("relay {relay_addr} says: {e}")),
            m => {
                return retry(format!(
                    "relay {relay_addr}: unexpected {} on the control connection",
                    m.name()
                ))
            }
        }
    }
}

/// Client `id`: dial the service, then the relay's data connection, splice.
async fn serve(
    me: Rc<Inside>,
    service: Rc<std::result::Result<Vec<SocketAddr>, String>>,
    relay: SocketAddr,
    id: u64,
    control: Rc<Mutex<TcpStream>>,
) {
    let service = match service.as_ref() {
        Ok(addrs) => connect(addrs, me.wait).await,
        Err(e) => Err(e.clone()),
    };
    let service = match service {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "netcrab: tunnel client {id}: cannot reach the service {e}; the relay closes the client"
            );
            let failed = Msg::Failed {
                id,
                reason: format!("service {e}"),
            };
            let mut w = control.lock().await;
            let _ = within(HANDSHAKE, "room for Failed", write_msg(&mut *w, &failed)).await;
            return;
        }
    };
    match open_data(&me, relay, id).await {
        Ok(data) => {
            if me.verbose > 0 {
                eprintln!("Tunnel client {id}: service connected, paired");
            }
            pipe(data, service).await;
            if me.verbose > 0 {
                eprintln!("Tunnel client {id}: done");
            }
        }
        Err(e) => eprintln!("netcrab: tunnel client {id}: data connection to the relay: {e}"),
    }
}

async fn open_data(
    me: &Inside,
    relay: SocketAddr,
    id: u64,
) -> std::result::Result<TcpStream, String> {
    let mut s = connect(&[relay], me.wait).await?;
    handshake(me, &mut s, Some(id))
        .await
        .map_err(|stop| match stop {
            Stop::Retry(e) => e,
            Stop::Fatal(e) => e.to_string(),
        })?;
    match within(HANDSHAKE, "Paired", read_msg(&mut s)).await? {
        Msg::Paired => Ok(s),
        Msg::Error(e) => Err(format!("the relay says: {e}")),
        m => Err(format!("expected Paired, got {}", m.name())),
    }
}
