//! Ours: `fstack_binance::feed::Feed` inside the F-Stack loop, one step per loop iteration,
//! driven as `binance_ticker` drives it.

use std::time::{Duration, Instant};

use fstack_binance::events::MarketEvent;
use fstack_binance::feed::{handler_fn, Feed, FeedConfig, Notice};
use fstack_binance::stats::unix_micros_now;
use fstack_binance::stream::TimeUnit;
use fstack_tls::TlsConnector;

use crate::measure::{Measured, Snapshot};
use crate::server::FIRST_SEQ;
use crate::source::Source;

pub struct OursRun {
    feed: Option<Feed>,
    warmup: u64,
    target: u64,
    seen: u64,
    next_seq: u64,
    seq_errors: u64,
    latency_us: Vec<u32>,
    start: Option<Snapshot>,
    end: Option<Snapshot>,
    suite: Option<u16>,
    deadline: Instant,
    pub problems: u64,
}

impl OursRun {
    pub fn new(connector: TlsConnector, source: &Source, warmup: u64, target: u64) -> OursRun {
        let addr = source.server.addr();
        let mut config = FeedConfig::new("localhost", addr.port(), source.streams.clone());
        config.resolve = Some(addr);
        config.time_unit = TimeUnit::Microsecond;
        let feed = Feed::new(config, connector).expect("feed");
        OursRun {
            feed: Some(feed),
            warmup,
            target,
            seen: 0,
            next_seq: FIRST_SEQ,
            seq_errors: 0,
            latency_us: Vec::with_capacity(target as usize),
            start: None,
            end: None,
            suite: None,
            deadline: Instant::now() + Duration::from_secs(120),
            problems: 0,
        }
    }

    /// One loop iteration; what was measured once the run is over (the connection closed).
    pub fn step(&mut self) -> Option<Measured> {
        let now = Instant::now();
        let (warmup, target) = (self.warmup, self.target);
        let (seen, next_seq, seq_errors, lat, start, end, suite, problems) = (
            &mut self.seen,
            &mut self.next_seq,
            &mut self.seq_errors,
            &mut self.latency_us,
            &mut self.start,
            &mut self.end,
            &mut self.suite,
            &mut self.problems,
        );
        let feed = self.feed.as_mut().expect("feed");
        let polled = feed.poll(
            now,
            &mut handler_fn(
                |ev, _len| {
                    let t = unix_micros_now();
                    if let MarketEvent::Ticker(ticker) = &ev.event {
                        if ticker.trade_count != *next_seq {
                            *seq_errors += 1;
                        }
                        *next_seq = ticker.trade_count + 1;
                    }
                    *seen += 1;
                    if *seen > warmup && *seen <= warmup + target {
                        lat.push(t.saturating_sub(ev.event_time().unwrap_or(t)) as u32);
                        if *seen == warmup + target {
                            *end = Some(Snapshot::now());
                        }
                    } else if *seen == warmup {
                        *start = Some(Snapshot::now());
                    }
                },
                |notice| match notice {
                    Notice::Connected { tls, .. } => *suite = tls.cipher_suite,
                    Notice::Ack { .. } => {}
                    Notice::Disconnected { cause, .. } => {
                        eprintln!("e2e: ours: disconnected: {cause}");
                        *problems += 1;
                    }
                    Notice::Malformed { error } => {
                        eprintln!("e2e: ours: malformed: {error}");
                        *problems += 1;
                    }
                    _ => {}
                },
            ),
        );
        if let Err(e) = polled {
            panic!("e2e: ours: feed failed: {e}");
        }
        if now > self.deadline {
            panic!(
                "e2e: ours: run did not finish in time ({} events)",
                self.seen
            );
        }
        if self.end.is_some() && !feed.is_closed() {
            feed.close(now);
        }
        if feed.is_closed() {
            // Dropping the feed closes its socket: the server waits for that end.
            self.feed = None;
            return Some(Measured {
                start: self.start.expect("start"),
                end: self.end.expect("end"),
                latency_us: std::mem::take(&mut self.latency_us),
                seq_errors: self.seq_errors,
                events: self.target,
                client_suite: self.suite,
            });
        }
        None
    }
}
