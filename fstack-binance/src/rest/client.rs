//! [`RestClient`]: the connection and request queue behind the [`super`] module's rules.

use std::collections::VecDeque;
use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::ops::Range;
use std::time::{Duration, Instant};

use fstack::{Events, FStackSocket, Poll, Token};
use fstack_tls::dial::Dial;
use fstack_tls::{TlsConnector, TlsStream};

use super::budget::WeightBudget;
use super::response::ResponseReader;
use super::{RestConfig, RestError, RestEvent};
use crate::backoff::{Backoff, Jitter};

type Tls = TlsStream<FStackSocket>;

/// Counts over a [`RestClient`]'s lifetime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestCounters {
    /// Attempts sent.
    pub requests: u64,
    /// Answers received, any status.
    pub responses: u64,
    /// Attempts that will be made again (after 429/418, 5xx, or a failure).
    pub retries: u64,
    /// HTTP 429 and 418 answers.
    pub rate_limited: u64,
    /// HTTP 5xx answers.
    pub server_errors: u64,
    /// Requests given up after [`RestConfig::max_attempts`].
    pub failed: u64,
    /// Connections opened.
    pub connections: u64,
    /// Request weight spent (as the requests declared it): requests sent whole to the
    /// server; one that never reached it (no connection) costs nothing.
    pub weight: u64,
    /// The last `X-MBX-USED-WEIGHT-1M` the server sent: the weight it counted for this IP in
    /// the current minute, other programs' requests included.
    pub server_weight: Option<u32>,
}

struct Request {
    id: u64,
    target: String,
    weight: u32,
    /// Failed attempts so far.
    attempts: u32,
    not_before: Option<Instant>,
    /// Already sent once more because a kept-alive connection had closed under it.
    resent: bool,
    /// Its wait for the weight budget was reported.
    budget_reported: bool,
}

/// The request being answered.
struct Active {
    req: Request,
    started: Instant,
    bytes: Vec<u8>,
    /// Sent over a connection that had served an earlier request.
    reused: bool,
}

enum Phase {
    Dialing(Box<Dial>),
    Idle(Tls),
    Sending(Tls, usize),
    Receiving(Tls),
    Closed,
}

struct Conn {
    token: Token,
    phase: Phase,
    readable: bool,
    writable: bool,
}

/// HTTPS GET requests to one host over a keep-alive connection, inside the F-Stack loop;
/// see the [module docs](super).
pub struct RestClient {
    config: RestConfig,
    connector: TlsConnector,
    /// Its own poll, unless it registers on the caller's ([`RestClient::with_tokens`]).
    own: Option<(Poll, Events)>,
    /// The tokens its connections take, in turn.
    tokens: Range<usize>,
    conn: Option<Conn>,
    next_token: usize,
    queue: VecDeque<Request>,
    active: Option<Active>,
    reader: ResponseReader,
    buf: Vec<u8>,
    paused_until: Option<Instant>,
    backoff: Backoff,
    budget: WeightBudget,
    next_id: u64,
    counters: RestCounters,
    closing: bool,
    /// Connection attempts in a row that failed (DNS, TCP, TLS, or no connection within the
    /// request timeout); a connection made resets it.
    failed_connects: u32,
    /// Why the last of them failed.
    last_connect_error: Option<String>,
}

