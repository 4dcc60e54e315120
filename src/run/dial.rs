//! Outbound connections: try each resolved address, report, serve, and
//! reconnect with back-off when asked (`-r`, `-R`).

use super::plan::TargetPlan;
use super::shared::Shared;
use super::tcp::{self, Ends};
use crate::net;
use crate::net::stream::Stream;
use crate::router::Origin;
use smol::Timer;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What a dial loop connects to.
pub enum Dest {
    /// A TCP target (directly or through the proxy).
    Inet(TargetPlan),
    /// A UNIX stream socket's path.
    #[cfg(feature = "unix")]
    Unix(std::path::PathBuf),
}

impl Dest {
    /// As messages name it.
    fn name(&self) -> String {
        match self {
            Dest::Inet(p) => p.spec.dest.to_string(),
            #[cfg(feature = "unix")]
            Dest::Unix(p) => format!("unix:{}", p.display()),
        }
    }

    fn count(&self) -> u32 {
        match self {
            Dest::Inet(p) => p.spec.count,
            #[cfg(feature = "unix")]
            Dest::Unix(_) => 1,
        }
    }
}

/// Start one connection task per copy (`xN`) of a target. Targets connect
/// at the same time; the copies of one target connect one after another
/// (each starts once the one before has had its first try), so their order
/// is the order the server accepts them in, and channel pairing in order
/// (a relay in front of a server that expects its connections in turn) is
/// deterministic.
pub fn start(shared: &Rc<Shared>, idx: usize, plan: Dest) {
    let plan = Rc::new(plan);
    let mut previous: Option<smol::channel::Receiver<()>> = None;
    for _ in 0..plan.count() {
        shared.life.dial_started();
        let (tried_tx, tried_rx) = smol::channel::bounded::<()>(1);
        let wait_for = previous.replace(tried_rx);
        let s = shared.clone();
        let p = plan.clone();
        shared.spawn(async move {
            if let Some(rx) = wait_for {
                // Closed (not sent) when the previous copy has tried.
                let _ = rx.recv().await;
            }
            dial_loop(&s, idx, &p, tried_tx).await;
            s.dial_ended();
        });
    }
}

