//! `Args` → `Config`: parse addresses and numbers, apply the rules that span
//! several flags, and derive defaults. Every failure is a usage error that
//! names the bad part.

use super::args::{Args, FwdMode, InputMode, OutputMode};
use crate::addr::{self, ListenSpec, TargetSpec};
use crate::decimal::{self, Chance, Dbl};
use crate::error::{usage, Result};
use std::time::Duration;

/// Default size of one read of local input. Large blocks keep the syscall
/// count low; the original's 1-byte default was a defect (W3).
pub const DEFAULT_SEND_SIZE: usize = 128 * 1024;
/// Largest send size accepted.
pub const MAX_SEND_SIZE: usize = 16 * 1024 * 1024;
/// UDP: one datagram per read of local input, as nc, ncat and socat send
/// it: a 4000-byte write is one 4000-byte datagram (0.12.0 cut reads at
/// 1472; `--ss 1472` still does).
pub const DEFAULT_DATAGRAM: usize = MAX_DATAGRAM;
/// UDP `-i fixed` without `--ss`: a block that fits an Ethernet MTU (1500 -
/// 20 IPv4 - 8 UDP), so a load test is not fragmented on common links.
pub const DEFAULT_FIXED_DATAGRAM: usize = 1472;
/// The largest UDP payload over IPv4.
pub const MAX_DATAGRAM: usize = 65_507;

pub use crate::net::Family;

/// `-4` / `-6` as a `Family`; both at once is a usage error.
pub fn family_from_flags(a: &Args) -> Result<Family> {
    match (a.ipv4, a.ipv6) {
        (true, true) => Err(usage("-4 and -6 cannot be used together")),
        (true, false) => Ok(Family::V4),
        (false, true) => Ok(Family::V6),
        (false, false) => Ok(Family::Any),
    }
}

pub use crate::local::GenSpec;

pub use crate::faults::FaultSpec;
pub use crate::run::config::{Config, ExecSpec, StatsSpec};

/// The unsigned integer types of the numeric flags. Each is parsed and
/// range-checked as a u64 in one non-generic body (`uint`); the generic
/// shells only narrow the result.
trait Uint: Copy {
    const MAX: u64;
    fn wide(self) -> u64;
    fn narrow(n: u64) -> Self;
}

macro_rules! uint {
    ($($t:ty),*) => {$(
        impl Uint for $t {
            const MAX: u64 = <$t>::MAX as u64;
            fn wide(self) -> u64 {
                self as u64
            }
            fn narrow(n: u64) -> Self {
                n as $t
            }
        }
    )*};
}
uint!(u16, u32, u64, usize);

/// A number flag of type T, not checked against a range.
fn number<T: Uint>(flag: &str, v: &Option<String>) -> Result<Option<T>> {
    Ok(uint(flag, v, T::MAX, 0, T::MAX)?.map(T::narrow))
}

/// A number flag of type T, from `lo` to `hi`.
fn in_range<T: Uint>(flag: &str, v: &Option<String>, lo: T, hi: T) -> Result<Option<T>> {
    Ok(uint(flag, v, T::MAX, lo.wide(), hi.wide())?.map(T::narrow))
}

/// `v` trimmed as an integer no larger than `max` (its type's largest:
/// beyond it the type's parse fails, "invalid value"), then `lo..=hi`.
#[inline(never)]
fn uint(flag: &str, v: &Option<String>, max: u64, lo: u64, hi: u64) -> Result<Option<u64>> {
    let Some(s) = v else { return Ok(None) };
    let x = match s.trim().parse::<u64>() {
        Ok(x) if x <= max => x,
        _ => return Err(super::bad("invalid value ", s, &[" for ", flag])),
    };
    if x < lo || x > hi {
        return Err(usage(format!(
            "invalid value '{x}' for {flag} (expected {lo} to {hi})"
        )));
    }
    Ok(Some(x))
}

