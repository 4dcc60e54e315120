//! The cross-flag rules of `config.rs` as tables: which combinations are
//! refused (a usage error, exit 2, naming the flags), which are taken with
//! a warning, what the defaults come to, and which ways the bytes stay
//! untouched (`Untouched`, the splice decision).

use super::*;
use crate::cli::{parse, Command};
use crate::run::config::Untouched;

fn config(args: &[&str]) -> Result<Config> {
    let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    match parse(&argv)? {
        Command::Run(c) => Ok(*c),
        _ => panic!("{args:?}: not a run"),
    }
}

fn ok(args: &[&str]) -> Config {
    match config(args) {
        Ok(c) => c,
        Err(e) => panic!("{args:?}: refused: {e}"),
    }
}

const T: &str = "127.0.0.1:1";
const L: &str = "127.0.0.1:1";

#[test]
fn refused_combinations() {
    // (command line, part of the message, feature it needs)
    let cases: &[(&[&str], &str, &str)] = &[
        (&["-l", L, "-L", L], "-l and -L cannot be used together", ""),
        (&["-N", "--no-shutdown", T], "-N and --no-shutdown", ""),
        (
            &["--half-open", "--close-grace", "1", T],
            "--half-open and --close-grace",
            "",
        ),
        (&["-k", T], "-k needs a listen address", ""),
        (&["-v"], "nothing to do", ""),
        (&["-r", "-l", L], "-r/-R need a target", ""),
        (&["-R", "-l", L], "-r/-R need a target", ""),
        (
            &["--scan-parallel", "4", T],
            "--scan-parallel applies to -z",
            "",
        ),
        (&["-m", "0", "-l", L], "-m 0 (no limit) needs -L", ""),
        (&["-u", "--udp-idle", "0", T], "--udp-idle", ""),
        (&["-p", "5", "-l", L], "-p gives the local port", ""),
        (&["-4", "[::1]:5"], "is an IPv6 address, but -4", ""),
        (&["-6", "127.0.0.1:5"], "is an IPv4 address, but -6", ""),
        (&["-u", "-z", "-l", L], "-z -u scans targets", ""),
        (&["-u", "-m", "2", "-l", L], "-m is for TCP", ""),
        (&["-u", "-r", T], "-r is for TCP", ""),
        (&["-u", "--idle-timeout", "5", T], "--udp-idle", ""),
        (&["-b", T], "-b needs -u", ""),
        (&["--mc", T], "--mc needs -u", ""),
        (&["--udp-flows", "-l", L, T], "--udp-flows needs -u", ""),
        (
            &["-u", "--mc-if", "lo", T],
            "--mc-no-loop and --mc-if need --mc",
            "",
        ),
        (
            &["-u", "--udp-flows", T],
            "--udp-flows needs a listener",
            "",
        ),
        (
            &["-u", "--udp-flows", "--fm", "hub", "-l", L, T],
            "--udp-flows pairs peers with flows",
            "",
        ),
        (
            &["--allow", "10.0.0.0/8", T],
            "--allow/--deny apply to listeners",
            "",
        ),
        (
            &["-e", "cat", "--exec-each", "cat", "-l", L],
            "-e and --exec-each",
            "exec",
        ),
        (
            &["--exec-each", " ", "-l", L],
            "--exec-each needs a command",
            "exec",
        ),
        (
            &["-u", "--exec-each", "cat", "-l", L],
            "--exec-each is for TCP",
            "exec",
        ),
        (
            &["--exec-each", "cat", "--fm", "hub", "-L", L],
            "cannot be used with --fm",
            "exec",
        ),
        (
            &["-i", "pfqoscli", T],
            "-i pfqoscli is for UDP: add -u",
            "qos",
        ),
        (
            &["-u", "-i", "pfqoscli", "--stats-time", "0", T],
            "--stats-time (-i pfqoscli pings every MS",
            "qos",
        ),
        (
            &["--sdmin", "5", "--sdmax", "2", T],
            "--sdmin 5 is larger than --sdmax 2",
            "faults",
        ),
        (&["--rdrop", "1.5", T], "expected a probability", "faults"),
        (&["--sdrop", "NaN", T], "expected a probability", "faults"),
        (
            &["-i", "rand", "--rsizemin", "10", "--rsizemax", "5", T],
            "--rsizemin 10 is larger than --rsizemax 5",
            "gen",
        ),
        (&["--ss", "0", T], "--ss", ""),
        (&["-u", "--ss", "70000", T], "--ss", ""),
    ];
    for (args, part, feature) in cases {
        if !feature.is_empty() && !feature_enabled(feature) {
            continue;
        }
        match config(args) {
            Ok(_) => panic!("{args:?}: accepted, expected '{part}'"),
            Err(e) => {
                assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
                let text = e.to_string();
                assert!(text.contains(part), "{args:?}: '{text}' lacks '{part}'");
                assert!(!text.contains('\n'), "{args:?}: one line: '{text}'");
            }
        }
    }
}

