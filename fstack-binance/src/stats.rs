//! Receive-latency histogram and counters, with a one-screen summary for stderr.
//!
//! Latency is measured against the events' own timestamps (`E`, milliseconds, or
//! microseconds with `timeUnit=MICROSECOND`) and the local wall clock, so it includes clock
//! offset between the exchange and this host and has the timestamp's resolution.
//!
//! The histogram is an [HdrHistogram](hdrhistogram) with 3 significant digits (values below
//! 2048 us are exact, larger ones within 0.1 %) over 0 to [`MAX_TRACKED_US`] (one hour), sized
//! once (~190 KB) and never resized: memory is bounded whatever the number of samples, and
//! recording does not allocate. It serialises to HdrHistogram's V2 format
//! ([`Histogram::write_v2_deflate`]), which every HdrHistogram implementation reads, for
//! comparing runs later.

use std::fmt;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

/// The [`hdrhistogram`] crate this module records into, for reading a serialised histogram
/// back (`hdrhistogram::serialization::Deserializer`) with the same version.
pub use hdrhistogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};

use crate::feed::FeedCounters;
use crate::stream::TimeUnit;

/// Largest latency the histogram tells apart: one hour in microseconds. Larger values count as
/// this in the quantiles (and in a serialised histogram); [`Histogram::max`] stays exact.
pub const MAX_TRACKED_US: u64 = 3_600_000_000;

/// Significant decimal digits the histogram keeps.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// Latency histogram of `u64` values (microseconds here): an HdrHistogram of fixed size,
/// plus the exact minimum, maximum and mean.
#[derive(Clone)]
pub struct Histogram {
    hdr: hdrhistogram::Histogram<u64>,
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
            .field("count", &self.count())
            .field("min", &self.min())
            .field("max", &self.max())
            .finish()
    }
}

