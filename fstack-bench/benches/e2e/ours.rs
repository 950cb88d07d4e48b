//! Ours: `fstack_binance::feed::Feed` inside the F-Stack loop, one step per loop iteration.

use std::time::{Duration, Instant};

use fstack_binance::feed::{handler_fn, Feed, FeedConfig, Notice};
use fstack_binance::stats::unix_micros_now;
use fstack_binance::stream::TimeUnit;
use fstack_tls::TlsConnector;

use crate::measure::{finish, RunResult, Snapshot};
use crate::source::Source;
use crate::{Client, Mode};

pub struct OursRun {
    mode: Mode,
    feed: Feed,
    warmup: u64,
    target: u64,
    seen: u64,
    latency_us: Vec<u32>,
    start: Option<Snapshot>,
    end: Option<Snapshot>,
    deadline: Instant,
    pub problems: u64,
}

impl OursRun {
    pub fn new(mode: Mode, source: &Source, warmup: u64, target: u64) -> OursRun {
        let connector = TlsConnector::builder()
            .ca_pem(source.ca_pem.as_bytes().to_vec())
            .build()
            .expect("TLS connector");
        let mut config = FeedConfig::new("localhost", source.addr.port(), source.streams.clone());
        config.resolve = Some(source.addr);
        config.time_unit = TimeUnit::Microsecond;
        let feed = Feed::new(config, connector).expect("feed");
        OursRun {
            mode,
            feed,
            warmup,
            target,
            seen: 0,
            latency_us: Vec::with_capacity(target as usize),
            start: None,
            end: None,
            deadline: Instant::now() + Duration::from_secs(120),
            problems: 0,
        }
    }

    /// One loop iteration; the result once the run is over.
    pub fn step(&mut self) -> Option<RunResult> {
        let now = Instant::now();
        let (warmup, target) = (self.warmup, self.target);
        let (seen, lat, start, end, problems) = (
            &mut self.seen,
            &mut self.latency_us,
            &mut self.start,
            &mut self.end,
            &mut self.problems,
        );
        let polled = self.feed.poll(
            now,
            &mut handler_fn(
                |ev, _len| {
                    let t = unix_micros_now();
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
                    Notice::Connected { .. } | Notice::Ack { .. } => {}
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
        if self.end.is_some() && !self.feed.is_closed() {
            self.feed.close(now);
        }
        if self.feed.is_closed() {
            let (start, end) = (self.start.expect("start"), self.end.expect("end"));
            let lat = std::mem::take(&mut self.latency_us);
            let cipher = "mbedTLS (see micro benchmarks)".to_owned();
            return Some(finish(Client::Ours, self.mode, start, end, lat, cipher));
        }
        None
    }
}
