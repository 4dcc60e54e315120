//! Command-line behaviour: help, version, and bad input (exit 2, one line
//! naming the bad part, never a panic).

use crate::util::peers::{connect, read_n, udp_peer};
use crate::util::{have_ipv6, run, skip, start_no_input};
use std::io::Write;

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
        (vec!["-lj"], "'j'"),
        (vec!["-vj", "h:1"], "-vj"),
        (vec![], "nothing to do"),
        (vec!["-r", "-L", "127.0.0.1:1"], "-r"),
        (vec!["-k"], "-k"),
        (vec!["-m", "0", "-l", "127.0.0.1:1"], "-m 0"),
        (vec!["-N", "--no-shutdown", "h:1"], "--no-shutdown"),
        (vec!["-n", "localhost:80"], "'localhost'"),
        (vec!["[fe80::1%]:80"], "zone"),
        (vec!["-p", "70000", "h:1"], "'70000'"),
        (vec!["--sb", "2000000000", "h:1"], "--sb"),
        (vec!["--rb", "lots", "h:1"], "'lots'"),
        (vec!["--fm"], "missing value for --fm"),
        // A flag missing its value, last on the line or before another flag,
        // is named (it used to connect, or name the value '--').
        (vec!["127.0.0.1:1", "-e"], "missing value for -e"),
        (vec!["127.0.0.1:1", "--exec"], "missing value for --exec"),
        (vec!["127.0.0.1:1", "-i"], "missing value for -i"),
        (vec!["127.0.0.1:1", "--ss"], "missing value for --ss"),
        (vec!["-L", "127.0.0.1:1", "-m"], "missing value for -m"),
        (vec!["127.0.0.1:1", "-p"], "missing value for -p"),
        (vec!["127.0.0.1:1", "-w"], "missing value for -w"),
        (vec!["-lvp"], "missing value for -p"),
        (
            vec!["-m", "-v", "-L", "127.0.0.1:1"],
            "missing value for -m",
        ),
        (vec!["-e", "--", "127.0.0.1:1"], "missing value for -e"),
        (
            vec!["--exec", "-h", "127.0.0.1:1"],
            "missing value for --exec",
        ),
        // A literal address that -4/-6 rules out (was exit 1 at run time).
        (vec!["-4", "[::1]:80"], "'[::1]'"),
        (vec!["-6", "127.0.0.1:80"], "'127.0.0.1'"),
        (vec!["-6", "-l", "127.0.0.1:0"], "'127.0.0.1'"),
        (vec!["-4", "-L[::1]:0"], "'[::1]'"),
        (vec!["-6", "[::1]:0=127.0.0.1:80"], "'127.0.0.1'"),
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
    let mut table = table;
    if !cfg!(feature = "proxy") {
        // Without the feature every proxy flag is refused the same way.
        let proxy_flag = |a: &&str| {
            matches!(*a, "-x" | "-X" | "-P") || a.starts_with("--proxy") || *a == "--no-proxy"
        };
        table.retain(|(args, _)| !args.iter().any(proxy_flag));
        table.push((vec!["-x", "p", "h:1"], "'proxy' feature"));
    }
    if cfg!(feature = "qos") {
        // A QoS ping period of 0 is no period; elsewhere 0 is only ignored.
        let row = ["-u", "-i", "pfqoscli", "--stats-time", "0", "127.0.0.1:1"];
        table.push((row.to_vec(), "--stats-time"));
    }
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

/// Send `data` to netcrab at `addr` over TCP and check it reaches stdout.
fn tcp_reaches_stdout(p: &mut crate::util::Proc, addr: std::net::SocketAddr, data: &[u8]) {
    let mut c = connect(addr);
    c.write_all(data).expect("write to netcrab");
    let got = p.wait_stdout_len(data.len());
    assert_eq!(got, data, "{}", p.report());
}

/// 0.11 took a value attached to `-l`/`-L`, also at the end of a group
/// (`-uL127.0.0.1:0`) and after `=`; these listen and carry data.
#[test]
fn attached_listen_addresses_listen() {
    let mut spellings = vec![
        "-l127.0.0.1:0",
        "-L127.0.0.1:0",
        "-l=127.0.0.1:0",
        "-vL127.0.0.1:0",
    ];
    if have_ipv6() {
        spellings.push("-L[::1]:0");
    } else {
        skip("no IPv6 loopback: -L[::1]:0 not tried");
    }
    for spelling in spellings {
        let mut p = start_no_input(&[spelling]);
        let addr = p.listen_addr();
        assert!(addr.ip().is_loopback(), "{spelling}: {addr}");
        tcp_reaches_stdout(&mut p, addr, format!("via {spelling}\n").as_bytes());
    }
    // UDP: the grouped form.
    let mut p = start_no_input(&["-uL127.0.0.1:0"]);
    let addr = p.listen_addr();
    let peer = udp_peer();
    peer.send_to(b"udp via -uL\n", addr).expect("send");
    assert_eq!(p.wait_stdout_len(12), b"udp via -uL\n");
}

/// A netcat group ending in a flag with its value attached: `-lvp PORT`
/// written as one word.
#[test]
fn grouped_listen_with_attached_port_listens() {
    let port = crate::util::free_port();
    let word = format!("-lvp{port}");
    let mut p = start_no_input(&[&word]);
    let addrs = p.listening(1);
    assert!(addrs.iter().all(|a| a.port() == port), "{addrs:?}");
    tcp_reaches_stdout(
        &mut p,
        format!("127.0.0.1:{port}").parse().unwrap(),
        b"grouped\n",
    );
}

