//! What a [`BookSync`](super::BookSync) reports: what it did with each event and snapshot,
//! why it discarded a live book, its counters, and the [`SyncSink`] that hears about applied
//! events and discarded books.

use std::fmt;

use super::order_book::OrderBook;
use super::side::LevelError;

/// A loaded snapshot that did not match the stream's events and was dropped (another is
/// fetched); see [`BookSync::take_unmatched`](super::BookSync::take_unmatched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unmatched {
    /// The snapshot's `lastUpdateId`.
    pub last_update_id: u64,
    /// `U` of the first buffered event.
    pub first_event: u64,
    /// The snapshot was ahead of the stream: every event for
    /// [`SyncConfig::match_timeout`](super::SyncConfig::match_timeout) was older than it.
    /// Otherwise it was older than the first buffered event (or the events skip updates after
    /// it).
    pub ahead: bool,
    /// Snapshots in a row, this one included, that did not match.
    pub in_a_row: u32,
    /// True when `in_a_row` reached a multiple of
    /// [`SyncConfig::mismatch_after`](super::SyncConfig::mismatch_after): the snapshots and
    /// the stream may come from different exchanges.
    pub persistent: bool,
}

/// Most update ids one diff event may cover (`u - U`): 2^24 (16,777,216), far beyond what
/// Binance's busiest symbol changes in a second.
pub const MAX_EVENT_SPAN: u64 = 1 << 24;

/// Why a live book was discarded (each one starts the sync over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resync {
    /// An event's `U` is beyond the book's id + 1: updates in between were missed.
    Gap {
        /// The book's update id.
        book_id: u64,
        /// The event's `U`.
        first: u64,
        /// The event's `u`.
        last: u64,
    },
    /// The WebSocket connection was lost: the stream may have missed events.
    Reconnect,
    /// An event with `U` greater than `u`.
    BadRange {
        /// `U`
        first: u64,
        /// `u`
        last: u64,
    },
    /// An event that covers more than [`MAX_EVENT_SPAN`] update ids (`u - U`): no real event
    /// does, and applying it would move the book's id so far ahead that every later event
    /// would be ignored (a frozen book).
    TooWide {
        /// `U`
        first: u64,
        /// `u`
        last: u64,
    },
    /// A level the book cannot keep (see [`LevelError`]); the book was partly updated.
    BadLevel(LevelError),
}

impl Resync {
    /// A short code: `gap`, `reconnect`, `invalid_event` or `invalid_level`.
    pub fn code(&self) -> &'static str {
        match self {
            Resync::Gap { .. } => "gap",
            Resync::Reconnect => "reconnect",
            Resync::BadRange { .. } | Resync::TooWide { .. } => "invalid_event",
            Resync::BadLevel(_) => "invalid_level",
        }
    }
}

impl fmt::Display for Resync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resync::Gap {
                book_id,
                first,
                last,
            } => write!(
                f,
                "event {first}..{last} does not follow update {book_id} (missed {} update ids)",
                first - book_id - 1
            ),
            Resync::Reconnect => f.write_str("the stream's connection was lost"),
            Resync::BadRange { first, last } => write!(f, "event with U {first} > u {last}"),
            Resync::TooWide { first, last } => write!(
                f,
                "event {first}..{last} covers more than {MAX_EVENT_SPAN} update ids"
            ),
            Resync::BadLevel(e) => write!(f, "{e}"),
        }
    }
}

/// Receives what a [`BookSync`](super::BookSync) does with the events it is given.
pub trait SyncSink {
    /// An event was applied; `book` is exact at `book.update_id()` (the event's `u`).
    /// `event_time` is the event's `E`.
    fn applied(&mut self, book: &OrderBook, event_time: u64);
    /// A live book at `book_id` was discarded; the sync starts over.
    fn resync(&mut self, book_id: u64, reason: &Resync);
}

/// Counts over a [`BookSync`](super::BookSync)'s lifetime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookCounters {
    /// Events applied to a live book (each gives one book to the sink).
    pub applied: u64,
    /// Events buffered while waiting for a snapshot.
    pub buffered: u64,
    /// Buffered events older than the snapshot (`u <= lastUpdateId`), dropped.
    pub dropped: u64,
    /// Events older than the live book (`u <` its id), ignored.
    pub ignored: u64,
    /// Snapshot requests made ([`BookSync::snapshot_requested`](super::BookSync::snapshot_requested)).
    pub requests: u64,
    /// Snapshots received.
    pub snapshots: u64,
    /// Snapshots older than the first buffered event (`lastUpdateId < U`), fetched again.
    pub stale_snapshots: u64,
    /// Times the book became live.
    pub syncs: u64,
    /// Gaps: a live event's `U` beyond the book's id + 1, or buffered events that do not
    /// reach the snapshot.
    pub gaps: u64,
    /// Live books discarded (gaps, reconnects, invalid events).
    pub resyncs: u64,
    /// Times the buffer filled up while waiting for a snapshot and was started over.
    pub overflows: u64,
}

/// What [`BookSync::on_diff`](super::BookSync::on_diff) did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffOutcome {
    /// Applied to the live book.
    Applied,
    /// Older than the live book (`u <` its id): ignored.
    Ignored,
    /// Kept until a snapshot arrives (or applied with the buffer, when it completed a sync).
    Buffered,
    /// The live book was discarded (the sink heard why).
    Resync,
    /// The symbol failed: nothing is done any more.
    Unused,
}

/// What [`BookSync::on_snapshot`](super::BookSync::on_snapshot) did with a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotOutcome {
    /// The book is live (the buffered events that follow the snapshot were applied).
    Synced,
    /// Loaded; no buffered event follows it yet.
    Waiting,
    /// Older than the first buffered event, or the buffered events do not reach it: another
    /// one is fetched.
    Stale,
    /// A level of the snapshot cannot be kept: another one is fetched.
    Invalid(LevelError),
    /// Not needed (the book is live, or the symbol failed).
    Unused,
}
