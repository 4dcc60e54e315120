//! State shared by the tasks of one run (single-threaded executor).

use crate::cli::Config;
use crate::net::sockopt::SockOpts;
use crate::router::Router;
use smol::channel::{bounded, Receiver, Sender};
use smol::LocalExecutor;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::{Rc, Weak};

/// A wake-up signal that coalesces: many `notify`s before a `wait` count
/// once. One waiter per `Notify`.
pub struct Notify {
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl Notify {
    pub fn new() -> Notify {
        let (tx, rx) = bounded(1);
        Notify { tx, rx }
    }
    pub fn notify(&self) {
        let _ = self.tx.try_send(());
    }
    pub async fn wait(&self) {
        let _ = self.rx.recv().await;
    }
}

pub struct Shared {
    pub cfg: Config,
    pub opts: SockOpts,
    pub router: RefCell<Router>,
    /// Something the supervisor looks at changed.
    pub changed: Notify,
    /// A route was added (wakes the stdin pump).
    pub route_added: Notify,
    /// Outbound connections being made or waiting to reconnect.
    pub dialing: Cell<usize>,
    /// Targets whose first connection attempt has not finished. Local input
    /// waits for them, so every target gets the input from its start.
    pub first_dials: Cell<usize>,
    /// Listeners still accepting.
    pub listening: Cell<bool>,
    /// Route writers still running.
    pub writers: Cell<usize>,
    /// Runtime failures seen (failed connects, resets): any makes exit code 1.
    pub failures: Cell<u32>,
    /// Each TCP route's socket (the splice fast path writes to a partner's).
    #[cfg(all(target_os = "linux", feature = "splice"))]
    pub sockets: RefCell<
        std::collections::HashMap<
            crate::router::RouteId,
            std::sync::Arc<smol::Async<std::net::TcpStream>>,
        >,
    >,
    /// TCP routes whose writer is in the middle of a write.
    #[cfg(all(target_os = "linux", feature = "splice"))]
    pub writing: RefCell<std::collections::HashSet<crate::router::RouteId>>,
    /// How to end a TCP route from outside its task (idle, slow in hub).
    pub aborts: RefCell<std::collections::HashMap<crate::router::RouteId, Sender<String>>>,
    /// Statistics and hex dump of socket traffic.
    pub observer: super::observe::Observer,
    pub faults: crate::faults::Faults,
    #[cfg(feature = "qos")]
    pub qos: RefCell<crate::qos::Client>,
    /// Weak: tasks hold `Rc<Shared>`, so a strong reference here would
    /// keep the executor, and every task on it, alive forever.
    ex: Weak<LocalExecutor<'static>>,
}

impl Shared {
    pub fn new(cfg: Config, router: Router, ex: &Rc<LocalExecutor<'static>>) -> Shared {
        Shared {
            opts: SockOpts::from_config(&cfg),
            router: RefCell::new(router),
            changed: Notify::new(),
            route_added: Notify::new(),
            dialing: Cell::new(0),
            first_dials: Cell::new(0),
            listening: Cell::new(false),
            writers: Cell::new(0),
            failures: Cell::new(0),
            aborts: RefCell::new(std::collections::HashMap::new()),
            #[cfg(all(target_os = "linux", feature = "splice"))]
            sockets: RefCell::new(std::collections::HashMap::new()),
            #[cfg(all(target_os = "linux", feature = "splice"))]
            writing: RefCell::new(std::collections::HashSet::new()),
            observer: super::observe::Observer::new(&cfg),
            faults: crate::faults::Faults::new(cfg.faults),
            #[cfg(feature = "qos")]
            qos: RefCell::new(crate::qos::Client::new(cfg.gen, cfg.stats_time)),
            ex: Rc::downgrade(ex),
            cfg,
        }
    }

    /// Run a task on this run's executor; it lives until it finishes or
    /// the run ends.
    pub fn spawn(&self, f: impl Future<Output = ()> + 'static) {
        if let Some(t) = self.spawn_task(f) {
            t.detach();
        }
    }

    /// As `spawn`, keeping the handle (dropping it cancels the task).
    /// `None` once the run has ended.
    pub fn spawn_task(&self, f: impl Future<Output = ()> + 'static) -> Option<smol::Task<()>> {
        self.ex.upgrade().map(|ex| ex.spawn(f))
    }

    /// End route `id` now (its socket is closed), saying why.
    pub fn abort(&self, id: crate::router::RouteId, why: String) {
        if let Some(tx) = self.aborts.borrow().get(&id) {
            let _ = tx.try_send(why);
        }
    }

    pub fn fail(&self) {
        self.failures.set(self.failures.get() + 1);
    }

    pub fn exit_code(&self) -> u8 {
        if self.failures.get() > 0 {
            1
        } else {
            0
        }
    }
}
