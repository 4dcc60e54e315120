//! The module against f64 itself (floats are fine in tests): every result
//! must be the one f64 and std gave.

use super::*;

/// xorshift64*: reproducible test values.
struct R(u64);
impl R {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A positive normal or zero f64 as a Dbl.
fn of(x: f64) -> Dbl {
    assert!(
        x >= 0.0 && x.is_finite() && (x == 0.0 || x.is_normal()),
        "{x}"
    );
    if x == 0.0 {
        return Dbl::ZERO;
    }
    let b = x.to_bits();
    let m = (b & ((1 << 52) - 1)) | (1 << 52);
    let e = ((b >> 52) & 0x7ff) as i32 - 1075;
    Dbl { m, e }
}

fn durations() -> Vec<Duration> {
    let mut r = R(0x1234_5678_9abc_def1);
    let mut v: Vec<Duration> = (0..20_000u64)
        .map(|_| match r.below(4) {
            0 => Duration::from_nanos(r.below(2_000_000_000)),
            1 => Duration::from_millis(r.below(3_600_000)),
            2 => Duration::new(r.below(1 << 40), r.below(1_000_000_000) as u32),
            _ => Duration::from_nanos(r.below(61_000) * 50_000_000 / 100 * 100),
        })
        .collect();
    // Every tie of one, two and three decimals up to 5 s.
    v.extend((0..100_000u64).map(|k| Duration::from_nanos(k * 50_000 + 25_000)));
    v.extend((0..1000u64).map(|k| Duration::from_nanos(k * 5_000_000)));
    v.extend([
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_secs(3600),
    ]);
    v
}

#[test]
fn ratio_is_f64_division() {
    let mut r = R(7);
    for _ in 0..100_000 {
        let (a, b) = (r.below(1 << 53), r.below(1 << 53) + 1);
        let (a, b) = match r.below(3) {
            0 => (a, b),
            1 => (a >> r.below(53), b),
            _ => (a, b >> r.below(53) | 1),
        };
        assert_eq!(
            Dbl::ratio(a.into(), b.into()),
            of(a as f64 / b as f64),
            "{a}/{b}"
        );
    }
    assert_eq!(Dbl::ratio(1, 10), of(0.1));
    assert_eq!(Dbl::ratio(0, 10), Dbl::ZERO);
    assert!(Dbl::ratio(1, 10) < Dbl::ratio(1, 5) && Dbl::ZERO < Dbl::ratio(1, 1 << 100));
}

#[test]
fn duration_conversions_are_std() {
    for d in durations() {
        let f = d.as_secs_f64();
        assert_eq!(Dbl::secs(d), of(f), "{d:?}");
        assert_eq!(of(f).to_duration(), Duration::from_secs_f64(f), "{d:?}");
        for n in 0..=4 {
            assert_eq!(secs_fixed(d, n), format!("{f:.*}", n as usize), "{d:?} {n}");
        }
        assert_eq!(secs_shortest(d), format!("{f}"), "{d:?}");
    }
}

#[test]
fn from_secs_rounds_like_std() {
    let mut r = R(99);
    for _ in 0..50_000 {
        let x = f64::from_bits(r.next()).abs();
        if !x.is_normal() || x > 1e9 {
            continue;
        }
        assert_eq!(of(x).to_duration(), Duration::from_secs_f64(x), "{x:e}");
    }
    // Exactly halfway between nanoseconds: to even.
    for ns in 0..64u32 {
        let x = (f64::from(ns) + 0.5) / 1e9;
        assert_eq!(of(x).to_duration(), Duration::from_secs_f64(x), "{x:e}");
    }
}

#[test]
fn fixed_and_shortest_are_rusts() {
    let mut r = R(5);
    let mut xs = vec![
        0.25, 0.125, 0.375, 2.5, 0.5, 1.5, 0.05, 0.15, 1e-9, 123.456, 3600.0,
    ];
    for _ in 0..50_000 {
        let x = f64::from_bits(r.next()).abs();
        if x.is_normal() && (1e-12..1e12).contains(&x) {
            xs.push(x);
        }
        xs.push(r.below(1 << 30) as f64 / 1024.0);
        xs.push(r.below(100_000) as f64 / 1000.0);
    }
    for x in xs {
        for n in 0..=4 {
            assert_eq!(of(x).fixed(n), format!("{x:.*}", n as usize), "{x:e} {n}");
        }
        if x < (1u64 << 40) as f64 && x >= 1e-5 {
            assert_eq!(of(x).shortest(), format!("{x}"), "{x:e}");
        }
    }
    assert_eq!(Dbl::ZERO.fixed(1), "0.0");
    assert_eq!(Dbl::ZERO.fixed(0), "0");
    assert_eq!(Dbl::ZERO.shortest(), "0");
}

fn check_parse(s: &str) {
    let want = match s.parse::<f64>() {
        Err(_) => Err(Bad::Syntax),
        Ok(0.0) => Ok(Dbl::ZERO),
        Ok(x) if !x.is_finite() || x < 0.0 => Err(Bad::Range),
        Ok(x) if x > 1e37 => Ok(HUGE),
        Ok(x) if x < 1e-30 => Ok(TINY),
        Ok(x) => Ok(of(x)),
    };
    let got = parse(s);
    match (got, want) {
        // Only the order matters out there.
        (Ok(HUGE), Ok(w)) => assert!(w > of(1e36), "{s}"),
        (Ok(TINY), Ok(w)) => assert!(w < of(1e-29), "{s}"),
        // f64 overflowed to infinity: out of every range either way.
        (Ok(HUGE), Err(Bad::Range)) => assert_eq!(s.parse(), Ok(f64::INFINITY), "{s}"),
        (g, w) => assert_eq!(g, w, "{s:?}"),
    }
}

#[test]
fn parse_accepts_what_f64_accepted() {
    for s in [
        "1.5",
        ".5",
        "5.",
        "1e2",
        "1E2",
        "1e+2",
        "1e-3",
        "+1",
        "-0",
        "-0.0",
        "-.0",
        "0",
        "00.100",
        "inf",
        "-inf",
        "+infinity",
        "INF",
        "Infinity",
        "nan",
        "NaN",
        "-nan",
        "1_0",
        " 1",
        "1 ",
        "0x1",
        "1e",
        "1e+",
        ".",
        "",
        "-",
        "+",
        "+.e1",
        "e5",
        ".e5",
        "1.e2",
        ".5e1",
        "1.5.2",
        "1e5.",
        "--1",
        "-1",
        "-0.5",
        "1e400",
        "1e-400",
        "1e-320",
        "3600",
        "3600.0000000001",
        "0.1",
        "0.05",
        "0.15",
        "1e9",
        "1000000000.0000000001",
        "0.0000000005",
        "1.0000000005",
        "2.5e-9",
        "0.3",
        "1ee2",
        "1e2e2",
        "١",
        "1.5s",
        "0e99999999999999999999",
        "5e-324",
        "123456789012345678901234567890123456789012345678901234567890e-50",
        "0.000000000000000000000000000000000000000000000000012345678901234567890123456789e40",
        "4.9406564584124654e-324",
        "179769313486231570000000000000000000000",
    ] {
        check_parse(s);
    }
    let mut r = R(11);
    for _ in 0..50_000 {
        let (ib, fb) = (r.below(40), r.below(60));
        let int = r.below(1 << ib);
        let frac = r.below(1 << fb);
        let s = match r.below(4) {
            0 => format!("{int}"),
            1 => format!("{int}.{frac}"),
            2 => format!(".{frac:018}"),
            _ => format!("{int}.{frac}e-{}", r.below(25)),
        };
        check_parse(&s);
    }
    // The exact double's ordering against a range's ends.
    let lo = Dbl::ratio(1, 10);
    assert_eq!(
        seconds_in("0.1", lo, of(60.0)),
        Some(Duration::from_millis(100))
    );
    assert_eq!(
        seconds_in("0.0999999999999999999", lo, of(60.0)),
        Some(Duration::from_millis(100))
    );
    assert_eq!(seconds_in("0.09999999999999", lo, of(60.0)), None);
    assert_eq!(
        seconds_in("60.000000000000001", lo, of(60.0)),
        Some(Duration::from_secs(60))
    );
    assert_eq!(seconds_in("60.00000000001", lo, of(60.0)), None);
    assert_eq!(seconds_in("x", lo, of(60.0)), None);
}

#[test]
fn chance_threshold_is_the_f64_comparison() {
    let scale = 1.0 / (1u64 << 53) as f64;
    let mut r = R(3);
    let mut ps = vec![
        0.0,
        1.0,
        0.5,
        0.25,
        0.1,
        1e-300,
        1e-17,
        0.999_999_999_999_999_9,
    ];
    ps.extend((0..20_000).map(|_| (r.next() >> 11) as f64 * scale));
    ps.extend((0..20_000).map(|_| r.below(1_000_000) as f64 / 1e6));
    for p in ps {
        let t = of(p).below_2_53();
        assert!(t <= 1 << 53, "{p:e}");
        if t > 0 {
            assert!(((t - 1) as f64) * scale < p, "{p:e}");
        }
        if t < 1 << 53 {
            assert!((t as f64) * scale >= p, "{p:e}");
        }
    }
    assert_eq!(TINY.below_2_53(), 1);
}

#[test]
fn rates_and_millis() {
    assert_eq!(per_sec(0, Duration::from_secs(1), 1), "0.0");
    assert_eq!(per_sec(10, Duration::from_secs(4), 1), "2.5");
    assert_eq!(per_sec(3, Duration::from_millis(1500), 0), "2");
    assert_eq!(per_sec(5, Duration::ZERO, 0), "5000000000");
    assert_eq!(millis(Duration::from_micros(1234), 2), "1.23");
    assert_eq!(millis(Duration::from_nanos(1_234_567), 3), "1.235");
}
