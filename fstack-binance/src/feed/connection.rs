//! One connection of a feed: dial (DNS, TCP, TLS), WebSocket upgrade, streaming (frames
//! decoded and handed out, pings answered, control requests sent within the rate limit, read
//! and stall watchdogs), and the close handshake.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use fstack::{Poll, Token};
use fstack_tls::dial::Dial;

use super::overlap::Overlap;
use super::websocket::{self, Frame, Upgrade, CLOSE_TIMEOUT};
use super::{
    Feed, FeedCounters, FeedError, FeedHandler, Notice, TlsInfo, READ_BUDGET, STREAMS_IN_URL,
    STREAMS_PER_REQUEST,
};
use crate::control::{Method, RateLimiter};
use crate::events::{decode, Message};
use crate::stream::{request_target, Stream, StreamRef, TimeUnit};

pub(super) enum Phase {
    /// DNS, TCP connect and TLS handshake.
    Dialing(Box<Dial>),
    /// The WebSocket upgrade.
    Upgrading(websocket::Handshake),
    Open(websocket::Ws),
    /// Close frame sent; waiting for the reply until the deadline.
    Closing(websocket::Ws, Instant),
    Done,
}

impl Phase {
    /// The step under way, as connect-timeout messages name it.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Phase::Dialing(dial) => dial.step(),
            Phase::Upgrading(_) => "WebSocket upgrade",
            Phase::Open(_) => "open connection",
            Phase::Closing(..) | Phase::Done => "close",
        }
    }
}

pub(super) struct Conn {
    pub(super) token: Token,
    pub(super) phase: Phase,
    pub(super) standby: bool,
    pub(super) readable: bool,
    pub(super) writable: bool,
    pub(super) flush_pending: bool,
    pub(super) started: Instant,
    pub(super) last_frame: Instant,
    /// When the last market event arrived (or the connection opened): the data watchdog.
    pub(super) last_event: Instant,
    pub(super) opened_at: Option<Instant>,
    pub(super) addr: Option<SocketAddr>,
    pub(super) limiter: RateLimiter,
    pub(super) outbox: VecDeque<String>,
    pub(super) delivered: bool,
    /// The request URL, fixed when the connection starts.
    pub(super) url: String,
    /// Streams named in that URL; the others are subscribed once it is open.
    pub(super) url_streams: Vec<Stream>,
    /// The stream of a raw single-stream URL, whose payloads do not name it.
    pub(super) raw_hint: Option<Stream>,
}

/// Outcome of advancing one connection.
pub(super) enum Step {
    Continue,
    Failed(FeedError),
    /// `serverShutdown` seen.
    ShutdownNotice,
    Closed,
}

