//! The connection driver: one Binance market-data feed over `wss://` inside the F-Stack loop.
//!
//! [`Feed::poll`] is called once per loop iteration and never blocks. It walks each connection
//! through DNS (kernel resolver on a helper thread, or a `--resolve` override), a non-blocking
//! TCP connect on an [`FStackSocket`](fstack::FStackSocket), the TLS handshake (hostname verified), the WebSocket
//! upgrade, then reads frames until `WouldBlock`, decoding every text frame and handing market
//! events to the caller. It answers pings (tungstenite queues the pong; the feed flushes it),
//! honours close frames, sends SUBSCRIBE requests within Binance's message rate limit, and
//! reconnects with backoff after any failure, resubscribing everything. A connection close to
//! Binance's 24-hour limit, or one announcing `serverShutdown`, is replaced by a standby
//! connection that takes over once it delivers data, so no window of events is missed.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use fstack::{Events, Poll, Token};
use fstack_tls::{cipher_suite_name, Engine, Protocol, TlsConnector};

mod config;
mod connection;
mod error;
mod overlap;
mod websocket;

pub use config::{FeedConfig, StallTimeout};
pub(crate) use error::parse_retry_after;
pub use error::FeedError;
pub use websocket::{websocket_config, WebSocketError};

use crate::backoff::{Backoff, Jitter};
use crate::control::{Method, RequestIds};
use crate::events::StreamEvent;
use crate::stream::Stream;
use connection::{begin_close, Conn, Phase, Step};
use error::is_rate_limit_status;
use overlap::Overlap;

/// Streams per SUBSCRIBE request when subscribing after connect.
const STREAMS_PER_REQUEST: usize = 200;
/// Streams put into the URL itself; the rest are subscribed with SUBSCRIBE.
const STREAMS_IN_URL: usize = 100;
/// Messages read from one connection per poll. Under a flood the socket never runs dry; the
/// budget keeps timers, shutdown and the other connection serviced. The connection stays
/// marked readable, so the next poll continues where this one stopped.
const READ_BUDGET: usize = 512;