/// `-i=echo`, `-o=none`, `-f=hub`, `-m=3`: the value without the `=`, as
/// 0.11 read them (netcrab used to read `=echo`).
#[test]
fn short_flags_with_equals_take_the_value() {
    // -i=echo: what a client sends comes back.
    let mut p = start_no_input(&["-i=echo", "-l", "127.0.0.1:0"]);
    let mut c = connect(p.listen_addr());
    c.write_all(b"echo me").unwrap();
    assert_eq!(read_n(&mut c, 7), b"echo me");
    drop(p);

    // -f=hub -m=3 -o=none: three clients at once, one's bytes reach the
    // other two, and nothing reaches stdout.
    let mut p = start_no_input(&["-f=hub", "-m=3", "-o=none", "-L", "127.0.0.1:0"]);
    let addr = p.listen_addr();
    let mut clients: Vec<_> = (0..3).map(|_| connect(addr)).collect();
    p.wait_stderr("3 accepted clients", |s| {
        (s.matches("Accepted connection from").count() >= 3).then_some(())
    });
    clients[0].write_all(b"to the hub").unwrap();
    for c in &mut clients[1..] {
        assert_eq!(read_n(c, 10), b"to the hub");
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        p.stdout().is_empty(),
        "-o=none wrote to stdout{}",
        p.report()
    );
}

/// Flags that do nothing in the chosen mode were taken by 0.11; netcrab
/// takes them too, with one warning line each, and runs.
#[test]
fn flags_without_effect_warn_and_run() {
    let mut cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["--sb", "0"], vec!["--sb 0"]),
        (vec!["--rb", "0"], vec!["--rb 0"]),
    ];
    if cfg!(feature = "gen") {
        cases.push((vec!["--rvals", "ascii"], vec!["--rvals"]));
        cases.push((
            vec!["--rsizemin", "0", "--rsizemax", "5"],
            vec!["--rsizemin", "--rsizemax"],
        ));
    }
    if cfg!(feature = "stats") {
        cases.push((vec!["--stats-time", "0"], vec!["--stats-time 0"]));
    }
    if cfg!(feature = "exec") {
        let flags = vec!["--exec-each", "cat", "-i", "none", "-o", "none"];
        cases.push((flags, vec!["-i has no effect", "-o has no effect"]));
    }
    for (flags, names) in cases {
        let mut args = flags.clone();
        args.extend(["-l", "127.0.0.1:0"]);
        let mut p = start_no_input(&args);
        let addr = p.listen_addr();
        let warnings: Vec<String> = p
            .stderr()
            .lines()
            .filter(|l| l.contains("warning"))
            .map(String::from)
            .collect();
        assert_eq!(warnings.len(), names.len(), "{flags:?}: {warnings:?}");
        for (w, name) in warnings.iter().zip(&names) {
            assert!(w.starts_with("netcrab: warning: "), "{w}");
            assert!(w.contains(name), "{flags:?}: {w} should name {name}");
        }
        if !flags.contains(&"--exec-each") {
            tcp_reaches_stdout(&mut p, addr, b"still works\n");
        }
    }
}

/// netcat habit: a service name where a port goes (`localhost ms-sql-s`, `-l ADDR:NAME`),
/// from the services database; an unknown one is a usage error naming it.
#[test]
fn service_names_stand_for_their_ports() {
    // ms-sql-s (1433/tcp) is in Debian's /etc/services and in Wine's services file.
    if std::net::TcpListener::bind("127.0.0.1:1433").is_err() {
        skip("port 1433 (ms-sql-s) is in use here");
        return;
    }
    let mut l = start_no_input(&["-l", "127.0.0.1:ms-sql-s", "-i", "none"]);
    let addr = l.listen_addr();
    assert_eq!(addr.port(), 1433, "{}", l.report());
    let (_, out) = {
        let mut c = crate::util::command(&["localhost", "ms-sql-s"]);
        c.stdin(std::process::Stdio::piped());
        let mut child = c
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run netcrab");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"by name\n")
            .expect("write");
        ((), child.wait_with_output().expect("wait"))
    };
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(l.wait_stdout_len(8), b"by name\n");
    let (_, bad) = run(&["127.0.0.1:no-such-service-here"]);
    assert_eq!(bad.code, Some(2), "{bad:?}");
    let err = &bad.stderr;
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("unknown service 'no-such-service-here'"),
        "{err}"
    );
}

/// ncat's spelling: `--allow`/`--deny` take host names (every address they resolve to), and
/// their files take several entries on a line; `-n` refuses a name.
#[test]
fn access_rules_take_host_names() {
    let file = std::env::temp_dir().join(format!("netcrab-acl-names-{}", std::process::id()));
    std::fs::write(&file, "1.2.3.4 localhost\n").unwrap();
    let path = file.to_string_lossy().to_string();
    for (flag, value, admitted) in [
        ("--allow", "localhost", true),
        ("--deny", "localhost", false),
        ("--allow-file", path.as_str(), true),
        ("--deny-file", path.as_str(), false),
    ] {
        let mut p = start_no_input(&["-L", "127.0.0.1:0", "-i", "none", "-v", flag, value]);
        let addr = p.listen_addr();
        let mut c = connect(addr);
        let _ = c.write_all(b"knock\n");
        if admitted {
            assert_eq!(p.wait_stdout_len(6), b"knock\n", "{flag} {value}");
        } else {
            p.wait_for("Refused connection from 127.0.0.1");
            assert_eq!(p.stdout(), b"", "{flag} {value}");
        }
        p.kill();
    }
    let _ = std::fs::remove_file(&file);
    let (_, out) = run(&["-n", "-l", "127.0.0.1:0", "--allow", "localhost"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("-n"), "{out:?}");
}
