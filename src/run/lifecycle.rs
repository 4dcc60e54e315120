//! When a run is over, and with which exit code: the one place that decides.
//!
//! Tasks report named transitions (a listener stopped, a dial started or
//! ended, a route opened or closed, input ended, ...); the supervisor asks
//! `verdict` after each one. The rule itself is a pure function of a
//! `Snapshot`, unit-tested below as a table without sockets.

use super::notify::Notify;
use smol::channel::{bounded, Receiver, Sender};
use std::cell::{Cell, RefCell};

/// Local input, as the end-of-run rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// More may come (stdin open, a child running, a generator).
    Open,
    /// It ended (EOF, the child's output closed).
    Ended,
    /// There is none (`-i none`, `-i echo`): it never ends.
    Silent,
}

/// What happened to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdout {
    Open,
    /// Its reader went away (`| head`): a quiet end, exit 0.
    Gone,
    /// A write failed otherwise (a full disk): exit 1.
    Failed,
}

/// Everything the end-of-run rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// UDP run: routes are learned peers, they never close by themselves.
    pub udp: bool,
    /// Listeners still accepting.
    pub listening: bool,
    /// Outbound connection tasks alive (connecting, connected, or waiting to
    /// reconnect).
    pub dialing: usize,
    /// Routes (connected sockets, UDP peers) in the router.
    pub routes: usize,
    /// Route writers still running (UDP `--exit-after-input` waits for them).
    pub writers: usize,
    /// Runtime failures seen: any makes the exit code 1.
    pub failures: u32,
    pub input: Input,
    /// `--exit-after-input` is set.
    pub exit_after_input: bool,
    /// `-q`'s wait after the end of input is over.
    pub quit_due: bool,
    pub stdout: Stdout,
    /// Ctrl-C arrived.
    pub interrupted: bool,
    /// UDP: the run's only target answered with ICMP port-unreachable and
    /// has sent nothing since.
    pub unreachable: bool,
}

impl Snapshot {
    fn code(&self) -> u8 {
        u8::from(self.failures > 0)
    }
}

/// Is the run over, and with which exit code?
pub fn verdict(s: &Snapshot) -> Option<u8> {
    if s.interrupted {
        // Shells report a Ctrl-C'd program as 130.
        return Some(130);
    }
    match s.stdout {
        Stdout::Failed => return Some(1),
        Stdout::Gone => return Some(0),
        Stdout::Open => {}
    }
    if s.quit_due {
        return Some(s.code());
    }
    // As ncat and socat: a UDP client whose only target is refused ends,
    // with exit 1, once it has nothing more to send.
    if s.udp && s.unreachable && s.input == Input::Ended {
        return Some(1);
    }
    if s.exit_after_input && s.input == Input::Ended {
        // TCP: every socket got its FIN and nothing new is accepted or
        // dialled; the run ends once the peers have closed too. UDP has no
        // close: it ends once everything was sent.
        let done = if s.udp {
            s.writers == 0
        } else {
            s.routes == 0 && s.dialing == 0
        };
        if done {
            return Some(s.code());
        }
    }
    // Nothing open and nothing that could open something.
    if s.routes == 0 && s.dialing == 0 && !s.listening {
        return Some(s.code());
    }
    None
}

/// The live state of one run (single-threaded: plain cells).
pub struct Lifecycle {
    state: Cell<Snapshot>,
    /// Targets whose first connection attempt has not finished: local input
    /// waits for them, so every target gets the input from its start.
    first_dials: Cell<usize>,
    /// Closed (dropped) when the run stops taking new connections
    /// (`--exit-after-input`): waiters on `stopped` wake at once.
    stop_tx: RefCell<Option<Sender<()>>>,
    stop_rx: Receiver<()>,
    /// Something `verdict` looks at changed.
    pub changed: Notify,
}

