//! [`BookFeed`]: local order books over F-Stack, one [`BookSync`] per symbol fed by a
//! [`Feed`] of diff depth streams and a [`RestClient`] for the snapshots.

use std::fmt;
use std::ops::Range;
use std::time::{Duration, Instant};

use fstack::{Events, Poll};
use fstack_tls::TlsConnector;

use super::config::BookConfig;
use super::report::{Resync, SnapshotOutcome, SyncSink, Unmatched};
use super::snapshot::{depth_target, request_weight, ApiError, Snapshot, MAX_LIMIT};
use super::{BookSync, OrderBook};
use crate::events::{MarketEvent, StreamEvent};
use crate::feed::{Feed, FeedCounters, FeedError, FeedHandler, Notice};
use crate::rest::{RestClient, RestCounters, RestError, RestEvent};
use crate::stream::{same_symbol, Stream, StreamKind};

/// Why a [`BookFeed`] could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    /// The configuration cannot work.
    #[error("{0}")]
    Config(String),
    /// The stream side failed for good.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// The REST side failed for good (e.g. its certificate was rejected).
    #[error("REST API: {0}")]
    Rest(#[from] RestError),
    /// Every symbol failed: nothing is left to do.
    #[error("no book left: every symbol failed")]
    NoBooks,
    /// The REST API could not be reached: as many connection attempts in a row as the
    /// stream's `connect_retries` failed while no book was live.
    #[error("REST API: {attempts} connection attempts in a row failed, no book is live: {last}")]
    RestUnreachable {
        /// Failed attempts in a row.
        attempts: u32,
        /// Why the last one failed.
        last: String,
    },
    /// The local F-Stack poll failed.
    #[error("{0}")]
    Poll(#[source] fstack::Error),
}

/// The tokens of the stream connections on the books' poll.
const FEED_TOKENS: Range<usize> = 1..1 << 20;
/// The tokens of the REST connections.
const REST_TOKENS: Range<usize> = 1 << 20..1 << 21;

/// A book after an applied event.
#[derive(Debug, Clone, Copy)]
pub struct BookUpdate<'a> {
    /// The symbol as Binance writes it (`BTCUSDT`).
    pub symbol: &'a str,
    /// The event's time `E` (in the stream's time unit).
    pub event_time: u64,
    /// The book, exact at `book.update_id()` (the event's `u`).
    pub book: &'a OrderBook,
}

/// What a [`BookFeed`] reports besides books.
#[derive(Debug)]
pub enum BookNotice<'a> {
    /// From the stream side: connections made and lost, skipped messages, ...
    Feed(Notice<'a>),
    /// A symbol's live book was discarded; its sync starts over.
    Resync {
        /// The symbol.
        symbol: &'a str,
        /// The update id of the discarded book.
        book_id: u64,
        /// Why.
        reason: &'a Resync,
    },
    /// A symbol's book is live (after a snapshot and the buffered events).
    Synced {
        /// The symbol.
        symbol: &'a str,
        /// The book's update id.
        update_id: u64,
    },
    /// A snapshot did not match the stream's events (older than the first buffered event,
    /// or ahead of every event for [`SyncConfig::match_timeout`](super::SyncConfig)):
    /// another is fetched, after the growing delay from the second in a row on. When
    /// [`Unmatched::persistent`], the snapshots and the stream may well come from different
    /// exchanges.
    StaleSnapshot {
        /// The symbol.
        symbol: &'a str,
        /// The snapshot and how many in a row did not match.
        unmatched: Unmatched,
        /// When the next request is made.
        retry_in: Duration,
    },
    /// A snapshot request will be sent again after `retry_in` (HTTP 429/418, 5xx, a lost
    /// connection).
    SnapshotRetry {
        /// The symbol.
        symbol: &'a str,
        /// Why.
        error: &'a RestError,
        /// When.
        retry_in: Duration,
    },
    /// A snapshot request waits for the request weight budget
    /// ([`RestConfig::weight_per_minute`](crate::rest::RestConfig::weight_per_minute)).
    WaitingForBudget {
        /// The symbol.
        symbol: &'a str,
        /// How long at most.
        wait: Duration,
        /// Weight spent in the last minute.
        used: u32,
        /// The request's weight.
        weight: u32,
    },
    /// A snapshot could not be had or used; a new request follows after `retry_in`.
    SnapshotFailed {
        /// The symbol.
        symbol: &'a str,
        /// Why.
        error: &'a dyn std::error::Error,
        /// When the next request is made.
        retry_in: Duration,
    },
    /// The REST API refused the symbol's snapshot (HTTP 4xx, e.g. 400 `Invalid symbol.` for
    /// a symbol Binance does not list): this symbol is given up, the others go on.
    SymbolFailed {
        /// The symbol.
        symbol: &'a str,
        /// The answer, e.g. `HTTP 400 from api.binance.com: Invalid symbol. (code -1121)`.
        error: &'a str,
    },
}

