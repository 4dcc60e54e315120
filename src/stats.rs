//! `--stats`, `--stats-time`, `--stats-json`: bytes and messages in and out,
//! per route and in total. Periodic reports give real per-second rates over
//! the period (the original printed per-period totals labelled as rates: W29)
//! and are printed whether or not traffic flowed. Everything goes to stderr.
//!
//! "In" is what a socket received, "out" what was written to a socket; a
//! message is one read or one write (one datagram on UDP).

use crate::router::RouteId;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

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

struct RouteStats {
    label: String,
    now: Counters,
    /// At the last periodic report.
    last: Counters,
}

pub struct Stats {
    start: Instant,
    last_at: Instant,
    routes: BTreeMap<RouteId, RouteStats>,
    total: Counters,
    last_total: Counters,
    routes_seen: u64,
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
            routes: BTreeMap::new(),
            total: Counters::default(),
            last_total: Counters::default(),
            routes_seen: 0,
        }
    }

    pub fn open(&mut self, id: RouteId, label: String) {
        self.routes_seen += 1;
        self.routes.insert(
            id,
            RouteStats {
                label,
                now: Counters::default(),
                last: Counters::default(),
            },
        );
    }

    /// A route has gone; its bytes stay in the total.
    pub fn close(&mut self, id: RouteId) {
        self.routes.remove(&id);
    }

    pub fn add_in(&mut self, id: RouteId, n: usize) {
        let n = n as u64;
        self.total.bytes_in += n;
        self.total.msgs_in += 1;
        if let Some(r) = self.routes.get_mut(&id) {
            r.now.bytes_in += n;
            r.now.msgs_in += 1;
        }
    }

    pub fn add_out(&mut self, id: RouteId, n: usize) {
        let n = n as u64;
        self.total.bytes_out += n;
        self.total.msgs_out += 1;
        if let Some(r) = self.routes.get_mut(&id) {
            r.now.bytes_out += n;
            r.now.msgs_out += 1;
        }
    }

    #[cfg(test)]
    pub fn total(&self) -> Counters {
        self.total
    }

    /// The periodic report: one line per open route and a total line (text),
    /// or one JSON object. Rates are per second over the period.
    pub fn periodic(&mut self, json: bool) -> String {
        let now = Instant::now();
        let secs = now.duration_since(self.last_at).as_secs_f64().max(1e-9);
        let elapsed = now.duration_since(self.start).as_secs_f64();
        self.last_at = now;
        let mut out = String::new();
        let mut items = Vec::new();
        for r in self.routes.values_mut() {
            let delta = r.now.minus(&r.last);
            if json {
                items.push(json_counters(&r.label, &r.now, Some((&delta, secs))));
            } else {
                let _ = writeln!(out, "Stats {}: {}", r.label, text(&r.now, &delta, secs));
            }
            r.last = r.now;
        }
        let delta = self.total.minus(&self.last_total);
        self.last_total = self.total;
        if json {
            let _ = writeln!(
                out,
                "{{\"stats\":\"periodic\",\"elapsed_s\":{elapsed:.3},\"routes\":[{}],\"total\":{}}}",
                items.join(","),
                json_counters("total", &self.total, Some((&delta, secs)))
            );
        } else {
            let _ = writeln!(
                out,
                "Stats total ({} open): {}",
                self.routes.len(),
                text(&self.total, &delta, secs)
            );
        }
        out
    }

    /// The report at exit.
    pub fn totals(&self, json: bool) -> String {
        let elapsed = self.start.elapsed().as_secs_f64();
        let t = &self.total;
        if json {
            format!(
                "{{\"stats\":\"totals\",\"elapsed_s\":{elapsed:.3},\"routes_seen\":{},\"total\":{}}}\n",
                self.routes_seen,
                json_counters("total", t, None)
            )
        } else {
            format!(
                "Stats totals after {elapsed:.3} s, {} routes: in {} bytes in {} messages, out {} bytes in {} messages\n",
                self.routes_seen, t.bytes_in, t.msgs_in, t.bytes_out, t.msgs_out
            )
        }
    }
}

fn text(c: &Counters, d: &Counters, secs: f64) -> String {
    format!(
        "in {} B {} msgs ({:.1} B/s, {:.1} msgs/s), out {} B {} msgs ({:.1} B/s, {:.1} msgs/s)",
        c.bytes_in,
        c.msgs_in,
        d.bytes_in as f64 / secs,
        d.msgs_in as f64 / secs,
        c.bytes_out,
        c.msgs_out,
        d.bytes_out as f64 / secs,
        d.msgs_out as f64 / secs
    )
}

fn json_counters(label: &str, c: &Counters, rate: Option<(&Counters, f64)>) -> String {
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
            ",\"in_bytes_per_s\":{:.1},\"in_msgs_per_s\":{:.1},\"out_bytes_per_s\":{:.1},\"out_msgs_per_s\":{:.1}",
            d.bytes_in as f64 / secs,
            d.msgs_in as f64 / secs,
            d.bytes_out as f64 / secs,
            d.msgs_out as f64 / secs
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
        s.open(1, "a<->b".into());
        s.add_in(1, 10);
        s.add_out(1, 5);
        s.add_out(1, 5);
        s.add_in(99, 1); // an unknown sender still counts in the total
        let p = s.periodic(false);
        assert!(p.contains("Stats a<->b: in 10 B 1 msgs"), "{p}");
        assert!(p.contains("out 10 B 2 msgs"), "{p}");
        let j = s.periodic(true);
        assert!(j.starts_with("{\"stats\":\"periodic\""), "{j}");
        assert!(j.contains("\"in_bytes\":11"), "{j}");
        assert!(j.contains("\"in_bytes_per_s\":0.0"), "{j}");
        s.close(1);
        assert_eq!(s.total().bytes_out, 10);
        assert!(s.totals(false).contains("in 11 bytes in 2 messages"));
        assert_eq!(crate::json::escape("a\"\\\n"), "a\\\"\\\\\\n");
    }
}
