//! Many-connection workloads (hub fan-out, idle connections) and start-up time. The clients
//! are std sockets in this process; netcrab's "Accepted connection" lines tell when it has them.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::procs::{free_port, Proc};
use super::report::{alone, annotate, measure, nofile_soft, Report, Sample, Settings, Tools};
use super::run::{start, Up};
use crate::util::{err, Context, Result};

/// Threads that poll the hub's receiving clients.
const POLLERS: usize = 4;

/// Starts `netcrab -L 127.0.0.1:P -m 0 -i none -o none EXTRA...` and waits until it listens.
fn listener(t: &Tools, extra: &[&str]) -> Result<(Proc, SocketAddr)> {
    let port = free_port(false)?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let p = start(
        "netcrab -L",
        Command::new(&t.netcrab)
            .args([
                "-L",
                &addr.to_string(),
                "-m",
                "0",
                "-i",
                "none",
                "-o",
                "none",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
        Up::Line,
    )?;
    Ok((p, addr))
}

/// Opens `n` connections one after another (bounded per connect).
fn connect_all(addr: SocketAddr, n: usize) -> Result<Vec<TcpStream>> {
    (0..n)
        .map(|i| {
            TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .context(|| format!("client {} of {n}: connecting to {addr}", i + 1))
        })
        .collect()
}

/// Waits until netcrab has reported `n` accepted connections.
fn wait_accepted(p: &mut Proc, n: usize, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    while p.accepted() < n {
        p.check_alive()?;
        if Instant::now() >= deadline {
            return Err(err(format!(
                "only {} of {n} connections accepted",
                p.accepted()
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// The number of connections the descriptor limit allows us (ours and netcrab's).
fn fit_to_nofile(n: usize) -> usize {
    nofile_soft().map_or(n, |lim| n.min((lim as usize).saturating_sub(64)))
}

/// Workload 4: a hub with N clients; one sends 1 MiB, all others must receive it.
pub fn hub(s: &Settings, t: &Tools, report: &mut Report) {
    let n = fit_to_nofile(s.pick(200, 1000));
    let workload = format!("hub fan-out 1 MiB to {} clients", n - 1);
    let run = move || -> Result<Sample> {
        let (mut p, addr) = listener(t, &["--fm", "hub"])?;
        let mut clients = connect_all(addr, n)?;
        wait_accepted(&mut p, n, Duration::from_secs(30))?;
        let mut sender = clients.remove(0);
        for c in &clients {
            c.set_nonblocking(true)
                .context(|| "nonblocking client".to_string())?;
        }
        let mut groups: Vec<Vec<TcpStream>> = (0..POLLERS).map(|_| Vec::new()).collect();
        for (i, c) in clients.into_iter().enumerate() {
            groups[i % POLLERS].push(c);
        }
        const SIZE: usize = 1 << 20;
        let start = Instant::now();
        let deadline = start + Duration::from_secs(60);
        let pollers: Vec<_> = groups
            .into_iter()
            .map(|g| std::thread::spawn(move || receive_all(g, SIZE, deadline)))
            .collect();
        sender
            .write_all(&vec![7u8; SIZE])
            .context(|| "hub sender".to_string())?;
        let mut failure = None;
        for poller in pollers {
            match poller.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failure = Some(e),
                Err(_) => failure = Some(err("a receiving thread panicked")),
            }
        }
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        if let Some(e) = failure {
            return Err(e);
        }
        p.check_alive()?;
        Ok(Sample::new(ms, p.peak_kib()))
    };
    measure(
        report,
        &workload,
        "ms",
        s.pick(2, 3),
        true,
        alone("netcrab --fm hub", run),
    );
    let rss = report.rss_mib(&workload, "netcrab --fm hub");
    // The goal is 64 MiB for 1,000 clients; smaller runs get a proportional budget.
    let budget = 64.0 * (n as f64 / 1000.0).min(1.0);
    let goal = format!("hub with {n} clients: peak RSS <= {budget:.1} MiB (64 MiB per 1,000)");
    report.goal_max(&goal, rss, budget, "MiB");
}

/// Reads nonblocking sockets round-robin until each has delivered `size` bytes.
fn receive_all(clients: Vec<TcpStream>, size: usize, deadline: Instant) -> Result<()> {
    let mut got = vec![0usize; clients.len()];
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = clients.len();
    while left > 0 {
        let mut progress = false;
        for (c, g) in clients.iter().zip(got.iter_mut()) {
            if *g >= size {
                continue;
            }
            let mut c = c;
            match c.read(&mut buf) {
                Ok(0) => return Err(err(format!("a client was closed after {g} bytes"))),
                Ok(n) => {
                    *g += n;
                    progress = true;
                    if *g >= size {
                        left -= 1;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(err(format!("client read: {e}"))),
            }
        }
        if Instant::now() >= deadline {
            return Err(err(format!("{left} clients still waiting for data")));
        }
        if !progress {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    Ok(())
}

/// Workload 5: N idle inbound connections; time to accept them all and peak RSS.
pub fn idle(s: &Settings, t: &Tools, report: &mut Report) {
    let wanted = s.pick(2000, 10_000);
    let n = fit_to_nofile(wanted);
    let workload = format!("idle: {n} inbound connections");
    let run = move || -> Result<Sample> {
        let (mut p, addr) = listener(t, &[])?;
        let start = Instant::now();
        let clients = connect_all(addr, n)?;
        wait_accepted(&mut p, n, Duration::from_secs(60))?;
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        // Let the last accepts settle before the final RSS samples.
        std::thread::sleep(Duration::from_millis(300));
        p.check_alive()?;
        drop(clients);
        Ok(Sample::new(ms, p.peak_kib()))
    };
    measure(
        report,
        &workload,
        "ms to accept all",
        s.pick(1, 2),
        true,
        alone("netcrab -L -m 0", run),
    );
    if n < wanted {
        let note = format!("RLIMIT_NOFILE allowed only {n} of {wanted}");
        annotate(report, &workload, "netcrab -L -m 0", note);
    }
    let rss = report.rss_mib(&workload, "netcrab -L -m 0");
    // The goal is 128 MiB for 10,000; smaller runs get a proportional budget.
    let budget = 128.0 * (n as f64 / 10_000.0).min(1.0);
    let goal = format!("{n} idle connections: peak RSS <= {budget:.1} MiB (128 MiB per 10,000)");
    report.goal_max(&goal, rss, budget, "MiB");
}

/// Workload 7: exec to the "Listening on" line of `netcrab -l 127.0.0.1:0`, median of N.
pub fn startup(s: &Settings, t: &Tools, report: &mut Report) {
    let n = s.pick(30, 100);
    let workload = format!("start-up to listening (median of {n})");
    let run = move || -> Result<Sample> {
        let mut times = Vec::with_capacity(n);
        let mut rss = 0;
        for _ in 0..n {
            let t0 = Instant::now();
            let p = start(
                "netcrab -l",
                Command::new(&t.netcrab)
                    .args(["-l", "127.0.0.1:0"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null()),
                Up::Line,
            )?;
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
            rss = rss.max(p.peak_kib());
        }
        times.sort_by(f64::total_cmp);
        Ok(Sample::new(times[n / 2], rss))
    };
    measure(report, &workload, "ms", 1, true, alone("netcrab", run));
    let median = report.value(&workload, "netcrab");
    report.goal_max("start-up: median <= 2 ms", median, 2.0, "ms");
}
