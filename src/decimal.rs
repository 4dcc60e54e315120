//! Decimal numbers without floating point. netcrab reads seconds and
//! probabilities and prints durations, rates and round trips with integer
//! arithmetic: core's float parsing and printing cost about 26 KiB, and on
//! soft-float targets (MIPS) every f64 operation is a library call.
//!
//! [`Dbl`] holds the value an IEEE 754 double would hold, as an integer
//! mantissa and a power of two, so that the text accepted, the nanoseconds
//! of `Duration::from_secs_f64`, the value of `as_secs_f64` and the text of
//! `{:.N}` and `{}` are exactly what they were with f64. That matters at
//! ties: 0.05 s printed with one decimal is "0.1" but 0.15 s is "0.1" too,
//! because the nearest doubles lie above and below the decimal.

use std::time::Duration;

#[cfg(test)]
mod tests;

const NANOS: u128 = 1_000_000_000;

/// A non-negative double: `m * 2^e` with `m` in [2^52, 2^53), or zero
/// (`m == 0`). There are no infinities, NaNs or subnormals: exponents
/// outside double's range are kept, and callers range-check long before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dbl {
    m: u64,
    e: i32,
}

impl Ord for Dbl {
    fn cmp(&self, o: &Dbl) -> std::cmp::Ordering {
        (self.m != 0, self.e, self.m).cmp(&(o.m != 0, o.e, o.m))
    }
}

impl PartialOrd for Dbl {
    fn partial_cmp(&self, o: &Dbl) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// Why a text is not a usable number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// Not a number in the syntax of `str::parse::<f64>`.
    Syntax,
    /// A number, but negative (other than zero), infinite or NaN.
    Range,
}

/// Far above anything a caller accepts (1e37 and more).
const HUGE: Dbl = Dbl {
    m: 1 << 52,
    e: 1000,
};
/// Far below anything but zero (below 1e-30): rounds to 0 ns, and is a
/// chance of one in 2^53.
const TINY: Dbl = Dbl {
    m: 1 << 52,
    e: -1000,
};

impl Dbl {
    pub const ZERO: Dbl = Dbl { m: 0, e: 0 };

    /// `num / den` rounded to the nearest double, ties to even: what
    /// `num as f64 / den as f64` gives when both are exact in f64.
    pub const fn ratio(num: u128, den: u128) -> Dbl {
        if num == 0 || den == 0 {
            return Dbl::ZERO;
        }
        // Both below 2^126 so that no shift below overflows (only absurd
        // values lose precision here).
        let over = {
            let b = if bits(num) > bits(den) {
                bits(num)
            } else {
                bits(den)
            };
            if b > 126 {
                b - 126
            } else {
                0
            }
        };
        let (mut n, mut d) = (num >> over, den >> over);
        if n == 0 {
            return TINY;
        }
        if d == 0 {
            return HUGE;
        }
        // Align so that d <= n < 2d: the quotient's leading bit is 2^e.
        let mut e = bits(n) - bits(d);
        if e >= 0 {
            d <<= e;
        } else {
            n <<= -e;
        }
        if n < d {
            n <<= 1;
            e -= 1;
        }
        // Long division, one bit of the mantissa at a time.
        let mut m: u64 = 0;
        let mut i = 0;
        while i < 53 {
            m <<= 1;
            if n >= d {
                n -= d;
                m |= 1;
            }
            n <<= 1;
            i += 1;
        }
        // n / 2d is what is left: round half to even.
        if n > d || (n == d && m & 1 == 1) {
            m += 1;
            if m == 1 << 53 {
                m >>= 1;
                e += 1;
            }
        }
        Dbl { m, e: e - 52 }
    }

    /// `d.as_secs_f64()`: the same two roundings std makes (whole seconds
    /// plus the nanoseconds divided by 10^9).
    pub fn secs(d: Duration) -> Dbl {
        let q = Dbl::ratio(u128::from(d.subsec_nanos()), NANOS);
        let s = u128::from(d.as_secs());
        if s == 0 {
            return q;
        }
        if q.m == 0 || s >= 1 << 40 {
            // (beyond 2^40 s the fraction is ignored: 34,000 years)
            return Dbl::ratio(s, 1);
        }
        // q < 1, so q.e <= -53; the exact sum over 2^-q.e, then rounded.
        let sh = (-q.e) as u32;
        Dbl::ratio((s << sh) + u128::from(q.m), 1 << sh)
    }

