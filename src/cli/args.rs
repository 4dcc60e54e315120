//! The argh struct: plain data straight from the command line. Checks that
//! involve more than one flag live in `config.rs`. The help text a person
//! reads is in `help.rs` (argh's own listing cannot be grouped).

use argh::FromArgs;
use std::str::FromStr;

/// netcrab: a netcat-style TCP/UDP tool.
// ArgsInfo only for the normaliser's test that its flag tables match.
#[derive(FromArgs, Debug, Default)]
#[cfg_attr(test, derive(argh::ArgsInfo))]
#[argh(help_triggers("--argh-help"))]
pub struct Args {
    /// targets: [SRC=]HOST:PORT[xN]
    #[argh(positional, greedy)]
    pub targets: Vec<String>,

    /// listen; exit when the accepted connections end (repeatable)
    #[argh(option, short = 'l', arg_name = "ADDR:PORT")]
    pub listen: Vec<String>,
    /// listen and keep accepting (repeatable)
    #[argh(option, short = 'L', arg_name = "ADDR:PORT")]
    pub listen_harder: Vec<String>,
    /// keep listening after a client leaves (turns -l into -L); with -e, CMD runs for each
    /// client (as --exec-each)
    #[argh(switch, short = 'k')]
    pub keep_open: bool,
    /// local port for outbound connections (with -l and no address: the listen port)
    #[argh(option, short = 'p', arg_name = "PORT")]
    pub port: Option<String>,
    /// most inbound connections at once, over all listeners (0 = no limit, with -L); default: 1
    /// per listen address, 10 with --fm hub or channels. Further clients wait in the backlog
    /// until one leaves
    #[argh(option, short = 'm', arg_name = "N")]
    pub max_clients: Option<String>,
    /// forwarding: none (default), hub, channels, linger-channels (see below)
    #[argh(option, short = 'f', long = "fm", arg_name = "MODE")]
    pub fm: Option<FwdMode>,
    /// UDP: each read of input is one datagram (up to --ss, default 65507); listeners learn their
    /// peers from the datagrams
    #[argh(switch, short = 'u')]
    pub udp: bool,
    /// UDP: set SO_BROADCAST, to send to a broadcast address
    #[argh(switch, short = 'b')]
    pub broadcast: bool,
    /// UDP: join the targets (or -L GROUP:PORT) as multicast groups; input goes to the group
    #[argh(switch)]
    pub mc: bool,
    /// UDP: do not hear our own multicast
    #[argh(switch)]
    pub mc_no_loop: bool,
    /// UDP: the multicast interface, by address or name
    #[argh(option, arg_name = "ADDR|NAME")]
    pub mc_if: Option<String>,
    /// UDP: forget a learned peer after SECS of silence (default 60)
    #[argh(option, arg_name = "SECS")]
    pub udp_idle: Option<String>,
    /// UDP: at most N learned peers at once (default 1024); datagrams from further new peers
    /// are dropped (-v says how many, once a second)
    #[argh(option, arg_name = "N")]
    pub udp_peers: Option<String>,
    /// UDP channels: each learned peer of a listener that has no partner gets its own new
    /// socket to the (single) target, so replies go to that peer only (a DNS, NTP or syslog
    /// relay, like socat's fork); flows end with their peer (--udp-idle), at most --udp-peers
    /// at once
    #[argh(switch)]
    pub udp_flows: bool,
    /// zero-I/O: connect (or accept), report, close. HOST PORTS scans a list (20-25,80; also
    /// HOST P1 P2 ...): one line per port, in the order given; exit 0 if any is open (as nc).
    /// With -u: one datagram each; ICMP unreachable = closed, silence = open|filtered
    #[argh(switch, short = 'z')]
    pub zero_io: bool,
    /// port scans (-z): most connects in flight at once (default: a quarter of the descriptor
    /// limit, at most 512)
    #[argh(option, arg_name = "N")]
    pub scan_parallel: Option<String>,
    /// after a target's connection closes cleanly, dial it again: at once, or with back-off
    /// (from 100 ms, doubling to 5 s) from the second session in a row that carried no data; a
    /// failed redial ends that target. Not after errors: that is -R
    #[argh(switch, short = 'r')]
    pub reconnect: bool,
    /// after a failed connect or a connection error, dial the target again (back-off from 100
    /// ms, doubling to 5 s; each new failure said once, repeats counted). Not after a clean
    /// close: add -r for that
    #[argh(switch, short = 'R')]
    pub reconnect_on_error: bool,
    /// connect timeout (default: the OS's); with -l also the accept timeout
    #[argh(option, short = 'w', long = "wait", arg_name = "SECS")]
    pub wait: Option<String>,
    /// after input ends, exit SECS seconds later even if peers stay open
    #[argh(option, short = 'q', long = "quit-after", arg_name = "SECS")]
    pub quit_after: Option<String>,
    /// when input ends, send FIN to every socket (by default only to those that input was sent
    /// to; through a proxy, none without -N)
    #[argh(switch, short = 'N')]
    pub shutdown: bool,
    /// do not send FIN when input ends
    #[argh(switch)]
    pub no_shutdown: bool,
    /// when input ends: FIN every socket, accept and dial no more, keep printing what peers
    /// send, exit once they have closed (UDP: once everything was sent; also --eai). netcat's
    /// -q 0 is -q 0
    #[argh(switch)]
    pub exit_after_input: bool,
    /// after a peer's FIN, finish its connection once local input has sent nothing for SECS
    /// (default 1; 0 = at once; at a terminal: at once)
    #[argh(option, arg_name = "SECS")]
    pub close_grace: Option<String>,
    /// after a peer's FIN, keep its connection open until local input ends
    #[argh(switch)]
    pub half_open: bool,
    /// send size: bytes per read of local input (default 131072; with -u 65507, the most)
    #[argh(option, arg_name = "N")]
    pub ss: Option<String>,
    /// SO_SNDBUF size in bytes
    #[argh(option, arg_name = "N")]
    pub sb: Option<String>,
    /// SO_RCVBUF size in bytes (UDP sockets otherwise ask for 4 MiB, capped by net.core.rmem_max)
    #[argh(option, arg_name = "N")]
    pub rb: Option<String>,
    /// IP TTL / hop limit (1-255); with --mc the multicast TTL (default 1)
    #[argh(option, arg_name = "N")]
    pub ttl: Option<String>,
    /// local input: stdin-nochar (default: stdin in blocks), stdin (at a terminal: each key is
    /// sent as typed, Ctrl-D ends input; Unix), none, echo (each socket's data back to it),
    /// rand, fixed (see Generated input), pfqoscli, pfqossrv (see QoS probes)
    #[argh(option, short = 'i', arg_name = "MODE")]
    pub input: Option<InputMode>,
    /// local output: stdout (default), none
    #[argh(option, short = 'o', arg_name = "MODE")]
    pub output: Option<OutputMode>,
    /// run CMD (sh -c on Unix, cmd /C on Windows) once, when the first connection appears; its
    /// stdout is local input (to every socket) and everything received goes to its stdin. Its
    /// stderr is netcrab's. Once it has ended, later clients (-L) get EOF at once
    #[argh(option, short = 'e', long = "exec", arg_name = "CMD")]
    pub exec: Option<String>,
    /// run CMD for each connection, wired to that connection only (TCP, like ncat -e): the
    /// peer's FIN closes CMD's stdin, CMD's stdout EOF sends FIN, and CMD's exit closes the
    /// connection
    #[argh(option, arg_name = "CMD")]
    pub exec_each: Option<String>,

