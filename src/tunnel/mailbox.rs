//! A bounded queue between the tasks of one thread, in place of an async
//! channel: a channel costs about 2.5 KiB of code for each type it carries,
//! this only a little. The wake-up is a channel of `()`, whose code the
//! binary has anyway.

use smol::channel::{Receiver, Sender};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// The sending half (one or more, by [`Clone`]).
pub struct Post<T> {
    q: Rc<RefCell<VecDeque<T>>>,
    cap: usize,
    bell: Sender<()>,
}

/// The receiving half: what is queued, then None once every [`Post`] has
/// gone.
pub struct Mailbox<T> {
    q: Rc<RefCell<VecDeque<T>>>,
    bell: Receiver<()>,
}

/// A queue of at most `cap` items.
pub fn mailbox<T>(cap: usize) -> (Post<T>, Mailbox<T>) {
    let q = Rc::new(RefCell::new(VecDeque::new()));
    let (tx, rx) = smol::channel::bounded(1);
    (
        Post {
            q: q.clone(),
            cap,
            bell: tx,
        },
        Mailbox { q, bell: rx },
    )
}

impl<T> Post<T> {
    /// Queue `m`; false (and `m` dropped) when the queue is full or the
    /// [`Mailbox`] has gone.
    pub fn send(&self, m: T) -> bool {
        let mut q = self.q.borrow_mut();
        if q.len() >= self.cap || self.bell.is_closed() {
            return false;
        }
        q.push_back(m);
        let _ = self.bell.try_send(());
        true
    }
}

impl<T> Clone for Post<T> {
    fn clone(&self) -> Post<T> {
        Post {
            q: self.q.clone(),
            cap: self.cap,
            bell: self.bell.clone(),
        }
    }
}

impl<T> Mailbox<T> {
    pub fn try_recv(&self) -> Option<T> {
        self.q.borrow_mut().pop_front()
    }

    pub async fn recv(&self) -> Option<T> {
        loop {
            if let Some(m) = self.try_recv() {
                return Some(m);
            }
            if self.bell.recv().await.is_err() {
                return self.try_recv();
            }
        }
    }
}

impl<T> Clone for Mailbox<T> {
    fn clone(&self) -> Mailbox<T> {
        Mailbox {
            q: self.q.clone(),
            bell: self.bell.clone(),
        }
    }
}

/// The sending half of a one-answer slot: a [`mailbox`] of one without the
/// queue (a waiting client's answer; less code for its type).
pub struct Reply<T> {
    slot: Rc<RefCell<Option<T>>>,
    bell: Sender<()>,
}

/// The receiving half: the answer, or None once the [`Reply`] has gone.
pub struct Answer<T> {
    slot: Rc<RefCell<Option<T>>>,
    bell: Receiver<()>,
}

pub fn answer<T>() -> (Reply<T>, Answer<T>) {
    let slot = Rc::new(RefCell::new(None));
    let (tx, rx) = smol::channel::bounded(1);
    (
        Reply {
            slot: slot.clone(),
            bell: tx,
        },
        Answer { slot, bell: rx },
    )
}

impl<T> Reply<T> {
    /// Answer with `m`; false (and `m` dropped) when an answer is already
    /// there or the [`Answer`] has gone.
    pub fn send(&self, m: T) -> bool {
        let mut slot = self.slot.borrow_mut();
        if slot.is_some() || self.bell.is_closed() {
            return false;
        }
        *slot = Some(m);
        let _ = self.bell.try_send(());
        true
    }
}

impl<T> Answer<T> {
    pub fn try_recv(&self) -> Option<T> {
        self.slot.borrow_mut().take()
    }

    pub async fn recv(&self) -> Option<T> {
        loop {
            if let Some(m) = self.try_recv() {
                return Some(m);
            }
            if self.bell.recv().await.is_err() {
                return self.try_recv();
            }
        }
    }
}
