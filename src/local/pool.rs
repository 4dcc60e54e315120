//! Reusable read buffers. Every chunk that moves through netcrab is read
//! straight into one of these and handed on as `Bytes` without a copy;
//! when the last holder drops it (possibly on the stdout thread), the
//! buffer returns here instead of to the allocator. This avoids a copy and
//! an allocation per chunk (musl's malloc maps and unmaps large blocks each
//! time), and no connection holds a buffer while it waits for data.

use bytes::Bytes;
use std::sync::Mutex;

/// Size of every pooled buffer: the largest read netcrab asks for.
pub const BUF_SIZE: usize = 128 * 1024;
/// Buffers kept for reuse; more are freed (memory stays bounded).
const MAX_POOLED: usize = 64;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A buffer of `BUF_SIZE` bytes (contents unspecified).
pub fn take() -> Vec<u8> {
    let reused = POOL.lock().ok().and_then(|mut p| p.pop());
    reused.unwrap_or_else(|| vec![0u8; BUF_SIZE])
}

/// A buffer of at least `len` bytes: a pooled one when `len` fits, else
/// one of its own (freed, not pooled, when done).
pub fn take_at_least(len: usize) -> Vec<u8> {
    if len <= BUF_SIZE {
        take()
    } else {
        vec![0u8; len]
    }
}

/// Return a buffer that was not used (buffers not from the pool are freed).
pub fn give_back(buf: Vec<u8>) {
    if buf.len() != BUF_SIZE {
        return;
    }
    if let Ok(mut p) = POOL.lock() {
        if p.len() < MAX_POOLED {
            p.push(buf);
        }
    }
}

/// The first `len` bytes of `buf` as `Bytes`, without copying; the buffer
/// returns to the pool when the last `Bytes` holding it drops.
pub fn freeze(buf: Vec<u8>, len: usize) -> Bytes {
    let len = len.min(buf.len());
    Bytes::from_owner(Pooled { buf, len })
}

struct Pooled {
    buf: Vec<u8>,
    len: usize,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn buffers_come_back() {
        let mut b = super::take();
        b[..3].copy_from_slice(b"abc");
        let bytes = super::freeze(b, 3);
        assert_eq!(&bytes[..], b"abc");
        let clone = bytes.slice(1..);
        drop(bytes);
        assert_eq!(&clone[..], b"bc");
        drop(clone);
        assert_eq!(super::take().len(), super::BUF_SIZE);
    }
}
