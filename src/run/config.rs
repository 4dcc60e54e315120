//! Everything one run needs, validated: built by `cli` from the command
//! line (nothing here knows about arguments).

use crate::addr::{ListenSpec, TargetSpec};
use crate::faults::FaultSpec;
use crate::local::{GenSpec, InputMode, OutputMode};
use crate::net::Family;
use crate::router::FwdMode;
use std::time::Duration;

/// `-e` / `--exec-each`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    pub cmd: String,
    /// One child per connection (`--exec-each`) instead of one shared child.
    pub each: bool,
}

/// `--stats`, `--stats-time`, `--stats-json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSpec {
    /// Print totals at exit.
    pub at_exit: bool,
    /// Print a report this often.
    pub every: Option<Duration>,
    pub json: bool,
    /// `--stats` alone: the periodic report is 0.11's one line
    /// (`recv N B/s (N recvs/s), send ...`) every second.
    pub classic: bool,
}

/// Which ways bytes may pass untouched: nothing looks at, counts per
/// chunk, delays or changes them, so the kernel may move them itself
/// (splice(2) on Linux). Decided once, from every setting that touches
/// bytes; each splice path asks only this (plus what is known only at run
/// time: what stdin and stdout are, who is paired with whom).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Untouched {
    /// Local input (stdin) -> a socket.
    pub input: bool,
    /// A socket -> local output (stdout).
    pub output: bool,
    /// A socket -> its channel partner's socket (a relay).
    pub relay: bool,
}

impl Untouched {
    /// From the settings (and `NETCRAB_NO_SPLICE`, which turns it all off).
    pub fn of(c: &Config) -> Untouched {
        Untouched::from_settings(c, splice_enabled())
    }

    /// As `of`, with the kernel path's availability given.
    pub fn from_settings(c: &Config, splice: bool) -> Untouched {
        let f = &c.faults;
        // Seen or changed both ways: per-chunk traces (-vvv), the hex dump,
        // the idle timer (it needs every chunk's time), a child (-e), and
        // UDP (datagrams keep their boundaries).
        let both = splice
            && !c.udp
            && !c.hexdump
            && c.idle_timeout.is_none()
            && c.verbose <= 2
            && c.exec.is_none();
        use crate::decimal::Chance;
        let recv_faults = f.recv_delay != (0, 0) || f.recv_drop != Chance::NEVER;
        let send_faults = f.send_delay != (0, 0) || f.send_drop != Chance::NEVER;
        Untouched {
            input: both
                && matches!(c.input, InputMode::Stdin | InputMode::StdinNochar)
                && !c.crlf
                && !send_faults,
            output: both && c.output == OutputMode::Stdout && !recv_faults,
            // The relay's kernel loop counts nothing: no statistics either.
            relay: both
                && matches!(c.mode, FwdMode::Channels | FwdMode::LingerChannels)
                && c.output == OutputMode::None
                && c.input != InputMode::Echo
                && !recv_faults
                && c.stats.every.is_none()
                && !c.stats.at_exit,
        }
    }
}

/// Whether this build and environment may splice at all: Linux with the
/// "splice" feature, and `NETCRAB_NO_SPLICE` unset, empty or `0` (tests,
/// A/B runs).
fn splice_enabled() -> bool {
    cfg!(all(target_os = "linux", feature = "splice"))
        && std::env::var_os("NETCRAB_NO_SPLICE").is_none_or(|v| v.is_empty() || v == "0")
}

impl Config {
    /// A UNIX datagram run (`-U -u`): every address is a path.
    #[cfg_attr(not(all(unix, feature = "unix")), allow(dead_code))]
    pub fn unix_dgram(&self) -> bool {
        self.udp
            && (!self.unix_targets.is_empty()
                || self
                    .listeners
                    .iter()
                    .any(|l| matches!(l, ListenSpec::Unix(_))))
    }