impl Feed {
    pub(super) fn start_conn(&mut self, now: Instant, standby: bool) -> Conn {
        // The next token of the range, wrapping around at its end.
        self.next_token += 1;
        if self.next_token >= self.tokens.end {
            self.next_token = self.tokens.start;
        }
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

    /// Advances one connection as far as it goes without blocking.
    pub(super) fn advance(
        &mut self,
        conn: &mut Conn,
        poll: &mut Poll,
        now: Instant,
        deliver: bool,
        handler: &mut dyn FeedHandler,
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
                    let dialed = dial.advance(ready, poll, conn.token);
                    conn.addr = dial.peer_addr();
                    match dialed {
                        Ok(Some(tls)) => {
                            let host = &self.config.endpoint.host;
                            match websocket::start(
                                tls,
                                &conn.url,
                                self.config.max_message_size,
                                host,
                            ) {
                                Ok(Upgrade::Open(ws)) => (Phase::Open(ws), true),
                                Ok(Upgrade::Pending(h)) => (Phase::Upgrading(h), false),
                                Err(e) => return Step::Failed(e),
                            }
                        }
                        Ok(None) => (Phase::Dialing(dial), false),
                        Err(e) => return Step::Failed(e.into()),
                    }
                }
                Phase::Upgrading(h) => {
                    if !(conn.readable || conn.writable) {
                        (Phase::Upgrading(h), false)
                    } else {
                        conn.readable = false;
                        conn.writable = false;
                        match h.resume(&self.config.endpoint.host) {
                            Ok(Upgrade::Open(ws)) => (Phase::Open(ws), true),
                            Ok(Upgrade::Pending(h)) => (Phase::Upgrading(h), false),
                            Err(e) => return Step::Failed(e),
                        }
                    }
                }
                Phase::Open(ws) => {
                    if conn.opened_at.is_none() {
                        self.on_open(conn, ws.tls_info(), now, handler);
                    }
                    conn.phase = Phase::Open(ws);
                    return self.stream(conn, now, deliver, handler);
                }
                Phase::Closing(mut ws, deadline) => {
                    if now > deadline {
                        return Step::Failed(FeedError::CloseTimeout(CLOSE_TIMEOUT));
                    }
                    if ws.finish_close() {
                        conn.phase = Phase::Done;
                        return Step::Closed;
                    }
                    conn.phase = Phase::Closing(ws, deadline);
                    return Step::Continue;
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

    fn on_open(
        &mut self,
        conn: &mut Conn,
        tls: TlsInfo,
        now: Instant,
        handler: &mut dyn FeedHandler,
    ) {
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
            handler.on_notice(Notice::Connected {
                addr,
                standby: conn.standby,
                tls,
            });
        }
    }

    fn stream(
        &mut self,
        conn: &mut Conn,
        now: Instant,
        deliver: bool,
        handler: &mut dyn FeedHandler,
    ) -> Step {
        let Phase::Open(ws) = &mut conn.phase else {
            return Step::Continue;
        };
        let mut step = Step::Continue;
        if conn.readable {
            for _ in 0..READ_BUDGET {
                let frame = match ws.read() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => {
                        conn.readable = false;
                        break;
                    }
                    Err(e) => {
                        if matches!(e, FeedError::Oversize(_)) {
                            self.counters.oversize += 1;
                        }
                        return Step::Failed(e);
                    }
                };
                conn.last_frame = now;
                match frame {
                    Frame::Text(text) => {
                        let text = text.as_str();
                        self.counters.messages += 1;
                        self.counters.bytes += text.len() as u64;
                        let hint = conn.raw_hint.as_ref().map(Stream::as_ref);
                        let overlap =
                            (self.standby.is_some() || conn.standby).then_some(&mut self.overlap);
                        let source = Source {
                            hint,
                            deliver,
                            overlap,
                            from_standby: conn.standby,
                        };
                        match handle_text(text, source, &mut self.counters, handler) {
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
                    Frame::Ping(len) => {
                        self.counters.bytes += len as u64;
                        self.counters.pings += 1;
                        // The pong tungstenite queued counts against the rate limit.
                        conn.limiter.record(now);
                        conn.flush_pending = true;
                    }
                    Frame::Binary(len) => {
                        self.counters.messages += 1;
                        self.counters.bytes += len as u64;
                        self.counters.malformed += 1;
                        handler.on_notice(Notice::Malformed {
                            error: &"unexpected binary frame",
                        });
                    }
                    Frame::Close(reason) => return Step::Failed(FeedError::ClosedByServer(reason)),
                    Frame::Other => {}
                }
            }
        }
        // Control requests, within the rate limit.
        while !conn.outbox.is_empty() && conn.limiter.try_acquire(now).is_ok() {
            let text = conn.outbox.pop_front().expect("non-empty");
            if let Err(e) = ws.send_text(text) {
                return Step::Failed(e);
            }
            conn.flush_pending = true;
        }
        if conn.flush_pending || conn.writable {
            match ws.flush() {
                Ok(true) => {
                    conn.flush_pending = false;
                    conn.writable = false;
                }
                Ok(false) => {
                    conn.flush_pending = true;
                    conn.writable = false;
                }
                Err(e) => return Step::Failed(e),
            }
        }
        if now.duration_since(conn.last_frame) > self.config.read_timeout {
            return Step::Failed(FeedError::ReadTimeout(self.config.read_timeout));
        }
        if let Some(stall) = self.stall_timeout {
            if now.duration_since(conn.last_event) > stall {
                return Step::Failed(FeedError::Stalled(stall));
            }
        }
        step
    }
}

pub(super) fn begin_close(conn: &mut Conn, now: Instant) {
    match std::mem::replace(&mut conn.phase, Phase::Done) {
        Phase::Open(mut ws) => {
            ws.start_close();
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

/// Where a text frame came from and what may be done with its event.
struct Source<'a, 'o> {
    /// The stream of a raw single-stream connection (its payloads do not name it).
    hint: Option<StreamRef<'a>>,
    /// False for a retiring connection: events are decoded but not handed out.
    deliver: bool,
    /// The deduplication state while two connections overlap.
    overlap: Option<&'o mut Overlap>,
    from_standby: bool,
}

fn handle_text(
    text: &str,
    source: Source<'_, '_>,
    counters: &mut FeedCounters,
    handler: &mut dyn FeedHandler,
) -> TextOutcome {
    let Source {
        hint,
        deliver,
        overlap,
        from_standby,
    } = source;
    match decode(text, hint) {
        Ok(Message::Event(ev)) => {
            let fresh = match overlap {
                None => true,
                Some(o) => o.admit(&ev, from_standby),
            };
            if deliver && fresh {
                counters.events += 1;
                handler.on_event(&ev, text.len());
            }
            TextOutcome::Event
        }
        Ok(Message::Response(r)) => {
            handler.on_notice(Notice::Ack {
                id: r.id.unwrap_or(0),
            });
            TextOutcome::Other
        }
        Ok(Message::Error(e)) => {
            handler.on_notice(Notice::ControlError {
                id: e.id,
                code: e.code,
                msg: &e.msg,
            });
            TextOutcome::Other
        }
        Ok(Message::ServerShutdown(_)) => TextOutcome::ShutdownNotice,
        Err(e) => {
            counters.malformed += 1;
            handler.on_notice(Notice::Malformed { error: &e });
            TextOutcome::Other
        }
    }
}
