//! The responder's shared state: which clients are known (a token each,
//! with the UDP pings it sent), and the counted places (connections,
//! "busy" replies) that bound what the server holds.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// What the server's tasks share: the known clients (token → UDP pings received).
#[derive(Default)]
pub struct Clients {
    sessions: RefCell<HashMap<u64, u32>>,
    pub served: Cell<u64>,
    /// Connections accepted and not closed yet (with or without Hello).
    pub open: Cell<usize>,
    /// "Busy" replies being written.
    pub busy_replies: Cell<usize>,
}

/// One of the places counted in `Clients` (a connection, or a busy reply),
/// taken at accept, before the task that holds it first runs, and given
/// back when that task ends, however it ends.
pub struct Slot(pub Rc<Clients>, fn(&Clients) -> &Cell<usize>);

impl Slot {
    pub fn take(shared: &Rc<Clients>, count: fn(&Clients) -> &Cell<usize>) -> Slot {
        let c = count(shared);
        c.set(c.get() + 1);
        Slot(shared.clone(), count)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let c = (self.1)(&self.0);
        c.set(c.get().saturating_sub(1));
    }
}

impl Clients {
    /// A fresh random token for a new client.
    pub fn register(&self) -> u64 {
        let mut t = [0u8; 8];
        let mut token = if getrandom::fill(&mut t).is_ok() {
            u64::from_be_bytes(t)
        } else {
            // No OS randomness: a counter still keeps clients apart.
            0x6e63_7072_0000_0000 | self.served.get()
        };
        let mut s = self.sessions.borrow_mut();
        while s.contains_key(&token) {
            token = token.wrapping_add(1);
        }
        s.insert(token, 0);
        token
    }

    pub fn unregister(&self, token: u64) {
        self.sessions.borrow_mut().remove(&token);
    }

    /// Count a ping; false for an unknown token.
    pub fn ping(&self, token: u64) -> bool {
        match self.sessions.borrow_mut().get_mut(&token) {
            Some(n) => {
                *n = n.saturating_add(1);
                true
            }
            None => false,
        }
    }

    pub fn known(&self, token: u64) -> bool {
        self.sessions.borrow().contains_key(&token)
    }

    pub fn pings(&self, token: u64) -> u32 {
        self.sessions.borrow().get(&token).copied().unwrap_or(0)
    }
}