    // --- UNIX domain socket flags ---
    /// UNIX domain sockets: the targets and -l/-L addresses are socket paths (anywhere else
    /// write unix:PATH); with -u datagram sockets
    #[argh(switch, short = 'U')]
    pub unix: bool,
    /// local address: the source IP of outbound connections; with -U -u the client's own
    /// socket path (default: a private one, removed at exit)
    #[argh(option, short = 's', arg_name = "ADDR|PATH")]
    pub source: Option<String>,
    /// smallest chunk of -i rand, and smallest pfqoscli payload (default 1)
    #[argh(option, arg_name = "N")]
    pub rsizemin: Option<String>,
    /// largest chunk of -i rand, and largest pfqoscli payload (default 1450)
    #[argh(option, arg_name = "N")]
    pub rsizemax: Option<String>,
    /// generated byte values: any (binary, the default) or printable ASCII 0x20-0x7E
    #[argh(option, arg_name = "binary|ascii")]
    pub rvals: Option<RandVals>,
    /// send CRLF: a \n of local input becomes \r\n
    #[argh(switch, short = 'C')]
    pub crlf: bool,
    /// print totals at exit (bytes and messages in and out); alone, also 0.11's line every
    /// second while data moves (recv N B/s (N recvs/s), send ...)
    #[argh(switch)]
    pub stats: bool,
    /// print a report every MS ms, per connection and in total, with per-second rates (also
    /// --st); also the pfqoscli ping period (default 1000)
    #[argh(option, arg_name = "MS")]
    pub stats_time: Option<String>,
    /// print the reports as one JSON object per line (implies --stats)
    #[argh(switch)]
    pub stats_json: bool,
    /// delay each chunk of local input by a random time of at least MS ms
    #[argh(option, arg_name = "MS")]
    pub sdmin: Option<String>,
    /// delay each chunk of local input by a random time of at most MS ms
    #[argh(option, arg_name = "MS")]
    pub sdmax: Option<String>,
    /// delay each chunk received from a socket (never local input) by at least MS ms
    #[argh(option, arg_name = "MS")]
    pub rdmin: Option<String>,
    /// delay each chunk received from a socket (never local input) by at most MS ms
    #[argh(option, arg_name = "MS")]
    pub rdmax: Option<String>,
    /// drop a chunk of local input with probability P (0 to 1)
    #[argh(option, arg_name = "P")]
    pub sdrop: Option<String>,
    /// drop a chunk received from a socket with probability P (0 to 1)
    #[argh(option, arg_name = "P")]
    pub rdrop: Option<String>,
    /// hex dump of every chunk sent to or received from a socket
    #[argh(switch)]
    pub hexdump: bool,
    /// IPv4 addresses only
    #[argh(switch, short = '4')]
    pub ipv4: bool,
    /// IPv6 addresses only
    #[argh(switch, short = '6')]
    pub ipv6: bool,
    /// numeric addresses only (no name lookups)
    #[argh(switch, short = 'n')]
    pub numeric: bool,
    /// more status output (repeat for more)
    #[argh(switch, short = 'v')]
    pub verbose: u8,
    /// close a TCP connection with no data either way for SECS (per connection: one idle client
    /// does not end the others; TCP only: with -u see --udp-idle)
    #[argh(option, arg_name = "SECS")]
    pub idle_timeout: Option<String>,
    /// hub: drop a TCP client whose queue stays full this many seconds (default 1; UDP peers
    /// never stall a hub)
    #[argh(option, arg_name = "SECS")]
    pub hub_wait: Option<String>,
    /// accept only peers in this address block, or at a host name's addresses (repeatable; IPv4 and IPv6)
    #[argh(option, arg_name = "ADDR[/BITS]")]
    pub allow: Vec<String>,
    /// refuse peers in this address block, or at a host name's addresses (repeatable); deny wins over allow
    #[argh(option, arg_name = "ADDR[/BITS]")]
    pub deny: Vec<String>,
    /// read --allow entries from F, several a line (spaces or commas), # comments (repeatable)
    #[argh(option, arg_name = "F")]
    pub allow_file: Vec<String>,
    /// read --deny entries from F, several a line (spaces or commas), # comments (repeatable)
    #[argh(option, arg_name = "F")]
    pub deny_file: Vec<String>,
    /// proxy protocol, OpenBSD nc's spelling: connect (HTTP CONNECT), 5 (SOCKS5, the default
    /// with -x alone), 4 (SOCKS4), 4a (SOCKS4a)
    #[argh(option, short = 'X', arg_name = "connect|5|4|4a")]
    pub proxy_proto: Option<String>,
    /// proxy for outbound TCP, OpenBSD nc's spelling; default port 3128 (connect) or 1080
    /// (SOCKS)
    #[argh(option, short = 'x', arg_name = "HOST[:PORT]")]
    pub proxy_addr: Option<String>,
    /// proxy user; the password comes from the environment variable NETCRAB_PROXY_PASS or the
    /// first line of --proxy-pass-file, never from the command line
    #[argh(option, short = 'P', arg_name = "USER")]
    pub proxy_user: Option<String>,
    /// proxy for outbound TCP, ncat's spelling
    #[argh(option, arg_name = "HOST[:PORT]")]
    pub proxy: Option<String>,
    /// proxy protocol, ncat's spelling: http (default), socks5, socks4, socks4a
    #[argh(option, arg_name = "TYPE")]
    pub proxy_type: Option<String>,
    /// proxy user, as -P (ncat's USER:PASS is refused: no passwords on the command line)
    #[argh(option, arg_name = "USER")]
    pub proxy_auth: Option<String>,
    /// where target names are looked up: remote (by the proxy; default), local, both (here,
    /// else by the proxy), none; SOCKS4 always looks up here
    #[argh(option, arg_name = "MODE")]
    pub proxy_dns: Option<String>,
    /// read the proxy user's password from the first line of F
    #[argh(option, arg_name = "F")]
    pub proxy_pass_file: Option<String>,
    /// targets reached without the proxy: names, addresses, CIDR blocks (comma-separated;
    /// repeatable)
    #[argh(option, arg_name = "LIST")]
    pub no_proxy: Vec<String>,
    /// is this box on the network? interfaces (state, carrier, MTU, MAC, addresses), default
    /// routes, DNS servers and a verdict; then exit (1 when the verdict is not "looks connected")
    #[argh(switch)]
    pub ifaces: bool,
    /// print the version
    #[argh(switch, short = 'V')]
    pub version: bool,

