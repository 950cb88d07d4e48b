//! Deadlines for the loop body: F-Stack's sockets have no timeouts and `ff_epoll_wait` never
//! blocks, so a program checks its deadlines itself, once per iteration.
//!
//! [`Timers`] takes the current time as an argument (smoltcp style) instead of reading the
//! clock: read [`Instant::now`] once per iteration and pass it on; tests pass made-up instants.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Names one armed timer, for [`Timers::cancel`]. Never reused within one [`Timers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId {
    at: Instant,
    seq: u64,
}

impl TimerId {
    /// When the timer fires.
    pub fn deadline(&self) -> Instant {
        self.at
    }
}

/// A set of deadlines, each carrying a value `K` (a connection token, an enum of what to do),
/// ordered by time; timers due at the same instant fire in the order they were armed.
///
/// ```
/// use std::time::{Duration, Instant};
/// use fstack::Timers;
///
/// let start = Instant::now();
/// let mut timers = Timers::new();
/// let ping = timers.insert(start + Duration::from_secs(20), "ping");
/// timers.insert(start + Duration::from_secs(5), "connect timeout");
/// assert_eq!(timers.next_deadline(), Some(start + Duration::from_secs(5)));
/// assert_eq!(timers.pop_expired(start + Duration::from_secs(4)), None);
/// assert_eq!(timers.pop_expired(start + Duration::from_secs(5)), Some("connect timeout"));
/// assert_eq!(timers.cancel(ping), Some("ping"));
/// assert!(timers.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct Timers<K> {
    armed: BTreeMap<TimerId, K>,
    next_seq: u64,
}

impl<K> Default for Timers<K> {
    fn default() -> Self {
        Timers::new()
    }
}

impl<K> Timers<K> {
    /// No timers.
    pub fn new() -> Timers<K> {
        Timers {
            armed: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Arms a timer firing at `at` with `key`.
    pub fn insert(&mut self, at: Instant, key: K) -> TimerId {
        let id = TimerId {
            at,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.armed.insert(id, key);
        id
    }

    /// Arms a timer firing `after` from `now`; `None` (nothing armed) when that instant is
    /// beyond the clock's range, i.e. never.
    pub fn insert_after(&mut self, now: Instant, after: Duration, key: K) -> Option<TimerId> {
        Some(self.insert(now.checked_add(after)?, key))
    }

    /// Disarms a timer; returns its key, or `None` if it already fired or was cancelled.
    pub fn cancel(&mut self, id: TimerId) -> Option<K> {
        self.armed.remove(&id)
    }

    /// True while the timer is armed.
    pub fn contains(&self, id: TimerId) -> bool {
        self.armed.contains_key(&id)
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.armed.keys().next().map(|id| id.at)
    }

    /// Time from `now` to the earliest deadline (zero when it has passed).
    pub fn time_until_next(&self, now: Instant) -> Option<Duration> {
        self.next_deadline()
            .map(|at| at.saturating_duration_since(now))
    }

    /// Removes and returns the earliest timer due at or before `now`. Call it in a loop:
    /// `while let Some(key) = timers.pop_expired(now) { ... }`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        let entry = self.armed.first_entry()?;
        if entry.key().at > now {
            return None;
        }
        Some(entry.remove())
    }

    /// Number of armed timers.
    pub fn len(&self) -> usize {
        self.armed.len()
    }

    /// True when no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }

    /// Disarms every timer.
    pub fn clear(&mut self) {
        self.armed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn fires_in_deadline_order_and_not_before() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        timers.insert(t0 + ms(30), 3);
        timers.insert(t0 + ms(10), 1);
        timers.insert(t0 + ms(20), 2);
        assert_eq!(timers.len(), 3);
        assert_eq!(timers.next_deadline(), Some(t0 + ms(10)));
        assert_eq!(timers.time_until_next(t0 + ms(4)), Some(ms(6)));
        assert_eq!(timers.pop_expired(t0 + ms(9)), None);
        // Due exactly at the deadline.
        assert_eq!(timers.pop_expired(t0 + ms(10)), Some(1));
        assert_eq!(timers.pop_expired(t0 + ms(10)), None);
        // A late check fires everything due, earliest first.
        let mut fired = Vec::new();
        while let Some(k) = timers.pop_expired(t0 + ms(100)) {
            fired.push(k);
        }
        assert_eq!(fired, vec![2, 3]);
        assert!(timers.is_empty());
        assert_eq!(timers.next_deadline(), None);
        assert_eq!(timers.time_until_next(t0), None);
    }

    #[test]
    fn same_instant_fires_in_arming_order() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        for k in ["a", "b", "c"] {
            timers.insert(t0 + ms(5), k);
        }
        let fired: Vec<_> = std::iter::from_fn(|| timers.pop_expired(t0 + ms(5))).collect();
        assert_eq!(fired, vec!["a", "b", "c"]);
    }

    #[test]
    fn cancel_disarms_once() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let a = timers.insert(t0 + ms(5), 'a');
        let b = timers.insert(t0 + ms(5), 'b');
        assert_ne!(a, b);
        assert_eq!(a.deadline(), t0 + ms(5));
        assert!(timers.contains(a));
        assert_eq!(timers.cancel(a), Some('a'));
        assert_eq!(timers.cancel(a), None);
        assert!(!timers.contains(a));
        assert_eq!(timers.pop_expired(t0 + ms(5)), Some('b'));
        // A fired timer cannot be cancelled.
        assert_eq!(timers.cancel(b), None);
    }

    #[test]
    fn insert_after_and_overflow() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let id = timers.insert_after(t0, ms(250), 1).unwrap();
        assert_eq!(id.deadline(), t0 + ms(250));
        assert_eq!(timers.insert_after(t0, Duration::MAX, 2), None);
        assert_eq!(timers.len(), 1);
        timers.clear();
        assert!(timers.is_empty());
    }
}