/// A non-negative decimal as f64 read it (no floats: `crate::decimal`);
/// Ok(None) when not given.
fn decimal(flag: &str, v: &Option<String>) -> Result<Option<std::result::Result<Dbl, ()>>> {
    match v {
        None => Ok(None),
        Some(s) => match decimal::parse(s.trim()) {
            Ok(d) => Ok(Some(Ok(d))),
            Err(decimal::Bad::Range) => Ok(Some(Err(()))),
            Err(decimal::Bad::Syntax) => Err(super::bad("invalid value ", s, &[" for ", flag])),
        },
    }
}

pub(super) fn seconds(flag: &str, v: &Option<String>) -> Result<Option<Duration>> {
    const MAX: Dbl = Dbl::ratio(1_000_000_000, 1);
    match decimal(flag, v)? {
        None => Ok(None),
        Some(Ok(s)) if s <= MAX => Ok(Some(s.to_duration())),
        Some(_) => Err(usage(format!(
            "invalid value '{}' for {flag} (expected seconds, 0 or more)",
            v.as_deref().unwrap_or("")
        ))),
    }
}

/// The run's configuration. `a` is borrowed: the caller drops it once,
/// where a consumed `Args` would be dropped at each of the many error returns.
pub fn config(a: &Args) -> Result<Config> {
    if !a.listen.is_empty() && !a.listen_harder.is_empty() {
        return Err(usage(
            "-l and -L cannot be used together (use -L, or -l with -k)",
        ));
    }
    let family = family_from_flags(a)?;
    if a.shutdown && a.no_shutdown {
        return Err(usage("-N and --no-shutdown cannot be used together"));
    }
    if a.half_open && a.close_grace.is_some() {
        return Err(usage(
            "--half-open and --close-grace cannot be used together",
        ));
    }
    let keep_listening = !a.listen_harder.is_empty() || a.keep_open;
    let listen_strs = if a.listen.is_empty() {
        &a.listen_harder
    } else {
        &a.listen
    };
    if a.keep_open && listen_strs.is_empty() {
        return Err(usage("-k needs a listen address (-l ADDR:PORT)"));
    }
    let listeners = listen_strs
        .iter()
        .map(|s| unix::listen(a, s))
        .collect::<Result<Vec<_>>>()?;
    let unix = unix::split(a, &listeners)?;
    let expanded: Vec<String> = if a.zero_io {
        let mut v = Vec::new();
        for t in &unix.inet_targets {
            v.extend(addr::expand_port_list(t)?);
        }
        v
    } else {
        unix.inet_targets.clone()
    };
    let mut targets = expanded
        .iter()
        .map(|s| addr::parse_target(s))
        .collect::<Result<Vec<_>>>()?;
    if let (Some(s), false) = (&a.source, unix.any) {
        // nc's -s: the source address of every target without its own.
        if targets.is_empty() {
            return Err(usage(
                "-s gives the source address of outbound connections: add a target",
            ));
        }
        let src = addr::parse_source(s)?;
        for t in targets.iter_mut().filter(|t| t.source.is_none()) {
            t.source = Some(src.clone());
        }
    }
    check_literal_family(family, &targets, &listeners)?;
    if targets.is_empty() && unix.targets.is_empty() && listeners.is_empty() {
        return Err(usage(
            "nothing to do: give a target HOST:PORT or a listen address -l ADDR:PORT (see --help)",
        ));
    }
    // --udp-flows is a channels feature: it picks channels unless told.
    let mode = match a.fm {
        None if a.udp_flows => FwdMode::Channels,
        fm => fm.unwrap_or_default(),
    };
    if (a.reconnect || a.reconnect_on_error) && targets.is_empty() && unix.targets.is_empty() {
        return Err(usage("-r/-R need a target to reconnect to"));
    }
    check_udp_rules(a, &targets, &listeners)?;
    let scan_parallel = in_range::<usize>("--scan-parallel", &a.scan_parallel, 1, 65_536)?;
    if scan_parallel.is_some() && !a.zero_io {
        return Err(usage("--scan-parallel applies to -z (port scans): add -z"));
    }
    let proxy = super::proxy::spec(a, !targets.is_empty(), a.udp)?;
    let max_arg = in_range::<usize>("-m", &a.max_clients, 0, 1_000_000)?;
    let per_listener = if mode == FwdMode::None { 1 } else { 10 };
    let max_inbound = max_arg.unwrap_or(listen_strs.len() * per_listener);
    if max_inbound == 0 && !listeners.is_empty() && !keep_listening {
        return Err(usage(
            "-m 0 (no limit) needs -L; -l accepts a fixed number of clients",
        ));
    }
    let (max_ss, default_ss) = if a.udp {
        (MAX_DATAGRAM, DEFAULT_DATAGRAM)
    } else {
        (MAX_SEND_SIZE, DEFAULT_SEND_SIZE)
    };
    let send_size = in_range::<usize>("--ss", &a.ss, 1, max_ss)?.unwrap_or(default_ss);
    let udp_idle = seconds("--udp-idle", &a.udp_idle)?.unwrap_or(Duration::from_secs(60));
    if udp_idle.is_zero() {
        return Err(usage(
            "invalid value '0' for --udp-idle (expected seconds above 0)",
        ));
    }
    let mut warnings = Vec::new();
    let sndbuf = buffer_size("--sb", &a.sb, &mut warnings)?;
    // 0.11's help says `-i fixed`'s block is `--sb` bytes (0.11 itself
    // used --ss): without --ss, --sb sizes the block too (and still
    // sets SO_SNDBUF), so scripts written from that help keep working.
    let send_size = match sndbuf {
        Some(n) if a.input == Some(InputMode::Fixed) && a.ss.is_none() => {
            if n > max_ss {
                warnings.push(format!(
                    "-i fixed: the block is {max_ss} bytes, the largest send (--sb {n} sets SO_SNDBUF only)"
                ));
            }
            n.min(max_ss)
        }
        _ if a.udp && a.input == Some(InputMode::Fixed) && a.ss.is_none() => DEFAULT_FIXED_DATAGRAM,
        _ => send_size,
    };
    let rcvbuf = buffer_size("--rb", &a.rb, &mut warnings)?;
    if a.udp && a.hub_wait.is_some() {
        warnings.push(
            "--hub-wait has no effect with -u: a UDP send never waits on its peer, so no peer can stall the hub"
                .to_string(),
        );
    }
    let udp_peers = in_range::<usize>("--udp-peers", &a.udp_peers, 1, 1_000_000)?.unwrap_or(1024);
    let ttl = in_range::<u32>("--ttl", &a.ttl, 1, 255)?;
    let source_port = number::<u16>("-p", &a.port)?;
    if source_port.is_some() && targets.is_empty() {
        return Err(usage(
            "-p gives the local port of outbound connections; with -l write -l ADDR:PORT",
        ));
    }
    let exec = exec_spec(a, mode, &mut warnings)?;
    // As in the original: line mode unless `-i stdin` asks for
    // character mode (which only applies at a terminal). `-e` replaces
    // `-i` and `-o` (0.11 ignored them too).
    let (input, output) = match exec {
        Some(_) => (InputMode::StdinNochar, OutputMode::Stdout),
        None => (
            a.input.unwrap_or(InputMode::StdinNochar),
            a.output.unwrap_or_default(),
        ),
    };
    check_features(a, input)?;
    if matches!(input, InputMode::PfQosCli | InputMode::PfQosSrv) && !a.udp {
        return Err(usage(format!(
            "-i {} is for UDP: add -u",
            format!("{input:?}").to_ascii_lowercase()
        )));
    }
    let stats_ms = in_range::<u64>("--stats-time", &a.stats_time, 0, 86_400_000)?;
    // 0.11 took `--stats-time 0` where it had no use; a QoS ping
    // period of 0 has no meaning.
    let stats_ms = match stats_ms {
        Some(0) if input == InputMode::PfQosCli => {
            return Err(usage(
                "invalid value '0' for --stats-time (-i pfqoscli pings every MS, 1 or more)",
            ));
        }
        Some(0) => {
            warnings.push("--stats-time 0 is ignored (no periodic report)".to_string());
            None
        }
        ms => ms,
    };
    // `--stats` alone prints 0.11's line every second, as 0.11 did;
    // `--stats-time` or `--stats-json` choose the fuller report.
    let classic = a.stats && !a.stats_json && a.stats_time.is_none();
    let stats = StatsSpec {
        at_exit: a.stats || a.stats_json,
        every: stats_ms
            .filter(|_| input != InputMode::PfQosCli)
            .or((classic && input != InputMode::PfQosCli).then_some(1000))
            .map(Duration::from_millis),
        json: a.stats_json,
        classic,
    };
    let gen = gen_spec(a, input, max_ss, &mut warnings)?;
    let faults = FaultSpec {
        send_delay: delay_pair("--sdmin", &a.sdmin, "--sdmax", &a.sdmax)?,
        recv_delay: delay_pair("--rdmin", &a.rdmin, "--rdmax", &a.rdmax)?,
        send_drop: chance("--sdrop", &a.sdrop)?,
        recv_drop: chance("--rdrop", &a.rdrop)?,
    };
    let mut cfg = Config {
        targets,
        unix_targets: unix.targets,
        unix_source: unix.source,
        listeners,
        keep_listening,
        max_inbound,
        mode,
        udp: a.udp,
        broadcast: a.broadcast,
        multicast: a.mc,
        mc_no_loop: a.mc_no_loop,
        mc_if: a.mc_if.clone(),
        udp_idle,
        udp_peers,
        udp_flows: a.udp_flows,
        zero_io: a.zero_io,
        scan_parallel,
        reconnect: a.reconnect,
        reconnect_on_error: a.reconnect_on_error,
        connect_timeout: seconds("-w", &a.wait)?,
        quit_after: seconds("-q", &a.quit_after)?,
        // OpenBSD nc's rule: through a proxy, the end of input sends no
        // FIN unless -N (tinyproxy and microsocks drop the whole tunnel
        // at the client's FIN, so the answer would never come).
        shutdown_on_eof: !a.no_shutdown && (proxy.is_none() || a.shutdown),
        fin_always: a.shutdown,
        close_grace: if a.half_open {
            None
        } else {
            Some(seconds("--close-grace", &a.close_grace)?.unwrap_or(Duration::from_secs(1)))
        },
        exit_after_input: a.exit_after_input,
        send_size,
        sndbuf,
        rcvbuf,
        ttl,
        input,
        output,
        family,
        numeric: a.numeric,
        verbose: a.verbose,
        source_port,
        idle_timeout: seconds("--idle-timeout", &a.idle_timeout)?.filter(|d| !d.is_zero()),
        hub_wait: seconds("--hub-wait", &a.hub_wait)?.unwrap_or(Duration::from_secs(1)),
        acl: access_rules(a)?,
        exec,
        gen,
        crlf: a.crlf,
        stats,
        stats_time: Duration::from_millis(stats_ms.unwrap_or(1000)),
        faults,
        hexdump: a.hexdump,
        warnings,
        proxy,
        untouched: Default::default(),
    };
    cfg.untouched = crate::run::config::Untouched::of(&cfg);
    Ok(cfg)
}