/// Receives what a [`Feed`] produces: market events, and notices about everything else.
///
/// Called from [`Feed::poll`] inside the F-Stack loop: keep the work short (format, copy,
/// hand off); the loop waits meanwhile.
pub trait FeedHandler {
    /// A market event, delivered once even while two connections overlap. `frame_len` is the
    /// size in bytes of the WebSocket text frame that carried it. `event` borrows the frame:
    /// copy what must outlive the call.
    fn on_event(&mut self, event: &StreamEvent<'_>, frame_len: usize);

    /// Connections made and lost, replacements, skipped messages, control replies. The
    /// default ignores them.
    fn on_notice(&mut self, notice: Notice<'_>) {
        let _ = notice;
    }
}

/// A [`FeedHandler`] made of two closures, for small programs and tests:
/// `feed.poll(now, &mut handler_fn(|event, len| { ... }, |notice| { ... }))`.
pub fn handler_fn<E, N>(on_event: E, on_notice: N) -> impl FeedHandler
where
    E: FnMut(&StreamEvent<'_>, usize),
    N: FnMut(Notice<'_>),
{
    struct Fns<E, N>(E, N);
    impl<E, N> FeedHandler for Fns<E, N>
    where
        E: FnMut(&StreamEvent<'_>, usize),
        N: FnMut(Notice<'_>),
    {
        fn on_event(&mut self, event: &StreamEvent<'_>, frame_len: usize) {
            (self.0)(event, frame_len)
        }
        fn on_notice(&mut self, notice: Notice<'_>) {
            (self.1)(notice)
        }
    }
    Fns(on_event, on_notice)
}

/// What a connection's TLS handshake negotiated (see [`Notice::Connected`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsInfo {
    /// The engine of the connector the feed was given.
    pub engine: Engine,
    /// The protocol version.
    pub protocol: Option<Protocol>,
    /// The cipher suite's IANA number, e.g. `0x1301`.
    pub cipher_suite: Option<u16>,
}

impl fmt::Display for TlsInfo {
    /// `TLSv1.3 TLS_AES_128_GCM_SHA256 (rustls)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.protocol {
            Some(p) => write!(f, "{p}")?,
            None => f.write_str("TLS (version unknown)")?,
        }
        match self.cipher_suite {
            Some(s) => match cipher_suite_name(s) {
                Some(name) => write!(f, " {name}")?,
                None => write!(f, " cipher suite 0x{s:04X}")?,
            },
            None => f.write_str(" (cipher suite unknown)")?,
        }
        write!(f, " ({})", self.engine)
    }
}

/// What the feed reports to its caller besides market events.
pub enum Notice<'a> {
    /// A connection is streaming.
    Connected {
        /// Peer address.
        addr: SocketAddr,
        /// True for a standby that will replace the current connection.
        standby: bool,
        /// What the TLS handshake negotiated.
        tls: TlsInfo,
    },
    /// A connection ended; a new attempt follows after `retry_in`.
    Disconnected {
        /// Why.
        cause: &'a FeedError,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// The connection meant to replace the current one failed; the current one keeps
    /// streaming and another replacement is tried after `retry_in`.
    ReplacementFailed {
        /// Why.
        cause: &'a FeedError,
        /// Delay before the next replacement attempt.
        retry_in: Duration,
    },
    /// A connection is being replaced (age limit or `serverShutdown`).
    Rotating {
        /// Why.
        reason: &'static str,
    },
    /// A text frame that is not a valid message was skipped.
    Malformed {
        /// The decoding error.
        error: &'a dyn fmt::Display,
    },
    /// The server acknowledged a control request.
    Ack {
        /// Request id.
        id: u64,
    },
    /// The server rejected a control request.
    ControlError {
        /// The id of the request it answers, when the server names one.
        id: Option<u64>,
        /// Binance error code.
        code: i64,
        /// Binance message.
        msg: &'a str,
    },
}

/// Counters over the feed's lifetime.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FeedCounters {
    /// Market events delivered.
    pub events: u64,
    /// Text and binary WebSocket messages received: events (delivered or deduplicated),
    /// control replies, skipped ones.
    pub messages: u64,
    /// Payload bytes of all frames received.
    pub bytes: u64,
    /// Reconnects after a failure.
    pub reconnects: u64,
    /// Malformed or unexpected messages skipped.
    pub malformed: u64,
    /// Oversize messages (each also replaced its connection).
    pub oversize: u64,
    /// Pings received (each answered).
    pub pings: u64,
    /// Connections replaced before their end (age or `serverShutdown`): counted when the
    /// replacement takes over.
    pub rotations: u64,
}

impl fmt::Debug for Notice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Connected { addr, standby, tls } => f
                .debug_struct("Connected")
                .field("addr", addr)
                .field("standby", standby)
                .field("tls", tls)
                .finish(),
            Notice::Disconnected { cause, retry_in } => f
                .debug_struct("Disconnected")
                .field("cause", cause)
                .field("retry_in", retry_in)
                .finish(),
            Notice::ReplacementFailed { cause, retry_in } => f
                .debug_struct("ReplacementFailed")
                .field("cause", cause)
                .field("retry_in", retry_in)
                .finish(),
            Notice::Rotating { reason } => {
                f.debug_struct("Rotating").field("reason", reason).finish()
            }
            Notice::Malformed { error } => f
                .debug_struct("Malformed")
                .field("error", &error.to_string())
                .finish(),
            Notice::Ack { id } => f.debug_struct("Ack").field("id", id).finish(),
            Notice::ControlError { id, code, msg } => f
                .debug_struct("ControlError")
                .field("id", id)
                .field("code", code)
                .field("msg", msg)
                .finish(),
        }
    }
}

