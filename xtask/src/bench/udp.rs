//! Workload 3: UDP receivers. One sender thread here blasts datagrams of a fixed size at the
//! tool for a fixed time; the tool writes what it receives to stdout, which is counted.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::procs::{free_port, Counter};
use super::report::{annotate, measure, Notes, Report, Role, Sample, Settings, Tools};
use super::run::{start, up, Up};
use super::tcp::MIB;
use crate::util::{err, Context, Result};

/// Runs the UDP workload for 64-byte and 1472-byte datagrams.
pub fn udp(s: &Settings, t: &Tools, report: &mut Report) {
    let secs = s.pick(1.0, 3.0);
    let reps = s.pick(2, 3);
    for size in [64usize, 1472] {
        let workload = format!("UDP {size} B datagrams, {secs:.0} s");
        let notes = Notes::default();
        let entry = |name: &'static str, role| {
            notes.entrant(name, role, move || udp_run(t, name, size, secs))
        };
        let mut entrants = vec![entry("netcrab", Role::Netcrab)];
        for (name, have) in [("nc", &t.nc), ("ncat", &t.ncat), ("socat", &t.socat)] {
            if have.is_some() {
                entrants.push(entry(name, Role::Peer));
            }
        }
        measure(report, &workload, "dgrams/s", reps, false, entrants);
        notes.annotate(report, &workload);
        let nk = report.value(&workload, "netcrab");
        let peer = ["nc", "ncat", "socat"]
            .iter()
            .filter_map(|p| report.value(&workload, p))
            .reduce(f64::max);
        report.goal_ratio(
            &format!("UDP {size} B: netcrab >= 1.2x best peer dgrams/s"),
            nk,
            peer,
            1.2,
        );
        let nc = report.value(&workload, "nc");
        report.goal_ratio(
            &format!("UDP {size} B: netcrab >= 1.5x OpenBSD nc dgrams/s"),
            nk,
            nc,
            1.5,
        );
    }
}

/// One receiver run; returns datagrams/s received and a note with MiB/s and loss.
fn udp_run(t: &Tools, tool: &str, size: usize, secs: f64) -> Result<(Sample, String)> {
    let port = free_port(true)?;
    let p = port.to_string();
    let addr = format!("127.0.0.1:{port}");
    let prog = |o: &Option<String>| o.clone().unwrap_or_default();
    let mut cmd = match tool {
        "netcrab" => {
            let mut c = Command::new(&t.netcrab);
            c.args(["-u", "-i", "none", "-l", &addr]);
            c
        }
        "nc" => {
            let mut c = Command::new(prog(&t.nc));
            c.args(["-d", "-u", "-l", "127.0.0.1", &p]);
            c
        }
        "ncat" => {
            let mut c = Command::new(prog(&t.ncat));
            c.args(["--recv-only", "-u", "-l", "127.0.0.1", &p]);
            c
        }
        "socat" => {
            let mut c = Command::new(prog(&t.socat));
            c.args(["-u", &format!("UDP-RECV:{port},bind=127.0.0.1"), "STDOUT"]);
            c
        }
        other => return Err(err(format!("unknown tool {other}"))),
    };
    let mut rx = start(
        tool,
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()),
        up(tool, true, port),
    )?;
    let out = rx.take_stdout().ok_or_else(|| err("no stdout"))?;
    let counter = Counter::start(out, Duration::ZERO);
    let sock = UdpSocket::bind("127.0.0.1:0").context(|| "binding the sender".to_string())?;
    sock.connect(&addr)
        .context(|| "connecting the sender".to_string())?;
    let payload = vec![b'x'; size];
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        // Loopback drops at the receiver, silently; a send error (ICMP refusal) is not ours.
        sent += blast::send_batch(&sock, &payload, 64);
    }
    // Let the receiver drain its socket buffer and the pipe.
    std::thread::sleep(Duration::from_millis(300));
    rx.check_alive()?;
    let got = counter.bytes() / size as u64;
    let rss_kib = rx.peak_kib();
    drop(rx);
    if got == 0 {
        return Err(err(format!("{tool} received nothing ({sent} sent)")));
    }
    let loss = 100.0 * (sent.saturating_sub(got)) as f64 / sent as f64;
    let note = format!(
        "{:.1} MiB/s; {got} of {sent} received, loss {loss:.1}%",
        (got * size as u64) as f64 / MIB / secs
    );
    Ok((Sample::new(got as f64 / secs, rss_kib), note))
}

