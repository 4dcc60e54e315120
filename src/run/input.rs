//! The local input pump: stdin, a shared `-e` child, or generated data
//! (`-i rand`, `-i fixed`) to every socket the router names. Send faults
//! (`--sdmin/--sdmax/--sdrop`) and `-C` apply here. On Linux, stdin that is
//! a pipe feeding one socket is spliced into it instead, and a regular file
//! is sent with sendfile(2) (`kernel` below);
//! the stdin thread starts only if copying becomes necessary.

use super::crlf::Crlf;
use super::quiet::until_quiet;
use super::shared::Shared;
use crate::router::LOCAL;
use bytes::Bytes;
use smol::channel::Receiver;
use std::rc::Rc;
use std::time::Instant;

pub enum Source {
    /// Chunks from a thread (stdin).
    Channel(Receiver<Bytes>),
    /// stdin as a pipe, spliced into the only socket while that applies
    /// (Linux); the stdin thread starts only if copying becomes necessary.
    #[cfg(all(target_os = "linux", feature = "splice"))]
    Pipe {
        input: super::splice::PipeInput,
        block: usize,
        char_mode: bool,
    },
    /// `-i rand`, `-i fixed`: endless.
    #[cfg(feature = "gen")]
    Gen(crate::local::generate::Generator),
    /// `-e`: the shared child, started when the first route appears; `feed`
    /// becomes its stdin.
    #[cfg(feature = "exec")]
    Exec { cmd: String, feed: Receiver<Bytes> },
}

/// Feed local input to the sockets. Input is only read while some socket
/// can take it (data read with nobody to send it to would be lost, W35), and
/// only once every target has had its first try at connecting.
pub async fn pump(shared: Rc<Shared>, mut source: Source) {
    let mut crlf = shared.cfg.crlf.then(Crlf::default);
    #[cfg(feature = "gen")]
    let mut since_yield = 0u32;
    // When input last sent something (the close grace counts from here).
    let mut last_input = Instant::now();
    loop {
        while shared.router.borrow().route_count() == 0 || shared.life.first_dials_pending() {
            shared.route_added.wait().await;
        }
        let next = match &mut source {
            Source::Channel(rx) => next_or_quiet(&shared, rx, last_input).await,
            #[cfg(all(target_os = "linux", feature = "splice"))]
            Source::Pipe {
                input,
                block,
                char_mode,
            } => {
                use kernel::{feed, InputEnd};
                match feed(&shared, input, &mut last_input).await {
                    InputEnd::Eof => None,
                    InputEnd::NoRoute => continue,
                    InputEnd::Copy => {
                        if shared.cfg.verbose > 1 {
                            eprintln!("Local input: copying from now on (no splice)");
                        }
                        let rx = crate::local::stdio::spawn_stdin(*block, *char_mode);
                        source = Source::Channel(rx);
                        continue;
                    }
                }
            }
            #[cfg(feature = "gen")]
            Source::Gen(g) => {
                // Queues with room never make this task wait: let others run.
                since_yield += 1;
                if since_yield >= 64 {
                    since_yield = 0;
                    futures_lite::future::yield_now().await;
                }
                Some(g.next_chunk())
            }
            #[cfg(feature = "exec")]
            Source::Exec { cmd, feed } => {
                let v = shared.cfg.verbose;
                let (c, block, f) = (cmd.clone(), shared.cfg.send_size, feed.clone());
                // fork and exec off the executor: a slow exec (a command on
                // a slow disk) must not stall the other sockets.
                let spawned =
                    crate::net::unblock(move || crate::local::exec::spawn(&c, block, f, v));
                match spawned
                    .await
                    .unwrap_or_else(|| Err(std::io::ErrorKind::Other.into()))
                {
                    Ok(child) => {
                        *shared.local_child.borrow_mut() = Some(child.control);
                        source = Source::Channel(child.output);
                        continue;
                    }
                    Err(e) => {
                        eprintln!(
                            "netcrab: cannot run command '{cmd}': {}",
                            crate::error::describe(&e)
                        );
                        shared.fail();
                        None
                    }
                }
            }
        };
        let Some(mut chunk) = next else {
            if shared.cfg.verbose > 0 {
                eprintln!("End of outbound data from local machine reached.");
            }
            shared.input_ended();
            return;
        };
        last_input = Instant::now();
        if let Some(c) = crlf.as_mut() {
            chunk = c.apply(chunk);
        }
        if !shared.faults.send_gate().await {
            continue;
        }
        let dests = shared.router.borrow().dests(LOCAL);
        for (id, tx) in dests.routes {
            // A closed queue means that socket is gone; the others still get it.
            if tx.send(chunk.clone()).await.is_ok() {
                shared.router.borrow_mut().fed(id);
            }
        }
        last_input = Instant::now();
    }
}