    /// The options every socket of this run gets.
    pub fn sock_opts(&self) -> crate::net::sockopt::SockOpts {
        crate::net::sockopt::SockOpts {
            sndbuf: self.sndbuf,
            rcvbuf: self.rcvbuf,
            ttl: self.ttl,
        }
    }
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub targets: Vec<TargetSpec>,
    /// UNIX socket targets (`unix:PATH`, every target with `-U`); their
    /// origins follow the TCP targets' (`Origin::Target(targets.len() + i)`).
    #[cfg_attr(not(all(unix, feature = "unix")), allow(dead_code))]
    pub unix_targets: Vec<String>,
    /// `-s PATH` with `-U -u`: the datagram client's own path.
    #[cfg_attr(not(all(unix, feature = "unix")), allow(dead_code))]
    pub unix_source: Option<String>,
    pub listeners: Vec<ListenSpec>,
    /// `-L` (or `-k`): keep accepting after a client leaves.
    pub keep_listening: bool,
    /// Most inbound connections open at once; 0 = no limit.
    pub max_inbound: usize,
    pub mode: FwdMode,
    pub udp: bool,
    pub broadcast: bool,
    pub multicast: bool,
    pub mc_no_loop: bool,
    /// `--mc-if`: an interface address or name.
    pub mc_if: Option<String>,
    /// UDP: learned peers idle this long are forgotten.
    pub udp_idle: Duration,
    /// UDP: most learned peers (and so flows) at once.
    pub udp_peers: usize,
    /// `--udp-flows`: a listener's learned peer without a partner gets a
    /// fresh socket to the target.
    pub udp_flows: bool,
    pub zero_io: bool,
    /// `--scan-parallel`: most `-z` connects in flight (default from the
    /// descriptor limit).
    pub scan_parallel: Option<usize>,
    pub reconnect: bool,
    pub reconnect_on_error: bool,
    pub connect_timeout: Option<Duration>,
    pub quit_after: Option<Duration>,
    /// Send FIN to the sockets when local input ends.
    pub shutdown_on_eof: bool,
    /// `-N`: that FIN goes to every socket, not only those input was sent to.
    pub fin_always: bool,
    /// After a peer's FIN, how long local input may stay silent before the
    /// connection is finished; `None` (`--half-open`): until input ends.
    pub close_grace: Option<Duration>,
    pub exit_after_input: bool,
    pub send_size: usize,
    pub sndbuf: Option<usize>,
    pub rcvbuf: Option<usize>,
    pub ttl: Option<u32>,
    pub input: InputMode,
    pub output: OutputMode,
    pub family: Family,
    pub numeric: bool,
    pub verbose: u8,
    /// Local port for outbound sockets without an explicit source.
    pub source_port: Option<u16>,
    /// `--idle-timeout`: per TCP connection.
    pub idle_timeout: Option<Duration>,
    /// Hub mode: how long a full client queue may hold up a sender.
    pub hub_wait: Duration,
    /// `--allow` / `--deny` for inbound peers.
    pub acl: crate::net::acl::Acl,
    #[cfg_attr(not(feature = "exec"), allow(dead_code))]
    pub exec: Option<ExecSpec>,
    #[cfg_attr(not(any(feature = "gen", feature = "qos")), allow(dead_code))]
    pub gen: GenSpec,
    /// `-C`: `\n` in local input becomes `\r\n`.
    pub crlf: bool,
    #[cfg_attr(not(feature = "stats"), allow(dead_code))]
    pub stats: StatsSpec,
    /// `--stats-time`: the report period, also the QoS ping period.
    #[cfg_attr(not(feature = "qos"), allow(dead_code))]
    pub stats_time: Duration,
    pub faults: FaultSpec,
    #[cfg_attr(not(feature = "hexdump"), allow(dead_code))]
    pub hexdump: bool,
    /// Flags accepted (0.11 took them) but without effect here: one line
    /// each, printed as `netcrab: warning: ...` before the run.
    pub warnings: Vec<String>,
    /// `-X`/`-x` or `--proxy`: every outbound TCP connection goes through it.
    pub proxy: Option<crate::net::proxy::ProxySpec>,
    /// Which ways bytes may pass untouched (`Untouched::of` the rest).
    #[cfg_attr(not(all(target_os = "linux", feature = "splice")), allow(dead_code))]
    pub untouched: Untouched,
}
