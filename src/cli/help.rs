//! The help text, grouped for people (argh's generated list cannot group).

pub const TEXT: &str = "\
netcrab: a netcat-style TCP/UDP tool that holds many sockets and routes data between them.

Usage:
  netcrab [options] [SRC=]HOST:PORT[xN] ...      connect to one or more targets
  netcrab [options] -l ADDR:PORT ...             listen for one connection per address, then exit
  netcrab [options] -L ADDR:PORT ...             keep listening
  netcrab HOST PORT | netcrab -l -p PORT | netcrab -l PORT   classic netcat forms

Addresses:
  HOST:PORT, [v6]:PORT     a name (every address it resolves to) or a literal
  SRC=HOST:PORT            bind the outbound socket to SRC first (IP, IP:PORT or :PORT)
  HOST:PORTxN              open N connections to the target
  :PORT                    (listen) every address of every local interface, each listed
  *:PORT, PORT             (listen) 0.0.0.0:PORT and [::]:PORT side by side
  *                        (listen) both wildcards on an ephemeral port

Connections:
  -l ADDR:PORT             listen; exit when the accepted connections end (repeatable)
  -L ADDR:PORT             listen and keep accepting (repeatable); -k turns -l into -L
  -m N                     most inbound connections at once, over all listeners (0 = no limit
                           with -L); default: 1 per listen address, 10 with --fm hub/channels.
                           Further clients wait in the backlog until one leaves.
  -p PORT                  local port for outbound connections
  -w SECS                  connect timeout (default: the OS's); with -l also the accept timeout
  -z                       zero-I/O: connect (or accept), report, close. HOST PORTS scans a
                           list (20-25,80): one line per port, in the order given
  --scan-parallel N        -z: most connects in flight (default: a quarter of the
                           descriptor limit, at most 512)
  -r / -R                  reconnect a target after it closes / also after an error
  -4 / -6                  IPv4 / IPv6 addresses only
  -n                       numeric addresses only (no name lookups)
  --sb N / --rb N          SO_SNDBUF / SO_RCVBUF
  --ttl N                  IP TTL / hop limit (1-255); with --mc the multicast TTL (default 1)
  --idle-timeout SECS      close a TCP connection with no data either way for SECS
                           (per connection: one idle client does not end the others)
  --ifaces                 is this box on the network? interfaces (state, carrier, MTU, MAC,
                           addresses), default routes, DNS servers, a verdict; then exit

Proxy (every outbound TCP connection: targets, xN, SRC= binds the socket to the proxy, -r/-R):
  -X connect|5|4|4a -x HOST[:PORT]   OpenBSD nc spelling: HTTP CONNECT, SOCKS5 (the default with
                           -x alone), SOCKS4, SOCKS4a; default port 3128 (connect), 1080 (SOCKS)
  --proxy HOST[:PORT] --proxy-type http|socks5|socks4|socks4a   ncat spelling (default http)
  -P USER, --proxy-auth USER   proxy user; the password is read from the environment variable
                           NETCRAB_PROXY_PASS or the first line of --proxy-pass-file F, never
                           taken from the command line (ncat's USER:PASS is refused)
  --proxy-dns MODE         where target names are looked up: remote (by the proxy; default),
                           local, both (here, else the proxy), none; SOCKS4 always looks up here
  --no-proxy LIST          targets reached directly: names, addresses, CIDR blocks (a,b,...)
  The handshake is bounded by -w (30 s without it). With -u a proxy is a usage error.

Access control (listeners; TCP peers are closed at once, UDP datagrams dropped):
  --allow ADDR[/BITS]      accept only peers in these blocks (repeatable, IPv4 and IPv6)
  --deny ADDR[/BITS]       refuse peers in these blocks (repeatable); deny wins over allow
  --allow-file F, --deny-file F   the same, one entry per line, # comments

UDP:
  -u                       UDP: each read of input is one datagram (--ss, default 1472);
                           listeners learn peers from their datagrams
  -b                       SO_BROADCAST (send to a broadcast address)
  --mc                     join the targets (or -L GROUP:PORT) as multicast groups
  --mc-if ADDR|NAME        multicast interface;  --mc-no-loop: don't hear yourself
  --udp-idle SECS          forget a learned peer after SECS of silence (default 60)
  --udp-peers N            at most N learned peers at once (default 1024); datagrams from
                           further new peers are dropped (-v says how many, once a second)
  --udp-flows              channels: each learned peer of a listener that has no partner
                           gets its own new socket to the (single) target, so replies go
                           to that peer only (a DNS/NTP/syslog relay, like socat's fork);
                           flows end with their peer (--udp-idle), at most --udp-peers

Data:
  -i MODE                  local input: stdin-nochar (default: stdin in blocks), stdin
                           (at a terminal: each key is sent as typed, Ctrl-D ends input;
                           Unix), none, echo
                           (send each socket's data back to it), rand, fixed (see
                           Generated input), pfqoscli, pfqossrv (see QoS probes)
  -o MODE                  local output: stdout (default), none
  --ss N                   bytes per read of local input (default 131072)
  -f, --fm MODE            forwarding: none (default), hub, channels, linger-channels
                           none: input to every socket, every socket to output
                           hub: as none, and every socket to every other socket; a client
                           whose queue stays full --hub-wait SECS (default 1) is dropped
                           channels: pair sockets into two-way tunnels. A socket pairs with
                           the oldest unpaired socket from a DIFFERENT endpoint (another -l/-L
                           address or another target), or from the SAME listen address with a
                           different remote IP (as 0.11). Copies of one target (xN) never pair.
                           Until paired, a socket is not read further, so nothing is lost. FIN
                           is forwarded to the partner; the tunnel ends when both sides have.
                           linger-channels: as channels, but when one side leaves, its
                           partner stays open and pairs again with the next socket
  -C                       send CRLF: a \\n of local input becomes \\r\\n

Generated input (feature \"gen\"):
  -i rand                  endless random chunks, each of a random size in [--rsizemin, --rsizemax]
  -i fixed                 one random buffer of --ss bytes, sent over and over
  --rsizemin N / --rsizemax N
                           chunk sizes for -i rand, payload sizes for pfqoscli (default 1 to 1450)
  --rvals binary|ascii     byte values: any (default) or printable ASCII 0x20-0x7E

Commands (feature \"exec\"; they replace -i and -o):
  -e, --exec CMD           run CMD (sh -c on Unix, cmd /C on Windows) once, when the first
                           connection appears; its stdout is local input (to every socket) and
                           everything received goes to its stdin. Its stderr is netcrab's.
  --exec-each CMD          run CMD for each connection, wired to that connection only (TCP,
                           like ncat -e). The peer's FIN closes CMD's stdin, CMD's stdout EOF
                           sends FIN, and CMD's exit closes the connection.

Statistics and tracing (features \"stats\", \"hexdump\"; all on stderr):
  --stats                  totals at exit (bytes and messages in and out)
  --stats-time MS, --st MS report every MS ms, per connection and in total, with per-second
                           rates; also the pfqoscli ping period (default 1000)
  --stats-json             reports as one JSON object per line (implies --stats)
  --hexdump                hex dump of every chunk sent to or received from a socket

Fault injection, for testing (feature \"faults\"):
  --sdmin MS / --sdmax MS  delay each chunk of local input by a random time in [min, max]
  --rdmin MS / --rdmax MS  delay each chunk received from a socket (not local input)
  --sdrop P / --rdrop P    drop a chunk of local input / a received chunk with probability P
                           (0 to 1). On TCP a dropped chunk is missing from the stream, which
                           corrupts it; on UDP a chunk is one datagram.

QoS probes (UDP, feature \"qos\"; probes are never written to stdout):
  -i pfqossrv              answer each request FF FF + payload with 00 00 + the same payload
  -i pfqoscli              ping every peer each --stats-time ms with FF FF + a random payload
                           (--rsizemin/--rsizemax/--rvals); print each round-trip time, the
                           loss and the jitter
  A build without a feature rejects its flags with a usage error naming the feature.

Check a box in one command (feature \"probe\"):
  --probe-server ADDR      responder: TCP control listener + UDP socket on ADDR's port (:P, *:P,
                           IP:P); serves many clients at once, runs until killed
  --once                   (with --probe-server) exit after one client
  --probe HOST:PORT        check the path to a responder: tcp (connect time, MiB/s each way),
                           udp (RTT, jitter, loss), pmtu (IP MTU with don't-fragment),
                           broadcast, multicast, reverse (inbound TCP); one line per check,
                           exit 0 if every check that applies passed
  --json                   (with --probe, --ifaces, --dhcp-probe) the report as one JSON object
  --probe-time SECS        (with --probe) each TCP throughput run (default 2)
  --probe-group IP         (with --probe) multicast group (default 239.255.77.77)

Is there a DHCP server on this link? (feature \"dhcp\"; Linux, Windows):
  --dhcp-probe IFACE       send a DHCPDISCOVER out of IFACE (from UDP 68, broadcast) and print
                           each server's offer: address, mask, routers, DNS, lease; never
                           requests, so no lease is taken. Exit 0 if an offer came, 1 if none
  -w SECS                  (with --dhcp-probe) how long to collect offers (default 5)
  --json                   (with --dhcp-probe) the offers as one JSON object

Tunnel mode (feature \"tunnel\"; reverse tunnels for many clients, --fm channels unchanged):
  --tunnel-relay ADDR      relay: listen on ADDR for the inside end (control + data connections)
  --tunnel-public ADDR     (with --tunnel-relay) listen on ADDR for clients; each client gets its
                           own connection to the service, dialled only when it arrives
  --tunnel-inside HOST:PORT SERVICE:PORT
                           inside end: keep a control connection to the relay (reconnecting
                           with back-off); per client dial SERVICE and a data connection
  --secret-file F, --secret S   shared secret (feature \"secret\"): HMAC-SHA256 challenge and
                           response on every inside-link connection, both ends must hold it.
                           Authentication only: traffic is NOT encrypted
  -w SECS                  (with --tunnel-inside) connect timeout (default 10)

End of input (half-close):
  When input ends, netcrab sends FIN (shutdown of the write side) to every socket that input
  was sent to, and keeps reading until the peers close, so a request/response exchange
  completes. A socket that got no input gets no FIN (a receiver `< /dev/null` does not end its
  sender's session). A peer's FIN ends that direction only: netcrab keeps sending input to it
  while input flows; once input has sent nothing for --close-grace SECS (or has ended), the
  connection is finished: closed, its -m slot freed, counted for -l, -r and the exit.
  -N                       send that FIN to every socket, input or not
  --no-shutdown            do not send FIN when input ends
  --close-grace SECS       how long silent input keeps a half-closed peer's connection
                           (default 1; 0 = at once; at a terminal: at once)
  --half-open              keep a half-closed peer's connection until input ends
  -q SECS                  after input ends, exit SECS seconds later even if peers stay open
  --exit-after-input       when input ends: FIN every socket, accept and dial no more, keep
                           printing what peers send, exit once they have closed (UDP: once
                           everything was sent). netcat's -q 0 is: -q 0

Output and status:
  Received data goes to stdout and nothing else does: status, -v lines and errors go to stderr.
  -v                       more status (repeat for more)
  -V, --version            print the version
  -h, --help               print this help

Exit codes: 0 success, 1 runtime failure (refused, reset, bind failed), 2 bad command line.

Examples:
  printf 'GET / HTTP/1.0\\r\\n\\r\\n' | netcrab example.com:80
  netcrab -l 127.0.0.1:9000 > received.bin         (and: netcrab 127.0.0.1:9000 < file.bin)
  netcrab -L '*:7000' -m 0 --fm hub                 a chat hub for any number of clients
  netcrab 127.0.0.5:0=127.0.0.1:7000x3              three connections from 127.0.0.5
  Reverse tunnel: relay  netcrab --fm channels -o none -i none -L '*:7001' -L '*:7002'
                  inside netcrab --fm channels -o none -i none -r relay.example:7001 127.0.0.1:22
                  then   ssh -p 7002 user@relay.example
                  inside, behind an HTTP proxy: add -X connect -x proxy.corp:3128 --no-proxy 127.0.0.1
  Tunnel mode:    relay  netcrab --tunnel-relay '*:7001' --tunnel-public '*:7002' --secret-file key
                  inside netcrab --tunnel-inside relay.example:7001 127.0.0.1:22 --secret-file key
                  then   ssh -p 7002 user@relay.example   (any number of clients at once)
  netcrab -L 127.0.0.1:7000 -m 0 --exec-each 'tr a-z A-Z'   an upper-casing service
  netcrab -u -i pfqoscli beacon.example:3075         QoS round trips to a beacon
";