/// Receives what a [`BookFeed`] produces. Called inside the F-Stack loop: keep it short.
pub trait BookHandler {
    /// A book after an applied diff event (one per event).
    fn on_book(&mut self, update: &BookUpdate<'_>);
    /// Everything else.
    fn on_notice(&mut self, notice: BookNotice<'_>);
}

struct Symbol {
    /// As Binance writes it (`BTCUSDT`).
    name: String,
    stream: Stream,
    sync: BookSync,
    request: Option<u64>,
    failure: Option<String>,
}

/// Local order books kept in sync over F-Stack; see the [module docs](super).
///
/// The stream connections and the REST connection share one [`Poll`]: one `ff_epoll_wait`
/// per loop iteration.
pub struct BookFeed {
    poll: Poll,
    events: Events,
    feed: Feed,
    rest: RestClient,
    /// The REST host, for messages.
    rest_host: String,
    symbols: Vec<Symbol>,
    limit: u32,
    /// Failed REST connection attempts in a row that end the feed while no book is live.
    connect_retries: u32,
    unsubscribe: Vec<Stream>,
}

impl fmt::Debug for BookFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BookFeed")
            .field("feed", &self.feed)
            .field("rest", &self.rest)
            .field("symbols", &self.symbols.len())
            .finish_non_exhaustive()
    }
}

/// Hands a sync's applied events and resyncs to the handler, with the symbol.
struct Sink<'a> {
    symbol: &'a str,
    handler: &'a mut dyn BookHandler,
}

impl SyncSink for Sink<'_> {
    fn applied(&mut self, book: &OrderBook, event_time: u64) {
        self.handler.on_book(&BookUpdate {
            symbol: self.symbol,
            event_time,
            book,
        });
    }
    fn resync(&mut self, book_id: u64, reason: &Resync) {
        self.handler.on_notice(BookNotice::Resync {
            symbol: self.symbol,
            book_id,
            reason,
        });
    }
}

/// The stream side's events go to the syncs.
struct Streams<'a> {
    symbols: &'a mut [Symbol],
    handler: &'a mut dyn BookHandler,
    now: Instant,
}

impl FeedHandler for Streams<'_> {
    fn on_event(&mut self, event: &StreamEvent<'_>, _frame_len: usize) {
        let MarketEvent::DepthUpdate(d) = &event.event else {
            return;
        };
        if let Some(s) = self
            .symbols
            .iter_mut()
            .find(|s| same_symbol(&s.name, d.symbol))
        {
            let was_live = s.sync.is_live();
            let mut sink = Sink {
                symbol: &s.name,
                handler: &mut *self.handler,
            };
            s.sync.on_diff(self.now, d, &mut sink);
            report_unmatched(s, self.now, &mut *self.handler);
            if !was_live && s.sync.is_live() {
                self.handler.on_notice(BookNotice::Synced {
                    symbol: &s.name,
                    update_id: s.sync.book().update_id(),
                });
            }
        }
    }

    fn on_notice(&mut self, notice: Notice<'_>) {
        let lost = matches!(notice, Notice::Disconnected { .. });
        self.handler.on_notice(BookNotice::Feed(notice));
        if lost {
            // Events may have been missed: no book is trusted across a reconnect.
            for s in self.symbols.iter_mut() {
                let mut sink = Sink {
                    symbol: &s.name,
                    handler: &mut *self.handler,
                };
                s.sync.restart(&mut sink);
            }
        }
    }
}

