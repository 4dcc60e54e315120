//! TCP stream workloads: point-to-point pipe, relay in front of iperf3, slow reader, generator.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::procs::{dev_null, free_port, Counter, Proc};
use super::report::{alone, annotate, measure, Entrant, Report, Role, Sample, Settings, Tools};
use super::run::{iperf_server, start, transfer, Ends, Up, READY, TRANSFER};
use crate::util::{err, Context, Result};

/// Bytes in a MiB, for rates.
pub const MIB: f64 = 1024.0 * 1024.0;

/// Workload 1: `head -c SIZE /dev/zero | tool <connect>` into `tool <listen> > /dev/null`.
pub fn p2p(s: &Settings, t: &Tools, report: &mut Report) {
    let bytes: u64 = s.pick(512, 2048) << 20;
    let reps = s.pick(2, 3);
    let workload = format!("P2P pipe {} MiB", bytes >> 20);
    let mut entrants: Vec<Entrant> = vec![(
        "netcrab".into(),
        Role::Netcrab,
        Box::new(move || p2p_run(t, "netcrab", bytes)),
    )];
    for (name, have) in [("nc", &t.nc), ("ncat", &t.ncat), ("socat", &t.socat)] {
        if have.is_some() {
            entrants.push((
                name.into(),
                Role::Peer,
                Box::new(move || p2p_run(t, name, bytes)),
            ));
        }
    }
    if let Some(iperf) = &t.iperf3 {
        entrants.push((
            "iperf3 (ceiling)".into(),
            Role::Reference,
            Box::new(move || iperf_run(iperf, None, bytes)),
        ));
    }
    measure(report, &workload, "MiB/s", reps, false, entrants);
    let (nc, nk, ip) = (
        report.value(&workload, "nc"),
        report.value(&workload, "netcrab"),
        report.value(&workload, "iperf3 (ceiling)"),
    );
    report.goal_ratio("P2P pipe: netcrab >= 1.6x OpenBSD nc", nk, nc, 1.6);
    report.goal_ratio("P2P pipe: netcrab >= 0.6x iperf3", nk, ip, 0.6);
}

