//! The local input pump: stdin, a shared `-e` child, or generated data
//! (`-i rand`, `-i fixed`) to every socket the router names. Send faults
//! (`--sdmin/--sdmax/--sdrop`) and `-C` apply here.

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
                use super::fastpath::{feed, InputEnd};
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
                match crate::local::exec::spawn(cmd, shared.cfg.send_size, feed.clone(), v) {
                    Ok(child) => {
                        shared.children.borrow_mut().insert(LOCAL, child.control);
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
