//! Control messages on a market-stream connection: SUBSCRIBE / UNSUBSCRIBE /
//! LIST_SUBSCRIPTIONS requests with their ids, and a rate limiter for everything the client
//! sends (Binance counts pings, pongs and control messages together).
//!
//! The streams themselves (names, kinds, request targets) are in [`crate::stream`].

use std::time::{Duration, Instant};

use crate::stream::Stream;

/// A control request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `SUBSCRIBE`
    Subscribe,
    /// `UNSUBSCRIBE`
    Unsubscribe,
    /// `LIST_SUBSCRIPTIONS`
    ListSubscriptions,
}

impl Method {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Subscribe => "SUBSCRIBE",
            Method::Unsubscribe => "UNSUBSCRIBE",
            Method::ListSubscriptions => "LIST_SUBSCRIPTIONS",
        }
    }
}

/// A control request ready to send as one WebSocket text frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRequest {
    /// The request id; the reply carries it (`{"result":null,"id":7}`).
    pub id: u64,
    /// The method.
    pub method: Method,
    /// The JSON text.
    pub text: String,
}

/// Builds one control request. `streams` is ignored for `LIST_SUBSCRIPTIONS`.
/// `{"method":"SUBSCRIBE","params":["btcusdt@ticker"],"id":1}`
pub fn control_request(method: Method, id: u64, streams: &[Stream]) -> ControlRequest {
    let mut text =
        String::with_capacity(48 + streams.iter().map(|s| s.name().len() + 3).sum::<usize>());
    text.push_str("{\"method\":\"");
    text.push_str(method.as_str());
    text.push('"');
    if method != Method::ListSubscriptions {
        text.push_str(",\"params\":[");
        for (i, s) in streams.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push('"');
            // Names are letters, digits and `@` (see `valid_symbol`): no JSON escaping needed.
            text.push_str(s.name());
            text.push('"');
        }
        text.push(']');
    }
    text.push_str(",\"id\":");
    text.push_str(&id.to_string());
    text.push('}');
    ControlRequest { id, method, text }
}

/// Monotonic request ids starting at 1.
#[derive(Debug, Clone, Default)]
pub struct RequestIds {
    last: u64,
}

impl RequestIds {
    /// Starts at 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next id.
    pub fn next_id(&mut self) -> u64 {
        self.last += 1;
        self.last
    }

    /// Builds SUBSCRIBE (or UNSUBSCRIBE) requests for `streams`, at most `per_request` streams
    /// per request (`per_request` 0 is treated as 1), each with a fresh id. Use after a
    /// (re)connect to a `/ws` or `/stream` target to (re)subscribe everything.
    pub fn requests(
        &mut self,
        method: Method,
        streams: &[Stream],
        per_request: usize,
    ) -> Vec<ControlRequest> {
        streams
            .chunks(per_request.max(1))
            .map(|c| control_request(method, self.next_id(), c))
            .collect()
    }
}

/// Sliding-window limiter for outgoing control messages: at most `max` messages in any
/// `window`. Binance disconnects above 5 incoming messages per second per connection (pings,
/// pongs and control messages all count); [`RateLimiter::binance`] allows 4 per second, evenly
/// spaced.
/// Time is passed in; nothing sleeps. No allocation.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    window: Duration,
    max: usize,
    sent: [Option<Instant>; RateLimiter::MAX_BURST],
    next: usize,
}

impl RateLimiter {
    /// Largest supported `max`.
    pub const MAX_BURST: usize = 16;

    /// At most `max` (clamped to 1..=[`Self::MAX_BURST`]) messages per `window`.
    pub fn new(max: usize, window: Duration) -> Self {
        RateLimiter {
            window,
            max: max.clamp(1, Self::MAX_BURST),
            sent: [None; Self::MAX_BURST],
            next: 0,
        }
    }

    /// 4 messages per second, one per 250 ms (headroom under Binance's 5). No bursts: the
    /// server counts arrivals, and network jitter can squeeze a burst sent at the edge of a
    /// window (4 at t, 4 more at t + 1 s) into less than a second there.
    pub fn binance() -> Self {
        Self::new(1, Duration::from_millis(250))
    }

    /// `None` if a message may be sent at `now`, else the earliest instant it may.
    pub fn next_send_at(&self, now: Instant) -> Option<Instant> {
        // `sent[next]` is the oldest of the last `max` sends.
        let oldest = self.sent[self.next]?;
        let at = oldest + self.window;
        (at > now).then_some(at)
    }

    /// Takes a slot if one is free at `now`; otherwise returns when to retry.
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Instant> {
        match self.next_send_at(now) {
            Some(at) => Err(at),
            None => {
                self.record(now);
                Ok(())
            }
        }
    }

