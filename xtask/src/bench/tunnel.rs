//! Tunnel workloads, netcrab's tunnel mode (`--tunnel-relay` + `--tunnel-inside`) side by side
//! with bore and rathole (installed into the bench's cache when missing, see `install.rs`):
//!
//! - 1,000 short request/response exchanges, 50 at a time (also through plain channels with
//!   `-r`, the 0.11 reverse-tunnel recipe, and directly). Each exchange connects, sends 32
//!   bytes, reads the 32 bytes echoed back and closes; requests per second over the whole run,
//!   p50/p99 latency of one exchange (connect to reply), peak RSS of both ends.
//! - One iperf3 stream through each tunnel (MiB/s, peak RSS of both ends).
//! - UDP: 50 clients x 1,000 queries through netcrab's UDP service and rathole's.
//!
//! Goals printed beside the figures: >= 1.5x both peers in throughput, >= 1.2x in req/s, RSS
//! no higher, UDP >= 1.2x rathole.
//!
//! The exchanges and the stream run with `--tunnel-mux` too (every stream on one link), and
//! `mux.rs` times 99 streams beside a stopped reader. Goals: short exchanges >= 0.8x direct,
//! one stream >= 0.8x the per-connection mode, the 99 within 1.2x their time alone.

mod install;
mod mux;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::procs::{free_port, Proc};
use super::report::{measure, Entrant, Report, Role, Row, Sample, Settings, Tools};
use super::run::{start, Up, READY};
use super::udp::{ask_all, echo_service};
use crate::util::{err, Result};
use install::Peers;
use std::cell::RefCell;
use std::net::UdpSocket;
use std::path::Path;

const REQUEST: usize = 32;
const AT_ONCE: usize = 50;
/// The bound on one exchange; a slower one counts as failed.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);

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

/// The processes of a tunnel and its public addresses (TCP, UDP).
type Tunnel = (Vec<Proc>, Option<SocketAddr>, Option<SocketAddr>);

/// A tunnel with a TCP service only, as a `Setup`.
fn tcp_setup((procs, tcp, _): Tunnel) -> Setup {
    (
        procs,
        tcp.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
    )
}

fn tunnel(t: &Tools, svc: u16, mux: bool) -> Result<Setup> {
    netcrab_tunnel_with(&t.netcrab, Some(svc), None, true, mux).map(tcp_setup)
}

/// netcrab's relay and inside end, with a TCP service, a UDP service or both; returns the
/// processes and the public addresses (TCP, UDP). Ready when a first exchange passes.
fn netcrab_tunnel(
    netcrab: &Path,
    tcp_svc: Option<u16>,
    udp_svc: Option<u16>,
    probe: bool,
) -> Result<Tunnel> {
    netcrab_tunnel_with(netcrab, tcp_svc, udp_svc, probe, false)
}

/// The same, the inside end with `--tunnel-mux` when `mux`.
fn netcrab_tunnel_with(
    netcrab: &Path,
    tcp_svc: Option<u16>,
    udp_svc: Option<u16>,
    probe: bool,
    mux: bool,
) -> Result<Tunnel> {
    let ctrl = free_port(false)?;
    let mut relay_cmd = Command::new(netcrab);
    relay_cmd.args(["--tunnel-relay", &format!("127.0.0.1:{ctrl}")]);
    let mut inside_cmd = Command::new(netcrab);
    inside_cmd.args(["--tunnel-inside", &format!("127.0.0.1:{ctrl}")]);
    if mux {
        inside_cmd.arg("--tunnel-mux");
    }
    let mut tcp_pub = None;
    let mut udp_pub = None;
    if let Some(svc) = tcp_svc {
        let p = free_port(false)?;
        relay_cmd.args(["--tunnel-public", &format!("127.0.0.1:{p}")]);
        inside_cmd.arg(format!("127.0.0.1:{svc}"));
        tcp_pub = Some(SocketAddr::from(([127, 0, 0, 1], p)));
    }
    if let Some(svc) = udp_svc {
        let p = free_port(true)?;
        relay_cmd.args(["--tunnel-public", &format!("udp:127.0.0.1:{p}")]);
        inside_cmd.arg(format!("udp:127.0.0.1:{svc}"));
        udp_pub = Some(SocketAddr::from(([127, 0, 0, 1], p)));
    }
    let relay = start(
        "netcrab tunnel relay",
        relay_cmd
            .args(["--secret", "bench"])
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
        Up::Tcp(ctrl),
    )?;
    let inside = Proc::spawn(
        "netcrab tunnel inside",
        inside_cmd
            .args(["--secret", "bench"])
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )?;
    let procs = vec![relay, inside];
    ready(tcp_pub, udp_pub, probe)?;
    Ok((procs, tcp_pub, udp_pub))
}

