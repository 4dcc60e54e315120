//! Fuzz-style test of the offer parser: random datagrams, and valid offers
//! with random bytes changed, cut or appended, must give an offer or a
//! reason, never a panic. (Same style as src/cli/fuzz_tests.rs.)

use super::packet::{parse_offer, test_reply};

/// Option bytes of a valid offer, with interesting codes to mutate around.
const OPTIONS: &[u8] = &[
    53, 1, 2, 52, 1, 3, 54, 4, 10, 0, 0, 1, 1, 4, 255, 255, 255, 0, 3, 4, 10, 0, 0, 1, 6, 8, 10, 0,
    0, 53, 10, 0, 0, 54, 0, 224, 3, 1, 2, 3, 51, 4, 0, 0, 14, 16, 255,
];

#[test]
fn fuzzed_offers_never_panic() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let base = test_reply(7, OPTIONS);
    let (mut offers, mut ignored) = (0, 0);
    for round in 0..100_000 {
        let mut p = if round % 4 == 0 {
            // Pure noise, mostly around the header size.
            let len = (next() % 400) as usize;
            (0..len).map(|_| next() as u8).collect()
        } else {
            base.clone()
        };
        // Flip some bytes, biased towards the options and the overloaded fields.
        for _ in 0..(next() % 6) {
            if p.is_empty() {
                break;
            }
            let at = if next() % 2 == 0 {
                236 + (next() % 60) as usize
            } else {
                (next() % p.len() as u64) as usize
            };
            if let Some(b) = p.get_mut(at) {
                *b = next() as u8;
            }
        }
        match next() % 4 {
            0 => p.truncate((next() % (p.len() as u64 + 1)) as usize),
            1 => p.extend((0..next() % 40).map(|_| next() as u8)),
            _ => {}
        }
        match parse_offer(&p, 7) {
            Ok(o) => {
                offers += 1;
                assert!(o.routers.len() <= p.len() / 4 && o.dns.len() <= p.len() / 4);
            }
            Err(why) => {
                ignored += 1;
                assert!(!why.is_empty());
            }
        }
    }
    // Both paths were exercised, not just one.
    assert!(
        offers > 1000 && ignored > 1000,
        "{offers} offers, {ignored} ignored"
    );
}
