//! binance_ticker --publish NAME: every event goes out on the market-data bus, and
//! strategies' commands come back to the feed's SUBSCRIBE/UNSUBSCRIBE path.

use std::time::Instant;

use fstack_binance::bus::publish_event;
use fstack_binance::events::StreamEvent;
use fstack_binance::feed::Feed;
use fstack_binance::stream::{Stream, StreamError, TimeUnit};
use fstack_bus::command::{op, status};
use fstack_bus::{BusConfig, BusPublisher, Command, CommandDecision, CommandReply};

/// The feed's side of the bus.
pub struct TickerBus {
    publisher: BusPublisher,
    unit: TimeUnit,
    /// The stream name of the event being published (reused).
    scratch: String,
    /// Publish failures (iceoryx2 errors; a full subscriber buffer is not one).
    failures: u64,
    /// Records carrying a value that did not fit exactly ([`fstack_bus::record::flags::INEXACT`]).
    inexact: u64,
}

impl TickerBus {
    /// Creates the bus and the services of the streams known at start, so strategies can
    /// attach before the first event.
    pub fn new(name: &str, streams: &[Stream], unit: TimeUnit) -> Result<TickerBus, String> {
        let mut publisher = BusPublisher::new(BusConfig::new(name))
            .map_err(|e| format!("--publish {name}: {e}"))?;
        for s in streams {
            publisher
                .open_stream(s.name())
                .map_err(|e| format!("--publish {name}: {e}"))?;
        }
        Ok(TickerBus {
            publisher,
            unit,
            scratch: String::with_capacity(64),
            failures: 0,
            inexact: 0,
        })
    }

    /// Publishes one event; a failure is counted (and the first one reported), never fatal:
    /// the feed and its other outputs go on.
    pub fn publish(&mut self, ev: &StreamEvent<'_>, receive_us: u64) {
        match publish_event(
            &mut self.publisher,
            ev,
            receive_us,
            self.unit,
            &mut self.scratch,
        ) {
            Ok(p) if !p.exact => self.inexact += 1,
            Ok(_) => {}
            Err(e) => {
                if self.failures == 0 {
                    eprintln!("binance_ticker: bus: {e} (further failures only counted)");
                }
                self.failures += 1;
            }
        }
    }

    /// Answers waiting commands, applying them to `feed`; cleans up dead strategies' ports.
    pub fn poll(&mut self, feed: &mut Feed, now: Instant) {
        let publisher = &mut self.publisher;
        let mut opened = Vec::new();
        publisher.poll_commands(now, |c| {
            let decision = decide(feed, c);
            // The service is named like the events' stream (`ethusdt@aggTrade`), which the
            // parsed stream's name is, whatever case the strategy wrote.
            let parsed = c.stream().ok().and_then(|s| Stream::parse(s).ok());
            if let (CommandDecision::Await(_), Some(s), op::SUBSCRIBE) = (&decision, parsed, c.op) {
                opened.push(s.name().to_owned());
            }
            decision
        });
        for s in opened {
            if let Err(e) = publisher.open_stream(&s) {
                eprintln!("binance_ticker: bus: {s}: {e}");
            }
        }
        publisher.maintain(now);
        // A strategy that attached or left since the last poll: map or unmap its connection
        // here, before this iteration's events, not inside the next record's publish (one
        // atomic load per stream when nothing changed; see BENCHMARKS.md, "Stalls").
        if let Err(e) = publisher.update_connections() {
            eprintln!("binance_ticker: bus: {e}");
        }
    }

    /// The exchange acknowledged control request `id`.
    pub fn on_ack(&mut self, id: u64) {
        self.publisher.on_ack(id);
    }

    /// The exchange rejected a control request.
    pub fn on_rejected(&mut self, id: Option<u64>, code: i64, msg: &str) {
        self.publisher.on_rejected(id, code, msg);
    }

    /// One line for the summary.
    pub fn summary(&self) -> String {
        let c = self.publisher.counters();
        let per: Vec<String> = self
            .publisher
            .drops_all()
            .iter()
            .map(|(id, n)| format!("{id:x}:{n}"))
            .collect();
        format!(
            "binance_ticker: bus {}: published {} records, dropped {} (per subscriber [{}]), \
             failed {}, inexact {}, commands {} (malformed {})",
            self.publisher.name(),
            c.published,
            c.dropped,
            per.join(" "),
            self.failures,
            self.inexact,
            c.commands,
            c.malformed
        )
    }
}

/// What a command does to the feed: SUBSCRIBE/UNSUBSCRIBE through the feed's own path
/// (rate-limited control messages), or an error reply.
fn decide(feed: &mut Feed, c: &Command) -> CommandDecision {
    let bad = |msg: &str| CommandDecision::Reply(CommandReply::new(status::MALFORMED, 0, 0, msg));
    let name = match c.stream() {
        Ok(n) => n,
        Err(why) => return bad(why),
    };
    let stream = match Stream::parse(name) {
        Ok(s) => s,
        // The reply holds 112 bytes: the list of every kind would be cut mid-word.
        Err(StreamError::UnknownKind) => {
            return bad("not a stream name: unknown stream kind (see binance_ticker --help)")
        }
        Err(e) => return bad(&format!("not a stream name: {e}")),
    };
    let present = feed.streams().contains(&stream);
    let connected = feed.is_connected();
    let ids = match c.op {
        op::SUBSCRIBE if present => {
            return CommandDecision::Reply(CommandReply::new(
                status::OK,
                0,
                0,
                "already subscribed",
            ))
        }
        op::SUBSCRIBE => match feed.subscribe(std::slice::from_ref(&stream)) {
            Ok(ids) => ids,
            Err(e) => {
                let msg = e.to_string();
                return CommandDecision::Reply(CommandReply::new(status::REFUSED, 0, 0, &msg));
            }
        },
        op::UNSUBSCRIBE if !present => {
            return CommandDecision::Reply(CommandReply::new(status::OK, 0, 0, "not subscribed"))
        }
        op::UNSUBSCRIBE => feed.unsubscribe(std::slice::from_ref(&stream)),
        other => return bad(&format!("unknown op {other}")),
    };
    if ids.is_empty() && !connected {
        let msg = "no connection open: applied when one opens";
        return CommandDecision::Reply(CommandReply::new(status::QUEUED, 0, 0, msg));
    }
    CommandDecision::Await(ids)
}