async fn dial_loop(shared: &Rc<Shared>, idx: usize, plan: &Dest, tried: smol::channel::Sender<()>) {
    let name = plan.name();
    let mut tried = Some(tried);
    let cfg = &shared.cfg;
    let mut backoff = BACKOFF_START;
    let mut reconnecting = false;
    let mut failures = Failures::default();
    // -r: whether the last session carried nothing, and whether the
    // back-off after empty sessions was said (once per dial loop).
    let mut after_empty = false;
    let mut empty_said = false;
    loop {
        let attempt = connect(shared, plan).await;
        // `tried` is still held only before the first attempt has ended.
        if let Some(first) = tried.take() {
            shared.life.first_dial_done();
            shared.route_added.notify();
            // Let the next copy of this target go.
            drop(first);
        }
        let (stream, ends, line) = match attempt {
            Ok(s) => s,
            Err(e) => {
                if cfg.reconnect_on_error && !shared.life.stopping() {
                    failures.failed(&name, &e, backoff, cfg.verbose);
                    reconnecting = true;
                    if !pause(shared, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
                if reconnecting {
                    // -r after a graceful session: that target is given up,
                    // and the run's exit code is the last session's (0), as
                    // in 0.11. (-R would have retried above.)
                    eprintln!(
                        "Failed to reconnect to {name}: {}",
                        crate::error::describe(&e)
                    );
                    return;
                }
                if cfg.zero_io {
                    let state = match e.kind() {
                        io::ErrorKind::TimedOut => "timeout",
                        io::ErrorKind::ConnectionRefused => "closed",
                        _ => "failed",
                    };
                    eprintln!("{name} {state} ({})", crate::error::describe(&e));
                    // Exit 1 only if no target answered (`Shared::dial_ended`).
                    shared.zero_closed.set(true);
                } else {
                    eprintln!("netcrab: connect to {name}: {}", crate::error::describe(&e));
                    shared.fail();
                }
                return;
            }
        };
        failures.connected(&name);
        eprintln!("{line}");
        if cfg.zero_io {
            eprintln!("{name} open");
            shared.zero_open.set(true);
            return;
        }
        let opened = tcp::open(shared, stream, Origin::Target(idx), &ends);
        let label = ends.label;
        let (ended, carried) = serve_watched(shared, opened).await;
        let clean = ended.error.is_none();
        let again = match &ended.error {
            None => {
                eprintln!("Connection {label} finished gracefully.");
                cfg.reconnect
            }
            Some(e) => {
                eprintln!(
                    "Connection {label} ended with result {}",
                    crate::error::describe(e)
                );
                if !cfg.reconnect_on_error {
                    shared.fail();
                }
                cfg.reconnect_on_error
            }
        };
        if !again || shared.life.stopping() {
            return;
        }
        eprintln!("Reconnecting to {name}");
        reconnecting = true;
        if !clean {
            // After an error, back off first.
            backoff = BACKOFF_START;
            after_empty = false;
            if !pause(shared, BACKOFF_START).await {
                return;
            }
        } else if carried || !after_empty {
            // After a session that carried data the next one is wanted now
            // (a tunnel's next client waits for it); so is it after one
            // empty session (its peer may just have had nothing to say).
            backoff = BACKOFF_START;
            after_empty = !carried;
        } else {
            // Empty sessions in a row: a server that accepts and closes at
            // once. Back off instead of dialling in a tight loop.
            if !empty_said {
                eprintln!(
                    "Two connections in a row to {name} carried no data: reconnecting with \
                     back-off (from {} ms, doubling to {} s) while that lasts",
                    BACKOFF_START.as_millis(),
                    BACKOFF_MAX.as_secs()
                );
                empty_said = true;
            }
            if !pause(shared, backoff).await {
                return;
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

/// Serve an opened socket; also says whether any data moved on it (either
/// way), seen from its activity clock after each step of its task.
async fn serve_watched(shared: &Rc<Shared>, opened: tcp::Opened) -> (super::routes::Ended, bool) {
    let id = opened.id();
    let clock = |s: &Shared| s.router.borrow().conn(id).map(|c| c.activity.get());
    let start = clock(shared);
    let mut carried = false;
    let mut serve = std::pin::pin!(tcp::serve(shared.clone(), opened));
    let ended = std::future::poll_fn(|cx| {
        let r = serve.as_mut().poll(cx);
        if !carried {
            carried = matches!((start, clock(shared)), (Some(a), Some(b)) if b > a);
        }
        r
    })
    .await;
    // The last step may have moved data and removed the route at once.
    if let (Some((gone, last)), Some(start)) = (shared.last_gone.get(), start) {
        carried |= gone == id && last > start;
    }
    (ended, carried)
}

/// `-R`'s connect failures: each new kind is said once with its reason;
/// repeats are counted and the count said when the failure changes, when
/// the target answers, every minute while it lasts, and when the run ends.
#[derive(Default)]
struct Failures {
    dest: String,
    /// The reason last said, and how many tries failed that way since.
    last: Option<String>,
    repeats: u64,
    said_at: Option<std::time::Instant>,
}

impl Failures {
    fn failed(&mut self, dest: &str, e: &io::Error, next: Duration, verbose: u8) {
        let why = crate::error::describe(e);
        if self.last.as_deref() == Some(why.as_str()) {
            self.repeats += 1;
            let due = self
                .said_at
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
            if verbose > 0 || due {
                self.summary();
                self.said_at = Some(std::time::Instant::now());
            }
            return;
        }
        self.summary();
        eprintln!(
            "Retrying {dest} in {} ms ({why}); back-off doubles to {} s",
            next.as_millis(),
            BACKOFF_MAX.as_secs()
        );
        self.dest = dest.to_string();
        self.last = Some(why);
        self.said_at = Some(std::time::Instant::now());
    }

    /// Say how many more tries failed the same way (if any), once.
    fn summary(&mut self) {
        if self.repeats > 0 {
            if let Some(why) = &self.last {
                let n = self.repeats;
                let s = if n == 1 { "" } else { "s" };
                eprintln!("{}: {why} again, {n} more time{s}", self.dest);
            }
        }
        self.repeats = 0;
    }

    fn connected(&mut self, dest: &str) {
        if self.last.is_some() {
            self.summary();
            eprintln!("{dest} answered after the failures above");
        }
        self.last = None;
    }
}

impl Drop for Failures {
    fn drop(&mut self) {
        self.summary();
    }
}

/// Wait `d` before dialling again; `false` if the run stopped taking new
/// connections meanwhile (`--exit-after-input`).
async fn pause(shared: &Shared, d: Duration) -> bool {
    futures_lite::future::or(
        async {
            Timer::after(d).await;
            true
        },
        async {
            shared.life.stopped().await;
            false
        },
    )
    .await
}

/// Connect to `dest`: the stream, its ends, and the "Connected ..." line.
async fn connect(shared: &Shared, dest: &Dest) -> io::Result<(Stream, Ends, String)> {
    match dest {
        Dest::Inet(plan) => {
            let (stream, dest) = connect_any(shared, plan).await?;
            // A peer that resets at once can make these fail; the route then
            // ends with that reset, under the usual reconnect rules.
            let peer = stream.peer_addr().unwrap_or(dest);
            let local = stream
                .local_addr()
                .unwrap_or_else(|_| net::resolve::wildcard(dest.is_ipv4(), 0));
            let line = format!(
                "Connected from {local} to {peer}, protocol TCP, family {}",
                net::family_name(&peer)
            );
            Ok((Stream::Tcp(stream), Ends::inet(local, peer), line))
        }
        #[cfg(feature = "unix")]
        Dest::Unix(path) => {
            let name = dest.name();
            if shared.cfg.verbose > 0 {
                eprintln!("Connecting to {name}");
            }
            let s = net::unix::connect(path, shared.cfg.connect_timeout).await?;
            let line = format!("Connected to {name}, protocol UNIX stream");
            Ok((Stream::Unix(s), Ends::unix(name), line))
        }
    }
}

/// Try the target's addresses in resolver order; the first that connects wins
/// (returned with the address it was dialled at).
async fn connect_any(
    shared: &Shared,
    plan: &TargetPlan,
) -> io::Result<(async_net::TcpStream, SocketAddr)> {
    let mut last = io::Error::new(io::ErrorKind::AddrNotAvailable, "no address to connect to");
    for (dest, src) in &plan.addrs {
        if shared.cfg.verbose > 0 {
            match src {
                Some(s) => eprintln!("Connecting from {s} to {dest}"),
                None => eprintln!("Connecting to {dest}"),
            }
        }
        match plan
            .connect(*dest, *src, &shared.opts, shared.cfg.connect_timeout)
            .await
        {
            Ok(s) => return Ok((s, *dest)),
            Err(e) => {
                if plan.addrs.len() > 1 {
                    eprintln!(
                        "Failed to connect to {dest}: {}",
                        crate::error::describe(&e)
                    );
                }
                last = e;
            }
        }
    }
    Err(last)
}