/// A flag of a feature this build leaves out is a usage error that names it.
fn check_features(a: &Args, input: InputMode) -> Result<()> {
    let wanted = [
        a.exec.is_some(),
        a.exec_each.is_some(),
        input == InputMode::Rand,
        input == InputMode::Fixed,
        a.rsizemin.is_some(),
        a.rsizemax.is_some(),
        a.rvals.is_some(),
        a.sdmin.is_some(),
        a.sdmax.is_some(),
        a.rdmin.is_some(),
        a.rdmax.is_some(),
        a.sdrop.is_some(),
        a.rdrop.is_some(),
        a.stats,
        a.stats_json,
        a.stats_time.is_some() && input != InputMode::PfQosCli,
        input == InputMode::PfQosCli,
        input == InputMode::PfQosSrv,
        a.hexdump,
    ];
    // Each flag of `wanted` and the feature it needs.
    const NEEDS: [(&str, &str); 19] = [
        ("-e", "exec"),
        ("--exec-each", "exec"),
        ("-i rand", "gen"),
        ("-i fixed", "gen"),
        ("--rsizemin", "gen"),
        ("--rsizemax", "gen"),
        ("--rvals", "gen"),
        ("--sdmin", "faults"),
        ("--sdmax", "faults"),
        ("--rdmin", "faults"),
        ("--rdmax", "faults"),
        ("--sdrop", "faults"),
        ("--rdrop", "faults"),
        ("--stats", "stats"),
        ("--stats-json", "stats"),
        ("--stats-time", "stats"),
        ("-i pfqoscli", "qos"),
        ("-i pfqossrv", "qos"),
        ("--hexdump", "hexdump"),
    ];
    for (set, (flag, feature)) in wanted.iter().zip(NEEDS) {
        if *set && !feature_enabled(feature) {
            return Err(usage(format!(
                "{flag} needs the '{feature}' feature, which this build leaves out"
            )));
        }
    }
    Ok(())
}

