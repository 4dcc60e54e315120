//! Local input and output modes and the optional features: echo, rand,
//! fixed, -o none, -e / --exec-each, delays and drops, stats, QoS, and the
//! usage errors of a build without a feature. A test of a feature this
//! build leaves out prints `SKIPPED: ...` and returns.

use crate::util::peers::{
    accept, connect, exchange, listener, read_n, read_to_end, udp_peer, udp_quiet_for,
    udp_recv as recv,
};
use crate::util::{random_bytes, sha256, skip, skipped_under_wine, start, start_no_input};

/// Why the Unix-command tests skip under Wine (cmd.exe runs the commands
/// there: see `exec_runs_through_cmd_under_windows`).
const UNIX_SHELL: &str = "uses Unix shell commands; under Windows -e runs cmd /C";
use std::io::{Read, Write};
use std::net::{Shutdown, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

/// Whether the tested build has `feature` (features apply to this test
/// crate too); prints the skip reason when not.
fn has(feature: &str, on: bool) -> bool {
    if !on {
        skip(&format!("needs the '{feature}' feature"));
    }
    on
}

fn quiet_for(s: &UdpSocket, ms: u64) -> bool {
    udp_quiet_for(s, ms)
}

#[test]
fn echo_returns_4mib_unchanged() {
    let mut p = start_no_input(&["-l", "127.0.0.1:0", "-i", "echo", "-o", "none"]);
    let addr = p.listen_addr();
    let data = random_bytes(4 << 20, 61);
    let back = exchange(connect(addr), data.clone());
    assert_eq!(
        (back.len(), sha256::hex(&back)),
        (data.len(), sha256::hex(&data))
    );
    let out = p.expect_exit(0);
    assert!(
        out.stdout.is_empty(),
        "-o none printed {} bytes",
        out.stdout.len()
    );
}

#[test]
fn output_none_prints_nothing_while_data_flows() {
    let mut p = start_no_input(&["-l", "127.0.0.1:0", "-o", "none"]);
    let addr = p.listen_addr();
    let mut c = connect(addr);
    c.write_all(&random_bytes(1 << 20, 62)).unwrap();
    thread::sleep(Duration::from_millis(200));
    assert!(p.stdout().is_empty());
    c.shutdown(Shutdown::Write).unwrap();
    let out = p.expect_exit(0);
    assert!(out.stdout.is_empty());
}

#[test]
fn rand_ascii_is_printable_and_endless() {
    if !has("gen", cfg!(feature = "gen")) {
        return;
    }
    let (l, addr) = listener();
    let a = addr.to_string();
    let _p = start_no_input(&["-i", "rand", "--rvals", "ascii", &a]);
    let (mut s, _) = accept(&l);
    let got = read_n(&mut s, 2 << 20);
    assert!(
        got.iter().all(|b| (0x20..=0x7e).contains(b)),
        "a byte outside 0x20..=0x7E"
    );
    // Not a repeating pattern: many distinct values.
    let mut seen = [false; 256];
    got.iter().for_each(|b| seen[*b as usize] = true);
    assert_eq!(seen.iter().filter(|s| **s).count(), 95);
}

#[test]
fn rand_chunk_sizes_stay_within_bounds() {
    if !has("gen", cfg!(feature = "gen")) {
        return;
    }
    // Over UDP each chunk is one datagram, so its size is visible.
    let s = udp_peer();
    let a = s.local_addr().unwrap().to_string();
    let _p = start_no_input(&[
        "-u",
        "-i",
        "rand",
        "--rsizemin",
        "10",
        "--rsizemax",
        "20",
        &a,
    ]);
    let mut sizes = std::collections::BTreeSet::new();
    for _ in 0..300 {
        let d = recv(&s);
        assert!(
            (10..=20).contains(&d.len()),
            "datagram of {} bytes",
            d.len()
        );
        sizes.insert(d.len());
    }
    assert!(sizes.len() > 5, "sizes hardly vary: {sizes:?}");
}

#[test]
fn rand_bounds_are_checked() {
    if !has("gen", cfg!(feature = "gen")) {
        return;
    }
    for bad in [
        &["--rsizemin", "30", "--rsizemax", "20"][..],
        &["--rsizemin", "0"],
        &["--rsizemax", "x"],
        &["--rvals", "hex"],
    ] {
        let mut args = vec!["-i", "rand", "127.0.0.1:9"];
        args.extend_from_slice(bad);
        let mut p = start_no_input(&args);
        let out = p.expect_exit(2);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
}

#[test]
fn fixed_sends_one_buffer_over_and_over() {
    if !has("gen", cfg!(feature = "gen")) {
        return;
    }
    let s = udp_peer();
    let a = s.local_addr().unwrap().to_string();
    let _p = start_no_input(&["-u", "-i", "fixed", "--ss", "100", &a]);
    let first = recv(&s);
    assert_eq!(first.len(), 100);
    for _ in 0..50 {
        assert_eq!(recv(&s), first);
    }
}

#[test]
fn exec_shared_child_transforms() {
    if !has("exec", cfg!(feature = "exec")) || skipped_under_wine(UNIX_SHELL) {
        return;
    }
    // A line-at-a-time filter (tr alone would hold its output until EOF).
    let cmd = "while read -r l; do echo \"$l\" | tr a-z A-Z; done";
    let mut p = start_no_input(&["-l", "127.0.0.1:0", "-e", cmd]);
    let addr = p.listen_addr();
    let mut c = connect(addr);
    c.write_all(b"hello there\n").unwrap();
    assert_eq!(read_n(&mut c, 12), b"HELLO THERE\n");
    c.write_all(b"again\n").unwrap();
    assert_eq!(read_n(&mut c, 6), b"AGAIN\n");
}

#[test]
fn exec_each_gives_every_client_its_own_child() {
    if !has("exec", cfg!(feature = "exec")) || skipped_under_wine(UNIX_SHELL) {
        return;
    }
    let mut p = start_no_input(&[
        "-L",
        "127.0.0.1:0",
        "-m",
        "0",
        "--exec-each",
        "echo pid $$; tr a-z A-Z",
    ]);
    let addr = p.listen_addr();
    let clients: Vec<_> = (0..3)
        .map(|i| {
            thread::spawn(move || {
                let got = exchange(connect(addr), format!("client {i}\n").into_bytes());
                String::from_utf8_lossy(&got).into_owned()
            })
        })
        .collect();
    let mut pids = std::collections::BTreeSet::new();
    for (i, h) in clients.into_iter().enumerate() {
        let got = h.join().unwrap();
        let mut lines = got.lines();
        let pid = lines.next().unwrap_or_default().to_string();
        assert!(pid.starts_with("pid "), "{got:?}");
        pids.insert(pid);
        // Only its own data, transformed; the child's full output after
        // the client had shut its write side.
        assert_eq!(lines.collect::<Vec<_>>(), vec![format!("CLIENT {i}")]);
    }
    assert_eq!(pids.len(), 3, "children shared: {pids:?}");
}

#[test]
fn exec_each_half_close_delivers_the_whole_answer() {
    if !has("exec", cfg!(feature = "exec")) || skipped_under_wine(UNIX_SHELL) {
        return;
    }
    // wc answers only after its stdin ends: the client's FIN must reach it.
    let mut p = start_no_input(&["-l", "127.0.0.1:0", "--exec-each", "wc -c"]);
    let addr = p.listen_addr();
    let got = exchange(connect(addr), random_bytes(1 << 20, 63));
    assert_eq!(String::from_utf8_lossy(&got).trim(), "1048576");
    p.expect_exit(0);
}

#[test]
fn exec_each_child_exit_closes_the_connection() {
    if !has("exec", cfg!(feature = "exec")) || skipped_under_wine(UNIX_SHELL) {
        return;
    }
    let mut p = start_no_input(&["-l", "127.0.0.1:0", "--exec-each", "echo bye"]);
    let addr = p.listen_addr();
    // The client never closes its side; the child's exit must end it.
    let mut c = connect(addr);
    let t = Instant::now();
    assert_eq!(read_to_end(&mut c), b"bye\n");
    assert!(t.elapsed() < Duration::from_secs(10));
    p.expect_exit(0);
}

#[test]
fn exec_runs_through_cmd_under_windows() {
    if !has("exec", cfg!(feature = "exec")) {
        return;
    }
    if crate::util::runner_kind() != crate::util::Runner::Wine {
        return skip("checks cmd /C, which only the Windows build uses");
    }
    let mut p = start_no_input(&["-l", "127.0.0.1:0", "--exec-each", "echo hi from cmd"]);
    let addr = p.listen_addr();
    let mut c = connect(addr);
    assert_eq!(read_to_end(&mut c), b"hi from cmd\r\n");
    p.expect_exit(0);
}

#[test]
fn exec_of_a_missing_command_says_so() {
    if !has("exec", cfg!(feature = "exec")) || skipped_under_wine(UNIX_SHELL) {
        return;
    }
    let mut p = start_no_input(&["-l", "127.0.0.1:0", "--exec-each", "no-such-command-xyz"]);
    let addr = p.listen_addr();
    let mut c = connect(addr);
    assert!(read_to_end(&mut c).is_empty());
    p.wait_for("could not be run");
}

#[test]
fn send_delay_delays_local_input() {
    if !has("faults", cfg!(feature = "faults")) {
        return;
    }
    let (l, addr) = listener();
    let a = addr.to_string();
    let mut p = start(&["--sdmin", "400", "--sdmax", "400", &a]);
    let (mut s, _) = accept(&l);
    let t = Instant::now();
    p.write_stdin(b"x");
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

#[test]
fn receive_delay_delays_socket_data_not_local_input() {
    if !has("faults", cfg!(feature = "faults")) {
        return;
    }
    let mut p = start(&[
        "-l",
        "127.0.0.1:0",
        "-i",
        "echo",
        "--rdmin",
        "400",
        "--rdmax",
        "400",
    ]);
    let addr = p.listen_addr();
    let mut c = connect(addr);
    let t = Instant::now();
    c.write_all(b"ping").unwrap();
    assert_eq!(read_n(&mut c, 4), b"ping");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

#[test]
fn receive_drop_one_drops_every_datagram_and_zero_none() {
    if !has("faults", cfg!(feature = "faults")) {
        return;
    }
    for (chance, all) in [("1.0", false), ("0", true)] {
        let mut p = start_no_input(&["-u", "-L", "127.0.0.1:0", "-i", "echo", "--rdrop", chance]);
        let addr = p.listen_addr();
        let s = udp_peer();
        for i in 0..20u8 {
            s.send_to(&[i; 10], addr).unwrap();
            if all {
                assert_eq!(recv(&s), vec![i; 10]);
            }
        }
        if !all {
            assert!(quiet_for(&s, 500), "--rdrop 1.0 let a datagram through");
            assert!(p.stdout().is_empty());
        } else {
            p.wait_stdout_len(200);
        }
    }
}

#[test]
fn send_drop_one_sends_nothing() {
    if !has("faults", cfg!(feature = "faults")) {
        return;
    }
    let s = udp_peer();
    let a = s.local_addr().unwrap().to_string();
    let mut p = start(&["-u", "--sdrop", "1", &a]);
    p.write_stdin(b"one");
    p.write_stdin(b"two");
    assert!(quiet_for(&s, 500));
}

#[test]
fn bad_fault_values_are_usage_errors() {
    if !has("faults", cfg!(feature = "faults")) {
        return;
    }
    for bad in [
        &["--sdrop", "NaN"][..],
        &["--rdrop", "1.5"],
        &["--rdrop", "-0.1"],
        &["--sdmin", "10", "--sdmax", "5"],
        &["--rdmax", "soon"],
    ] {
        let mut args = vec!["127.0.0.1:9"];
        args.extend_from_slice(bad);
        let mut p = start_no_input(&args);
        p.expect_exit(2);
    }
}

#[test]
fn stats_count_exactly_the_bytes_moved() {
    if !has("stats", cfg!(feature = "stats")) {
        return;
    }
    for json in [false, true] {
        let mut args = vec!["-l", "127.0.0.1:0", "--stats", "--st", "100"];
        if json {
            args.push("--stats-json");
        }
        let mut p = start_no_input(&args);
        let addr = p.listen_addr();
        let data = random_bytes(3 << 20, 64);
        let mut c = connect(addr);
        c.write_all(&data).unwrap();
        thread::sleep(Duration::from_millis(250));
        c.shutdown(Shutdown::Write).unwrap();
        drop(c);
        let out = p.expect_exit(0);
        // stdout holds the data and nothing else.
        assert_eq!(sha256::hex(&out.stdout), sha256::hex(&data));
        let n = data.len();
        if json {
            assert!(
                out.stderr.contains("{\"stats\":\"periodic\""),
                "{}",
                out.stderr
            );
            let last = out
                .stderr
                .lines()
                .find(|l| l.starts_with("{\"stats\":\"totals\""))
                .unwrap_or_else(|| panic!("no totals line:\n{}", out.stderr));
            assert!(
                last.contains(&format!("\"in_bytes\":{n},")) && last.contains("\"out_bytes\":0,"),
                "{last}"
            );
        } else {
            assert!(
                out.stderr.contains("Stats total (1 open)"),
                "{}",
                out.stderr
            );
            assert!(out.stderr.contains("B/s"), "{}", out.stderr);
            assert!(
                out.stderr.contains(&format!("in {n} bytes in ")),
                "{}",
                out.stderr
            );
        }
    }
}

#[test]
fn stats_count_sent_bytes_too() {
    if !has("stats", cfg!(feature = "stats")) {
        return;
    }
    let (l, addr) = listener();
    let a = addr.to_string();
    let mut p = start(&["--stats", &a]);
    let (s, _) = accept(&l);
    let data = random_bytes(1 << 20, 65);
    let feeder = p.feed_stdin(data.clone());
    let got = exchange(s, Vec::new());
    feeder.join().unwrap();
    assert_eq!(sha256::hex(&got), sha256::hex(&data));
    let out = p.expect_exit(0);
    assert!(
        out.stderr
            .contains(&format!("out {} bytes in ", data.len())),
        "{}",
        out.stderr
    );
}

#[test]
fn qos_client_and_server_report_round_trips() {
    if !has("qos", cfg!(feature = "qos")) {
        return;
    }
    let mut srv = start_no_input(&["-u", "-L", "127.0.0.1:0", "-i", "pfqossrv"]);
    let addr = srv.listen_addr();
    // Short and odd datagrams never upset the server.
    let s = udp_peer();
    for d in [&b""[..], b"\xff", b"\x00\x00", b"hello"] {
        s.send_to(d, addr).unwrap();
    }
    s.send_to(b"\xff\xffabc", addr).unwrap();
    assert_eq!(recv(&s), b"\x00\x00abc");
    let a = addr.to_string();
    let mut cli = start_no_input(&["-u", "-i", "pfqoscli", "--st", "100", &a]);
    cli.wait_stderr("three round trips", |e| {
        (e.matches("Round trip time: ").count() >= 3).then_some(())
    });
    let err = cli.stderr();
    let line = err
        .lines()
        .find(|l| l.contains("Round trip time: "))
        .unwrap_or_default();
    // Fractional milliseconds, loss and jitter.
    assert!(line.contains(" ms") && line.contains('.'), "{line}");
    assert!(line.contains("jitter") && line.contains("lost"), "{line}");
    assert!(cli.stdout().is_empty() && srv.stdout().is_empty());
    assert!(srv.running(), "the server stopped");
}

#[test]
fn hexdump_shows_traffic_on_stderr() {
    if !has("hexdump", cfg!(feature = "hexdump")) {
        return;
    }
    let mut p = start_no_input(&["-l", "127.0.0.1:0", "--hexdump"]);
    let addr = p.listen_addr();
    let _ = exchange(connect(addr), b"hello".to_vec());
    let out = p.expect_exit(0);
    assert_eq!(out.stdout, b"hello");
    assert!(
        out.stderr.contains("< 5 bytes received from"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("68 65 6c 6c 6f"), "{}", out.stderr);
}

#[test]
fn crlf_turns_newlines_into_crlf() {
    let (l, addr) = listener();
    let a = addr.to_string();
    let mut p = start(&["-C", &a]);
    let (s, _) = accept(&l);
    p.write_stdin(b"a\nb\r\nc\n");
    p.close_stdin();
    assert_eq!(exchange(s, Vec::new()), b"a\r\nb\r\nc\r\n");
}

/// A build without a feature names it in a usage error (exit 2).
#[test]
fn flags_of_left_out_features_are_usage_errors() {
    let cases: &[(&str, bool, &[&str])] = &[
        ("exec", cfg!(feature = "exec"), &["-e", "cat"]),
        ("exec", cfg!(feature = "exec"), &["--exec-each", "cat"]),
        ("gen", cfg!(feature = "gen"), &["-i", "rand"]),
        ("gen", cfg!(feature = "gen"), &["-i", "fixed"]),
        ("faults", cfg!(feature = "faults"), &["--sdmin", "5"]),
        ("faults", cfg!(feature = "faults"), &["--rdrop", "0.5"]),
        ("stats", cfg!(feature = "stats"), &["--stats"]),
        ("qos", cfg!(feature = "qos"), &["-u", "-i", "pfqoscli"]),
        ("hexdump", cfg!(feature = "hexdump"), &["--hexdump"]),
    ];
    let mut tried = 0;
    for (feature, on, flags) in cases {
        if *on {
            continue;
        }
        tried += 1;
        let mut args = vec!["127.0.0.1:9"];
        args.extend_from_slice(flags);
        let mut p = start_no_input(&args);
        let out = p.expect_exit(2);
        let want = format!("needs the '{feature}' feature, which this build leaves out");
        assert!(out.stderr.contains(&want), "{}", out.stderr);
    }
    if tried == 0 {
        skip("every optional feature is in this build");
    }
}

/// The pid a child printed as its first line (`echo $$`).
fn child_pid(c: &mut std::net::TcpStream) -> u32 {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while c.read(&mut b).unwrap_or(0) == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    String::from_utf8_lossy(&line)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid line: {line:?}"))
}

/// Wait (bounded) until process `pid` is gone (or a zombie: reaped later).
fn gone(p: &mut crate::util::Proc, pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        let alive = state.is_some_and(|s| !s.contains(") Z "));
        if !alive {
            return;
        }
        if Instant::now() > deadline {
            p.fail(&format!("{what}: child {pid} still runs"));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exec_each_child_that_ignores_eof_is_ended_and_frees_its_slot() {
    if !has("exec", cfg!(feature = "exec")) || skipped_under_wine(UNIX_SHELL) {
        return;
    }
    let cmd = "echo $$; exec sleep 1000";
    let mut p = start(&["-L", "127.0.0.1:0", "-m", "1", "--exec-each", cmd]);
    let addr = p.listen_addr();
    let mut a = connect(addr);
    let pid_a = child_pid(&mut a);
    drop(a);
    gone(&mut p, pid_a, "after its client left");
    // The slot is free again: the next client gets its own child.
    let mut b = connect(addr);
    let pid_b = child_pid(&mut b);
    assert_ne!(pid_a, pid_b);
    drop(b);
    gone(&mut p, pid_b, "the second child");
    assert!(p.running(), "-L keeps serving");
}

#[test]
fn exec_each_honours_idle_timeout() {
    if !has("exec", cfg!(feature = "exec")) || skipped_under_wine(UNIX_SHELL) {
        return;
    }
    let cmd = "echo $$; exec sleep 1000";
    let mut p = start(&[
        "-L",
        "127.0.0.1:0",
        "--idle-timeout",
        "1",
        "--exec-each",
        cmd,
    ]);
    let addr = p.listen_addr();
    let mut a = connect(addr);
    let pid = child_pid(&mut a);
    // The client stays connected and silent: the idle timeout ends it.
    let rest = read_to_end(&mut a);
    assert!(rest.is_empty());
    gone(&mut p, pid, "after --idle-timeout");
}

#[test]
fn exec_child_does_not_outlive_netcrab() {
    if !has("exec", cfg!(feature = "exec")) || skipped_under_wine(UNIX_SHELL) {
        return;
    }
    let cmd = "echo $$; exec sleep 1000";
    let mut p = start(&["-l", "127.0.0.1:0", "-e", cmd]);
    let addr = p.listen_addr();
    let mut a = connect(addr);
    let pid = child_pid(&mut a);
    drop(a);
    p.expect_exit(0);
    gone(&mut p, pid, "after netcrab exited");
}
