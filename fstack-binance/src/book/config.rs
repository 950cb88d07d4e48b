//! How local order books are kept: [`BookConfig`] for a [`BookFeed`](super::BookFeed)
//! (streams, REST API, snapshot depth) and [`SyncConfig`] for each symbol's
//! [`BookSync`](super::BookSync) (levels kept, buffering, retries).

use std::time::Duration;

use crate::feed::FeedConfig;
use crate::rest::RestConfig;

/// What a [`BookFeed`](super::BookFeed) connects to and how it keeps its books.
#[derive(Debug, Clone)]
pub struct BookConfig {
    /// The streams: one diff depth stream per symbol (`<symbol>@depth@100ms` or
    /// `<symbol>@depth`), and how to connect.
    pub feed: FeedConfig,
    /// Where the REST API is and how to use it.
    pub rest: RestConfig,
    /// `limit` of every snapshot, 1 to 5000: levels per side (request weight: see
    /// [`request_weight`](super::snapshot::request_weight)).
    pub snapshot_limit: u32,
    /// Buffering, retries and levels kept per side.
    pub sync: SyncConfig,
}

impl BookConfig {
    /// Snapshots of 1,000 levels per side (request weight 50) and [`SyncConfig::default`].
    pub fn new(feed: FeedConfig, rest: RestConfig) -> BookConfig {
        BookConfig {
            feed,
            rest,
            snapshot_limit: 1000,
            sync: SyncConfig::default(),
        }
    }
}

/// How a [`BookSync`](super::BookSync) buffers and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConfig {
    /// Levels kept per side (see [`super::Side`]).
    pub max_levels: usize,
    /// Room reserved beyond a snapshot's size per side, so that the book does not allocate
    /// while it stays within that many levels more than the snapshot had.
    pub slack: usize,
    /// Bytes of buffered level text while waiting for a snapshot.
    pub buffer_bytes: usize,
    /// Events buffered while waiting for a snapshot.
    pub buffer_events: usize,
    /// The delay before fetching a snapshot again after a second failure in a row (stale
    /// snapshot, failed request, or resync of a book that was live for less than
    /// [`SyncConfig::calm_after`]); the first is fetched again at once. Grows with jitter.
    pub retry_initial: Duration,
    /// Longest such delay.
    pub retry_max: Duration,
    /// A book that stayed live this long resyncs at once after a gap; one discarded sooner
    /// waits for the growing delay (a symbol that keeps breaking cannot flood the REST API).
    pub calm_after: Duration,
    /// Snapshots in a row that do not match the stream before the sync reports it
    /// ([`BookSync::take_unmatched`](super::BookSync::take_unmatched)); it keeps trying with
    /// the growing delay.
    pub mismatch_after: u32,
    /// How long a loaded snapshot waits for the stream's events to reach it while events
    /// arrive (all of them older); then it is dropped as not matching.
    pub match_timeout: Duration,
}

impl Default for SyncConfig {
    /// 5,000 levels per side (Binance's largest snapshot), 256 levels of slack, 4 MiB or 65,536
    /// buffered events, retries from 250 ms to 30 s, calm after 30 s, a mismatch reported
    /// after 5 snapshots, a snapshot ahead of the stream dropped after 10 s.
    fn default() -> Self {
        SyncConfig {
            max_levels: 5000,
            slack: 256,
            buffer_bytes: 4 << 20,
            buffer_events: 1 << 16,
            retry_initial: Duration::from_millis(250),
            retry_max: Duration::from_secs(30),
            calm_after: Duration::from_secs(30),
            mismatch_after: 5,
            match_timeout: Duration::from_secs(10),
        }
    }
}
