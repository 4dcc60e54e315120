//! The inside end: keeps one control connection to the relay (reconnecting
//! with back-off), and for each `Conn id service` dials that service, then
//! opens a data connection to the relay carrying `Accept id` and splices
//! the two. Every connection to the relay takes the same [`Route`] (direct
//! or through the proxy); services are dialled directly.

use super::auth::{self, Role, Secret};
use super::data::{self, Dest};
use super::dial::{lookup, DialError, Route};
use super::mux::{self, Mux};
use super::opts::{Proto, Service as Target};
use super::proto::{
    read_msg, read_msg_max, write_msg, Mac, Msg, Nonce, MAX_BODY, MAX_MUX_BODY, VERSION,
};
use super::TunnelInsideOpts;
use super::{within, Watch, HANDSHAKE};
use crate::addr::HostPort;
use crate::error::{describe, Error, Result};
use crate::net::proxy::ProxySpec;
use crate::net::sockopt::SockOpts;
use crate::net::spawn_detached as spawn;
use crate::net::{tcp, Family};
use async_net::TcpStream;
use futures_lite::io::AsyncWriteExt;
use smol::lock::Mutex;
use smol::Async;
use smol::LocalExecutor;
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The first wait before connecting again; it doubles up to [`MAX_BACKOFF`]
/// and starts over after a login.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