/// The next chunk from `rx` (`None` at its end). While none comes, once
/// input has been silent for the close grace, the router is told it is
/// quiet: it then no longer keeps half-closed peers' connections open.
async fn next_or_quiet(shared: &Shared, rx: &Receiver<Bytes>, last: Instant) -> Option<Bytes> {
    if let Ok(c) = rx.try_recv() {
        return Some(c);
    }
    let got = until_quiet(shared, last, rx.recv()).await.ok();
    if got.is_some() {
        shared.router.borrow_mut().local_quiet(false);
    }
    got
}

/// stdin spliced into the only socket (Linux, feature "splice"): while
/// `Config::untouched.input` holds (checked when the source was made),
/// stdin is a pipe, and its bytes go to exactly one TCP socket that has
/// nothing queued or being written by the copy path.
#[cfg(all(target_os = "linux", feature = "splice"))]
mod kernel {
    use crate::router::{RouteId, LOCAL};
    use crate::run::quiet::until_quiet;
    use crate::run::shared::Shared;
    use crate::run::splice::{ready, PipeInput, CALLS_PER_YIELD};
    use smol::Async;
    use std::io;
    use std::net::TcpStream;
    use std::os::fd::AsRawFd;
    use std::sync::Arc;
    use std::time::Instant;

    /// Why feeding stdin by splice stopped.
    pub enum InputEnd {
        /// stdin ended.
        Eof,
        /// No socket to send to: wait for one, then try again.
        NoRoute,
        /// The fast path does not apply (any more): copy from now on.
        Copy,
    }

    /// The only socket local input goes to, when it may be spliced into now:
    /// exactly one route, a TCP socket, and nothing queued or being written to
    /// it by the copy path.
    fn input_target(shared: &Shared) -> Result<(RouteId, Arc<Async<TcpStream>>), InputEnd> {
        let router = shared.router.borrow();
        match router.route_count() {
            0 => return Err(InputEnd::NoRoute),
            1 => {}
            _ => return Err(InputEnd::Copy),
        }
        let dests = router.dests(LOCAL);
        let [(id, _)] = dests.routes[..] else {
            return Err(InputEnd::Copy);
        };
        if router.queued_for(id) {
            return Err(InputEnd::Copy);
        }
        match router.conn(id) {
            Some(c) if !c.writing() => c.socket.clone().map(|s| (id, s)).ok_or(InputEnd::Copy),
            _ => Err(InputEnd::Copy),
        }
    }

    /// Move stdin into the only socket until stdin ends or the fast path stops
    /// applying. `last_input` is when input last sent something (the close
    /// grace counts from it).
    pub async fn feed(shared: &Shared, input: &PipeInput, last_input: &mut Instant) -> InputEnd {
        let mut moved = 0u64;
        let end = feed_counted(shared, input, last_input, &mut moved).await;
        if shared.cfg.verbose > 1 && moved > 0 {
            let how = match input.fd {
                crate::run::splice::InputFd::Pipe(_) => "spliced",
                crate::run::splice::InputFd::File(_) => "sent with sendfile",
            };
            eprintln!("Local input: {how} {moved} bytes");
        }
        end
    }

    async fn feed_counted(
        shared: &Shared,
        input: &PipeInput,
        last_input: &mut Instant,
        moved: &mut u64,
    ) -> InputEnd {
        let mut calls = 0u32;
        loop {
            let (id, sock) = match input_target(shared) {
                Ok(t) => t,
                Err(end) => return end,
            };
            let stdin = input.fd.raw();
            match input.fd.send_to(sock.as_raw_fd(), input.block) {
                Ok(0) => return InputEnd::Eof,
                Ok(n) => {
                    *last_input = Instant::now();
                    shared.router.borrow_mut().fed(id);
                    shared.router.borrow_mut().local_quiet(false);
                    shared.observer.sent_len(shared.router.borrow().conn(id), n);
                    *moved += n as u64;
                    calls += 1;
                    if calls % CALLS_PER_YIELD == 0 {
                        futures_lite::future::yield_now().await;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !ready(stdin, libc::POLLIN) {
                        // Nothing to send: the close grace runs while we
                        // wait. Not holding the socket meanwhile, so one
                        // that ends is freed at once, not at the next input.
                        drop(sock);
                        let _ = until_quiet(shared, *last_input, input.fd.readable()).await;
                    } else if sock.writable().await.is_err() {
                        return InputEnd::Copy;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The socket failed (or splice cannot serve this pair): the copy
                // path meets the same error and handles it as it always does.
                Err(_) => return InputEnd::Copy,
            }
        }
    }
}
