//! One run of netcrab: open the endpoints, move data until nothing is left
//! to do, and say how it ended.

pub mod config;
mod conn;
mod crlf;
mod dial;
#[cfg(test)]
mod import_graph;
mod input;
pub mod lifecycle;
mod listen;
mod notify;
mod observe;
mod plan;
mod quiet;
mod routes;
mod scan;
mod shared;
#[cfg(all(target_os = "linux", feature = "splice"))]
mod splice;
mod tcp;
mod udp;
mod udp_flows;
mod udp_io;
#[cfg(all(unix, feature = "unix"))]
mod unix_dgram;

use crate::error::Result;
use crate::local::stdio::{self, StdoutEnd};
use crate::local::{InputMode, OutputMode};
use config::Config;

use crate::router::{self, EofFin, LocalInput, Router};
use lifecycle::{Input, Lifecycle};
use shared::Shared;
use smol::{future, LocalExecutor, Timer};
use std::io::IsTerminal;
use std::rc::Rc;

/// Run with a validated config; returns the process exit code.
pub fn run(cfg: Config) -> Result<u8> {
    crate::net::limits::raise_nofile();
    // Before the stdin thread can put the terminal in character mode, so a
    // signal never leaves it that way.
    let interrupted = crate::signal::interrupts();
    // Resolve and bind before anything moves, so a bad address or a busy port
    // is reported at once.
    enum Plan {
        Tcp(plan::Plan),
        Udp(plan::UdpPlan),
        #[cfg(all(unix, feature = "unix"))]
        UnixDgram(unix_dgram::Plan),
    }
    // `-z -u` is a scan: targets only, probed one socket each (run/scan.rs).
    let plan = match () {
        #[cfg(all(unix, feature = "unix"))]
        _ if cfg.unix_dgram() => Plan::UnixDgram(unix_dgram::plan(&cfg)?),
        _ if cfg.udp && !cfg.zero_io => Plan::Udp(plan::UdpPlan::new(&cfg)?),
        _ => Plan::Tcp(plan::Plan::new(&cfg)?),
    };

    let local = local_endpoint(&cfg);
    let stdout_done = local.stdout_done;
    let (local_in, source) = (local.input, local.source);
    let router = Router::new(router::Options {
        mode: cfg.mode,
        echo: matches!(cfg.input, InputMode::Echo | InputMode::PfQosSrv),
        local_loop: local.is_child,
        local_out: local.output,
        local_in,
        // Typed input at a terminal does not keep a half-closed peer's
        // connection (a person expects the exit); every other input does
        // while it flows (a generator, a child, a pipe or file).
        local_keeps_open: local.is_child
            || !matches!(cfg.input, InputMode::Stdin | InputMode::StdinNochar)
            || !std::io::stdin().is_terminal(),
        eof_fin: if !cfg.shutdown_on_eof {
            EofFin::Never
        } else if cfg.fin_always {
            EofFin::All
        } else {
            EofFin::Fed
        },
        verbose: cfg.verbose,
    });
    let input = match local_in {
        LocalInput::Silent => Input::Silent,
        _ => Input::Open,
    };
    let life = Lifecycle::new(cfg.udp, cfg.exit_after_input, input);
    let ex = Rc::new(LocalExecutor::new());
    #[allow(unused_mut)]
    let mut shared = Shared::new(cfg, router, life, &ex);
    #[cfg(all(target_os = "linux", feature = "splice"))]
    {
        shared.stdout_sink = local
            .stdout_written
            .and_then(|w| splice::StdoutSink::new(&shared.cfg, w));
    }
    let shared = Rc::new(shared);

    // smol::block_on, not futures-lite's: this thread waits on the reactor
    // itself, so a ready socket wakes it directly instead of through the
    // async-io thread (one context switch fewer per wake-up). It and the
    // executor's loop are reached through `net::run_local`, shared with
    // `--check` and the probe (one boxed future type: compiled once).
    let mut code = 0;
    crate::net::run_local(
        &ex,
        Box::pin(async {
            let listeners = match plan {
                Plan::Tcp(plan) => {
                    for (idx, t) in scan::start_zero_io(&shared, plan.targets)
                        .into_iter()
                        .enumerate()
                    {
                        dial::start(&shared, idx, dial::Dest::Inet(t));
                    }
                    // UNIX targets' origins follow the TCP targets'.
                    #[cfg(feature = "unix")]
                    for (i, path) in shared.cfg.unix_targets.iter().enumerate() {
                        let idx = shared.cfg.targets.len() + i;
                        dial::start(&shared, idx, dial::Dest::Unix(path.into()));
                    }
                    listen::start(&shared, plan.listeners)
                }
                Plan::Udp(plan) => {
                    udp::start(&shared, plan);
                    Vec::new()
                }
                #[cfg(all(unix, feature = "unix"))]
                Plan::UnixDgram(plan) => {
                    unix_dgram::start(&shared, plan);
                    Vec::new()
                }
            };
            if let Some(src) = source {
                shared.spawn(input::pump(shared.clone(), src));
            }
            #[cfg(feature = "qos")]
            if shared.cfg.input == InputMode::PfQosCli {
                shared.spawn(udp::qos_pinger(shared.clone()));
            }
            #[cfg(feature = "stats")]
            if let Some(every) = shared.cfg.stats.every {
                let s = shared.clone();
                shared.spawn(async move {
                    loop {
                        Timer::after(every).await;
                        if let Some(st) = &s.observer.stats {
                            let router = s.router.borrow();
                            let routes = router.conns().map(|(_, c)| (c.label.as_str(), &c.counts));
                            let text = st.borrow_mut().periodic(s.cfg.stats.json, routes);
                            eprint!("{text}");
                        }
                    }
                });
            }
            code = supervise(&shared, listeners, stdout_done.clone(), interrupted).await;
            // Let the stdout thread write what it was given, then stop.
            shared.router.borrow_mut().local_output_closed();
        }),
    );
    #[cfg(feature = "stats")]
    if shared.cfg.stats.at_exit {
        if let Some(st) = &shared.observer.stats {
            eprint!("{}", st.borrow().totals(shared.cfg.stats.json));
        }
    }
    crate::local::terminal::restore();
    // No child outlives the run: drop the executor's tasks first (that
    // closes the children's stdin), then end whatever still runs.
    #[cfg(feature = "exec")]
    let children: Vec<crate::local::exec::Control> = {
        let router = shared.router.borrow();
        let each = router.conns().filter_map(|(_, c)| c.child.clone());
        let local = shared.local_child.borrow_mut().take();
        each.chain(local).collect()
    };
    // Tasks still holding stdout's sender end with the executor (the only
    // strong reference), then the shared state with them.
    drop(ex);
    drop(shared);
    #[cfg(feature = "exec")]
    crate::local::exec::end_all(&children, std::time::Duration::from_millis(500));
    if code == 130 {
        // SIGTERM: 143, SIGHUP: 129, as shells report them.
        code = crate::signal::exit_status().unwrap_or(code);
    }
    if let Some(done) = stdout_done {
        // A write that failed at the very end still loses data.
        if done.recv_blocking() == Some(StdoutEnd::Failed) && code == 0 {
            code = 1;
        }
    }
    Ok(code)
}

