//! `Args` → `Config`: parse addresses and numbers, apply the rules that span
//! several flags, and derive defaults. Every failure is a usage error that
//! names the bad part.

use super::args::{Args, FwdMode, InputMode, OutputMode};
use crate::addr::{self, ListenSpec, TargetSpec};
use crate::error::{usage, Result};
use std::time::Duration;

/// Default size of one read of local input. Large blocks keep the syscall
/// count low; the original's 1-byte default was a defect (W3).
pub const DEFAULT_SEND_SIZE: usize = 128 * 1024;
/// Largest send size accepted.
pub const MAX_SEND_SIZE: usize = 16 * 1024 * 1024;
/// UDP: one datagram per read of local input; this fits an Ethernet MTU
/// (1500 - 20 IPv4 - 8 UDP) so it is never fragmented on common links.
pub const DEFAULT_DATAGRAM: usize = 1472;
/// The largest UDP payload over IPv4.
pub const MAX_DATAGRAM: usize = 65_507;

/// Which address families to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Any,
    V4,
    V6,
}

impl Family {
    pub fn allows(self, a: &std::net::SocketAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => a.is_ipv4(),
            Family::V6 => a.is_ipv6(),
        }
    }
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub targets: Vec<TargetSpec>,
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
    pub zero_io: bool,
    pub reconnect: bool,
    pub reconnect_on_error: bool,
    pub connect_timeout: Option<Duration>,
    pub quit_after: Option<Duration>,
    /// Send FIN to the sockets when local input ends.
    pub shutdown_on_eof: bool,
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
}

fn number<T: std::str::FromStr>(flag: &str, v: &Option<String>) -> Result<Option<T>> {
    match v {
        None => Ok(None),
        Some(s) => s
            .trim()
            .parse::<T>()
            .map(Some)
            .map_err(|_| usage(format!("invalid value '{}' for {flag}", addr::clip(s)))),
    }
}

fn in_range<T: PartialOrd + Copy + std::fmt::Display>(
    flag: &str,
    v: Option<T>,
    lo: T,
    hi: T,
) -> Result<Option<T>> {
    match v {
        Some(x) if x < lo || x > hi => Err(usage(format!(
            "invalid value '{x}' for {flag} (expected {lo} to {hi})"
        ))),
        _ => Ok(v),
    }
}

fn seconds(flag: &str, v: &Option<String>) -> Result<Option<Duration>> {
    let secs = number::<f64>(flag, v)?;
    match secs {
        None => Ok(None),
        Some(s) if s.is_finite() && (0.0..=1e9).contains(&s) => {
            Ok(Some(Duration::from_secs_f64(s)))
        }
        Some(_) => Err(usage(format!(
            "invalid value '{}' for {flag} (expected seconds, 0 or more)",
            v.as_deref().unwrap_or("")
        ))),
    }
}

impl TryFrom<Args> for Config {
    type Error = crate::error::Error;

