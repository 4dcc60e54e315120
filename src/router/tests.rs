//! The router's rules as tables: half-close (when a socket's write side
//! closes), pairing (which sockets form a channel), and where a chunk goes.
//! No sockets: routes are queues nobody reads.

use super::*;
use smol::channel::{bounded, Receiver};

/// A router event, as the run reports it.
#[derive(Clone, Copy)]
enum Ev {
    /// A socket from this origin and remote IP (`127.0.0.N`) joins.
    Add(Origin, u8),
    /// Its peer finished sending; `true`: with an error.
    ReadEnded(RouteId, bool),
    WriteFailed(RouteId),
    Remove(RouteId),
    /// Local input sent this route a chunk.
    Fed(RouteId),
    LocalEnded,
    LocalQuiet(bool),
    NoMoreRoutes,
    FinEverySocket,
}
use Ev::*;

const L0: Origin = Origin::Listener(0);
const L1: Origin = Origin::Listener(1);
const T0: Origin = Origin::Target(0);
const T1: Origin = Origin::Target(1);

#[derive(Clone, Copy)]
struct Setup {
    mode: FwdMode,
    local_in: LocalInput,
    keeps_open: bool,
    eof_fin: EofFin,
    echo: bool,
    local_loop: bool,
}

const P2P: Setup = Setup {
    mode: FwdMode::None,
    local_in: LocalInput::Live,
    keeps_open: true,
    eof_fin: EofFin::Fed,
    echo: false,
    local_loop: false,
};

fn with(mode: FwdMode, local_in: LocalInput) -> Setup {
    Setup {
        mode,
        local_in,
        ..P2P
    }
}

/// A router after `events`, with the receiving ends of every queue (kept
/// so that no queue counts as closed).
fn run(s: &Setup, events: &[Ev]) -> (Router<()>, Vec<Receiver<Bytes>>) {
    let (out_tx, out_rx) = bounded(4);
    let mut r = Router::new(Options {
        mode: s.mode,
        echo: s.echo,
        local_out: Some(out_tx),
        local_in: s.local_in,
        local_keeps_open: s.keeps_open,
        eof_fin: s.eof_fin,
        local_loop: s.local_loop,
        verbose: 0,
    });
    let mut queues = vec![out_rx];
    for e in events {
        match *e {
            Add(origin, n) => {
                let (tx, rx) = bounded(4);
                queues.push(rx);
                let ip = std::net::Ipv4Addr::new(127, 0, 0, n);
                let peer = SocketAddr::from((ip, 40000 + queues.len() as u16));
                let local = SocketAddr::from(([127, 0, 0, 1], 5000));
                r.add(tx, origin, local, peer, ());
            }
            ReadEnded(id, failed) => r.read_ended(id, failed),
            WriteFailed(id) => r.write_failed(id),
            Remove(id) => {
                r.remove(id);
            }
            Fed(id) => r.fed(id),
            LocalEnded => r.local_ended(),
            LocalQuiet(q) => r.local_quiet(q),
            NoMoreRoutes => r.no_more_routes(),
            FinEverySocket => r.fin_every_socket(),
        }
    }
    (r, queues)
}

/// Whether route `id`'s write side is still open (no FIN yet).
fn write_open(r: &Router<()>, id: RouteId) -> bool {
    r.routes.get(&id).is_some_and(|x| x.tx.is_some())
}

fn partner(r: &Router<()>, id: RouteId) -> Option<RouteId> {
    r.routes.get(&id).and_then(|x| x.partner)
}

