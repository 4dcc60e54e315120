//! `-z` port scans: every target (one per port of `HOST PORTS`) is tried
//! once, with a bounded number of connects in flight so a range of any size
//! fits the descriptor limit, and the results are printed in the order the
//! ports were given, one line per port: `HOST:PORT open|closed|timeout|failed`.
//! With `-u` each port gets one datagram (a NUL byte, as ncat sends): an ICMP
//! port-unreachable is `closed`, an answer `open`, silence `open|filtered`.
//! As nc, the scan exits 0 when any port is open (silence counts, as in nc).

use super::config::Config;
use super::plan::TargetPlan;
use super::shared::Shared;
use crate::error::describe;
use crate::net::{family_name, sockopt};
use smol::Async;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

/// Most connects in flight when neither `--scan-parallel` nor a low
/// descriptor limit says otherwise.
const MAX_DEFAULT_PARALLEL: usize = 512;

/// Start the scan if this run is one (`-z`, and no `-R`, whose retries stay
/// with the dialer) and return the targets left for the dialer: none then,
/// all of them otherwise.
pub fn start_zero_io(shared: &Rc<Shared>, targets: Vec<TargetPlan>) -> Vec<TargetPlan> {
    let cfg = &shared.cfg;
    // Through a proxy, open/closed is the proxy's answer to each request:
    // the dial path asks it (one connection per port, as for any target).
    if !cfg.zero_io || cfg.reconnect_on_error || cfg.proxy.is_some() || targets.is_empty() {
        return targets;
    }
    // Each copy (`HOST:PORTxN`) is tried and reported on its own, as before.
    let jobs: Vec<usize> = targets
        .iter()
        .enumerate()
        .flat_map(|(i, t)| std::iter::repeat_n(i, t.spec.count as usize))
        .collect();
    let workers = parallel(cfg).min(jobs.len());
    if workers == 0 {
        return Vec::new();
    }
    let scan = Rc::new(Scan {
        targets,
        jobs,
        next: Cell::new(0),
        done: RefCell::new(VecDeque::new()),
        printed: Cell::new(0),
        workers: Cell::new(workers),
        any_open: Cell::new(false),
    });
    // One "dial" for the whole scan: the run ends when the last worker does.
    shared.life.dial_started();
    shared.life.first_dial_done();
    for _ in 0..workers {
        let (shared, scan) = (shared.clone(), scan.clone());
        shared.clone().spawn(async move {
            scan.work(&shared).await;
            scan.workers.set(scan.workers.get() - 1);
            if scan.workers.get() == 0 {
                // nc's rule: success if any port was open.
                if !scan.any_open.get() {
                    shared.fail();
                }
                shared.dial_ended();
            }
        });
    }
    Vec::new()
}

/// `--scan-parallel`, or a quarter of the descriptor limit up to 512 (the
/// rest is left for stdio, the reactor and anything else the run holds).
fn parallel(cfg: &Config) -> usize {
    cfg.scan_parallel
        .unwrap_or_else(|| match nofile_limit() {
            Some(n) => (n / 4).min(MAX_DEFAULT_PARALLEL as u64) as usize,
            None => MAX_DEFAULT_PARALLEL,
        })
        .max(1)
}

/// The soft limit on open descriptors (already raised by the run).
fn nofile_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every Unix
            return Some(lim.rlim_cur as u64);
        }
        None
    }
    #[cfg(not(unix))]
    {
        None
    }
}

struct Scan {
    targets: Vec<TargetPlan>,
    /// Index into `targets` of each connect to make, in report order.
    jobs: Vec<usize>,
    /// The next job a free worker takes.
    next: Cell<usize>,
    /// Finished reports waiting for an earlier job to finish: slot `i` is
    /// job `printed + i` (a deque, not a map: less code).
    done: RefCell<VecDeque<Option<String>>>,
    /// Jobs reported so far (all before this index are printed).
    printed: Cell<usize>,
    workers: Cell<usize>,
    any_open: Cell<bool>,
}