/// The optional features compiled into this binary.
const ENABLED: &[&str] = &[
    #[cfg(feature = "exec")]
    "exec",
    #[cfg(feature = "gen")]
    "gen",
    #[cfg(feature = "faults")]
    "faults",
    #[cfg(feature = "stats")]
    "stats",
    #[cfg(feature = "qos")]
    "qos",
    #[cfg(feature = "hexdump")]
    "hexdump",
];

fn feature_enabled(name: &str) -> bool {
    ENABLED.contains(&name)
}

fn exec_spec(a: &Args, mode: FwdMode, warnings: &mut Vec<String>) -> Result<Option<ExecSpec>> {
    let spec = match (&a.exec, &a.exec_each) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(usage("-e and --exec-each cannot be used together"));
        }
        // netcat's `-k -l -e CMD` (ncat) runs CMD for each client: one
        // shared child would never see its stdin end, so `sort` would never
        // answer anyone. `-L -e` keeps 0.11's shared child.
        (Some(c), None) => ExecSpec {
            cmd: c.clone(),
            each: a.keep_open && !a.udp && a.fm.is_none(),
        },
        (None, Some(c)) => ExecSpec {
            cmd: c.clone(),
            each: true,
        },
    };
    let flag = if spec.each { "--exec-each" } else { "-e" };
    if spec.cmd.trim().is_empty() {
        return Err(usage(format!("{flag} needs a command")));
    }
    // 0.11 took `-i`/`-o` with `-e` and ignored them.
    for (set, what) in [(a.input.is_some(), "-i"), (a.output.is_some(), "-o")] {
        if set {
            warnings.push(format!(
                "{what} has no effect with {flag} (the command is the local input and output)"
            ));
        }
    }
    if spec.each {
        if a.udp {
            return Err(usage("--exec-each is for TCP and cannot be used with -u"));
        }
        if mode != FwdMode::None {
            return Err(usage(
                "--exec-each wires each connection to its own command; it cannot be used with --fm",
            ));
        }
    }
    Ok(Some(spec))
}

