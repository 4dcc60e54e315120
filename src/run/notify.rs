//! A wake-up signal that many tasks may raise and one task waits on.

use smol::channel::{bounded, Receiver, Sender};

/// A wake-up signal that coalesces: many `notify`s before a `wait` count
/// once. One waiter per `Notify`.
pub struct Notify {
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl Notify {
    pub fn new() -> Notify {
        let (tx, rx) = bounded(1);
        Notify { tx, rx }
    }
    pub fn notify(&self) {
        let _ = self.tx.try_send(());
    }
    pub async fn wait(&self) {
        let _ = self.rx.recv().await;
    }
}
