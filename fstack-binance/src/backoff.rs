//! Exponential backoff with jitter for reconnects, capped, reset after success.
//!
//! Deterministic when seeded ([`Backoff::with_seed`]); the generator is a tiny xorshift64*,
//! good enough for jitter (not for anything security related).

use std::time::Duration;

/// xorshift64* pseudo-random generator.
#[derive(Debug, Clone)]
pub struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    /// A generator from `seed` (0 is replaced by a fixed non-zero constant).
    pub fn new(seed: u64) -> Self {
        // splitmix64 scrambles low-entropy seeds (1, 2, 3, ...).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift64 {
            state: if z == 0 { 0x2545_F491_4F6C_DD1D } else { z },
        }
    }

    /// A generator seeded from the clock and the process id.
    pub fn from_entropy() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Self::new(t ^ (u64::from(std::process::id()) << 32))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi` (returns `lo` if `hi <= lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        // Multiply-shift mapping: bias below 2^-64 * span, irrelevant for jitter.
        lo + ((u128::from(self.next_u64()) * u128::from(span + 1)) >> 64) as u64
    }
}

/// Jitter strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// No jitter: `min(cap, base * 2^n)`.
    None,
    /// "Full jitter": uniform in `[0, min(cap, base * 2^n)]`.
    Full,
    /// "Decorrelated jitter": uniform in `[base, min(cap, 3 * previous)]`.
    Decorrelated,
}

/// Exponential backoff state.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    jitter: Jitter,
    attempt: u32,
    prev: Duration,
    rng: XorShift64,
}

impl Backoff {
    /// Backoff from `base` up to `cap`, seeded from the clock.
    pub fn new(base: Duration, cap: Duration, jitter: Jitter) -> Self {
        Self::with_seed(base, cap, jitter, XorShift64::from_entropy().next_u64())
    }

    /// Deterministic backoff for tests.
    pub fn with_seed(base: Duration, cap: Duration, jitter: Jitter, seed: u64) -> Self {
        let cap = cap.max(base);
        Backoff {
            base,
            cap,
            jitter,
            attempt: 0,
            prev: base,
            rng: XorShift64::new(seed),
        }
    }

    /// Defaults for Binance reconnects: decorrelated jitter from 500 ms to 30 s (Binance
    /// allows 300 connection attempts per 5 minutes per IP).
    pub fn binance() -> Self {
        Self::new(
            Duration::from_millis(500),
            Duration::from_secs(30),
            Jitter::Decorrelated,
        )
    }

    /// The delay to wait before the next attempt; advances the state.
    pub fn next_delay(&mut self) -> Duration {
        let cap = self.cap.as_micros() as u64;
        let base = self.base.as_micros() as u64;
        let exp = base
            .saturating_mul(1u64.checked_shl(self.attempt.min(63)).unwrap_or(u64::MAX))
            .min(cap);
        self.attempt = self.attempt.saturating_add(1);
        let us = match self.jitter {
            Jitter::None => exp,
            Jitter::Full => self.rng.range(0, exp),
            Jitter::Decorrelated => {
                let hi = (self.prev.as_micros() as u64).saturating_mul(3).min(cap);
                self.rng.range(base, hi)
            }
        };
        let d = Duration::from_micros(us);
        self.prev = d;
        d
    }

    /// Number of delays handed out since the last reset (consecutive failures).
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Back to the first delay (call after a successful connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
        self.prev = self.base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn no_jitter_doubles_to_cap() {
        let mut b = Backoff::with_seed(MS(100), MS(1000), Jitter::None, 1);
        let v: Vec<u64> = (0..7).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(v, [100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(b.attempts(), 7);
        b.reset();
        assert_eq!(b.attempts(), 0);
        assert_eq!(b.next_delay(), MS(100));
        // Many attempts never overflow.
        for _ in 0..200 {
            assert!(b.next_delay() <= MS(1000));
        }
        assert_eq!(b.next_delay(), MS(1000));
    }

    #[test]
    fn full_jitter_is_bounded_and_deterministic() {
        let run = |seed| {
            let mut b = Backoff::with_seed(MS(100), MS(2000), Jitter::Full, seed);
            (0..50).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        let a = run(42);
        assert_eq!(a, run(42));
        assert_ne!(a, run(43));
        for (i, d) in a.iter().enumerate() {
            let ceiling = MS(100 * (1u64 << i.min(20))).min(MS(2000));
            assert!(*d <= ceiling, "{i} {d:?}");
        }
        // Jitter actually spreads the delays.
        let distinct: std::collections::HashSet<_> = a[5..].iter().collect();
        assert!(distinct.len() > 30);
    }

    #[test]
    fn decorrelated_jitter_bounds() {
        let mut b = Backoff::with_seed(MS(500), MS(30_000), Jitter::Decorrelated, 7);
        let mut prev = MS(500);
        for _ in 0..1000 {
            let d = b.next_delay();
            assert!(d >= MS(500) && d <= MS(30_000), "{d:?}");
            assert!(d <= (prev * 3).min(MS(30_000)));
            prev = d;
        }
        b.reset();
        let d = b.next_delay();
        assert!(d >= MS(500) && d <= MS(1500), "{d:?}");
        let mut b = Backoff::binance();
        let d = b.next_delay();
        assert!(d >= MS(500) && d <= MS(1500));
        // cap < base is lifted to base.
        let mut b = Backoff::with_seed(MS(10), MS(1), Jitter::None, 0);
        assert_eq!(b.next_delay(), MS(10));
    }

    #[test]
    fn rng_range() {
        let mut r = XorShift64::new(0);
        assert_ne!(r.next_u64(), 0);
        let mut hits = [0u32; 6];
        for _ in 0..60_000 {
            let v = r.range(10, 15);
            assert!((10..=15).contains(&v));
            hits[(v - 10) as usize] += 1;
        }
        assert!(
            hits.iter().all(|&h| (9_000..11_000).contains(&h)),
            "{hits:?}"
        );
        assert_eq!(r.range(5, 5), 5);
        assert_eq!(r.range(6, 5), 6);
        let _ = r.range(0, u64::MAX);
        assert_eq!(XorShift64::new(9).next_u64(), XorShift64::new(9).next_u64());
    }
}