impl BookFeed {
    /// Checks the configuration (one diff depth stream per symbol, a limit of 1 to 5000) and
    /// creates the feed and the REST client; nothing is sent until [`poll`](Self::poll).
    /// Call on the F-Stack thread after `Stack::init`.
    pub fn new(config: BookConfig, connector: TlsConnector) -> Result<BookFeed, BookError> {
        if !(1..=MAX_LIMIT).contains(&config.snapshot_limit) {
            return Err(BookError::Config(format!(
                "snapshot limit {} is not within 1..={MAX_LIMIT}",
                config.snapshot_limit
            )));
        }
        let mut symbols: Vec<Symbol> = Vec::new();
        for stream in &config.feed.streams {
            if !matches!(stream.kind(), StreamKind::DiffDepth { .. }) {
                return Err(BookError::Config(format!(
                    "{}: books are kept from diff depth streams only",
                    stream.name()
                )));
            }
            if symbols
                .iter()
                .any(|s| same_symbol(&s.name, stream.symbol()))
            {
                return Err(BookError::Config(format!(
                    "{}: one diff depth stream per symbol",
                    stream.name()
                )));
            }
            let mut name = String::new();
            crate::stream::push_uppercase(&mut name, stream.symbol());
            let mut sync = BookSync::new(&name, config.sync);
            sync.set_snapshot_limit(config.snapshot_limit as usize);
            symbols.push(Symbol {
                sync,
                name,
                stream: stream.clone(),
                request: None,
                failure: None,
            });
        }
        if symbols.is_empty() {
            return Err(BookError::Config("no diff depth stream".into()));
        }
        let connect_retries = config.feed.connect_retries.max(1);
        Ok(BookFeed {
            connect_retries,
            poll: Poll::new().map_err(BookError::Poll)?,
            events: Events::with_capacity(16),
            feed: Feed::with_tokens(config.feed, connector.clone(), FEED_TOKENS)?,
            rest_host: config.rest.endpoint.host.clone(),
            rest: RestClient::with_tokens(config.rest, connector, REST_TOKENS)?,
            symbols,
            limit: config.snapshot_limit,
            unsubscribe: Vec::new(),
        })
    }

    /// The stream side's counters.
    pub fn feed_counters(&self) -> FeedCounters {
        self.feed.counters()
    }

    /// The REST side's counters.
    pub fn rest_counters(&self) -> RestCounters {
        self.rest.counters()
    }

    /// The REST API's URL, for messages.
    pub fn rest_url(&self) -> String {
        self.rest.config().endpoint.url()
    }

    /// Each symbol's sync (book and counters) and, for a failed symbol, why.
    pub fn books(&self) -> impl Iterator<Item = (&BookSync, Option<&str>)> {
        self.symbols.iter().map(|s| (&s.sync, s.failure.as_deref()))
    }

    /// Starts a clean shutdown; keep polling until [`is_closed`](Self::is_closed).
    pub fn close(&mut self, now: Instant) {
        self.feed.close(now);
        self.rest.close();
    }

    /// True once [`close`](Self::close) has finished.
    pub fn is_closed(&self) -> bool {
        self.feed.is_closed()
    }

    /// Advances the streams, the snapshots and the syncs without blocking; books and notices
    /// go to `handler`. Fails only when the feed or the REST client fails for good, when
    /// every symbol has failed, or when the REST API cannot be reached
    /// ([`BookError::RestUnreachable`]: the feed's `connect_retries` connection attempts in a
    /// row failed while no book is live).
    pub fn poll(&mut self, now: Instant, handler: &mut dyn BookHandler) -> Result<(), BookError> {
        self.poll.poll(&mut self.events).map_err(BookError::Poll)?;
        self.feed.poll_on(
            now,
            &mut self.poll,
            &self.events,
            &mut Streams {
                symbols: &mut self.symbols,
                handler: &mut *handler,
                now,
            },
        )?;
        let (symbols, unsubscribe, host) =
            (&mut self.symbols, &mut self.unsubscribe, &self.rest_host);
        self.rest
            .poll_on(now, &mut self.poll, &self.events, &mut |event| {
                let id = match &event {
                    RestEvent::Response { id, .. }
                    | RestEvent::Retrying { id, .. }
                    | RestEvent::Failed { id, .. }
                    | RestEvent::WaitingForBudget { id, .. } => *id,
                };
                if let Some(s) = symbols.iter_mut().find(|s| s.request == Some(id)) {
                    on_rest(s, now, host, event, handler, unsubscribe);
                }
            })?;
        if !self.unsubscribe.is_empty() {
            let gone = std::mem::take(&mut self.unsubscribe);
            self.feed.unsubscribe(&gone);
        }
        let prefix = &self.rest.config().endpoint.path;
        let mut requests = Vec::new();
        for s in self.symbols.iter_mut() {
            if s.sync.wants_snapshot(now) {
                s.sync.snapshot_requested();
                requests.push((s.name.clone(), depth_target(prefix, &s.name, self.limit)));
            }
        }
        for (name, target) in requests {
            let id = self.rest.get(target, request_weight(self.limit));
            if let Some(s) = self.symbols.iter_mut().find(|s| s.name == name) {
                s.request = Some(id);
            }
        }
        if self.symbols.iter().all(|s| s.sync.is_failed()) {
            return Err(BookError::NoBooks);
        }
        let (attempts, last) = self.rest.failed_connects();
        if attempts >= self.connect_retries && !self.symbols.iter().any(|s| s.sync.is_live()) {
            return Err(BookError::RestUnreachable {
                attempts,
                last: last.unwrap_or("unknown").to_owned(),
            });
        }
        Ok(())
    }
}

