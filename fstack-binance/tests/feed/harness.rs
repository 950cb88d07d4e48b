//! The harness of the feed scenarios: [`Run`], one `Feed` against its own mock exchange, checks
//! every event it receives against what the mock generated for its sequence number
//! ([`check_exact`]) and ends when its `done` test says so; helpers for those tests.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fstack_binance::events::{decode, MarketEvent, Message, StreamEvent};
use fstack_binance::feed::{handler_fn, Feed, FeedConfig, FeedCounters, Notice};
use fstack_binance::stream::Stream;
use fstack_mock_exchange::{MockConfig, MockExchange};
use fstack_tls::TlsConnector;

use crate::common::Scenario;

/// The sequence number an event carries (see `fstack_mock_exchange::event_json`).
pub fn seq_of(ev: &MarketEvent<'_>) -> u64 {
    match ev {
        MarketEvent::Ticker(t) => t.trade_count,
        // The mini ticker carries no id: its close price encodes the number.
        MarketEvent::MiniTicker(m) => {
            let e8 = m
                .close_price
                .value()
                .and_then(|v| v.to_fixed_i64(8))
                .unwrap_or(0) as u64;
            e8.saturating_sub(4_325_012_000_000) / 1_000_000
        }
        MarketEvent::BookTicker(b) => b.update_id,
        MarketEvent::Trade(t) => t.trade_id,
        MarketEvent::AggTrade(a) => a.agg_trade_id,
        MarketEvent::PartialDepth(d) => d.last_update_id,
        // The mock's market: event n ends at update id final_update_id(n).
        MarketEvent::DepthUpdate(d) => {
            fstack_mock_exchange::seq_of_update_id(d.final_update_id).unwrap_or(0)
        }
    }
}

/// Checks every field of `ev` against what the mock generated for its sequence number.
pub fn check_exact(stream: &str, ev: &StreamEvent<'_>) -> Result<(), String> {
    let (symbol, kind) = fstack_mock_exchange::parse_stream(stream).ok_or("unknown stream")?;
    let seq = seq_of(&ev.event);
    let mut expected = String::new();
    fstack_mock_exchange::event_json(
        &symbol,
        kind,
        seq,
        ev.event_time().unwrap_or(0),
        &mut expected,
    );
    let want = match decode(
        &expected,
        Some(fstack_binance::stream::StreamRef::parse(stream).unwrap()),
    ) {
        Ok(Message::Event(e)) => e,
        other => return Err(format!("regenerated payload did not decode: {other:?}")),
    };
    if format!("{:?}", want.event) != format!("{:?}", ev.event) {
        return Err(format!(
            "{stream} #{seq}: got {:?}\nwant {:?}",
            ev.event, want.event
        ));
    }
    // Spot-check decimals against the generator's formula, exactly as sent.
    let last = fstack_mock_exchange::price(4_325_012_000_000, seq, 1_000_000);
    let ok = match &ev.event {
        MarketEvent::Ticker(t) => t.last_price.as_str() == last && t.symbol == symbol,
        MarketEvent::Trade(t) => t.price.as_str() == last,
        MarketEvent::AggTrade(t) => t.price.as_str() == last,
        MarketEvent::BookTicker(b) => {
            b.bid_price.as_str() == fstack_mock_exchange::price(4_325_011_000_000, seq, 1_000_000)
        }
        MarketEvent::PartialDepth(d) => d.bids.len() == 5 && d.asks.len() == 5,
        MarketEvent::DepthUpdate(d) => {
            d.first_update_id == fstack_mock_exchange::final_update_id(seq - 1) + 1
                && d.symbol == symbol
        }
        MarketEvent::MiniTicker(m) => m.symbol == symbol,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{stream} #{seq}: wrong values {:?}", ev.event))
    }
}

pub struct Run {
    name: &'static str,
    pub mock: MockExchange,
    /// The status the mock rejects upgrades with (0 when it does not).
    status: u16,
    pub feed: Feed,
    deadline: Instant,
    /// Sequence numbers received per stream.
    pub seen: BTreeMap<String, Vec<u64>>,
    pub notices: Vec<String>,
    pub acks: u64,
    error: Option<String>,
    pub fatal: Option<String>,
    done: fn(&Run, FeedCounters) -> Result<bool, String>,
}

pub fn connector(mock: &MockExchange) -> TlsConnector {
    TlsConnector::builder()
        .ca_pem(mock.ca_pem().as_bytes().to_vec())
        .build()
        .expect("connector")
}

