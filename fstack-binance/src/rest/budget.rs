//! The request weight a client spends per minute, kept under a budget: Binance limits each
//! IP address to [`BINANCE_WEIGHT_PER_MINUTE`](crate::book::snapshot::BINANCE_WEIGHT_PER_MINUTE)
//! request weight per minute and answers HTTP 429 beyond it (418, a ban, for clients that
//! ignore 429s).
//!
//! A sliding window of the last 60 seconds: a request is sent only when the weight spent in
//! the window plus its own stays within the budget, otherwise it waits until enough of the
//! window has passed. A request heavier than the whole budget is sent once the window is
//! empty.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The window Binance counts request weight over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// See the [module docs](self).
#[derive(Debug, Clone)]
pub struct WeightBudget {
    per_minute: u32,
    spent: VecDeque<(Instant, u32)>,
}

impl WeightBudget {
    /// A budget of `per_minute` weight over any 60 s.
    pub fn new(per_minute: u32) -> WeightBudget {
        WeightBudget {
            per_minute,
            spent: VecDeque::new(),
        }
    }

    /// The budget per minute.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    fn expire(&mut self, now: Instant) {
        while self
            .spent
            .front()
            .is_some_and(|&(t, _)| now.duration_since(t) >= WINDOW)
        {
            self.spent.pop_front();
        }
    }

    /// Weight spent in the 60 s before `now`.
    pub fn used(&mut self, now: Instant) -> u32 {
        self.expire(now);
        self.spent.iter().map(|&(_, w)| w).sum()
    }

    /// When a request of `weight` may be sent: `now` or later.
    pub fn available_at(&mut self, now: Instant, weight: u32) -> Instant {
        let mut used = self.used(now);
        if self.spent.is_empty() || used + weight <= self.per_minute {
            return now;
        }
        // Wait for the oldest spendings to leave the window.
        for &(t, w) in &self.spent {
            used -= w;
            if used + weight <= self.per_minute || used == 0 {
                return t + WINDOW;
            }
        }
        now
    }

    /// Spends `weight` at `now`, whether or not the budget allows it (a request that was
    /// sent counts).
    pub fn spend(&mut self, now: Instant, weight: u32) {
        self.expire(now);
        self.spent.push_back((now, weight));
    }

    /// Spends `weight` at `now` if the budget allows it.
    pub fn try_spend(&mut self, now: Instant, weight: u32) -> bool {
        if self.available_at(now, weight) > now {
            return false;
        }
        self.spent.push_back((now, weight));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spends_within_a_sliding_minute() {
        let t0 = Instant::now();
        let mut b = WeightBudget::new(100);
        assert!(b.try_spend(t0, 50));
        assert!(b.try_spend(t0 + Duration::from_secs(10), 50));
        assert_eq!(b.used(t0 + Duration::from_secs(10)), 100);
        // Full: the next 50 fits once the first 50 leaves the window.
        assert!(!b.try_spend(t0 + Duration::from_secs(20), 50));
        assert_eq!(
            b.available_at(t0 + Duration::from_secs(20), 50),
            t0 + WINDOW
        );
        assert_eq!(
            b.available_at(t0 + Duration::from_secs(20), 100),
            t0 + Duration::from_secs(70)
        );
        assert!(b.try_spend(t0 + WINDOW, 50));
        assert_eq!(b.used(t0 + WINDOW), 100);
        // Heavier than the budget: only into an empty window.
        let mut b = WeightBudget::new(10);
        assert!(b.try_spend(t0, 250));
        assert!(!b.try_spend(t0 + Duration::from_secs(1), 250));
        assert_eq!(
            b.available_at(t0 + Duration::from_secs(1), 250),
            t0 + WINDOW
        );
        assert!(b.try_spend(t0 + WINDOW, 250));
    }
}
