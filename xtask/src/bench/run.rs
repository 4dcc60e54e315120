//! The start-wait-measure steps the workloads share: a program started and waited for until it
//! is ready (netcrab's "Listening on" line, or a peer's port bound), a one-way TCP transfer
//! through one tool timed from the sender's start to the listener's exit, an iperf3 server.
//! It uses `procs.rs` and the workloads use it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::procs::{dev_null, free_port, Proc};
use super::report::Tools;
use crate::util::{err, Result};

/// How long a listener may take to come up.
pub const READY: Duration = Duration::from_secs(10);

/// A whole transfer's time limit (generous: 2 GiB through ncat's small buffers).
pub const TRANSFER: Duration = Duration::from_secs(120);

/// How a started program shows it is ready.
#[derive(Clone, Copy)]
pub enum Up {
    /// netcrab's "Listening on" line on stderr.
    Line,
    /// This TCP port of 127.0.0.1 in LISTEN state (no probing connection: a one-shot
    /// listener keeps its only client).
    Tcp(u16),
    /// This UDP port of 127.0.0.1 bound.
    Udp(u16),
}

/// Spawns `cmd` as `name` and waits (at most `READY`) until it is `up`.
pub fn start(name: &str, cmd: &mut Command, up: Up) -> Result<Proc> {
    let mut p = Proc::spawn(name, cmd)?;
    match up {
        Up::Line => {
            p.wait_listening(READY)?;
        }
        Up::Tcp(port) => p.wait_port(false, port, READY)?,
        Up::Udp(port) => p.wait_port(true, port, READY)?,
    }
    Ok(p)
}

/// How `tool` shows it listens on `port`: netcrab says so, a peer is seen bound.
pub fn up(tool: &str, udp: bool, port: u16) -> Up {
    match (tool, udp) {
        ("netcrab", _) => Up::Line,
        (_, false) => Up::Tcp(port),
        (_, true) => Up::Udp(port),
    }
}

/// The listening and the sending command of a one-way TCP pipe through `tool` (netcrab, nc,
/// ncat, socat) on 127.0.0.1:`port`: the listener writes what arrives to its stdout, the sender
/// sends its stdin and ends the connection at the end of it.
fn pipe_commands(t: &Tools, tool: &str, port: u16) -> Result<(Command, Command)> {
    let p = port.to_string();
    let addr = format!("127.0.0.1:{port}");
    let prog = |o: &Option<String>| o.clone().unwrap_or_default();
    Ok(match tool {
        "netcrab" => {
            let mut l = Command::new(&t.netcrab);
            l.args(["-l", &addr]);
            let mut c = Command::new(&t.netcrab);
            c.arg(&addr);
            (l, c)
        }
        "nc" => {
            let mut l = Command::new(prog(&t.nc));
            l.args(["-l", "127.0.0.1", &p]);
            let mut c = Command::new(prog(&t.nc));
            c.args(["-N", "127.0.0.1", &p]);
            (l, c)
        }
        "ncat" => {
            let mut l = Command::new(prog(&t.ncat));
            l.args(["-l", "127.0.0.1", &p]);
            let mut c = Command::new(prog(&t.ncat));
            c.args(["--send-only", "127.0.0.1", &p]);
            (l, c)
        }
        "socat" => {
            let mut l = Command::new(prog(&t.socat));
            l.args([
                "-u",
                &format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr"),
                "STDOUT",
            ]);
            let mut c = Command::new(prog(&t.socat));
            c.args(["-u", "STDIN", &format!("TCP:{addr}")]);
            (l, c)
        }
        other => return Err(err(format!("unknown tool {other}"))),
    })
}

/// The standard streams of a transfer's two ends.
pub struct Ends {
    pub listener_stdin: Stdio,
    pub listener_stdout: Stdio,
    pub sender_stdout: Stdio,
}

/// What a transfer measured.
pub struct Timed {
    /// From the sender's start to the listener's exit.
    pub secs: f64,
    /// The higher peak RSS of the two ends.
    pub rss_kib: u64,
}

/// One transfer through `tool`: starts the listener and waits until it listens, then starts
/// the clock and the sender on the stdin `feed` gives (a feeding process it returns must
/// succeed too), and stops the clock when the listener has exited.
pub fn transfer(
    t: &Tools,
    tool: &str,
    ends: Ends,
    feed: impl FnOnce() -> Result<(Stdio, Option<Proc>)>,
) -> Result<Timed> {
    let port = free_port(false)?;
    let (mut listen, mut connect) = pipe_commands(t, tool, port)?;
    let mut rx = start(
        &format!("{tool} (listener)"),
        listen
            .stdin(ends.listener_stdin)
            .stdout(ends.listener_stdout),
        up(tool, false, port),
    )?;
    let start = Instant::now();
    let (input, mut feeder) = feed()?;
    let mut tx = Proc::spawn(
        &format!("{tool} (sender)"),
        connect.stdin(input).stdout(ends.sender_stdout),
    )?;
    rx.wait_success(TRANSFER)?;
    let secs = start.elapsed().as_secs_f64();
    tx.wait_success(Duration::from_secs(10))?;
    if let Some(f) = feeder.as_mut() {
        f.wait_success(Duration::from_secs(10))?;
    }
    Ok(Timed {
        secs,
        rss_kib: rx.peak_kib().max(tx.peak_kib()),
    })
}

/// A one-shot `iperf3 -s` on a free loopback port, ready; returns it and the port.
pub fn iperf_server(iperf: &str) -> Result<(Proc, u16)> {
    let port = free_port(false)?;
    let server = start(
        "iperf3 -s",
        Command::new(iperf)
            .args(["-s", "-1", "-B", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(dev_null()?),
        Up::Tcp(port),
    )?;
    Ok((server, port))
}