#[test]
fn accepted_with_a_warning() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["--sb", "0", T], "--sb 0 is ignored", ""),
        (&["--rb", "0", T], "--rb 0 is ignored", ""),
        (
            &["--stats-time", "0", T],
            "--stats-time 0 is ignored",
            "stats",
        ),
        (
            &["-e", "cat", "-i", "none", "-l", L],
            "-i has no effect with -e",
            "exec",
        ),
        (
            &["-e", "cat", "-o", "none", "-l", L],
            "-o has no effect with -e",
            "exec",
        ),
        (&["--rsizemin", "5", T], "--rsizemin has no effect", "gen"),
        (&["--rvals", "ascii", T], "--rvals has no effect", "gen"),
        (
            &["-u", "--hub-wait", "5", T],
            "--hub-wait has no effect with -u",
            "",
        ),
    ];
    for (args, part, feature) in cases {
        if !feature.is_empty() && !feature_enabled(feature) {
            continue;
        }
        let c = ok(args);
        assert!(
            c.warnings.iter().any(|w| w.contains(part)),
            "{args:?}: warnings {:?} lack '{part}'",
            c.warnings
        );
    }
    assert!(ok(&[T]).warnings.is_empty(), "no warning without a cause");
}

#[test]
fn defaults_and_derived_values() {
    let c = ok(&[T]);
    assert_eq!(c.mode, FwdMode::None);
    assert!(c.shutdown_on_eof && !c.fin_always);
    assert_eq!(c.close_grace, Some(Duration::from_secs(1)));
    assert_eq!(c.send_size, DEFAULT_SEND_SIZE);
    assert_eq!(
        (c.input, c.output),
        (InputMode::StdinNochar, OutputMode::Stdout)
    );
    assert_eq!(c.udp_idle, Duration::from_secs(60));
    assert_eq!(c.udp_peers, 1024);
    assert_eq!(c.hub_wait, Duration::from_secs(1));

    // -m: one client per listener in P2P, ten in the other modes.
    assert_eq!(ok(&["-l", L]).max_inbound, 1);
    assert!(!ok(&["-l", L]).keep_listening);
    assert!(ok(&["-L", L]).keep_listening);
    assert!(ok(&["-l", L, "-k"]).keep_listening);
    assert_eq!(ok(&["--fm", "hub", "-L", L, "-L", L]).max_inbound, 20);
    assert_eq!(ok(&["-m", "0", "-L", L]).max_inbound, 0);

    // --udp-flows picks channels unless told otherwise.
    let flows = ok(&["-u", "--udp-flows", "-l", L, T]);
    assert_eq!(flows.mode, FwdMode::Channels);
    let linger = ok(&["-u", "--udp-flows", "--fm", "linger-channels", "-l", L, T]);
    assert_eq!(linger.mode, FwdMode::LingerChannels);

    // UDP: one read is one datagram, up to the largest (as nc); -i fixed
    // keeps an MTU-sized block; -i fixed --sb N sizes it (0.11's help).
    assert_eq!(ok(&["-u", T]).send_size, MAX_DATAGRAM);
    assert_eq!(ok(&["-u", "--ss", "1472", T]).send_size, 1472);
    if feature_enabled("gen") {
        assert_eq!(ok(&["-u", "-i", "fixed", T]).send_size, 1472);
        assert_eq!(ok(&["-i", "fixed", "--sb", "999", T]).send_size, 999);
        assert_eq!(
            ok(&["-i", "fixed", "--sb", "999", "--ss", "5", T]).send_size,
            5
        );
    }

    assert_eq!(ok(&["--half-open", T]).close_grace, None);
    assert_eq!(ok(&["--idle-timeout", "0", T]).idle_timeout, None);
    assert!(ok(&["-N", T]).fin_always);
    assert!(!ok(&["--no-shutdown", T]).shutdown_on_eof);
    assert_eq!(ok(&["--sb", "0", T]).sndbuf, None);

    if feature_enabled("faults") {
        assert_eq!(ok(&["--sdmin", "5", T]).faults.send_delay, (5, 5));
        assert_eq!(ok(&["--sdmax", "5", T]).faults.send_delay, (0, 5));
        assert_eq!(
            ok(&["--rdmin", "2", "--rdmax", "9", T]).faults.recv_delay,
            (2, 9)
        );
    }
    if feature_enabled("exec") {
        // -e is the local input and output, whatever -i and -o said.
        let e = ok(&["-e", "cat", "-i", "none", "-o", "none", "-l", L]);
        assert_eq!(
            (e.input, e.output),
            (InputMode::StdinNochar, OutputMode::Stdout)
        );
        assert!(ok(&["--exec-each", "cat", "-l", L])
            .exec
            .is_some_and(|x| x.each));
        // netcat's -k -l -e: one child per client; -L -e: one shared.
        assert!(ok(&["-k", "-e", "cat", "-l", L])
            .exec
            .is_some_and(|x| x.each));
        assert!(ok(&["-e", "cat", "-L", L]).exec.is_some_and(|x| !x.each));
        assert!(ok(&["-u", "-k", "-e", "cat", "-l", L])
            .exec
            .is_some_and(|x| !x.each));
    }
}

