//! The harness of the book scenarios: [`Run`], one `BookFeed` against its own mock exchange,
//! checks every book it prints against the mock's true book at that update id (every level
//! of both sides, exact strings) and ends when its `done` test says so.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fstack_binance::book::{
    BookConfig, BookError, BookFeed, BookHandler, BookNotice, BookUpdate, OrderBook, Resync,
};
use fstack_binance::feed::{FeedConfig, Notice};
use fstack_binance::rest::{RestConfig, RestEndpoint};
use fstack_binance::stream::Stream;
use fstack_mock_exchange::{seq_of_update_id, MockBook, MockConfig, MockExchange};
use fstack_tls::TlsConnector;

use crate::common::Scenario;

/// What a run saw.
#[derive(Default)]
pub struct Seen {
    /// Books printed per symbol (each checked exact).
    pub books: BTreeMap<String, u64>,
    /// Update ids printed per symbol, in order.
    pub update_ids: BTreeMap<String, Vec<u64>>,
    /// (symbol, book id, reason) of each discarded book.
    pub resyncs: Vec<(String, u64, Resync)>,
    /// Symbols that failed, with the error.
    pub failed: Vec<(String, String)>,
    /// Everything else, as text.
    pub notices: Vec<String>,
    /// When each notice arrived (same index as `notices`).
    pub notice_times: Vec<Instant>,
    /// The first mismatch with the mock's book.
    pub error: Option<String>,
    truth: BTreeMap<String, MockBook>,
}

impl Seen {
    fn check(&mut self, u: &BookUpdate<'_>) -> Result<(), String> {
        let id = u.book.update_id();
        let seq = seq_of_update_id(id)
            .ok_or_else(|| format!("{}: update {id} ends no event of the mock", u.symbol))?;
        let truth = self
            .truth
            .entry(u.symbol.to_owned())
            .or_insert_with(|| MockBook::new(u.symbol));
        truth.advance_to(seq);
        let got = |side: &fstack_binance::book::Side| -> Vec<(String, String)> {
            side.iter()
                .map(|l| (l.price.as_str().to_owned(), l.qty.as_str().to_owned()))
                .collect()
        };
        let (want_bids, want_asks) = (truth.bids(usize::MAX), truth.asks(usize::MAX));
        let (bids, asks) = (got(u.book.bids()), got(u.book.asks()));
        if bids != want_bids || asks != want_asks {
            return Err(format!(
                "{} at update {id}: book differs from the mock's\n bids {bids:?}\n want {want_bids:?}\n asks {asks:?}\n want {want_asks:?}",
                u.symbol
            ));
        }
        Ok(())
    }

    /// Books printed for `symbol`.
    pub fn count(&self, symbol: &str) -> u64 {
        self.books.get(symbol).copied().unwrap_or(0)
    }
}

impl BookHandler for Seen {
    fn on_book(&mut self, u: &BookUpdate<'_>) {
        if let Err(e) = self.check(u) {
            self.error.get_or_insert(e);
        }
        *self.books.entry(u.symbol.to_owned()).or_default() += 1;
        self.update_ids
            .entry(u.symbol.to_owned())
            .or_default()
            .push(u.book.update_id());
    }

    fn on_notice(&mut self, notice: BookNotice<'_>) {
        let text = match notice {
            BookNotice::Resync {
                symbol,
                book_id,
                reason,
            } => {
                self.resyncs.push((symbol.to_owned(), book_id, *reason));
                format!("resync {symbol} at {book_id}: {} ({reason})", reason.code())
            }
            BookNotice::SymbolFailed { symbol, error } => {
                self.failed.push((symbol.to_owned(), error.to_owned()));
                format!("failed {symbol}: {error}")
            }
            BookNotice::Synced { symbol, update_id } => format!("synced {symbol} at {update_id}"),
            BookNotice::StaleSnapshot {
                symbol, unmatched, ..
            } => format!("stale {symbol} {}", unmatched.last_update_id),
            BookNotice::SnapshotRetry {
                symbol,
                error,
                retry_in,
            } => format!("retry {symbol} in {retry_in:?}: {error}"),
            BookNotice::WaitingForBudget { symbol, wait, .. } => {
                format!("budget {symbol} {wait:?}")
            }
            BookNotice::SnapshotFailed {
                symbol,
                error,
                retry_in,
            } => format!("snapshot failed {symbol}, next in {retry_in:?}: {error}"),
            BookNotice::Feed(Notice::Disconnected { cause, .. }) => {
                format!("disconnected: {cause}")
            }
            BookNotice::Feed(Notice::Connected { .. }) => "connected".into(),
            BookNotice::Feed(other) => format!("feed: {other:?}"),
        };
        self.notices.push(text);
        self.notice_times.push(Instant::now());
    }
}

