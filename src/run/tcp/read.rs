//! A stream socket's read loop (TCP or UNIX): for every chunk it chooses how the chunk
//! travels, then moves it.
//!
//! - copy: read into a pooled buffer and hand it to the destinations the
//!   router names (`routes::deliver`); every option that looks at bytes
//!   sees it there;
//! - relay splice (Linux): socket -> our pipe -> the channel partner's
//!   socket, in the kernel, while `Config::untouched.relay` holds, the pair
//!   stands, and nothing is queued for or being written to the partner;
//! - stdout splice (Linux, P2P): socket -> stdout, while
//!   `Config::untouched.output` holds, this is the only route, its bytes go
//!   to stdout alone, and the stdout thread has written all it was given.
//!
//! A splice moves nothing it cannot deliver (what the partner could not
//! take comes back out of the pipe and is delivered by copy), so a switch
//! between paths, either way, loses and reorders nothing.

use crate::local::pool;
use crate::net::stream::{Io, Stream};
use crate::router::RouteId;
use crate::run::routes::active;
use crate::run::routes::deliver;
use crate::run::shared::Shared;
use bytes::Bytes;
use smol::channel::{bounded, Receiver};
use std::io;

/// What one turn of the loop did.
enum Step {
    /// Moved something (or nothing yet): choose again.
    More,
    /// The peer finished sending (EOF), or reading failed.
    End(io::Result<()>),
}

/// Read socket `id` until its peer finishes sending; then tell the router.
pub async fn read_loop(shared: &Shared, id: RouteId, stream: &Stream) -> io::Result<()> {
    let io = stream.io();
    let io = &io;
    let (pair_tx, pair_rx) = bounded::<()>(1);
    shared.router.borrow_mut().on_paired(id, pair_tx);
    #[cfg(all(target_os = "linux", feature = "splice"))]
    let mut k = kernel::Kernel::default();
    let end = loop {
        #[cfg(all(target_os = "linux", feature = "splice"))]
        let step = match kernel::choose(shared, id, &k) {
            kernel::Path::Relay(p, to) => {
                k.now_on(shared, id, kernel::Run::Relay(p));
                kernel::relay_step(shared, id, io, p, &to, &mut k).await
            }
            kernel::Path::Stdout => {
                k.now_on(shared, id, kernel::Run::Stdout);
                kernel::stdout_step(shared, id, io, &mut k).await
            }
            kernel::Path::Copy => {
                k.now_on(shared, id, kernel::Run::Copy);
                copy_step(shared, id, io, &pair_rx).await
            }
        };
        #[cfg(not(all(target_os = "linux", feature = "splice")))]
        let step = copy_step(shared, id, io, &pair_rx).await;
        if let Step::End(r) = step {
            break r;
        }
    };
    #[cfg(all(target_os = "linux", feature = "splice"))]
    k.now_on(shared, id, kernel::Run::Copy);
    shared.router.borrow_mut().read_ended(id, end.is_err());
    shared.changed();
    end
}

