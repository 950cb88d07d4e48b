//! [`BookSync`]: one symbol's book kept exactly in sync with Binance, following the spot
//! procedure "How to manage a local order book correctly" (see the [module docs](super)).
//!
//! A state machine without I/O: the caller feeds it diff depth events
//! ([`BookSync::on_diff`]) and snapshots ([`BookSync::on_snapshot`]), asks it when to request
//! a snapshot ([`BookSync::wants_snapshot`]), and hears about applied events and discarded
//! books through a [`SyncSink`]. Every method that schedules takes `now`.

use std::time::{Duration, Instant};

use crate::backoff::{Backoff, Jitter};
use crate::events::{DepthUpdate, Levels};

use super::buffer::DiffBuffer;
use super::config::SyncConfig;
use super::order_book::OrderBook;
use super::report::{
    BookCounters, DiffOutcome, Resync, SnapshotOutcome, SyncSink, Unmatched, MAX_EVENT_SPAN,
};
#[cfg(test)]
use super::side::LevelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Syncing,
    Live,
    Failed,
}

/// One symbol's book and its sync; see the [module docs](super).
#[derive(Debug)]
pub struct BookSync {
    symbol: String,
    config: SyncConfig,
    book: OrderBook,
    state: State,
    buffer: DiffBuffer,
    /// `U` of the first event buffered since the sync (re)started.
    first_u: Option<u64>,
    /// `book` holds a snapshot that is not live yet.
    loaded: bool,
    in_flight: bool,
    asked: bool,
    /// When to request a snapshot; `None`: at start, then when an event is buffered.
    request_at: Option<Instant>,
    live_since: Option<Instant>,
    /// Snapshots fetched again in a row without a calm live book in between: the first is
    /// fetched at once, later ones after the growing delay.
    retries: u32,
    backoff: Backoff,
    counters: BookCounters,
    /// When the snapshot in `book` was loaded (while `loaded`).
    loaded_at: Option<Instant>,
    /// Loaded snapshots in a row that did not match the stream.
    unmatched: u32,
    /// The last unmatched snapshot, until [`BookSync::take_unmatched`].
    pending_unmatched: Option<Unmatched>,
}

impl BookSync {
    /// A sync for `symbol` as Binance writes it in events (`BTCUSDT`). It wants a snapshot at
    /// once (which also tells early whether the symbol exists).
    pub fn new(symbol: &str, config: SyncConfig) -> BookSync {
        BookSync {
            symbol: symbol.to_owned(),
            config,
            book: OrderBook::new(config.max_levels),
            state: State::Syncing,
            buffer: DiffBuffer::new(config.buffer_bytes, config.buffer_events),
            first_u: None,
            loaded: false,
            in_flight: false,
            asked: false,
            request_at: None,
            live_since: None,
            retries: 0,
            backoff: Backoff::new(config.retry_initial, config.retry_max, Jitter::Decorrelated),
            counters: BookCounters::default(),
            loaded_at: None,
            unmatched: 0,
            pending_unmatched: None,
        }
    }

    /// The last snapshot dropped because it did not match the stream, once: the caller
    /// reports it after [`on_snapshot`](Self::on_snapshot) or [`on_diff`](Self::on_diff).
    /// A snapshot and a stream that never match (e.g. from different exchanges) make every
    /// snapshot unmatched; [`Unmatched::persistent`] tells when to say so.
    pub fn take_unmatched(&mut self) -> Option<Unmatched> {
        self.pending_unmatched.take()
    }

    /// The `limit` snapshots are requested with, so that the book knows whether a snapshot
    /// side holds every level or was cut short (see [`OrderBook::set_snapshot_limit`]).
    pub fn set_snapshot_limit(&mut self, limit: usize) {
        self.book.set_snapshot_limit(limit);
    }

    /// The symbol.
    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    /// The book: exact at its update id while [`is_live`](Self::is_live).
    pub fn book(&self) -> &OrderBook {
        &self.book
    }

    /// True while the book is in sync.
    pub fn is_live(&self) -> bool {
        self.state == State::Live
    }