impl Scan {
    /// Take jobs until none are left.
    async fn work(&self, shared: &Shared) {
        loop {
            let job = self.next.get();
            let Some(&t) = self.jobs.get(job) else {
                return;
            };
            self.next.set(job + 1);
            let plan = &self.targets[t];
            let (report, open) = if shared.cfg.udp {
                probe_udp(shared, plan).await
            } else {
                probe(shared, plan).await
            };
            if open {
                self.any_open.set(true);
            }
            {
                let mut done = self.done.borrow_mut();
                // Every job not yet printed is at or after `printed`.
                let slot = job - self.printed.get();
                if done.len() <= slot {
                    done.resize(slot + 1, None);
                }
                done[slot] = Some(report);
            }
            self.print_ready();
            // A local port usually answers without waiting: let the rest of
            // the run (Ctrl-C, other workers) have a turn.
            smol::future::yield_now().await;
        }
    }

    /// Print every report whose predecessors are all printed, in one write.
    fn print_ready(&self) {
        let mut done = self.done.borrow_mut();
        let mut out = String::new();
        let mut next = self.printed.get();
        while let Some(Some(r)) = done.front() {
            out.push_str(r);
            done.pop_front();
            next += 1;
        }
        self.printed.set(next);
        if !out.is_empty() {
            use std::io::Write as _;
            // As everywhere: stderr that cannot be written is not an error.
            let _ = std::io::stderr().lock().write_all(out.as_bytes());
        }
    }
}

/// Connect to one target (its addresses in resolver order, the first that
/// answers wins) and close at once. Returns the lines to print and whether
/// the port is open.
async fn probe(shared: &Shared, plan: &TargetPlan) -> (String, bool) {
    let cfg = &shared.cfg;
    let mut out = String::new();
    let mut last = io::Error::new(io::ErrorKind::AddrNotAvailable, "no address to connect to");
    for (dest, src) in &plan.addrs {
        if cfg.verbose > 0 {
            let _ = match src {
                Some(s) => writeln!(out, "Connecting from {s} to {dest}"),
                None => writeln!(out, "Connecting to {dest}"),
            };
        }
        let err = match knock(*dest, *src, shared).await {
            // Scanning our own host, a connect can pick the port it dials as
            // its source port and meet itself (TCP simultaneous open): that
            // port has no listener.
            Ok((local, peer)) if local == peer => io::Error::from(io::ErrorKind::ConnectionRefused),
            Ok((local, peer)) => {
                let _ = writeln!(
                    out,
                    "Connected from {local} to {peer}, protocol TCP, family {}",
                    family_name(&peer)
                );
                let _ = writeln!(out, "{} open", plan.spec.dest);
                return (out, true);
            }
            Err(e) => e,
        };
        if plan.addrs.len() > 1 {
            let _ = writeln!(out, "Failed to connect to {dest}: {}", describe(&err));
        }
        last = err;
    }
    let state = match last.kind() {
        io::ErrorKind::TimedOut => "timeout",
        io::ErrorKind::ConnectionRefused => "closed",
        _ => "failed",
    };
    let _ = writeln!(out, "{} {state} ({})", plan.spec.dest, describe(&last));
    (out, false)
}