impl fmt::Debug for RestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestClient")
            .field("endpoint", &self.config.endpoint.url())
            .field("queued", &self.queue.len())
            .field("active", &self.active.as_ref().map(|a| a.req.id))
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl RestClient {
    /// A client with its own poll; nothing is sent until [`poll`](Self::poll). Call on the
    /// F-Stack thread after `Stack::init`.
    pub fn new(config: RestConfig, connector: TlsConnector) -> Result<RestClient, RestError> {
        let poll = Poll::new().map_err(RestError::Poll)?;
        let mut client = RestClient::with_tokens(config, connector, 1..usize::MAX)?;
        client.own = Some((poll, Events::with_capacity(4)));
        Ok(client)
    }

    /// A client that registers its connection on the caller's [`Poll`] with tokens from
    /// `tokens` (each new connection takes the next one, wrapping around; at least 4, not
    /// overlapping the caller's other tokens), so that one `ff_epoll_wait` per iteration
    /// serves it and the caller's other sockets: poll, then hand the events to
    /// [`poll_on`](Self::poll_on). [`poll`](Self::poll) is not available on such a client.
    pub fn with_tokens(
        config: RestConfig,
        connector: TlsConnector,
        tokens: Range<usize>,
    ) -> Result<RestClient, RestError> {
        if tokens.len() < 4 {
            return Err(RestError::Poll(fstack::Error::InvalidArgument(format!(
                "REST token range {tokens:?} holds fewer than 4 tokens"
            ))));
        }
        let backoff = Backoff::new(
            config.backoff_initial,
            config.backoff_max,
            Jitter::Decorrelated,
        );
        let budget = WeightBudget::new(config.weight_per_minute);
        Ok(RestClient {
            reader: ResponseReader::new(config.max_body),
            config,
            connector,
            own: None,
            next_token: tokens.start,
            tokens,
            conn: None,
            queue: VecDeque::new(),
            active: None,
            buf: vec![0; 16 << 10],
            paused_until: None,
            backoff,
            budget,
            next_id: 0,
            counters: RestCounters::default(),
            closing: false,
            failed_connects: 0,
            last_connect_error: None,
        })
    }

    /// Counts so far.
    pub fn counters(&self) -> RestCounters {
        self.counters
    }

    /// Connection attempts in a row that failed (name resolution, TCP, TLS, or no
    /// connection within the request timeout), and why the last one failed; 0 once a
    /// connection is made.
    pub fn failed_connects(&self) -> (u32, Option<&str>) {
        (self.failed_connects, self.last_connect_error.as_deref())
    }

    /// The configuration.
    pub fn config(&self) -> &RestConfig {
        &self.config
    }

    /// Queues `GET target` (path and query, e.g. `/api/v3/depth?symbol=BTCUSDT&limit=1000`)
    /// of request weight `weight`; returns its id, which [`RestEvent`]s carry.
    pub fn get(&mut self, target: String, weight: u32) -> u64 {
        self.next_id += 1;
        self.queue.push_back(Request {
            id: self.next_id,
            target,
            weight,
            attempts: 0,
            not_before: None,
            budget_reported: false,
            resent: false,
        });
        self.next_id
    }

    /// Requests queued or under way.
    pub fn pending(&self) -> usize {
        self.queue.len() + usize::from(self.active.is_some())
    }

    /// Drops every request and closes the connection (TLS close_notify, best effort).
    pub fn close(&mut self) {
        self.closing = true;
        self.queue.clear();
        self.active = None;
        if let Some(conn) = self.conn.take() {
            if let Phase::Idle(mut tls) | Phase::Sending(mut tls, _) | Phase::Receiving(mut tls) =
                conn.phase
            {
                let _ = tls.shutdown();
            }
        }
    }

    /// Advances everything that is ready, without blocking; reports answers, retries and
    /// failures to `on`. Returns an error only for failures that end the client
    /// ([`RestError::is_fatal`]).
    pub fn poll(
        &mut self,
        now: Instant,
        on: &mut dyn FnMut(RestEvent<'_>),
    ) -> Result<(), RestError> {
        let Some((mut poll, mut events)) = self.own.take() else {
            return Err(RestError::Poll(fstack::Error::InvalidArgument(
                "this client registers on the caller's Poll: call RestClient::poll_on".into(),
            )));
        };
        let polled = poll
            .poll(&mut events)
            .map_err(RestError::Poll)
            .and_then(|()| self.step(now, &mut poll, &events, on));
        self.own = Some((poll, events));
        polled
    }

    /// True when `token` is one of this client's.
    pub fn owns(&self, token: Token) -> bool {
        self.tokens.contains(&token.0)
    }

    /// [`poll`](Self::poll) for a client made by [`with_tokens`](Self::with_tokens): `events`
    /// are what the caller's `poll` just collected (the client takes its own tokens' and
    /// ignores the rest); its connection is registered on `poll`. Call it once per iteration,
    /// whether or not an event is the client's: its timers advance here.
    pub fn poll_on(
        &mut self,
        now: Instant,
        poll: &mut Poll,
        events: &Events,
        on: &mut dyn FnMut(RestEvent<'_>),
    ) -> Result<(), RestError> {
        self.step(now, poll, events, on)
    }

    fn step(
        &mut self,
        now: Instant,
        poll: &mut Poll,
        events: &Events,
        on: &mut dyn FnMut(RestEvent<'_>),
    ) -> Result<(), RestError> {
        if let Some(conn) = self.conn.as_mut() {
            for ev in events {
                if ev.token() == conn.token {
                    conn.readable |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
                    conn.writable |= ev.is_writable() || ev.is_error();
                }
            }
        }
        let timeout = self.config.request_timeout;
        if self
            .active
            .as_ref()
            .is_some_and(|a| now.duration_since(a.started) > timeout)
        {
            let dialing = self
                .conn
                .as_ref()
                .is_some_and(|c| matches!(c.phase, Phase::Dialing(_)));
            self.conn = None;
            let error = RestError::Timeout(timeout);
            if dialing {
                self.connect_failed(&error);
            }
            self.fail(now, error, on)?;
        }
        self.start_next(now, on);
        self.advance(now, poll, on)
    }

    /// Takes the first queued request that may be sent at `now` (its weight is spent once it
    /// has been sent whole). A request
    /// waiting for its retry delay (`not_before`) steps aside for the ones behind it, so one
    /// symbol's failing requests do not hold up the others; the weight budget is waited for
    /// in queue order, and a request that waits for it is reported once.
    fn next_ready(&mut self, now: Instant, on: &mut dyn FnMut(RestEvent<'_>)) -> Option<Request> {
        let i = self
            .queue
            .iter()
            .position(|r| r.not_before.is_none_or(|t| now >= t))?;
        let weight = self.queue[i].weight;
        let at = self.budget.available_at(now, weight);
        if at > now {
            let used = self.budget.used(now);
            let req = &mut self.queue[i];
            if !req.budget_reported {
                req.budget_reported = true;
                on(RestEvent::WaitingForBudget {
                    id: req.id,
                    wait: at - now,
                    used,
                    weight,
                });
            }
            return None;
        }
        self.queue.remove(i)
    }

    fn start_next(&mut self, now: Instant, on: &mut dyn FnMut(RestEvent<'_>)) {
        if self.active.is_some() || self.closing || self.paused_until.is_some_and(|t| now < t) {
            return;
        }
        let Some(req) = self.next_ready(now, on) else {
            return;
        };
        self.counters.requests += 1;
        let bytes = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: fstack-binance/{}\r\n\
             Accept: application/json\r\n\r\n",
            req.target,
            self.config.endpoint.authority(),
            env!("CARGO_PKG_VERSION")
        )
        .into_bytes();
        self.reader.reset();
        let reused = match self.conn.as_mut() {
            Some(conn) => match std::mem::replace(&mut conn.phase, Phase::Closed) {
                Phase::Idle(tls) => {
                    conn.phase = Phase::Sending(tls, 0);
                    conn.writable = true;
                    true
                }
                other => {
                    conn.phase = other;
                    false
                }
            },
            None => {
                let token = Token(self.next_token);
                self.next_token = if self.next_token + 1 >= self.tokens.end {
                    self.tokens.start
                } else {
                    self.next_token + 1
                };
                let e = &self.config.endpoint;
                let dial = Dial::start(&self.connector, &e.host, e.port, self.config.resolve);
                self.conn = Some(Conn {
                    token,
                    phase: Phase::Dialing(Box::new(dial)),
                    readable: false,
                    writable: false,
                });
                false
            }
        };
        self.active = Some(Active {
            req,
            started: now,
            bytes,
            reused,
        });
    }

    fn advance(
        &mut self,
        now: Instant,
        poll: &mut Poll,
        on: &mut dyn FnMut(RestEvent<'_>),
    ) -> Result<(), RestError> {
        let Some(mut conn) = self.conn.take() else {
            return Ok(());
        };
        loop {
            match std::mem::replace(&mut conn.phase, Phase::Closed) {
                Phase::Dialing(mut dial) => {
                    let ready =
                        std::mem::take(&mut conn.readable) | std::mem::take(&mut conn.writable);
                    match dial.advance(ready, poll, conn.token) {
                        Ok(Some(tls)) => {
                            self.counters.connections += 1;
                            self.failed_connects = 0;
                            self.last_connect_error = None;
                            conn.phase = if self.active.is_some() {
                                Phase::Sending(tls, 0)
                            } else {
                                Phase::Idle(tls)
                            };
                            conn.readable = true;
                            conn.writable = true;
                        }
                        Ok(None) => {
                            conn.phase = Phase::Dialing(dial);
                            break;
                        }
                        Err(e) => {
                            let error = RestError::Dial(e);
                            self.connect_failed(&error);
                            return self.fail(now, error, on);
                        }
                    }
                }
                Phase::Sending(mut tls, off) => {
                    let Some(active) = self.active.as_ref() else {
                        conn.phase = Phase::Idle(tls);
                        break;
                    };
                    if !conn.writable {
                        conn.phase = Phase::Sending(tls, off);
                        break;
                    }
                    let step = if off < active.bytes.len() {
                        tls.write(&active.bytes[off..]).map(|n| off + n)
                    } else {
                        tls.flush().map(|()| usize::MAX)
                    };
                    match step {
                        Ok(usize::MAX) => {
                            // Sent whole: the server counts its weight.
                            let weight = active.req.weight;
                            self.budget.spend(now, weight);
                            self.counters.weight += u64::from(weight);
                            conn.phase = Phase::Receiving(tls);
                            conn.readable = true;
                        }
                        Ok(next) if next > off => conn.phase = Phase::Sending(tls, next),
                        Ok(_) => {
                            let e = std::io::Error::new(ErrorKind::WriteZero, "write returned 0");
                            return self.fail(now, RestError::Io(e), on);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            conn.writable = false;
                            conn.phase = Phase::Sending(tls, off);
                            break;
                        }
                        Err(e) => return self.fail(now, RestError::Io(e), on),
                    }
                }
                Phase::Receiving(mut tls) => {
                    if !conn.readable {
                        conn.phase = Phase::Receiving(tls);
                        break;
                    }
                    let mut eof = false;
                    let fed = match tls.read(&mut self.buf) {
                        Ok(0) => {
                            eof = true;
                            self.reader.end_of_stream().map(|()| true)
                        }
                        Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                            eof = true;
                            self.reader.end_of_stream().map(|()| true)
                        }
                        Ok(n) => self.reader.feed(&self.buf[..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            conn.readable = false;
                            conn.phase = Phase::Receiving(tls);
                            break;
                        }
                        Err(e) => return self.fail(now, RestError::Io(e), on),
                    };
                    match fed {
                        Ok(true) => {
                            if self.finish(now, on) && !eof {
                                conn.phase = Phase::Idle(tls);
                                // The next request may be waiting: start it at once.
                                self.conn = Some(conn);
                                self.start_next(now, on);
                                let Some(c) = self.conn.take() else {
                                    return Ok(());
                                };
                                conn = c;
                            } else {
                                let _ = tls.shutdown();
                                return Ok(());
                            }
                        }
                        Ok(false) => conn.phase = Phase::Receiving(tls),
                        Err(e) => return self.fail(now, RestError::Http(e), on),
                    }
                }
                Phase::Idle(mut tls) => {
                    if conn.readable {
                        // Nothing is expected: the server closing the idle connection, or
                        // bytes that do not belong to any request.
                        match tls.read(&mut self.buf) {
                            Err(e) if e.kind() == ErrorKind::WouldBlock => conn.readable = false,
                            _ => return Ok(()),
                        }
                    }
                    conn.phase = Phase::Idle(tls);
                    break;
                }
                Phase::Closed => return Ok(()),
            }
        }
        self.conn = Some(conn);
        Ok(())
    }

    /// The active request's answer is complete; returns whether the connection may serve
    /// another request.
    fn finish(&mut self, now: Instant, on: &mut dyn FnMut(RestEvent<'_>)) -> bool {
        let (Some(active), Some(head)) = (self.active.take(), self.reader.head().cloned()) else {
            return false;
        };
        self.counters.responses += 1;
        if head.used_weight.is_some() {
            self.counters.server_weight = head.used_weight;
        }
        let keep = head.keep_alive && !self.reader.has_excess();
        let error = || RestError::Status {
            host: self.config.endpoint.host.clone(),
            status: head.status,
            retry_after: head.retry_after,
        };
        match head.status {
            429 | 418 => {
                // The whole client waits: the limit is the IP address's.
                let err = error();
                self.counters.rate_limited += 1;
                self.counters.retries += 1;
                let wait = head.retry_after.unwrap_or(self.config.backoff_max);
                // Counted from when the answer was read: `now` was taken before this poll's
                // wait and read, and a request sent and answered within one poll would be
                // sent again up to that much before Retry-After had passed.
                self.paused_until = Some(Instant::now().max(now) + wait);
                let id = active.req.id;
                self.queue.push_front(active.req);
                on(RestEvent::Retrying {
                    id,
                    error: &err,
                    retry_in: wait,
                });
            }
            500..=599 => {
                let err = error();
                self.counters.server_errors += 1;
                self.retry(now, active.req, err, on);
            }
            status => {
                self.backoff.reset();
                on(RestEvent::Response {
                    id: active.req.id,
                    status,
                    body: self.reader.body(),
                });
            }
        }
        keep
    }

    /// The active attempt failed (the connection is gone): fatal, sent again at once (a
    /// kept-alive connection that the server had closed), or retried after the backoff.
    fn fail(
        &mut self,
        now: Instant,
        error: RestError,
        on: &mut dyn FnMut(RestEvent<'_>),
    ) -> Result<(), RestError> {
        self.conn = None;
        if error.is_fatal() {
            return Err(error);
        }
        let Some(active) = self.active.take() else {
            return Ok(());
        };
        let stale_connection = active.reused
            && !self.reader.received_any()
            && !active.req.resent
            && matches!(error, RestError::Io(_) | RestError::Http(_));
        if stale_connection {
            let mut req = active.req;
            req.resent = true;
            self.queue.push_front(req);
            return Ok(());
        }
        self.retry(now, active.req, error, on);
        Ok(())
    }

    fn connect_failed(&mut self, error: &RestError) {
        self.failed_connects = self.failed_connects.saturating_add(1);
        self.last_connect_error = Some(error.to_string());
    }

    fn retry(
        &mut self,
        now: Instant,
        mut req: Request,
        error: RestError,
        on: &mut dyn FnMut(RestEvent<'_>),
    ) {
        req.attempts += 1;
        if req.attempts >= self.config.max_attempts.max(1) {
            self.counters.failed += 1;
            on(RestEvent::Failed {
                id: req.id,
                error: &error,
            });
            return;
        }
        let delay: Duration = self.backoff.next_delay();
        req.not_before = Some(now + delay);
        self.counters.retries += 1;
        let id = req.id;
        self.queue.push_front(req);
        on(RestEvent::Retrying {
            id,
            error: &error,
            retry_in: delay,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::RestEndpoint;

    fn client(weight_per_minute: u32) -> RestClient {
        let mut config = RestConfig::new(RestEndpoint::parse("https://api.example.test").unwrap());
        config.weight_per_minute = weight_per_minute;
        let connector = TlsConnector::builder().build().unwrap();
        RestClient::with_tokens(config, connector, 1..5).unwrap()
    }

    fn none(_: RestEvent<'_>) {
        panic!("no event expected");
    }

    fn ids(c: &RestClient) -> Vec<u64> {
        c.queue.iter().map(|r| r.id).collect()
    }

    /// A request waiting for its retry delay lets the others go first.
    #[test]
    fn a_request_waiting_to_retry_steps_aside() {
        let mut c = client(3000);
        let now = Instant::now();
        let a = c.get("/a".into(), 5);
        let b = c.get("/b".into(), 5);
        let cc = c.get("/c".into(), 5);
        c.queue[0].not_before = Some(now + Duration::from_secs(5));
        assert_eq!(c.next_ready(now, &mut none).map(|r| r.id), Some(b));
        assert_eq!(ids(&c), [a, cc]);
        assert_eq!(c.next_ready(now, &mut none).map(|r| r.id), Some(cc));
        assert!(
            c.next_ready(now, &mut none).is_none(),
            "a waits for its delay"
        );
        assert_eq!(
            c.next_ready(now + Duration::from_secs(5), &mut none)
                .map(|r| r.id),
            Some(a)
        );
        assert!(c.queue.is_empty());
    }

    /// The weight budget is waited for in queue order: a ready request that does not fit
    /// keeps the ones behind it waiting too.
    #[test]
    fn the_budget_is_waited_for_in_order() {
        let mut c = client(10);
        let now = Instant::now();
        let a = c.get("/a".into(), 8);
        let b = c.get("/b".into(), 5);
        let d = c.get("/d".into(), 1);
        assert_eq!(c.next_ready(now, &mut none).map(|r| r.id), Some(a));
        // Taking a request spends nothing: only a request sent whole does.
        assert_eq!(c.budget.used(now), 0);
        c.budget.spend(now, 8);
        // b waits for the budget: reported once, with the wait and the weights.
        let mut seen = Vec::new();
        let mut record = |e: RestEvent<'_>| seen.push(format!("{e:?}"));
        let soon = now + Duration::from_secs(20);
        assert!(c.next_ready(now, &mut record).is_none());
        assert!(c.next_ready(soon, &mut record).is_none());
        assert_eq!(
            seen,
            [format!(
                "WaitingForBudget {{ id: {b}, wait: 60s, used: 8, weight: 5 }}"
            )]
        );
        assert_eq!(ids(&c), [b, d]);
        let later = now + super::super::budget::WINDOW;
        assert_eq!(c.next_ready(later, &mut none).map(|r| r.id), Some(b));
    }
}
