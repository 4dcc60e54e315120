//! Workload: 1,000 short request/response exchanges, 50 at a time, through netcrab's tunnel
//! mode (`--tunnel-relay` + `--tunnel-inside`), through plain channels with `-r` (the 0.11
//! reverse-tunnel recipe) and directly. Each exchange connects, sends 32 bytes, reads the 32
//! bytes echoed back and closes; requests per second over the whole run, p50/p99 latency of
//! one exchange (connect to reply).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::procs::{free_port, Proc};
use super::{Report, Role, Row, Settings, Tools};
use crate::util::{err, Result};

const REQUEST: usize = 32;
const AT_ONCE: usize = 50;
/// The bound on one exchange; a slower one counts as failed.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);
const READY: Duration = Duration::from_secs(10);

/// An echo service on loopback: per connection, echo what arrives until the end.
struct Service {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Service {
    fn start() -> Result<Service> {
        let l = TcpListener::bind("127.0.0.1:0").map_err(|e| err(format!("echo service: {e}")))?;
        let port = l.local_addr().map_err(|e| err(e.to_string()))?.port();
        l.set_nonblocking(true).map_err(|e| err(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => {
                        thread::spawn(move || echo(c));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        Ok(Service {
            port,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn echo(mut c: TcpStream) {
    let _ = c.set_nonblocking(false);
    let _ = c.set_read_timeout(Some(EXCHANGE_LIMIT));
    let mut buf = [0u8; 4096];
    while let Ok(n) = c.read(&mut buf) {
        if n == 0 || c.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

/// One exchange: its latency, or why it failed.
fn exchange(to: SocketAddr, n: usize) -> std::result::Result<Duration, String> {
    let t = Instant::now();
    let mut s = TcpStream::connect_timeout(&to, EXCHANGE_LIMIT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(EXCHANGE_LIMIT))
        .map_err(|e| e.to_string())?;
    let request: Vec<u8> = (0..REQUEST).map(|i| (n + i) as u8).collect();
    s.write_all(&request).map_err(|e| e.to_string())?;
    let mut reply = [0u8; REQUEST];
    s.read_exact(&mut reply).map_err(|e| e.to_string())?;
    let took = t.elapsed();
    if reply[..] != request[..] {
        return Err("wrong reply".into());
    }
    let _ = s.shutdown(Shutdown::Write);
    Ok(took)
}

/// `total` exchanges by `AT_ONCE` threads: (requests/s, sorted latencies, failures).
fn run_exchanges(to: SocketAddr, total: usize) -> (f64, Vec<Duration>, Vec<String>) {
    let results = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let start = Instant::now();
    let workers: Vec<_> = (0..AT_ONCE)
        .map(|w| {
            let results = results.clone();
            thread::spawn(move || {
                let mut n = w;
                while n < total {
                    let r = exchange(to, n);
                    if let Ok(mut g) = results.lock() {
                        match r {
                            Ok(d) => g.0.push(d),
                            Err(e) => g.1.push(e),
                        }
                    }
                    n += AT_ONCE;
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let secs = start.elapsed().as_secs_f64();
    let (mut lat, failed) = results.lock().map(|g| g.clone()).unwrap_or_default();
    lat.sort();
    let rate = lat.len() as f64 / secs.max(1e-9);
    (rate, lat, failed)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// The netcrab processes of one configuration and the address clients use.
type Setup = (Vec<Proc>, SocketAddr);

fn tunnel(t: &Tools, svc: u16) -> Result<Setup> {
    let (ctrl, public) = (free_port(false)?, free_port(false)?);
    let mut relay = Proc::spawn(
        "netcrab tunnel relay",
        Command::new(&t.netcrab)
            .args(["--tunnel-relay", &format!("127.0.0.1:{ctrl}")])
            .args(["--tunnel-public", &format!("127.0.0.1:{public}")])
            .args(["--secret", "bench"])
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )?;
    relay.wait_port(false, public, READY)?;
    let inside = Proc::spawn(
        "netcrab tunnel inside",
        Command::new(&t.netcrab)
            .args(["--tunnel-inside", &format!("127.0.0.1:{ctrl}")])
            .arg(format!("127.0.0.1:{svc}"))
            .args(["--secret", "bench"])
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )?;
    // Logged in once the relay shows an established control connection: give it a moment.
    thread::sleep(Duration::from_millis(300));
    Ok((
        vec![relay, inside],
        SocketAddr::from(([127, 0, 0, 1], public)),
    ))
}

fn channels(t: &Tools, svc: u16) -> Result<Setup> {
    let (a, b) = (free_port(false)?, free_port(false)?);
    // -m 0: with the default limit of 10, waiting clients could fill every slot and keep the
    // inside end's connection out.
    let mut relay = Proc::spawn(
        "netcrab channels relay",
        Command::new(&t.netcrab)
            .args(["--fm", "channels", "-o", "none", "-i", "none", "-m", "0"])
            .args([
                "-L",
                &format!("127.0.0.1:{a}"),
                "-L",
                &format!("127.0.0.1:{b}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )?;
    relay.wait_port(false, b, READY)?;
    let inside = Proc::spawn(
        "netcrab channels inside",
        Command::new(&t.netcrab)
            .args(["--fm", "channels", "-o", "none", "-i", "none", "-r"])
            .arg(format!("127.0.0.1:{a}"))
            .arg(format!("127.0.0.1:{svc}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )?;
    thread::sleep(Duration::from_millis(300));
    Ok((vec![relay, inside], SocketAddr::from(([127, 0, 0, 1], b))))
}

/// The best of `reps` runs of one configuration, as a row.
fn measure_one(
    workload: &str,
    name: &str,
    role: Role,
    reps: usize,
    total: usize,
    setup: &dyn Fn(u16) -> Result<Option<Setup>>,
) -> Row {
    let mut best: Option<(f64, f64, f64, u64)> = None;
    let mut error = None;
    for rep in 0..reps {
        eprintln!("bench: {workload}: {name} (run {}/{reps})", rep + 1);
        let run = || -> Result<(f64, f64, f64, u64)> {
            let svc = Service::start()?;
            let ready = setup(svc.port)?;
            let to = match &ready {
                Some((_, a)) => *a,
                None => SocketAddr::from(([127, 0, 0, 1], svc.port)),
            };
            let (rate, lat, failed) = run_exchanges(to, total);
            let mut rss = 0;
            if let Some((procs, _)) = &ready {
                for p in procs {
                    rss += p.peak_kib();
                }
            }
            if let Some(first) = failed.first() {
                return Err(err(format!(
                    "{} of {total} exchanges failed (first: {first})",
                    failed.len()
                )));
            }
            Ok((rate, percentile(&lat, 0.5), percentile(&lat, 0.99), rss))
        };
        match run() {
            Ok(r) if best.is_none_or(|b| r.0 > b.0) => best = Some(r),
            Ok(_) => {}
            Err(e) => {
                eprintln!("bench: {workload}: {name}: {e}");
                error = Some(e.to_string());
                break;
            }
        }
    }
    let (value, note, rss) = match (best, &error) {
        (Some((rate, p50, p99, rss)), None) => (
            Some(rate),
            format!("p50 {p50:.2} ms, p99 {p99:.2} ms"),
            Some(rss).filter(|&k| k > 0),
        ),
        _ => (
            None,
            format!("FAILED: {}", error.clone().unwrap_or_default()),
            None,
        ),
    };
    Row {
        workload: workload.to_string(),
        tool: name.to_string(),
        role,
        value,
        unit: "req/s",
        rss_kib: rss,
        ratio: None,
        failed: error.is_some(),
        note,
    }
}

/// The workload: three rows.
pub fn exchanges(s: &Settings, t: &Tools, report: &mut Report) {
    let total = 1000;
    let reps = s.pick(1, 3);
    let workload = format!("{total} request/response exchanges, {AT_ONCE} at a time");
    let direct = |_svc: u16| -> Result<Option<Setup>> { Ok(None) };
    let tun = |svc: u16| -> Result<Option<Setup>> { tunnel(t, svc).map(Some) };
    let chan = |svc: u16| -> Result<Option<Setup>> { channels(t, svc).map(Some) };
    let rows = [
        (
            "direct (no relay)",
            Role::Reference,
            &direct as &dyn Fn(u16) -> Result<Option<Setup>>,
        ),
        ("netcrab tunnel mode (with --secret)", Role::Netcrab, &tun),
        ("netcrab --fm channels, inside -r", Role::Reference, &chan),
    ];
    for (name, role, setup) in rows {
        let row = measure_one(&workload, name, role, reps, total, setup);
        report.rows.push(row);
    }
}
