//! `--stats`, `--stats-time`, `--stats-json`: bytes and messages in and out,
//! per route and in total. Periodic reports give real per-second rates over
//! the period (the original printed per-period totals labelled as rates: W29)
//! and are printed whether or not traffic flowed. Everything goes to stderr.
//!
//! "In" is what a socket received, "out" what was written to a socket; a
//! message is one read or one write (one datagram on UDP).

use crate::decimal::{per_sec, secs_fixed};
use std::cell::Cell;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub bytes_in: u64,
    pub msgs_in: u64,
    pub bytes_out: u64,
    pub msgs_out: u64,
}

impl Counters {
    fn minus(&self, o: &Counters) -> Counters {
        Counters {
            bytes_in: self.bytes_in - o.bytes_in,
            msgs_in: self.msgs_in - o.msgs_in,
            bytes_out: self.bytes_out - o.bytes_out,
            msgs_out: self.msgs_out - o.msgs_out,
        }
    }
}

/// One route's counters; kept with the route's other state (the run's
/// connection map), so they leave with it.
#[derive(Debug, Default)]
pub struct RouteCounts {
    now: Cell<Counters>,
    /// At the last periodic report.
    last: Cell<Counters>,
}

pub struct Stats {
    start: Instant,
    last_at: Instant,
    total: Counters,
    last_total: Counters,
    routes_seen: u64,
    /// `--stats` alone: 0.11's periodic line; `Some(udp)`.
    classic: Option<bool>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

impl Stats {
    pub fn new() -> Stats {
        let now = Instant::now();
        Stats {
            start: now,
            last_at: now,
            total: Counters::default(),
            last_total: Counters::default(),
            routes_seen: 0,
            classic: None,
        }
    }

    /// Periodic reports in 0.11's format: one line, nothing when nothing
    /// moved (UDP counts datagrams, "p/s").
    pub fn classic(&mut self, udp: bool) {
        self.classic = Some(udp);
    }

    /// A route opened (its counters start at zero).
    pub fn open(&mut self) {
        self.routes_seen += 1;
    }

    /// Bytes a socket received; `route` is `None` for a sender that is not
    /// a route (counted in the total only).
    pub fn add_in(&mut self, route: Option<&RouteCounts>, n: usize) {
        let n = n as u64;
        self.total.bytes_in += n;
        self.total.msgs_in += 1;
        if let Some(r) = route {
            let mut c = r.now.get();
            c.bytes_in += n;
            c.msgs_in += 1;
            r.now.set(c);
        }
    }

    pub fn add_out(&mut self, route: Option<&RouteCounts>, n: usize) {
        let n = n as u64;
        self.total.bytes_out += n;
        self.total.msgs_out += 1;
        if let Some(r) = route {
            let mut c = r.now.get();
            c.bytes_out += n;
            c.msgs_out += 1;
            r.now.set(c);
        }
    }

    #[cfg(test)]
    pub fn total(&self) -> Counters {
        self.total
    }

    /// The periodic report: one line per open route (`routes`: label and
    /// counters, in order) and a total line (text), or one JSON object.
    /// Rates are per second over the period.
    pub fn periodic<'a>(
        &mut self,
        json: bool,
        routes: impl Iterator<Item = (&'a str, &'a RouteCounts)>,
    ) -> String {
        let now = Instant::now();
        let secs = now.duration_since(self.last_at);
        let elapsed = secs_fixed(now.duration_since(self.start), 3);
        self.last_at = now;
        if let Some(udp) = self.classic {
            let d = self.total.minus(&self.last_total);
            self.last_total = self.total;
            return classic_line(&d, secs, udp);
        }
        let mut out = String::new();
        let mut items = Vec::new();
        let mut open = 0;
        for (label, r) in routes {
            open += 1;
            let now = r.now.get();
            let delta = now.minus(&r.last.get());
            if json {
                items.push(json_counters(label, &now, Some((&delta, secs))));
            } else {
                let _ = writeln!(out, "Stats {label}: {}", text(&now, &delta, secs));
            }
            r.last.set(now);
        }
        let delta = self.total.minus(&self.last_total);
        self.last_total = self.total;
        if json {
            let _ = writeln!(
                out,
                "{{\"stats\":\"periodic\",\"elapsed_s\":{elapsed},\"routes\":[{}],\"total\":{}}}",
                items.join(","),
                json_counters("total", &self.total, Some((&delta, secs)))
            );
        } else {
            let _ = writeln!(
                out,
                "Stats total ({open} open): {}",
                text(&self.total, &delta, secs)
            );
        }
        out
    }