    // Two-ended network check (feature "probe"): see src/cli/probe.rs.
    /// run a probe responder: a TCP control listener and a UDP socket on ADDR's port (:P, *:P,
    /// IP:P); serves many clients at once, runs until killed
    #[argh(option, arg_name = "ADDR")]
    pub probe_server: Option<String>,
    /// check the path to a probe responder: tcp (connect time, MiB/s each way), udp (RTT,
    /// jitter, loss), pmtu (IP MTU with don't-fragment), broadcast, multicast, reverse (inbound
    /// TCP); one line per check, exit 0 if every check that applies passed
    #[argh(option, arg_name = "HOST:PORT")]
    pub probe: Option<String>,
    /// with --probe-server: exit after one client
    #[argh(switch)]
    pub once: bool,
    /// print the report as one JSON object (--probe, --ifaces, --dhcp-probe)
    #[argh(switch)]
    pub json: bool,
    /// with --probe: seconds of each TCP throughput run (default 2)
    #[argh(option, arg_name = "SECS")]
    pub probe_time: Option<String>,
    /// with --probe: the multicast group (default 239.255.77.77; ff08::4d4d over IPv6)
    #[argh(option, arg_name = "IP")]
    pub probe_group: Option<String>,

    // DHCP probe (feature "dhcp"): see src/cli/dhcp.rs.
    /// send a DHCPDISCOVER out of IFACE (from UDP port 68, broadcast) and print each server's
    /// offer: address, mask, routers, DNS, lease. Never requests, so no lease is taken; exit 0
    /// if an offer came, 1 if none
    #[argh(option, arg_name = "IFACE")]
    pub dhcp_probe: Option<String>,
    // Tunnel mode: see src/cli/tunnel.rs.
    /// tunnel relay: listen on ADDR for the inside end (its control and data connections)
    #[argh(option, arg_name = "ADDR")]
    pub tunnel_relay: Option<String>,
    /// with --tunnel-relay: listen on [udp:|tcp:]ADDR:PORT for clients (repeatable: the k-th
    /// serves the inside end's k-th service); each TCP client gets its own connection to the
    /// service, dialled when it arrives; each UDP peer its own flow
    #[argh(option, arg_name = "ADDR")]
    pub tunnel_public: Vec<String>,
    /// tunnel inside end: keep a control connection to the relay at HOST:PORT (reconnecting
    /// with back-off; through -X/-x/--proxy when given); the targets are its services
    /// ([udp:]HOST:PORT each), dialled per client
    #[argh(option, arg_name = "HOST:PORT")]
    pub tunnel_inside: Option<String>,
    /// tunnel: the shared secret (other users see it in ps: prefer --secret-file)
    #[argh(option, arg_name = "S")]
    pub secret: Option<String>,
    /// tunnel: the shared secret, read from F: an HMAC-SHA256 challenge and response on every
    /// connection of the inside link; both ends must hold it. Authentication only: the traffic
    /// is NOT encrypted
    #[argh(option, arg_name = "F")]
    pub secret_file: Option<String>,
    // --- check flags ---
    // Feature "check": checked in src/cli/check.rs.
    /// check this box layer by layer: link, address, gateway (ARP/NDP, echo), DNS (a real query
    /// to each server), the TARGETs (HOST:PORT connects, udp:HOST:PORT needs an answer; path
    /// MTU) and web; one line each, exit 0 or 10-15 naming the first layer that fails
    #[argh(switch)]
    pub check: bool,
    /// check: the name the DNS layer asks each server for (default: the root's NS)
    #[argh(option, arg_name = "NAME")]
    pub check_name: Option<String>,
    /// check: fetch http://HOST[:PORT]/PATH (another status: a captive portal?)
    #[argh(option, arg_name = "URL")]
    pub check_url: Option<String>,
    /// check: the HTTP status --check-url expects (default 200 or 204)
    #[argh(option, arg_name = "CODE")]
    pub check_expect: Option<String>,
    /// check: layers not to run, comma-separated (gateway,dns,targets,web)
    #[argh(option, arg_name = "LAYERS")]
    pub check_skip: Option<String>,
    // --- tunnel flags ---
    /// tunnel: heartbeat of the control connection in seconds; 3 missed = link dropped
    /// (default 10)
    #[argh(option, arg_name = "SECS")]
    pub tunnel_keepalive: Option<String>,
    // --- tunnel mux flags ---
    /// tunnel inside end: run every client stream over the one control connection
    /// (per-stream flow control; the relay accepts both kinds of inside end)
    #[argh(switch)]
    pub tunnel_mux: bool,
}

