//! Command-line behaviour: help, version, and bad input (exit 2, one line
//! naming the bad part, never a panic).

use crate::util::{run, start_no_input};

#[test]
fn version_prints_name_and_version() {
    for flag in ["-V", "--version"] {
        let (_, out) = run(&[flag]);
        assert_eq!(out.code, Some(0), "{out:?}");
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.starts_with("netcrab 0."), "{s}");
    }
}

/// A stdout that cannot be written (a full disk) is a runtime error with one
/// line, not a panic; a reader that went away (`| head`) is not an error.
#[cfg(target_os = "linux")]
#[test]
fn unwritable_stdout_is_an_error_not_a_panic() {
    if crate::util::skipped_under_wine("/dev/full is a Linux device") {
        return;
    }
    for flag in ["--version", "--help", "--ifaces"] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = crate::util::command(&[flag])
            .stdin(std::process::Stdio::null())
            .stdout(full)
            .output()
            .expect("run netcrab");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag}: {err}");
        assert_eq!(err.lines().count(), 1, "{flag}: {err}");
        assert!(
            err.starts_with("netcrab: writing to stdout: "),
            "{flag}: {err}"
        );
    }
}

#[test]
fn help_is_grouped_and_exits_0() {
    for flag in ["-h", "--help"] {
        let (_, out) = run(&[flag]);
        assert_eq!(out.code, Some(0), "{out:?}");
        let s = String::from_utf8_lossy(&out.stdout);
        for heading in [
            "Usage:",
            "Addresses:",
            "Connections:",
            "Examples:",
            "-L ADDR:PORT",
        ] {
            assert!(s.contains(heading), "help lacks {heading}:\n{s}");
        }
    }
}