pub fn run_with(
    name: &'static str,
    mock_config: MockConfig,
    streams: &[&str],
    tweak: impl FnOnce(&mut FeedConfig),
    connector_for: impl FnOnce(&MockExchange) -> TlsConnector,
    done: fn(&Run, FeedCounters) -> Result<bool, String>,
) -> Box<dyn Scenario> {
    let status = mock_config.faults.reject_upgrade.unwrap_or(0);
    let mock = MockExchange::start(mock_config).expect("mock");
    let streams: Vec<Stream> = streams.iter().map(|s| Stream::parse(s).unwrap()).collect();
    let mut config = FeedConfig::new("localhost", mock.local_addr().port(), streams);
    config.resolve = Some(mock.local_addr());
    config.backoff_initial = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(200);
    tweak(&mut config);
    let feed = Feed::new(config, connector_for(&mock)).expect("feed");
    Box::new(Run {
        name,
        mock,
        status,
        feed,
        deadline: Instant::now() + Duration::from_secs(60),
        seen: BTreeMap::new(),
        notices: Vec::new(),
        acks: 0,
        error: None,
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
        let (seen, notices, error, acks) = (
            &mut self.seen,
            &mut self.notices,
            &mut self.error,
            &mut self.acks,
        );
        let polled = self.feed.poll(
            now,
            &mut handler_fn(
                |ev, _len| {
                    let stream = ev.stream.map(|s| s.name.to_string()).unwrap_or_default();
                    if let Err(e) = check_exact(&stream, ev) {
                        error.get_or_insert(e);
                    }
                    seen.entry(stream).or_default().push(seq_of(&ev.event));
                },
                |n| match n {
                    Notice::Ack { .. } => *acks += 1,
                    Notice::Disconnected { cause, .. } => {
                        notices.push(format!("disconnected: {cause}"))
                    }
                    Notice::Malformed { error } => notices.push(format!("malformed: {error}")),
                    Notice::Rotating { reason } => notices.push(format!("rotating: {reason}")),
                    Notice::ReplacementFailed { cause, .. } => {
                        notices.push(format!("replacement failed: {cause}"))
                    }
                    Notice::ControlError { code, msg, .. } => {
                        notices.push(format!("control error {code} {msg}"))
                    }
                    Notice::Connected { .. } => notices.push("connected".into()),
                },
            ),
        );
        if let Err(e) = polled {
            self.fatal = Some(e.to_string());
        }
        if let Some(e) = &self.error {
            return Some(Err(e.clone()));
        }
        match (self.done)(self, self.feed.counters()) {
            Ok(true) => Some(Ok(())),
            Ok(false) if now > self.deadline => Some(Err(format!(
                "timed out; counters {:?}, notices {:?}",
                self.feed.counters(),
                self.notices
            ))),
            Ok(false) => None,
            Err(e) => Some(Err(format!("{e}; notices {:?}", self.notices))),
        }
    }
}

impl Run {
    /// The status the mock rejects upgrades with.
    pub fn mock_status(&self) -> u16 {
        self.status
    }
}

pub fn at_least(run: &Run, per_stream: usize) -> bool {
    !run.seen.is_empty() && run.seen.values().all(|v| v.len() >= per_stream)
}

pub fn fatal_is_none(run: &Run) -> Result<(), String> {
    match &run.fatal {
        Some(e) => Err(format!("unexpected fatal error: {e}")),
        None => Ok(()),
    }
}

/// No gaps: every sequence number from the first to the last seen arrived.
pub fn contiguous(v: &[u64]) -> Result<(), String> {
    let mut sorted = v.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    for w in sorted.windows(2) {
        if w[1] != w[0] + 1 {
            return Err(format!("gap between #{} and #{}", w[0], w[1]));
        }
    }
    Ok(())
}

pub const KINDS: [&str; 7] = [
    "btcusdt@ticker",
    "btcusdt@miniTicker",
    "btcusdt@bookTicker",
    "btcusdt@trade",
    "btcusdt@aggTrade",
    "btcusdt@depth5@100ms",
    "btcusdt@depth@100ms",
];

/// No gaps and no duplicates in any stream.
pub fn exactly_once(run: &Run) -> Result<(), String> {
    for (stream, v) in &run.seen {
        contiguous(v)?;
        let mut unique = v.clone();
        unique.sort_unstable();
        unique.dedup();
        if unique.len() != v.len() {
            return Err(format!(
                "{stream}: {} duplicates delivered",
                v.len() - unique.len()
            ));
        }
    }
    Ok(())
}

/// Upgrade attempts seen by the mock, and the smallest gap between consecutive ones.
pub fn upgrade_attempts(run: &Run) -> (usize, Option<Duration>) {
    let times = run.mock.stats().upgrade_times.lock().unwrap().clone();
    let gap = times.windows(2).map(|w| w[1] - w[0]).min();
    (times.len(), gap)
}

pub fn fast() -> MockConfig {
    MockConfig {
        rate: 200.0,
        ..MockConfig::default()
    }
}
