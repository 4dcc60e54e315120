//! Pseudo-random numbers and generated local input.
//!
//! [`Rng`] is wyrand (one u64 of state, one 128-bit multiply per 8 bytes),
//! seeded from the OS through getrandom. It is not cryptographic: it feeds
//! load tests (`-i rand`, `-i fixed`), QoS ping payloads and the fault
//! injector's dice. Filling whole u64s keeps it well above 1 GiB/s on one core.

#[cfg(feature = "gen")]
use crate::local::GenSpec;
use crate::local::RandVals;
#[cfg(feature = "gen")]
use bytes::{Bytes, BytesMut};

/// wyrand.
pub struct Rng(u64);

impl Rng {
    /// Seeded from the OS; falls back to the clock and an address if the OS
    /// has no random source (never fails: the numbers are not secrets).
    pub fn from_os() -> Rng {
        let mut b = [0u8; 8];
        if getrandom::fill(&mut b).is_err() {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            let here = &b as *const _ as u64;
            b = (t ^ here.rotate_left(32)).to_le_bytes();
        }
        Rng(u64::from_le_bytes(b))
    }

    #[cfg(test)]
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// Uniform in `lo..=hi` (Lemire's multiply; the tiny bias is irrelevant here).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        lo + ((u128::from(self.next_u64()) * u128::from(span + 1)) >> 64) as u64
    }

    /// True with probability `p` (0 never, 1 always; a random number is
    /// drawn only in between).
    #[cfg_attr(not(feature = "faults"), allow(dead_code))]
    pub fn chance(&mut self, p: crate::decimal::Chance) -> bool {
        match p.hits() {
            0 => false,
            n if n >= 1 << 53 => true,
            n => (self.next_u64() >> 11) < n,
        }
    }

    /// Fill `buf` with random bytes, 8 at a time.
    #[cfg_attr(not(any(feature = "gen", feature = "qos")), allow(dead_code))]
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let v = self.next_u64().to_le_bytes();
            rest.copy_from_slice(&v[..rest.len()]);
        }
    }

    /// Fill `buf` with bytes of the given kind.
    #[cfg_attr(not(any(feature = "gen", feature = "qos")), allow(dead_code))]
    pub fn fill_vals(&mut self, buf: &mut [u8], vals: RandVals) {
        self.fill(buf);
        if vals == RandVals::Ascii {
            to_printable(buf);
        }
    }
}

/// Map every byte onto 0x20..=0x7E (95 values) with a multiply and shift,
/// which the compiler vectorises.
#[cfg_attr(not(any(feature = "gen", feature = "qos")), allow(dead_code))]
pub fn to_printable(buf: &mut [u8]) {
    for b in buf.iter_mut() {
        *b = 0x20 + ((u16::from(*b) * 95) >> 8) as u8;
    }
}

/// Bytes generated ahead for `-i rand`; chunks are cut from it without copying.
#[cfg(feature = "gen")]
const POOL: usize = 256 * 1024;

/// An endless source of chunks.
#[cfg(feature = "gen")]
pub struct Generator {
    rng: Rng,
    kind: Kind,
}

#[cfg(feature = "gen")]
enum Kind {
    Rand { spec: GenSpec, pool: BytesMut },
    Fixed(Bytes),
}

#[cfg(feature = "gen")]
impl Generator {
    /// `-i rand`: chunks of a random size in [min, max].
    pub fn rand(spec: GenSpec) -> Generator {
        Generator {
            rng: Rng::from_os(),
            kind: Kind::Rand {
                spec,
                pool: BytesMut::new(),
            },
        }
    }

    /// `-i fixed`: one random buffer of `size` bytes, sent over and over.
    pub fn fixed(size: usize, vals: RandVals) -> Generator {
        let mut rng = Rng::from_os();
        let mut buf = vec![0u8; size];
        rng.fill_vals(&mut buf, vals);
        Generator {
            rng,
            kind: Kind::Fixed(Bytes::from(buf)),
        }
    }

    pub fn next_chunk(&mut self) -> Bytes {
        match &mut self.kind {
            Kind::Fixed(b) => b.clone(),
            Kind::Rand { spec, pool } => {
                let n = self.rng.range(spec.min as u64, spec.max as u64) as usize;
                if pool.len() < n {
                    let mut fresh = BytesMut::zeroed(POOL.max(n));
                    self.rng.fill_vals(&mut fresh, spec.vals);
                    *pool = fresh;
                }
                pool.split_to(n).freeze()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_stays_in_bounds_and_covers_them() {
        let mut r = Rng::seeded(1);
        let mut seen = [false; 5];
        for _ in 0..10_000 {
            let v = r.range(3, 7);
            assert!((3..=7).contains(&v));
            seen[(v - 3) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.range(9, 9), 9);
    }

    #[test]
    fn chance_extremes_and_middle() {
        let mut r = Rng::seeded(2);
        use crate::decimal::Chance;
        assert!((0..1000).all(|_| !r.chance(Chance::NEVER)));
        assert!((0..1000).all(|_| r.chance(Chance::ALWAYS)));
        let quarter = Chance::of(crate::decimal::Dbl::ratio(1, 4));
        let hits = (0..100_000).filter(|_| r.chance(quarter)).count();
        assert!((23_000..27_000).contains(&hits), "{hits}");
    }

    #[test]
    fn ascii_is_printable_and_spread() {
        let mut r = Rng::seeded(3);
        let mut buf = vec![0u8; 100_000];
        r.fill_vals(&mut buf, RandVals::Ascii);
        assert!(buf.iter().all(|b| (0x20..=0x7e).contains(b)));
        assert!(buf.contains(&0x20) && buf.contains(&0x7e));
        let mut odd = [0u8; 13];
        r.fill(&mut odd);
        assert!(odd.iter().any(|b| *b != 0));
    }

    /// At least 1 GiB/s in optimised builds; debug builds (what CI runs)
    /// are some 25 times slower, so they hold a floor of their own that
    /// still catches a generator gone byte-by-byte slow.
    #[test]
    fn generator_is_fast() {
        let (size, floor) = if cfg!(debug_assertions) {
            (16usize << 20, 0.008)
        } else {
            (64usize << 20, 1.0)
        };
        let mut r = Rng::from_os();
        let mut buf = vec![0u8; size];
        let start = std::time::Instant::now();
        for _ in 0..4 {
            r.fill_vals(&mut buf, RandVals::Ascii);
        }
        let secs = start.elapsed().as_secs_f64();
        let gib_s = (4 * size) as f64 / f64::from(1u32 << 30) / secs;
        println!("generator: {gib_s:.3} GiB/s (ascii)");
        assert!(
            gib_s >= floor,
            "only {gib_s:.3} GiB/s (at least {floor} expected)"
        );
    }

    #[cfg(feature = "gen")]
    #[test]
    fn rand_chunks_within_bounds() {
        let spec = GenSpec {
            min: 10,
            max: 20,
            vals: RandVals::Binary,
        };
        let mut g = Generator::rand(spec);
        for _ in 0..100_000 {
            let c = g.next_chunk();
            assert!((10..=20).contains(&c.len()));
        }
        let mut f = Generator::fixed(100, RandVals::Ascii);
        assert_eq!(f.next_chunk(), f.next_chunk());
    }
}
