//! What every socket read and write passes through: the statistics
//! counters (feature "stats") and the hex dump (feature "hexdump").
//! Without those features these calls compile to nothing. The per-route
//! label and counters are the route's own (`Conn`); `None` is a sender
//! that is not a route (an unlearned multicast sender).

use super::config::Config;
use super::conn::Conn;

pub struct Observer {
    #[cfg(feature = "stats")]
    pub stats: Option<std::cell::RefCell<crate::stats::Stats>>,
    #[cfg(feature = "hexdump")]
    hexdump: bool,
}

impl Observer {
    pub fn new(_cfg: &Config) -> Observer {
        Observer {
            #[cfg(feature = "stats")]
            stats: (_cfg.stats.at_exit || _cfg.stats.every.is_some()).then(|| {
                let mut s = crate::stats::Stats::new();
                if _cfg.stats.classic {
                    s.classic(_cfg.udp);
                }
                std::cell::RefCell::new(s)
            }),
            #[cfg(feature = "hexdump")]
            hexdump: _cfg.hexdump,
        }
    }

    /// A route opened.
    pub fn open(&self) {
        #[cfg(feature = "stats")]
        if let Some(s) = &self.stats {
            s.borrow_mut().open();
        }
    }

    /// A socket received `data`.
    #[inline]
    pub fn received(&self, _conn: Option<&Conn>, _data: &[u8]) {
        #[cfg(feature = "stats")]
        if let Some(s) = &self.stats {
            s.borrow_mut().add_in(_conn.map(|c| &c.counts), _data.len());
        }
        #[cfg(feature = "hexdump")]
        self.dump(crate::hexdump::Dir::Received, _conn, _data);
    }

    /// `data` was written to a socket.
    #[inline]
    pub fn sent(&self, _conn: Option<&Conn>, _data: &[u8]) {
        #[cfg(feature = "stats")]
        if let Some(s) = &self.stats {
            s.borrow_mut()
                .add_out(_conn.map(|c| &c.counts), _data.len());
        }
        #[cfg(feature = "hexdump")]
        self.dump(crate::hexdump::Dir::Sent, _conn, _data);
    }

    /// A socket received `_n` bytes that were not seen (spliced; never
    /// with a hex dump).
    #[cfg(all(target_os = "linux", feature = "splice"))]
    pub fn received_len(&self, _conn: Option<&Conn>, _n: usize) {
        #[cfg(feature = "stats")]
        if let Some(s) = &self.stats {
            s.borrow_mut().add_in(_conn.map(|c| &c.counts), _n);
        }
    }

    /// `_n` unseen bytes were written to a socket (spliced).
    #[cfg(all(target_os = "linux", feature = "splice"))]
    pub fn sent_len(&self, _conn: Option<&Conn>, _n: usize) {
        #[cfg(feature = "stats")]
        if let Some(s) = &self.stats {
            s.borrow_mut().add_out(_conn.map(|c| &c.counts), _n);
        }
    }

    #[cfg(feature = "hexdump")]
    fn dump(&self, dir: crate::hexdump::Dir, conn: Option<&Conn>, data: &[u8]) {
        if self.hexdump {
            let label = conn.map_or("an unknown sender", |c| c.label.as_str());
            crate::hexdump::dump(dir, label, data);
        }
    }
}