#[test]
fn the_half_close_table() {
    use FwdMode::{Channels, Hub, LingerChannels};
    use LocalInput::{Live, Silent};
    let term = Setup {
        keeps_open: false,
        ..P2P
    };
    let all = Setup {
        eof_fin: EofFin::All,
        ..P2P
    };
    let never = Setup {
        eof_fin: EofFin::Never,
        ..P2P
    };
    let echo = Setup {
        echo: true,
        ..with(FwdMode::None, Silent)
    };
    // (what, setup, events, write side open for routes 1, 2, ...)
    type Case = (&'static str, Setup, &'static [Ev], &'static [bool]);
    let cases: Vec<Case> = vec![
        (
            "p2p: a new socket can be sent to",
            P2P,
            &[Add(L0, 1)],
            &[true],
        ),
        (
            "p2p: peer's FIN, live input keeps the socket open",
            P2P,
            &[Add(L0, 1), ReadEnded(1, false)],
            &[true],
        ),
        (
            "p2p: peer's FIN, typed input (a terminal) does not",
            term,
            &[Add(L0, 1), ReadEnded(1, false)],
            &[false],
        ),
        (
            "p2p: peer's FIN, then input quiet for the grace: FIN",
            P2P,
            &[Add(L0, 1), ReadEnded(1, false), LocalQuiet(true)],
            &[false],
        ),
        (
            "p2p: quiet input alone closes nothing while the peer talks",
            P2P,
            &[Add(L0, 1), LocalQuiet(true)],
            &[true],
        ),
        (
            "p2p: input ended: the socket it fed gets its FIN",
            P2P,
            &[Add(L0, 1), Fed(1), LocalEnded],
            &[false],
        ),
        (
            "p2p: input ended: a socket it never fed does not",
            P2P,
            &[Add(L0, 1), Add(L1, 1), Fed(1), LocalEnded],
            &[false, true],
        ),
        (
            "-N: input ended: every socket gets its FIN",
            all,
            &[Add(L0, 1), Add(L1, 1), Fed(1), LocalEnded],
            &[false, false],
        ),
        (
            "--exit-after-input: the same, switched on at run time",
            P2P,
            &[Add(L0, 1), Add(L1, 1), FinEverySocket, LocalEnded],
            &[false, false],
        ),
        (
            "-N: a socket that comes after input ended gets it at once",
            all,
            &[LocalEnded, Add(L0, 1)],
            &[false],
        ),
        (
            "--no-shutdown: input's end sends no FIN",
            never,
            &[Add(L0, 1), Fed(1), LocalEnded],
            &[true],
        ),
        (
            "no local input: peer's FIN is answered with FIN",
            with(FwdMode::None, Silent),
            &[Add(L0, 1), ReadEnded(1, false)],
            &[false],
        ),
        (
            "a failed read closes the write side too",
            P2P,
            &[Add(L0, 1), ReadEnded(1, true)],
            &[false],
        ),
        (
            "a failed write stops sending to that socket only",
            P2P,
            &[Add(L0, 1), Add(L1, 1), WriteFailed(1)],
            &[false, true],
        ),
        (
            "echo: a socket that talks is its own source",
            echo,
            &[Add(L0, 1)],
            &[true],
        ),
        (
            "echo: once it stops talking, FIN",
            echo,
            &[Add(L0, 1), ReadEnded(1, false)],
            &[false],
        ),
        (
            "hub: a finished client stays open while another talks",
            with(Hub, Silent),
            &[Add(L0, 1), Add(L0, 2), ReadEnded(1, false)],
            &[true, true],
        ),
        (
            "hub: when the last one finishes, every client gets FIN",
            with(Hub, Silent),
            &[
                Add(L0, 1),
                Add(L0, 2),
                ReadEnded(1, false),
                ReadEnded(2, false),
            ],
            &[false, false],
        ),
        (
            "hub: the others keep a client open after one leaves",
            with(Hub, Silent),
            &[
                Add(L0, 1),
                Add(L0, 2),
                Add(L0, 3),
                Remove(1),
                ReadEnded(2, false),
            ],
            &[false, true, true],
        ),
        (
            "channels: an unpaired socket waits open for a partner",
            with(Channels, Silent),
            &[Add(L0, 1)],
            &[true],
        ),
        (
            "channels: a partner's FIN is forwarded, not its own",
            with(Channels, Silent),
            &[Add(L0, 1), Add(L1, 1), ReadEnded(1, false)],
            &[true, false],
        ),
        (
            "channels: both finished, both closed",
            with(Channels, Silent),
            &[
                Add(L0, 1),
                Add(L1, 1),
                ReadEnded(1, false),
                ReadEnded(2, false),
            ],
            &[false, false],
        ),
        (
            "channels: live local input keeps nothing open past the partner",
            with(Channels, Live),
            &[Add(L0, 1), Add(L1, 1), ReadEnded(1, false)],
            &[true, false],
        ),
        (
            "linger: the one that left gets FIN, its partner lingers open",
            with(LingerChannels, Silent),
            &[Add(L0, 1), Add(L1, 1), ReadEnded(1, false)],
            &[false, true],
        ),
    ];
    for (what, setup, events, open) in &cases {
        let (r, _queues) = run(setup, events);
        let got: Vec<bool> = (1..=open.len() as RouteId)
            .map(|id| write_open(&r, id))
            .collect();
        assert_eq!(&got[..], *open, "{what}");
    }
}

#[test]
fn the_pairing_table() {
    use FwdMode::{Channels, LingerChannels};
    let ch = || with(Channels, LocalInput::Silent);
    // (what, setup, events, partner of routes 1, 2, ...)
    type Case = (
        &'static str,
        Setup,
        &'static [Ev],
        &'static [Option<RouteId>],
    );
    let cases: Vec<Case> = vec![
        (
            "two listeners pair",
            ch(),
            &[Add(L0, 1), Add(L1, 1)],
            &[Some(2), Some(1)],
        ),
        (
            "a listener and a target pair",
            ch(),
            &[Add(L0, 1), Add(T0, 1)],
            &[Some(2), Some(1)],
        ),
        (
            "two targets pair",
            ch(),
            &[Add(T0, 1), Add(T1, 1)],
            &[Some(2), Some(1)],
        ),
        (
            "one listener, one IP: no pair",
            ch(),
            &[Add(L0, 1), Add(L0, 1)],
            &[None, None],
        ),
        (
            "one listener, two IPs: a pair (0.11's relay)",
            ch(),
            &[Add(L0, 1), Add(L0, 2)],
            &[Some(2), Some(1)],
        ),
        (
            "copies of one target never pair",
            ch(),
            &[Add(T0, 1), Add(T0, 2)],
            &[None, None],
        ),
        (
            "the oldest waiting socket is paired first",
            ch(),
            &[Add(L0, 1), Add(L0, 1), Add(L1, 1), Add(L1, 1)],
            &[Some(3), Some(4), Some(1), Some(2)],
        ),
        (
            "a socket whose peer finished is not paired",
            ch(),
            &[Add(L0, 1), ReadEnded(1, false), Add(L1, 1)],
            &[None, None],
        ),
        (
            "channels: a partner's end does not free the other",
            ch(),
            &[Add(L0, 1), Add(L1, 1), ReadEnded(1, false), Add(L0, 1)],
            &[Some(2), Some(1), None],
        ),
        (
            "linger: a partner's end frees the other to pair again",
            with(LingerChannels, LocalInput::Silent),
            &[Add(L0, 1), Add(L1, 1), ReadEnded(1, false), Add(L0, 1)],
            &[None, Some(3), Some(2)],
        ),
        (
            "linger: a removed partner's other end pairs with a waiting one",
            with(LingerChannels, LocalInput::Silent),
            &[Add(L0, 1), Add(L1, 1), Add(L0, 1), Remove(1)],
            &[None, Some(3), Some(2)],
        ),
        (
            "channels: a removed partner's other end stays alone",
            ch(),
            &[Add(L0, 1), Add(L1, 1), Add(L0, 1), Remove(1)],
            &[None, None, None],
        ),
    ];
    for (what, setup, events, want) in &cases {
        let (r, _queues) = run(setup, events);
        let got: Vec<Option<RouteId>> = (1..=want.len() as RouteId)
            .map(|id| partner(&r, id))
            .collect();
        assert_eq!(&got[..], *want, "{what}");
    }
}

#[test]
fn where_a_chunk_goes() {
    use FwdMode::{Channels, Hub};
    let routes = |d: &Dests| d.routes.iter().map(|(id, _)| *id).collect::<Vec<_>>();
    // (what, setup, events, from, to local output, to routes)
    type Case = (
        &'static str,
        Setup,
        &'static [Ev],
        RouteId,
        bool,
        &'static [RouteId],
    );
    let echo = Setup { echo: true, ..P2P };
    let three: &[Ev] = &[Add(L0, 1), Add(L1, 1), Add(L0, 2)];
    let cases: Vec<Case> = vec![
        (
            "p2p: local input to every socket",
            P2P,
            three,
            LOCAL,
            false,
            &[1, 2, 3],
        ),
        (
            "p2p: a socket to local output only",
            P2P,
            three,
            2,
            true,
            &[],
        ),
        ("echo: also back to itself", echo, three, 2, true, &[2]),
        (
            "hub: to every other socket",
            with(Hub, LocalInput::Live),
            three,
            2,
            true,
            &[1, 3],
        ),
        (
            "channels: to its partner",
            with(Channels, LocalInput::Live),
            three,
            2,
            true,
            &[1],
        ),
        (
            "channels: unpaired, to local output only",
            with(Channels, LocalInput::Live),
            three,
            3,
            true,
            &[],
        ),
        (
            "a sender that is not a route: local output only",
            P2P,
            three,
            UNKNOWN,
            true,
            &[],
        ),
        (
            "a socket with a closed write side is not sent to",
            P2P,
            &[Add(L0, 1), Add(L1, 1), WriteFailed(1)],
            LOCAL,
            false,
            &[2],
        ),
    ];
    for (what, setup, events, from, local, to) in &cases {
        let (r, _queues) = run(setup, events);
        let d = r.dests(*from);
        assert_eq!(d.local.is_some(), *local, "{what}: local output");
        assert_eq!(&routes(&d)[..], *to, "{what}: routes");
    }
}

#[test]
fn a_shared_child_s_stdin_closes_once_no_socket_can_send() {
    let child = Setup {
        local_loop: true,
        ..P2P
    };
    let (r, _q) = run(&child, &[Add(T0, 1), ReadEnded(1, false)]);
    assert!(r.local_out.is_some(), "a new route may still come");
    let (r, _q) = run(&child, &[Add(T0, 1), NoMoreRoutes]);
    assert!(r.local_out.is_some(), "a socket still talks");
    let (r, _q) = run(&child, &[Add(T0, 1), NoMoreRoutes, ReadEnded(1, false)]);
    assert!(r.local_out.is_none(), "nothing can send more");
    assert!(r.quiet_floor().is_some(), "its grace starts now");
}

#[test]
fn a_socket_that_comes_after_a_shared_child_ended_gets_its_fin() {
    let child = Setup {
        local_loop: true,
        ..P2P
    };
    let (r, _q) = run(&child, &[Add(L0, 1), Fed(1), LocalEnded, Add(L0, 2)]);
    assert!(!write_open(&r, 1), "the fed socket gets its FIN");
    assert!(!write_open(&r, 2), "so does a later one (-L)");
    // stdin's end keeps the old rule: only fed sockets get a FIN.
    let (r, _q) = run(&P2P, &[Add(L0, 1), Fed(1), LocalEnded, Add(L0, 2)]);
    assert!(!write_open(&r, 1) && write_open(&r, 2));
}

#[test]
fn an_unpaired_socket_waits_for_its_partner() {
    let ch = with(FwdMode::Channels, LocalInput::Silent);
    let (r, _q) = run(&ch, &[Add(L0, 1)]);
    assert!(r.awaits_partner(1));
    let (r, _q) = run(&ch, &[Add(L0, 1), Add(L1, 1)]);
    assert!(!r.awaits_partner(1) && !r.awaits_partner(2));
    let (r, _q) = run(&P2P, &[Add(L0, 1)]);
    assert!(!r.awaits_partner(1), "only channel modes wait");
}
