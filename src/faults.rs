//! Fault injection (`--sdmin/--sdmax/--sdrop` on local input,
//! `--rdmin/--rdmax/--rdrop` on data received from sockets).
//!
//! A gate is asked once per chunk: it waits the chunk's delay and says
//! whether the chunk survives. Receive faults apply only to socket data,
//! not to local input (the original applied them to both: W28). On TCP a
//! dropped chunk is simply missing from the stream, which corrupts it: for
//! testing only. On UDP a chunk is one datagram.

use crate::decimal::Chance;

/// Fault injection: delays in milliseconds (min, max) and drop chances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultSpec {
    pub send_delay: (u64, u64),
    pub recv_delay: (u64, u64),
    pub send_drop: Chance,
    pub recv_drop: Chance,
}

#[cfg(feature = "faults")]
pub struct Faults {
    spec: FaultSpec,
    rng: std::cell::RefCell<crate::local::generate::Rng>,
}

#[cfg(feature = "faults")]
impl Faults {
    pub fn new(spec: FaultSpec) -> Faults {
        Faults {
            spec,
            rng: std::cell::RefCell::new(crate::local::generate::Rng::from_os()),
        }
    }

    async fn gate(&self, delay: (u64, u64), drop: Chance) -> bool {
        let (ms, keep) = {
            let mut r = self.rng.borrow_mut();
            (r.range(delay.0, delay.1), !r.chance(drop))
        };
        if ms > 0 {
            smol::Timer::after(std::time::Duration::from_millis(ms)).await;
        }
        keep
    }

    /// Before a chunk of local input goes out: delay, then keep or drop.
    pub async fn send_gate(&self) -> bool {
        self.gate(self.spec.send_delay, self.spec.send_drop).await
    }

    /// Only the drop part of the send faults (QoS pings keep their period).
    #[cfg_attr(not(feature = "qos"), allow(dead_code))]
    pub fn send_drop(&self) -> bool {
        self.rng.borrow_mut().chance(self.spec.send_drop)
    }

    /// Before a chunk received from a socket is forwarded.
    pub async fn recv_gate(&self) -> bool {
        self.gate(self.spec.recv_delay, self.spec.recv_drop).await
    }
}

/// Without the feature every chunk passes at once.
#[cfg(not(feature = "faults"))]
pub struct Faults;

#[cfg(not(feature = "faults"))]
impl Faults {
    pub fn new(_: FaultSpec) -> Faults {
        Faults
    }
    #[inline]
    pub async fn send_gate(&self) -> bool {
        true
    }
    #[cfg_attr(not(feature = "qos"), allow(dead_code))]
    #[inline]
    pub fn send_drop(&self) -> bool {
        false
    }
    #[inline]
    pub async fn recv_gate(&self) -> bool {
        true
    }
}
