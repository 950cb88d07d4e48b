//! The connection driver: one Binance market-data feed over `wss://` inside the F-Stack loop.
//!
//! [`Feed::poll`] is called once per loop iteration and never blocks. It walks each connection
//! through DNS (kernel resolver on a helper thread, or a `--resolve` override), a non-blocking
//! TCP connect on an [`FStackSocket`], the TLS handshake (hostname verified), the WebSocket
//! upgrade, then reads frames until `WouldBlock`, decoding every text frame and handing market
//! events to the caller. It answers pings (tungstenite queues the pong; the feed flushes it),
//! honours close frames, sends SUBSCRIBE requests within Binance's message rate limit, and
//! reconnects with backoff after any failure, resubscribing everything. A connection close to
//! Binance's 24-hour limit, or one announcing `serverShutdown`, is replaced by a standby
//! connection that takes over once it delivers data, so no window of events is missed.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fstack::{Events, FStackSocket, Poll, Token};
use fstack_tls::dial::{Dial, DialError};
use fstack_tls::{TlsConnector, TlsStream};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message as WsMessage, WebSocket};

mod overlap;

use crate::backoff::{Backoff, Jitter};
use crate::control::{Method, RateLimiter, RequestIds};
use crate::endpoint::Endpoint;
use crate::events::{decode, Message, StreamEvent};
use crate::stream::{request_target, Stream, StreamRef, TimeUnit, UrlMode};
use overlap::Overlap;

type Tls = TlsStream<FStackSocket>;
type Ws = WebSocket<Tls>;

/// Streams per SUBSCRIBE request when subscribing after connect.
const STREAMS_PER_REQUEST: usize = 200;
/// Streams put into the URL itself; the rest are subscribed with SUBSCRIBE.
const STREAMS_IN_URL: usize = 100;
/// Messages read from one connection per poll. Under a flood the socket never runs dry; the
/// budget keeps timers, shutdown and the other connection serviced. The connection stays
/// marked readable, so the next poll continues where this one stopped.
const READ_BUDGET: usize = 512;

/// What to connect to and how to behave.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// Where to connect: its host is used for DNS, SNI, certificate verification and the
    /// `Host` header; its path prefixes every request target and its query is sent with every
    /// request.
    pub endpoint: Endpoint,
    /// Streams to receive on every connection.
    pub streams: Vec<Stream>,
    /// Raw or combined URL form.
    pub url_mode: UrlMode,
    /// Event time unit to ask for.
    pub time_unit: TimeUnit,
    /// Connect here instead of resolving `host` (like curl's `--resolve`).
    pub resolve: Option<SocketAddr>,
    /// No frame at all (pings included) for this long means the connection is dead.
    pub read_timeout: Duration,
    /// The data watchdog: no market event for this long replaces the connection, even while
    /// pings keep arriving (see [`StallTimeout`]).
    pub stall_timeout: StallTimeout,
    /// DNS + TCP + TLS + WebSocket handshake must finish within this.
    pub connect_timeout: Duration,
    /// Consecutive failed connection attempts before giving up (at least 1). Attempts that
    /// reached the streaming state reset the count.
    pub connect_retries: u32,
    /// Largest accepted WebSocket message; a larger one is counted and the connection replaced.
    pub max_message_size: usize,
    /// Replace a connection this old (Binance closes them at 24 h).
    pub max_connection_age: Duration,
    /// First reconnect delay; doubles per consecutive failure, with jitter.
    pub backoff_initial: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
}

impl FeedConfig {
    /// Defaults for `host:port` and `streams`: 60 s read timeout, automatic stall timeout, 10 s
    /// connect timeout, 5 attempts, 1 MiB messages, replace after 23 h 30 min, backoff 250 ms
    /// to 30 s.
    pub fn new(host: impl Into<String>, port: u16, streams: Vec<Stream>) -> FeedConfig {
        let endpoint = Endpoint {
            tls: true,
            host: host.into(),
            port,
            path: String::new(),
            query: None,
        };
        FeedConfig::for_endpoint(endpoint, streams)
    }

