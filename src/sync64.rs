//! `AtomicU64` where the CPU has no 64-bit atomics (32-bit MIPS, some 32-bit PowerPC): a
//! mutex-guarded u64 with the few methods netcrab uses. Everywhere else it is std's own type.

#[cfg(target_has_atomic = "64")]
pub use std::sync::atomic::AtomicU64;

#[cfg(not(target_has_atomic = "64"))]
pub use fallback::AtomicU64;

#[cfg(not(target_has_atomic = "64"))]
mod fallback {
    use std::sync::atomic::Ordering;
    use std::sync::Mutex;

    /// A u64 behind a mutex: every access is sequentially consistent, which satisfies
    /// whatever ordering the caller asks for.
    #[derive(Debug, Default)]
    pub struct AtomicU64(Mutex<u64>);

    impl AtomicU64 {
        pub const fn new(v: u64) -> Self {
            Self(Mutex::new(v))
        }

        fn get(&self) -> std::sync::MutexGuard<'_, u64> {
            // A poisoned lock still holds a valid number.
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }

        #[allow(dead_code)] // only the splice feature reads it
        pub fn load(&self, _: Ordering) -> u64 {
            *self.get()
        }

        pub fn fetch_add(&self, v: u64, _: Ordering) -> u64 {
            let mut n = self.get();
            let old = *n;
            *n = old.wrapping_add(v);
            old
        }
    }
}
