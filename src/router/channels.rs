//! Channel modes: pairing sockets into two-way tunnels.
//!
//! Rule: a new (or newly unpaired) socket pairs with the oldest unpaired
//! socket that came from a different endpoint of the command line (another
//! listener or another target). The original paired by remote IP, so two
//! ends behind one NAT, or both on 127.0.0.1, never paired (W24).

use super::{FwdMode, Route, RouteId, Router};

impl Router {
    /// Try to pair route `id` with a waiting route.
    pub(super) fn pair(&mut self, id: RouteId) {
        let Some(me) = self.routes.get(&id) else {
            return;
        };
        if me.partner.is_some() || !me.read_open {
            return;
        }
        let origin = me.origin;
        let candidate = self
            .routes
            .iter()
            .find(|(other, r)| {
                **other != id
                    && r.partner.is_none()
                    && r.read_open
                    && r.tx.is_some()
                    && r.origin != origin
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
                a.peer, a.local, b.local, b.peer
            );
        }
    }

    /// What a route's channel says about whether something can still send
    /// to it; `None` when it is not paired (then local input decides).
    pub(super) fn channel_source(&self, r: &Route, live_only: bool) -> Option<bool> {
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
                        pr.peer
                    );
                }
            }
        }
    }
}
