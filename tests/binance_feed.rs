//! The Binance feed driver against `mock_exchange`, all in one F-Stack loop (kernel backend):
//! exact values for every stream kind, raw and combined; pings answered; reconnect and
//! resubscribe after a drop; malformed and oversize messages counted, not fatal; a stalled
//! server triggers the read timeout; SUBSCRIBE for streams beyond the URL; `serverShutdown`
//! rotates without a gap; a TLS verification failure is fatal with its reason.

#[path = "../fstack/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::Scenario;
use fstack_binance::events::{decode, MarketEvent, Message, StreamEvent};
use fstack_binance::feed::{Feed, FeedConfig, FeedCounters, Notice, StallTimeout};
use fstack_binance::subscribe::{Stream, UrlMode};
use fstack_mock_exchange::{self as mock_exchange, Faults, MockConfig, MockExchange};
use fstack_tls::TlsConnector;

/// The sequence number an event carries (see `mock_exchange::event_json`).
fn seq_of(ev: &MarketEvent<'_>) -> u64 {
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
        MarketEvent::DepthUpdate(d) => d.final_update_id,
    }
}

/// Checks every field of `ev` against what the mock generated for its sequence number.
fn check_exact(stream: &str, ev: &StreamEvent<'_>) -> Result<(), String> {
    let (symbol, kind) = mock_exchange::parse_stream(stream).ok_or("unknown stream")?;
    let seq = seq_of(&ev.event);
    let mut expected = String::new();
    mock_exchange::event_json(
        &symbol,
        kind,
        seq,
        ev.event_time().unwrap_or(0),
        &mut expected,
    );
    let want = match decode(
        &expected,
        Some(fstack_binance::subscribe::StreamRef::parse(stream).unwrap()),
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
    let last = mock_exchange::price(4_325_012_000_000, seq, 1_000_000);
    let ok = match &ev.event {
        MarketEvent::Ticker(t) => t.last_price.as_str() == last && t.symbol == symbol,
        MarketEvent::Trade(t) => t.price.as_str() == last,
        MarketEvent::AggTrade(t) => t.price.as_str() == last,
        MarketEvent::BookTicker(b) => {
            b.bid_price.as_str() == mock_exchange::price(4_325_011_000_000, seq, 1_000_000)
        }
        MarketEvent::PartialDepth(d) => d.bids.len() == 5 && d.asks.len() == 5,
        MarketEvent::DepthUpdate(d) => d.bids.len() == 3 && d.symbol == symbol,
        MarketEvent::MiniTicker(m) => m.symbol == symbol,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{stream} #{seq}: wrong values {:?}", ev.event))
    }
}

struct Run {
    name: &'static str,
    mock: MockExchange,
    /// The status the mock rejects upgrades with (0 when it does not).
    status: u16,
    feed: Feed,
    deadline: Instant,
    /// Sequence numbers received per stream.
    seen: BTreeMap<String, Vec<u64>>,
    notices: Vec<String>,
    acks: u64,
    error: Option<String>,
    fatal: Option<String>,
    done: fn(&Run, FeedCounters) -> Result<bool, String>,
}

fn connector(mock: &MockExchange) -> TlsConnector {
    TlsConnector::builder()
        .ca_pem(mock.ca_pem().as_bytes().to_vec())
        .build()
        .expect("connector")
}

fn run_with(
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
            &mut |ev, _len| {
                let stream = ev.stream.map(|s| s.name.to_string()).unwrap_or_default();
                if let Err(e) = check_exact(&stream, ev) {
                    error.get_or_insert(e);
                }
                seen.entry(stream).or_default().push(seq_of(&ev.event));
            },
            &mut |n| match n {
                Notice::Ack { .. } => *acks += 1,
                Notice::Disconnected { cause, .. } => {
                    notices.push(format!("disconnected: {cause}"))
                }
                Notice::Malformed { error } => notices.push(format!("malformed: {error}")),
                Notice::Rotating { reason } => notices.push(format!("rotating: {reason}")),
                Notice::ReplacementFailed { cause, .. } => {
                    notices.push(format!("replacement failed: {cause}"))
                }
                Notice::ControlError { code, msg } => {
                    notices.push(format!("control error {code} {msg}"))
                }
                Notice::Connected { .. } => notices.push("connected".into()),
            },
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
    fn mock_status(&self) -> u16 {
        self.status
    }
}

fn at_least(run: &Run, per_stream: usize) -> bool {
    !run.seen.is_empty() && run.seen.values().all(|v| v.len() >= per_stream)
}

fn fatal_is_none(run: &Run) -> Result<(), String> {
    match &run.fatal {
        Some(e) => Err(format!("unexpected fatal error: {e}")),
        None => Ok(()),
    }
}

/// No gaps: every sequence number from the first to the last seen arrived.
fn contiguous(v: &[u64]) -> Result<(), String> {
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

const KINDS: [&str; 7] = [
    "btcusdt@ticker",
    "btcusdt@miniTicker",
    "btcusdt@bookTicker",
    "btcusdt@trade",
    "btcusdt@aggTrade",
    "btcusdt@depth5@100ms",
    "btcusdt@depth@100ms",
];

/// No gaps and no duplicates in any stream.
fn exactly_once(run: &Run) -> Result<(), String> {
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
fn upgrade_attempts(run: &Run) -> (usize, Option<Duration>) {
    let times = run.mock.stats().upgrade_times.lock().unwrap().clone();
    let gap = times.windows(2).map(|w| w[1] - w[0]).min();
    (times.len(), gap)
}

fn fast() -> MockConfig {
    MockConfig {
        rate: 200.0,
        ..MockConfig::default()
    }
}

/// Streams added and removed at run time: SUBSCRIBE/UNSUBSCRIBE with ids, within Binance's
/// rate limit, and no events of a removed stream after its acknowledgement.
struct Dynamic {
    mock: MockExchange,
    feed: Feed,
    deadline: Instant,
    stage: u8,
    seen: BTreeMap<String, u64>,
    acks: Vec<u64>,
    unsubscribe_id: Option<u64>,
    events_after_unsubscribe_ack: u64,
    error: Option<String>,
}

const ADDED: usize = 12;

impl Dynamic {
    fn new() -> Dynamic {
        let mock = MockExchange::start(MockConfig {
            rate: 50.0,
            ..MockConfig::default()
        })
        .expect("mock");
        let mut config = FeedConfig::new(
            "localhost",
            mock.local_addr().port(),
            vec![Stream::parse("btcusdt@trade").unwrap()],
        );
        config.resolve = Some(mock.local_addr());
        config.url_mode = UrlMode::Combined;
        let feed = Feed::new(config, connector(&mock)).expect("feed");
        Dynamic {
            mock,
            feed,
            deadline: Instant::now() + Duration::from_secs(60),
            stage: 0,
            seen: BTreeMap::new(),
            acks: Vec::new(),
            unsubscribe_id: None,
            events_after_unsubscribe_ack: 0,
            error: None,
        }
    }
}

impl Scenario for Dynamic {
    fn name(&self) -> &'static str {
        "SUBSCRIBE/UNSUBSCRIBE at run time, rate-limited"
    }
    fn step(&mut self) -> Option<Result<(), String>> {
        let now = Instant::now();
        let removed = "sym0usdt@trade";
        let unsub_acked = self
            .unsubscribe_id
            .is_some_and(|id| self.acks.contains(&id));
        let (seen, acks, after, error) = (
            &mut self.seen,
            &mut self.acks,
            &mut self.events_after_unsubscribe_ack,
            &mut self.error,
        );
        let polled = self.feed.poll(
            now,
            &mut |ev, _| {
                let stream = ev.stream.map(|s| s.name.to_string()).unwrap_or_default();
                if let Err(e) = check_exact(&stream, ev) {
                    error.get_or_insert(e);
                }
                if unsub_acked && stream == removed {
                    *after += 1;
                }
                *seen.entry(stream).or_default() += 1;
            },
            &mut |n| {
                if let Notice::Ack { id } = n {
                    acks.push(id);
                }
            },
        );
        if let Err(e) = polled {
            return Some(Err(format!("fatal: {e}")));
        }
        if let Some(e) = &self.error {
            return Some(Err(e.clone()));
        }
        match self.stage {
            0 if self.feed.is_connected() && !self.seen.is_empty() => {
                // One request per call: twelve SUBSCRIBE messages at once.
                let mut ids = Vec::new();
                for i in 0..ADDED {
                    let s = Stream::parse(&format!("sym{i}usdt@trade")).unwrap();
                    ids.extend(self.feed.subscribe(&[s]).expect("subscribe"));
                }
                if ids.len() != ADDED || ids.windows(2).any(|w| w[1] <= w[0]) {
                    return Some(Err(format!("request ids {ids:?}")));
                }
                self.stage = 1;
            }
            1 if self.seen.len() == ADDED + 1 && self.seen.values().all(|&n| n >= 3) => {
                let ids = self.feed.unsubscribe(&[Stream::parse(removed).unwrap()]);
                if ids.len() != 1 || self.feed.streams().len() != ADDED {
                    return Some(Err(format!("unsubscribe ids {ids:?}")));
                }
                self.unsubscribe_id = Some(ids[0]);
                self.stage = 2;
            }
            2 if unsub_acked && self.seen["sym1usdt@trade"] >= self.seen[removed] + 10 => {
                if self.events_after_unsubscribe_ack > 0 {
                    return Some(Err(format!(
                        "{} events of {removed} after its UNSUBSCRIBE was acknowledged",
                        self.events_after_unsubscribe_ack
                    )));
                }
                // Binance disconnects above 5 incoming messages per second: no 1 s window at
                // the server may hold 6 (the client's limiter allows 4 per second).
                let times = self.mock.stats().control_times.lock().unwrap().clone();
                if times.len() != ADDED + 1 {
                    return Some(Err(format!("{} control requests", times.len())));
                }
                for w in times.windows(6) {
                    let span = w[5].duration_since(w[0]);
                    if span < Duration::from_millis(1000) {
                        return Some(Err(format!("6 control messages within {span:?}")));
                    }
                }
                return Some(Ok(()));
            }
            _ => {}
        }
        (now > self.deadline).then(|| {
            Err(format!(
                "stuck at stage {}: seen {:?}",
                self.stage, self.seen
            ))
        })
    }
}

#[test]
fn feed_against_mock_exchange() {
    if common::skip_unless_kernel_backend("feed_against_mock_exchange") {
        return;
    }
    common::run_scenarios(Duration::from_secs(90), || {
        let mut s: Vec<Box<dyn Scenario>> = Vec::new();
        // Every kind raw (one stream per connection, /ws/<stream>).
        for kind in KINDS {
            s.push(run_with(
                "raw stream exact values",
                fast(),
                &[kind],
                |_| {},
                connector,
                |r, _| {
                    fatal_is_none(r)?;
                    Ok(at_least(r, 20))
                },
            ));
        }
        // All kinds and two symbols combined on one connection.
        let mut combined: Vec<&str> = KINDS.to_vec();
        combined.push("ethusdt@ticker");
        s.push(run_with(
            "combined streams exact values",
            fast(),
            &combined,
            |c| c.url_mode = UrlMode::Combined,
            connector,
            |r, _| {
                fatal_is_none(r)?;
                Ok(r.seen.len() == 8 && at_least(r, 20))
            },
        ));
        // Pings get pongs.
        s.push(run_with(
            "pings are answered",
            MockConfig {
                rate: 5.0,
                ping_interval: Duration::from_millis(50),
                ..MockConfig::default()
            },
            &["btcusdt@ticker"],
            |_| {},
            connector,
            |r, c| {
                fatal_is_none(r)?;
                Ok(c.pings >= 5 && r.mock.stats().pongs.load(Ordering::Relaxed) >= 5)
            },
        ));
        // A dropped connection reconnects; everything after the reconnect arrives.
        s.push(run_with(
            "drop reconnects and resubscribes",
            MockConfig {
                faults: Faults {
                    drop_after: Some(30),
                    ..Faults::default()
                },
                ..fast()
            },
            &["btcusdt@trade", "ethusdt@trade"],
            // Drops after streaming always reconnect, whatever the retry budget.
            |c| c.connect_retries = 1,
            connector,
            |r, c| {
                fatal_is_none(r)?;
                if c.reconnects < 2 {
                    return Ok(false);
                }
                if r.mock.stats().connections.load(Ordering::Relaxed) < 3 || !r.feed.is_connected()
                {
                    return Ok(false);
                }
                // Sequence numbers continue across connections: once connected again, every
                // event the server sent on the new connection was delivered.
                for v in r.seen.values() {
                    let after: Vec<u64> = v.iter().copied().filter(|&n| n > 40).collect();
                    contiguous(&after)?;
                }
                Ok(at_least(r, 50))
            },
        ));
        // Malformed JSON and oversize frames are counted, not fatal.
        s.push(run_with(
            "malformed and oversize counted",
            MockConfig {
                faults: Faults {
                    malformed_every: Some(7),
                    oversize_every: Some(40),
                    ..Faults::default()
                },
                ..fast()
            },
            &["btcusdt@bookTicker"],
            |_| {},
            connector,
            |r, c| {
                fatal_is_none(r)?;
                Ok(c.malformed >= 3 && c.oversize >= 2 && c.events >= 100)
            },
        ));
        // A stalled server is detected by the read timeout.
        s.push(run_with(
            "stall triggers read timeout",
            MockConfig {
                faults: Faults {
                    stall_after: Some(10),
                    ..Faults::default()
                },
                ..fast()
            },
            &["btcusdt@ticker"],
            |c| c.read_timeout = Duration::from_millis(300),
            connector,
            |r, c| {
                fatal_is_none(r)?;
                let timed_out = r.notices.iter().any(|n| n.contains("read timeout"));
                Ok(timed_out && c.reconnects >= 1 && c.events >= 15)
            },
        ));
        // Streams beyond what fits in the URL are subscribed with SUBSCRIBE.
        let many: Vec<String> = (0..101).map(|i| format!("sym{i}usdt@trade")).collect();
        let many: Vec<&str> = many
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .leak()
            .to_vec();
        s.push(run_with(
            "SUBSCRIBE beyond the URL",
            MockConfig {
                rate: 5.0,
                ..MockConfig::default()
            },
            &many,
            |_| {},
            connector,
            |r, _| {
                fatal_is_none(r)?;
                Ok(r.acks >= 1 && r.seen.contains_key("sym100usdt@trade") && r.seen.len() == 101)
            },
        ));
        // serverShutdown: a standby takes over, no gap.
        s.push(run_with(
            "serverShutdown rotates without a gap",
            MockConfig {
                faults: Faults {
                    shutdown_notice_after: Some(20),
                    ..Faults::default()
                },
                ..fast()
            },
            &["btcusdt@aggTrade"],
            |_| {},
            connector,
            |r, c| {
                fatal_is_none(r)?;
                if c.rotations < 1 || c.events < 60 {
                    return Ok(false);
                }
                for v in r.seen.values() {
                    contiguous(v)?;
                }
                Ok(true)
            },
        ));
        // Connections reaching their age limit are replaced, repeatedly, without a gap.
        s.push(run_with(
            "age limit rotates without a gap",
            fast(),
            &["btcusdt@trade", "ethusdt@bookTicker"],
            |c| c.max_connection_age = Duration::from_millis(300),
            connector,
            |r, c| {
                fatal_is_none(r)?;
                if c.rotations < 3 || c.events < 300 {
                    return Ok(false);
                }
                for (stream, v) in &r.seen {
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
                // Replaced connections closed cleanly: the server saw their close frames.
                if r.mock.stats().client_closes.load(Ordering::Relaxed) < 2 {
                    return Ok(false);
                }
                Ok(true)
            },
        ));
        // An HTTP 4xx answer to the upgrade cannot be fixed by retrying: fatal at once.
        s.push(run_with(
            "HTTP 4xx upgrade rejection is fatal",
            MockConfig {
                faults: Faults {
                    reject_upgrade: Some(403),
                    ..Faults::default()
                },
                ..fast()
            },
            &["btcusdt@ticker"],
            |_| {},
            connector,
            |r, c| match &r.fatal {
                Some(e) if e.contains("HTTP 403") && c.reconnects == 0 => Ok(true),
                Some(e) => Err(format!("wrong fatal error: {e} ({c:?})")),
                None => Ok(false),
            },
        ));
        // A 5xx is retried --connect-retries times, then the feed gives up with the cause.
        s.push(run_with(
            "HTTP 5xx retried then given up",
            MockConfig {
                faults: Faults {
                    reject_upgrade: Some(503),
                    ..Faults::default()
                },
                ..fast()
            },
            &["btcusdt@ticker"],
            |c| c.connect_retries = 3,
            connector,
            |r, c| match &r.fatal {
                Some(e)
                    if e.contains("giving up after 3 failed connection attempts")
                        && e.contains("HTTP 503") =>
                {
                    if r.mock.stats().connections.load(Ordering::Relaxed) != 0 || c.reconnects != 2
                    {
                        return Err(format!(
                            "{c:?}, mock connections {}",
                            r.mock.stats().connections.load(Ordering::Relaxed)
                        ));
                    }
                    Ok(true)
                }
                Some(e) => Err(format!("wrong fatal error: {e}")),
                None => Ok(false),
            },
        ));
        // HTTP 429 and 418 (Binance's rate limit and IP ban) carry Retry-After: the next
        // attempt waits for it, within the retry budget, then streams.
        for status in [429, 418] {
            s.push(run_with(
                "HTTP 429/418 upgrade rejection waits for Retry-After",
                MockConfig {
                    faults: Faults {
                        reject_upgrade: Some(status),
                        reject_first: Some(2),
                        retry_after: Some(1),
                        ..Faults::default()
                    },
                    ..fast()
                },
                &["btcusdt@trade"],
                |_| {},
                connector,
                |r, c| {
                    fatal_is_none(r)?;
                    if c.events < 5 {
                        return Ok(false);
                    }
                    let (attempts, gap) = upgrade_attempts(r);
                    let gap = gap.unwrap_or_default();
                    if attempts != 3 || gap < Duration::from_secs(1) || c.reconnects != 2 {
                        return Err(format!(
                            "{attempts} upgrade attempts, smallest gap {gap:?} (want 3, >= 1 s); {c:?}"
                        ));
                    }
                    let want = format!("HTTP {} (Retry-After 1 s)", r.mock_status());
                    if !r.notices.iter().any(|n| n.contains(&want)) {
                        return Err(format!("no notice with {want:?}"));
                    }
                    exactly_once(r)?;
                    Ok(true)
                },
            ));
        }
        // A 429 that never ends uses up the retry budget, still waiting Retry-After each time.
        s.push(run_with(
            "HTTP 429 forever gives up after the retry budget",
            MockConfig {
                faults: Faults {
                    reject_upgrade: Some(429),
                    retry_after: Some(1),
                    ..Faults::default()
                },
                ..fast()
            },
            &["btcusdt@trade"],
            |c| c.connect_retries = 2,
            connector,
            |r, _| match &r.fatal {
                Some(e) => {
                    let want = "giving up after 2 failed connection attempts; last error: \
                                WebSocket upgrade rejected by localhost: HTTP 429 (Retry-After 1 s)";
                    let (attempts, gap) = upgrade_attempts(r);
                    if e != want || attempts != 2 || gap < Some(Duration::from_secs(1)) {
                        return Err(format!("{e:?} after {attempts} attempts, gap {gap:?}"));
                    }
                    Ok(true)
                }
                None => Ok(false),
            },
        ));
        // A replacement (serverShutdown) whose upgrades fail, even with a status that would be
        // fatal for a first connection, never ends the healthy connection: it keeps streaming
        // and the replacement is retried until one takes over, without a gap or a duplicate.
        s.push(run_with(
            "failed replacement keeps the healthy connection",
            MockConfig {
                faults: Faults {
                    shutdown_notice_after: Some(20),
                    ..Faults::default()
                },
                ..fast()
            },
            &["btcusdt@trade"],
            |_| {},
            connector,
            |r, c| {
                fatal_is_none(r)?;
                let stats = r.mock.stats();
                let rejected = stats.rejected_upgrades.load(Ordering::Relaxed);
                if stats.connections.load(Ordering::Relaxed) == 0 {
                    return Ok(false);
                }
                if stats.connections.load(Ordering::Relaxed) == 1 && rejected < 3 {
                    // Upgrades after the first are refused until three were.
                    r.mock.set_faults(Faults {
                        reject_upgrade: Some(403),
                        ..Faults::default()
                    });
                    return Ok(false);
                }
                r.mock.set_faults(Faults::default());
                if stats.connections.load(Ordering::Relaxed) < 2 || c.events < 150 {
                    return Ok(false);
                }
                let failed = r
                    .notices
                    .iter()
                    .filter(|n| n.starts_with("replacement failed") && n.contains("HTTP 403"))
                    .count();
                if failed != 3 || c.reconnects != 0 {
                    return Err(format!("{failed} replacement failures; {c:?}"));
                }
                exactly_once(r)?;
                Ok(true)
            },
        ));
        // Pings keep arriving but market data stops: the data watchdog replaces the connection
        // and the sequence goes on without a gap.
        s.push(run_with(
            "stalled data behind live pings is replaced",
            MockConfig {
                ping_interval: Duration::from_millis(100),
                faults: Faults {
                    data_stall_after: Some(15),
                    ..Faults::default()
                },
                ..fast()
            },
            &["btcusdt@ticker", "btcusdt@trade"],
            |c| c.stall_timeout = StallTimeout::After(Duration::from_millis(700)),
            connector,
            |r, c| {
                fatal_is_none(r)?;
                if c.events < 60 {
                    return Ok(false);
                }
                if !r.notices.iter().any(|n| {
                    n.contains("no market data for 700ms (stall timeout; pings still arrived)")
                }) {
                    return Err(format!("no stall notice; {c:?}"));
                }
                if r.mock.stats().pongs.load(Ordering::Relaxed) < 3 {
                    return Err("pings were not answered while stalled".into());
                }
                exactly_once(r)?;
                Ok(true)
            },
        ));
        // A spot pair whose symbol is not ASCII: percent-encoded in the URL, matched in
        // combined messages, exact values.
        s.push(run_with(
            "non-ASCII symbol raw and combined",
            fast(),
            &["币安人生usdt@trade", "btcusdt@trade"],
            |_| {},
            connector,
            |r, _| {
                fatal_is_none(r)?;
                if !at_least(r, 20) {
                    return Ok(false);
                }
                if !r.seen.contains_key("币安人生usdt@trade") {
                    return Err(format!("streams seen: {:?}", r.seen.keys()));
                }
                exactly_once(r)?;
                Ok(true)
            },
        ));
        s.push(run_with(
            "non-ASCII symbol raw",
            fast(),
            &["币安人生usdt@aggTrade"],
            |_| {},
            connector,
            |r, _| {
                fatal_is_none(r)?;
                if !at_least(r, 20) {
                    return Ok(false);
                }
                if !r.seen.contains_key("币安人生usdt@aggTrade") {
                    return Err(format!("streams seen: {:?}", r.seen.keys()));
                }
                exactly_once(r)?;
                Ok(true)
            },
        ));
        // The endpoint's query goes with every request, once; microsecond times when it asks.
        s.push(run_with(
            "endpoint query reaches the server",
            fast(),
            &["btcusdt@trade"],
            |c| {
                c.endpoint.path = "/proxy".into();
                c.endpoint.query = Some("timeUnit=MICROSECOND&apiKey=x%20y".into());
                c.time_unit = c.endpoint.time_unit();
            },
            connector,
            |r, c| {
                fatal_is_none(r)?;
                if c.events < 5 {
                    return Ok(false);
                }
                let targets = r.mock.stats().request_targets.lock().unwrap().clone();
                if targets != ["/proxy/ws/btcusdt@trade?timeUnit=MICROSECOND&apiKey=x%20y"] {
                    return Err(format!("request targets {targets:?}"));
                }
                Ok(true)
            },
        ));
        // An IPv6 literal endpoint (`wss://[::1]:PORT`): bracketed in the URL and Host header.
        // mbedTLS 2.28 cannot match IP-address SANs, so only this test skips the name check.
        s.push(run_with(
            "IPv6 literal endpoint",
            MockConfig {
                listen: "[::1]:0".parse().unwrap(),
                ..fast()
            },
            &["btcusdt@trade", "ethusdt@ticker"],
            |c| {
                c.endpoint.host = "::1".into();
                c.resolve = None;
            },
            |mock| {
                TlsConnector::builder()
                    .ca_pem(mock.ca_pem().as_bytes().to_vec())
                    .danger_accept_invalid_hostnames(true)
                    .build()
                    .unwrap()
            },
            |r, _| {
                fatal_is_none(r)?;
                if !at_least(r, 10) {
                    return Ok(false);
                }
                exactly_once(r)?;
                Ok(true)
            },
        ));
        s.push(Box::new(Dynamic::new()));
        // Certificate from an unknown CA: fatal, with the reason.
        s.push(run_with(
            "TLS verification failure is fatal",
            fast(),
            &["btcusdt@ticker"],
            |_| {},
            |_| {
                let other = MockExchange::start(MockConfig::default()).expect("other mock");
                TlsConnector::builder()
                    .ca_pem(other.ca_pem().as_bytes().to_vec())
                    .build()
                    .unwrap()
            },
            |r, c| match &r.fatal {
                Some(e)
                    if e.contains("certificate verification failed") && e.contains("untrusted") =>
                {
                    if c.events > 0 {
                        Err("events arrived over an unverified connection".into())
                    } else {
                        Ok(true)
                    }
                }
                Some(e) => Err(format!("wrong fatal error: {e}")),
                None => Ok(false),
            },
        ));
        s
    });
}