/// One P2P transfer with `tool`; the figure is size / wall time (sender start to both exits).
fn p2p_run(t: &Tools, tool: &str, bytes: u64) -> Result<Sample> {
    // netcrab's receiver runs as from a script: stdin an open pipe that never
    // sends (held by the listener's `Proc` until it is dropped). It must still
    // exit when the sender has closed.
    let listener_stdin = if tool == "netcrab" {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let ends = Ends {
        listener_stdin,
        listener_stdout: dev_null()?,
        sender_stdout: dev_null()?,
    };
    let done = transfer(t, tool, ends, || {
        let mut head = Proc::spawn(
            "head",
            Command::new("head")
                .args(["-c", &bytes.to_string(), "/dev/zero"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped()),
        )?;
        let feed = head.take_stdout().ok_or_else(|| err("head: no stdout"))?;
        Ok((feed.into(), Some(head)))
    })?;
    Ok(Sample::new(bytes as f64 / MIB / done.secs, done.rss_kib))
}

/// One iperf3 run of `bytes` (client → server, both on loopback); with `via`, the client
/// connects to that port and the relay `via.1` started by `via.0` forwards to the server.
/// Returns iperf3's receiver rate in MiB/s and the relay's peak RSS.
pub fn iperf_run(
    iperf: &str,
    via: Option<&dyn Fn(u16) -> Result<(Proc, u16)>>,
    bytes: u64,
) -> Result<Sample> {
    let (mut server, sport) = iperf_server(iperf)?;
    let relay = via.map(|start| start(sport)).transpose()?;
    let cport = relay.as_ref().map_or(sport, |r| r.1);
    let mut client = Proc::spawn(
        "iperf3 -c",
        Command::new(iperf)
            .args(["-c", "127.0.0.1", "-p", &cport.to_string(), "-f", "M"])
            .args(["-n", &bytes.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    )?;
    let out = client
        .take_stdout()
        .ok_or_else(|| err("iperf3: no stdout"))?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let mut out = out;
        out.read_to_string(&mut text).map(|_| text)
    });
    client.wait_success(TRANSFER)?;
    let text = reader
        .join()
        .map_err(|_| err("iperf3 output reader panicked"))?
        .context(|| "reading iperf3 output".to_string())?;
    let rate = text
        .lines()
        .find(|l| l.contains("receiver"))
        .and_then(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let unit = words.iter().position(|w| *w == "MBytes/sec")?;
            words.get(unit.checked_sub(1)?)?.parse::<f64>().ok()
        })
        .ok_or_else(|| err(format!("no receiver rate in iperf3 output: {text}")))?;
    server.wait_exit(Duration::from_secs(10)).ok();
    let gib = bytes as f64 / (1u64 << 30) as f64;
    let cpu_per_gib = relay.as_ref().and_then(|r| r.0.cpu_secs()).map(|c| c / gib);
    Ok(Sample {
        value: rate,
        cpu_per_gib,
        rss_kib: relay.map_or(server.peak_kib(), |r| r.0.peak_kib()),
    })
}

/// Workload 2: iperf3 direct vs through a relay (netcrab channels, socat, ncat --sh-exec).
pub fn relay(s: &Settings, t: &Tools, report: &mut Report) {
    let Some(iperf) = t.iperf3.as_deref() else {
        eprintln!("bench: relay: iperf3 missing, skipped");
        return;
    };
    let bytes: u64 = s.pick(1024, 2048) << 20;
    let reps = s.pick(2, 3);
    let workload = format!("relay iperf3 {} MiB", bytes >> 20);
    let netcrab = |server: u16| -> Result<(Proc, u16)> {
        let port = free_port(false)?;
        // Two outbound connections made up front pair, in order, with iperf3's control and
        // data connections (the server accepts the second only after the cookie exchange).
        let p = start(
            "netcrab relay",
            Command::new(&t.netcrab)
                .args(["--fm", "channels", "-o", "none", "-i", "none"])
                .args(["-L", &format!("127.0.0.1:{port}")])
                .arg(format!("127.0.0.1:{server}x2"))
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
            Up::Line,
        )?;
        Ok((p, port))
    };
    let socat = |server: u16| -> Result<(Proc, u16)> {
        let port = free_port(false)?;
        let p = start(
            "socat relay",
            Command::new(t.socat.as_deref().unwrap_or("socat"))
                .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr"))
                .arg(format!("TCP:127.0.0.1:{server}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
            Up::Tcp(port),
        )?;
        Ok((p, port))
    };
    let ncat = |server: u16| -> Result<(Proc, u16)> {
        let port = free_port(false)?;
        let prog = t.ncat.as_deref().unwrap_or("ncat");
        let p = start(
            "ncat relay",
            Command::new(prog)
                .args(["-k", "-l", "127.0.0.1", &port.to_string(), "--sh-exec"])
                .arg(format!("exec {prog} 127.0.0.1 {server}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
            Up::Tcp(port),
        )?;
        Ok((p, port))
    };
    // haproxy in TCP mode, one thread, splicing both ways: the strongest
    // common TCP relay, so the anchor of the relay goals.
    let haproxy = |server: u16| -> Result<(Proc, u16)> {
        let port = free_port(false)?;
        let dir = std::env::temp_dir().join(format!("netcrab-bench-haproxy-{port}"));
        std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
        let cfg = dir.join("haproxy.cfg");
        let text = format!(
            "global\n  nbthread 1\n  maxconn 1000\n\
             defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 120s\n  timeout server 120s\n\
             \x20 option splice-request\n  option splice-response\n\
             listen relay\n  bind 127.0.0.1:{port}\n  server s 127.0.0.1:{server}\n"
        );
        std::fs::write(&cfg, text).context(|| format!("writing {}", cfg.display()))?;
        let p = start(
            "haproxy relay",
            Command::new(t.haproxy.as_deref().unwrap_or("haproxy"))
                .arg("-db")
                .arg("-f")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
            Up::Tcp(port),
        )?;
        Ok((p, port))
    };
    let mut entrants: Vec<Entrant> = vec![
        (
            "direct (no relay)".into(),
            Role::Reference,
            Box::new(move || iperf_run(iperf, None, bytes)),
        ),
        (
            "netcrab channels".into(),
            Role::Netcrab,
            Box::new(move || iperf_run(iperf, Some(&netcrab), bytes)),
        ),
    ];
    if t.haproxy.is_some() {
        entrants.push((
            "haproxy (splice)".into(),
            Role::Peer,
            Box::new(move || iperf_run(iperf, Some(&haproxy), bytes)),
        ));
    }
    if t.socat.is_some() {
        entrants.push((
            "socat fork".into(),
            Role::Peer,
            Box::new(move || iperf_run(iperf, Some(&socat), bytes)),
        ));
    }
    if t.ncat.is_some() {
        entrants.push((
            "ncat --sh-exec".into(),
            Role::Peer,
            Box::new(move || iperf_run(iperf, Some(&ncat), bytes)),
        ));
    }
    measure(report, &workload, "MiB/s", reps, false, entrants);
    annotate(
        report,
        &workload,
        "direct (no relay)",
        "RSS: iperf3 server".into(),
    );
    annotate(
        report,
        &workload,
        "ncat --sh-exec",
        "RSS: main ncat only".into(),
    );
    let nk = report.value(&workload, "netcrab channels");
    let so = report.value(&workload, "socat fork");
    let ha = report.value(&workload, "haproxy (splice)");
    report.goal_ratio("relay: netcrab >= 1.2x haproxy", nk, ha, 1.2);
    report.goal_ratio("relay: netcrab >= 2.5x socat", nk, so, 2.5);
    let cpu = |tool: &str| {
        report
            .rows
            .iter()
            .find(|r| r.workload == workload && r.tool == tool && !r.failed)
            .and_then(|r| r.note.split("CPU ").nth(1))
            .and_then(|n| n.split(' ').next())
            .and_then(|n| n.parse::<f64>().ok())
    };
    let (nk_cpu, ha_cpu) = (cpu("netcrab channels"), cpu("haproxy (splice)"));
    // "Less CPU per GiB than haproxy": haproxy's over netcrab's >= 1.
    report.goal_ratio(
        "relay: haproxy CPU/GiB >= 1x netcrab's",
        ha_cpu,
        nk_cpu,
        1.0,
    );
}

/// Workload 6: 512 MiB into `netcrab -l` whose stdout reader sleeps 3 s before reading.
pub fn slow_reader(s: &Settings, t: &Tools, report: &mut Report) {
    let bytes: u64 = 512 << 20;
    let workload = "slow reader 512 MiB, 3 s pause";
    let run = move || -> Result<Sample> {
        let port = free_port(false)?;
        let mut p = start(
            "netcrab -l",
            Command::new(&t.netcrab)
                .args(["-l", &format!("127.0.0.1:{port}")])
                .stdin(Stdio::null())
                .stdout(Stdio::piped()),
            Up::Line,
        )?;
        let out = p.take_stdout().ok_or_else(|| err("netcrab: no stdout"))?;
        let start = Instant::now();
        let counter = Counter::start(out, Duration::from_secs(3));
        let sender = std::thread::spawn(move || -> std::io::Result<()> {
            let mut c = TcpStream::connect(("127.0.0.1", port))?;
            let block = vec![0u8; 1 << 20];
            for _ in 0..(bytes >> 20) {
                c.write_all(&block)?;
            }
            c.shutdown(Shutdown::Write)
        });
        p.wait_success(TRANSFER)?;
        let got = counter.finish(Duration::from_secs(10))?;
        let secs = start.elapsed().as_secs_f64();
        sender
            .join()
            .map_err(|_| err("sender panicked"))?
            .context(|| "sending".to_string())?;
        if got != bytes {
            return Err(err(format!("received {got} of {bytes} bytes")));
        }
        Ok(Sample::new(secs, p.peak_kib()))
    };
    measure(
        report,
        workload,
        "s total",
        s.pick(1, 1),
        true,
        alone("netcrab", run),
    );
    let rss = report.rss_mib(workload, "netcrab");
    report.goal_max("slow reader: netcrab peak RSS <= 16 MiB", rss, 16.0, "MiB");
}

/// Workload 8: the generators (`-i rand`, `-i fixed`) into a counting sink for a few seconds.
pub fn rand(s: &Settings, t: &Tools, report: &mut Report) {
    let secs = s.pick(1.0, 3.0);
    let reps = s.pick(2, 3);
    let variants: [(&str, &[&str]); 3] = [
        (
            "-i rand, 64 KiB chunks",
            &["-i", "rand", "--rsizemin", "65536", "--rsizemax", "65536"],
        ),
        ("-i rand, default 1-1450 B", &["-i", "rand"]),
        ("-i fixed --ss 65536", &["-i", "fixed", "--ss", "65536"]),
    ];
    for (name, args) in variants {
        let workload = format!("generator {name}");
        let run = move || gen_run(t, args, secs);
        measure(
            report,
            &workload,
            "MiB/s",
            reps,
            false,
            alone("netcrab", run),
        );
    }
}

/// One generator run: netcrab connects to our listener, which counts for `secs`.
fn gen_run(t: &Tools, args: &[&str], secs: f64) -> Result<Sample> {
    let sink = TcpListener::bind("127.0.0.1:0").context(|| "binding the sink".to_string())?;
    let port = sink
        .local_addr()
        .context(|| "sink address".to_string())?
        .port();
    let mut p = Proc::spawn(
        "netcrab generator",
        Command::new(&t.netcrab)
            .args(args)
            .args(["-o", "none", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )?;
    sink.set_nonblocking(true).context(|| "sink".to_string())?;
    let deadline = Instant::now() + READY;
    let mut conn = loop {
        match sink.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                p.check_alive()?;
                if Instant::now() >= deadline {
                    return Err(err("the generator never connected"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(err(format!("accept: {e}"))),
        }
    };
    conn.set_nonblocking(false).context(|| "sink".to_string())?;
    conn.set_read_timeout(Some(Duration::from_millis(100)))
        .context(|| "sink".to_string())?;
    let mut buf = vec![0u8; 1 << 20];
    let start = Instant::now();
    let mut total = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        match conn.read(&mut buf) {
            Ok(0) => return Err(err("the generator closed the connection")),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(err(format!("sink read: {e}"))),
        }
    }
    let took = start.elapsed().as_secs_f64();
    p.check_alive()?;
    Ok(Sample::new(total as f64 / MIB / took, p.peak_kib()))
}
