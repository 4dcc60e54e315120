//! The black-box harness: runs the real netcrab binary (natively, or under
//! an emulator given by `NETCRAB_RUNNER`), feeds stdin, collects stdout and
//! stderr on threads, waits for readiness lines with bounded waits, and on
//! any failure shows argv, exit status, stdout and stderr.

#![allow(dead_code)]

pub mod json;
pub mod netns;
pub mod peers;
pub mod sha256;
pub mod skips;
pub mod tunnel;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a test waits for anything before it fails. Emulators are slow
/// to start, so they get more.
pub fn patience() -> Duration {
    match runner_kind() {
        Runner::Native => Duration::from_secs(15),
        _ => Duration::from_secs(60),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    Native,
    Qemu,
    Wine,
}

fn runner_words() -> Vec<String> {
    std::env::var("NETCRAB_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Which kind of runner the binary runs under.
pub fn runner_kind() -> Runner {
    let w = runner_words().join(" ");
    if w.contains("wine") {
        Runner::Wine
    } else if w.contains("qemu") {
        Runner::Qemu
    } else {
        Runner::Native
    }
}

/// Print why a test is skipped (the suite's convention: return early after this), and count
/// it: the test binary ends with one line naming every skip (see `skips`).
pub fn skip(why: &str) {
    skips::record(why);
}

/// Under Wine: print why the test is skipped and return true.
pub fn skipped_under_wine(why: &str) -> bool {
    let wine = runner_kind() == Runner::Wine;
    if wine {
        skip(why);
    }
    wine
}

fn binary() -> String {
    std::env::var("NETCRAB_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netcrab").to_string())
}

/// Build the command: runner words, then the binary, then `args`.
pub fn command(args: &[&str]) -> Command {
    command_in(None, args)
}

/// The same, run inside network namespace `ns` when given.
pub fn command_in(ns: Option<&str>, args: &[&str]) -> Command {
    let mut words: Vec<String> = match ns {
        Some(ns) => ["ip", "netns", "exec", ns]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        None => Vec::new(),
    };
    words.extend(runner_words());
    words.push(binary());
    let mut c = Command::new(&words[0]);
    c.args(&words[1..]).args(args);
    c
}

/// Lines an emulator prints that are not netcrab's.
fn is_noise(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with("qemu-")
        || l.contains(":fixme:")
        || l.starts_with("wine: ")
        || l.contains("err:winediag")
}

#[derive(Default)]
struct Captured {
    stdout: Vec<u8>,
    stderr: String,
    stdout_closed: bool,
    stderr_closed: bool,
}

/// A running netcrab.
pub struct Proc {
    pub argv: Vec<String>,
    child: Child,
    stdin: Option<ChildStdin>,
    cap: Arc<(Mutex<Captured>, Condvar)>,
    status: Option<ExitStatus>,
}

/// Options for starting a process.
pub struct Spawn<'a> {
    pub args: &'a [&'a str],
    /// Keep stdin open as a pipe (otherwise it reads /dev/null).
    pub stdin: bool,
    /// Where stdout goes instead of being collected (`None`: collect it).
    pub stdout: Option<Stdio>,
    /// Run inside this network namespace.
    pub ns: Option<&'a str>,
}

pub fn start(args: &[&str]) -> Proc {
    spawn(Spawn {
        args,
        stdin: true,
        stdout: None,
        ns: None,
    })
}

/// Start with stdin from /dev/null.
pub fn start_no_input(args: &[&str]) -> Proc {
    spawn(Spawn {
        args,
        stdin: false,
        stdout: None,
        ns: None,
    })
}

