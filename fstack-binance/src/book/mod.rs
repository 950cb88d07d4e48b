//! Local order books kept exactly in sync with Binance spot: a REST depth snapshot plus the
//! diff depth stream, with gap detection and resync.
//!
//! ## The procedure
//! Binance's "How to manage a local order book correctly"
//! (<https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#how-to-manage-a-local-order-book-correctly>),
//! per symbol, as [`BookSync`] implements it:
//! 1. Open `<symbol>@depth` or `<symbol>@depth@100ms` and buffer its events; note the `U`
//!    (first update id) of the first one.
//! 2. Fetch `GET /api/v3/depth?symbol=SYMBOL&limit=L` ([`snapshot`]). If its `lastUpdateId`
//!    is strictly less than that `U`, fetch it again.
//! 3. Drop the buffered events with `u <= lastUpdateId`; the first one left must have
//!    `U <= lastUpdateId + 1 <= u` (otherwise the buffer misses updates: fetch again). The
//!    book's update id is `lastUpdateId`.
//! 4. Apply the buffered events, then every new one: an event with `u <` the book's id is
//!    ignored; one with `U >` the book's id + 1 is a **gap**: the book is discarded, a
//!    [`Resync`] is reported, and the procedure starts over from that event (other symbols
//!    are not affected). Otherwise each level's quantity is set (absolute, not a delta;
//!    `0` removes the level, and removing a level the book does not hold is normal), and the
//!    book's id becomes `u`.
//!
//! A lost WebSocket connection restarts every symbol's procedure: the book is not trusted
//! across it ([`Resync::Reconnect`]). The futures rule with `pu` does not apply to spot.
//!
//! At start each symbol's snapshot is requested at once, so that a symbol Binance does not
//! list (whose stream sends nothing at all) fails with the REST API's answer
//! (`{"code":-1121,"msg":"Invalid symbol."}`) instead of waiting forever. That first snapshot
//! is usually older than the first event and fetched again (one extra request per symbol).
//! After a reconnect the snapshot is requested once the new connection delivers an event.
//!
//! ## Exactness and memory
//! Prices and quantities are kept as the exchange wrote them (no float); levels are ordered by
//! an exact integer key ([`side::price_key`]). Each side keeps at most
//! [`SyncConfig::max_levels`] levels (5,000 by default, Binance's deepest snapshot): beyond
//! that the level farthest from the top is dropped. A side's storage is one ring of fixed-size
//! levels (80 bytes each), so a book takes at most `2 x max_levels x 80` bytes (800 KB by
//! default) plus the buffer of events waiting for a snapshot ([`SyncConfig::buffer_bytes`],
//! 4 MiB). Levels beyond the snapshot's depth that never change are not known to the local
//! book, as Binance's documentation notes: print fewer levels than the snapshot holds.
//!
//! Applying a diff allocates nothing unless a side grows beyond every size it had
//! (`tests/no_alloc.rs` counts it; the micro benchmark `book` times it).
//!
//! ## Layout
//! * [`side`]: one side of a book ([`Side`], [`side::price_key`]).
//! * [`OrderBook`]: both sides and the update id.
//! * [`BookSync`]: the procedure above for one symbol, without I/O; what it reports
//!   ([`Resync`], [`BookCounters`], [`SyncSink`]).
//! * [`snapshot`]: the REST request, its weight and its answer.
//! * [`BookConfig`], [`SyncConfig`]: what to connect to, how deep, how to buffer and retry.
//! * [`BookFeed`]: the books over F-Stack: a [`crate::feed::Feed`] of diff depth streams and
//!   a [`crate::rest::RestClient`] for the snapshots, books and notices to a [`BookHandler`].
//! * [`output`]: the `binance_ticker --book` lines ([`BookFormatter`]) and summary.

mod buffer;
mod config;
mod driver;
mod order_book;
pub mod output;
mod report;
pub mod side;
pub mod snapshot;
mod sync;

pub use config::{BookConfig, SyncConfig};
pub use driver::{BookError, BookFeed, BookHandler, BookNotice, BookUpdate};
pub use order_book::{Applied, OrderBook};
pub use output::BookFormatter;
pub use report::{
    BookCounters, DiffOutcome, Resync, SnapshotOutcome, SyncSink, Unmatched, MAX_EVENT_SPAN,
};
pub use side::{LevelError, Side};
pub use snapshot::Snapshot;
pub use sync::BookSync;
