//! What arrives: exact values for every stream kind, raw and combined; pings answered;
//! SUBSCRIBE for streams beyond the URL and at run time (rate-limited); non-ASCII symbols; the
//! endpoint's path and query; an IPv6 literal endpoint.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fstack_binance::feed::{handler_fn, Feed, FeedConfig, Notice, StallTimeout};
use fstack_binance::stream::{Stream, UrlMode};
use fstack_mock_exchange::{MockConfig, MockExchange};
use fstack_tls::TlsConnector;

use crate::common::Scenario;
use crate::harness::{
    at_least, check_exact, connector, exactly_once, fast, fatal_is_none, run_with, KINDS,
};

/// The stream scenarios, appended to `s`.
pub fn add(s: &mut Vec<Box<dyn Scenario>>) {
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
    // An IPv6 literal endpoint (`wss://[::1]:PORT`): bracketed in the URL and Host header,
    // verified against the certificate's iPAddress name.
    s.push(run_with(
        "IPv6 literal endpoint",
        MockConfig {
            listen: "[::1]:0".parse().unwrap(),
            hostnames: vec!["::1".into()],
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
            &mut handler_fn(
                |ev, _| {
                    let stream = ev.stream.map(|s| s.name.to_string()).unwrap_or_default();
                    if let Err(e) = check_exact(&stream, ev) {
                        error.get_or_insert(e);
                    }
                    if unsub_acked && stream == removed {
                        *after += 1;
                    }
                    *seen.entry(stream).or_default() += 1;
                },
                |n| {
                    if let Notice::Ack { id } = n {
                        acks.push(id);
                    }
                },
            ),
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
                // Event-driven streams only: the automatic data watchdog stays off.
                if self.feed.stall_timeout().is_some() {
                    return Some(Err("stall timeout with trade streams only".into()));
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
                // A periodic stream turns the automatic data watchdog on; removing it, off.
                let ticker = Stream::parse("btcusdt@ticker").unwrap();
                self.feed.subscribe(std::slice::from_ref(&ticker)).unwrap();
                let on = self.feed.stall_timeout();
                self.feed.unsubscribe(&[ticker]);
                let off = self.feed.stall_timeout();
                if (on, off) != (Some(StallTimeout::AUTO_PERIODIC), None) {
                    return Some(Err(format!("stall timeout {on:?} then {off:?}")));
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