    /// `self * k` rounded to an integer, ties to even or up (k at most
    /// 10^22).
    fn times_round(self, k: u128, ties_up: bool) -> u128 {
        if self.m == 0 {
            return 0;
        }
        let v = u128::from(self.m) * k;
        if self.e >= 0 {
            let e = self.e as u32;
            return if e < v.leading_zeros() {
                v << e
            } else {
                u128::MAX
            };
        }
        let s = self.e.unsigned_abs();
        if s >= 128 {
            return 0; // v < 2^127: less than a half
        }
        let q = v >> s;
        let rem = v - (q << s);
        let half = 1u128 << (s - 1);
        if rem > half || (rem == half && (ties_up || q & 1 == 1)) {
            q + 1
        } else {
            q
        }
    }

    /// `Duration::from_secs_f64(self)`: to the nearest nanosecond, ties to
    /// even (saturating: callers check the range first).
    pub fn to_duration(self) -> Duration {
        let ns = self.times_round(NANOS, false);
        let secs = u64::try_from(ns / NANOS).unwrap_or(u64::MAX);
        Duration::new(secs, (ns % NANOS) as u32)
    }

    /// A probability (at most 1) as the number of 53-bit random values that
    /// fall below it: `k` is drawn when `k as f64 / 2^53 < self`.
    pub fn below_2_53(self) -> u64 {
        if self.m == 0 {
            return 0;
        }
        let sh = self.e + 53;
        if sh >= 0 {
            // self >= 2^-53 * 2^52: at most 2^53 for a probability.
            return if sh <= 1 { self.m << sh } else { 1 << 53 };
        }
        let s = sh.unsigned_abs();
        if s >= 64 {
            return 1;
        }
        (self.m + ((1 << s) - 1)) >> s
    }

    /// `format!("{:.N}", self)` (`decimals` at most 22).
    pub fn fixed(self, decimals: u32) -> String {
        let q = self.times_round(10u128.pow(decimals), false);
        with_point(q, decimals)
    }

    /// `format!("{}", self)`: the fewest decimals that read back as self
    /// (exact for values below 2^40, which is all netcrab prints).
    #[cfg_attr(not(any(feature = "check", feature = "dhcp")), allow(dead_code))]
    pub fn shortest(self) -> String {
        for j in 0..=22 {
            let p = 10u128.pow(j);
            // The nearest j-decimal number (at a tie the upper one, as
            // core's shortest form has it), else its neighbour on the other
            // side (a power of two's interval is lopsided).
            let c = self.times_round(p, true);
            for cand in [c, c + 1, c.saturating_sub(1)] {
                if Dbl::ratio(cand, p) == self {
                    return with_point(cand, j);
                }
            }
        }
        self.fixed(22)
    }
}

/// A probability as the count of the 2^53 equally likely 53-bit random
/// values that hit (what f64's `value / 2^53 < p` chose, without floats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Chance(u64);

impl Chance {
    pub const NEVER: Chance = Chance(0);
    #[cfg(all(test, feature = "faults"))]
    pub const ALWAYS: Chance = Chance(1 << 53);

    /// `p` from 0 to 1.
    pub fn of(p: Dbl) -> Chance {
        Chance(p.below_2_53().min(1 << 53))
    }

    /// Of the 53-bit random values, how many hit.
    #[cfg_attr(not(feature = "faults"), allow(dead_code))]
    pub fn hits(self) -> u64 {
        self.0
    }
}

/// How many bits `x` needs.
const fn bits(x: u128) -> i32 {
    128 - x.leading_zeros() as i32
}

/// `q / 10^decimals` in decimal.
fn with_point(q: u128, decimals: u32) -> String {
    if decimals == 0 {
        return q.to_string();
    }
    let p = 10u128.pow(decimals);
    format!("{}.{:0w$}", q / p, q % p, w = decimals as usize)
}