/// A resilient Binance market-data feed; see the [module docs](self).
pub struct Feed {
    config: FeedConfig,
    connector: TlsConnector,
    /// The feed's own poll and its events; `None` when it registers on the caller's
    /// ([`Feed::with_tokens`]).
    own: Option<(Poll, Events)>,
    /// The tokens its connections take, in turn.
    tokens: Range<usize>,
    primary: Option<Conn>,
    standby: Option<Conn>,
    /// The last token handed out (`tokens.start` before the first connection).
    next_token: usize,
    backoff: Backoff,
    retry_at: Option<Instant>,
    failures: u32,
    counters: FeedCounters,
    closing: bool,
    ids: RequestIds,
    /// While a standby overlaps the primary: the highest ordering key delivered per stream, so
    /// that events both connections carry are delivered once. Empty outside an overlap.
    overlap: Overlap,
    /// A replaced connection finishing its close handshake.
    retiring: Option<Conn>,
    /// After a failed standby, when the next may be tried.
    standby_retry_at: Option<Instant>,
    /// Why the current connection is being replaced, until a replacement takes over.
    rotation: Option<&'static str>,
    /// `config.stall_timeout` resolved for `config.streams`, kept current by
    /// [`Feed::subscribe`] and [`Feed::unsubscribe`]: resolving it walks every stream, and the
    /// watchdog checks it on every poll.
    stall_timeout: Option<Duration>,
}

