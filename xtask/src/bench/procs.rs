//! Processes under measurement: a kill-on-drop guard that samples peak RSS and watches stderr,
//! readiness checks (a netcrab "Listening on" line, or the port in /proc/net), and byte sinks.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, UdpSocket};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::util::{err, show, Context, Result};

/// How often the RSS sampler reads /proc/PID/status.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// What the stderr watcher shares with the guard.
#[derive(Default)]
struct StderrState {
    /// Lines containing "Accepted connection" (netcrab prints one per client).
    accepted: AtomicUsize,
    /// The last few lines, for error messages.
    tail: Mutex<VecDeque<String>>,
}

/// A running child. Dropping it kills and reaps the child (also on error paths).
pub struct Proc {
    name: String,
    child: Child,
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    sampler: Option<JoinHandle<()>>,
    stderr: Arc<StderrState>,
    listening: mpsc::Receiver<String>,
}

impl Proc {
    /// Spawns `cmd` (stdin and stdout as the caller set them; stderr is always piped and
    /// watched) and starts sampling its VmHWM.
    pub fn spawn(name: &str, cmd: &mut Command) -> Result<Proc> {
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .context(|| format!("cannot start `{}`", show(cmd)))?;
        let pid = child.id();
        let peak_kib = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak_kib, stop) = (peak_kib.clone(), stop.clone());
            std::thread::spawn(move || sample_rss(pid, &peak_kib, &stop))
        };
        let stderr = Arc::new(StderrState::default());
        let (tx, listening) = mpsc::channel();
        if let Some(pipe) = child.stderr.take() {
            let state = stderr.clone();
            std::thread::spawn(move || watch_stderr(pipe, &state, tx));
        }
        Ok(Proc {
            name: name.to_string(),
            child,
            peak_kib,
            stop,
            sampler: Some(sampler),
            stderr,
            listening,
        })
    }

    /// The child's stdout, when it was piped.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The highest VmHWM seen so far, in KiB, reading it once more now if the child still runs
    /// (a short-lived child may be gone before the sampler's next tick).
    /// CPU time (user + system) the process and its reaped children (a
    /// forking relay's per-connection processes) have used so far, in
    /// seconds (Linux /proc; clock ticks of 1/100 s, the kernel's USER_HZ).
    pub fn cpu_secs(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // The fields after the command name (which may hold spaces).
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = f.get(11)?.parse().ok()?;
        let stime: f64 = f.get(12)?.parse().ok()?;
        let cutime: f64 = f.get(13)?.parse().ok()?;
        let cstime: f64 = f.get(14)?.parse().ok()?;
        Some((utime + stime + cutime + cstime) / 100.0)
    }

    pub fn peak_kib(&self) -> u64 {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())) {
            if let Some(kib) = status_kib(&status, "VmHWM:") {
                self.peak_kib.fetch_max(kib, Ordering::Relaxed);
            }
        }
        self.peak_kib.load(Ordering::Relaxed)
    }

    /// How many "Accepted connection" lines the child printed so far.
    pub fn accepted(&self) -> usize {
        self.stderr.accepted.load(Ordering::Relaxed)
    }

    /// The last lines of stderr, joined for an error message.
    fn tail(&self) -> String {
        let tail = self
            .stderr
            .tail
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default();
        if tail.is_empty() {
            "(no stderr)".to_string()
        } else {
            tail.into_iter().collect::<Vec<_>>().join(" | ")
        }
    }

    /// Fails (with stderr) if the child has already exited.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(err(format!(
                "{} exited early ({status}): {}",
                self.name,
                self.tail()
            ))),
            Err(e) => Err(err(format!("{}: {e}", self.name))),
        }
    }

    /// Waits for netcrab's "Listening on" line on stderr and returns it.
    pub fn wait_listening(&mut self, limit: Duration) -> Result<String> {
        let deadline = Instant::now() + limit;
        loop {
            match self.listening.recv_timeout(Duration::from_millis(20)) {
                Ok(line) => return Ok(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.check_alive()?;
                    return Err(err(format!(
                        "{}: stderr closed: {}",
                        self.name,
                        self.tail()
                    )));
                }
            }
            self.check_alive()?;
            if Instant::now() >= deadline {
                return Err(err(format!(
                    "{}: no `Listening on` line: {}",
                    self.name,
                    self.tail()
                )));
            }
        }
    }

    /// Waits until `port` is bound on 127.0.0.1 (TCP: in LISTEN state), polling /proc/net, so
    /// that no probing connection steals a one-shot listener's only client.
    pub fn wait_port(&mut self, udp: bool, port: u16, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if port_bound(udp, port) {
                return Ok(());
            }
            self.check_alive()?;
            if Instant::now() >= deadline {
                return Err(err(format!(
                    "{}: port {port} never bound: {}",
                    self.name,
                    self.tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits at most `limit` for the child to exit; a timeout is an error.
    pub fn wait_exit(&mut self, limit: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().context(|| self.name.clone())? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(err(format!(
                    "{} still running after {}s: {}",
                    self.name,
                    limit.as_secs(),
                    self.tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Like [`Proc::wait_exit`], and a non-zero exit is an error too.
    pub fn wait_success(&mut self, limit: Duration) -> Result<()> {
        let status = self.wait_exit(limit)?;
        if status.success() {
            Ok(())
        } else {
            Err(err(format!(
                "{} failed ({status}): {}",
                self.name,
                self.tail()
            )))
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Best effort: it may have exited already.
        self.child.kill().ok();
        self.child.wait().ok();
        if let Some(sampler) = self.sampler.take() {
            sampler.join().ok();
        }
    }
}

/// Polls VmHWM (the kernel's own peak) until the process is gone or a zombie (no Vm lines).
fn sample_rss(pid: u32, peak: &AtomicU64, stop: &AtomicBool) {
    let path = format!("/proc/{pid}/status");
    while !stop.load(Ordering::Relaxed) {
        let Ok(status) = std::fs::read_to_string(&path) else {
            return;
        };
        let Some(kib) = status_kib(&status, "VmHWM:") else {
            return;
        };
        peak.fetch_max(kib, Ordering::Relaxed);
        std::thread::sleep(SAMPLE_EVERY);
    }
}

/// A `Key:   1234 kB` field of /proc/PID/status.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Reads stderr line by line: reports the first "Listening on", counts accepted connections,
/// keeps a short tail. Draining it also keeps a chatty child from blocking on a full pipe.
fn watch_stderr(pipe: impl Read, state: &StderrState, listening: mpsc::Sender<String>) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    let mut told = false;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text.contains("Accepted connection") {
            state.accepted.fetch_add(1, Ordering::Relaxed);
        } else if let Ok(mut tail) = state.tail.lock() {
            if tail.len() == 4 {
                tail.pop_front();
            }
            tail.push_back(text.to_string());
        }
        if !told && text.starts_with("Listening on") {
            told = true;
            listening.send(text.to_string()).ok();
        }
    }
}

/// Whether 127.0.0.1:`port` (or a wildcard on it) is bound: TCP in LISTEN state, UDP at all.
pub fn port_bound(udp: bool, port: u16) -> bool {
    let files: [&str; 2] = if udp {
        ["/proc/net/udp", "/proc/net/udp6"]
    } else {
        ["/proc/net/tcp", "/proc/net/tcp6"]
    };
    let want = format!(":{port:04X}");
    files.iter().any(|f| {
        let Ok(table) = std::fs::read_to_string(f) else {
            return false;
        };
        table.lines().skip(1).any(|l| {
            let mut fields = l.split_whitespace();
            let local = fields.nth(1).unwrap_or("");
            let state = fields.nth(1).unwrap_or("");
            local.ends_with(&want) && (udp || state == "0A")
        })
    })
}

/// A loopback port that was free a moment ago.
pub fn free_port(udp: bool) -> Result<u16> {
    let port = if udp {
        UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr())
    } else {
        TcpListener::bind("127.0.0.1:0").and_then(|s| s.local_addr())
    };
    Ok(port
        .context(|| "picking a free loopback port".to_string())?
        .port())
}

/// `/dev/null` for writing, as a child's stdout.
pub fn dev_null() -> Result<Stdio> {
    let f = File::options()
        .write(true)
        .open("/dev/null")
        .context(|| "opening /dev/null".to_string())?;
    Ok(Stdio::from(f))
}

/// Counts what a reader yields, on its own thread, optionally after a pause.
pub struct Counter {
    bytes: Arc<AtomicU64>,
    handle: JoinHandle<()>,
}

impl Counter {
    /// Starts draining `reader` after `pause`.
    pub fn start(mut reader: impl Read + Send + 'static, pause: Duration) -> Counter {
        let bytes = Arc::new(AtomicU64::new(0));
        let shared = bytes.clone();
        let handle = std::thread::spawn(move || {
            std::thread::sleep(pause);
            let mut buf = vec![0u8; 256 * 1024];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    return;
                }
                shared.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
        Counter { bytes, handle }
    }

    /// Bytes counted so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Waits (bounded) for the reader to reach its end; returns the total.
    pub fn finish(self, limit: Duration) -> Result<u64> {
        let deadline = Instant::now() + limit;
        while !self.handle.is_finished() {
            if Instant::now() >= deadline {
                return Err(err("the output reader did not reach its end in time"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let total = self.bytes();
        self.handle.join().ok();
        Ok(total)
    }
}