/// `--sb`/`--rb`: a size, or 0, which 0.11 took; here it keeps the
/// system's default (with a warning).
fn buffer_size(
    flag: &str,
    v: &Option<String>,
    warnings: &mut Vec<String>,
) -> Result<Option<usize>> {
    match in_range::<usize>(flag, v, 0, 1 << 30)? {
        Some(0) => {
            warnings.push(format!(
                "{flag} 0 is ignored (the system's default size is kept)"
            ));
            Ok(None)
        }
        n => Ok(n),
    }
}

/// A literal address that `-4`/`-6` rules out can never be used: a usage
/// error naming it, rather than a failed lookup at run time.
fn check_literal_family(
    family: Family,
    targets: &[TargetSpec],
    listeners: &[ListenSpec],
) -> Result<()> {
    let (flag, want) = match family {
        Family::Any => return Ok(()),
        Family::V4 => ("-4", "IPv4"),
        Family::V6 => ("-6", "IPv6"),
    };
    let hosts = targets
        .iter()
        .flat_map(|t| {
            [
                Some(&t.dest.host),
                t.source.as_ref().and_then(|s| s.host.as_ref()),
            ]
        })
        .chain(listeners.iter().map(|l| match l {
            ListenSpec::Addr(hp) => Some(&hp.host),
            ListenSpec::AllLocal(_) | ListenSpec::Wildcard(_) | ListenSpec::Unix(_) => None,
        }))
        .flatten();
    for h in hosts {
        let is_v6 = match h {
            addr::Host::Ip(ip) => ip.is_ipv6(),
            addr::Host::Scoped(..) => true,
            addr::Host::Name(_) => continue,
        };
        if is_v6 != (family == Family::V6) {
            let other = if is_v6 { "IPv6" } else { "IPv4" };
            return Err(usage(format!(
                "'{}' is an {other} address, but {flag} allows {want} only",
                addr::clip(&h.to_string())
            )));
        }
    }
    Ok(())
}