    /// The same defaults for a parsed `--endpoint`; the event time unit follows its query
    /// (`timeUnit=MICROSECOND`).
    pub fn for_endpoint(endpoint: Endpoint, streams: Vec<Stream>) -> FeedConfig {
        FeedConfig {
            time_unit: endpoint.time_unit(),
            endpoint,
            streams,
            url_mode: UrlMode::Auto,
            resolve: None,
            read_timeout: Duration::from_secs(60),
            stall_timeout: StallTimeout::Auto,
            connect_timeout: Duration::from_secs(10),
            connect_retries: 5,
            max_message_size: 1 << 20,
            max_connection_age: Duration::from_secs(23 * 3600 + 1800),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// The data watchdog's setting: how long a streaming connection may go without a market event
/// before it is replaced. Pings, pongs and control replies do not count: a server can keep
/// answering pings while its data has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StallTimeout {
    /// [`StallTimeout::AUTO_PERIODIC`] when any subscribed stream pushes on a fixed period
    /// whatever the market does (`@ticker`, `@miniTicker` every 1 s and partial book depth
    /// every 100 ms or 1 s, per Binance's stream docs); off when every stream is event-driven
    /// (`@trade`, `@aggTrade`, `@bookTicker`, diff depth), because a quiet symbol may
    /// legitimately send nothing for minutes.
    #[default]
    Auto,
    /// No data watchdog (the read timeout still applies).
    Off,
    /// Replace the connection after this long without a market event.
    After(Duration),
}

impl StallTimeout {
    /// The automatic timeout with periodic streams: ten of their longest periods (1 s).
    pub const AUTO_PERIODIC: Duration = Duration::from_secs(10);

    /// The timeout in force for `streams`, or `None` when the watchdog is off.
    pub fn resolve(self, streams: &[Stream]) -> Option<Duration> {
        match self {
            StallTimeout::Off => None,
            StallTimeout::After(d) => Some(d),
            StallTimeout::Auto => streams
                .iter()
                .any(|s| s.kind().is_periodic())
                .then_some(Self::AUTO_PERIODIC),
        }
    }
}

impl From<DialError> for FeedError {
    fn from(e: DialError) -> FeedError {
        match e {
            DialError::Dns { host, reason } => FeedError::Dns { host, reason },
            DialError::Connect(e) => FeedError::Connect(e),
            DialError::Tls(e) => FeedError::Tls(e),
        }
    }
}

/// Why a connection ended or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Name resolution failed.
    #[error("DNS lookup of {host} failed: {reason}")]
    Dns {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The TCP connection could not be established.
    #[error("{0}")]
    Connect(#[source] fstack::Error),
    /// The TLS handshake failed (certificate verification failures are fatal).
    #[error("{0}")]
    Tls(#[source] fstack_tls::Error),
    /// The server answered the WebSocket upgrade with an HTTP status other than 101.
    #[error("WebSocket upgrade rejected by {host}: HTTP {status}{}", retry_after_text(*.retry_after))]
    UpgradeRejected {
        /// The host.
        host: String,
        /// The HTTP status code.
        status: u16,
        /// The response's `Retry-After` (RFC 9110 §10.2.3), which Binance sends with 429 (too
        /// many requests) and 418 (IP banned): no new attempt is made before it has passed.
        retry_after: Option<Duration>,
    },
    /// The WebSocket handshake failed otherwise.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(String),
    /// Connecting took longer than the connect timeout; `phase` names the step that was still
    /// under way (`DNS lookup`, `TCP connect`, `TLS handshake` or `WebSocket upgrade`).
    #[error("connecting timed out after {after:?} in the {phase}{}", addr.map(|a| format!(" with {a}")).unwrap_or_default())]
    ConnectTimeout {
        /// The connect timeout.
        after: Duration,
        /// The step that did not finish.
        phase: &'static str,
        /// The peer, once resolved.
        addr: Option<SocketAddr>,
    },
    /// The close handshake of a connection being shut down did not finish in time.
    #[error("closing the connection timed out after {0:?}")]
    CloseTimeout(Duration),
    /// No frame arrived for the read timeout.
    #[error("no data for {0:?} (read timeout)")]
    ReadTimeout(Duration),
    /// Frames (pings) kept arriving but no market event did for the stall timeout.
    #[error("no market data for {0:?} (stall timeout; pings still arrived)")]
    Stalled(Duration),
    /// The server sent a close frame.
    #[error("server closed the connection ({0})")]
    ClosedByServer(String),
    /// A message exceeded the size limit.
    #[error("oversize message from the server: {0}")]
    Oversize(String),
    /// The connection failed while streaming.
    #[error("connection lost: {0}")]
    Io(#[source] io::Error),
    /// A WebSocket protocol error.
    #[error("WebSocket protocol error: {0}")]
    Protocol(String),
    /// Too many consecutive failed attempts; carries the last failure.
    #[error("giving up after {attempts} failed connection attempt{}; last error: {last}", if *.attempts == 1 { "" } else { "s" })]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: Box<FeedError>,
    },
    /// More streams than Binance allows on one connection (1,024).
    #[error("more than 1024 streams on one connection")]
    TooManyStreams,
    /// The local F-Stack poll failed.
    #[error("{0}")]
    Poll(#[source] fstack::Error),
}

fn retry_after_text(retry_after: Option<Duration>) -> String {
    retry_after
        .map(|d| format!(" (Retry-After {} s)", d.as_secs()))
        .unwrap_or_default()
}

/// HTTP 429 (Too Many Requests) and Binance's 418 (IP banned after ignoring 429s): retried
/// once `Retry-After` has passed, unlike other 4xx answers.
fn is_rate_limit_status(status: u16) -> bool {
    status == 429 || status == 418
}

/// Parses `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, relative to `now`.
fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Longer than any sensible ban; saturate instead of failing.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

impl FeedError {
    /// Failures that retrying cannot fix: certificate verification, an HTTP 4xx answer to the
    /// upgrade other than 429 and 418 (those wait for `Retry-After`), bad configuration,
    /// local poll failures.
    pub fn is_fatal(&self) -> bool {
        match self {
            FeedError::Tls(e) => !matches!(
                e,
                fstack_tls::Error::Io(_) | fstack_tls::Error::Handshake(_)
            ),
            FeedError::UpgradeRejected { status, .. } => {
                (400..500).contains(status) && !is_rate_limit_status(*status)
            }
            FeedError::GaveUp { .. } | FeedError::Poll(_) | FeedError::TooManyStreams => true,
            FeedError::Connect(e) => matches!(
                e,
                fstack::Error::NotInitialized { .. }
                    | fstack::Error::NotRunning { .. }
                    | fstack::Error::InvalidArgument(_)
            ),
            _ => false,
        }
    }

    /// The server's `Retry-After`, for an upgrade rejected with one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FeedError::UpgradeRejected { retry_after, .. } => *retry_after,
            _ => None,
        }
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
    /// Connections replaced before their end (age or `serverShutdown`).
    pub rotations: u64,
}

/// How long a close handshake (close frame, then TLS close_notify) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

enum Phase {
    /// DNS, TCP connect and TLS handshake.
    Dialing(Box<Dial>),
    Ws(Box<tungstenite::handshake::MidHandshake<ClientHandshake<Tls>>>),
    Open(Box<Ws>),
    Closing(Box<Ws>, Instant),
    Done,
}

impl Phase {
    /// The step under way, as connect-timeout messages name it.
    fn name(&self) -> &'static str {
        match self {
            Phase::Dialing(dial) => dial.step(),
            Phase::Ws(_) => "WebSocket upgrade",
            Phase::Open(_) => "open connection",
            Phase::Closing(..) | Phase::Done => "close",
        }
    }
}

struct Conn {
    token: Token,
    phase: Phase,
    standby: bool,
    readable: bool,
    writable: bool,
    flush_pending: bool,
    started: Instant,
    last_frame: Instant,
    /// When the last market event arrived (or the connection opened): the data watchdog.
    last_event: Instant,
    opened_at: Option<Instant>,
    addr: Option<SocketAddr>,
    limiter: RateLimiter,
    outbox: VecDeque<String>,
    delivered: bool,
    /// The request URL, fixed when the connection starts.
    url: String,
    /// Streams named in that URL; the others are subscribed once it is open.
    url_streams: Vec<Stream>,
    /// The stream of a raw single-stream URL, whose payloads do not name it.
    raw_hint: Option<Stream>,
}

/// Outcome of advancing one connection.
enum Step {
    Continue,
    Failed(FeedError),
    /// `serverShutdown` seen.
    ShutdownNotice,
    Closed,
}

/// A resilient Binance market-data feed; see the [module docs](self).
pub struct Feed {
    config: FeedConfig,
    connector: TlsConnector,
    poll: Poll,
    events: Events,
    primary: Option<Conn>,
    standby: Option<Conn>,
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
}

impl Feed {
    /// Creates the feed; nothing happens until [`poll`](Self::poll). Must be called on the
    /// F-Stack thread after `Stack::init`.
    pub fn new(config: FeedConfig, connector: TlsConnector) -> Result<Feed, FeedError> {
        if config.streams.len() > crate::stream::MAX_STREAMS_PER_CONNECTION {
            return Err(FeedError::TooManyStreams);
        }
        let poll = Poll::new().map_err(FeedError::Poll)?;
        let backoff = Backoff::new(
            config.backoff_initial,
            config.backoff_max,
            Jitter::Decorrelated,
        );
        Ok(Feed {
            config,
            connector,
            poll,
            events: Events::with_capacity(8),
            primary: None,
            standby: None,
            next_token: 0,
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

    /// Advances everything that is ready, without blocking; calls `on_event` for each market
    /// event and `on_notice` for everything else. Returns an error only for failures that
    /// end the feed (see [`FeedError::is_fatal`]).
    pub fn poll(
        &mut self,
        now: Instant,
        on_event: &mut dyn FnMut(&StreamEvent<'_>, usize),
        on_notice: &mut dyn FnMut(Notice<'_>),
    ) -> Result<(), FeedError> {
        self.poll.poll(&mut self.events).map_err(FeedError::Poll)?;
        for ev in &self.events {
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
            let step = self.advance(&mut conn, now, true, on_event, on_notice);
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
                            on_notice,
                        )?;
                    }
                }
                Step::ShutdownNotice => self.rotate("server announced serverShutdown", on_notice),
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
                        on_notice(Notice::Disconnected {
                            cause: &e,
                            retry_in: Duration::ZERO,
                        });
                    } else {
                        self.schedule_retry(now, e, delivered, on_notice)?;
                    }
                }
            }
        }

        // Age limit: open the replacement early.
        if !self.closing && self.rotation.is_none() {
            if let Some(opened) = self.primary.as_ref().and_then(|c| c.opened_at) {
                if now.duration_since(opened) >= self.config.max_connection_age {
                    self.rotate("connection reached its age limit", on_notice);
                }
            }
        }
        self.start_replacement(now);

        // Standby: both connections deliver (deduplicated) until the standby has caught up
        // with the primary, then the primary is closed.
        if let Some(mut conn) = self.standby.take() {
            let step = self.advance(&mut conn, now, true, on_event, on_notice);
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
                    on_notice(Notice::ReplacementFailed {
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
            if let Step::Continue = self.advance(&mut old, now, false, on_event, on_notice) {
                self.retiring = Some(old);
            }
        }
        Ok(())
    }

    /// Asks for the current connection to be replaced; the replacement is started by
    /// [`Self::start_replacement`] (and restarted there after a failure) until one takes over.
    fn rotate(&mut self, reason: &'static str, on_notice: &mut dyn FnMut(Notice<'_>)) {
        if self.rotation.is_none() && !self.closing {
            on_notice(Notice::Rotating { reason });
            self.counters.rotations += 1;
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
        on_notice: &mut dyn FnMut(Notice<'_>),
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
        on_notice(Notice::Disconnected {
            cause: &e,
            retry_in: delay,
        });
        self.counters.reconnects += 1;
        self.retry_at = Some(now + delay);
        Ok(())
    }

    fn start_conn(&mut self, now: Instant, standby: bool) -> Conn {
        self.next_token += 1;
        let (url, url_streams, raw_hint) = self.request_url();
        let endpoint = &self.config.endpoint;
        let dial = Dial::start(
            &self.connector,
            &endpoint.host,
            endpoint.port,
            self.config.resolve.map(|a| a.ip()),
        );
        Conn {
            token: Token(self.next_token),
            phase: Phase::Dialing(Box::new(dial)),
            standby,
            readable: false,
            writable: false,
            flush_pending: false,
            started: now,
            last_frame: now,
            last_event: now,
            opened_at: None,
            addr: None,
            limiter: RateLimiter::binance(),
            outbox: VecDeque::new(),
            delivered: false,
            url,
            url_streams,
            raw_hint,
        }
    }

    /// The URL for a new connection, the streams it names, and the raw-stream hint.
    fn request_url(&self) -> (String, Vec<Stream>, Option<Stream>) {
        let in_url = &self.config.streams[..self.config.streams.len().min(STREAMS_IN_URL)];
        // At most STREAMS_IN_URL streams: request_target cannot fail on the count.
        let endpoint = &self.config.endpoint;
        // The endpoint's own query is sent as is; add timeUnit only when it does not ask.
        let time_unit = if endpoint.time_unit() == self.config.time_unit {
            TimeUnit::Millisecond
        } else {
            self.config.time_unit
        };
        let target = request_target(in_url, self.config.url_mode, time_unit)
            .unwrap_or_else(|_| "/stream".to_string());
        let raw = !target.starts_with("/stream");
        let hint = (raw && in_url.len() == 1).then(|| in_url[0].clone());
        // `Endpoint::url` brackets IPv6 literals and merges the endpoint's query.
        let url = endpoint.url(&target);
        (url, in_url.to_vec(), hint)
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

    /// Advances one connection as far as it goes without blocking.
    fn advance(
        &mut self,
        conn: &mut Conn,
        now: Instant,
        deliver: bool,
        on_event: &mut dyn FnMut(&StreamEvent<'_>, usize),
        on_notice: &mut dyn FnMut(Notice<'_>),
    ) -> Step {
        if conn.opened_at.is_none() && !matches!(conn.phase, Phase::Closing(..) | Phase::Done) {
            let elapsed = now.duration_since(conn.started);
            if elapsed > self.config.connect_timeout {
                return Step::Failed(FeedError::ConnectTimeout {
                    after: self.config.connect_timeout,
                    phase: conn.phase.name(),
                    addr: conn.addr,
                });
            }
        }
        loop {
            let phase = std::mem::replace(&mut conn.phase, Phase::Done);
            let (next, progressed) = match phase {
                Phase::Dialing(mut dial) => {
                    let ready = conn.readable || conn.writable;
                    conn.readable = false;
                    conn.writable = false;
                    let dialed = dial.advance(ready, &mut self.poll, conn.token);
                    conn.addr = dial.peer_addr();
                    match dialed {
                        Ok(Some(tls)) => match self.start_ws(tls, &conn.url) {
                            Ok(p) => (p, true),
                            Err(e) => return Step::Failed(e),
                        },
                        Ok(None) => (Phase::Dialing(dial), false),
                        Err(e) => return Step::Failed(e.into()),
                    }
                }
                Phase::Ws(mid) => {
                    if !(conn.readable || conn.writable) {
                        (Phase::Ws(mid), false)
                    } else {
                        conn.readable = false;
                        conn.writable = false;
                        match mid.handshake() {
                            Ok((ws, _)) => (Phase::Open(Box::new(ws)), true),
                            Err(e) => match self.ws_handshake_error(e) {
                                Ok(p) => (p, false),
                                Err(e) => return Step::Failed(e),
                            },
                        }
                    }
                }
                Phase::Open(ws) => {
                    if conn.opened_at.is_none() {
                        self.on_open(conn, now, on_notice);
                    }
                    conn.phase = Phase::Open(ws);
                    return self.stream(conn, now, deliver, on_event, on_notice);
                }
                Phase::Closing(mut ws, deadline) => {
                    if now > deadline {
                        return Step::Failed(FeedError::CloseTimeout(CLOSE_TIMEOUT));
                    }
                    loop {
                        match ws.read() {
                            Ok(_) => continue,
                            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                                let _ = ws.flush();
                                conn.phase = Phase::Closing(ws, deadline);
                                return Step::Continue;
                            }
                            Err(_) => {
                                // Close handshake done (or the peer is gone): send close_notify.
                                let _ = ws.get_mut().shutdown();
                                conn.phase = Phase::Done;
                                return Step::Closed;
                            }
                        }
                    }
                }
                Phase::Done => return Step::Closed,
            };
            conn.phase = next;
            if !progressed {
                return Step::Continue;
            }
            // A new phase may be able to progress at once (data may already be there).
            conn.readable = true;
            conn.writable = true;
        }
    }

    fn start_ws(&self, tls: Tls, url: &str) -> Result<Phase, FeedError> {
        let request = url
            .into_client_request()
            .map_err(|e| FeedError::Handshake(e.to_string()))?;
        let config = websocket_config(self.config.max_message_size);
        match tungstenite::client::client_with_config(request, tls, Some(config)) {
            Ok((ws, _)) => Ok(Phase::Open(Box::new(ws))),
            Err(e) => self.ws_handshake_error(e),
        }
    }

    fn ws_handshake_error(
        &self,
        e: tungstenite::HandshakeError<ClientHandshake<Tls>>,
    ) -> Result<Phase, FeedError> {
        match e {
            tungstenite::HandshakeError::Interrupted(mid) => Ok(Phase::Ws(Box::new(mid))),
            tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp)) => {
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
                Err(FeedError::UpgradeRejected {
                    host: self.config.endpoint.host.clone(),
                    status: resp.status().as_u16(),
                    retry_after,
                })
            }
            tungstenite::HandshakeError::Failure(tungstenite::Error::Io(e)) => {
                Err(FeedError::Io(e))
            }
            tungstenite::HandshakeError::Failure(e) => Err(FeedError::Handshake(e.to_string())),
        }
    }

    fn on_open(&mut self, conn: &mut Conn, now: Instant, on_notice: &mut dyn FnMut(Notice<'_>)) {
        conn.opened_at = Some(now);
        conn.last_frame = now;
        conn.last_event = now;
        conn.limiter.reset();
        let rest: Vec<Stream> = self
            .config
            .streams
            .iter()
            .filter(|s| !conn.url_streams.contains(s))
            .cloned()
            .collect();
        for req in self
            .ids
            .requests(Method::Subscribe, &rest, STREAMS_PER_REQUEST)
        {
            conn.outbox.push_back(req.text);
        }
        if let Some(addr) = conn.addr {
            on_notice(Notice::Connected {
                addr,
                standby: conn.standby,
            });
        }
    }

    fn stream(
        &mut self,
        conn: &mut Conn,
        now: Instant,
        deliver: bool,
        on_event: &mut dyn FnMut(&StreamEvent<'_>, usize),
        on_notice: &mut dyn FnMut(Notice<'_>),
    ) -> Step {
        let Phase::Open(ws) = &mut conn.phase else {
            return Step::Continue;
        };
        let mut step = Step::Continue;
        if conn.readable {
            for _ in 0..READ_BUDGET {
                match ws.read() {
                    Ok(msg) => {
                        conn.last_frame = now;
                        match msg {
                            WsMessage::Text(text) => {
                                self.counters.bytes += text.len() as u64;
                                let hint = conn.raw_hint.as_ref().map(Stream::as_ref);
                                let overlap = (self.standby.is_some() || conn.standby)
                                    .then_some(&mut self.overlap);
                                match handle_text(
                                    text.as_str(),
                                    hint,
                                    &mut self.counters,
                                    deliver,
                                    overlap,
                                    conn.standby,
                                    on_event,
                                    on_notice,
                                ) {
                                    TextOutcome::Event => {
                                        if !conn.delivered && !conn.standby {
                                            // Market data flows: the attempt succeeded.
                                            self.failures = 0;
                                            self.backoff.reset();
                                        }
                                        conn.delivered = true;
                                        conn.last_event = now;
                                    }
                                    TextOutcome::ShutdownNotice => step = Step::ShutdownNotice,
                                    TextOutcome::Other => {}
                                }
                            }
                            WsMessage::Ping(p) => {
                                self.counters.bytes += p.len() as u64;
                                self.counters.pings += 1;
                                // The pong tungstenite queued counts against the rate limit.
                                conn.limiter.record(now);
                                conn.flush_pending = true;
                            }
                            WsMessage::Binary(b) => {
                                self.counters.bytes += b.len() as u64;
                                self.counters.malformed += 1;
                                on_notice(Notice::Malformed {
                                    error: &"unexpected binary frame",
                                });
                            }
                            WsMessage::Close(frame) => {
                                let reason = frame
                                    .map(|f| format!("{} {}", u16::from(f.code), f.reason))
                                    .unwrap_or_else(|| "no reason".into());
                                // tungstenite queued the close reply; flush it, then report.
                                let _ = ws.flush();
                                return Step::Failed(FeedError::ClosedByServer(reason));
                            }
                            WsMessage::Pong(_) | WsMessage::Frame(_) => {}
                        }
                    }
                    Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                        conn.readable = false;
                        break;
                    }
                    Err(tungstenite::Error::Capacity(e)) => {
                        self.counters.oversize += 1;
                        return Step::Failed(FeedError::Oversize(e.to_string()));
                    }
                    Err(tungstenite::Error::ConnectionClosed)
                    | Err(tungstenite::Error::AlreadyClosed) => {
                        return Step::Failed(FeedError::ClosedByServer("connection closed".into()))
                    }
                    Err(tungstenite::Error::Io(e)) => return Step::Failed(FeedError::Io(e)),
                    Err(e) => return Step::Failed(FeedError::Protocol(e.to_string())),
                }
            }
        }
        // Control requests, within the rate limit.
        while !conn.outbox.is_empty() && conn.limiter.try_acquire(now).is_ok() {
            let text = conn.outbox.pop_front().expect("non-empty");
            match ws.write(WsMessage::text(text)) {
                Ok(()) => conn.flush_pending = true,
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    conn.flush_pending = true
                }
                Err(e) => return Step::Failed(FeedError::Protocol(e.to_string())),
            }
        }
        if conn.flush_pending || conn.writable {
            match ws.flush() {
                Ok(()) => conn.flush_pending = false,
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    conn.flush_pending = true;
                    conn.writable = false;
                }
                Err(tungstenite::Error::Io(e)) => return Step::Failed(FeedError::Io(e)),
                Err(e) => return Step::Failed(FeedError::Protocol(e.to_string())),
            }
            if !conn.flush_pending {
                conn.writable = false;
            }
        }
        if now.duration_since(conn.last_frame) > self.config.read_timeout {
            return Step::Failed(FeedError::ReadTimeout(self.config.read_timeout));
        }
        if let Some(stall) = self.config.stall_timeout.resolve(&self.config.streams) {
            if now.duration_since(conn.last_event) > stall {
                return Step::Failed(FeedError::Stalled(stall));
            }
        }
        step
    }
}

/// The WebSocket settings of every connection: `max_message_size` for messages and frames, and
/// a small read buffer. tungstenite zero-fills the free part of its read buffer (up to the
/// buffer's size) before every read of the stream, and the TLS stream hands out one record
/// per read, so its default 128 KiB buffer cost a large `memset` per event (BENCHMARKS.md).
pub fn websocket_config(max_message_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
        .read_buffer_size(WS_READ_BUFFER)
}

/// Bytes tungstenite reads from the TLS stream at once (see [`websocket_config`]): a ticker
/// event is one ~450-byte record.
const WS_READ_BUFFER: usize = 4 << 10;

fn begin_close(conn: &mut Conn, now: Instant) {
    match std::mem::replace(&mut conn.phase, Phase::Done) {
        Phase::Open(mut ws) => {
            let _ = ws.close(None);
            let _ = ws.flush();
            conn.phase = Phase::Closing(ws, now + CLOSE_TIMEOUT);
        }
        other @ Phase::Closing(..) => conn.phase = other,
        _ => conn.phase = Phase::Done,
    }
}

enum TextOutcome {
    Event,
    ShutdownNotice,
    Other,
}

#[allow(clippy::too_many_arguments)]
fn handle_text(
    text: &str,
    hint: Option<StreamRef<'_>>,
    counters: &mut FeedCounters,
    deliver: bool,
    overlap: Option<&mut Overlap>,
    from_standby: bool,
    on_event: &mut dyn FnMut(&StreamEvent<'_>, usize),
    on_notice: &mut dyn FnMut(Notice<'_>),
) -> TextOutcome {
    match decode(text, hint) {
        Ok(Message::Event(ev)) => {
            let fresh = match overlap {
                None => true,
                Some(o) => o.admit(&ev, from_standby),
            };
            if deliver && fresh {
                counters.events += 1;
                on_event(&ev, text.len());
            }
            TextOutcome::Event
        }
        Ok(Message::Response(r)) => {
            on_notice(Notice::Ack {
                id: r.id.unwrap_or(0),
            });
            TextOutcome::Other
        }
        Ok(Message::Error(e)) => {
            on_notice(Notice::ControlError {
                code: e.code,
                msg: &e.msg,
            });
            TextOutcome::Other
        }
        Ok(Message::ServerShutdown(_)) => TextOutcome::ShutdownNotice,
        Err(e) => {
            counters.malformed += 1;
            on_notice(Notice::Malformed { error: &e });
            TextOutcome::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::StreamKind;
    use std::time::SystemTime;

    fn rejected(status: u16, retry_after: Option<Duration>) -> FeedError {
        FeedError::UpgradeRejected {
            host: "h".into(),
            status,
            retry_after,
        }
    }

    #[test]
    fn retry_after_header() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        // RFC 9110's example date, 30 s after `now`; a past date means "now".
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["", "-1", "1.5", "soon", "2 s"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn which_failures_are_fatal() {
        assert!(rejected(403, None).is_fatal());
        assert!(rejected(400, Some(Duration::from_secs(1))).is_fatal());
        assert!(!rejected(429, None).is_fatal());
        assert!(!rejected(418, Some(Duration::from_secs(120))).is_fatal());
        assert!(!rejected(503, None).is_fatal());
        assert!(!FeedError::Stalled(Duration::from_secs(10)).is_fatal());
        assert_eq!(
            rejected(429, Some(Duration::from_secs(2))).retry_after(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(FeedError::ReadTimeout(Duration::ZERO).retry_after(), None);
        assert_eq!(
            rejected(429, Some(Duration::from_secs(2))).to_string(),
            "WebSocket upgrade rejected by h: HTTP 429 (Retry-After 2 s)"
        );
        assert_eq!(
            rejected(403, None).to_string(),
            "WebSocket upgrade rejected by h: HTTP 403"
        );
        assert_eq!(
            FeedError::ConnectTimeout {
                after: Duration::from_secs(10),
                phase: "TLS handshake",
                addr: Some("10.0.0.1:443".parse().unwrap()),
            }
            .to_string(),
            "connecting timed out after 10s in the TLS handshake with 10.0.0.1:443"
        );
    }

    #[test]
    fn stall_timeout_follows_the_streams() {
        let s = |name: &str| Stream::parse(name).unwrap();
        let periodic = [s("btcusdt@trade"), s("btcusdt@ticker")];
        let event_driven = [
            s("btcusdt@trade"),
            s("btcusdt@bookTicker"),
            s("btcusdt@depth@100ms"),
        ];
        assert_eq!(
            StallTimeout::Auto.resolve(&periodic),
            Some(StallTimeout::AUTO_PERIODIC)
        );
        assert_eq!(StallTimeout::Auto.resolve(&event_driven), None);
        assert_eq!(
            StallTimeout::Auto.resolve(&[s("ethusdt@depth5@100ms")]),
            Some(Duration::from_secs(10))
        );
        assert_eq!(StallTimeout::Auto.resolve(&[]), None);
        assert_eq!(StallTimeout::Off.resolve(&periodic), None);
        let d = Duration::from_secs(3);
        assert_eq!(StallTimeout::After(d).resolve(&event_driven), Some(d));
        assert!(StreamKind::MiniTicker.is_periodic());
        assert!(!StreamKind::AggTrade.is_periodic());
    }
}