    /// The report at exit.
    pub fn totals(&self, json: bool) -> String {
        let elapsed = secs_fixed(self.start.elapsed(), 3);
        let t = &self.total;
        if json {
            format!(
                "{{\"stats\":\"totals\",\"elapsed_s\":{elapsed},\"routes_seen\":{},\"total\":{}}}\n",
                self.routes_seen,
                json_counters("total", t, None)
            )
        } else {
            format!(
                "Stats totals after {elapsed} s, {} routes: in {} bytes in {} messages, out {} bytes in {} messages\n",
                self.routes_seen, t.bytes_in, t.msgs_in, t.bytes_out, t.msgs_out
            )
        }
    }
}

/// 0.11's line, with true per-second rates (0.11 printed the period's
/// totals; at its default period of one second they are the same).
fn classic_line(d: &Counters, secs: Duration, udp: bool) -> String {
    if *d == Counters::default() {
        return String::new();
    }
    // Per second, rounded half away from zero (f64's `round`).
    let ns = secs.as_nanos().max(1);
    let rate = |n: u64| (u128::from(n) * 2_000_000_000 + ns) / (2 * ns);
    let (r, s) = if udp {
        ("p/s", "p/s")
    } else {
        ("recvs/s", "sends/s")
    };
    format!(
        "recv {:>12} B/s ({:>7} {r}), send {:>12} B/s ({:>7} {s})\n",
        rate(d.bytes_in),
        rate(d.msgs_in),
        rate(d.bytes_out),
        rate(d.msgs_out)
    )
}

fn text(c: &Counters, d: &Counters, secs: Duration) -> String {
    format!(
        "in {} B {} msgs ({} B/s, {} msgs/s), out {} B {} msgs ({} B/s, {} msgs/s)",
        c.bytes_in,
        c.msgs_in,
        per_sec(d.bytes_in, secs, 1),
        per_sec(d.msgs_in, secs, 1),
        c.bytes_out,
        c.msgs_out,
        per_sec(d.bytes_out, secs, 1),
        per_sec(d.msgs_out, secs, 1)
    )
}

fn json_counters(label: &str, c: &Counters, rate: Option<(&Counters, Duration)>) -> String {
    let mut s = format!(
        "{{\"route\":\"{}\",\"in_bytes\":{},\"in_msgs\":{},\"out_bytes\":{},\"out_msgs\":{}",
        crate::json::escape(label),
        c.bytes_in,
        c.msgs_in,
        c.bytes_out,
        c.msgs_out
    );
    if let Some((d, secs)) = rate {
        let _ = write!(
            s,
            ",\"in_bytes_per_s\":{},\"in_msgs_per_s\":{},\"out_bytes_per_s\":{},\"out_msgs_per_s\":{}",
            per_sec(d.bytes_in, secs, 1),
            per_sec(d.msgs_in, secs, 1),
            per_sec(d.bytes_out, secs, 1),
            per_sec(d.msgs_out, secs, 1)
        );
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_formats() {
        let mut s = Stats::new();
        let one = RouteCounts::default();
        let routes = || [("a<->b", &one)].into_iter();
        s.open();
        s.add_in(Some(&one), 10);
        s.add_out(Some(&one), 5);
        s.add_out(Some(&one), 5);
        s.add_in(None, 1); // an unknown sender still counts in the total
        let p = s.periodic(false, routes());
        assert!(p.contains("Stats a<->b: in 10 B 1 msgs"), "{p}");
        assert!(p.contains("out 10 B 2 msgs"), "{p}");
        let j = s.periodic(true, routes());
        assert!(j.starts_with("{\"stats\":\"periodic\""), "{j}");
        assert!(j.contains("\"in_bytes\":11"), "{j}");
        assert!(j.contains("\"in_bytes_per_s\":0.0"), "{j}");
        assert_eq!(s.total().bytes_out, 10);
        assert!(s.totals(false).contains("in 11 bytes in 2 messages"));
        assert_eq!(crate::json::escape("a\"\\\n"), "a\\\"\\\\\\n");
    }
}