impl Histogram {
    /// An empty histogram (allocates its fixed bucket array once; auto-resize is off).
    pub fn new() -> Self {
        let hdr = hdrhistogram::Histogram::new_with_bounds(1, MAX_TRACKED_US, SIGNIFICANT_DIGITS)
            .expect("valid histogram bounds");
        Histogram {
            hdr,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Adds one value (above [`MAX_TRACKED_US`]: counted as that in the quantiles). Never
    /// allocates.
    pub fn record(&mut self, v: u64) {
        self.hdr.saturating_record(v);
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.hdr.len()
    }

    /// Smallest value (exact), 0 when empty.
    pub fn min(&self) -> u64 {
        if self.count() == 0 {
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
        if self.count() == 0 {
            0.0
        } else {
            self.sum as f64 / self.count() as f64
        }
    }

    /// The value at quantile `q` (0.0..=1.0): HdrHistogram's `value_at_quantile`, the highest
    /// value equivalent to the `ceil(q * count)`-th smallest one (within 0.1 %), kept within
    /// the exact minimum and maximum. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count() == 0 {
            return 0;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        self.hdr.value_at_quantile(q).clamp(self.min, self.max)
    }

    /// Forgets all values (keeps the allocation).
    pub fn clear(&mut self) {
        self.hdr.reset();
        self.sum = 0;
        self.min = u64::MAX;
        self.max = 0;
    }

    /// The underlying HdrHistogram, to merge, iterate or serialise it.
    pub fn hdr(&self) -> &hdrhistogram::Histogram<u64> {
        &self.hdr
    }

    /// Writes the histogram to `out` in HdrHistogram's V2 + DEFLATE serialisation ("V2
    /// compressed", as Java's `encodeIntoCompressedByteBuffer`); returns the bytes written.
    /// Read it back with `hdrhistogram::serialization::Deserializer` (or any HdrHistogram
    /// implementation) to compare runs. Allocates.
    pub fn write_v2_deflate<W: io::Write>(&self, out: &mut W) -> io::Result<usize> {
        V2DeflateSerializer::new()
            .serialize(&self.hdr, out)
            .map_err(io::Error::other)
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
    /// Market events recorded (for `binance_ticker`, the events it printed).
    pub events: u64,
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

    /// A displayable multi-line summary (for stderr at exit).
    pub fn summary<'s>(&'s self, feed: &'s FeedCounters) -> Summary<'s> {
        Summary { stats: self, feed }
    }
}

/// Summary of [`Stats`], e.g.
/// ```text
/// events 1200  messages 1203  bytes 540000  reconnects 1  malformed 2
/// latency us (event time -> receive, n=1200, ms timestamps): p50 812  p90 1020  p99 1500  p99.9 2100  max 3050
/// ```
#[derive(Debug)]
pub struct Summary<'s> {
    stats: &'s Stats,
    /// What the feed counted: messages, bytes, reconnects, skipped messages (one home for
    /// those counts; `Stats` keeps only what the feed cannot know).
    feed: &'s FeedCounters,
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, c) = (self.stats, self.feed);
        writeln!(
            f,
            "events {}  messages {}  bytes {}  reconnects {}  malformed {}",
            s.events, c.messages, c.bytes, c.reconnects, c.malformed
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
    fn fixed_size_three_digits_and_saturation() {
        let h = Histogram::new();
        let hdr = h.hdr();
        assert_eq!(hdr.sigfig(), SIGNIFICANT_DIGITS);
        assert!(hdr.high() >= MAX_TRACKED_US, "{}", hdr.high());
        // Sized once: ~190 KB of u64 counters.
        let bytes = hdr.distinct_values() * 8;
        assert!(bytes < 200_000, "{bytes}");
        // Values below 2048 are exact; larger ones within 0.1 %.
        let mut h = Histogram::new();
        for v in (0..5000u64).chain([65_537, 1_000_003, MAX_TRACKED_US - 1]) {
            h.clear();
            h.record(v);
            h.record(v); // two equal values: min and max do not clamp the quantile below
            h.record(u64::MAX); // max far above: the quantile is the histogram's own
            let q = h.quantile(0.5);
            if v < 2048 {
                assert_eq!(q, v);
            }
            assert!(q >= v && (q - v) as f64 <= v as f64 / 1000.0, "{v} {q}");
        }
        // Beyond the range: saturated in the quantiles (and never resized), exact in max.
        assert_eq!(h.hdr().distinct_values() * 8, bytes);
        assert_eq!(h.max(), u64::MAX);
        assert!(h.quantile(1.0) >= MAX_TRACKED_US && h.quantile(1.0) < MAX_TRACKED_US * 2);
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
        // 1000 is below 2048: exact (3 significant digits).
        assert_eq!(h.quantile(0.5), 1_000);
        assert_eq!(h.quantile(0.999), 1_000);
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
        s.record_event(Some(1_700_000_000_499), now); // 1 ms
        s.record_event(Some(1_700_000_000_498), now); // 2 ms
        s.record_event(None, now); // bookTicker: counted, no latency
        s.record_event(Some(1_700_000_000_501), now); // ahead of the clock
        assert_eq!(s.events, 4);
        // The feed's counts: 5 messages (one malformed), one reconnect.
        let feed = FeedCounters {
            events: 4,
            messages: 5,
            bytes: 1460,
            reconnects: 1,
            malformed: 1,
            ..FeedCounters::default()
        };
        assert_eq!(s.clock_ahead, 1);
        assert_eq!(s.latency_us.count(), 3);
        assert_eq!(s.latency_us.max(), 2_000);
        assert_eq!(
            s.summary(&feed).to_string(),
            "events 4  messages 5  bytes 1460  reconnects 1  malformed 1\n\
             latency us (event time -> receive, n=3, ms timestamps): p50 1000  p90 2000  p99 2000  p99.9 2000  max 2000  (clock ahead: 1)"
        );
        let mut s = Stats::new(TimeUnit::Microsecond);
        s.record_event(Some(now - 42), now);
        assert_eq!(s.latency_us.quantile(0.5), 42);
        assert!(s
            .summary(&feed)
            .to_string()
            .contains("n=1, us timestamps): p50 42"));
        let s = Stats::new(TimeUnit::Millisecond);
        let feed = FeedCounters::default();
        assert_eq!(
            s.summary(&feed).to_string(),
            "events 0  messages 0  bytes 0  reconnects 0  malformed 0\nlatency: no timestamped events"
        );
        assert!(unix_micros_now() > 1_600_000_000_000_000);
    }
}
