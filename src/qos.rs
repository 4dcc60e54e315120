//! PlayFab-style QoS probes over UDP (`-i pfqoscli`, `-i pfqossrv`).
//!
//! Wire format: a request is `FF FF` + payload, the reply `00 00` + the same
//! payload. The server answers each request to its sender and ignores
//! anything else (a short datagram never panics it: W17). The client pings
//! every route each `--stats-time` ms with a random payload and reports
//! each reply's round-trip time with fractional milliseconds, the loss and
//! the jitter (RFC 3550 style smoothing) on stderr (W30). Neither side
//! writes probes to stdout.

use crate::decimal::Dbl;
use crate::local::generate::Rng;
use crate::local::GenSpec;
use crate::router::RouteId;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

const REQUEST: [u8; 2] = [0xff, 0xff];
const REPLY: [u8; 2] = [0x00, 0x00];
/// Pings remembered per route while waiting for their replies.
const OUTSTANDING: usize = 64;

/// Server: the reply to a datagram, if it is a request.
pub fn answer(d: &[u8]) -> Option<Bytes> {
    if d.len() < 2 || d[..2] != REQUEST {
        return None;
    }
    let mut v = Vec::with_capacity(d.len());
    v.extend_from_slice(&REPLY);
    v.extend_from_slice(&d[2..]);
    Some(Bytes::from(v))
}

#[derive(Default)]
struct Peer {
    pending: VecDeque<(Bytes, Instant)>,
    sent: u64,
    received: u64,
    lost: u64,
    /// Round trips in nanoseconds.
    last_rtt: Option<u64>,
    /// The smoothed jitter in picoseconds (finer than the printed µs).
    jitter_ps: u64,
    min: u64,
    max: u64,
    sum: u128,
}

/// Client state: the pings each route is waiting on.
pub struct Client {
    rng: Rng,
    spec: GenSpec,
    period: Duration,
    peers: HashMap<RouteId, Peer>,
}

/// What to make of a datagram the client received.
pub enum Reply {
    /// A matching reply: the line to print.
    Matched(String),
    /// Not a reply to a ping in flight: why.
    Ignored(&'static str),
}

impl Client {
    pub fn new(spec: GenSpec, period: Duration) -> Client {
        Client {
            rng: Rng::from_os(),
            spec,
            period,
            peers: HashMap::new(),
        }
    }

    /// Make the next ping for `id` and remember it.
    pub fn ping(&mut self, id: RouteId) -> Bytes {
        let n = self.rng.range(self.spec.min as u64, self.spec.max as u64) as usize;
        let mut v = vec![0u8; n + 2];
        v[..2].copy_from_slice(&REQUEST);
        self.rng.fill_vals(&mut v[2..], self.spec.vals);
        let b = Bytes::from(v);
        self.record(id, b.clone());
        b
    }

    /// Remember a ping as sent (also a dropped one: it counts as lost).
    fn record(&mut self, id: RouteId, ping: Bytes) {
        let p = self.peers.entry(id).or_default();
        p.sent += 1;
        let now = Instant::now();
        let too_old = self.period * 2 + Duration::from_secs(1);
        while let Some((_, t)) = p.pending.front() {
            if now.duration_since(*t) > too_old || p.pending.len() >= OUTSTANDING {
                p.pending.pop_front();
                p.lost += 1;
            } else {
                break;
            }
        }
        p.pending.push_back((ping.slice(2..), now));
    }

    pub fn forget(&mut self, id: RouteId) {
        self.peers.remove(&id);
    }

    /// A datagram from route `id` labelled `route`.
    pub fn reply(&mut self, id: RouteId, route: &str, d: &[u8]) -> Reply {
        if d.len() < 2 || d[..2] != REPLY {
            return Reply::Ignored("not a QoS reply");
        }
        let Some(p) = self.peers.get_mut(&id) else {
            return Reply::Ignored("reply from a peer that was never pinged");
        };
        let payload = &d[2..];
        let Some(pos) = p.pending.iter().rposition(|(pl, _)| pl[..] == *payload) else {
            return Reply::Ignored("reply to no ping in flight");
        };
        let sent_at = p.pending[pos].1;
        // Pings older than the matched one count as lost.
        p.pending.drain(..=pos);
        p.lost += pos as u64;
        let rtt = u64::try_from(sent_at.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if let Some(prev) = p.last_rtt {
            // jitter += (|rtt - prev| - jitter) / 16 (RFC 3550's smoothing)
            let d = i128::from(rtt.abs_diff(prev)) * 1000;
            let j = i128::from(p.jitter_ps);
            p.jitter_ps = u64::try_from(j + (d - j) / 16).unwrap_or(0);
        }
        p.last_rtt = Some(rtt);
        p.received += 1;
        p.min = if p.received == 1 { rtt } else { p.min.min(rtt) };
        p.max = p.max.max(rtt);
        p.sum += u128::from(rtt);
        let done = p.received + p.lost;
        let ms = |ns: u128, n: u64| Dbl::ratio(ns, u128::from(n) * 1_000_000).fixed(3);
        Reply::Matched(format!(
            "{route} Round trip time: {} ms (min {}, avg {}, max {}), jitter {} ms, sent {}, received {}, lost {} ({}%)",
            ms(rtt.into(), 1),
            ms(p.min.into(), 1),
            ms(p.sum, p.received),
            ms(p.max.into(), 1),
            Dbl::ratio(p.jitter_ps.into(), 1_000_000_000).fixed(3),
            p.sent,
            p.received,
            p.lost,
            Dbl::ratio(u128::from(p.lost) * 100, done.into()).fixed(1)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::RandVals;

    #[test]
    fn server_answers_requests_only() {
        assert_eq!(answer(b"\xff\xffabc").as_deref(), Some(&b"\0\0abc"[..]));
        assert_eq!(answer(b"\xff\xff").as_deref(), Some(&b"\0\0"[..]));
        for short in [&b""[..], b"\xff", b"\x00\x00x", b"hello"] {
            assert!(answer(short).is_none());
        }
    }

    #[test]
    fn client_matches_and_counts_loss() {
        let spec = GenSpec {
            min: 4,
            max: 4,
            vals: RandVals::Ascii,
        };
        let mut c = Client::new(spec, Duration::from_secs(1));
        assert!(matches!(c.reply(1, "r", b"\0\0abcd"), Reply::Ignored(_)));
        let lost = c.ping(1);
        let p = c.ping(1);
        assert_eq!(p.len(), 6);
        assert_ne!(lost, p);
        let r = answer(&p).unwrap();
        match c.reply(1, "r", &r) {
            Reply::Matched(line) => {
                assert!(line.contains("Round trip time: 0.0"), "{line}");
                assert!(
                    line.contains("sent 2, received 1, lost 1 (50.0%)"),
                    "{line}"
                );
            }
            Reply::Ignored(why) => panic!("{why}"),
        }
        // The same reply again matches nothing.
        assert!(matches!(c.reply(1, "r", &r), Reply::Ignored(_)));
        assert!(matches!(c.reply(1, "r", b"\0"), Reply::Ignored(_)));
    }
}