/// Workload: request/response UDP through a relay (issue 17). 50 clients, each from its own
/// socket, ask an echo service one query at a time, directly, through `netcrab --udp-flows`
/// and through `socat UDP-LISTEN:...,fork`. The figure is answered queries per second; the
/// notes give the round trip's p50 and p99 and the queries that got no answer.
pub fn flows(s: &Settings, t: &Tools, report: &mut Report) {
    let clients = 50;
    let per_client = s.pick(200, 1000);
    let reps = s.pick(2, 3);
    let workload = format!("UDP queries via relay, {clients} clients x {per_client}");
    let svc = match echo_service() {
        Ok(port) => port,
        Err(e) => {
            eprintln!("bench: {workload}: {e}");
            return;
        }
    };
    let notes = Notes::default();
    let entry = |name: &'static str, role| {
        notes.entrant(name, role, move || {
            query_run(t, name, svc, clients, per_client)
        })
    };
    let mut entrants = vec![
        entry("direct (no relay)", Role::Reference),
        entry("netcrab --udp-flows", Role::Netcrab),
    ];
    if t.socat.is_some() {
        entrants.push(entry("socat UDP-LISTEN fork", Role::Peer));
    }
    measure(report, &workload, "queries/s", reps, false, entrants);
    notes.annotate(report, &workload);
    annotate(
        report,
        &workload,
        "socat UDP-LISTEN fork",
        "RSS: the listening socat only".into(),
    );
}

/// An echo service on 127.0.0.1 (a thread of this process, for the rest of the bench).
pub fn echo_service() -> Result<u16> {
    let sock = UdpSocket::bind("127.0.0.1:0").context(|| "binding the echo service".to_string())?;
    let port = sock
        .local_addr()
        .context(|| "echo service address".to_string())?
        .port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let _ = sock.send_to(&buf[..n], from);
        }
    });
    Ok(port)
}

/// One run: start the relay (none for "direct"), then `clients` threads each ask `per_client`
/// queries in turn. Returns answered queries/s and a note with p50/p99 and the lost ones.
fn query_run(
    t: &Tools,
    tool: &str,
    svc: u16,
    clients: usize,
    per_client: usize,
) -> Result<(Sample, String)> {
    let target = format!("127.0.0.1:{svc}");
    let mut relay = match tool {
        "direct (no relay)" => None,
        "netcrab --udp-flows" => {
            let port = free_port(true)?;
            let p = start(
                tool,
                Command::new(&t.netcrab)
                    .args(["-u", "--udp-flows", "-o", "none", "-i", "none", "-L"])
                    .arg(format!("127.0.0.1:{port}"))
                    .arg(&target)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null()),
                Up::Line,
            )?;
            Some((p, port))
        }
        "socat UDP-LISTEN fork" => {
            let port = free_port(true)?;
            // -T: each forked child ends after 3 s without traffic (UDP has no end).
            let p = start(
                tool,
                Command::new(t.socat.as_deref().unwrap_or("socat"))
                    .args(["-T", "3"])
                    .arg(format!("UDP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr"))
                    .arg(format!("UDP:{target}"))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null()),
                Up::Udp(port),
            )?;
            Some((p, port))
        }
        other => return Err(err(format!("unknown tool {other}"))),
    };
    let port = relay.as_ref().map_or(svc, |(_, p)| *p);
    let (mut rtts, lost, took) = ask_all(([127, 0, 0, 1], port).into(), clients, per_client)?;
    let rss_kib = match relay.as_mut() {
        Some((p, _)) => {
            p.check_alive()?;
            p.peak_kib()
        }
        None => 0,
    };
    drop(relay);
    if rtts.is_empty() {
        return Err(err(format!("{tool}: no query was answered")));
    }
    rtts.sort();
    let pct = |q: f64| rtts[((rtts.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    let note = format!(
        "p50 {:.0} us, p99 {:.0} us; {lost} of {} unanswered",
        pct(0.50),
        pct(0.99),
        clients * per_client
    );
    Ok((Sample::new(rtts.len() as f64 / took, rss_kib), note))
}

/// `clients` threads, each with its own socket, ask `per_client` queries of `to` in turn, all
/// starting at once: the round trips of the answered ones, the unanswered count, and the
/// seconds from the start to the last answer.
pub fn ask_all(
    to: SocketAddr,
    clients: usize,
    per_client: usize,
) -> Result<(Vec<Duration>, usize, f64)> {
    let start_line = std::sync::Arc::new(std::sync::Barrier::new(clients + 1));
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let start_line = start_line.clone();
            std::thread::spawn(move || ask_many(c as u32, to, per_client, &start_line))
        })
        .collect();
    start_line.wait();
    let started = Instant::now();
    let mut rtts: Vec<Duration> = Vec::new();
    let mut lost = 0usize;
    for w in workers {
        let (r, l) = w.join().map_err(|_| err("a client thread panicked"))??;
        rtts.extend(r);
        lost += l;
    }
    Ok((rtts, lost, started.elapsed().as_secs_f64()))
}