/// Reports the snapshot `s` dropped as not matching the stream, if any.
fn report_unmatched(s: &mut Symbol, now: Instant, handler: &mut dyn BookHandler) {
    if let Some(unmatched) = s.sync.take_unmatched() {
        let retry_in = s
            .sync
            .next_request()
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
        handler.on_notice(BookNotice::StaleSnapshot {
            symbol: &s.name,
            unmatched,
            retry_in,
        });
    }
}

/// A REST event about `s`'s snapshot request.
fn on_rest(
    s: &mut Symbol,
    now: Instant,
    host: &str,
    event: RestEvent<'_>,
    handler: &mut dyn BookHandler,
    unsubscribe: &mut Vec<Stream>,
) {
    let symbol = s.name.as_str();
    match event {
        RestEvent::WaitingForBudget {
            wait, used, weight, ..
        } => handler.on_notice(BookNotice::WaitingForBudget {
            symbol,
            wait,
            used,
            weight,
        }),
        RestEvent::Retrying {
            error, retry_in, ..
        } => handler.on_notice(BookNotice::SnapshotRetry {
            symbol,
            error,
            retry_in,
        }),
        RestEvent::Failed { error, .. } => {
            s.request = None;
            let retry_in = s.sync.snapshot_failed(now);
            handler.on_notice(BookNotice::SnapshotFailed {
                symbol,
                error,
                retry_in,
            });
        }
        RestEvent::Response { status, body, .. } if (200..300).contains(&status) => {
            s.request = None;
            match Snapshot::parse(body) {
                Ok(snap) => {
                    let mut sink = Sink {
                        symbol,
                        handler: &mut *handler,
                    };
                    let outcome = s.sync.on_snapshot(
                        now,
                        snap.last_update_id,
                        snap.bids,
                        snap.asks,
                        &mut sink,
                    );
                    match outcome {
                        SnapshotOutcome::Synced => handler.on_notice(BookNotice::Synced {
                            symbol,
                            update_id: s.sync.book().update_id(),
                        }),
                        SnapshotOutcome::Stale => report_unmatched(s, now, handler),
                        SnapshotOutcome::Invalid(e) => {
                            let retry_in = s
                                .sync
                                .next_request()
                                .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
                            handler.on_notice(BookNotice::SnapshotFailed {
                                symbol,
                                error: &e,
                                retry_in,
                            })
                        }
                        SnapshotOutcome::Waiting | SnapshotOutcome::Unused => {}
                    }
                }
                Err(e) => {
                    let retry_in = s.sync.snapshot_failed(now);
                    handler.on_notice(BookNotice::SnapshotFailed {
                        symbol,
                        error: &e,
                        retry_in,
                    });
                }
            }
        }
        RestEvent::Response { status, body, .. } => {
            s.request = None;
            let error = match ApiError::parse(body) {
                Some(e) => format!("HTTP {status} from {host}: {} (code {})", e.msg, e.code),
                None => format!("HTTP {status} from {host}"),
            };
            s.sync.fail();
            handler.on_notice(BookNotice::SymbolFailed {
                symbol,
                error: &error,
            });
            s.failure = Some(error);
            unsubscribe.push(s.stream.clone());
        }
    }
}
