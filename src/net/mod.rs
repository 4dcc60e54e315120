//! Sockets: name resolution, local interfaces, socket options, TCP.

pub mod acl;
#[cfg(feature = "check")]
pub mod check;
pub mod ifaces;
pub mod limits;
pub mod proxy;
pub mod resolve;
pub mod services;
pub mod sockopt;
pub mod stream;
pub mod tcp;
pub mod udp;
// On Unix always (the signal thread's self-pipe lives here); on Windows
// with the feature. Without the feature only `self_pipe` is used.
#[cfg(any(unix, feature = "unix"))]
#[cfg_attr(not(feature = "unix"), allow(dead_code, unused_imports))]
pub mod unix;

use std::net::SocketAddr;

/// Runs `f` to its end on this thread: the event loop of a run, `--check` and
/// the probe's two ends. One boxed future type for all of them, so smol's
/// `block_on` (inlined where it is called) is compiled once, not per caller.
/// `run::run` uses it too.
pub fn block_on(f: impl std::future::Future<Output = ()>) {
    let f: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> = Box::pin(f);
    smol::block_on(f);
}

/// Runs `f` on the local executor `ex` until `f` ends (a run and the probe
/// server): one boxed future type, so the executor's run loop is compiled
/// once.
pub fn run_local(
    ex: &smol::LocalExecutor<'_>,
    f: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>,
) {
    block_on(ex.run(f));
}

/// Starts `f` on the local executor `ex` and returns its task (dropping it
/// cancels the task). Every local task of netcrab (a run's, `--check`'s, the
/// probe server's, the tunnel ends') is spawned boxed, as one type, so the
/// executor's task code (async-task's RawTask, which inlines the future's
/// poll) is compiled once rather than once per spawned future type. One
/// allocation more per task, per connection at most.
pub fn spawn_local(
    ex: &smol::LocalExecutor<'static>,
    f: impl std::future::Future<Output = ()> + 'static,
) -> smol::Task<()> {
    spawn_boxed(ex, Box::pin(f))
}

/// [`spawn_local`] for a future already boxed.
pub fn spawn_boxed(
    ex: &smol::LocalExecutor<'static>,
    f: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) -> smol::Task<()> {
    ex.spawn(f)
}

/// As [`spawn_local`], the task left to run on its own.
#[cfg_attr(not(any(feature = "probe", feature = "tunnel")), allow(dead_code))]
pub fn spawn_detached(
    ex: &smol::LocalExecutor<'static>,
    f: impl std::future::Future<Output = ()> + 'static,
) {
    spawn_local(ex, f).detach();
}

/// Blocking work on smol's thread pool (a name lookup, a proxy request, the
/// interface snapshot, starting or ending a `-e` child), through one boxed
/// closure type for all of netcrab: the pool's task code is compiled once.
/// `None` cannot happen (the result's type is the one the closure returns).
#[cfg_attr(
    not(any(feature = "check", feature = "exec", feature = "tunnel")),
    allow(dead_code)
)]
pub async fn unblock<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    use std::any::Any;
    let f: Box<dyn FnOnce() -> Box<dyn Any + Send> + Send> =
        Box::new(move || Box::new(f()) as Box<dyn Any + Send>);
    smol::unblock(f).await.downcast::<T>().ok().map(|b| *b)
}

/// Which address families to use (`-4`, `-6`, or both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Any,
    V4,
    V6,
}

impl Family {
    pub fn allows(self, a: &SocketAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => a.is_ipv4(),
            Family::V6 => a.is_ipv6(),
        }
    }
}

/// "IPv4" or "IPv6", as status lines print it.
pub fn family_name(a: &SocketAddr) -> &'static str {
    if a.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}