pub fn spawn(s: Spawn) -> Proc {
    let mut c = command_in(s.ns, s.args);
    c.stdin(if s.stdin {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    spawn_command(c, s.args, s.stdout)
}

/// How netcrab's stdin is set up: what unattended runs have (an open pipe
/// that never sends, as from a script or `sleep | netcrab`), `/dev/null`,
/// and a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdin {
    Pipe,
    Null,
    Tty,
}

/// The three ways input-dependent behaviour is tested.
pub const EVERY_STDIN: [Stdin; 3] = [Stdin::Pipe, Stdin::Null, Stdin::Tty];

/// Start with stdin set up as `kind`; `None` (with the reason printed) when
/// a terminal cannot be had here (no python3 to open a pseudo-terminal, or
/// Wine, whose console is not a Unix terminal).
pub fn start_with(kind: Stdin, args: &[&str]) -> Option<Proc> {
    match kind {
        Stdin::Pipe => Some(start(args)),
        Stdin::Null => Some(start_no_input(args)),
        Stdin::Tty => {
            if runner_kind() == Runner::Wine {
                skip("terminal stdin: Wine's console is not a Unix terminal");
                return None;
            }
            if Command::new("python3").arg("-V").output().is_err() {
                skip("terminal stdin: python3 opens the pseudo-terminal");
                return None;
            }
            // netcrab runs in python's place (exec), so killing the test's
            // child kills netcrab itself; a forked keeper holds the
            // pseudo-terminal's master open (nobody types) and leaves as
            // soon as netcrab has gone (it is then reparented).
            const TTY: &str = "import os, pty, sys, time\n\
                m, s = pty.openpty()\n\
                me = os.getpid()\n\
                if os.fork() == 0:\n\
                \x20   os.close(s)\n\
                \x20   null = os.open(os.devnull, os.O_RDWR)\n\
                \x20   [os.dup2(null, fd) for fd in (0, 1, 2)]\n\
                \x20   while os.getppid() == me:\n\
                \x20       time.sleep(0.05)\n\
                \x20   os._exit(0)\n\
                os.dup2(s, 0)\n\
                os.close(s)\n\
                os.close(m)\n\
                os.execvp(sys.argv[1], sys.argv[1:])\n";
            let mut c = Command::new("python3");
            c.args(["-c", TTY]);
            c.args(runner_words());
            c.arg(binary());
            c.args(args);
            c.stdin(Stdio::null());
            Some(spawn_command(c, args, None))
        }
    }
}

pub fn spawn_command(mut c: Command, args: &[&str], stdout: Option<Stdio>) -> Proc {
    c.stdout(stdout.unwrap_or_else(Stdio::piped))
        .stderr(Stdio::piped());
    let argv: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start netcrab {argv:?}: {e}"));
    let cap = Arc::new((Mutex::new(Captured::default()), Condvar::new()));
    if let Some(mut out) = child.stdout.take() {
        let cap = cap.clone();
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = out.read(&mut buf).unwrap_or(0);
                let (m, cv) = &*cap;
                let mut g = m.lock().unwrap();
                if n == 0 {
                    g.stdout_closed = true;
                    cv.notify_all();
                    return;
                }
                g.stdout.extend_from_slice(&buf[..n]);
                cv.notify_all();
            }
        });
    } else {
        cap.0.lock().unwrap().stdout_closed = true;
    }
    if let Some(err) = child.stderr.take() {
        let cap = cap.clone();
        thread::spawn(move || {
            let mut r = std::io::BufReader::new(err);
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = std::io::BufRead::read_until(&mut r, b'\n', &mut line).unwrap_or(0);
                let (m, cv) = &*cap;
                let mut g = m.lock().unwrap();
                if n == 0 {
                    g.stderr_closed = true;
                    cv.notify_all();
                    return;
                }
                let text = String::from_utf8_lossy(&line).replace('\r', "");
                if !is_noise(&text) {
                    g.stderr.push_str(&text);
                }
                cv.notify_all();
            }
        });
    }
    let stdin = child.stdin.take();
    Proc {
        argv,
        child,
        stdin,
        cap,
        status: None,
    }
}

impl Proc {
    /// Everything stderr has said so far.
    pub fn stderr(&self) -> String {
        self.cap.0.lock().unwrap().stderr.clone()
    }