struct Inside {
    relay: HostPort,
    services: Vec<(Proto, Target)>,
    secret: Option<Secret>,
    family: Family,
    numeric: bool,
    verbose: u8,
    /// Connect timeout (relay and services).
    wait: Duration,
    keepalive: Duration,
    proxy: Option<ProxySpec>,
    mux: bool,
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

impl From<DialError> for Stop {
    fn from(e: DialError) -> Stop {
        match e {
            DialError::Retry(e) => retry(e),
            DialError::Fatal(e) => fatal(e),
        }
    }
}

pub fn run(o: TunnelInsideOpts) -> Result<u8> {
    // A Windows without AF_UNIX: one line before anything starts.
    #[cfg(any(unix, feature = "unix"))]
    if o.services.iter().any(|(_, s)| matches!(s, Target::Unix(_))) {
        crate::net::unix::available().map_err(|e| Error::Runtime(describe(&e)))?;
    }
    // Each client holds descriptors (service and data connection).
    crate::net::limits::raise_nofile();
    let me = Rc::new(Inside {
        relay: o.relay,
        services: o.services,
        secret: Secret::from_bytes(o.secret.map(|s| s.0)),
        family: o.family,
        numeric: o.numeric,
        verbose: o.verbose,
        wait: o.wait,
        keepalive: o.keepalive,
        proxy: o.proxy,
        mux: o.mux,
    });
    let ex: Rc<LocalExecutor<'static>> = Rc::new(LocalExecutor::new());
    let mut end = Ok(0);
    crate::net::run_local(
        &ex,
        Box::pin(async { end = keep_connected(me, ex.clone()).await }),
    );
    end
}

/// Sessions one after another, with back-off between failures. The same
/// failure is reported once, not at every attempt.
async fn keep_connected(me: Rc<Inside>, ex: Rc<LocalExecutor<'static>>) -> Result<u8> {
    let mut backoff = FIRST_BACKOFF;
    let mut last = String::new();
    loop {
        let mut logged_in = false;
        let started = Instant::now();
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
                // An attempt that itself took the back-off (a connect that
                // timed out on a dead path) is followed at once, so a path
                // that comes back is used within about a second.
                let spent = if logged_in {
                    Duration::ZERO
                } else {
                    started.elapsed()
                };
                smol::Timer::after(backoff.saturating_sub(spent)).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// What the inside end announces: `tcp:HOST:PORT` per service.
fn announced(services: &[(Proto, Target)]) -> Vec<String> {
    services
        .iter()
        .map(|(p, hp)| format!("{}:{hp}", p.name()))
        .collect()
}

/// The control connection's handshake: Hello, check the relay's Challenge
/// (and its proof of the secret), then Login.
async fn handshake(me: &Inside, s: &mut TcpStream) -> std::result::Result<(), Stop> {
    let inside = auth::nonce().map_err(fatal)?;
    let hello = Msg::Hello {
        version: VERSION,
        nonce: inside,
    };
    write_msg(s, &hello).await.map_err(retry)?;
    let (nonce, proof) = match read_msg(s).await.map_err(retry)? {
        Msg::Challenge {
            version: VERSION,
            nonce,
            proof,
        } => (nonce, proof),
        Msg::Challenge { version, .. } => {
            return Err(fatal(format!(
                "the relay speaks tunnel protocol version {version}, this inside end version {VERSION}; run the same netcrab version on both ends"
            )))
        }
        Msg::Error(e) => return Err(fatal(format!("the relay refused us: {e}"))),
        m => return Err(retry(format!("expected Challenge, got {}", m.name()))),
    };
    if let Err(why) = proof_ok(me, &inside, &nonce, proof) {
        // Tell the relay, so its log says why too.
        let _ = within(Duration::from_secs(1), "room for the Error", async {
            write_msg(s, &Msg::Error(why.to_string())).await
        })
        .await;
        return Err(fatal(format!("{why}; not serving this relay")));
    }
    let mac = me
        .secret
        .as_ref()
        .map(|k| k.sign(Role::Login, &inside, &nonce, 0));
    let services = announced(&me.services);
    let login = if me.mux {
        Msg::LoginMux {
            mac,
            services,
            mux: mux::VERSION,
        }
    } else {
        Msg::Login { mac, services }
    };
    write_msg(s, &login).await.map_err(retry)
}

/// `f` within `d`, or a retry naming `what`.
async fn bounded<T>(
    d: Duration,
    what: &str,
    f: impl std::future::Future<Output = std::result::Result<T, Stop>>,
) -> std::result::Result<T, Stop> {
    futures_lite::future::or(f, async { Err(Stop::Retry(super::expire(d, what).await)) }).await
}

/// Each service's addresses, or why it cannot be resolved.
type Resolved = Vec<std::result::Result<Vec<SocketAddr>, String>>;

/// One control connection, from connect to its end.
async fn session(me: &Rc<Inside>, ex: &Rc<LocalExecutor<'static>>, logged_in: &mut bool) -> Stop {
    let route = match Route::to(&me.relay, me.proxy.as_ref(), me.family, me.numeric).await {
        Ok(r) => r,
        Err(Error::Usage(e)) => return Stop::Fatal(Error::Usage(e)),
        Err(Error::Runtime(e)) => return retry(e),
    };
    // A service that cannot be resolved fails each of its clients, promptly.
    let mut resolved: Resolved = Vec::new();
    for (_, svc) in &me.services {
        let r = match svc {
            Target::Net(hp) => lookup(hp, me.family, me.numeric).await,
            Target::Unix(_) => Ok(Vec::new()),
        };
        resolved.push(r.map_err(|e| e.to_string()));
    }
    let resolved = Rc::new(resolved);
    // A dead path must not hold a reconnect for the whole -w.
    let wait = me.wait.min(me.keepalive.max(Duration::from_secs(1)));
    let (mut s, used) = match route.dial(Some(wait), me.keepalive).await {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let route = Rc::new(route.pinned(used));
    let relay_addr = match &*route {
        Route::Direct(_) => used.to_string(),
        Route::Proxy { req, .. } => req.target.to_string(),
    };
    // One deadline for the handshake and the Welcome.
    let login = bounded(HANDSHAKE, "Welcome from the relay", async {
        handshake(me, &mut s).await?;
        match read_msg(&mut s).await {
            Ok(Msg::Welcome { public }) => Ok(public),
            // A relay from before the mux link cannot read a LoginMux.
            Ok(Msg::Error(e)) if me.mux && e.contains("unknown message type 0x16") => Err(fatal(format!(
                "the relay {relay_addr} does not support --tunnel-mux (an older netcrab); upgrade it, or run this end without --tunnel-mux"
            ))),
            Ok(Msg::Error(e)) => Err(fatal(format!("the relay refused us: {e}"))),
            Ok(m) => Err(retry(format!("expected Welcome, got {}", m.name()))),
            Err(e) => Err(retry(format!("relay {relay_addr}: {e}"))),
        }
    });
    let public = match login.await {
        Ok(p) => p,
        Err(stop) => return stop,
    };
    *logged_in = true;
    if me.services.len() == 1 {
        eprintln!(
            "Tunnel up: relay {relay_addr}{}, clients connect to {}, service {}",
            route.via(),
            public.join("; "),
            me.services[0].1
        );
    } else {
        let pairs: Vec<String> = public
            .iter()
            .zip(&me.services)
            .map(|(p, (_, s))| format!("{p} -> {s}"))
            .collect();
        eprintln!(
            "Tunnel up: relay {relay_addr}{}, services: {}",
            route.via(),
            pairs.join("; ")
        );
    }
    link(me, ex, s, resolved, route, &relay_addr).await
}

/// How a logged-in link sends: a per-connection control link writes each
/// message itself, one at a time; a mux link queues it for its writer.
enum Out {
    Direct(Rc<Mutex<TcpStream>>),
    Mux(Rc<Mux>),
}

impl Out {
    async fn send(&self, m: &Msg) -> std::result::Result<(), String> {
        match self {
            Out::Direct(w) => send(w, m).await,
            Out::Mux(x) => {
                x.send(m);
                Ok(())
            }
        }
    }
}

/// The link to the relay lost (a read, a write or the heartbeat failed).
fn lost(relay_addr: &str, e: &str) -> Stop {
    retry(format!("relay {relay_addr}: {e}"))
}

/// A logged-in link, control or mux (one future for both): heartbeats both
/// ways; clients come as `Conn` on a control link, as `Open` on a mux link.
async fn link(
    me: &Rc<Inside>,
    ex: &Rc<LocalExecutor<'static>>,
    s: TcpStream,
    resolved: Rc<Resolved>,
    route: Rc<Route>,
    relay_addr: &str,
) -> Stop {
    let (out, max, what) = if me.mux {
        (Out::Mux(Mux::new()), MAX_MUX_BODY, "the mux link")
    } else {
        let w = Rc::new(Mutex::new(s.clone()));
        (Out::Direct(w), MAX_BODY, "the control connection")
    };
    let watch = Watch::new();
    let reader = async {
        // Small frames come many to a read; mux data bodies larger than the
        // buffer are read straight into their own.
        let mut r = futures_lite::io::BufReader::with_capacity(32 * 1024, s.clone());
        loop {
            let msg = match read_msg_max(&mut r, max).await {
                Ok(msg) => msg,
                Err(e) => return lost(relay_addr, &e),
            };
            watch.heard();
            let msg = match &out {
                Out::Mux(m) => match m.on_frame(msg) {
                    Some(msg) => msg,
                    None => continue,
                },
                Out::Direct(_) => msg,
            };
            match (msg, &out) {
                (Msg::Pong, _) => {}
                (Msg::Ping, _) => {
                    if let Err(e) = out.send(&Msg::Pong).await {
                        return lost(relay_addr, &e);
                    }
                }
                (Msg::Conn { id, service, nonce }, Out::Direct(w)) => {
                    spawn(
                        ex,
                        serve(
                            me.clone(),
                            resolved.clone(),
                            route.clone(),
                            (id, nonce),
                            service as usize,
                            w.clone(),
                        ),
                    );
                }
                (Msg::Open { id, service }, Out::Mux(m)) => {
                    let k = service as usize;
                    let Some((proto, _)) = me.services.get(k) else {
                        m.reset(id, &format!("there is no service number {}", k + 1));
                        continue;
                    };
                    let st = m.add(id, *proto == Proto::Udp);
                    spawn(
                        ex,
                        serve_stream(me.clone(), resolved.clone(), m.clone(), id, k, st),
                    );
                }
                (Msg::Error(e), _) if e.starts_with(super::relay::REPLACED) => {
                    return fatal(format!("relay {relay_addr}: {e}; stopping"))
                }
                (Msg::Error(e), _) => return retry(format!("relay {relay_addr} says: {e}")),
                (m, _) => {
                    return retry(format!(
                        "relay {relay_addr}: unexpected {} on {what}",
                        m.name()
                    ))
                }
            }
        }
    };
    let writer = async {
        let Out::Mux(m) = &out else {
            return smol::future::pending().await;
        };
        match m.writer(s.clone(), &watch).await {
            Ok(()) => lost(relay_addr, "link closed"),
            Err(e) => lost(relay_addr, &e),
        }
    };
    let pinger = async {
        loop {
            smol::Timer::after(me.keepalive).await;
            if let Err(e) = out.send(&Msg::Ping).await {
                return lost(relay_addr, &e);
            }
        }
    };
    let dog = async {
        let why = watch.dog(me.keepalive * 3, "the relay").await;
        lost(relay_addr, &why)
    };
    let stop = futures_lite::future::or(
        futures_lite::future::or(reader, writer),
        futures_lite::future::or(pinger, dog),
    )
    .await;
    // Every stream of a mux link is reset; new ones go on the next link.
    if let Out::Mux(m) = &out {
        m.close();
    }
    let _ = s.shutdown(async_net::Shutdown::Both);
    stop
}

/// Stream `id` of service `k` on a mux link: dial the service, then carry
/// the stream (bytes the relay sent meanwhile wait in its window).
async fn serve_stream(
    me: Rc<Inside>,
    resolved: Rc<Resolved>,
    m: Rc<Mux>,
    id: u64,
    k: usize,
    st: Rc<mux::Stream>,
) {
    let service = match (me.services.get(k), resolved.get(k)) {
        (Some(svc), Some(Ok(addrs))) => dial_service(&me, svc, addrs).await,
        (Some(_), Some(Err(e))) => Err(e.clone()),
        _ => Err(format!("there is no service number {}", k + 1)),
    };
    let local = match service {
        Ok(Service::Tcp(t)) => mux::Local::Tcp(t),
        #[cfg(any(unix, feature = "unix"))]
        Ok(Service::Unix(u)) => mux::Local::Unix(u),
        Ok(Service::Udp(u)) => mux::Local::Udp {
            end: mux::UdpEnd::Connected(u),
            idle: None,
        },
        Err(e) => {
            eprintln!(
                "netcrab: tunnel client {id}: cannot reach the service {e}; the relay closes the client"
            );
            m.reset(id, &format!("the inside end cannot serve it (service {e})"));
            return;
        }
    };
    if me.verbose > 0 {
        eprintln!("Tunnel client {id}: service connected (mux stream)");
    }
    let r = m.run(id, st, local).await;
    if me.verbose > 0 {
        match r {
            Ok(()) => eprintln!("Tunnel client {id}: done"),
            Err(e) => eprintln!("Tunnel client {id}: {e}"),
        }
    }
}

async fn send(w: &Mutex<TcpStream>, m: &Msg) -> std::result::Result<(), String> {
    let mut w = w.lock().await;
    within(
        HANDSHAKE,
        "room on the control connection",
        write_msg(&mut *w, m),
    )
    .await
}

/// What a client's service connection is.
enum Service {
    Tcp(TcpStream),
    Udp(Rc<Async<std::net::UdpSocket>>),
    #[cfg(any(unix, feature = "unix"))]
    Unix(crate::net::unix::UnixStream),
}

async fn dial_service(
    me: &Inside,
    (proto, target): &(Proto, Target),
    addrs: &[SocketAddr],
) -> std::result::Result<Service, String> {
    let proto = *proto;
    if let Target::Unix(path) = target {
        return dial_unix(me, path).await;
    }
    let mut err = String::from("no address");
    for a in addrs {
        match proto {
            Proto::Tcp => match tcp::connect(*a, None, &SockOpts::default(), Some(me.wait)).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    data::keepalive(&s, me.keepalive);
                    return Ok(Service::Tcp(s));
                }
                Err(e) => err = format!("{a}: {}", describe(&e)),
            },
            Proto::Udp => {
                let local = crate::net::resolve::wildcard(a.is_ipv4(), 0);
                let r = Async::<std::net::UdpSocket>::bind(local).and_then(|s| {
                    s.get_ref().connect(a)?;
                    Ok(s)
                });
                match r {
                    Ok(s) => return Ok(Service::Udp(Rc::new(s))),
                    Err(e) => err = format!("{a}: {}", describe(&e)),
                }
            }
        }
    }
    Err(err)
}

#[cfg(any(unix, feature = "unix"))]
async fn dial_unix(me: &Inside, path: &std::path::Path) -> std::result::Result<Service, String> {
    let p = path.to_path_buf();
    within(me.wait, "connect", async {
        crate::net::unix::connect(&p, None)
            .await
            .map_err(|e| describe(&e))
    })
    .await
    .map(Service::Unix)
    .map_err(|e| format!("unix:{}: {e}", path.display()))
}

#[cfg(not(any(unix, feature = "unix")))]
async fn dial_unix(_: &Inside, path: &std::path::Path) -> std::result::Result<Service, String> {
    Err(format!("unix:{}: not on this system", path.display()))
}

/// Client `id` of service `k`: dial the service, then the relay's data
/// connection, splice.
async fn serve(
    me: Rc<Inside>,
    resolved: Rc<Resolved>,
    route: Rc<Route>,
    (id, nonce): (u64, Nonce),
    k: usize,
    control: Rc<Mutex<TcpStream>>,
) {
    let service = async {
        match (me.services.get(k), resolved.get(k)) {
            (Some(svc), Some(Ok(addrs))) => dial_service(&me, svc, addrs).await,
            (Some(_), Some(Err(e))) => Err(e.clone()),
            _ => Err(format!("there is no service number {}", k + 1)),
        }
    };
    // The data connection's connect runs alongside the service's; nothing
    // is sent on it before the service answers (a service that fails
    // leaves it closed without a byte, which the relay ignores).
    let relay = within(me.wait, "connect to the relay", async {
        route
            .dial(None, me.keepalive)
            .await
            .map(|(s, _)| s)
            .map_err(|e| match e {
                DialError::Retry(e) | DialError::Fatal(e) => e,
            })
    });
    let (service, relay) = futures_lite::future::zip(service, relay).await;
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
            let _ = send(&control, &failed).await;
            return;
        }
    };
    let data = match relay {
        Ok(s) => open_data(&me, s, id, &nonce).await,
        Err(e) => Err(e),
    };
    match data {
        Ok(data) => {
            if me.verbose > 0 {
                eprintln!("Tunnel client {id}: service connected, paired");
            }
            match service {
                Service::Tcp(s) => data::pipe(data::Plain::Tcp(s), data).await,
                Service::Udp(s) => udp_flow(s, data).await,
                #[cfg(any(unix, feature = "unix"))]
                Service::Unix(s) => data::pipe(data::Plain::Unix(s), data).await,
            }
            if me.verbose > 0 {
                eprintln!("Tunnel client {id}: done");
            }
        }
        Err(e) => eprintln!("netcrab: tunnel client {id}: data connection to the relay: {e}"),
    }
}