pub type Done = fn(&Run) -> Result<bool, String>;

pub struct Run {
    name: &'static str,
    pub mock: MockExchange,
    pub books: BookFeed,
    pub seen: Seen,
    pub started: Instant,
    deadline: Instant,
    /// The error that ended the book feed, if any.
    pub fatal: Option<String>,
    done: Done,
}

pub fn connector(mock: &MockExchange) -> TlsConnector {
    TlsConnector::builder()
        .ca_pem(mock.ca_pem().as_bytes().to_vec())
        .build()
        .expect("connector")
}

/// Books of `symbols` (diff depth at 100 ms) from a mock started with `mock_config`.
pub fn run(
    name: &'static str,
    mock_config: MockConfig,
    symbols: &[&str],
    done: Done,
) -> Box<dyn Scenario> {
    let mock = MockExchange::start(mock_config).expect("mock");
    let port = mock.local_addr().port();
    let streams: Vec<Stream> = symbols
        .iter()
        .map(|s| Stream::parse(&format!("{s}@depth@100ms")).unwrap())
        .collect();
    let mut feed = FeedConfig::new("localhost", port, streams);
    feed.resolve = Some(mock.local_addr());
    feed.backoff_initial = Duration::from_millis(20);
    feed.backoff_max = Duration::from_millis(200);
    let endpoint = RestEndpoint::parse(&format!("https://localhost:{port}")).unwrap();
    let mut rest = RestConfig::new(endpoint);
    rest.resolve = Some(mock.local_addr().ip());
    rest.backoff_initial = Duration::from_millis(50);
    rest.backoff_max = Duration::from_secs(2);
    let mut config = BookConfig::new(feed, rest);
    config.sync.retry_initial = Duration::from_millis(50);
    let books = BookFeed::new(config, connector(&mock)).expect("book feed");
    Box::new(Run {
        name,
        mock,
        books,
        seen: Seen::default(),
        started: Instant::now(),
        deadline: Instant::now() + Duration::from_secs(60),
        fatal: None,
        done,
    })
}

impl Scenario for Run {
    fn name(&self) -> &'static str {
        self.name
    }

    fn step(&mut self) -> Option<Result<(), String>> {
        let now = Instant::now();
        if self.fatal.is_none() {
            if let Err(e) = self.books.poll(now, &mut self.seen) {
                self.fatal = Some(match e {
                    BookError::NoBooks => "no books".to_owned(),
                    e => e.to_string(),
                });
            }
        }
        if let Some(e) = &self.seen.error {
            return Some(Err(e.clone()));
        }
        match (self.done)(self) {
            Ok(true) => Some(Ok(())),
            Ok(false) if now > self.deadline => Some(Err(format!(
                "timed out; books {:?}, notices {:?}",
                self.seen.books, self.seen.notices
            ))),
            Ok(false) => None,
            Err(e) => Some(Err(format!("{e}; notices {:?}", self.seen.notices))),
        }
    }
}

impl Run {
    /// The book of `symbol` as the feed holds it now.
    pub fn book(&self, symbol: &str) -> Option<&OrderBook> {
        self.books
            .books()
            .find(|(s, _)| s.symbol() == symbol)
            .map(|(s, _)| s.book())
    }

    /// The sync counters of `symbol`.
    pub fn counters(&self, symbol: &str) -> fstack_binance::book::BookCounters {
        self.books
            .books()
            .find(|(s, _)| s.symbol() == symbol)
            .map(|(s, _)| s.counters())
            .unwrap_or_default()
    }
}