fn gen_spec(
    a: &Args,
    input: InputMode,
    max_ss: usize,
    warnings: &mut Vec<String>,
) -> Result<GenSpec> {
    let qos = input == InputMode::PfQosCli;
    let uses = matches!(input, InputMode::Rand | InputMode::PfQosCli);
    // 0.11 took these flags in every mode (scripts pass one set of flags to
    // every run): accepted with a warning, but still checked as numbers.
    if !uses {
        for (flag, v) in [("--rsizemin", &a.rsizemin), ("--rsizemax", &a.rsizemax)] {
            if v.is_some() {
                number::<usize>(flag, v)?;
                warnings.push(format!(
                    "{flag} has no effect without -i rand or -i pfqoscli"
                ));
            }
        }
    }
    if a.rvals.is_some()
        && !matches!(
            input,
            InputMode::Rand | InputMode::Fixed | InputMode::PfQosCli
        )
    {
        warnings.push("--rvals has no effect without -i rand, -i fixed or -i pfqoscli".to_string());
    }
    let (rsizemin, rsizemax) = if uses {
        (&a.rsizemin, &a.rsizemax)
    } else {
        (&None, &None)
    };
    // A QoS ping carries 2 header bytes.
    let (lo, hi) = if qos {
        (0, MAX_DATAGRAM - 2)
    } else {
        (1, max_ss)
    };
    let min = in_range::<usize>("--rsizemin", rsizemin, lo, hi)?;
    let max = in_range::<usize>("--rsizemax", rsizemax, lo, hi)?;
    let (min, max) = match (min, max) {
        (Some(a), Some(b)) => (a, b),
        (Some(a), None) => (a, a.max(1450.min(hi))),
        (None, Some(b)) => (lo.max(1).min(b), b),
        (None, None) => (1, 1450.min(hi)),
    };
    if min > max {
        return Err(usage(format!(
            "--rsizemin {min} is larger than --rsizemax {max}"
        )));
    }
    Ok(GenSpec {
        min,
        max,
        vals: a.rvals.unwrap_or_default(),
    })
}

/// A (min, max) delay pair in milliseconds; one alone sets both ends as
/// far as it can (`--sdmin 5` is 5..5, `--sdmax 5` is 0..5).
fn delay_pair(
    min_flag: &str,
    min: &Option<String>,
    max_flag: &str,
    max: &Option<String>,
) -> Result<(u64, u64)> {
    const LIMIT: u64 = 3_600_000;
    let lo = in_range::<u64>(min_flag, min, 0, LIMIT)?;
    let hi = in_range::<u64>(max_flag, max, 0, LIMIT)?;
    let pair = match (lo, hi) {
        (Some(a), Some(b)) => (a, b),
        (Some(a), None) => (a, a),
        (None, Some(b)) => (0, b),
        (None, None) => (0, 0),
    };
    if pair.0 > pair.1 {
        return Err(usage(format!(
            "{min_flag} {} is larger than {max_flag} {}",
            pair.0, pair.1
        )));
    }
    Ok(pair)
}