    /// True once [`fail`](Self::fail) was called.
    pub fn is_failed(&self) -> bool {
        self.state == State::Failed
    }

    /// Counts so far.
    pub fn counters(&self) -> BookCounters {
        self.counters
    }

    /// True when a snapshot request should be sent now: the book is not live, no request is
    /// under way, no snapshot waits for events, and either nothing was asked yet, or an event
    /// is buffered, or a retry is due.
    pub fn wants_snapshot(&self, now: Instant) -> bool {
        self.state == State::Syncing
            && !self.in_flight
            && !self.loaded
            && match self.request_at {
                Some(t) => now >= t,
                None => !self.asked || self.first_u.is_some(),
            }
    }

    /// When the next snapshot request is due, if one is scheduled (otherwise one is made at
    /// start, or once an event is buffered).
    pub fn next_request(&self) -> Option<Instant> {
        self.request_at
    }

    /// A snapshot request was sent.
    pub fn snapshot_requested(&mut self) {
        self.in_flight = true;
        self.asked = true;
        self.request_at = None;
        self.counters.requests += 1;
    }

    /// The request failed (after the REST client's own retries); another is made after the
    /// growing delay, from the first failure on (the client has just retried at once and with
    /// its own backoff: asking again at once would only repeat that). Returns the delay.
    pub fn snapshot_failed(&mut self, now: Instant) -> Duration {
        self.in_flight = false;
        self.retries = self.retries.max(1);
        self.retry_later(now)
    }

    /// The symbol cannot be synced (e.g. Binance does not list it): the book is emptied and
    /// every later call does nothing.
    pub fn fail(&mut self) {
        self.state = State::Failed;
        self.in_flight = false;
        self.loaded = false;
        self.book.clear();
        self.buffer.clear();
    }

    /// The stream's connection was lost: the book is not trusted across it. A live book is
    /// discarded (the sink hears [`Resync::Reconnect`]); the next snapshot is requested once
    /// the new connection delivers an event. A request under way is kept: its snapshot is
    /// checked against the new events like any other.
    pub fn restart(&mut self, sink: &mut dyn SyncSink) {
        match self.state {
            State::Failed => return,
            State::Live => {
                self.counters.resyncs += 1;
                sink.resync(self.book.update_id(), &Resync::Reconnect);
            }
            State::Syncing => {}
        }
        self.state = State::Syncing;
        self.live_since = None;
        self.loaded = false;
        self.book.clear();
        self.buffer.clear();
        self.first_u = None;
        self.request_at = None;
    }

    /// A diff depth event of this symbol.
    pub fn on_diff(
        &mut self,
        now: Instant,
        diff: &DepthUpdate<'_>,
        sink: &mut dyn SyncSink,
    ) -> DiffOutcome {
        match self.state {
            State::Failed => DiffOutcome::Unused,
            State::Live => self.apply_live(
                now,
                (diff.first_update_id, diff.final_update_id),
                diff.event_time,
                (diff.bids, diff.asks),
                sink,
            ),
            State::Syncing => {
                self.counters.buffered += 1;
                if self.buffer.push(diff).is_err() {
                    // Full: start over from this event (a snapshot already loaded or on its
                    // way is checked against it).
                    self.counters.overflows += 1;
                    self.buffer.clear();
                    self.first_u = None;
                    let _ = self.buffer.push(diff);
                }
                self.first_u.get_or_insert(diff.first_update_id);
                let outcome = self.try_sync(now, sink);
                if outcome == SnapshotOutcome::Waiting
                    && self.loaded
                    && self
                        .loaded_at
                        .is_some_and(|t| now.duration_since(t) >= self.config.match_timeout)
                {
                    // Events keep coming and all are older than the snapshot: the stream
                    // does not reach it.
                    self.mismatch(true);
                    self.unload(now);
                }
                if self.state == State::Live {
                    DiffOutcome::Applied
                } else {
                    DiffOutcome::Buffered
                }
            }
        }
    }