#[test]
fn which_ways_bytes_pass_untouched() {
    let relay: &[&str] = &["-L", L, "-L", L];
    let with = |more: &[&str], base: &[&str]| -> Vec<String> {
        more.iter().chain(base).map(|s| s.to_string()).collect()
    };
    // (flags, then the target or the relay; (input, output, relay), feature)
    type Case<'a> = (&'a [&'a str], &'a [&'a str], (bool, bool, bool), &'a str);
    let cases: &[Case] = &[
        (&[], &[T], (true, true, false), ""),
        (&["-i", "stdin"], &[T], (true, true, false), ""),
        (&["-vv"], &[T], (true, true, false), ""),
        (&["--stats"], &[T], (true, true, false), "stats"),
        (&["-C"], &[T], (false, true, false), ""),
        (&["-o", "none"], &[T], (true, false, false), ""),
        (&["-vvv"], &[T], (false, false, false), ""),
        (&["--hexdump"], &[T], (false, false, false), "hexdump"),
        (&["--idle-timeout", "5"], &[T], (false, false, false), ""),
        (&["-u"], &[T], (false, false, false), ""),
        (&["--sdmin", "1"], &[T], (false, true, false), "faults"),
        (&["--sdrop", "0.5"], &[T], (false, true, false), "faults"),
        (&["--rdmax", "1"], &[T], (true, false, false), "faults"),
        (&["--rdrop", "0.5"], &[T], (true, false, false), "faults"),
        (&["-i", "rand"], &[T], (false, true, false), "gen"),
        (&["-e", "cat"], &["-l", L], (false, false, false), "exec"),
        (
            &["--exec-each", "cat"],
            &["-l", L],
            (false, false, false),
            "exec",
        ),
        (
            &["--fm", "channels", "-o", "none", "-i", "none"],
            relay,
            (false, false, true),
            "",
        ),
        (
            &["--fm", "channels", "-o", "none", "-i", "none", "-vv"],
            relay,
            (false, false, true),
            "",
        ),
        (
            &["--fm", "channels", "-o", "none", "-i", "none", "-vvv"],
            relay,
            (false, false, false),
            "",
        ),
        (
            &["--fm", "channels", "-o", "none", "-i", "none", "--hexdump"],
            relay,
            (false, false, false),
            "hexdump",
        ),
        (
            &["--fm", "channels", "-o", "none", "-i", "none", "--stats"],
            relay,
            (false, false, false),
            "stats",
        ),
        (
            &[
                "--fm",
                "channels",
                "-o",
                "none",
                "-i",
                "none",
                "--stats-time",
                "500",
            ],
            relay,
            (false, false, false),
            "stats",
        ),
        (
            &[
                "--fm",
                "channels",
                "-o",
                "none",
                "-i",
                "none",
                "--idle-timeout",
                "5",
            ],
            relay,
            (false, false, false),
            "",
        ),
        (
            &[
                "--fm", "channels", "-o", "none", "-i", "none", "--rdmin", "1",
            ],
            relay,
            (false, false, false),
            "faults",
        ),
        (
            &["--fm", "channels", "-o", "none", "-i", "echo"],
            relay,
            (false, false, false),
            "",
        ),
        // Live stdin is checked at run time (the router's local input).
        (
            &["--fm", "channels", "-o", "none"],
            relay,
            (true, false, true),
            "",
        ),
        (
            &["--fm", "channels", "-i", "none"],
            relay,
            (false, true, false),
            "",
        ),
        (
            &["-o", "none", "-i", "none", "--fm", "linger-channels"],
            relay,
            (false, false, true),
            "",
        ),
        (
            &["-o", "none", "-i", "none", "--fm", "hub"],
            relay,
            (false, false, false),
            "",
        ),
    ];
    for (flags, base, (input, output, relayed), feature) in cases {
        if !feature.is_empty() && !feature_enabled(feature) {
            continue;
        }
        let args = with(flags, base);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let c = ok(&refs);
        let want = Untouched {
            input: *input,
            output: *output,
            relay: *relayed,
        };
        assert_eq!(Untouched::from_settings(&c, true), want, "{args:?}");
        // Without the kernel path (other systems, NETCRAB_NO_SPLICE) nothing is.
        assert_eq!(
            Untouched::from_settings(&c, false),
            Untouched::default(),
            "{args:?}"
        );
    }
}

#[test]
fn unix_addresses_and_their_rules() {
    use crate::addr::ListenSpec;
    if !cfg!(feature = "unix") {
        for args in [&["-U", "-l", "/tmp/s.sock"][..], &["unix:/run/x.sock"][..]] {
            match config(args) {
                Err(crate::error::Error::Usage(m)) => {
                    assert!(m.contains("needs the 'unix' feature"), "{args:?}: {m}")
                }
                other => panic!("{args:?}: {other:?}"),
            }
        }
        return;
    }
    // -U: every address is a path; unix:PATH anywhere, mixed with TCP.
    let c = ok(&["-U", "-l", "/tmp/s.sock"]);
    assert_eq!(c.listeners, [ListenSpec::Unix("/tmp/s.sock".into())]);
    let c = ok(&["-U", "rel.sock"]);
    assert_eq!(c.unix_targets, ["rel.sock"]);
    assert!(c.targets.is_empty());
    let c = ok(&["-l", "127.0.0.1:0", "unix:/run/x.sock", T]);
    assert_eq!(c.unix_targets.len(), 1);
    assert_eq!(c.targets.len(), 1);
    let c = ok(&["-U", "-u", "-s", "/tmp/me.sock", "/tmp/s.sock"]);
    assert_eq!(c.unix_source, Some("/tmp/me.sock".into()));
    assert!(c.unix_dgram());
    // -s without -U: the source of every target without its own.
    let c = ok(&["-s", "127.0.0.5", T, "127.0.0.6:0=127.0.0.1:2"]);
    assert_eq!(
        c.targets[0].source.as_ref().unwrap().to_string(),
        "127.0.0.5:0"
    );
    assert_eq!(
        c.targets[1].source.as_ref().unwrap().to_string(),
        "127.0.0.6:0"
    );
    for (args, part) in [
        (&["-U", "-p", "5", "x"][..], "-p"),
        (&["-U", "-6", "x"][..], "-6"),
        (&["-U", "-x", "127.0.0.1:1080", "x"][..], "proxy"),
        (&["-U", "-s", "/tmp/a", "x"][..], "add -u"),
        (&["-U", "-u", "-s", "/tmp/a", "-l", "/tmp/b"][..], "-s PATH"),
        (&["-u", "unix:/tmp/a", T][..], "cannot be mixed"),
        (&["-U", "-u", "-z", "x"][..], "-z -u"),
        (&["-U", "--allow", "127.0.0.1", "-l", "x"][..], "--allow"),
        (&["-U", "unix:"][..], "missing path"),
        (&["-s", "127.0.0.1", "-l", L][..], "add a target"),
    ] {
        match config(args) {
            Err(crate::error::Error::Usage(m)) => assert!(m.contains(part), "{args:?}: {m}"),
            other => panic!("{args:?}: {other:?}"),
        }
    }
    let long = format!("/tmp/{}", "x".repeat(103));
    match config(&["-U", &long]) {
        Err(crate::error::Error::Usage(m)) => assert!(m.contains("108 bytes"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// Seconds and chances read as f64 read them (`crate::decimal`, no floats):
/// the same forms accepted, the same durations, the same two messages.
#[test]
fn decimal_arguments_as_f64_read_them() {
    let wait = |v: &str| ok(&["-w", v, T]).connect_timeout;
    for (v, ns) in [
        ("1.5", 1_500_000_000),
        (".5", 500_000_000),
        ("5.", 5_000_000_000),
        ("1e-3", 1_000_000),
        ("+2", 2_000_000_000),
        ("-0", 0),
        (" 0.25 ", 250_000_000),
        ("0.0000000015", 1), // the double just below 1.5 ns
        ("2.5e-9", 3),
        ("1e9", 1_000_000_000_000_000_000),
    ] {
        assert_eq!(wait(v), Some(Duration::from_nanos(ns)), "-w {v}");
    }
    for (v, msg) in [
        ("abc", "invalid value 'abc' for -w"),
        ("1_0", "invalid value '1_0' for -w"),
        ("1e", "invalid value '1e' for -w"),
        ("0x10", "invalid value '0x10' for -w"),
        (
            "-1",
            "invalid value '-1' for -w (expected seconds, 0 or more)",
        ),
        (
            "inf",
            "invalid value 'inf' for -w (expected seconds, 0 or more)",
        ),
        (
            "NaN",
            "invalid value 'NaN' for -w (expected seconds, 0 or more)",
        ),
        (
            "1e400",
            "invalid value '1e400' for -w (expected seconds, 0 or more)",
        ),
        (
            "1000000001",
            "invalid value '1000000001' for -w (expected seconds, 0 or more)",
        ),
    ] {
        let e = config(&["-w", v, T]).err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some(msg), "-w {v}");
    }
    #[cfg(feature = "faults")]
    {
        use crate::decimal::Chance;
        let drop = |v: &str| ok(&["--sdrop", v, T]).faults.send_drop;
        assert_eq!(drop("0"), Chance::NEVER);
        assert_eq!(drop("1"), Chance::ALWAYS);
        assert_eq!(drop("0.25").hits(), 1 << 51);
        assert_eq!(drop("1e-300").hits(), 1);
        let e = config(&["--rdrop", "x", T]).err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("invalid value 'x' for --rdrop"));
    }
}

/// The integer flags: each type's parse (too large for the type is "invalid
/// value"), then the flag's range; the values come through narrowed.
#[test]
fn integer_flags() {
    let c = ok(&["-p", "65535", "--ttl", " 7 ", "--ss", "+9", T]);
    assert_eq!(
        (c.source_port, c.ttl, c.send_size),
        (Some(65535), Some(7), 9)
    );
    let wide = if usize::BITS == 64 {
        "invalid value '4294967296' for --ss (expected 1 to 16777216)"
    } else {
        "invalid value '4294967296' for --ss"
    };
    let mut rows = vec![
        (&["-p", "65536", T][..], "invalid value '65536' for -p"),
        (&["-p", "-0", T], "invalid value '-0' for -p"),
        (&["-p", "", T], "invalid value '' for -p"),
        (
            &["--ttl", "0", T],
            "invalid value '0' for --ttl (expected 1 to 255)",
        ),
        (
            &["--ttl", "4294967296", T],
            "invalid value '4294967296' for --ttl",
        ),
        (&["--ss", "4294967296", T], wide),
        (
            &["--ss", "0", T],
            "invalid value '0' for --ss (expected 1 to 16777216)",
        ),
    ];
    // Without stats, --stats-time names the missing feature first.
    if cfg!(feature = "stats") {
        rows.push((
            &["--stats-time", "18446744073709551616", T],
            "invalid value '18446744073709551616' for --stats-time",
        ));
        rows.push((
            &["--stats-time", "86400001", T],
            "invalid value '86400001' for --stats-time (expected 0 to 86400000)",
        ));
    }
    for (args, msg) in rows {
        let e = config(args).err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some(msg), "{args:?}");
    }
}

/// Each enum flag's spellings, any case, and the line for an unknown one.
#[test]
fn choice_flags() {
    use crate::cli::args::{FwdMode, InputMode, OutputMode, RandVals};
    assert_eq!("LC".parse(), Ok(FwdMode::LingerChannels));
    assert_eq!("h".parse(), Ok(FwdMode::Hub));
    assert_eq!("snc".parse(), Ok(InputMode::StdinNochar));
    assert_eq!("pfqossrv".parse(), Ok(InputMode::PfQosSrv));
    assert_eq!("N".parse(), Ok(OutputMode::None));
    assert_eq!("bin".parse(), Ok(RandVals::Binary));
    assert_eq!("a".parse(), Ok(RandVals::Ascii));
    assert_eq!(
        "x".parse::<OutputMode>(),
        Err("invalid output mode 'x' (expected one of: stdout, none)".to_string())
    );
    assert_eq!(
        "hubb".parse::<FwdMode>(),
        Err(
            "invalid forwarding mode 'hubb' (expected one of: none, hub, channels, linger-channels)"
                .to_string()
        )
    );
}

/// The inside end's proxy: its `-u` makes the services UDP, not the link to
/// the relay, so a proxy is taken with it; the proxy flags' own rules hold.
#[cfg(all(feature = "tunnel", feature = "proxy"))]
#[test]
fn tunnel_inside_proxy() {
    let inside = |args: &[&str]| {
        let mut argv = vec!["--tunnel-inside", "127.0.0.1:9"];
        argv.extend_from_slice(args);
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        match parse(&argv) {
            Ok(Command::TunnelInside(o)) => Ok(o.proxy.is_some()),
            Ok(_) => panic!("{args:?}: not an inside end"),
            Err(e) => Err(e.to_string()),
        }
    };
    assert_eq!(inside(&["-u", "-x", "127.0.0.1:1080", T]), Ok(true));
    assert_eq!(inside(&[T]), Ok(false));
    assert_eq!(
        inside(&["--proxy-dns", "local", T]),
        Err("--proxy-dns needs a proxy address: -x HOST[:PORT] or --proxy HOST[:PORT]".to_string())
    );
    assert_eq!(
        inside(&["-x", "127.0.0.1", "--proxy", "127.0.0.1", T]),
        Err("-x and --proxy are two spellings of one setting: give one".to_string())
    );
}

/// `--check` and tunnel mode refuse each data-run flag by its name (the
/// flags and their names are two tables in the same order).
#[test]
fn no_effect_names() {
    let err = |args: &[&str]| {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&argv).err().map(|e| e.to_string())
    };
    let check = [
        (&["--check", "-z"][..], "-z"),
        (&["--check", "-s", "1.2.3.4"], "-s"),
        (&["--check", "-U"], "-U"),
        (&["--check", "--hub-wait", "1"], "--hub-wait"),
        (&["--check", "--rsizemax", "9"], "--rsizemax"),
        (&["--check", "-v"], "-v"),
        (&["--check", "--deny-file", "f"], "--deny-file"),
        (&["--check", "--udp-peers", "3"], "--udp-peers"),
        (&["--check", "-u"], "-u (write udp:HOST:PORT)"),
        (&["--check", "--ifaces"], "--ifaces"),
        (&["--check", "--once", "-z"], "--once"),
    ];
    for (args, f) in check {
        let want = format!("{f} cannot be used with --check");
        if cfg!(feature = "check") {
            assert_eq!(err(args).as_deref(), Some(want.as_str()), "{args:?}");
        }
    }
    #[cfg(feature = "tunnel")]
    for (extra, f) in [
        (&["--rdrop", "0.5"][..], "--rdrop"),
        (&["-C"], "-C"),
        (&["--json"], "--json"),
        (&["-k", "--once"], "-k"),
    ] {
        let mut args = vec!["--tunnel-inside", "127.0.0.1:9", T];
        args.extend_from_slice(extra);
        let want = format!(
            "{f} has no effect with --tunnel-inside (tunnel mode carries bytes between its two ends only)"
        );
        assert_eq!(err(&args).as_deref(), Some(want.as_str()), "{args:?}");
    }
}

/// A companion flag without its mode, and a flag of the other protocol, are
/// refused by name (the first in each table's order).
#[test]
fn companion_names() {
    let err = |args: &[&str]| {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&argv).err().map(|e| e.to_string())
    };
    let mut rows = vec![
        (
            &["-u", "--idle-timeout", "5", "-R", T][..],
            "--idle-timeout is for TCP and cannot be used with -u (UDP peers are forgotten after --udp-idle SECS of silence)",
        ),
        (&["-u", "-R", T], "-R is for TCP and cannot be used with -u"),
        (&["--mc-if", "lo", "--udp-flows", T], "--mc-if needs -u (UDP)"),
        (&["--udp-peers", "3", T], "--udp-peers needs -u (UDP)"),
        (&["--check-skip", "dns", "--check-url", "x"], "--check-url needs --check"),
        (&["--check-skip", "dns"], "--check-skip needs --check"),
    ];
    // Without the tunnel, its flags name the missing feature first.
    if cfg!(feature = "tunnel") {
        rows.push((
            &["--secret-file", "f", T],
            "--secret-file needs --tunnel-relay or --tunnel-inside",
        ));
        rows.push((
            &["--tunnel-keepalive", "3", "--secret", "s", T],
            "--tunnel-keepalive needs --tunnel-relay or --tunnel-inside",
        ));
    }
    if cfg!(feature = "proxy") {
        rows.push((
            &["--no-proxy", "a", "--proxy-pass-file", "f", T],
            "--proxy-pass-file needs a proxy address: -x HOST[:PORT] or --proxy HOST[:PORT]",
        ));
    }
    for (args, want) in rows {
        assert_eq!(err(args).as_deref(), Some(want), "{args:?}");
    }
}

