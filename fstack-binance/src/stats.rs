//! Receive-latency histogram and counters, with a one-screen summary for stderr.
//!
//! Latency is measured against the events' own timestamps (`E`, milliseconds, or
//! microseconds with `timeUnit=MICROSECOND`) and the local wall clock, so it includes clock
//! offset between the exchange and this host and has the timestamp's resolution.
//!
//! The histogram has a fixed number of log-linear buckets (values below 128 us are exact,
//! larger ones within 1/64 = 1.6 %): memory is bounded (~30 KB, allocated once) whatever the
//! number of samples. Recording does not allocate.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::stream::TimeUnit;

const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS; // 64 sub-buckets per octave
const LINEAR: u64 = 2 * SUB as u64; // values below 128 have their own bucket
const BUCKETS: usize = 2 * SUB + (63 - SUB_BITS as usize) * SUB;

/// Fixed-size log-linear histogram of `u64` values (microseconds here).
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min())
            .field("max", &self.max())
            .finish()
    }
}

fn bucket_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros(); // >= 7
    let shift = msb - SUB_BITS; // >= 1; v >> shift is in [64, 128)
    let top = (v >> shift) as usize;
    2 * SUB + (shift as usize - 1) * SUB + (top - SUB)
}

/// Highest value that falls into bucket `i`.
fn bucket_high(i: usize) -> u64 {
    if i < 2 * SUB {
        return i as u64;
    }
    let shift = (i - 2 * SUB) / SUB + 1;
    let top = ((i - 2 * SUB) % SUB + SUB) as u64;
    let low = top << shift;
    low + ((1u64 << shift) - 1)
}

impl Histogram {
    /// An empty histogram (allocates its fixed bucket array once).
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Adds one value.
    pub fn record(&mut self, v: u64) {
        self.counts[bucket_of(v)] += 1;
        self.count += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest value (exact), 0 when empty.
    pub fn min(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.min
        }
    }

    /// Largest value (exact), 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Mean (exact), 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The value at quantile `q` (0.0..=1.0): the upper bound of the bucket holding the
    /// `ceil(q * count)`-th smallest value, never above the exact maximum. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_high(i).min(self.max).max(self.min);
            }
        }
        self.max
    }

    /// Forgets all values (keeps the allocation).
    pub fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.count = 0;
        self.sum = 0;
        self.min = u64::MAX;
        self.max = 0;
    }
}

/// Microseconds since the Unix epoch from the system clock (0 if the clock is before 1970).
pub fn unix_micros_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Counters and the receive-latency histogram of a client run.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Market events decoded.
    pub events: u64,
    /// WebSocket messages received (events, replies, malformed, ...).
    pub messages: u64,
    /// Payload bytes received (as counted by the caller, e.g. text frame lengths).
    pub bytes: u64,
    /// Reconnections (not counting the first connection).
    pub reconnects: u64,
    /// Messages that could not be decoded (malformed or unexpected) and were skipped.
    pub malformed: u64,
    /// Events whose timestamp was ahead of the local clock (recorded as 0 latency).
    pub clock_ahead: u64,
    /// Receive latency in microseconds (event timestamp to local receive time).
    pub latency_us: Histogram,
    /// Unit of the events' timestamps (affects the summary's note on resolution).
    pub time_unit: TimeUnit,
}

impl Stats {
    /// Empty statistics for timestamps in `time_unit`.
    pub fn new(time_unit: TimeUnit) -> Self {
        Stats {
            time_unit,
            latency_us: Histogram::new(),
            ..Default::default()
        }
    }

    /// Counts one received message of `bytes` bytes.
    pub fn record_message(&mut self, bytes: usize) {
        self.messages += 1;
        self.bytes += bytes as u64;
    }

    /// Counts one decoded event; with an event time (in [`Stats::time_unit`]), records its
    /// latency against `now_us` (microseconds since the epoch, e.g. [`unix_micros_now`]).
    pub fn record_event(&mut self, event_time: Option<u64>, now_us: u64) {
        self.events += 1;
        if let Some(t) = event_time {
            let t_us = self.time_unit.to_micros(t);
            if t_us > now_us {
                self.clock_ahead += 1;
                self.latency_us.record(0);
            } else {
                self.latency_us.record(now_us - t_us);
            }
        }
    }

    /// Counts one malformed or unexpected message.
    pub fn record_malformed(&mut self) {
        self.malformed += 1;
    }

    /// Counts one reconnection.
    pub fn record_reconnect(&mut self) {
        self.reconnects += 1;
    }

    /// A displayable multi-line summary (for stderr at exit).
    pub fn summary(&self) -> Summary<'_> {
        Summary { stats: self }
    }
}

