//! One run of netcrab: open the endpoints, move data until nothing is left
//! to do, and say how it ended.

mod dial;
mod listen;
mod plan;
mod route;
mod shared;
mod udp;

use crate::cli::{Config, InputMode, OutputMode};
use crate::error::{Error, Result};
use crate::local::stdio::{self, StdoutEnd};

use crate::router::{LocalInput, Router, LOCAL};
use shared::Shared;
use smol::{future, LocalExecutor, Timer};
use std::io::IsTerminal;
use std::rc::Rc;

/// Run with a validated config; returns the process exit code.
pub fn run(cfg: Config) -> Result<u8> {
    // Resolve and bind before anything moves, so a bad address or a busy port
    // is reported at once.
    enum Plan {
        Tcp(plan::Plan),
        Udp(udp::UdpPlan),
    }
    let plan = if cfg.udp {
        Plan::Udp(udp::UdpPlan::new(&cfg)?)
    } else {
        Plan::Tcp(plan::Plan::new(&cfg)?)
    };

    let stdout = match cfg.output {
        OutputMode::Stdout => Some(stdio::spawn_stdout()),
        OutputMode::None => None,
    };
    let (local_in, stdin) = match cfg.input {
        InputMode::Stdin | InputMode::StdinNochar => {
            (LocalInput::Live, Some(stdio::spawn_stdin(cfg.send_size)))
        }
        _ => (LocalInput::Silent, None),
    };
    let router = Router::new(
        cfg.mode,
        cfg.input == InputMode::Echo,
        stdout.as_ref().map(|s| s.tx.clone()),
        local_in,
        !std::io::stdin().is_terminal(),
        cfg.shutdown_on_eof,
        cfg.verbose,
    );
    let ex = Rc::new(LocalExecutor::new());
    let shared = Rc::new(Shared::new(cfg, router, ex.clone()));
    let stdout_done = stdout.as_ref().map(|s| s.done.clone());
    drop(stdout);

    let code = future::block_on(ex.run(async {
        let listeners = match plan {
            Plan::Tcp(plan) => {
                for (idx, t) in plan.targets.into_iter().enumerate() {
                    dial::start(&shared, idx, t);
                }
                listen::start(&shared, plan.listeners)
            }
            Plan::Udp(plan) => {
                udp::start(&shared, plan);
                Vec::new()
            }
        };
        if let Some(rx) = stdin {
            shared.spawn(pump_stdin(shared.clone(), rx));
        }
        let code = supervise(&shared, listeners, stdout_done.clone()).await;
        // Let the stdout thread write what it was given, then stop.
        shared.router.borrow_mut().local_output_closed();
        code
    }));
    // Tasks still holding stdout's sender end with the executor.
    drop(ex);
    if let Some(done) = stdout_done {
        let _ = done.recv_blocking();
    }
    Ok(code)
}

/// Watch the run and decide when it is over.
async fn supervise(
    shared: &Rc<Shared>,
    mut listeners: Vec<smol::Task<()>>,
    stdout_done: Option<smol::channel::Receiver<StdoutEnd>>,
) -> u8 {
    let quit_at = shared.cfg.quit_after;
    let mut quit_timer: Option<Timer> = None;
    loop {
        if !shared.listening.get() && !listeners.is_empty() {
            listeners.clear();
        }
        let input_ended = shared.router.borrow().local_input() == crate::router::LocalInput::Ended;
        if input_ended && quit_timer.is_none() {
            if let Some(q) = quit_at {
                quit_timer = Some(Timer::after(q));
            }
        }
        if input_ended && shared.cfg.exit_after_input && shared.writers.get() == 0 {
            return shared.exit_code();
        }
        if shared.router.borrow().route_count() == 0
            && shared.dialing.get() == 0
            && !shared.listening.get()
        {
            return shared.exit_code();
        }
        let changed = async {
            shared.changed.wait().await;
            Wake::Changed
        };
        let stdout_closed = async {
            match &stdout_done {
                Some(d) => {
                    let _ = d.recv().await;
                    Wake::StdoutClosed
                }
                None => future::pending().await,
            }
        };
        let quit = async {
            match quit_timer.as_mut() {
                Some(t) => {
                    t.await;
                    Wake::Quit
                }
                None => future::pending().await,
            }
        };
        match future::or(changed, future::or(stdout_closed, quit)).await {
            Wake::Changed => {}
            // stdout's reader went away (`| head`): end quietly.
            Wake::StdoutClosed => return 0,
            Wake::Quit => return shared.exit_code(),
        }
    }
}

enum Wake {
    Changed,
    StdoutClosed,
    Quit,
}

/// Feed stdin to the sockets. Input is only read while some socket can
/// take it (data read with nobody to send it to would be lost, W35), and
/// only once every target has had its first try at connecting.
async fn pump_stdin(shared: Rc<Shared>, rx: smol::channel::Receiver<bytes::Bytes>) {
    loop {
        while shared.router.borrow().route_count() == 0 || shared.first_dials.get() > 0 {
            shared.route_added.wait().await;
        }
        match rx.recv().await {
            Ok(chunk) => {
                let dests = shared.router.borrow().dests(LOCAL);
                for (_, tx) in dests.routes {
                    // A closed queue means that socket is gone; the others still get it.
                    let _ = tx.send(chunk.clone()).await;
                }
            }
            Err(_) => {
                if shared.cfg.verbose > 0 {
                    eprintln!("End of outbound data from local machine reached.");
                }
                shared.router.borrow_mut().local_ended();
                shared.changed.notify();
                return;
            }
        }
    }
}

/// Turn a setup failure into a runtime error with context.
pub fn runtime(what: impl std::fmt::Display, e: &std::io::Error) -> Error {
    Error::Runtime(format!("{what}: {}", crate::error::describe(e)))
}