impl Lifecycle {
    pub fn new(udp: bool, exit_after_input: bool, input: Input) -> Lifecycle {
        let (stop_tx, stop_rx) = bounded(1);
        Lifecycle {
            state: Cell::new(Snapshot {
                udp,
                listening: false,
                dialing: 0,
                routes: 0,
                writers: 0,
                failures: 0,
                input,
                exit_after_input,
                quit_due: false,
                stdout: Stdout::Open,
                interrupted: false,
                unreachable: false,
            }),
            first_dials: Cell::new(0),
            stop_tx: RefCell::new(Some(stop_tx)),
            stop_rx,
            changed: Notify::new(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        let mut s = self.state.get();
        f(&mut s);
        self.state.set(s);
        self.changed.notify();
    }

    pub fn verdict(&self) -> Option<u8> {
        verdict(&self.state.get())
    }

    pub fn listeners_started(&self) {
        self.update(|s| s.listening = true);
    }
    pub fn listeners_stopped(&self) {
        self.update(|s| s.listening = false);
    }
    pub fn listening(&self) -> bool {
        self.state.get().listening
    }

    /// A target's copy starts dialling (it counts until `dial_ended`).
    pub fn dial_started(&self) {
        self.first_dials.set(self.first_dials.get() + 1);
        self.update(|s| s.dialing += 1);
    }
    /// A copy's first attempt finished (connected or not).
    pub fn first_dial_done(&self) {
        self.first_dials
            .set(self.first_dials.get().saturating_sub(1));
        self.changed.notify();
    }
    pub fn first_dials_pending(&self) -> bool {
        self.first_dials.get() > 0
    }
    /// A copy gave up, or will not reconnect.
    pub fn dial_ended(&self) {
        self.update(|s| s.dialing = s.dialing.saturating_sub(1));
    }

    /// Dial tasks still alive.
    pub fn dialing(&self) -> usize {
        self.state.get().dialing
    }

    /// Neither listeners nor dials can bring another route.
    pub fn no_more_routes(&self) -> bool {
        let s = self.state.get();
        !s.listening && s.dialing == 0
    }

    pub fn route_opened(&self) {
        self.update(|s| s.routes += 1);
    }
    pub fn route_closed(&self) {
        self.update(|s| s.routes = s.routes.saturating_sub(1));
    }
    pub fn writer_started(&self) {
        self.update(|s| s.writers += 1);
    }
    pub fn writer_ended(&self) {
        self.update(|s| s.writers = s.writers.saturating_sub(1));
    }

    /// A runtime failure (refused, reset, a failed command): exit code 1.
    pub fn failed(&self) {
        self.update(|s| s.failures += 1);
    }

    pub fn input_ended(&self) {
        self.update(|s| {
            if s.input == Input::Open {
                s.input = Input::Ended;
            }
        });
    }
    pub fn input(&self) -> Input {
        self.state.get().input
    }
    pub fn quit_due(&self) {
        self.update(|s| s.quit_due = true);
    }
    pub fn stdout_ended(&self, how: Stdout) {
        self.update(|s| s.stdout = how);
    }
    pub fn interrupted(&self) {
        self.update(|s| s.interrupted = true);
    }
    /// UDP: the only target is refused (`true`) or was heard from again.
    pub fn unreachable(&self, yes: bool) {
        if self.state.get().unreachable != yes {
            self.update(|s| s.unreachable = yes);
        }
    }

    /// Take no new connections from now on (listeners close, dials that
    /// are not connected give up, nothing reconnects).
    pub fn stop(&self) {
        self.stop_tx.borrow_mut().take();
        self.changed.notify();
    }
    pub fn stopping(&self) -> bool {
        self.stop_tx.borrow().is_none()
    }
    /// Resolves once `stop` has been called.
    pub async fn stopped(&self) {
        let _ = self.stop_rx.recv().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Snapshot {
        Snapshot {
            udp: false,
            listening: false,
            dialing: 0,
            routes: 0,
            writers: 0,
            failures: 0,
            input: Input::Open,
            exit_after_input: false,
            quit_due: false,
            stdout: Stdout::Open,
            interrupted: false,
            unreachable: false,
        }
    }

    #[test]
    fn the_end_of_run_table() {
        type Case = (&'static str, fn(&mut Snapshot), Option<u8>);
        let cases: &[Case] = &[
            ("nothing open, nothing to come", |_| {}, Some(0)),
            ("same, after a failure", |s| s.failures = 2, Some(1)),
            ("a listener accepting", |s| s.listening = true, None),
            ("a dial in progress", |s| s.dialing = 1, None),
            ("a route open", |s| s.routes = 1, None),
            (
                "UDP: the only target refused, input still open",
                |s| {
                    s.udp = true;
                    s.routes = 1;
                    s.unreachable = true
                },
                None,
            ),
            (
                "UDP: the only target refused, input ended",
                |s| {
                    s.udp = true;
                    s.routes = 1;
                    s.unreachable = true;
                    s.input = Input::Ended
                },
                Some(1),
            ),
            (
                "-l: listener done, last route gone",
                |s| {
                    s.listening = false;
                    s.routes = 0
                },
                Some(0),
            ),
            (
                "-r: the route ended, a reconnect is pending",
                |s| s.dialing = 1,
                None,
            ),
            (
                "Ctrl-C wins over everything",
                |s| {
                    s.interrupted = true;
                    s.routes = 3;
                    s.listening = true
                },
                Some(130),
            ),
            (
                "stdout's reader went away",
                |s| {
                    s.stdout = Stdout::Gone;
                    s.routes = 1
                },
                Some(0),
            ),
            (
                "stdout failed (full disk)",
                |s| {
                    s.stdout = Stdout::Failed;
                    s.routes = 1
                },
                Some(1),
            ),
            (
                "-q fired with routes open",
                |s| {
                    s.quit_due = true;
                    s.routes = 2;
                    s.listening = true
                },
                Some(0),
            ),
            (
                "--exit-after-input, input still open",
                |s| {
                    s.exit_after_input = true;
                    s.routes = 1
                },
                None,
            ),
            (
                "--exit-after-input, TCP peer still open",
                |s| {
                    s.exit_after_input = true;
                    s.input = Input::Ended;
                    s.routes = 1
                },
                None,
            ),
            (
                "--exit-after-input, TCP peers closed, listener was open",
                |s| {
                    s.exit_after_input = true;
                    s.input = Input::Ended;
                    s.listening = true
                },
                Some(0),
            ),
            (
                "--exit-after-input, UDP writers still sending",
                |s| {
                    s.udp = true;
                    s.exit_after_input = true;
                    s.input = Input::Ended;
                    s.routes = 1;
                    s.writers = 1;
                    s.listening = true
                },
                None,
            ),
            (
                "--exit-after-input, UDP everything sent",
                |s| {
                    s.udp = true;
                    s.exit_after_input = true;
                    s.input = Input::Ended;
                    s.routes = 1;
                    s.listening = true
                },
                Some(0),
            ),
            (
                "UDP listener never ends by itself",
                |s| {
                    s.udp = true;
                    s.listening = true;
                    s.input = Input::Ended
                },
                None,
            ),
            (
                "input ended alone ends nothing while a route is open",
                |s| {
                    s.input = Input::Ended;
                    s.routes = 1
                },
                None,
            ),
        ];
        for (name, set, want) in cases {
            let mut s = base();
            set(&mut s);
            assert_eq!(verdict(&s), *want, "{name}: {s:?}");
        }
    }

    #[test]
    fn transitions_update_the_snapshot() {
        let l = Lifecycle::new(false, false, Input::Open);
        l.listeners_started();
        assert_eq!(l.verdict(), None);
        l.dial_started();
        assert!(l.first_dials_pending());
        l.first_dial_done();
        assert!(!l.first_dials_pending());
        l.route_opened();
        l.listeners_stopped();
        l.dial_ended();
        assert!(l.no_more_routes());
        assert_eq!(l.verdict(), None);
        l.failed();
        l.route_closed();
        assert_eq!(l.verdict(), Some(1));
        assert!(!l.stopping());
        l.stop();
        assert!(l.stopping());
        smol::block_on(l.stopped());
    }
}