/// A UDP flow: datagrams from the relay go to the service on this flow's own
/// socket, the service's answers go back as frames; it ends with the data
/// connection (the relay ends it after --udp-idle).
async fn udp_flow(sock: Rc<Async<std::net::UdpSocket>>, data: TcpStream) {
    let seen = Cell::new(Instant::now());
    let dest = Dest::Connected(sock.clone());
    let down = data::unframe_udp(data.clone(), &dest, &seen);
    let up = async {
        let mut w = data.clone();
        loop {
            match data::recv_datagram(&sock).await {
                Ok(d) => {
                    if data::send_datagram(&mut w, &d).await.is_err() {
                        return;
                    }
                }
                // An ICMP "port unreachable" from a service that is down
                // for a moment: the flow goes on.
                Err(_) => {
                    smol::Timer::after(Duration::from_millis(10)).await;
                }
            }
        }
    };
    futures_lite::future::or(down, up).await;
    let _ = data.shutdown(async_net::Shutdown::Both);
}

/// The data connection for client `id`, connected: Hello and Accept in one write (the
/// Accept answers the challenge of the client's Conn, so it need not wait
/// for this connection's Challenge), then the Challenge (the relay's proof
/// is checked before any service byte goes out) and Paired.
async fn open_data(
    me: &Inside,
    mut s: TcpStream,
    id: u64,
    conn_nonce: &Nonce,
) -> std::result::Result<TcpStream, String> {
    let open = async {
        let inside = auth::nonce()?;
        let mut first = Msg::Hello {
            version: VERSION,
            nonce: inside,
        }
        .encode();
        let mac = me
            .secret
            .as_ref()
            .map(|k| k.sign(Role::Accept, conn_nonce, conn_nonce, id));
        first.extend_from_slice(&Msg::Accept { id, mac }.encode());
        s.write_all(&first).await.map_err(|e| describe(&e))?;
        match read_msg(&mut s).await? {
            Msg::Challenge {
                version: VERSION,
                nonce,
                proof,
            } => proof_ok(me, &inside, &nonce, proof).map_err(String::from)?,
            Msg::Challenge { version, .. } => {
                return Err(format!(
                    "the relay speaks tunnel protocol version {version}, this inside end version {VERSION}"
                ))
            }
            Msg::Error(e) => return Err(format!("the relay says: {e}")),
            m => return Err(format!("expected Challenge, got {}", m.name())),
        }
        match read_msg(&mut s).await? {
            Msg::Paired => Ok(s),
            Msg::Error(e) => Err(format!("the relay says: {e}")),
            m => Err(format!("expected Paired, got {}", m.name())),
        }
    };
    within(HANDSHAKE, "Paired", open).await
}

/// Whether the relay's proof of the secret (in its Challenge) is as it
/// must be; the reason when not.
fn proof_ok(
    me: &Inside,
    inside: &Nonce,
    relay: &Nonce,
    proof: Option<Mac>,
) -> std::result::Result<(), &'static str> {
    match (&me.secret, proof) {
        (None, None) => Ok(()),
        (Some(k), Some(p)) if k.check(Role::Relay, inside, relay, 0, &p) => Ok(()),
        (Some(_), Some(_)) => {
            Err("the relay's proof of the secret is wrong (the two ends hold different secrets)")
        }
        (Some(_), None) => Err("the relay has no secret, but the inside end has one"),
        (None, Some(_)) => {
            Err("the relay requires a secret, but the inside end has none (--secret-file)")
        }
    }
}