    /// A snapshot of this symbol (`GET /api/v3/depth`): `lastUpdateId` and its levels.
    pub fn on_snapshot(
        &mut self,
        now: Instant,
        last_update_id: u64,
        bids: Levels<'_>,
        asks: Levels<'_>,
        sink: &mut dyn SyncSink,
    ) -> SnapshotOutcome {
        self.in_flight = false;
        if self.state != State::Syncing || self.loaded {
            return SnapshotOutcome::Unused;
        }
        self.counters.snapshots += 1;
        let slack = self.config.slack;
        if let Err(e) = self.book.load_snapshot(last_update_id, bids, asks, slack) {
            self.retry_later(now);
            return SnapshotOutcome::Invalid(e);
        }
        self.loaded = true;
        self.loaded_at = Some(now);
        self.try_sync(now, sink)
    }

    /// Notes a loaded snapshot that does not match the stream (before it is unloaded).
    fn mismatch(&mut self, ahead: bool) {
        self.unmatched = self.unmatched.saturating_add(1);
        let every = self.config.mismatch_after.max(1);
        self.pending_unmatched = Some(Unmatched {
            last_update_id: self.book.update_id(),
            first_event: self.first_u.unwrap_or(0),
            ahead,
            in_a_row: self.unmatched,
            persistent: self.unmatched.is_multiple_of(every),
        });
    }

    /// Checks the loaded snapshot against the buffered events and goes live when they follow
    /// it (Binance's steps 4 to 7).
    fn try_sync(&mut self, now: Instant, sink: &mut dyn SyncSink) -> SnapshotOutcome {
        let Some(first_u) = self.first_u.filter(|_| self.loaded) else {
            return SnapshotOutcome::Waiting;
        };
        let id = self.book.update_id();
        if id < first_u {
            // Older than the first buffered event: fetch again.
            self.counters.stale_snapshots += 1;
            self.mismatch(false);
            self.unload(now);
            return SnapshotOutcome::Stale;
        }
        while self.buffer.front().is_some_and(|e| e.last <= id) {
            self.buffer.pop();
            self.counters.dropped += 1;
        }
        let Some(front) = self.buffer.front() else {
            return SnapshotOutcome::Waiting;
        };
        if front.first > id.saturating_add(1) {
            // The buffered events skip updates after the snapshot.
            self.counters.gaps += 1;
            let first = front.first;
            self.mismatch(false);
            self.first_u = Some(first);
            self.unload(now);
            return SnapshotOutcome::Stale;
        }
        // The first event has U <= lastUpdateId + 1 <= u: the book is live.
        self.loaded = false;
        self.unmatched = 0;
        self.state = State::Live;
        self.live_since = Some(now);
        self.counters.syncs += 1;
        while let Some(e) = self.buffer.front().cloned() {
            let outcome = {
                let (bids, asks) = self.buffer.levels(&e);
                apply_checked(
                    &mut self.book,
                    &mut self.counters,
                    (e.first, e.last),
                    e.event_time,
                    (bids, asks),
                    sink,
                )
            };
            match outcome {
                Ok(_) => self.buffer.pop(),
                Err(reason) => {
                    // The gap event and those after it stay buffered for the next sync.
                    let keep = matches!(reason, Resync::Gap { .. });
                    self.discard(now, &reason, keep, sink);
                    return SnapshotOutcome::Stale;
                }
            }
        }
        self.first_u = None;
        SnapshotOutcome::Synced
    }

    /// Binance's update procedure for one event on the live book.
    fn apply_live(
        &mut self,
        now: Instant,
        ids: (u64, u64),
        event_time: u64,
        levels: (Levels<'_>, Levels<'_>),
        sink: &mut dyn SyncSink,
    ) -> DiffOutcome {
        match apply_checked(
            &mut self.book,
            &mut self.counters,
            ids,
            event_time,
            levels,
            sink,
        ) {
            Ok(true) => DiffOutcome::Applied,
            Ok(false) => DiffOutcome::Ignored,
            Err(reason) => {
                let gap = matches!(reason, Resync::Gap { .. });
                self.discard(now, &reason, false, sink);
                if gap {
                    // This event is the first of the new sync.
                    self.counters.buffered += 1;
                    let (bids, asks) = levels;
                    let copy = DepthUpdate {
                        event_time,
                        symbol: "",
                        first_update_id: ids.0,
                        final_update_id: ids.1,
                        bids,
                        asks,
                    };
                    let _ = self.buffer.push(&copy);
                    self.first_u = Some(ids.0);
                }
                DiffOutcome::Resync
            }
        }
    }