/// Summary of [`Stats`], e.g.
/// ```text
/// events 1200  messages 1203  bytes 540000  reconnects 1  malformed 2
/// latency us (event time -> receive, n=1200, ms timestamps): p50 812  p90 1020  p99 1500  p99.9 2100  max 3050
/// ```
pub struct Summary<'s> {
    stats: &'s Stats,
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.stats;
        writeln!(
            f,
            "events {}  messages {}  bytes {}  reconnects {}  malformed {}",
            s.events, s.messages, s.bytes, s.reconnects, s.malformed
        )?;
        let h = &s.latency_us;
        let unit = match s.time_unit {
            TimeUnit::Millisecond => "ms",
            TimeUnit::Microsecond => "us",
        };
        if h.count() == 0 {
            return write!(f, "latency: no timestamped events");
        }
        write!(
            f,
            "latency us (event time -> receive, n={}, {unit} timestamps): p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            h.count(),
            h.quantile(0.5),
            h.quantile(0.9),
            h.quantile(0.99),
            h.quantile(0.999),
            h.max()
        )?;
        if s.clock_ahead > 0 {
            write!(f, "  (clock ahead: {})", s.clock_ahead)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        assert_eq!(BUCKETS, 3776);
        let mut prev = 0;
        for v in (0..100_000u64).chain([u64::MAX / 2, u64::MAX - 1, u64::MAX]) {
            let b = bucket_of(v);
            assert!(b >= prev && b < BUCKETS, "{v}");
            prev = b;
            let high = bucket_high(b);
            assert!(high >= v, "{v} {high}");
            // Relative width at most 1/64.
            assert!((high - v) as f64 <= v as f64 / 64.0 + 0.5, "{v} {high}");
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_high(BUCKETS - 1), u64::MAX);
        for v in 0..128 {
            assert_eq!(bucket_high(bucket_of(v)), v);
        }
        assert_eq!(bucket_of(128), 128);
        assert_eq!(bucket_high(128), 129);
        assert_eq!(bucket_of(129), 128);
        assert_eq!(bucket_of(130), 129);
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::new();
        assert_eq!(
            (h.quantile(0.5), h.min(), h.max(), h.mean()),
            (0, 0, 0, 0.0)
        );
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile(0.5), 50);
        assert_eq!(h.quantile(0.9), 90);
        assert_eq!(h.quantile(0.99), 99);
        assert_eq!(h.quantile(0.999), 100);
        assert_eq!(h.quantile(1.0), 100);
        assert_eq!(h.quantile(0.0), 1);
        assert_eq!((h.min(), h.max()), (1, 100));
        assert!((h.mean() - 50.5).abs() < 1e-9);

        let mut h = Histogram::new();
        for _ in 0..999 {
            h.record(1_000);
        }
        h.record(1_000_000);
        // 1000 lies in an 8-wide bucket [1000, 1007]: reported as its upper bound, within 1.6 %.
        assert_eq!(h.quantile(0.5), 1_007);
        assert_eq!(h.quantile(0.999), 1_007);
        assert_eq!(h.quantile(1.0), 1_000_000);
        assert_eq!(h.max(), 1_000_000);
        h.clear();
        assert_eq!(h.count(), 0);
        h.record(7);
        assert_eq!(h.quantile(0.5), 7);
        // A single huge value is reported exactly (clamped to max).
        let mut h = Histogram::new();
        h.record(123_456_789);
        assert_eq!(h.quantile(0.5), 123_456_789);
        assert_eq!(h.quantile(f64::NAN), 123_456_789);
    }

    #[test]
    fn stats_and_summary() {
        let mut s = Stats::new(TimeUnit::Millisecond);
        let now = 1_700_000_000_500_000; // us
        s.record_message(450);
        s.record_event(Some(1_700_000_000_499), now); // 1 ms
        s.record_message(450);
        s.record_event(Some(1_700_000_000_498), now); // 2 ms
        s.record_message(100);
        s.record_event(None, now); // bookTicker: counted, no latency
        s.record_message(10);
        s.record_malformed();
        s.record_reconnect();
        s.record_message(450);
        s.record_event(Some(1_700_000_000_501), now); // ahead of the clock
        assert_eq!(
            (s.events, s.messages, s.bytes, s.malformed, s.reconnects),
            (4, 5, 1460, 1, 1)
        );
        assert_eq!(s.clock_ahead, 1);
        assert_eq!(s.latency_us.count(), 3);
        assert_eq!(s.latency_us.max(), 2_000);
        assert_eq!(
            s.summary().to_string(),
            "events 4  messages 5  bytes 1460  reconnects 1  malformed 1\n\
             latency us (event time -> receive, n=3, ms timestamps): p50 1007  p90 2000  p99 2000  p99.9 2000  max 2000  (clock ahead: 1)"
        );
        let mut s = Stats::new(TimeUnit::Microsecond);
        s.record_event(Some(now - 42), now);
        assert_eq!(s.latency_us.quantile(0.5), 42);
        assert!(s
            .summary()
            .to_string()
            .contains("n=1, us timestamps): p50 42"));
        let s = Stats::new(TimeUnit::Millisecond);
        assert_eq!(
            s.summary().to_string(),
            "events 0  messages 0  bytes 0  reconnects 0  malformed 0\nlatency: no timestamped events"
        );
        assert!(unix_micros_now() > 1_600_000_000_000_000);
    }
}