    /// Everything stdout has said so far.
    pub fn stdout(&self) -> Vec<u8> {
        self.cap.0.lock().unwrap().stdout.clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A full description for failure messages.
    pub fn report(&mut self) -> String {
        let status = self.status.or_else(|| self.child.try_wait().ok().flatten());
        let g = self.cap.0.lock().unwrap();
        let out = String::from_utf8_lossy(&g.stdout[..g.stdout.len().min(2000)]).into_owned();
        format!(
            "\n--- netcrab {:?}\n--- status: {:?}\n--- stdout ({} bytes, first 2000):\n{}\n--- stderr:\n{}---",
            self.argv,
            status,
            g.stdout.len(),
            out,
            g.stderr
        )
    }

    /// Panic with the full report.
    pub fn fail(&mut self, why: &str) -> ! {
        let r = self.report();
        let _ = self.child.kill();
        panic!("{why}{r}");
    }

    /// Wait until `pred(stderr)` holds; fail after the patience runs out.
    pub fn wait_stderr<T>(&mut self, what: &str, mut pred: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + patience();
        loop {
            {
                let (m, cv) = &*self.cap;
                let g = m.lock().unwrap();
                if let Some(v) = pred(&g.stderr) {
                    return v;
                }
                let closed = g.stderr_closed;
                let now = Instant::now();
                if !closed && now < deadline {
                    let _ = cv.wait_timeout(g, (deadline - now).min(Duration::from_millis(50)));
                    continue;
                }
            }
            // stderr closed (the process ended) or time is up.
            if Instant::now() >= deadline || self.child.try_wait().ok().flatten().is_some() {
                let _ = self.child.try_wait().map(|s| self.status = s);
                self.fail(&format!("waiting for {what} on stderr"));
            }
        }
    }

    /// Wait for a stderr line containing `needle`.
    pub fn wait_for(&mut self, needle: &str) {
        self.wait_stderr(needle, |s| s.contains(needle).then_some(()));
    }

    /// Wait for `n` "Listening on ADDR" lines and return the addresses.
    pub fn listening(&mut self, n: usize) -> Vec<SocketAddr> {
        self.wait_stderr(&format!("{n} 'Listening on' lines"), |s| {
            let addrs: Vec<SocketAddr> = s
                .lines()
                .filter_map(|l| l.strip_prefix("Listening on "))
                .filter_map(|l| l.split(',').next())
                .filter_map(|a| a.trim().parse().ok())
                .collect();
            (addrs.len() >= n).then_some(addrs)
        })
    }

    /// The first listening address.
    pub fn listen_addr(&mut self) -> SocketAddr {
        self.listening(1)[0]
    }

    /// Wait until stdout holds at least `n` bytes.
    pub fn wait_stdout_len(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + patience();
        loop {
            {
                let (m, cv) = &*self.cap;
                let g = m.lock().unwrap();
                if g.stdout.len() >= n {
                    return g.stdout.clone();
                }
                let now = Instant::now();
                if !g.stdout_closed && now < deadline {
                    let _ = cv.wait_timeout(g, (deadline - now).min(Duration::from_millis(50)));
                    continue;
                }
            }
            self.fail(&format!("waiting for {n} bytes on stdout"));
        }
    }

    /// Write to stdin (from this thread; keep it small) .
    pub fn write_stdin(&mut self, data: &[u8]) {
        if let Some(s) = self.stdin.as_mut() {
            if s.write_all(data).and_then(|_| s.flush()).is_err() {
                self.fail("writing to stdin");
            }
        }
    }

    /// Feed `data` to stdin from a thread, then close stdin.
    pub fn feed_stdin(&mut self, data: Vec<u8>) -> thread::JoinHandle<()> {
        let mut s = self.stdin.take().expect("stdin is piped");
        thread::spawn(move || {
            let _ = s.write_all(&data);
        })
    }

    /// Close stdin (EOF for netcrab).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Wait for the process to exit; fail if it takes longer than the patience.
    pub fn finish(&mut self) -> Output {
        let deadline = Instant::now() + patience();
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => {
                    self.status = Some(st);
                    break;
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => self.fail("netcrab did not exit in time"),
            }
        }
        // Let the reader threads drain the pipes.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let g = self.cap.0.lock().unwrap();
            if (g.stdout_closed && g.stderr_closed) || Instant::now() > deadline {
                break;
            }
            drop(g);
            thread::sleep(Duration::from_millis(10));
        }
        let g = self.cap.0.lock().unwrap();
        let out = Output {
            code: self.status.and_then(|s| s.code()),
            stdout: g.stdout.clone(),
            stderr: g.stderr.clone(),
        };
        drop(g);
        if out.stderr.contains("panicked") {
            let r = self.report();
            panic!("netcrab panicked{r}");
        }
        out
    }

    /// Expect the process to exit with `code`.
    pub fn expect_exit(&mut self, code: i32) -> Output {
        let out = self.finish();
        if out.code != Some(code) {
            self.fail(&format!("expected exit code {code}"));
        }
        out
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished process left.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Run to completion with stdin from /dev/null.
pub fn run(args: &[&str]) -> (Proc, Output) {
    let mut p = start_no_input(args);
    let out = p.finish();
    (p, out)
}

/// Assert two byte strings are equal, comparing length and SHA-256 (a diff
/// of megabytes would be unreadable); a mismatch names the first offset that differs.
pub fn same_content(what: &str, got: &[u8], want: &[u8]) {
    let (got_hash, want_hash) = (sha256::hex(got), sha256::hex(want));
    if got.len() == want.len() && got_hash == want_hash {
        return;
    }
    let at = sha256::first_difference(got, want).unwrap_or(0);
    let byte = |b: &[u8]| {
        b.get(at)
            .map_or("end".to_string(), |v| format!("0x{v:02x}"))
    };
    panic!(
        "{what}: content differs at offset {at} (got {}, want {}): got {} bytes sha256 {got_hash}, \
         want {} bytes sha256 {want_hash}",
        byte(got),
        byte(want),
        got.len(),
        want.len()
    );
}

/// Deterministic pseudo-random bytes (xorshift), different per seed.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Whether this machine can bind IPv6 loopback.
pub fn have_ipv6() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// A port that is free right now (bound, then released) for TCP and UDP on
/// every address. It is picked outside the kernel's ephemeral range: a port
/// the kernel hands out for port 0 may be handed out again at once (as a
/// listener's or a connection's local port in a test running beside this
/// one) before netcrab binds it.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static GIVEN: Mutex<std::collections::BTreeSet<u16>> =
        Mutex::new(std::collections::BTreeSet::new());
    let (low, high) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| {
            let mut w = t.split_whitespace().map(|n| n.parse::<u32>().ok());
            Some((w.next()??, w.next()??))
        })
        .unwrap_or((49152, 65535));
    // Below the ephemeral range if there is room, else above it; never in
    // 10000-31999, where tests/scan.rs scans blocks of ports and would reach
    // these tests' listeners.
    let (from, to) = if low > 10_000 {
        (5_000, 9_999)
    } else {
        (high + 1, 65_535)
    };
    if to > from {
        for _ in 0..200 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let mix = (u64::from(std::process::id()) << 20 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let port = (from + (mix >> 33) as u32 % (to - from)) as u16;
            // Never the same port twice in one run: a test that wants a
            // closed port would otherwise reach another test's listener.
            if !GIVEN.lock().unwrap().insert(port) {
                continue;
            }
            let tcp = std::net::TcpListener::bind(("0.0.0.0", port)).is_ok();
            if tcp && std::net::UdpSocket::bind(("0.0.0.0", port)).is_ok() {
                return port;
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Resident memory of a process in KiB (Linux /proc), if readable.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// stderr has exactly one line about stdout, and it says `what` (a failed
/// stdout is reported once, not per chunk).
pub fn one_stdout_line(stderr: &str, what: &str, context: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("stdout")).collect();
    assert_eq!(lines.len(), 1, "{context}: one line about stdout: {stderr}");
    assert!(lines[0].contains(what), "{context}: {stderr}");
}