/// One chunk through user space.
async fn copy_step(shared: &Shared, id: RouteId, io: &Io, pair_rx: &Receiver<()>) -> Step {
    match read_chunk(io).await {
        Ok(chunk) if chunk.is_empty() => Step::End(Ok(())),
        Ok(chunk) => {
            // Channels: a socket without a partner keeps this one chunk
            // and reads no more until it is paired, so what its peer
            // sends waits (in the kernel) for the tunnel instead of being
            // dropped. Its EOF is still seen, so a peer that gives up
            // while waiting is closed.
            let mut chunk = chunk;
            if shared.router.borrow().awaits_partner(id) {
                // Hold only what arrived, not the pooled read buffer
                // it sits in (128 KiB for maybe one byte, times every
                // socket waiting with -m 0).
                chunk = Bytes::copy_from_slice(&chunk);
            }
            while shared.router.borrow().awaits_partner(id) {
                let _ = pair_rx.recv().await;
            }
            active(shared, id);
            shared.received(id, &chunk);
            deliver(shared, id, chunk).await;
            Step::More
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Step::More,
        Err(e) => Step::End(Err(e)),
    }
}

/// Wait until the socket is readable, then read into a pooled buffer: no
/// connection holds a buffer while it waits, and the chunk is not copied.
/// An empty chunk means EOF.
pub async fn read_chunk(io: &Io) -> io::Result<Bytes> {
    io.read_with(|s| {
        let mut buf = pool::take();
        match s.read_raw(&mut buf) {
            Ok(n) => Ok(pool::freeze(buf, n)),
            Err(e) => {
                pool::give_back(buf);
                Err(e)
            }
        }
    })
    .await
}

/// The kernel paths (Linux, feature "splice").
#[cfg(all(target_os = "linux", feature = "splice"))]
mod kernel {
    use crate::net::stream::Io;
    use crate::router::{LocalInput, RouteId};
    use crate::run::routes::deliver;
    use crate::run::shared::Shared;
    use crate::run::splice::{
        self, empty_pipe, ready, splice, unsupported, Pipe, Sink, CALLS_PER_YIELD, STEP,
    };
    use crate::run::tcp::read::Step;
    use smol::Async;
    use std::io;
    use std::net::TcpStream;
    use std::os::fd::AsRawFd;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    /// How the next chunk travels.
    pub enum Path {
        /// Spliced to the channel partner (its id and socket).
        Relay(RouteId, Arc<Async<TcpStream>>),
        /// Spliced to stdout.
        Stdout,
        Copy,
    }

    /// Which path the chunks before this one took (for `-vv`'s totals).
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Run {
        Relay(RouteId),
        Stdout,
        Copy,
    }

    /// The loop's kernel-path state.
    pub struct Kernel {
        /// Our pipe for the relay (made at its first use).
        pipe: Option<Pipe>,
        /// No pipe could be made (descriptors exhausted): copy instead.
        no_pipe: bool,
        run: Run,
        /// Bytes spliced in the current run of one path.
        moved: u64,
        calls: u32,
    }

    impl Default for Kernel {
        fn default() -> Kernel {
            Kernel {
                pipe: None,
                no_pipe: false,
                run: Run::Copy,
                moved: 0,
                calls: 0,
            }
        }
    }

    impl Kernel {
        /// The path is now `run`: a run of splices that ends says (`-vv`)
        /// how much it moved.
        pub fn now_on(&mut self, shared: &Shared, id: RouteId, run: Run) {
            if run == self.run {
                return;
            }
            let moved = std::mem::take(&mut self.moved);
            if shared.cfg.verbose > 1 {
                match self.run {
                    Run::Relay(p) => eprintln!("Route {id}: spliced {moved} bytes to route {p}"),
                    Run::Stdout if moved > 0 => {
                        eprintln!("Route {id}: spliced {moved} bytes to stdout")
                    }
                    _ => {}
                }
            }
            self.run = run;
        }

        /// Let the other tasks in now and then: a splice that finds data
        /// never waits, so a flowing stream would otherwise keep the
        /// executor to itself.
        async fn count_call(&mut self) {
            self.calls += 1;
            if self.calls % CALLS_PER_YIELD == 0 {
                futures_lite::future::yield_now().await;
            }
        }
    }

    pub fn choose(shared: &Shared, id: RouteId, k: &Kernel) -> Path {
        if !k.no_pipe {
            if let Some((p, to)) = relay_partner(shared, id) {
                return Path::Relay(p, to);
            }
        }
        if stdout_allowed(shared, id) {
            return Path::Stdout;
        }
        Path::Copy
    }

    /// The partner's socket, when route `id` may splice into it now:
    /// relayed bytes stay untouched, no live local input shares the stream,
    /// it is paired, and the copy path has nothing queued for the partner
    /// nor a write to it under way (either would be overtaken).
    fn relay_partner(shared: &Shared, id: RouteId) -> Option<(RouteId, Arc<Async<TcpStream>>)> {
        if !shared.cfg.untouched.relay {
            return None;
        }
        let router = shared.router.borrow();
        if router.local_input() == LocalInput::Live {
            return None;
        }
        let p = router.partner_of(id)?;
        if router.queued_for(p) {
            return None;
        }
        let c = router.conn(p)?;
        if c.writing() {
            return None;
        }
        Some((p, c.socket.clone()?))
    }

    /// Whether route `id` may splice into stdout now: stdout can take a
    /// splice (the sink exists only where output stays untouched), this is
    /// the only route, its bytes go to stdout alone, and the stdout thread
    /// has written everything it was given (nothing overtaken).
    fn stdout_allowed(shared: &Shared, id: RouteId) -> bool {
        let Some(sink) = &shared.stdout_sink else {
            return false;
        };
        if sink.given_up.get() || sink.written.load(Ordering::Acquire) < sink.sent.get() {
            return false;
        }
        let router = shared.router.borrow();
        if router.route_count() != 1 || router.awaits_partner(id) {
            return false;
        }
        let dests = router.dests(id);
        dests.routes.is_empty() && dests.local.is_some()
    }

    /// One chunk socket -> pipe -> partner. The pipe is emptied every time,
    /// so a splice into it never finds it full (EAGAIN then always means
    /// "socket not ready"), and nothing in it is ever dropped.
    pub async fn relay_step(
        shared: &Shared,
        id: RouteId,
        from: &Io,
        p: RouteId,
        to: &Async<TcpStream>,
        k: &mut Kernel,
    ) -> Step {
        if k.pipe.is_none() {
            match splice::pipe() {
                Ok(pipe) => k.pipe = Some(pipe),
                Err(e) => {
                    k.now_on(shared, id, Run::Copy);
                    // Not the partner's fault: copy through user space.
                    if shared.cfg.verbose > 0 {
                        eprintln!(
                            "Route {id}: no pipe for splice ({}); copying instead",
                            crate::error::describe(&e)
                        );
                    }
                    k.no_pipe = true;
                    return Step::More;
                }
            }
        }
        k.count_call().await;
        let Some(pipe) = &k.pipe else {
            return Step::More;
        };
        let got = from
            .read_with(|s| splice(s.fd(), pipe.write.as_raw_fd(), STEP))
            .await;
        let mut left = match got {
            Ok(0) => return Step::End(Ok(())),
            Ok(n) => n,
            Err(e) => return Step::End(Err(e)),
        };
        let mut moved = 0;
        let mut failed = None;
        while left > 0 {
            // The partner left or changed (linger re-pairing).
            if shared.router.borrow().partner_of(id) != Some(p) {
                failed = Some(false);
                break;
            }
            match to
                .write_with(|s| splice(pipe.read.as_raw_fd(), s.as_raw_fd(), left))
                .await
            {
                Ok(n) if n > 0 => {
                    left -= n;
                    moved += n as u64;
                }
                _ => {
                    failed = Some(true);
                    break;
                }
            }
        }
        let pending = match failed {
            Some(_) => splice::take_back(pipe, left),
            None => Vec::new(),
        };
        k.moved += moved;
        if let Some(partner_failed) = failed {
            // A fresh pipe for the next run: this one is empty, but only
            // as far as the read back above could tell.
            k.pipe = None;
            // Back to the copy path for what was read but not written: it
            // goes where the router now says (the new partner, or stdout).
            k.now_on(shared, id, Run::Copy);
            if partner_failed {
                // The partner is gone: stop sending to it, as the copy
                // path would, and keep reading this socket.
                shared.router.borrow_mut().write_failed(p);
                shared.changed();
            }
            if !pending.is_empty() {
                deliver(shared, id, pending.into()).await;
            }
        }
        Step::More
    }

    /// One chunk socket -> stdout (straight into a pipe; through our own
    /// pipe into a file or /dev/null).
    pub async fn stdout_step(shared: &Shared, id: RouteId, sock: &Io, k: &mut Kernel) -> Step {
        let Some(sink) = &shared.stdout_sink else {
            return Step::More;
        };
        let fd = sock.fd();
        let got = match &sink.fd {
            Sink::Pipe(out) => splice(fd, out.as_raw_fd(), STEP),
            Sink::File { via, .. } => splice(fd, via.write.as_raw_fd(), STEP),
        };
        match got {
            Ok(0) => Step::End(Ok(())),
            Ok(n) => {
                if let Sink::File { out, via } = &sink.fd {
                    if let Err(e) = empty_pipe(via, out, &sink.given_up, n) {
                        if !unsupported(&e) {
                            stdout_failed(shared, &e);
                        }
                        return Step::More;
                    }
                }
                crate::run::routes::active(shared, id);
                shared
                    .observer
                    .received_len(shared.router.borrow().conn(id), n);
                k.moved += n as u64;
                k.count_call().await;
                Step::More
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Straight into a pipe, "would block" may mean stdout is
                // full; into our own (always emptied) pipe it never does.
                let full = match &sink.fd {
                    Sink::Pipe(out) => ready(fd, libc::POLLIN).then_some(out),
                    Sink::File { .. } => None,
                };
                if let Some(out) = full {
                    let _ = out.writable().await;
                } else if let Err(e) = sock.readable().await {
                    return Step::End(Err(e));
                }
                Step::More
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Step::More,
            // Straight into a pipe whose reader has gone.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
                stdout_failed(shared, &e);
                Step::More
            }
            Err(e) => Step::End(Err(e)),
        }
    }

    /// Writing stdout failed: as on the copy path, a reader that has gone
    /// ends the run quietly, any other failure (a full disk) is one line
    /// and exit 1.
    fn stdout_failed(shared: &Shared, e: &io::Error) {
        use crate::run::lifecycle::Stdout;
        let how = if e.raw_os_error() == Some(libc::EPIPE) {
            Stdout::Gone
        } else {
            eprintln!("netcrab: writing stdout: {}", crate::error::describe(e));
            Stdout::Failed
        };
        shared.router.borrow_mut().local_output_closed();
        shared.life.stdout_ended(how);
        shared.changed();
    }
}
