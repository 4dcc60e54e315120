//! Signals: SIGTERM and SIGHUP end a run as Ctrl-C does (what arrived is
//! written out, `-e`/`--exec-each` children end, the terminal is restored,
//! exit 128 + the signal's number), and a signal ignored at start stays
//! ignored.

use crate::util::peers::{self, listener};
use crate::util::{runner_kind, skip, spawn_command, start_no_input, start_with, Proc, Runner};
use crate::util::{Stdin, EVERY_STDIN};
use std::io::Write;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

fn words() -> Vec<String> {
    let mut w: Vec<String> = std::env::var("NETCRAB_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    w.push(
        std::env::var("NETCRAB_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netcrab").to_string()),
    );
    w
}

fn send(p: &mut Proc, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &p.pid().to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        p.fail(&format!("kill -{sig} failed"));
    }
}

fn unix_signals() -> bool {
    if runner_kind() == Runner::Wine {
        skip("Unix signals: Windows has console events instead");
        return false;
    }
    true
}

#[test]
fn sigterm_and_sighup_flush_what_arrived_and_exit_128_plus_n() {
    if !unix_signals() {
        return;
    }
    for (sig, code) in [("TERM", 143), ("HUP", 129)] {
        for kind in EVERY_STDIN {
            let Some(mut p) = start_with(kind, &["-l", "127.0.0.1:0"]) else {
                continue;
            };
            let addr = p.listen_addr();
            let mut c = peers::connect(addr);
            c.write_all(b"partial data").unwrap();
            p.wait_stdout_len(12);
            send(&mut p, sig);
            let out = p.expect_exit(code);
            assert_eq!(out.stdout, b"partial data", "SIG{sig}, stdin {kind:?}");
        }
    }
}

/// Whether process `pid` is gone (or a zombie nobody will reap: not ours).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn sigterm_ends_exec_each_children() {
    if !cfg!(feature = "exec") {
        crate::util::skip("needs the 'exec' feature (-e, --exec-each)");
        return;
    }
    if !unix_signals() {
        return;
    }
    if !std::path::Path::new("/proc/self/stat").exists() {
        return skip("no /proc to look for the children");
    }
    let mut p = start_no_input(&["-l", "127.0.0.1:0", "-v", "--exec-each", "exec sleep 30"]);
    let addr = p.listen_addr();
    let _c = peers::connect(addr);
    let pid: u32 = p.wait_stderr("the child's pid", |s| {
        let at = s.find("Started command (pid ")?;
        let rest = &s[at + "Started command (pid ".len()..];
        rest.split(')').next()?.parse().ok()
    });
    assert!(!gone(pid), "the child runs");
    send(&mut p, "TERM");
    p.expect_exit(143);
    let deadline = Instant::now() + Duration::from_secs(3);
    while !gone(pid) {
        if Instant::now() > deadline {
            p.fail(&format!("--exec-each child {pid} outlived SIGTERM"));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_restores_the_terminal() {
    if !unix_signals() {
        return;
    }
    if Command::new("python3").arg("-V").output().is_err() {
        return skip("python3 drives the pseudo-terminal");
    }
    let (l, addr) = listener();
    // netcrab on a pseudo-terminal in character mode; SIGTERM; then report
    // its exit status and whether line mode (ICANON) is back.
    let script = format!(
        "import os, pty, signal, termios, time, subprocess\n\
         m, s = pty.openpty()\n\
         p = subprocess.Popen({:?} + ['-i', 'stdin', '{addr}'], stdin=s, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n\
         time.sleep(1.0)\n\
         before = bool(termios.tcgetattr(s)[3] & termios.ICANON)\n\
         p.send_signal(signal.SIGTERM)\n\
         code = p.wait(timeout=15)\n\
         print('before', before, 'after', bool(termios.tcgetattr(s)[3] & termios.ICANON), 'code', code, flush=True)\n",
        words()
    );
    let driver = Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let conn = peers::try_accept(&l, crate::util::patience());
    let out = driver.wait_with_output().expect("driver");
    drop(conn);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "before False after True code 143"
    );
}

#[test]
fn a_sigint_ignored_at_start_stays_ignored() {
    if !unix_signals() {
        return;
    }
    for kind in [Stdin::Pipe, Stdin::Null] {
        // A script's background job: its shell ignores SIGINT for it.
        let args = ["-l", "127.0.0.1:0"];
        let mut c = Command::new("sh");
        c.args(["-c", "trap '' INT; exec \"$@\"", "sh"])
            .args(words())
            .args(args);
        c.stdin(if kind == Stdin::Pipe {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        });
        let mut p = spawn_command(c, &args, None);
        p.listen_addr();
        send(&mut p, "INT");
        thread::sleep(Duration::from_millis(500));
        assert!(
            p.running(),
            "SIGINT ended it (stdin {kind:?})\n{}",
            p.report()
        );
        send(&mut p, "TERM");
        p.expect_exit(143);
    }
}