/// One client: its own socket, `n` queries one after another (64 bytes: client, sequence),
/// each waiting up to 500 ms for its answer. Returns the round trips and the unanswered count.
fn ask_many(
    client: u32,
    to: SocketAddr,
    n: usize,
    start_line: &std::sync::Barrier,
) -> Result<(Vec<Duration>, usize)> {
    let sock = UdpSocket::bind("127.0.0.1:0").context(|| "binding a client".to_string())?;
    sock.connect(to)
        .context(|| "connecting a client".to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .context(|| "client timeout".to_string())?;
    start_line.wait();
    let mut rtts = Vec::with_capacity(n);
    let mut lost = 0;
    let mut q = [0u8; 64];
    let mut buf = [0u8; 2048];
    q[..4].copy_from_slice(&client.to_le_bytes());
    for seq in 0..n as u32 {
        q[4..8].copy_from_slice(&seq.to_le_bytes());
        let sent = Instant::now();
        if sock.send(&q).is_err() {
            lost += 1;
            continue;
        }
        // Skip a late answer to an earlier query; stop at this one's or at the timeout.
        loop {
            match sock.recv(&mut buf) {
                Ok(len) if len == q.len() && buf[..8] == q[..8] => {
                    rtts.push(sent.elapsed());
                    break;
                }
                Ok(_) => continue,
                Err(_) => {
                    lost += 1;
                    break;
                }
            }
        }
    }
    Ok((rtts, lost))
}

/// The sender's side of the UDP workload. It must outrun every receiver, or
/// the figure measures the sender: on Linux one sendmmsg(2) sends a batch
/// (about a third of the cost per datagram of one send each), elsewhere one
/// send per datagram.
mod blast {
    use std::net::UdpSocket;

    #[cfg(target_os = "linux")]
    mod sys {
        use std::ffi::{c_int, c_uint, c_void};

        #[repr(C)]
        pub struct IoVec {
            pub base: *mut c_void,
            pub len: usize,
        }

        /// `struct msghdr` as 64-bit and 32-bit Linux lay it out (glibc: the
        /// lengths are `size_t`).
        #[repr(C)]
        pub struct MsgHdr {
            pub name: *mut c_void,
            pub namelen: c_uint,
            pub iov: *mut IoVec,
            pub iovlen: usize,
            pub control: *mut c_void,
            pub controllen: usize,
            pub flags: c_int,
        }

        #[repr(C)]
        pub struct MMsgHdr {
            pub hdr: MsgHdr,
            pub len: c_uint,
        }

        extern "C" {
            pub fn sendmmsg(fd: c_int, msgs: *mut MMsgHdr, n: c_uint, flags: c_int) -> c_int;
        }
    }

    /// Send `n` copies of `payload` on the connected `sock`; how many went.
    #[cfg(target_os = "linux")]
    pub fn send_batch(sock: &UdpSocket, payload: &[u8], n: usize) -> u64 {
        use std::os::fd::AsRawFd;
        let mut iov = sys::IoVec {
            base: payload.as_ptr() as *mut _,
            len: payload.len(),
        };
        let iov_ptr: *mut sys::IoVec = &mut iov;
        let mut msgs: Vec<sys::MMsgHdr> = (0..n)
            .map(|_| sys::MMsgHdr {
                hdr: sys::MsgHdr {
                    name: std::ptr::null_mut(),
                    namelen: 0,
                    iov: iov_ptr,
                    iovlen: 1,
                    control: std::ptr::null_mut(),
                    controllen: 0,
                    flags: 0,
                },
                len: 0,
            })
            .collect();
        // SAFETY: `msgs` holds `n` headers, each naming the one iovec above,
        // which points into `payload`; the kernel only reads them (and
        // writes each `len`); all outlive the call.
        let r = unsafe { sys::sendmmsg(sock.as_raw_fd(), msgs.as_mut_ptr(), n as _, 0) };
        u64::try_from(r).unwrap_or(0)
    }

    #[cfg(not(target_os = "linux"))]
    pub fn send_batch(sock: &UdpSocket, payload: &[u8], n: usize) -> u64 {
        (0..n).filter(|_| sock.send(payload).is_ok()).count() as u64
    }
}
