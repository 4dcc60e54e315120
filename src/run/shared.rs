//! State shared by the tasks of one run (single-threaded executor).

use super::config::Config;
use super::conn::Conn;
use super::lifecycle::Lifecycle;
use crate::net::sockopt::SockOpts;
use crate::router::{RouteId, Router};
use bytes::Bytes;
use smol::LocalExecutor;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

pub use super::notify::Notify;

pub struct Shared {
    pub cfg: Config,
    pub opts: SockOpts,
    /// The routing table, and with each route its connection's state: the
    /// one map of connections.
    pub router: RefCell<Router<Conn>>,
    /// When the run is over: every task reports its transitions here.
    pub life: Lifecycle,
    /// A route was added (wakes the stdin pump).
    pub route_added: Notify,
    /// stdout, when sockets' bytes may be spliced into it (P2P fast path).
    #[cfg(all(target_os = "linux", feature = "splice"))]
    pub stdout_sink: Option<super::splice::StdoutSink>,
    /// A shared `-e` child (local input and output), ended with the run.
    #[cfg(feature = "exec")]
    pub local_child: RefCell<Option<crate::local::exec::Control>>,
    /// Statistics and hex dump of socket traffic.
    pub observer: super::observe::Observer,
    pub faults: crate::faults::Faults,
    #[cfg(feature = "qos")]
    pub qos: RefCell<crate::qos::Client>,
    /// The route last removed, with when data last moved on it (read by
    /// `dial.rs` right after serving it: did the session carry data?).
    pub last_gone: std::cell::Cell<Option<(RouteId, std::time::Instant)>>,
    /// `-z` on the dial path (through a proxy, UNIX paths): whether any
    /// target answered and any did not. As a direct scan (nc's rule), the
    /// run fails only if none answered.
    pub zero_open: std::cell::Cell<bool>,
    pub zero_closed: std::cell::Cell<bool>,
    /// Weak: tasks hold `Rc<Shared>`, so a strong reference here would
    /// keep the executor, and every task on it, alive forever.
    ex: Weak<LocalExecutor<'static>>,
}

impl Shared {
    pub fn new(
        cfg: Config,
        router: Router<Conn>,
        life: Lifecycle,
        ex: &Rc<LocalExecutor<'static>>,
    ) -> Shared {
        Shared {
            opts: cfg.sock_opts(),
            router: RefCell::new(router),
            life,
            route_added: Notify::new(),
            #[cfg(all(target_os = "linux", feature = "splice"))]
            stdout_sink: None,
            #[cfg(feature = "exec")]
            local_child: RefCell::new(None),
            last_gone: Default::default(),
            zero_open: Default::default(),
            zero_closed: Default::default(),
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
        self.spawn_boxed(Box::pin(f))
    }

    /// Not generic, so the executor's upgrade is compiled once; the task
    /// is of `net::spawn_boxed`'s one type for all of netcrab.
    fn spawn_boxed(&self, f: Pin<Box<dyn Future<Output = ()>>>) -> Option<smol::Task<()>> {
        self.ex.upgrade().map(|ex| crate::net::spawn_boxed(&ex, f))
    }

    /// End route `id` now (its socket is closed), saying why.
    pub fn abort(&self, id: RouteId, why: &'static str) {
        if let Some(tx) = self.router.borrow().conn(id).and_then(|c| c.abort.as_ref()) {
            // The reason travels as `Bytes`: the channel type routes
            // already use, so async-channel's code is not compiled again.
            let _ = tx.try_send(Bytes::from_static(why.as_bytes()));
        }
    }

    /// Route `id` (or a sender that is not a route) received `data`.
    pub fn received(&self, id: RouteId, data: &[u8]) {
        self.observer.received(self.router.borrow().conn(id), data);
    }

    /// `data` was written to route `id`'s socket.
    pub fn sent(&self, id: RouteId, data: &[u8]) {
        self.observer.sent(self.router.borrow().conn(id), data);
    }

    /// A runtime failure: the exit code will be 1.
    pub fn fail(&self) {
        self.life.failed();
    }

    /// Wake the supervisor (something it looks at changed).
    pub fn changed(&self) {
        self.life.changed.notify();
    }

    /// Listeners stopped accepting (`-l` has its clients, `-w`, a stop).
    pub fn listeners_stopped(&self) {
        self.life.listeners_stopped();
        self.check_no_more_routes();
    }

    /// A target's connection task ended for good.
    pub fn dial_ended(&self) {
        self.life.dial_ended();
        if self.life.dialing() == 0 && self.zero_closed.get() && !self.zero_open.get() {
            self.fail();
        }
        self.check_no_more_routes();
    }

    /// Once nothing can bring a new route, the router may close a shared
    /// `-e` child's stdin when no socket can send it anything more.
    fn check_no_more_routes(&self) {
        if self.life.no_more_routes() {
            self.router.borrow_mut().no_more_routes();
        }
    }

    /// Local input has ended: FIN where the rules say, and with
    /// `--exit-after-input` stop taking new connections.
    pub fn input_ended(&self) {
        if self.cfg.exit_after_input {
            self.life.stop();
            self.router.borrow_mut().fin_every_socket();
            self.listeners_stopped();
        }
        self.router.borrow_mut().local_ended();
        self.life.input_ended();
    }
}