/// Parse an enum value, accepting each of its spellings.
/// `names[i]` spells `values[i]` (the two tables have one row per value).
fn parse_choice<T: Copy>(
    s: &str,
    names: &[&[&str]],
    values: &[T],
    what: &str,
) -> Result<T, String> {
    choice_index(s, names, what).map(|i| values[i])
}

/// The row of `names` that spells `s`, or the error line listing each row's
/// first name: one body for every enum (the generic shell only maps the row).
#[inline(never)]
fn choice_index(s: &str, names: &[&[&str]], what: &str) -> Result<usize, String> {
    if let Some(i) = names
        .iter()
        .position(|row| row.iter().any(|n| n.eq_ignore_ascii_case(s)))
    {
        return Ok(i);
    }
    let list: Vec<&str> = names.iter().map(|n| n[0]).collect();
    Err(format!(
        "invalid {what} '{}' (expected one of: {})",
        crate::addr::clip(s),
        list.join(", ")
    ))
}

pub use crate::router::FwdMode;

impl FromStr for FwdMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_choice(
            s,
            &[
                &["none"],
                &["hub", "h"],
                &["channels", "c"],
                &["linger-channels", "lc", "linger_channels"],
            ],
            &[
                FwdMode::None,
                FwdMode::Hub,
                FwdMode::Channels,
                FwdMode::LingerChannels,
            ],
            "forwarding mode",
        )
    }
}

pub use crate::local::{InputMode, OutputMode};

impl FromStr for InputMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_choice(
            s,
            &[
                &["stdin"],
                &["stdin-nochar", "snc", "stdin_nochar"],
                &["none", "n"],
                &["echo", "e"],
                &["rand", "r"],
                &["fixed", "f"],
                &["pfqoscli"],
                &["pfqossrv"],
            ],
            &[
                InputMode::Stdin,
                InputMode::StdinNochar,
                InputMode::None,
                InputMode::Echo,
                InputMode::Rand,
                InputMode::Fixed,
                InputMode::PfQosCli,
                InputMode::PfQosSrv,
            ],
            "input mode",
        )
    }
}

impl FromStr for OutputMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_choice(
            s,
            &[&["stdout"], &["none", "n"]],
            &[OutputMode::Stdout, OutputMode::None],
            "output mode",
        )
    }
}

pub use crate::local::RandVals;

impl FromStr for RandVals {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_choice(
            s,
            &[&["binary", "b", "bin"], &["ascii", "a"]],
            &[RandVals::Binary, RandVals::Ascii],
            "value kind",
        )
    }
}
