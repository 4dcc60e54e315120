//! Channel modes: pairing sockets into two-way tunnels.
//!
//! Rule: a new (or newly unpaired) socket pairs with the oldest unpaired
//! socket that came from a different endpoint of the command line (another
//! listener or another target), or from the same listen address with a
//! different remote IP (0.11's rule, which makes a relay with one listener
//! work). Sockets from one listener and one IP never pair with each other,
//! and copies of one target (`xN`) never do. The endpoint rule adds what
//! 0.11 could not do: two ends behind one NAT, or both on 127.0.0.1, pair
//! when they came through different endpoints (W24).

use super::{FwdMode, Origin, Route, RouteId, Router, Shown};
use std::net::IpAddr;

impl<C> Router<C> {
    /// Try to pair route `id` with a waiting route.
    pub(super) fn pair(&mut self, id: RouteId) {
        let Some(me) = self.routes.get(&id) else {
            return;
        };
        if me.partner.is_some() || !me.read_open {
            return;
        }
        let (origin, ip) = (me.origin, me.peer.ip().to_canonical());
        let candidate = self
            .routes
            .iter()
            .find(|(other, r)| {
                **other != id
                    && r.partner.is_none()
                    && r.read_open
                    && r.tx.is_some()
                    && may_pair(origin, ip, r.origin, r.peer.ip().to_canonical())
            })
            .map(|(other, _)| *other);
        let Some(other) = candidate else {
            return;
        };
        if let Some(r) = self.routes.get_mut(&id) {
            r.partner = Some(other);
        }
        if let Some(r) = self.routes.get_mut(&other) {
            r.partner = Some(id);
        }
        for r in [id, other] {
            if let Some(sig) = self.routes.get(&r).and_then(|r| r.pair_signal.as_ref()) {
                let _ = sig.try_send(());
            }
        }
        if let (Some(a), Some(b)) = (self.routes.get(&other), self.routes.get(&id)) {
            eprintln!(
                "Creating channel {} <-> ({} <-> {}) <-> {}",
                Shown(a.peer),
                Shown(a.local),
                Shown(b.local),
                Shown(b.peer)
            );
        }
    }

    /// What a route's channel says about whether something can still send
    /// to it; `None` when it is not paired (then local input decides).
    pub(super) fn channel_source(&self, r: &Route<C>, live_only: bool) -> Option<bool> {
        match r.partner.and_then(|p| self.routes.get(&p)) {
            Some(p) => Some(p.read_open || (self.mode == FwdMode::LingerChannels && !live_only)),
            // Unpaired but alive: a partner may still come.
            None if r.read_open && !live_only => Some(true),
            None => None,
        }
    }

    /// linger-channels: route `id` has stopped sending, so its partner is
    /// freed to pair with the next socket (and `id` itself, with nothing
    /// left to send to it, gets its FIN and leaves).
    pub(super) fn release_partner(&mut self, id: RouteId) {
        let Some(p) = self.routes.get_mut(&id).and_then(|r| r.partner.take()) else {
            return;
        };
        if let Some(pr) = self.routes.get_mut(&p) {
            pr.partner = None;
        }
        if self.verbose > 0 {
            eprintln!("Removing channel; its other end lingers for a new partner");
        }
        self.pair(p);
    }

    /// Route `id`'s peer has finished sending.
    pub(super) fn channel_peer_gone(&mut self, id: RouteId) {
        if self.verbose > 0 {
            if let Some(p) = self.routes.get(&id).and_then(|r| r.partner) {
                if let Some(pr) = self.routes.get(&p) {
                    eprintln!(
                        "Channel partner {} finished sending; forwarding the half-close",
                        Shown(pr.peer)
                    );
                }
            }
        }
    }
}

/// Whether sockets from these origins and remote IPs may form a channel.
fn may_pair(a: Origin, a_ip: IpAddr, b: Origin, b_ip: IpAddr) -> bool {
    match (a, b) {
        (Origin::Listener(x), Origin::Listener(y)) if x == y => a_ip != b_ip,
        _ => a != b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_rule() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let (l0, l1, t0, t1) = (
            Origin::Listener(0),
            Origin::Listener(1),
            Origin::Target(0),
            Origin::Target(1),
        );
        let one = ip("127.0.0.1");
        let two = ip("127.0.0.2");
        // Different endpoints pair whatever the IPs.
        assert!(may_pair(l0, one, l1, one));
        assert!(may_pair(l0, one, t0, one));
        assert!(may_pair(t0, one, t1, one));
        // One listener: only different remote IPs (0.11's rule).
        assert!(may_pair(l0, one, l0, two));
        assert!(!may_pair(l0, one, l0, one));
        // An IPv4-mapped IPv6 peer is the same host as its IPv4 form.
        assert!(!may_pair(
            l0,
            one,
            l0,
            ip("::ffff:127.0.0.1").to_canonical()
        ));
        // Copies of one target never pair.
        assert!(!may_pair(t0, one, t0, two));
    }
}
