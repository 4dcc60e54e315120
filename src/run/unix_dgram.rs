//! UNIX datagrams (`-U -u`): one socket, as nc has it.
//!
//! - A client (a target path) binds its own path (`-s PATH`, or a private
//!   one in the temporary directory, removed at exit) so replies reach it,
//!   connects to the target, and is the run's one route.
//! - A listener (`-l PATH`) learns its first sender that has a path and
//!   answers it only (nc connects to it); later senders' datagrams are
//!   printed, not answered. With `-k` it learns no one (nc never connects
//!   then): every datagram is printed and local input goes nowhere.
//!
//! A datagram is one read of input (up to `--ss`) and one write out.

use super::conn::Conn;
use super::routes::{active, deliver, register, unregister, WriterCount, QUEUE_DEPTH};
use super::shared::Shared;
use crate::error::{runtime, Result};
use crate::net::unix::{self, OwnedPath};
use crate::router::{Origin, RouteId, UNKNOWN};
use async_net::unix::UnixDatagram;
use bytes::Bytes;
use smol::channel::{bounded, Receiver};
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Largest datagram read (Linux's default socket buffer holds about 208 KiB).
const MAX_READ: usize = 256 * 1024;

/// The bound socket, before anything moves.
pub struct Plan {
    sock: Rc<UnixDatagram>,
    /// The socket file we made (removed when the run ends).
    _own: OwnedPath,
    /// The client's target, connected.
    target: Option<PathBuf>,
}

fn shown(p: &Path) -> String {
    format!("unix:{}", p.display())
}

/// Bind (and, for a client, connect) so a bad path fails at once.
pub fn plan(cfg: &super::config::Config) -> Result<Plan> {
    if let Some(crate::addr::ListenSpec::Unix(path)) = cfg.listeners.first() {
        let path = Path::new(path);
        let (sock, own) =
            unix::bind_dgram(path).map_err(|e| runtime(format!("bind {}", shown(path)), &e))?;
        eprintln!("Listening on {}, protocol UNIX datagram", shown(path));
        return Ok(Plan {
            sock: Rc::new(sock),
            _own: own,
            target: None,
        });
    }
    let Some(target) = cfg.unix_targets.first().map(PathBuf::from) else {
        return Err(crate::error::usage("-U -u needs a target path or -l PATH"));
    };
    let (sock, own) = match &cfg.unix_source {
        Some(p) => {
            unix::bind_dgram(Path::new(p)).map_err(|e| runtime(format!("bind unix:{p}"), &e))?
        }
        None => {
            unix::private_dgram().map_err(|e| runtime("bind a private UNIX socket path", &e))?
        }
    };
    sock.connect(&target)
        .map_err(|e| runtime(format!("connect to {}", shown(&target)), &e))?;
    if cfg.verbose > 0 {
        eprintln!(
            "Bound {} for replies, connected to {}",
            shown(own.path()),
            shown(&target)
        );
    }
    Ok(Plan {
        sock: Rc::new(sock),
        _own: own,
        target: Some(target),
    })
}

pub fn start(shared: &Rc<Shared>, plan: Plan) {
    let plan = Rc::new(plan);
    let peer: Rc<Cell<Option<RouteId>>> = Rc::new(Cell::new(None));
    match &plan.target {
        Some(t) => {
            let id = add_route(shared, &plan, Origin::Target(0), t.clone(), false);
            peer.set(Some(id));
        }
        None => {
            shared.life.listeners_started();
            if shared.cfg.keep_listening && shared.cfg.verbose > 0 {
                eprintln!(
                    "-k: a UNIX datagram listener answers no one (as nc); what it receives is printed"
                );
            }
        }
    }
    let s = shared.clone();
    shared.spawn(async move { receive(s, plan, peer).await });
}

/// A route to `path` with its writer.
fn add_route(
    shared: &Rc<Shared>,
    plan: &Rc<Plan>,
    origin: Origin,
    path: PathBuf,
    learned: bool,
) -> RouteId {
    let (tx, rx) = bounded::<Bytes>(QUEUE_DEPTH);
    let none = SocketAddr::from(([0, 0, 0, 0], 0));
    let name = shown(&path);
    let id = register(shared, tx, origin, none, none, Conn::new(name.clone()));
    if learned {
        eprintln!("Associating {name}, protocol UNIX datagram");
    }
    let (sh, p) = (shared.clone(), plan.clone());
    shared.spawn(async move {
        let counted = WriterCount::new(&sh);
        let sent = write(&sh, id, &p, &path, rx).await;
        drop(counted);
        if let Err(e) = sent {
            eprintln!("Error forwarding to {name}: {}", crate::error::describe(&e));
            sh.fail();
            unregister(&sh, id);
        }
        sh.changed();
    });
    id
}

async fn write(
    shared: &Shared,
    id: RouteId,
    plan: &Plan,
    path: &Path,
    rx: Receiver<Bytes>,
) -> io::Result<()> {
    while let Ok(chunk) = rx.recv().await {
        if !shared.faults.send_gate().await {
            continue;
        }
        if plan.target.is_some() {
            plan.sock.send(&chunk).await?;
        } else {
            plan.sock.send_to(&chunk, path).await?;
        }
        active(shared, id);
        shared.sent(id, &chunk);
    }
    Ok(())
}

async fn receive(shared: Rc<Shared>, plan: Rc<Plan>, peer: Rc<Cell<Option<RouteId>>>) {
    let mut buf = vec![0u8; MAX_READ];
    let mut learned: Option<PathBuf> = None;
    loop {
        let (n, from) = match plan.sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("netcrab: receive: {}", crate::error::describe(&e));
                shared.fail();
                if let Some(id) = peer.take() {
                    unregister(&shared, id);
                }
                shared.changed();
                return;
            }
        };
        if n == 0 {
            continue;
        }
        let from = from.as_pathname().map(Path::to_path_buf);
        let id = match (&plan.target, &learned, from) {
            // A client hears its target only (the socket is connected).
            (Some(_), _, _) => peer.get().unwrap_or(UNKNOWN),
            (None, Some(known), Some(f)) if *known == f => peer.get().unwrap_or(UNKNOWN),
            (None, None, Some(f)) if !shared.cfg.keep_listening => {
                let id = add_route(&shared, &plan, Origin::Listener(0), f.clone(), true);
                learned = Some(f);
                peer.set(Some(id));
                id
            }
            // Another sender, an unnamed one, or -k: printed, not answered.
            _ => UNKNOWN,
        };
        let chunk = Bytes::copy_from_slice(&buf[..n]);
        if id != UNKNOWN {
            active(&shared, id);
        }
        shared.received(id, &chunk);
        deliver(&shared, id, chunk).await;
    }
}