/// Messages that quote the bad value (clipped to 60 characters).
#[test]
fn quoted_values() {
    let err = |args: &[&str]| {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&argv).err().map(|e| e.to_string())
    };
    let long = "y".repeat(70);
    let clipped = format!("{}...", "y".repeat(60));
    let mut rows = vec![
        (vec!["-p", "x", T], "invalid value 'x' for -p".to_string()),
        (
            vec!["-w", long.as_str(), T],
            format!("invalid value '{clipped}' for -w"),
        ),
    ];
    if cfg!(feature = "faults") {
        rows.push((
            vec!["--sdrop", "2", T],
            "invalid value '2' for --sdrop (expected a probability from 0 to 1)".to_string(),
        ));
    }
    if cfg!(feature = "check") {
        rows.push((
            vec!["--check", "-w", "99"],
            "invalid -w '99' for --check (expected seconds from 0.1 to 60)".to_string(),
        ));
        rows.push((
            vec!["--check", "h:0"],
            "invalid --check target 'h:0': port 0".to_string(),
        ));
    }
    if cfg!(feature = "dhcp") {
        rows.push((
            vec!["--dhcp-probe", "a/b"],
            "invalid interface name 'a/b' for --dhcp-probe".to_string(),
        ));
    }
    if cfg!(feature = "probe") {
        rows.push((
            vec!["--probe", "h:1", "--probe-group", "1.2.3.4"],
            "invalid --probe-group '1.2.3.4' (expected a multicast IP address)".to_string(),
        ));
    }
    if cfg!(feature = "proxy") {
        rows.push((
            vec!["-x", "p", "-X", "9", T],
            "invalid proxy type '9' (expected one of: connect or http, 5 or socks5, 4 or socks4, 4a or socks4a)".to_string(),
        ));
        rows.push((
            vec!["-x", "p", "--no-proxy", "a/b", T],
            "invalid --no-proxy entry 'a/b' (expected a name, an address or a CIDR block)"
                .to_string(),
        ));
    }
    if cfg!(feature = "tunnel") {
        rows.push((
            vec![
                "--tunnel-relay",
                ":1",
                "--tunnel-public",
                ":2",
                "--udp-peers",
                "0",
            ],
            "invalid value '0' for --udp-peers (expected 1 to 1000000)".to_string(),
        ));
    }
    for (args, want) in rows {
        assert_eq!(err(&args).as_deref(), Some(want.as_str()), "{args:?}");
    }
}