fn ready(tcp: Option<SocketAddr>, udp: Option<SocketAddr>, probe: bool) -> Result<()> {
    let deadline = Instant::now() + READY;
    if let (Some(a), false) = (tcp, probe) {
        while !super::procs::port_bound(false, a.port()) {
            if Instant::now() > deadline {
                return Err(err(format!("{a} not bound within {READY:?}")));
            }
            thread::sleep(Duration::from_millis(20));
        }
        thread::sleep(Duration::from_millis(300));
    } else if let Some(a) = tcp {
        while exchange(a, 0).is_err() {
            if Instant::now() > deadline {
                return Err(err(format!("no exchange through {a} within {READY:?}")));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    if let Some(a) = udp {
        let s = UdpSocket::bind("127.0.0.1:0").map_err(|e| err(e.to_string()))?;
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| err(e.to_string()))?;
        let mut buf = [0u8; 64];
        loop {
            let _ = s.send_to(b"ready?", a);
            if matches!(s.recv(&mut buf), Ok(6)) {
                break;
            }
            if Instant::now() > deadline {
                return Err(err(format!("no UDP answer through {a} within {READY:?}")));
            }
        }
    }
    Ok(())
}

/// bore: `bore server` (its control port is fixed, 7835) and `bore local SVC --port P`.
fn bore_tunnel(bore: &Path, svc: u16, probe: bool) -> Result<Setup> {
    let p = free_port(false)?;
    let ps = p.to_string();
    let server = start(
        "bore server",
        Command::new(bore)
            .args(["server", "--min-port", &ps, "--max-port", &ps])
            .args(["--bind-addr", "127.0.0.1"])
            .args(["--secret", "bench"])
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
        Up::Tcp(7835),
    )?;
    let local = Proc::spawn(
        "bore local",
        Command::new(bore)
            .args([
                "local",
                &svc.to_string(),
                "--to",
                "127.0.0.1",
                "--port",
                &ps,
                "--local-host",
                "127.0.0.1",
            ])
            .args(["--secret", "bench"])
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )?;
    let public = SocketAddr::from(([127, 0, 0, 1], p));
    let procs = vec![server, local];
    ready(Some(public), None, probe)?;
    Ok((procs, public))
}

/// rathole: a server and a client, each from a TOML file in the bench's cache, with a TCP
/// service, a UDP service or both.
fn rathole_tunnel(
    rathole: &Path,
    tcp_svc: Option<u16>,
    udp_svc: Option<u16>,
    probe: bool,
) -> Result<Tunnel> {
    let ctrl = free_port(false)?;
    let mut server = format!("[server]\nbind_addr = \"127.0.0.1:{ctrl}\"\n");
    let mut client = format!("[client]\nremote_addr = \"127.0.0.1:{ctrl}\"\n");
    let mut tcp_pub = None;
    let mut udp_pub = None;
    if let Some(svc) = tcp_svc {
        let p = free_port(false)?;
        server.push_str(&format!(
            "[server.services.echo]\ntoken = \"bench\"\nbind_addr = \"127.0.0.1:{p}\"\n"
        ));
        client.push_str(&format!(
            "[client.services.echo]\ntoken = \"bench\"\nlocal_addr = \"127.0.0.1:{svc}\"\n"
        ));
        tcp_pub = Some(SocketAddr::from(([127, 0, 0, 1], p)));
    }
    if let Some(svc) = udp_svc {
        let p = free_port(true)?;
        server.push_str(&format!(
            "[server.services.udpecho]\ntype = \"udp\"\ntoken = \"bench\"\nbind_addr = \"127.0.0.1:{p}\"\n"
        ));
        client.push_str(&format!(
            "[client.services.udpecho]\ntype = \"udp\"\ntoken = \"bench\"\nlocal_addr = \"127.0.0.1:{svc}\"\n"
        ));
        udp_pub = Some(SocketAddr::from(([127, 0, 0, 1], p)));
    }
    let dir = install::cache();
    std::fs::create_dir_all(&dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
    let (sf, cf) = (
        dir.join(format!("rathole-server-{ctrl}.toml")),
        dir.join(format!("rathole-client-{ctrl}.toml")),
    );
    for (f, text) in [(&sf, &server), (&cf, &client)] {
        std::fs::write(f, text).map_err(|e| err(format!("{}: {e}", f.display())))?;
    }
    let s = start(
        "rathole server",
        Command::new(rathole)
            .arg("--server")
            .arg(&sf)
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
        Up::Tcp(ctrl),
    )?;
    let c = Proc::spawn(
        "rathole client",
        Command::new(rathole)
            .arg("--client")
            .arg(&cf)
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )?;
    let procs = vec![s, c];
    let r = ready(tcp_pub, udp_pub, probe);
    let _ = std::fs::remove_file(&sf);
    let _ = std::fs::remove_file(&cf);
    r?;
    Ok((procs, tcp_pub, udp_pub))
}

fn channels(t: &Tools, svc: u16) -> Result<Setup> {
    let (a, b) = (free_port(false)?, free_port(false)?);
    // -m 0: with the default limit of 10, waiting clients could fill every slot and keep the
    // inside end's connection out.
    let relay = start(
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
        Up::Tcp(b),
    )?;
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

/// The tunnel workloads: short exchanges, an iperf3 stream, UDP queries.
pub fn exchanges(s: &Settings, t: &Tools, report: &mut Report) {
    let peers = install::peers(!s.quick);
    short_exchanges(s, t, &peers, report);
    stream(s, t, &peers, report);
    udp_queries(s, t, &peers, report);
    mux::stalled_reader(s, t, report);
}

const NETCRAB_ROW: &str = "netcrab tunnel mode (with --secret)";
const MUX_ROW: &str = "netcrab tunnel mode --tunnel-mux (with --secret)";
const DIRECT_ROW: &str = "direct (no relay)";
const BORE_ROW: &str = "bore (--secret)";
const RATHOLE_ROW: &str = "rathole";

fn short_exchanges(s: &Settings, t: &Tools, peers: &Peers, report: &mut Report) {
    let total = 1000;
    let reps = s.pick(1, 3);
    let workload = format!("{total} request/response exchanges, {AT_ONCE} at a time");
    let direct = |_svc: u16| -> Result<Option<Setup>> { Ok(None) };
    let tun = |svc: u16| -> Result<Option<Setup>> { tunnel(t, svc, false).map(Some) };
    let tun_mux = |svc: u16| -> Result<Option<Setup>> { tunnel(t, svc, true).map(Some) };
    let chan = |svc: u16| -> Result<Option<Setup>> { channels(t, svc).map(Some) };
    let bore = |svc: u16| -> Result<Option<Setup>> {
        let b = peers.bore.as_deref().ok_or_else(|| err("no bore"))?;
        bore_tunnel(b, svc, true).map(Some)
    };
    let rat = |svc: u16| -> Result<Option<Setup>> {
        let r = peers.rathole.as_deref().ok_or_else(|| err("no rathole"))?;
        rathole_tunnel(r, Some(svc), None, true).map(|r| Some(tcp_setup(r)))
    };
    type SetupFn<'a> = &'a dyn Fn(u16) -> Result<Option<Setup>>;
    let mut rows: Vec<(&str, Role, SetupFn)> = vec![
        (DIRECT_ROW, Role::Reference, &direct),
        (NETCRAB_ROW, Role::Netcrab, &tun),
        (MUX_ROW, Role::Netcrab, &tun_mux),
        ("netcrab --fm channels, inside -r", Role::Reference, &chan),
    ];
    if peers.bore.is_some() {
        rows.push((BORE_ROW, Role::Peer, &bore));
    }
    if peers.rathole.is_some() {
        rows.push((RATHOLE_ROW, Role::Peer, &rat));
    }
    for (name, role, setup) in rows {
        let row = measure_one(&workload, name, role, reps, total, setup);
        report.rows.push(row);
    }
    report.goal_ratio(
        "tunnel exchanges: --tunnel-mux >= 0.8x direct (req/s)",
        report.value(&workload, MUX_ROW),
        report.value(&workload, DIRECT_ROW),
        0.8,
    );
    let nk = report.value(&workload, NETCRAB_ROW);
    for peer in [BORE_ROW, RATHOLE_ROW] {
        let p = report.value(&workload, peer);
        if p.is_some() {
            report.goal_ratio(
                &format!("tunnel exchanges: netcrab >= 1.2x {peer} (req/s)"),
                nk,
                p,
                1.2,
            );
            let (a, b) = (
                report.rss_mib(&workload, NETCRAB_ROW),
                report.rss_mib(&workload, peer),
            );
            report.goal_ratio(
                &format!("tunnel exchanges: {peer} RSS / netcrab RSS >= 1 (netcrab no higher)"),
                b,
                a,
                1.0,
            );
        }
    }
}

/// One iperf3 stream through each tunnel.
fn stream(s: &Settings, t: &Tools, peers: &Peers, report: &mut Report) {
    let Some(iperf) = t.iperf3.as_deref() else {
        eprintln!("bench: tunnel stream: iperf3 missing, skipped");
        return;
    };
    let bytes: u64 = s.pick(1 << 30, 4 << 30);
    let reps = s.pick(1, 3);
    let workload = format!("tunnel iperf3 stream {} MiB", bytes >> 20);
    // The processes beyond the first stay here until the run ends.
    let extra: RefCell<Vec<Proc>> = RefCell::new(Vec::new());
    let run_with = |start: &dyn Fn(u16) -> Result<(Vec<Proc>, SocketAddr)>| -> Result<Sample> {
        let via = |sport: u16| -> Result<(Proc, u16)> {
            let (mut procs, public) = start(sport)?;
            let first = procs.remove(0);
            extra.borrow_mut().extend(procs);
            Ok((first, public.port()))
        };
        let r = super::tcp::iperf_run(iperf, Some(&via), bytes);
        let more: u64 = extra.borrow().iter().map(|p| p.peak_kib()).sum();
        extra.borrow_mut().clear();
        r.map(|mut sample| {
            sample.rss_kib += more;
            sample.cpu_per_gib = None;
            sample
        })
    };
    let netcrab = |mux: bool| -> Result<Sample> {
        run_with(&|svc| netcrab_tunnel_with(&t.netcrab, Some(svc), None, false, mux).map(tcp_setup))
    };
    let mut entrants: Vec<Entrant> = vec![
        (
            NETCRAB_ROW.into(),
            Role::Netcrab,
            Box::new(move || netcrab(false)),
        ),
        (
            MUX_ROW.into(),
            Role::Netcrab,
            Box::new(move || netcrab(true)),
        ),
    ];
    if let Some(b) = peers.bore.as_deref() {
        entrants.push((
            BORE_ROW.into(),
            Role::Peer,
            Box::new(move || run_with(&|svc| bore_tunnel(b, svc, false))),
        ));
    }
    if let Some(r) = peers.rathole.as_deref() {
        entrants.push((
            RATHOLE_ROW.into(),
            Role::Peer,
            Box::new(move || {
                run_with(&|svc| rathole_tunnel(r, Some(svc), None, false).map(tcp_setup))
            }),
        ));
    }
    measure(report, &workload, "MiB/s", reps, false, entrants);
    let nk = report.value(&workload, NETCRAB_ROW);
    report.goal_ratio(
        "tunnel iperf3: --tunnel-mux >= 0.8x the per-connection mode (MiB/s)",
        report.value(&workload, MUX_ROW),
        nk,
        0.8,
    );
    for peer in [BORE_ROW, RATHOLE_ROW] {
        let p = report.value(&workload, peer);
        if p.is_some() {
            report.goal_ratio(
                &format!("tunnel iperf3: netcrab >= 1.5x {peer} (MiB/s)"),
                nk,
                p,
                1.5,
            );
        }
    }
}

fn udp_queries(s: &Settings, t: &Tools, peers: &Peers, report: &mut Report) {
    let clients = 50;
    let per_client = s.pick(200, 1000);
    let reps = s.pick(1, 3);
    let workload = format!("tunnel UDP queries, {clients} clients x {per_client}");
    let svc = match echo_service() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bench: {workload}: {e}");
            return;
        }
    };
    let one = |procs: Vec<Proc>, to: Option<SocketAddr>| -> Result<Sample> {
        let to = to.ok_or_else(|| err("no UDP public address"))?;
        let (answered, lost, took) = ask_all(to, clients, per_client)?;
        let rate = answered.len() as f64 / took.max(1e-9);
        if lost > clients * per_client / 100 {
            return Err(err(format!(
                "{lost} of {} unanswered",
                clients * per_client
            )));
        }
        Ok(Sample::new(rate, procs.iter().map(|p| p.peak_kib()).sum()))
    };
    let mut entrants: Vec<Entrant> = vec![(
        NETCRAB_ROW.into(),
        Role::Netcrab,
        Box::new(|| {
            let (p, _, u) = netcrab_tunnel(&t.netcrab, None, Some(svc), true)?;
            one(p, u)
        }),
    )];
    if let Some(r) = peers.rathole.as_deref() {
        entrants.push((
            RATHOLE_ROW.into(),
            Role::Peer,
            Box::new(move || {
                let (p, _, u) = rathole_tunnel(r, None, Some(svc), true)?;
                one(p, u)
            }),
        ));
    } else {
        eprintln!("bench: {workload}: rathole missing, netcrab alone");
    }
    measure(report, &workload, "queries/s", reps, false, entrants);
    report.goal_ratio(
        "tunnel UDP: netcrab >= 1.2x rathole (queries/s)",
        report.value(&workload, NETCRAB_ROW),
        report.value(&workload, RATHOLE_ROW),
        1.2,
    );
}