/// Watch the run and turn outside events (the end of input's `-q` wait,
/// stdout's end, Ctrl-C, listeners to close) into lifecycle transitions
/// until `lifecycle::verdict` says the run is over.
async fn supervise(
    shared: &Rc<Shared>,
    mut listeners: Vec<smol::Task<()>>,
    mut stdout_done: Option<stdio::Done>,
    mut interrupted: Option<smol::channel::Receiver<i32>>,
) -> u8 {
    let life = &shared.life;
    let mut quit_timer: Option<Timer> = None;
    loop {
        if !life.listening() && !listeners.is_empty() {
            // Dropping the accept tasks closes the listening sockets.
            listeners.clear();
        }
        if life.input() == Input::Ended && quit_timer.is_none() {
            if let Some(q) = shared.cfg.quit_after {
                quit_timer = Some(Timer::after(q));
            }
        }
        if let Some(code) = life.verdict() {
            return code;
        }
        let changed = async {
            life.changed.wait().await;
            Wake::Changed
        };
        let stdout_closed = async {
            match &stdout_done {
                Some(d) => Wake::Stdout(d.recv().await),
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
        let ctrl_c = async {
            match &interrupted {
                Some(rx) => Wake::Interrupted(rx.recv().await.is_ok()),
                None => future::pending().await,
            }
        };
        let wake = future::or(changed, future::or(stdout_closed, future::or(quit, ctrl_c)));
        match wake.await {
            Wake::Changed => {}
            // Ctrl-C, SIGTERM, SIGHUP: write out what was received, then
            // exit 128 + the signal's number as shells do.
            Wake::Interrupted(true) => life.interrupted(),
            Wake::Interrupted(false) => interrupted = None,
            Wake::Stdout(end) => {
                match end {
                    // stdout's reader went away (`| head`): end quietly.
                    Some(StdoutEnd::Closed) => life.stdout_ended(lifecycle::Stdout::Gone),
                    Some(StdoutEnd::Failed) => life.stdout_ended(lifecycle::Stdout::Failed),
                    Some(StdoutEnd::Drained) | None => {}
                }
                stdout_done = None;
            }
            Wake::Quit => life.quit_due(),
        }
    }
}

enum Wake {
    Changed,
    Interrupted(bool),
    Stdout(Option<StdoutEnd>),
    Quit,
}

/// Where local input comes from and received data goes.
struct LocalEnd {
    /// Yields once the stdout thread has written everything (or stdout closed).
    stdout_done: Option<stdio::Done>,
    output: Option<smol::channel::Sender<bytes::Bytes>>,
    input: LocalInput,
    source: Option<input::Source>,
    /// Local input is a shared `-e` child fed by local output.
    is_child: bool,
    /// How many chunks the stdout thread has written.
    #[cfg_attr(not(all(target_os = "linux", feature = "splice")), allow(dead_code))]
    stdout_written: Option<std::sync::Arc<crate::sync64::AtomicU64>>,
}

fn local_endpoint(cfg: &Config) -> LocalEnd {
    #[cfg(feature = "exec")]
    if let Some(e) = &cfg.exec {
        if e.each {
            // Each connection has its own child; nothing is local.
            return LocalEnd {
                stdout_done: None,
                output: None,
                input: LocalInput::Silent,
                source: None,
                is_child: false,
                stdout_written: None,
            };
        }
        let (tx, rx) = smol::channel::bounded(4);
        return LocalEnd {
            stdout_done: None,
            output: Some(tx),
            input: LocalInput::Live,
            source: Some(input::Source::Exec {
                cmd: e.cmd.clone(),
                feed: rx,
            }),
            is_child: true,
            stdout_written: None,
        };
    }
    // QoS probes are not payload: they never go to stdout.
    let qos = matches!(cfg.input, InputMode::PfQosCli | InputMode::PfQosSrv);
    let stdout = (cfg.output == OutputMode::Stdout && !qos)
        .then(|| stdio::spawn_stdout(!cfg.udp || !stdio::stdout_keeps_boundaries()));
    let (output, stdout_done, stdout_written) = match stdout {
        Some(s) => (Some(s.tx), Some(s.done), Some(s.written)),
        None => (None, None, None),
    };
    let (input, source) = match cfg.input {
        InputMode::Stdin | InputMode::StdinNochar => (LocalInput::Live, Some(stdin_source(cfg))),
        #[cfg(feature = "gen")]
        InputMode::Rand => (
            LocalInput::Live,
            Some(input::Source::Gen(crate::local::generate::Generator::rand(
                cfg.gen,
            ))),
        ),
        #[cfg(feature = "gen")]
        InputMode::Fixed => (
            LocalInput::Live,
            Some(input::Source::Gen(
                crate::local::generate::Generator::fixed(cfg.send_size, cfg.gen.vals),
            )),
        ),
        // Endless pings from their own task.
        InputMode::PfQosCli => (LocalInput::Live, None),
        _ => (LocalInput::Silent, None),
    };
    LocalEnd {
        stdout_done,
        output,
        input,
        source,
        is_child: false,
        stdout_written,
    }
}

/// stdin as local input: spliced while it is a pipe feeding one socket
/// (Linux), else read by its thread.
fn stdin_source(cfg: &Config) -> input::Source {
    let char_mode = cfg.input == InputMode::Stdin;
    #[cfg(all(target_os = "linux", feature = "splice"))]
    if let Some(pipe) = splice::PipeInput::new(cfg) {
        return input::Source::Pipe {
            input: pipe,
            block: cfg.send_size,
            char_mode,
        };
    }
    input::Source::Channel(stdio::spawn_stdin(cfg.send_size, char_mode))
}
