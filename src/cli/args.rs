//! The argh struct: plain data straight from the command line. Checks that
//! involve more than one flag live in `config.rs`. The help text a person
//! reads is in `help.rs` (argh's own listing cannot be grouped).

use argh::FromArgs;
use std::str::FromStr;

/// netcrab: a netcat-style TCP/UDP tool.
#[derive(FromArgs, Debug, Default)]
#[argh(help_triggers("--argh-help"))]
pub struct Args {
    /// targets: [SRC=]HOST:PORT[xN]
    #[argh(positional, greedy)]
    pub targets: Vec<String>,

    /// listen for inbound connections (ADDR:PORT), exit when they end
    #[argh(option, short = 'l')]
    pub listen: Vec<String>,
    /// listen and keep accepting (ADDR:PORT)
    #[argh(option, short = 'L')]
    pub listen_harder: Vec<String>,
    /// keep listening after a client leaves (turns -l into -L)
    #[argh(switch, short = 'k')]
    pub keep_open: bool,
    /// local port for outbound connections (netcat's -p)
    #[argh(option, short = 'p')]
    pub port: Option<String>,
    /// maximum inbound connections at once (0 = no limit)
    #[argh(option, short = 'm')]
    pub max_clients: Option<String>,
    /// forwarding mode: none, hub, channels, linger-channels
    #[argh(option, short = 'f', long = "fm")]
    pub fm: Option<FwdMode>,
    /// use UDP
    #[argh(switch, short = 'u')]
    pub udp: bool,
    /// UDP: set SO_BROADCAST (send to broadcast addresses)
    #[argh(switch, short = 'b')]
    pub broadcast: bool,
    /// UDP: join the targets (or multicast listen addresses) as multicast groups
    #[argh(switch)]
    pub mc: bool,
    /// UDP: do not loop our own multicast back
    #[argh(switch)]
    pub mc_no_loop: bool,
    /// UDP: interface for multicast (address or name)
    #[argh(option)]
    pub mc_if: Option<String>,
    /// UDP: forget a peer after this many idle seconds (default 60)
    #[argh(option)]
    pub udp_idle: Option<String>,
    /// zero-I/O: connect or accept, then close
    #[argh(switch, short = 'z')]
    pub zero_io: bool,
    /// reconnect outbound connections after a graceful close
    #[argh(switch, short = 'r')]
    pub reconnect: bool,
    /// reconnect outbound connections after an error too
    #[argh(switch, short = 'R')]
    pub reconnect_on_error: bool,
    /// connect timeout in seconds (and accept timeout for -l)
    #[argh(option, short = 'w', long = "wait")]
    pub wait: Option<String>,
    /// after input ends, wait this many seconds, then exit
    #[argh(option, short = 'q', long = "quit-after")]
    pub quit_after: Option<String>,
    /// shut down the sending side when input ends (the default)
    #[argh(switch, short = 'N')]
    pub shutdown: bool,
    /// keep the sending side open when input ends
    #[argh(switch)]
    pub no_shutdown: bool,
    /// exit once local input has ended and been sent
    #[argh(switch)]
    pub exit_after_input: bool,
    /// send size: bytes per read of local input
    #[argh(option)]
    pub ss: Option<String>,
    /// SO_SNDBUF size
    #[argh(option)]
    pub sb: Option<String>,
    /// SO_RCVBUF size
    #[argh(option)]
    pub rb: Option<String>,
    /// IP TTL / hop limit
    #[argh(option)]
    pub ttl: Option<String>,
    /// input mode
    #[argh(option, short = 'i')]
    pub input: Option<InputMode>,
    /// output mode: stdout, none
    #[argh(option, short = 'o')]
    pub output: Option<OutputMode>,
    /// IPv4 only
    #[argh(switch, short = '4')]
    pub ipv4: bool,
    /// IPv6 only
    #[argh(switch, short = '6')]
    pub ipv6: bool,
    /// numeric addresses only, no name lookups
    #[argh(switch, short = 'n')]
    pub numeric: bool,
    /// more status output (repeat for more)
    #[argh(switch, short = 'v')]
    pub verbose: u8,
    /// list local interfaces and addresses, then exit
    #[argh(switch)]
    pub ifaces: bool,
    /// print the version
    #[argh(switch, short = 'V')]
    pub version: bool,
}

/// Parse an enum value, accepting each of its spellings.
fn parse_choice<T: Copy>(s: &str, table: &[(&[&str], T)], what: &str) -> Result<T, String> {
    for (names, v) in table {
        if names.iter().any(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(*v);
        }
    }
    let list: Vec<&str> = table.iter().map(|(n, _)| n[0]).collect();
    Err(format!(
        "invalid {what} '{}' (expected one of: {})",
        crate::addr::clip(s),
        list.join(", ")
    ))
}

/// How the router forwards data between endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FwdMode {
    /// Local input to every socket; every socket to local output.
    #[default]
    None,
    /// Also every socket to every other socket.
    Hub,
    /// Sockets paired into two-way tunnels.
    Channels,
    /// Like channels, but a partner stays open when its peer leaves.
    LingerChannels,
}

impl FromStr for FwdMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_choice(
            s,
            &[
                (&["none"], FwdMode::None),
                (&["hub", "h"], FwdMode::Hub),
                (&["channels", "c"], FwdMode::Channels),
                (
                    &["linger-channels", "lc", "linger_channels"],
                    FwdMode::LingerChannels,
                ),
            ],
            "forwarding mode",
        )
    }
}

/// Where local input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputMode {
    /// stdin, read in large blocks.
    #[default]
    Stdin,
    /// stdin; the original's "no character mode" spelling, same here.
    StdinNochar,
    /// No local input.
    None,
    /// Each socket's data goes back to it.
    Echo,
    /// Random data.
    Rand,
    /// A fixed random buffer sent over and over.
    Fixed,
    /// QoS ping client.
    PfQosCli,
    /// QoS ping server.
    PfQosSrv,
}

impl FromStr for InputMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_choice(
            s,
            &[
                (&["stdin"], InputMode::Stdin),
                (
                    &["stdin-nochar", "snc", "stdin_nochar"],
                    InputMode::StdinNochar,
                ),
                (&["none", "n"], InputMode::None),
                (&["echo", "e"], InputMode::Echo),
                (&["rand", "r"], InputMode::Rand),
                (&["fixed", "f"], InputMode::Fixed),
                (&["pfqoscli"], InputMode::PfQosCli),
                (&["pfqossrv"], InputMode::PfQosSrv),
            ],
            "input mode",
        )
    }
}

/// Where received data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    #[default]
    Stdout,
    None,
}

impl FromStr for OutputMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_choice(
            s,
            &[
                (&["stdout"], OutputMode::Stdout),
                (&["none", "n"], OutputMode::None),
            ],
            "output mode",
        )
    }
}
