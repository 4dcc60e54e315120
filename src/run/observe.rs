//! What every socket read and write passes through: the statistics
//! counters (feature "stats") and the hex dump (feature "hexdump").
//! Without those features these calls compile to nothing.

use super::config::Config;
use crate::router::RouteId;
use std::net::SocketAddr;

pub struct Observer {
    #[cfg(feature = "stats")]
    pub stats: Option<std::cell::RefCell<crate::stats::Stats>>,
    #[cfg(feature = "hexdump")]
    labels: Option<std::cell::RefCell<std::collections::HashMap<RouteId, String>>>,
}

impl Observer {
    pub fn new(_cfg: &Config) -> Observer {
        Observer {
            #[cfg(feature = "stats")]
            stats: (_cfg.stats.at_exit || _cfg.stats.every.is_some())
                .then(|| std::cell::RefCell::new(crate::stats::Stats::new())),
            #[cfg(feature = "hexdump")]
            labels: _cfg.hexdump.then(Default::default),
        }
    }

    pub fn open(&self, _id: RouteId, _local: SocketAddr, _peer: SocketAddr) {
        #[cfg(feature = "stats")]
        if let Some(s) = &self.stats {
            s.borrow_mut().open(_id, format!("{_local}<->{_peer}"));
        }
        #[cfg(feature = "hexdump")]
        if let Some(l) = &self.labels {
            l.borrow_mut().insert(_id, format!("{_local}<->{_peer}"));
        }
    }

    pub fn close(&self, _id: RouteId) {
        #[cfg(feature = "stats")]
        if let Some(s) = &self.stats {
            s.borrow_mut().close(_id);
        }
        #[cfg(feature = "hexdump")]
        if let Some(l) = &self.labels {
            l.borrow_mut().remove(&_id);
        }
    }

    /// A socket received `data`.
    #[inline]
    pub fn received(&self, _id: RouteId, _data: &[u8]) {
        #[cfg(feature = "stats")]
        if let Some(s) = &self.stats {
            s.borrow_mut().add_in(_id, _data.len());
        }
        #[cfg(feature = "hexdump")]
        self.dump(crate::hexdump::Dir::Received, _id, _data);
    }

    /// `data` was written to a socket.
    #[inline]
    pub fn sent(&self, _id: RouteId, _data: &[u8]) {
        #[cfg(feature = "stats")]
        if let Some(s) = &self.stats {
            s.borrow_mut().add_out(_id, _data.len());
        }
        #[cfg(feature = "hexdump")]
        self.dump(crate::hexdump::Dir::Sent, _id, _data);
    }

    /// A socket received `_n` bytes that were not seen (spliced; never
    /// with a hex dump).
    #[cfg(all(target_os = "linux", feature = "splice"))]
    pub fn received_len(&self, _id: RouteId, _n: usize) {
        #[cfg(feature = "stats")]
        if let Some(s) = &self.stats {
            s.borrow_mut().add_in(_id, _n);
        }
    }

    /// `_n` unseen bytes were written to a socket (spliced).
    #[cfg(all(target_os = "linux", feature = "splice"))]
    pub fn sent_len(&self, _id: RouteId, _n: usize) {
        #[cfg(feature = "stats")]
        if let Some(s) = &self.stats {
            s.borrow_mut().add_out(_id, _n);
        }
    }

    #[cfg(feature = "hexdump")]
    fn dump(&self, dir: crate::hexdump::Dir, id: RouteId, data: &[u8]) {
        if let Some(l) = &self.labels {
            let labels = l.borrow();
            let label = labels
                .get(&id)
                .map(String::as_str)
                .unwrap_or("an unknown sender");
            crate::hexdump::dump(dir, label, data);
        }
    }
}