    fn try_from(a: Args) -> Result<Config> {
        if !a.listen.is_empty() && !a.listen_harder.is_empty() {
            return Err(usage(
                "-l and -L cannot be used together (use -L, or -l with -k)",
            ));
        }
        if a.ipv4 && a.ipv6 {
            return Err(usage("-4 and -6 cannot be used together"));
        }
        if a.shutdown && a.no_shutdown {
            return Err(usage("-N and --no-shutdown cannot be used together"));
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
            .map(|s| addr::parse_listen(s).map_err(usage))
            .collect::<Result<Vec<_>>>()?;
        let expanded: Vec<String> = if a.zero_io {
            let mut v = Vec::new();
            for t in &a.targets {
                v.extend(addr::expand_port_list(t).map_err(usage)?);
            }
            v
        } else {
            a.targets.clone()
        };
        let targets = expanded
            .iter()
            .map(|s| addr::parse_target(s).map_err(usage))
            .collect::<Result<Vec<_>>>()?;
        if targets.is_empty() && listeners.is_empty() {
            return Err(usage(
                "nothing to do: give a target HOST:PORT or a listen address -l ADDR:PORT (see --help)",
            ));
        }
        let mode = a.fm.unwrap_or_default();
        if (a.reconnect || a.reconnect_on_error) && targets.is_empty() {
            return Err(usage("-r/-R need a target to reconnect to"));
        }
        check_udp_rules(&a, &targets, &listeners)?;
        let max_arg = in_range("-m", number::<usize>("-m", &a.max_clients)?, 0, 1_000_000)?;
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
        let send_size =
            in_range("--ss", number::<usize>("--ss", &a.ss)?, 1, max_ss)?.unwrap_or(default_ss);
        let udp_idle = seconds("--udp-idle", &a.udp_idle)?.unwrap_or(Duration::from_secs(60));
        if udp_idle.is_zero() {
            return Err(usage(
                "invalid value '0' for --udp-idle (expected seconds above 0)",
            ));
        }
        let sndbuf = in_range("--sb", number::<usize>("--sb", &a.sb)?, 1, 1 << 30)?;
        let rcvbuf = in_range("--rb", number::<usize>("--rb", &a.rb)?, 1, 1 << 30)?;
        let ttl = in_range("--ttl", number::<u32>("--ttl", &a.ttl)?, 1, 255)?;
        let source_port = number::<u16>("-p", &a.port)?;
        if source_port.is_some() && targets.is_empty() {
            return Err(usage(
                "-p gives the local port of outbound connections; with -l write -l ADDR:PORT",
            ));
        }
        let input = a.input.unwrap_or_default();
        match input {
            InputMode::Stdin | InputMode::StdinNochar | InputMode::None | InputMode::Echo => {}
            other => {
                return Err(usage(format!(
                    "input mode '{}' is not available in this build yet",
                    format!("{other:?}").to_lowercase()
                )))
            }
        }
        Ok(Config {
            targets,
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
            zero_io: a.zero_io,
            reconnect: a.reconnect,
            reconnect_on_error: a.reconnect_on_error,
            connect_timeout: seconds("-w", &a.wait)?,
            quit_after: seconds("-q", &a.quit_after)?,
            shutdown_on_eof: !a.no_shutdown,
            exit_after_input: a.exit_after_input,
            send_size,
            sndbuf,
            rcvbuf,
            ttl,
            input,
            output: a.output.unwrap_or_default(),
            family: if a.ipv4 {
                Family::V4
            } else if a.ipv6 {
                Family::V6
            } else {
                Family::Any
            },
            numeric: a.numeric,
            verbose: a.verbose,
            source_port,
        })
    }
}

/// Flags that only make sense with UDP, or never with it.
fn check_udp_rules(a: &Args, targets: &[TargetSpec], listeners: &[ListenSpec]) -> Result<()> {
    if a.udp {
        let tcp_only = [
            (a.max_clients.is_some(), "-m"),
            (a.zero_io, "-z"),
            (a.reconnect, "-r"),
            (a.reconnect_on_error, "-R"),
        ];
        if let Some((_, flag)) = tcp_only.iter().find(|(set, _)| *set) {
            return Err(usage(format!(
                "{flag} is for TCP and cannot be used with -u"
            )));
        }
    } else {
        let udp_only = [
            (a.broadcast, "-b"),
            (a.mc, "--mc"),
            (a.mc_no_loop, "--mc-no-loop"),
            (a.mc_if.is_some(), "--mc-if"),
            (a.udp_idle.is_some(), "--udp-idle"),
        ];
        if let Some((_, flag)) = udp_only.iter().find(|(set, _)| *set) {
            return Err(usage(format!("{flag} needs -u (UDP)")));
        }
    }
    if (a.mc_no_loop || a.mc_if.is_some()) && !a.mc {
        return Err(usage("--mc-no-loop and --mc-if need --mc"));
    }
    if a.mc && targets.is_empty() && listeners.is_empty() {
        return Err(usage(
            "--mc needs a group: a target GROUP:PORT or -L GROUP:PORT",
        ));
    }
    Ok(())
}