    /// Discards the live book for `reason` and schedules the next snapshot: at once when
    /// the book had been live for [`SyncConfig::calm_after`] (or when nothing failed since),
    /// after the growing delay when it keeps breaking.
    fn discard(
        &mut self,
        now: Instant,
        reason: &Resync,
        keep_buffer: bool,
        sink: &mut dyn SyncSink,
    ) {
        self.counters.resyncs += 1;
        sink.resync(self.book.update_id(), reason);
        let calm = self
            .live_since
            .is_some_and(|t| now.duration_since(t) >= self.config.calm_after);
        self.state = State::Syncing;
        self.live_since = None;
        self.loaded = false;
        self.book.clear();
        if !keep_buffer {
            self.buffer.clear();
            self.first_u = None;
        } else {
            self.first_u = self.buffer.front().map(|e| e.first);
        }
        if calm {
            self.retries = 0;
            self.backoff.reset();
        }
        self.retry_later(now);
    }

    /// Drops a loaded snapshot that cannot be used and schedules another.
    fn unload(&mut self, now: Instant) {
        self.loaded = false;
        self.book.clear();
        self.retry_later(now);
    }

    /// Schedules the next request: at once the first time since the book was last calm,
    /// then after the growing delay.
    fn retry_later(&mut self, now: Instant) -> Duration {
        let delay = if self.retries == 0 {
            Duration::ZERO
        } else {
            self.backoff.next_delay()
        };
        self.retries = self.retries.saturating_add(1);
        self.request_at = Some(now + delay);
        delay
    }
}