/// A probability in [0, 1]; NaN and anything outside are rejected.
fn chance(flag: &str, v: &Option<String>) -> Result<Chance> {
    match decimal(flag, v)? {
        None => Ok(Chance::NEVER),
        Some(Ok(p)) if p <= Dbl::ratio(1, 1) => Ok(Chance::of(p)),
        Some(_) => Err(super::bad(
            "invalid value ",
            v.as_deref().unwrap_or(""),
            &[" for ", flag, " (expected a probability from 0 to 1)"],
        )),
    }
}

/// Flags that only make sense with UDP, or never with it.
fn check_udp_rules(a: &Args, targets: &[TargetSpec], listeners: &[ListenSpec]) -> Result<()> {
    if a.udp {
        let tcp_only = [
            a.max_clients.is_some(),
            a.idle_timeout.is_some(),
            a.reconnect,
            a.reconnect_on_error,
        ];
        const TCP_ONLY: [&str; 4] = ["-m", "--idle-timeout", "-r", "-R"];
        if let Some(flag) = super::no_effect::first_given(&[(&tcp_only, &TCP_ONLY)]) {
            let hint = if flag == "--idle-timeout" {
                " (UDP peers are forgotten after --udp-idle SECS of silence)"
            } else {
                ""
            };
            return Err(usage(format!(
                "{flag} is for TCP and cannot be used with -u{hint}"
            )));
        }
        // -z -u is a UDP port scan of targets (one datagram each).
        if a.zero_io && !listeners.is_empty() {
            return Err(usage(
                "-z -u scans targets (a datagram to each port): -l/-L cannot be used with it",
            ));
        }
    } else {
        let udp_only = [
            a.broadcast,
            a.mc,
            a.mc_no_loop,
            a.mc_if.is_some(),
            a.udp_idle.is_some(),
            a.udp_peers.is_some(),
            a.udp_flows,
        ];
        const UDP_ONLY: [&str; 7] = [
            "-b",
            "--mc",
            "--mc-no-loop",
            "--mc-if",
            "--udp-idle",
            "--udp-peers",
            "--udp-flows",
        ];
        if let Some(flag) = super::no_effect::first_given(&[(&udp_only, &UDP_ONLY)]) {
            return Err(usage(format!("{flag} needs -u (UDP)")));
        }
    }
    if (a.mc_no_loop || a.mc_if.is_some()) && !a.mc {
        return Err(usage("--mc-no-loop and --mc-if need --mc"));
    }
    if a.udp_flows {
        if listeners.is_empty() || targets.len() != 1 {
            return Err(usage(
                "--udp-flows needs a listener (-l/-L) and exactly one target",
            ));
        }
        if matches!(a.fm, Some(FwdMode::None | FwdMode::Hub)) || a.mc {
            return Err(usage(
                "--udp-flows pairs peers with flows: it needs --fm channels or linger-channels, without --mc",
            ));
        }
    }
    if a.mc && targets.is_empty() && listeners.is_empty() {
        return Err(usage(
            "--mc needs a group: a target GROUP:PORT or -L GROUP:PORT",
        ));
    }
    Ok(())
}

/// `--allow`, `--deny` and their files.
fn access_rules(a: &Args) -> Result<crate::net::acl::Acl> {
    use crate::net::acl::{parse_entry, parse_file};
    let mut acl = crate::net::acl::Acl::default();
    for (list, files, out) in [
        (&a.allow, &a.allow_file, &mut acl.allow),
        (&a.deny, &a.deny_file, &mut acl.deny),
    ] {
        for s in list {
            out.extend(parse_entry(s, a.numeric).map_err(usage)?);
        }
        for f in files {
            out.extend(parse_file(f, a.numeric).map_err(usage)?);
        }
    }
    let has_listener = !a.listen.is_empty() || !a.listen_harder.is_empty();
    if !acl.is_empty() && !has_listener {
        return Err(usage("--allow/--deny apply to listeners: add -l or -L"));
    }
    Ok(acl)
}

#[cfg(test)]
mod tests;
mod unix;