/// A number as `str::parse::<f64>` reads it ("1.5", ".5", "5.", "1e-3",
/// "+2", "inf", "NaN"; no spaces, no "_"): Syntax for what that refused,
/// Range for negative numbers other than zero, infinities and NaN.
pub fn parse(s: &str) -> Result<Dbl, Bad> {
    let b = s.as_bytes();
    let (neg, b) = match b.first() {
        Some(b'+') => (false, &b[1..]),
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if ["inf", "infinity", "nan"]
        .iter()
        .any(|w| b.eq_ignore_ascii_case(w.as_bytes()))
    {
        return Err(Bad::Range);
    }
    // digits * 10^exp; past 36 significant digits only whether any more is
    // non-zero is kept (a final 1: enough to break a tie).
    let (mut digits, mut nd, mut exp, mut sticky) = (0u128, 0, 0i64, false);
    let (mut seen, mut point, mut i) = (false, false, 0);
    while let Some(&c) = b.get(i) {
        if c == b'.' && !point {
            point = true;
        } else if c.is_ascii_digit() {
            seen = true;
            let v = c - b'0';
            if nd < 36 {
                if digits != 0 || v != 0 {
                    digits = digits * 10 + u128::from(v);
                    nd += 1;
                }
                exp -= i64::from(point);
            } else {
                sticky |= v != 0;
                exp += i64::from(!point);
            }
        } else {
            break;
        }
        i += 1;
    }
    if !seen {
        return Err(Bad::Syntax);
    }
    if i < b.len() {
        if !matches!(b[i], b'e' | b'E') {
            return Err(Bad::Syntax);
        }
        i += 1;
        let eneg = b.get(i) == Some(&b'-');
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let tail = &b[i..];
        if tail.is_empty() || !tail.iter().all(u8::is_ascii_digit) {
            return Err(Bad::Syntax);
        }
        let e = tail
            .iter()
            .fold(0i64, |e, c| (e * 10 + i64::from(c - b'0')).min(1 << 40));
        exp += if eneg { -e } else { e };
    }
    if sticky {
        digits = digits * 10 + 1;
        exp -= 1;
    }
    if digits == 0 {
        return Ok(Dbl::ZERO); // "-0" included, as f64 had it
    }
    if neg {
        return Err(Bad::Range);
    }
    Ok(from_decimal(digits, exp))
}

/// `digits * 10^exp` (digits below 10^37) rounded to a double.
fn from_decimal(mut digits: u128, mut exp: i64) -> Dbl {
    let magnitude = i64::from(digits.ilog10()) + 1 + exp;
    if magnitude > 37 {
        return HUGE;
    }
    if magnitude < -30 {
        return TINY;
    }
    if exp >= 0 {
        return Dbl::ratio(digits * 10u128.pow(exp as u32), 1);
    }
    // 10^k = 5^k * 2^k, and dividing by 2^k is exact: 5^54 < 2^126.
    if exp < -54 {
        // Drop digits (at least 24 stay), remembering any non-zero.
        let drop = 10u128.pow((-53 - exp) as u32);
        let rest = digits % drop;
        digits = digits / drop * 10 + u128::from(rest != 0);
        exp = -54;
    }
    let k = (-exp) as u32;
    let q = Dbl::ratio(digits, 5u128.pow(k));
    Dbl {
        m: q.m,
        e: q.e - k as i32,
    }
}

/// Seconds from a user's text with a range: the same `Duration` as
/// `from_secs_f64` of the parsed f64 had; `None` outside [lo, hi].
pub fn seconds_in(s: &str, lo: Dbl, hi: Dbl) -> Option<Duration> {
    parse(s)
        .ok()
        .filter(|v| (lo..=hi).contains(v))
        .map(Dbl::to_duration)
}

/// `format!("{:.N}", d.as_secs_f64())`.
pub fn secs_fixed(d: Duration, decimals: u32) -> String {
    Dbl::secs(d).fixed(decimals)
}

/// Seconds for a message, one decimal without a needless ".0": "10", "1.5".
#[cfg_attr(
    not(any(feature = "probe", feature = "tunnel", feature = "proxy")),
    allow(dead_code)
)]
pub fn secs_brief(d: Duration) -> String {
    let s = secs_fixed(d, 1);
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// `format!("{}", d.as_secs_f64())`: "1", "0.5", "2.25".
#[cfg_attr(not(any(feature = "check", feature = "dhcp")), allow(dead_code))]
pub fn secs_shortest(d: Duration) -> String {
    Dbl::secs(d).shortest()
}

/// `n` per second over `d`, with `decimals` decimals (a zero `d` counts as
/// one nanosecond).
#[cfg_attr(not(feature = "stats"), allow(dead_code))]
pub fn per_sec(n: u64, d: Duration, decimals: u32) -> String {
    Dbl::ratio(u128::from(n) * NANOS, d.as_nanos().max(1)).fixed(decimals)
}

/// A duration in milliseconds with `decimals` decimals.
#[cfg_attr(not(feature = "check"), allow(dead_code))]
pub fn millis(d: Duration, decimals: u32) -> String {
    Dbl::ratio(d.as_nanos(), 1_000_000).fixed(decimals)
}