impl fmt::Debug for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feed")
            .field("endpoint", &self.config.endpoint)
            .field("streams", &self.config.streams.len())
            .field("connected", &self.is_connected())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Feed {
    /// Creates the feed; nothing happens until [`poll`](Self::poll). Must be called on the
    /// F-Stack thread after `Stack::init`.
    pub fn new(config: FeedConfig, connector: TlsConnector) -> Result<Feed, FeedError> {
        let poll = Poll::new().map_err(FeedError::Poll)?;
        let mut feed = Feed::build(config, connector, 1..usize::MAX)?;
        feed.own = Some((poll, Events::with_capacity(8)));
        Ok(feed)
    }

    /// A feed that registers its sockets on the caller's [`Poll`] with tokens from `tokens`,
    /// so that a program with sockets of its own runs one `ff_epoll_wait` per iteration:
    /// poll once, hand the events to [`poll_on`](Self::poll_on) (it takes those whose token
    /// [`owns`](Self::owns) says are its), handle the rest. [`poll`](Self::poll) is not
    /// available on such a feed.
    ///
    /// Every connection (and every reconnect) takes the next token of the range, wrapping
    /// around at its end: give it room (at least 4 tokens; a few thousand keep a token of a
    /// closed connection from being reused while a late event of it could arrive). The range
    /// must not overlap the caller's own tokens. Errors: [`FeedError::Poll`] with
    /// [`fstack::Error::InvalidArgument`] for a range of fewer than 4 tokens.
    pub fn with_tokens(
        config: FeedConfig,
        connector: TlsConnector,
        tokens: Range<usize>,
    ) -> Result<Feed, FeedError> {
        if tokens.len() < 4 {
            return Err(FeedError::Poll(fstack::Error::InvalidArgument(format!(
                "feed token range {tokens:?} holds fewer than 4 tokens"
            ))));
        }
        Feed::build(config, connector, tokens)
    }

    fn build(
        config: FeedConfig,
        connector: TlsConnector,
        tokens: Range<usize>,
    ) -> Result<Feed, FeedError> {
        if config.streams.len() > crate::stream::MAX_STREAMS_PER_CONNECTION {
            return Err(FeedError::TooManyStreams);
        }
        let backoff = Backoff::new(
            config.backoff_initial,
            config.backoff_max,
            Jitter::Decorrelated,
        );
        let stall_timeout = config.stall_timeout.resolve(&config.streams);
        Ok(Feed {
            config,
            connector,
            own: None,
            next_token: tokens.start,
            tokens,
            primary: None,
            standby: None,
            backoff,
            retry_at: None,
            failures: 0,
            counters: FeedCounters::default(),
            closing: false,
            ids: RequestIds::new(),
            overlap: Overlap::default(),
            retiring: None,
            standby_retry_at: None,
            rotation: None,
            stall_timeout,
        })
    }

    /// Counters so far.
    pub fn counters(&self) -> FeedCounters {
        self.counters
    }

    /// True while a connection is streaming.
    pub fn is_connected(&self) -> bool {
        matches!(
            self.primary.as_ref().map(|c| &c.phase),
            Some(Phase::Open(_))
        )
    }

    /// Starts a clean shutdown: close frame, then TLS close_notify. Keep calling
    /// [`poll`](Self::poll) until [`is_closed`](Self::is_closed) (bounded by a 2 s deadline).
    pub fn close(&mut self, now: Instant) {
        self.closing = true;
        self.standby = None;
        if let Some(conn) = self.primary.as_mut() {
            begin_close(conn, now);
        }
    }

    /// True once [`close`](Self::close) has finished.
    pub fn is_closed(&self) -> bool {
        self.closing
            && self
                .primary
                .as_ref()
                .is_none_or(|c| matches!(c.phase, Phase::Done))
    }

    /// Advances everything that is ready, without blocking; hands each market event to
    /// `handler`'s [`on_event`](FeedHandler::on_event) and everything else to its
    /// [`on_notice`](FeedHandler::on_notice). Returns an error only for failures that
    /// end the feed (see [`FeedError::is_fatal`]).
    ///
    /// A feed made by [`with_tokens`](Self::with_tokens) has no poll of its own: this fails
    /// with [`FeedError::Poll`]; use [`poll_on`](Self::poll_on).
    pub fn poll(&mut self, now: Instant, handler: &mut dyn FeedHandler) -> Result<(), FeedError> {
        let Some((mut poll, mut events)) = self.own.take() else {
            return Err(FeedError::Poll(fstack::Error::InvalidArgument(
                "this feed registers on the caller's Poll: call Feed::poll_on".into(),
            )));
        };
        let polled = poll
            .poll(&mut events)
            .map_err(FeedError::Poll)
            .and_then(|()| self.step(now, &mut poll, &events, handler));
        self.own = Some((poll, events));
        polled
    }

    /// True when `token` is in the range given to [`with_tokens`](Self::with_tokens) (or, for a
    /// feed with its own poll, any token but 0).
    pub fn owns(&self, token: Token) -> bool {
        self.tokens.contains(&token.0)
    }

    /// [`poll`](Self::poll) for a feed made by [`with_tokens`](Self::with_tokens): `events`
    /// are what the caller's `poll` just collected (the feed picks out its own tokens and
    /// ignores the rest); new connections are registered on `poll`. Call it once per
    /// iteration, after polling, whether or not any event is the feed's: its timers (connect
    /// and read timeouts, reconnects, pings) advance here.
    pub fn poll_on(
        &mut self,
        now: Instant,
        poll: &mut Poll,
        events: &Events,
        handler: &mut dyn FeedHandler,
    ) -> Result<(), FeedError> {
        self.step(now, poll, events, handler)
    }

    /// One iteration: note the feed's events, advance every connection.
    fn step(
        &mut self,
        now: Instant,
        poll: &mut Poll,
        events: &Events,
        handler: &mut dyn FeedHandler,
    ) -> Result<(), FeedError> {
        let tokens = self.tokens.clone();
        for ev in events.iter().filter(|ev| tokens.contains(&ev.token().0)) {
            for conn in [self.primary.as_mut(), self.standby.as_mut()]
                .into_iter()
                .flatten()
            {
                if conn.token == ev.token() {
                    conn.readable |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
                    conn.writable |= ev.is_writable() || ev.is_error();
                }
            }
        }

        if self.primary.is_none() && !self.closing && self.retry_at.is_none_or(|t| now >= t) {
            self.retry_at = None;
            self.primary = Some(self.start_conn(now, false));
        }

        // Primary.
        if let Some(mut conn) = self.primary.take() {
            let step = self.advance(&mut conn, poll, now, true, handler);
            self.primary = Some(conn);
            match step {
                Step::Continue => {}
                Step::Closed => {
                    if !self.closing {
                        let delivered = self.primary.as_ref().is_some_and(|c| c.delivered);
                        self.primary = None;
                        self.end_rotation();
                        self.schedule_retry(
                            now,
                            FeedError::ClosedByServer("closed".into()),
                            delivered,
                            handler,
                        )?;
                    }
                }
                Step::ShutdownNotice => self.rotate("server announced serverShutdown", handler),
                Step::Failed(e) => {
                    let delivered = self.primary.as_ref().is_some_and(|c| c.delivered);
                    self.primary = None;
                    self.end_rotation();
                    if self.closing {
                        return Ok(());
                    }
                    if let Some(standby) = self.standby.take() {
                        // The standby takes over at once.
                        self.overlap.clear();
                        self.primary = Some(Conn {
                            standby: false,
                            ..standby
                        });
                        handler.on_notice(Notice::Disconnected {
                            cause: &e,
                            retry_in: Duration::ZERO,
                        });
                    } else {
                        self.schedule_retry(now, e, delivered, handler)?;
                    }
                }
            }
        }

        // Age limit: open the replacement early.
        if !self.closing && self.rotation.is_none() {
            if let Some(opened) = self.primary.as_ref().and_then(|c| c.opened_at) {
                if now.duration_since(opened) >= self.config.max_connection_age {
                    self.rotate("connection reached its age limit", handler);
                }
            }
        }
        self.start_replacement(now);

        // Standby: both connections deliver (deduplicated) until the standby has caught up
        // with the primary, then the primary is closed.
        if let Some(mut conn) = self.standby.take() {
            let step = self.advance(&mut conn, poll, now, true, handler);
            match step {
                Step::Continue if conn.delivered && self.overlap.caught_up() => {
                    self.overlap.clear();
                    if let Some(mut old) = self.primary.take() {
                        // Close handshake and close_notify; polled below until done.
                        begin_close(&mut old, now);
                        self.retiring = Some(old);
                    }
                    conn.standby = false;
                    self.primary = Some(conn);
                    self.counters.rotations += 1;
                    self.end_rotation();
                }
                Step::Continue => self.standby = Some(conn),
                Step::Failed(e) => {
                    // The current connection keeps streaming, whatever the replacement's
                    // failure: try another replacement later (not before Retry-After; failures
                    // that retrying cannot fix wait the longest backoff). If the current
                    // connection ends first, its own retry decides what is fatal.
                    let wait = if e.is_fatal() {
                        self.config.backoff_max
                    } else {
                        self.config.backoff_max.min(Duration::from_secs(1))
                    };
                    let retry_in = wait.max(self.least_wait(&e));
                    self.standby_retry_at = Some(now + retry_in);
                    self.overlap.clear();
                    handler.on_notice(Notice::ReplacementFailed {
                        cause: &e,
                        retry_in,
                    });
                }
                Step::ShutdownNotice => {
                    // A standby that is itself going away: close it cleanly, start another.
                    self.overlap.clear();
                    begin_close(&mut conn, now);
                    if self.retiring.is_none() {
                        self.retiring = Some(conn);
                    }
                }
                Step::Closed => self.overlap.clear(),
            }
        }

        // A replaced connection finishing its close handshake delivers nothing more.
        if let Some(mut old) = self.retiring.take() {
            if let Step::Continue = self.advance(&mut old, poll, now, false, handler) {
                self.retiring = Some(old);
            }
        }
        Ok(())
    }

    /// Asks for the current connection to be replaced; the replacement is started by
    /// [`Self::start_replacement`] (and restarted there after a failure) until one takes over.
    fn rotate(&mut self, reason: &'static str, handler: &mut dyn FeedHandler) {
        if self.rotation.is_none() && !self.closing {
            handler.on_notice(Notice::Rotating { reason });
            self.rotation = Some(reason);
        }
    }

    /// The shortest wait before retrying after `e`: the server's Retry-After; for a rate-limit
    /// answer without one, the longest backoff (a rate-limited client must not hurry).
    fn least_wait(&self, e: &FeedError) -> Duration {
        match e {
            FeedError::UpgradeRejected {
                status,
                retry_after: None,
                ..
            } if is_rate_limit_status(*status) => self.config.backoff_max,
            _ => e.retry_after().unwrap_or_default(),
        }
    }

    /// The connection a rotation meant to replace is gone (replaced, or ended by itself).
    fn end_rotation(&mut self) {
        self.rotation = None;
        self.standby_retry_at = None;
    }

    /// Starts a standby while a rotation is pending and no standby runs, once the delay after
    /// a failed one has passed.
    fn start_replacement(&mut self, now: Instant) {
        if self.rotation.is_none()
            || self.standby.is_some()
            || self.closing
            || self.primary.is_none()
            || self.standby_retry_at.is_some_and(|t| now < t)
        {
            return;
        }
        self.standby_retry_at = None;
        self.standby = Some(self.start_conn(now, true));
    }

    /// Schedules the next attempt after a failure. A connection that delivered market data
    /// always gets a new attempt (the count of failed attempts restarts); other failures, a
    /// connection that opened but delivered nothing among them, count towards
    /// `connect_retries`.
    fn schedule_retry(
        &mut self,
        now: Instant,
        e: FeedError,
        delivered: bool,
        handler: &mut dyn FeedHandler,
    ) -> Result<(), FeedError> {
        if e.is_fatal() {
            return Err(e);
        }
        if delivered {
            self.failures = 0;
            self.backoff.reset();
        } else {
            self.failures += 1;
        }
        if self.failures >= self.config.connect_retries.max(1) {
            return Err(FeedError::GaveUp {
                attempts: self.failures,
                last: Box::new(e),
            });
        }
        // Never before the server's Retry-After.
        let delay = self.backoff.next_delay().max(self.least_wait(&e));
        handler.on_notice(Notice::Disconnected {
            cause: &e,
            retry_in: delay,
        });
        self.counters.reconnects += 1;
        self.retry_at = Some(now + delay);
        Ok(())
    }

    /// The data watchdog's timeout for the current streams ([`FeedConfig::stall_timeout`]
    /// resolved), or `None` when it is off.
    pub fn stall_timeout(&self) -> Option<Duration> {
        self.stall_timeout
    }

    /// The streams the feed receives (and resubscribes after every reconnect).
    pub fn streams(&self) -> &[Stream] {
        &self.config.streams
    }

    /// Adds `streams` (those not already present). Open connections get SUBSCRIBE requests,
    /// sent within Binance's message rate limit; later connections include them from the
    /// start. Returns the ids of the requests queued now (empty when nothing is open yet).
    ///
    /// Fails with [`FeedError::TooManyStreams`] beyond Binance's 1,024 streams per connection.
    pub fn subscribe(&mut self, streams: &[Stream]) -> Result<Vec<u64>, FeedError> {
        let new: Vec<Stream> = streams
            .iter()
            .filter(|s| !self.config.streams.contains(s))
            .cloned()
            .collect();
        if self.config.streams.len() + new.len() > crate::stream::MAX_STREAMS_PER_CONNECTION {
            return Err(FeedError::TooManyStreams);
        }
        self.config.streams.extend(new.iter().cloned());
        self.stall_timeout = self.config.stall_timeout.resolve(&self.config.streams);
        Ok(self.queue_control(Method::Subscribe, &new))
    }

    /// Removes `streams`; open connections get UNSUBSCRIBE requests (rate-limited). Events
    /// of those streams stop once the server has acknowledged the request id returned.
    pub fn unsubscribe(&mut self, streams: &[Stream]) -> Vec<u64> {
        let gone: Vec<Stream> = streams
            .iter()
            .filter(|s| self.config.streams.contains(s))
            .cloned()
            .collect();
        self.config.streams.retain(|s| !gone.contains(s));
        self.stall_timeout = self.config.stall_timeout.resolve(&self.config.streams);
        self.queue_control(Method::Unsubscribe, &gone)
    }

    fn queue_control(&mut self, method: Method, streams: &[Stream]) -> Vec<u64> {
        let mut ids = Vec::new();
        if streams.is_empty() {
            return ids;
        }
        for conn in [self.primary.as_mut(), self.standby.as_mut()]
            .into_iter()
            .flatten()
            .filter(|c| c.opened_at.is_some())
        {
            for req in self.ids.requests(method, streams, STREAMS_PER_REQUEST) {
                ids.push(req.id);
                conn.outbox.push_back(req.text);
            }
        }
        ids
    }
}