#[test]
fn bad_command_lines_exit_2_naming_the_bad_part() {
    let long_host = format!("{}:80", "a".repeat(10_000));
    let table: Vec<(Vec<&str>, &str)> = vec![
        (vec!["127.0.0.1:70000"], "'70000'"),
        (vec!["127.0.0.1:abc"], "'abc'"),
        (vec!["127.0.0.1"], "missing port"),
        (vec!["127.0.0.1:"], "missing port"),
        (vec![":80"], "missing host"),
        (vec!["[::1:80"], "']'"),
        (vec!["[::1]x:80"], "x:80"),
        (vec!["[zz::1]:80"], "zz::1"),
        (vec!["127.0.0.1:80x0"], "x0"),
        (vec!["127.0.0.1:80x99999999999"], "x99999999999"),
        (vec!["a=b=c:1"], "'='"),
        (vec!["bad host:80"], "bad host"),
        (vec!["host_name!:80"], "host_name!"),
        (vec![long_host.as_str()], "longer than"),
        (vec!["-l", "127.0.0.1:99999"], "'99999'"),
        (vec!["-l", "localhost"], "missing port"),
        (vec!["-l", ""], "empty listen address"),
        (vec!["-l", "127.0.0.1:1", "-L", "127.0.0.1:2"], "-l and -L"),
        (vec!["-4", "-6", "h:1"], "-4 and -6"),
        (vec!["--fm", "bogus", "h:1"], "'bogus'"),
        (vec!["-i", "bogus", "h:1"], "'bogus'"),
        (vec!["-o", "bogus", "h:1"], "'bogus'"),
        (vec!["--ss", "0", "h:1"], "--ss"),
        (vec!["--ss", "abc", "h:1"], "'abc'"),
        (vec!["--ss=", "h:1"], "--ss"),
        (vec!["--ttl", "300", "h:1"], "'300'"),
        (vec!["-m", "-1", "-L", "127.0.0.1:1"], "'-1'"),
        (vec!["-w", "abc", "h:1"], "'abc'"),
        (vec!["-w", "nan", "h:1"], "'nan'"),
        (vec!["-q", "-5", "h:1"], "'-5'"),
        (vec!["--bogus"], "--bogus"),
        (vec!["-j", "h:1"], "-j"),
        (vec!["-lj"], "-lj"),
        (vec![], "nothing to do"),
        (vec!["-r", "-L", "127.0.0.1:1"], "-r"),
        (vec!["-k"], "-k"),
        (vec!["-m", "0", "-l", "127.0.0.1:1"], "-m 0"),
        (vec!["-N", "--no-shutdown", "h:1"], "--no-shutdown"),
        (vec!["-n", "localhost:80"], "'localhost'"),
        (vec!["[fe80::1%]:80"], "zone"),
        (vec!["-p", "70000", "h:1"], "'70000'"),
        (vec!["--sb", "0", "h:1"], "--sb"),
        (vec!["--rb", "lots", "h:1"], "'lots'"),
        (vec!["--fm"], "--fm"),
        (vec!["-X", "ftp", "-x", "127.0.0.1", "h:1"], "'ftp'"),
        (
            vec!["--proxy-type", "socks9", "--proxy", "p", "h:1"],
            "'socks9'",
        ),
        (vec!["-X", "connect", "h:1"], "needs a proxy address"),
        (vec!["-x", "p", "--proxy", "p", "h:1"], "-x and --proxy"),
        (
            vec!["-X", "5", "--proxy-type", "http", "-x", "p", "h:1"],
            "-X and --proxy-type",
        ),
        (
            vec!["--proxy-auth", "u:pw", "--proxy", "p", "h:1"],
            "password on the command line",
        ),
        (
            vec!["-P", "u:pw", "-x", "p", "h:1"],
            "password on the command line",
        ),
        (
            vec!["--proxy-dns", "sometimes", "--proxy", "p", "h:1"],
            "'sometimes'",
        ),
        (
            vec!["-X", "4", "--proxy-dns", "remote", "-x", "p", "h:1"],
            "SOCKS4",
        ),
        (vec!["-x", "p:99999", "h:1"], "'99999'"),
        (vec!["-u", "-x", "p", "h:1"], "TCP only"),
        (vec!["--proxy", "p", "-l", "127.0.0.1:0"], "give a target"),
        (
            vec!["--proxy-pass-file", "f", "--proxy", "p", "h:1"],
            "needs a user",
        ),
        (vec!["--no-proxy", "a b", "--proxy", "p", "h:1"], "'a b'"),
    ];
    assert!(table.len() >= 40);
    // A usage error is immediate; emulators start slowly, so they get more.
    let limit = if crate::util::runner_kind() == crate::util::Runner::Native {
        std::time::Duration::from_secs(1)
    } else {
        std::time::Duration::from_secs(15)
    };
    for (args, needle) in &table {
        // A start that the machine's load delays once is retried; netcrab
        // waiting on something (a lookup, a socket) is slow both times.
        let mut tries = 0;
        let (mut p, out) = loop {
            tries += 1;
            let started = std::time::Instant::now();
            let mut p = start_no_input(args);
            let out = p.finish();
            let took = started.elapsed();
            if took <= limit {
                break (p, out);
            }
            if tries == 2 {
                p.fail(&format!("took {took:?} to reject the command line (twice)"));
            }
        };
        let lines: Vec<&str> = out.stderr.lines().collect();
        if out.code != Some(2)
            || lines.len() != 1
            || !out.stderr.contains(needle)
            || !out.stdout.is_empty()
        {
            p.fail(&format!(
                "expected exit 2 and one stderr line containing {needle:?}"
            ));
        }
        assert!(lines[0].starts_with("netcrab: "), "{}", lines[0]);
        assert!(lines[0].len() < 300, "message too long: {}", lines[0]);
    }
}

#[cfg(unix)]
#[test]
fn invalid_utf8_argument_exits_2() {
    if crate::util::skipped_under_wine("Windows arguments are UTF-16: bad bytes arrive as U+FFFD") {
        return;
    }
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"127.0.0.1:8\xff");
    let out = crate::util::command(&[]).arg(bad).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not valid UTF-8"), "{err}");
}
