//! State shared by the tasks of one run (single-threaded executor).

use super::config::Config;
use super::lifecycle::Lifecycle;
use crate::net::sockopt::SockOpts;
use crate::router::Router;
use smol::channel::Sender;
use smol::LocalExecutor;
use std::cell::RefCell;
use std::future::Future;
use std::rc::{Rc, Weak};

pub use super::notify::Notify;

pub struct Shared {
    pub cfg: Config,
    pub opts: SockOpts,
    pub router: RefCell<Router>,
    /// When the run is over: every task reports its transitions here.
    pub life: Lifecycle,
    /// A route was added (wakes the stdin pump).
    pub route_added: Notify,
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
    /// stdout, when sockets' bytes may be spliced into it (P2P fast path).
    #[cfg(all(target_os = "linux", feature = "splice"))]
    pub stdout_sink: Option<super::splice::StdoutSink>,
    /// Chunks handed to the stdout thread; the fast path waits until it has
    /// written as many, so spliced bytes never overtake queued ones.
    #[cfg(all(target_os = "linux", feature = "splice"))]
    pub stdout_sent: std::cell::Cell<u64>,
    /// Hub mode: when each route's writer started the socket write it is
    /// still in (a writer stuck that long has a peer that stopped reading).
    pub stalls: RefCell<std::collections::HashMap<crate::router::RouteId, std::time::Instant>>,
    /// Running children (`-e` under LOCAL, `--exec-each` under their route),
    /// ended when their connection or the run ends.
    #[cfg(feature = "exec")]
    pub children:
        RefCell<std::collections::HashMap<crate::router::RouteId, crate::local::exec::Control>>,
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
    pub fn new(
        cfg: Config,
        router: Router,
        life: Lifecycle,
        ex: &Rc<LocalExecutor<'static>>,
    ) -> Shared {
        Shared {
            opts: cfg.sock_opts(),
            router: RefCell::new(router),
            life,
            route_added: Notify::new(),
            aborts: RefCell::new(std::collections::HashMap::new()),
            stalls: RefCell::new(std::collections::HashMap::new()),
            #[cfg(feature = "exec")]
            children: RefCell::new(std::collections::HashMap::new()),
            #[cfg(all(target_os = "linux", feature = "splice"))]
            sockets: RefCell::new(std::collections::HashMap::new()),
            #[cfg(all(target_os = "linux", feature = "splice"))]
            writing: RefCell::new(std::collections::HashSet::new()),
            #[cfg(all(target_os = "linux", feature = "splice"))]
            stdout_sink: None,
            #[cfg(all(target_os = "linux", feature = "splice"))]
            stdout_sent: std::cell::Cell::new(0),
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