/// Binance's update procedure for one event: `u <` the book's id is ignored (`Ok(false)`),
/// `U >` id + 1 is a gap, anything else is applied (`Ok(true)`, the sink hears it).
fn apply_checked(
    book: &mut OrderBook,
    counters: &mut BookCounters,
    (first, last): (u64, u64),
    event_time: u64,
    (bids, asks): (Levels<'_>, Levels<'_>),
    sink: &mut dyn SyncSink,
) -> Result<bool, Resync> {
    let id = book.update_id();
    if first > last {
        return Err(Resync::BadRange { first, last });
    }
    if last - first > MAX_EVENT_SPAN {
        return Err(Resync::TooWide { first, last });
    }
    if last < id {
        counters.ignored += 1;
        return Ok(false);
    }
    if first > id.saturating_add(1) {
        counters.gaps += 1;
        return Err(Resync::Gap {
            book_id: id,
            first,
            last,
        });
    }
    book.apply(last, bids, asks).map_err(Resync::BadLevel)?;
    counters.applied += 1;
    sink.applied(book, event_time);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Record {
        /// (update id, event time, best bid price, bids, asks)
        books: Vec<(u64, u64, String, usize, usize)>,
        resyncs: Vec<(u64, Resync)>,
    }

    impl SyncSink for Record {
        fn applied(&mut self, book: &OrderBook, event_time: u64) {
            let best = book
                .best_bid()
                .map_or(String::new(), |l| l.price.to_string());
            let (b, a) = (book.bids().len(), book.asks().len());
            self.books.push((book.update_id(), event_time, best, b, a));
        }
        fn resync(&mut self, book_id: u64, reason: &Resync) {
            self.resyncs.push((book_id, *reason));
        }
    }

    fn diff<'a>(first: u64, last: u64, bids: &'a str, asks: &'a str) -> DepthUpdate<'a> {
        DepthUpdate {
            event_time: last.wrapping_mul(10),
            symbol: "BTCUSDT",
            first_update_id: first,
            final_update_id: last,
            bids: Levels::parse(bids).unwrap(),
            asks: Levels::parse(asks).unwrap(),
        }
    }

    fn lv(s: &str) -> Levels<'_> {
        Levels::parse(s).unwrap()
    }

    const SNAP_BIDS: &str = r#"[["10","1"],["9","1"]]"#;
    const SNAP_ASKS: &str = r#"[["11","1"]]"#;

    fn sync() -> (BookSync, Record, Instant) {
        let config = SyncConfig {
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(1),
            ..SyncConfig::default()
        };
        (
            BookSync::new("BTCUSDT", config),
            Record::default(),
            Instant::now(),
        )
    }

    fn snapshot(s: &mut BookSync, now: Instant, id: u64, r: &mut Record) -> SnapshotOutcome {
        assert!(s.wants_snapshot(now), "a snapshot is wanted");
        s.snapshot_requested();
        assert!(!s.wants_snapshot(now), "one request at a time");
        s.on_snapshot(now, id, lv(SNAP_BIDS), lv(SNAP_ASKS), r)
    }

    #[test]
    fn snapshot_before_the_first_event() {
        let (mut s, mut r, now) = sync();
        assert_eq!(snapshot(&mut s, now, 100, &mut r), SnapshotOutcome::Waiting);
        assert!(!s.is_live() && !s.wants_snapshot(now));
        // U <= lastUpdateId + 1 <= u: applied, live.
        let d = diff(100, 102, r#"[["10.5","2"]]"#, "[]");
        assert_eq!(s.on_diff(now, &d, &mut r), DiffOutcome::Applied);
        assert!(s.is_live());
        let d = diff(103, 103, r#"[["10.5","0"]]"#, "[]");
        assert_eq!(s.on_diff(now, &d, &mut r), DiffOutcome::Applied);
        // u below the book's id: ignored; u equal to it: applied again (same absolute values).
        let d = diff(101, 102, r#"[["1","1"]]"#, "[]");
        assert_eq!(s.on_diff(now, &d, &mut r), DiffOutcome::Ignored);
        let d = diff(103, 103, r#"[["10.5","0"]]"#, "[]");
        assert_eq!(s.on_diff(now, &d, &mut r), DiffOutcome::Applied);
        let best: Vec<(u64, &str)> = r.books.iter().map(|b| (b.0, b.2.as_str())).collect();
        assert_eq!(best, [(102, "10.5"), (103, "10"), (103, "10")]);
        assert_eq!(r.books[0].1, 1020, "the event's E");
        let c = s.counters();
        assert_eq!((c.applied, c.ignored, c.syncs, c.requests), (3, 1, 1, 1));
    }

    #[test]
    fn buffered_events_older_than_the_snapshot_are_dropped() {
        let (mut s, mut r, now) = sync();
        s.snapshot_requested();
        for (u0, u1) in [(95, 98), (99, 101), (102, 105)] {
            let d = diff(u0, u1, r#"[["10","2"]]"#, "[]");
            assert_eq!(s.on_diff(now, &d, &mut r), DiffOutcome::Buffered);
        }
        let out = s.on_snapshot(now, 100, lv(SNAP_BIDS), lv(SNAP_ASKS), &mut r);
        assert_eq!(out, SnapshotOutcome::Synced);
        let ids: Vec<u64> = r.books.iter().map(|b| b.0).collect();
        assert_eq!(ids, [101, 105]);
        let c = s.counters();
        assert_eq!((c.dropped, c.applied, c.buffered), (1, 2, 3));
    }

    #[test]
    fn a_snapshot_older_than_the_first_event_is_fetched_again() {
        let (mut s, mut r, now) = sync();
        s.snapshot_requested();
        s.on_diff(now, &diff(101, 102, "[]", "[]"), &mut r);
        // lastUpdateId < U (even by one: Binance's rule is "strictly less than U").
        let out = s.on_snapshot(now, 100, lv(SNAP_BIDS), lv(SNAP_ASKS), &mut r);
        assert_eq!(out, SnapshotOutcome::Stale);
        assert_eq!(s.book().bids().len(), 0);
        // Fetched again at once the first time, after a delay the second time.
        assert_eq!(snapshot(&mut s, now, 99, &mut r), SnapshotOutcome::Stale);
        assert!(!s.wants_snapshot(now), "not before the retry delay");
        let later = now + Duration::from_secs(1);
        assert_eq!(
            snapshot(&mut s, later, 101, &mut r),
            SnapshotOutcome::Synced
        );
        assert_eq!(r.books.iter().map(|b| b.0).collect::<Vec<_>>(), [102]);
        let c = s.counters();
        assert_eq!((c.stale_snapshots, c.snapshots, c.requests), (2, 3, 3));
    }

    /// A failed request (the REST client has given up) is asked again after the delay, the
    /// first time too, and the delay grows.
    #[test]
    fn a_failed_request_waits_before_the_next() {
        let (mut s, _r, now) = sync();
        assert!(s.wants_snapshot(now));
        s.snapshot_requested();
        let first = s.snapshot_failed(now);
        assert!(first >= Duration::from_millis(100), "{first:?}");
        assert!(!s.wants_snapshot(now));
        assert_eq!(s.next_request(), Some(now + first));
        let t = now + first;
        assert!(s.wants_snapshot(t));
        s.snapshot_requested();
        let second = s.snapshot_failed(t);
        assert!(second >= Duration::from_millis(100), "{second:?}");
        assert_eq!(s.counters().requests, 2);
    }

    /// An event that claims to cover 2^64 update ids (`u = u64::MAX`) would move the book so
    /// far ahead that every real event after it is ignored: it discards the book instead, and
    /// the next events sync again.
    #[test]
    fn an_absurd_update_id_does_not_freeze_the_book() {
        let (mut s, mut r, now) = sync();
        snapshot(&mut s, now, 100, &mut r);
        s.on_diff(now, &diff(100, 101, "[]", "[]"), &mut r);
        assert!(s.is_live());
        let out = s.on_diff(now, &diff(102, u64::MAX, r#"[["10","0"]]"#, "[]"), &mut r);
        assert_eq!(out, DiffOutcome::Resync);
        assert_eq!(
            r.resyncs,
            [(
                101,
                Resync::TooWide {
                    first: 102,
                    last: u64::MAX
                }
            )]
        );
        assert_eq!(
            r.resyncs[0].1.to_string(),
            "event 102..18446744073709551615 covers more than 16777216 update ids"
        );
        // Within the bound: applied.
        let later = now + Duration::from_secs(1);
        s.on_diff(later, &diff(102, 103, "[]", "[]"), &mut r);
        assert_eq!(
            snapshot(&mut s, later, 102, &mut r),
            SnapshotOutcome::Synced
        );
        let wide = 104 + MAX_EVENT_SPAN;
        assert_eq!(
            s.on_diff(later, &diff(104, wide, "[]", "[]"), &mut r),
            DiffOutcome::Applied
        );
        assert_eq!(s.book().update_id(), wide);
    }

    /// A snapshot always behind the stream (another exchange's): every 5th in a row is
    /// reported as persistent, the requests keep coming with the growing delay, and a match
    /// starts the count over.
    #[test]
    fn snapshots_that_never_match_are_reported() {
        let (mut s, mut r, now) = sync();
        s.on_diff(now, &diff(5001, 5002, "[]", "[]"), &mut r);
        let mut t = now;
        let mut seen = Vec::new();
        for _ in 0..10 {
            t = s.next_request().unwrap_or(t);
            assert_eq!(snapshot(&mut s, t, 100, &mut r), SnapshotOutcome::Stale);
            let u = s.take_unmatched().unwrap();
            assert_eq!(
                (u.last_update_id, u.first_event, u.ahead),
                (100, 5001, false)
            );
            seen.push((u.in_a_row, u.persistent));
            assert_eq!(s.take_unmatched(), None, "reported once");
        }
        assert_eq!(
            seen,
            (1..=10u32)
                .map(|n| (n, n.is_multiple_of(5)))
                .collect::<Vec<_>>()
        );
        assert!(s.next_request().unwrap() > t, "backoff applies");
        t = s.next_request().unwrap();
        assert_eq!(snapshot(&mut s, t, 5001, &mut r), SnapshotOutcome::Synced);
        assert_eq!(s.take_unmatched(), None);
        assert_eq!(s.counters().stale_snapshots, 10);
    }

    /// A snapshot ahead of every event (the stream never reaches it) is dropped after
    /// `match_timeout` of events that are all older, and another is fetched.
    #[test]
    fn a_snapshot_the_stream_never_reaches_is_dropped() {
        let (mut s, mut r, now) = sync();
        s.snapshot_requested();
        s.on_diff(now, &diff(101, 102, "[]", "[]"), &mut r);
        assert_eq!(
            s.on_snapshot(now, 1_000_000, lv(SNAP_BIDS), lv(SNAP_ASKS), &mut r),
            SnapshotOutcome::Waiting
        );
        let mut id = 103;
        for secs in 1..10 {
            let t = now + Duration::from_secs(secs);
            assert_eq!(
                s.on_diff(t, &diff(id, id, "[]", "[]"), &mut r),
                DiffOutcome::Buffered
            );
            id += 1;
            assert!(!s.wants_snapshot(t) && s.take_unmatched().is_none());
        }
        let t = now + Duration::from_secs(10);
        s.on_diff(t, &diff(id, id, "[]", "[]"), &mut r);
        let u = s.take_unmatched().unwrap();
        assert_eq!(
            (
                u.last_update_id,
                u.first_event,
                u.ahead,
                u.in_a_row,
                u.persistent
            ),
            (1_000_000, 101, true, 1, false)
        );
        assert!(s.wants_snapshot(t), "another snapshot at once");
        assert_eq!(s.book().bids().len(), 0);
    }

    #[test]
    fn buffered_events_that_skip_updates_are_not_applied() {
        let (mut s, mut r, now) = sync();
        s.snapshot_requested();
        s.on_diff(now, &diff(101, 102, "[]", "[]"), &mut r);
        s.on_diff(now, &diff(105, 106, "[]", "[]"), &mut r);
        let out = s.on_snapshot(now, 102, lv(SNAP_BIDS), lv(SNAP_ASKS), &mut r);
        assert_eq!(out, SnapshotOutcome::Stale);
        assert_eq!(s.counters().gaps, 1);
        // Now the first buffered event is 105..106: 104 is older than it.
        assert_eq!(snapshot(&mut s, now, 104, &mut r), SnapshotOutcome::Stale);
        let later = now + Duration::from_secs(1);
        assert_eq!(
            snapshot(&mut s, later, 106, &mut r),
            SnapshotOutcome::Waiting
        );
        s.on_diff(later, &diff(107, 107, "[]", "[]"), &mut r);
        assert!(s.is_live() && r.resyncs.is_empty());
    }

    #[test]
    fn a_gap_discards_the_live_book_and_starts_over_from_that_event() {
        let (mut s, mut r, now) = sync();
        snapshot(&mut s, now, 100, &mut r);
        s.on_diff(now, &diff(100, 101, "[]", "[]"), &mut r);
        // Live for a minute, then U = 104 after 101: updates 102-103 are missing.
        let t = now + Duration::from_secs(60);
        let out = s.on_diff(t, &diff(104, 105, r#"[["10","3"]]"#, "[]"), &mut r);
        assert_eq!(out, DiffOutcome::Resync);
        let gap = Resync::Gap {
            book_id: 101,
            first: 104,
            last: 105,
        };
        assert_eq!(r.resyncs, [(101, gap)]);
        assert_eq!(
            gap.to_string(),
            "event 104..105 does not follow update 101 (missed 2 update ids)"
        );
        assert!(!s.is_live() && s.book().bids().is_empty());
        // A book that had been calm asks again at once; the gap event is the first buffered.
        assert_eq!(snapshot(&mut s, t, 104, &mut r), SnapshotOutcome::Synced);
        assert_eq!(r.books.last().unwrap().0, 105);
        let c = s.counters();
        assert_eq!((c.gaps, c.resyncs, c.syncs), (1, 1, 2));
        // Broken again right away: the next request waits.
        let out = s.on_diff(t, &diff(200, 200, "[]", "[]"), &mut r);
        assert_eq!(out, DiffOutcome::Resync);
        assert!(!s.wants_snapshot(t));
        assert!(s.wants_snapshot(t + Duration::from_secs(1)));
    }

    #[test]
    fn a_reconnect_restarts_the_sync() {
        let (mut s, mut r, now) = sync();
        snapshot(&mut s, now, 100, &mut r);
        s.on_diff(now, &diff(100, 101, "[]", "[]"), &mut r);
        s.restart(&mut r);
        assert_eq!(r.resyncs, [(101, Resync::Reconnect)]);
        assert!(
            !s.wants_snapshot(now),
            "waits for the new connection's first event"
        );
        s.on_diff(now, &diff(150, 151, "[]", "[]"), &mut r);
        assert!(s.wants_snapshot(now));
        // Restarting while syncing reports nothing.
        s.restart(&mut r);
        assert_eq!(r.resyncs.len(), 1);
    }

    #[test]
    fn hostile_events_discard_the_book_without_panicking() {
        let (mut s, mut r, now) = sync();
        snapshot(&mut s, now, 100, &mut r);
        s.on_diff(now, &diff(100, 101, "[]", "[]"), &mut r);
        let out = s.on_diff(now, &diff(103, 102, "[]", "[]"), &mut r);
        assert_eq!(out, DiffOutcome::Resync);
        assert_eq!(r.resyncs[0].1.code(), "invalid_event");
        let far = now + Duration::from_secs(5);
        snapshot(&mut s, far, 200, &mut r);
        s.on_diff(far, &diff(200, 200, "[]", "[]"), &mut r);
        let long = format!(r#"[["10","1.{}"]]"#, "0".repeat(40));
        s.on_diff(far, &diff(201, 201, &long, "[]"), &mut r);
        assert_eq!(r.resyncs[1].1, Resync::BadLevel(LevelError::TooLong));
        // Extreme ids: no overflow.
        let far = far + Duration::from_secs(5);
        snapshot(&mut s, far, u64::MAX - 1, &mut r);
        s.on_diff(far, &diff(u64::MAX - 1, u64::MAX, "[]", "[]"), &mut r);
        assert!(s.is_live());
        let out = s.on_diff(far, &diff(0, u64::MAX, "[]", "[]"), &mut r);
        assert_eq!(out, DiffOutcome::Resync);
        assert_eq!(
            r.resyncs[2].1,
            Resync::TooWide {
                first: 0,
                last: u64::MAX
            }
        );
        // A snapshot that cannot be kept is fetched again.
        s.restart(&mut r);
        s.on_diff(far, &diff(1, 1, "[]", "[]"), &mut r);
        s.snapshot_requested();
        let bad = format!(r#"[["1{}","1"]]"#, "0".repeat(25));
        let out = s.on_snapshot(far, 5, lv(&bad), lv("[]"), &mut r);
        assert_eq!(out, SnapshotOutcome::Invalid(LevelError::OutOfRange));
        assert!(s.wants_snapshot(far + Duration::from_secs(1)));
    }

    #[test]
    fn a_full_buffer_starts_over() {
        let config = SyncConfig {
            buffer_events: 2,
            ..SyncConfig::default()
        };
        let (mut s, mut r, now) = (
            BookSync::new("X", config),
            Record::default(),
            Instant::now(),
        );
        s.snapshot_requested();
        for u in 1..=3 {
            s.on_diff(now, &diff(u, u, "[]", "[]"), &mut r);
        }
        assert_eq!(s.counters().overflows, 1);
        // Started over at event 3: a snapshot at 2 is older than it.
        let out = s.on_snapshot(now, 2, lv("[]"), lv("[]"), &mut r);
        assert_eq!(out, SnapshotOutcome::Stale);
    }

    #[test]
    fn a_failed_symbol_ignores_everything() {
        let (mut s, mut r, now) = sync();
        s.snapshot_requested();
        s.fail();
        assert!(s.is_failed() && !s.wants_snapshot(now));
        let d = diff(1, 2, "[]", "[]");
        assert_eq!(s.on_diff(now, &d, &mut r), DiffOutcome::Unused);
        let out = s.on_snapshot(now, 5, lv("[]"), lv("[]"), &mut r);
        assert_eq!(out, SnapshotOutcome::Unused);
        s.restart(&mut r);
        assert!(r.books.is_empty() && r.resyncs.is_empty());
    }
}