    /// Records a message that was sent regardless of the limit (e.g. a mandatory pong), so
    /// later control messages wait for it.
    pub fn record(&mut self, now: Instant) {
        self.sent[self.next] = Some(now);
        self.next = (self.next + 1) % self.max;
    }

    /// Forgets all history (new connection).
    pub fn reset(&mut self) {
        self.sent = [None; Self::MAX_BURST];
        self.next = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::StreamKind;

    #[test]
    fn control_messages() {
        let a = Stream::new("btcusdt", StreamKind::Ticker).unwrap();
        let b = Stream::new("ethusdt", StreamKind::BookTicker).unwrap();
        let r = control_request(Method::Subscribe, 1, &[a.clone(), b.clone()]);
        assert_eq!(
            r.text,
            r#"{"method":"SUBSCRIBE","params":["btcusdt@ticker","ethusdt@bookTicker"],"id":1}"#
        );
        assert_eq!((r.id, r.method), (1, Method::Subscribe));
        let r = control_request(Method::Unsubscribe, 2, std::slice::from_ref(&b));
        assert_eq!(
            r.text,
            r#"{"method":"UNSUBSCRIBE","params":["ethusdt@bookTicker"],"id":2}"#
        );
        let r = control_request(Method::ListSubscriptions, 3, std::slice::from_ref(&a));
        assert_eq!(r.text, r#"{"method":"LIST_SUBSCRIPTIONS","id":3}"#);
        // Valid JSON.
        let v: serde_json::Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(v["id"], 3);

        let mut ids = RequestIds::new();
        let streams = [a.clone(), b.clone(), a.clone()];
        let reqs = ids.requests(Method::Subscribe, &streams, 2);
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].id, 1);
        assert_eq!(reqs[1].id, 2);
        assert_eq!(
            reqs[1].text,
            r#"{"method":"SUBSCRIBE","params":["btcusdt@ticker"],"id":2}"#
        );
        assert_eq!(ids.requests(Method::Unsubscribe, &streams, 0).len(), 3);
        assert_eq!(ids.next_id(), 6);
    }

    #[test]
    fn rate_limiter_window() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let four_per_second = || RateLimiter::new(4, Duration::from_secs(1));
        let mut rl = four_per_second();
        for i in 0..4 {
            assert_eq!(rl.try_acquire(t0 + ms(i * 10)), Ok(()), "{i}");
        }
        // Fifth within the window: wait until the first send is 1 s old.
        assert_eq!(rl.try_acquire(t0 + ms(50)), Err(t0 + ms(1000)));
        assert_eq!(rl.next_send_at(t0 + ms(999)), Some(t0 + ms(1000)));
        assert_eq!(rl.next_send_at(t0 + ms(1000)), None);
        assert_eq!(rl.try_acquire(t0 + ms(1000)), Ok(()));
        // Next slot frees when the second send (t0+10) is 1 s old.
        assert_eq!(rl.try_acquire(t0 + ms(1001)), Err(t0 + ms(1010)));
        // A forced pong counts.
        rl.reset();
        rl.record(t0);
        rl.record(t0);
        rl.record(t0);
        assert_eq!(rl.try_acquire(t0), Ok(()));
        assert_eq!(rl.try_acquire(t0 + ms(1)), Err(t0 + ms(1000)));
        // Forced sends beyond the limit push the next slot out.
        rl.record(t0 + ms(500));
        assert_eq!(rl.next_send_at(t0 + ms(1000)), None);
        rl.record(t0 + ms(1000));
        rl.record(t0 + ms(1000));
        rl.record(t0 + ms(1000));
        assert_eq!(rl.next_send_at(t0 + ms(1000)), Some(t0 + ms(1500)));
        // Any sliding 1 s window never holds more than 4 acquisitions.
        let mut rl = four_per_second();
        let mut sent = Vec::new();
        let mut now = t0;
        while now < t0 + ms(5000) {
            match rl.try_acquire(now) {
                Ok(()) => sent.push(now),
                Err(at) => assert!(at > now),
            }
            now += ms(7);
        }
        for w in sent.windows(5) {
            assert!(w[4] - w[0] >= ms(1000));
        }
        assert_eq!(sent.len(), 20);
        // Binance's limiter spaces messages evenly: never two within 250 ms.
        let mut rl = RateLimiter::binance();
        let mut sent = Vec::new();
        let mut now = t0;
        while now < t0 + ms(5000) {
            if rl.try_acquire(now).is_ok() {
                sent.push(now);
            }
            now += ms(7);
        }
        assert!(sent.windows(2).all(|w| w[1] - w[0] >= ms(250)));
        assert_eq!(sent.len(), 20);
        assert_eq!(RateLimiter::new(0, ms(1)).max, 1);
        assert_eq!(RateLimiter::new(100, ms(1)).max, RateLimiter::MAX_BURST);
    }
}