/// How long a UDP probe waits for an answer or an ICMP error: `-w`, else
/// one second (nc waits about that long between its probes).
const UDP_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Send one datagram to each address of the target; the first that does
/// not come back refused decides. Returns the lines and whether it counts
/// as open (an answer, or silence: nc counts both).
async fn probe_udp(shared: &Shared, plan: &TargetPlan) -> (String, bool) {
    let cfg = &shared.cfg;
    let wait = cfg.connect_timeout.unwrap_or(UDP_WAIT);
    let mut out = String::new();
    let mut last = io::Error::new(io::ErrorKind::AddrNotAvailable, "no address to send to");
    for (dest, src) in &plan.addrs {
        if cfg.verbose > 0 {
            let _ = match src {
                Some(s) => writeln!(out, "Sending a datagram from {s} to {dest}"),
                None => writeln!(out, "Sending a datagram to {dest}"),
            };
        }
        match udp_knock(*dest, *src, shared, wait).await {
            Ok(true) => {
                let _ = writeln!(out, "{} open (answered)", plan.spec.dest);
                return (out, true);
            }
            Ok(false) => {
                let _ = writeln!(
                    out,
                    "{} open|filtered (no answer in {} s)",
                    plan.spec.dest,
                    crate::decimal::secs_fixed(wait, 1)
                );
                return (out, true);
            }
            Err(e) => {
                if plan.addrs.len() > 1 {
                    let _ = writeln!(out, "Failed to probe {dest}: {}", describe(&e));
                }
                last = e;
            }
        }
    }
    // Windows reports the ICMP error as a reset.
    let state = match last.kind() {
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset => "closed",
        _ => "failed",
    };
    let _ = writeln!(out, "{} {state} ({})", plan.spec.dest, describe(&last));
    (out, false)
}

/// One datagram to `dest` on a connected socket (so the kernel reports an
/// ICMP port-unreachable as ECONNREFUSED); `Ok(true)` if an answer came,
/// `Ok(false)` if nothing did within `wait`.
async fn udp_knock(
    dest: SocketAddr,
    src: Option<SocketAddr>,
    shared: &Shared,
    wait: std::time::Duration,
) -> io::Result<bool> {
    use socket2::{Domain, Protocol, Socket, Type};
    let v6 = dest.is_ipv6();
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    shared.opts.apply(&s, v6)?;
    if let Some(src) = src {
        if src.port() != 0 {
            sockopt::reuse_addr(&s)?;
        }
        s.bind(&src.into())?;
    }
    s.connect(&dest.into())?;
    s.set_nonblocking(true)?;
    let s = Async::new_nonblocking(std::net::UdpSocket::from(s))?;
    s.send(&[0u8]).await?;
    let mut buf = [0u8; 2048];
    let answer = async { s.recv(&mut buf).await.map(|_| true) };
    smol::future::or(answer, async {
        smol::Timer::after(wait).await;
        Ok(false)
    })
    .await
}

/// Connect to `dest` (from `src` when given) and close again at once.
/// Returns the connection's (local, peer) addresses if it was made.
async fn knock(
    dest: SocketAddr,
    src: Option<SocketAddr>,
    shared: &Shared,
) -> io::Result<(SocketAddr, SocketAddr)> {
    let s = sockopt::tcp_socket(&dest, &shared.opts)?;
    if let Some(src) = src {
        if src.port() != 0 {
            sockopt::reuse_addr(&s)?;
        }
        s.bind(&src.into())?;
    }
    s.set_nonblocking(true)?;
    let pending = match s.connect(&dest.into()) {
        Ok(()) => false,
        Err(e) if in_progress(&e) => true,
        Err(e) => return Err(e),
    };
    let s = std::net::TcpStream::from(s);
    let addrs = |s: &std::net::TcpStream| Ok((s.local_addr()?, s.peer_addr()?));
    if pending {
        // Over loopback the answer (RST or SYN-ACK) is usually in before
        // connect returns: look first, and only wait for what is not. This
        // spares the reactor (and a timer) for nearly every local port.
        if let Some(e) = s.take_error()? {
            return Err(e);
        }
        if let Ok(a) = addrs(&s) {
            return Ok(a);
        }
        let s = Async::new_nonblocking(s)?;
        let wait = async {
            s.writable().await?;
            match s.get_ref().take_error()? {
                Some(e) => Err(e),
                None => Ok(()),
            }
        };
        match shared.cfg.connect_timeout {
            None => wait.await?,
            Some(t) => {
                smol::future::or(wait, async {
                    smol::Timer::after(t).await;
                    Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
                })
                .await?
            }
        }
        // A refused connect can report writable with no error on some
        // systems; the peer address settles it.
        return addrs(s.get_ref());
    }
    addrs(&s)
}

/// A non-blocking connect that has started and not finished yet.
fn in_progress(e: &io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        return true;
    }
    e.kind() == io::ErrorKind::WouldBlock
}
