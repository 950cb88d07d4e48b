//! A small keep-alive HTTP/1.1 server on F-Stack sockets: the logic behind
//! `examples/http_server.rs` (F-Stack's helloworld, done properly).
//!
//! # Parsing
//!
//! Requests are parsed incrementally from hostile input with [`httparse`] plus the checks of
//! RFC 9112 that httparse leaves to its caller, strictly: whatever could be read two ways by
//! another HTTP implementation (a proxy in front of this server) is refused, and the
//! connection closes after the error, so nothing that follows is read as another request
//! (request smuggling). Refused with `400 Bad Request` and close:
//! - a malformed request line, a version other than HTTP/1.0 and HTTP/1.1, a request target
//!   that is not ASCII origin-form (`/...`) or `*`;
//! - a header name with a character outside `token`, including whitespace before the colon
//!   (`Content-Length : 5`, RFC 9112 §5.1); control characters in a value;
//! - obs-fold (a header line starting with space or tab, RFC 9112 §5.2); bare CR, and bare LF
//!   as a line end (RFC 9112 §2.2 allows recipients to accept it; this server does not);
//! - more than one `Content-Length` (even with equal values) or one that is not a plain
//!   decimal number; `Content-Length` together with `Transfer-Encoding` (RFC 9112 §6.3);
//!   `Transfer-Encoding` in an HTTP/1.0 request, or whose final coding is not `chunked`, or
//!   that applies `chunked` twice;
//! - in a chunked body: a chunk size that is not 1*HEXDIG, a control character in a chunk
//!   extension, chunk data not followed by CRLF, a malformed trailer section;
//! - GET or HEAD with a body (`Content-Length` above 0 or any `Transfer-Encoding`).
//!
//! Also: a request head (or trailer section) over [`MAX_HEAD`] bytes or with over
//! [`MAX_HEADERS`] fields gets `431` and close; a body over [`MAX_BODY`] gets `413` and close;
//! a transfer coding other than `chunked` (e.g. `gzip, chunked`) gets `501 Not Implemented`
//! and close (RFC 9112 §6.1). Other methods get `405` with `Allow: GET, HEAD` after their body
//! (`Content-Length` or chunked) has been read and discarded, and the connection stays open.
//! Pipelined requests are answered in order. `Host` is not required (the page is the same for
//! every host).
//!
//! # Timeouts and the connection limit
//!
//! F-Stack's loop never blocks and its sockets have no timeouts, so every deadline is state
//! checked by [`HttpServer::poll_at`] with the loop's `now` (see [`ServerConfig`]):
//! - **header timeout**: a request head must be complete within
//!   [`ServerConfig::header_timeout`] of its first byte (the first request's, of the accept).
//!   Trickling bytes does not extend it (slowloris). If some of the request had arrived the
//!   client gets `408 Request Timeout`, otherwise the connection just closes.
//! - **idle timeout**: a keep-alive connection with no request in progress is closed after
//!   [`ServerConfig::idle_timeout`]; so is one whose request body or response makes no
//!   progress for that long.
//! - **connection limit**: at most [`ServerConfig::max_connections`] connections are open.
//!   A connection arriving at the limit is accepted, and to make room the server closes the
//!   connection that waits longest in this order: one lingering after its last response, one
//!   with an incomplete request, an idle keep-alive one, one that has sent nothing yet; never
//!   one whose response is being written (if all are, the newcomer is closed instead). A line
//!   on stderr says so, at most once a second. Slow clients thus lose their place to fresh
//!   ones instead of locking them out.
//!
//! After its last response the server half-closes a connection and reads (and drops) what the
//! client still sends, for at most [`LINGER`], before closing it: closing a socket with unread
//! data sends a reset that can destroy the response before the client read it (RFC 9112 §9.6).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use fstack::{Events, FStackListener, FStackSocket, Interest, Poll, Token};

/// Largest accepted request head (request line + headers), and trailer section.
pub const MAX_HEAD: usize = 8192;
/// Most header fields in a request head (or trailer section); more get `431`.
pub const MAX_HEADERS: usize = 100;
/// Largest accepted request body (it is read and discarded); larger gets `413`.
pub const MAX_BODY: u64 = 1 << 20;
/// Longest chunk-size line (size and extensions) of a chunked body.
const MAX_CHUNK_LINE: usize = 1024;
/// Responses waiting to be written beyond this stop further reading from that connection.
const MAX_PENDING_OUT: usize = 256 * 1024;
/// How long a connection is drained after its last response before it is closed.
pub const LINGER: Duration = Duration::from_secs(2);
/// At most this much is read and dropped while lingering.
const MAX_LINGER_BYTES: usize = 1 << 20;
/// How often deadlines are checked: connections close at most this late.
const SWEEP_EVERY: Duration = Duration::from_millis(100);
/// The connection-limit line is printed at most this often.
const SHED_LOG_EVERY: Duration = Duration::from_secs(1);

/// Default [`ServerConfig::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ServerConfig::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`ServerConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

const LISTENER: Token = Token(usize::MAX);

/// The page served to every GET.
pub const PAGE: &str = "<!DOCTYPE html>\n<html>\n<head><title>Welcome to F-Stack!</title></head>\n\
<body>\n<h1>Welcome to F-Stack!</h1>\n<p>Served from Rust over F-Stack's user-space TCP/IP stack.</p>\n\
</body>\n</html>\n";

/// What one complete request asks for, or why it is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// GET or HEAD; `close` when the client asked for (or its version implies) no keep-alive.
    Page {
        /// HEAD: headers only.
        head_only: bool,
        /// Close after answering.
        close: bool,
    },
    /// Another method: `405` (after its body was read), connection kept.
    MethodNotAllowed {
        /// Close after answering.
        close: bool,
    },
    /// Unparseable or ambiguous request: `400`, then close.
    Bad,
    /// Head (or trailer section) over [`MAX_HEAD`] bytes or [`MAX_HEADERS`] fields: `431`,
    /// then close.
    TooLarge,
    /// Body over [`MAX_BODY`] bytes: `413`, then close.
    ContentTooLarge,
    /// A transfer coding other than `chunked`: `501`, then close.
    NotImplemented,
    /// The head was not complete within the header timeout: `408`, then close.
    Timeout,
}

/// How the body of a request is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked,
}

/// Where a [`RequestParser`] is inside a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: expecting the trailer section and its final CRLF.
    Trailers,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Head,
    /// Reading (and dropping) a body; `request` is answered once it is complete.
    Length {
        request: Request,
        left: u64,
    },
    Chunked {
        request: Request,
        chunk: Chunk,
        total: u64,
    },
}

/// Incremental parser of the requests on one connection: heads through [`httparse`], bodies
/// framed by `Content-Length` or chunked and dropped. See the [module docs](self) for what
/// is refused.
#[derive(Debug)]
pub struct RequestParser {
    state: State,
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser::new()
    }
}

impl RequestParser {
    /// A parser expecting a request head.
    pub fn new() -> RequestParser {
        RequestParser { state: State::Head }
    }

    /// True between requests or inside a request head (not inside a body).
    pub fn in_head(&self) -> bool {
        self.state == State::Head
    }

    /// Consumes bytes from the front of `buf` (the connection's unconsumed input): returns how
    /// many, and the request to answer once one is complete (or refused). `(0, None)` means it
    /// needs more input. After a request that closes the connection ([`respond`] returns true)
    /// the parser must not be used again.
    pub fn advance(&mut self, buf: &[u8]) -> (usize, Option<Request>) {
        match std::mem::replace(&mut self.state, State::Head) {
            State::Head => self.head(buf),
            State::Length { request, left } => {
                let take = left.min(buf.len() as u64);
                let left = left - take;
                if left == 0 {
                    (take as usize, Some(request))
                } else {
                    self.state = State::Length { request, left };
                    (take as usize, None)
                }
            }
            State::Chunked {
                request,
                chunk,
                total,
            } => self.chunked(buf, request, chunk, total),
        }
    }

    fn head(&mut self, buf: &[u8]) -> (usize, Option<Request>) {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let used = match req.parse(buf) {
            Ok(httparse::Status::Complete(used)) => used,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return (buf.len(), Some(Request::TooLarge))
            }
            Ok(httparse::Status::Partial) => return (0, None),
            Err(httparse::Error::TooManyHeaders) => return (buf.len(), Some(Request::TooLarge)),
            Err(_) => return (buf.len(), Some(Request::Bad)),
        };
        if used > MAX_HEAD {
            return (buf.len(), Some(Request::TooLarge));
        }
        if has_bare_lf(&buf[..used]) {
            return (buf.len(), Some(Request::Bad));
        }
        match analyse(&req) {
            Err(refusal) => (buf.len(), Some(refusal)),
            Ok((request, None | Some(Body::Length(0)))) => (used, Some(request)),
            Ok((request, Some(Body::Length(left)))) => {
                self.state = State::Length { request, left };
                (used, None)
            }
            Ok((request, Some(Body::Chunked))) => {
                self.state = State::Chunked {
                    request,
                    chunk: Chunk::Size,
                    total: 0,
                };
                (used, None)
            }
        }
    }

    fn chunked(
        &mut self,
        buf: &[u8],
        request: Request,
        chunk: Chunk,
        total: u64,
    ) -> (usize, Option<Request>) {
        let refuse = |why: Request| (buf.len(), Some(why));
        let (used, chunk, total) = match chunk {
            Chunk::Size => match httparse::parse_chunk_size(buf) {
                Ok(httparse::Status::Complete((used, size))) => {
                    // httparse accepts an empty size ("\r\n" or ";ext") as 0 and any byte in
                    // extensions: RFC 9112 §7.1 wants 1*HEXDIG and no control characters.
                    let line = &buf[..used - 2];
                    if !buf[0].is_ascii_hexdigit() || line.iter().any(|&b| is_ctl(b)) {
                        return refuse(Request::Bad);
                    }
                    let total = total.saturating_add(size);
                    if total > MAX_BODY {
                        return refuse(Request::ContentTooLarge);
                    }
                    let next = if size == 0 {
                        Chunk::Trailers
                    } else {
                        Chunk::Data(size)
                    };
                    (used, next, total)
                }
                Ok(httparse::Status::Partial) if buf.len() > MAX_CHUNK_LINE => {
                    return refuse(Request::Bad)
                }
                Ok(httparse::Status::Partial) => (0, Chunk::Size, total),
                Err(_) => return refuse(Request::Bad),
            },
            Chunk::Data(left) => {
                let take = left.min(buf.len() as u64);
                let next = if take == left {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left - take)
                };
                (take as usize, next, total)
            }
            Chunk::DataEnd => match buf {
                [b'\r', b'\n', ..] => (2, Chunk::Size, total),
                [] | [b'\r'] => (0, Chunk::DataEnd, total),
                _ => return refuse(Request::Bad),
            },
            Chunk::Trailers => {
                let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
                match httparse::parse_headers(buf, &mut fields) {
                    Ok(httparse::Status::Complete((used, _))) => {
                        if used > MAX_HEAD {
                            return refuse(Request::TooLarge);
                        }
                        if has_bare_lf(&buf[..used]) {
                            return refuse(Request::Bad);
                        }
                        return (used, Some(request));
                    }
                    Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                        return refuse(Request::TooLarge)
                    }
                    Ok(httparse::Status::Partial) => (0, Chunk::Trailers, total),
                    Err(httparse::Error::TooManyHeaders) => return refuse(Request::TooLarge),
                    Err(_) => return refuse(Request::Bad),
                }
            }
        };
        self.state = State::Chunked {
            request,
            chunk,
            total,
        };
        (used, None)
    }
}

/// Control characters other than HTAB (RFC 5234 CTL).
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// An LF not preceded by CR (httparse accepts bare LF as a line end).
fn has_bare_lf(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
}

/// Splits a field value into its comma-separated list elements, trimmed of optional
/// whitespace, skipping empty ones (RFC 9110 §5.6.1).
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|e| e.trim_ascii())
        .filter(|e| !e.is_empty())
}

/// Decides what a complete, syntactically valid head asks for and how its body is framed.
fn analyse(req: &httparse::Request) -> Result<(Request, Option<Body>), Request> {
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(Request::Bad);
    };
    if !target.is_ascii() || !target.starts_with('/') && target != "*" {
        return Err(Request::Bad);
    }
    let mut close = version == 0;
    let mut content_length = None;
    let mut codings: Option<Vec<&[u8]>> = None;
    for field in req.headers.iter() {
        let name = field.name;
        if name.eq_ignore_ascii_case("connection") {
            for option in list_elements(field.value) {
                if option.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if option.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            // One field, one plain decimal: duplicates (even equal ones) and lists are refused.
            if content_length.is_some() {
                return Err(Request::Bad);
            }
            content_length = Some(parse_content_length(field.value).ok_or(Request::Bad)?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            codings
                .get_or_insert_with(Vec::new)
                .extend(list_elements(field.value));
        }
    }
    let body = match (codings, content_length) {
        (Some(_), Some(_)) => return Err(Request::Bad),
        (Some(codings), None) => {
            let Some((last, rest)) = codings.split_last() else {
                return Err(Request::Bad);
            };
            let chunked = |c: &&[u8]| c.eq_ignore_ascii_case(b"chunked");
            if version == 0 || !chunked(last) || rest.iter().any(chunked) {
                return Err(Request::Bad);
            }
            if !rest.is_empty() {
                return Err(Request::NotImplemented);
            }
            Some(Body::Chunked)
        }
        (None, Some(len)) if len > MAX_BODY => return Err(Request::ContentTooLarge),
        (None, Some(len)) => Some(Body::Length(len)),
        (None, None) => None,
    };
    let has_body = !matches!(body, None | Some(Body::Length(0)));
    let request = match method {
        "GET" | "HEAD" if has_body => return Err(Request::Bad),
        "GET" => Request::Page {
            head_only: false,
            close,
        },
        "HEAD" => Request::Page {
            head_only: true,
            close,
        },
        _ => Request::MethodNotAllowed { close },
    };
    Ok((request, body))
}

/// `1*DIGIT`, within u64.
fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Parses one request (head and body) from the front of `buf`: `Some((request, bytes
/// consumed))`, or `None` while it is incomplete. A convenience over [`RequestParser`].
pub fn parse_request(buf: &[u8]) -> Option<(Request, usize)> {
    let mut parser = RequestParser::new();
    let mut used = 0;
    loop {
        let (n, request) = parser.advance(&buf[used..]);
        used += n;
        if let Some(request) = request {
            return Some((request, used));
        }
        if n == 0 {
            return None;
        }
    }
}

/// Appends the response for `request` to `out`; returns whether to close afterwards.
pub fn respond(request: &Request, out: &mut Vec<u8>) -> bool {
    let (status, body, head_only, close) = match *request {
        Request::Page { head_only, close } => ("200 OK", PAGE, head_only, close),
        Request::MethodNotAllowed { close } => (
            "405 Method Not Allowed",
            "method not allowed\n",
            false,
            close,
        ),
        Request::Bad => ("400 Bad Request", "bad request\n", false, true),
        Request::TooLarge => (
            "431 Request Header Fields Too Large",
            "request head too large\n",
            false,
            true,
        ),
        Request::ContentTooLarge => (
            "413 Content Too Large",
            "request body too large\n",
            false,
            true,
        ),
        Request::NotImplemented => (
            "501 Not Implemented",
            "transfer coding not implemented\n",
            false,
            true,
        ),
        Request::Timeout => ("408 Request Timeout", "request timeout\n", false, true),
    };
    let connection = if close { "close" } else { "keep-alive" };
    let allow = if matches!(request, Request::MethodNotAllowed { .. }) {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {status}\r\nServer: fstack-rs\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: {connection}\r\n{allow}\r\n",
            body.len()
        )
        .as_bytes(),
    );
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    close
}

/// Timeouts and limits of an [`HttpServer`]; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// A request head must be complete within this long of its first byte (for the first
    /// request on a connection: of the accept). Default [`DEFAULT_HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// A connection with no request in progress, or whose body or response makes no progress,
    /// is closed after this long. Default [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// Most connections open at once (at least 1). Default [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Which deadline of a connection passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// The request head was not complete in time.
    Header,
    /// No request in progress, or no progress, for the idle timeout.
    Idle,
    /// Lingering after the last response is over.
    Linger,
}

/// The deadlines of one connection, as state advanced with the caller's `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ConnTimer {
    /// When the current request head began (its first byte, or the accept for the first
    /// request); `None` when no head is pending (idle, or inside a body).
    head_since: Option<Instant>,
    /// When the current (or last) request began: its head's first byte, or the accept.
    request_since: Instant,
    /// Last byte read or written.
    progress: Instant,
    /// When lingering began.
    linger_since: Option<Instant>,
}

impl ConnTimer {
    /// A connection accepted at `now`: its first request head is due within the header
    /// timeout.
    fn new(now: Instant) -> ConnTimer {
        ConnTimer {
            head_since: Some(now),
            request_since: now,
            progress: now,
            linger_since: None,
        }
    }

    /// Bytes were read or written.
    fn progress(&mut self, now: Instant) {
        self.progress = now;
    }

    /// A request's head is complete (answered, or its body follows).
    fn head_done(&mut self) {
        self.head_since = None;
    }

    /// After parsing: whether part of a next head is waiting. Starts its clock at `now` if it
    /// was not running; stops it if nothing waits.
    fn head_pending(&mut self, now: Instant, pending: bool) {
        if !pending {
            self.head_since = None;
        } else if self.head_since.is_none() {
            self.head_since = Some(now);
            self.request_since = now;
        }
    }

    /// The last response went out: linger from `now`.
    fn linger(&mut self, now: Instant) {
        self.linger_since = Some(now);
    }

    /// The next deadline and what passes then; `None` if a timeout is too large to fall
    /// within the clock's range (never).
    fn deadline(&self, config: &ServerConfig) -> Option<(Instant, Expiry)> {
        let (since, timeout, what) = match (self.linger_since, self.head_since) {
            (Some(since), _) => (since, LINGER, Expiry::Linger),
            (None, Some(since)) => (since, config.header_timeout, Expiry::Header),
            (None, None) => (self.progress, config.idle_timeout, Expiry::Idle),
        };
        Some((since.checked_add(timeout)?, what))
    }

    /// The deadline that has passed at `now`, if any.
    fn expired(&self, now: Instant, config: &ServerConfig) -> Option<Expiry> {
        let (at, what) = self.deadline(config)?;
        (now >= at).then_some(what)
    }
}

/// Rate-limited reporting of connections shed at the connection limit.
#[derive(Debug)]
struct ShedLog {
    limit: usize,
    closed: u64,
    refused: u64,
    last: Option<Instant>,
}

impl ShedLog {
    fn new(limit: usize) -> ShedLog {
        ShedLog {
            limit,
            closed: 0,
            refused: 0,
            last: None,
        }
    }

    /// Counts one shed connection (`refused`: the newcomer itself); returns the line to print
    /// if one is due.
    fn record(&mut self, now: Instant, refused: bool) -> Option<String> {
        if refused {
            self.refused += 1;
        } else {
            self.closed += 1;
        }
        self.due(now)
    }

    /// The line summarising what was shed since the last one, at most once per
    /// [`SHED_LOG_EVERY`] (the first at once).
    fn due(&mut self, now: Instant) -> Option<String> {
        if self.closed + self.refused == 0
            || self.last.is_some_and(|last| now < last + SHED_LOG_EVERY)
        {
            return None;
        }
        let line = format!(
            "http_server: connection limit {} reached (--max-connections): closed {} waiting \
             connection(s) (lingering, incomplete request, idle, silent; oldest first) and \
             refused {} new one(s)",
            self.limit, self.closed, self.refused
        );
        self.closed = 0;
        self.refused = 0;
        self.last = Some(now);
        Some(line)
    }
}

struct Conn {
    sock: FStackSocket,
    parser: RequestParser,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    /// Requests answered on this connection.
    requests: u64,
    /// No more requests are read: close (or linger) once the output is flushed.
    closing: bool,
    /// The peer closed its side: nothing to linger for.
    peer_closed: bool,
    /// Write side shut down; reading and dropping until EOF or the linger deadline.
    lingering: bool,
    lingered_bytes: usize,
    readable: bool,
    writable: bool,
    timer: ConnTimer,
}

impl Conn {
    /// Where this connection stands when one must be closed to make room: lower first,
    /// older first within a class; `None` while its response is being written.
    fn shed_rank(&self) -> Option<(u8, Instant)> {
        if self.lingering {
            return Some((0, self.timer.linger_since.unwrap_or(self.timer.progress)));
        }
        if self.written < self.output.len() {
            return None;
        }
        if !self.parser.in_head() || !self.input.is_empty() {
            return Some((1, self.timer.request_since));
        }
        if self.requests > 0 {
            return Some((2, self.timer.progress));
        }
        Some((3, self.timer.request_since))
    }
}

/// Counters for the server's lifetime.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted.
    pub accepted: u64,
    /// Requests answered (any status but `408`).
    pub requests: u64,
    /// Connections closed by the header or idle timeout.
    pub timed_out: u64,
    /// Connections closed at the connection limit (including refused newcomers).
    pub shed: u64,
    /// Most connections open at once.
    pub peak_connections: usize,
}

/// The server: a listener and its connections, advanced by [`HttpServer::poll_at`] (or
/// [`HttpServer::poll_once`]) once per F-Stack loop iteration.
pub struct HttpServer {
    listener: FStackListener,
    poll: Poll,
    events: Events,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    stats: Stats,
    config: ServerConfig,
    next_sweep: Option<Instant>,
    shed_log: ShedLog,
}

impl HttpServer {
    /// Binds `addr` and starts listening, with the default [`ServerConfig`].
    pub fn bind(addr: SocketAddr) -> fstack::Result<HttpServer> {
        HttpServer::bind_with(addr, ServerConfig::default())
    }

    /// Binds `addr` and starts listening, with `config`'s timeouts and limit.
    pub fn bind_with(addr: SocketAddr, config: ServerConfig) -> fstack::Result<HttpServer> {
        if config.max_connections == 0 {
            return Err(fstack::Error::InvalidArgument(
                "max_connections must be at least 1".into(),
            ));
        }
        let listener = FStackListener::bind(addr)?;
        let mut poll = Poll::new()?;
        poll.register(&listener, LISTENER, Interest::READABLE)?;
        Ok(HttpServer {
            listener,
            poll,
            events: Events::with_capacity(256),
            conns: Vec::new(),
            free: Vec::new(),
            stats: Stats::default(),
            config,
            next_sweep: None,
            shed_log: ShedLog::new(config.max_connections),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> fstack::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The timeouts and limit in force.
    pub fn config(&self) -> ServerConfig {
        self.config
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.conns.len() - self.free.len()
    }

    /// Closes every open connection (for a clean shutdown: call it inside the loop, before
    /// breaking out of it). Returns how many were closed.
    pub fn close_all(&mut self) -> usize {
        let mut closed = 0;
        for id in 0..self.conns.len() {
            if self.conns[id].is_some() {
                self.remove(id);
                closed += 1;
            }
        }
        closed
    }

    /// [`HttpServer::poll_at`] with `Instant::now()`.
    pub fn poll_once(&mut self) -> fstack::Result<()> {
        self.poll_at(Instant::now())
    }

    /// Accepts, reads, answers and writes whatever is ready, without blocking, and closes the
    /// connections whose deadline passed by `now` (checked every 100 ms).
    pub fn poll_at(&mut self, now: Instant) -> fstack::Result<()> {
        self.poll.poll(&mut self.events)?;
        let mut accept = false;
        for ev in &self.events {
            if ev.token() == LISTENER {
                accept = true;
            } else if let Some(Some(conn)) = self.conns.get_mut(ev.token().0) {
                conn.readable |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
                conn.writable |= ev.is_writable() || ev.is_error();
            }
        }
        if accept {
            self.accept_all(now)?;
        }
        for id in 0..self.conns.len() {
            let Some(conn) = self.conns[id].as_mut() else {
                continue;
            };
            if !(conn.readable || conn.writable) {
                continue;
            }
            if !drive(conn, now, &mut self.stats) {
                self.remove(id);
            }
        }
        if self.next_sweep.is_none_or(|at| now >= at) {
            self.next_sweep = Some(now + SWEEP_EVERY);
            self.sweep(now);
        }
        Ok(())
    }

    /// Handles the connections whose deadline passed.
    fn sweep(&mut self, now: Instant) {
        for id in 0..self.conns.len() {
            let Some(conn) = self.conns[id].as_mut() else {
                continue;
            };
            let Some(expiry) = conn.timer.expired(now, &self.config) else {
                continue;
            };
            if expiry != Expiry::Linger {
                self.stats.timed_out += 1;
            }
            if expiry == Expiry::Header && !conn.closing && !conn.input.is_empty() {
                // Part of a request arrived: say why before closing. The flush then has the
                // idle timeout to complete, and the connection lingers as after any last
                // response.
                respond(&Request::Timeout, &mut conn.output);
                conn.closing = true;
                conn.timer.head_done();
                conn.timer.progress(now);
                conn.writable = true;
                if drive(conn, now, &mut self.stats) {
                    continue;
                }
            }
            self.remove(id);
        }
        if let Some(line) = self.shed_log.due(now) {
            eprintln!("{line}");
        }
    }

    fn remove(&mut self, id: usize) {
        if let Some(conn) = self.conns[id].take() {
            let _ = self.poll.deregister(&conn.sock);
            drop(conn); // ff_close: FIN to the peer
            self.free.push(id);
        }
    }

    /// Closes the connection that [`Conn::shed_rank`] puts first; false if none may go.
    fn shed_one(&mut self) -> bool {
        let victim = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(id, c)| Some((c.as_ref()?.shed_rank()?, id)))
            .min();
        match victim {
            Some((_, id)) => {
                self.remove(id);
                true
            }
            None => false,
        }
    }

    fn accept_all(&mut self, now: Instant) -> fstack::Result<()> {
        loop {
            let (sock, _peer) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.is_would_block() => return Ok(()),
                // A connection reset before accept, or out of descriptors: keep serving the
                // others; the listener reports readable again for what is still queued.
                Err(e) => {
                    eprintln!("http_server: accept: {e}");
                    return Ok(());
                }
            };
            self.stats.accepted += 1;
            if self.connections() >= self.config.max_connections {
                let refused = !self.shed_one();
                self.stats.shed += 1;
                if let Some(line) = self.shed_log.record(now, refused) {
                    eprintln!("{line}");
                }
                if refused {
                    drop(sock); // every other connection is being answered
                    continue;
                }
            }
            let id = self.free.pop().unwrap_or_else(|| {
                self.conns.push(None);
                self.conns.len() - 1
            });
            let _ = sock.set_nodelay(true);
            self.poll
                .register(&sock, Token(id), Interest::READABLE.add(Interest::WRITABLE))?;
            let mut conn = Conn {
                sock,
                parser: RequestParser::new(),
                input: Vec::new(),
                output: Vec::new(),
                written: 0,
                requests: 0,
                closing: false,
                peer_closed: false,
                lingering: false,
                lingered_bytes: 0,
                // Data may already be queued: read at once, so that the connection's place
                // in the shedding order is known before the next accept.
                readable: true,
                writable: true,
                timer: ConnTimer::new(now),
            };
            let keep = drive(&mut conn, now, &mut self.stats);
            self.conns[id] = Some(conn);
            if !keep {
                self.remove(id);
            }
            self.stats.peak_connections = self.stats.peak_connections.max(self.connections());
        }
    }
}

/// Parses and answers what `conn.input` holds.
fn process_input(conn: &mut Conn, now: Instant, stats: &mut Stats) {
    let mut used = 0;
    loop {
        let was_head = conn.parser.in_head();
        let (n, request) = conn.parser.advance(&conn.input[used..]);
        used += n;
        if was_head && !conn.parser.in_head() {
            conn.timer.head_done(); // a body follows
        }
        let Some(request) = request else {
            if n == 0 {
                break;
            }
            continue;
        };
        stats.requests += 1;
        conn.requests += 1;
        conn.timer.head_done();
        if respond(&request, &mut conn.output) {
            conn.closing = true;
            break;
        }
        // Pipelined bytes of the next request start its header clock now.
        conn.timer.head_pending(now, used < conn.input.len());
    }
    conn.input.drain(..used);
    if conn.closing {
        conn.input.clear();
    } else {
        conn.timer
            .head_pending(now, conn.parser.in_head() && !conn.input.is_empty());
    }
}

/// Advances one connection; false when it should be closed.
fn drive(conn: &mut Conn, now: Instant, stats: &mut Stats) -> bool {
    let mut buf = [0u8; 4096];
    while conn.readable && conn.lingering {
        match conn.sock.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                conn.lingered_bytes += n;
                if conn.lingered_bytes > MAX_LINGER_BYTES {
                    return false;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => conn.readable = false,
            Err(_) => return false,
        }
    }
    while conn.readable && !conn.closing && conn.output.len() - conn.written < MAX_PENDING_OUT {
        match conn.sock.read(&mut buf) {
            Ok(0) => {
                conn.closing = true;
                conn.peer_closed = true;
                conn.readable = false;
            }
            Ok(n) => {
                conn.timer.progress(now);
                conn.input.extend_from_slice(&buf[..n]);
                process_input(conn, now, stats);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => conn.readable = false,
            Err(_) => return false,
        }
    }
    while conn.writable && conn.written < conn.output.len() {
        match conn.sock.write(&conn.output[conn.written..]) {
            Ok(n) => {
                conn.written += n;
                conn.timer.progress(now);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => conn.writable = false,
            Err(_) => return false,
        }
    }
    if conn.written == conn.output.len() {
        conn.output.clear();
        conn.written = 0;
        if conn.closing && !conn.lingering {
            if conn.peer_closed || conn.sock.shutdown(Shutdown::Write).is_err() {
                return false;
            }
            // Half-closed: the client reads the response and EOF; what it still sends is
            // drained (a close with unread data would reset the connection).
            conn.lingering = true;
            conn.readable = true;
            conn.timer.linger(now);
            return drive(conn, now, stats);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keep_alive_and_close() {
        let (r, n) = parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET").unwrap();
        assert_eq!(
            r,
            Request::Page {
                head_only: false,
                close: false
            }
        );
        assert_eq!(n, 27);
        let (r, _) = parse_request(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        assert_eq!(
            r,
            Request::Page {
                head_only: false,
                close: true
            }
        );
        let (r, _) = parse_request(b"HEAD /x HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(
            r,
            Request::Page {
                head_only: true,
                close: true
            }
        );
        let (r, _) = parse_request(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
        assert_eq!(
            r,
            Request::Page {
                head_only: false,
                close: false
            }
        );
        let (r, _) =
            parse_request(b"GET / HTTP/1.1\r\nConnection: foo, close\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
        assert_eq!(
            r,
            Request::Page {
                head_only: false,
                close: true
            }
        );
    }

    #[test]
    fn incomplete_waits_and_oversize_is_rejected() {
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(parse_request(b""), None);
        let big = vec![b'a'; MAX_HEAD + 1];
        assert_eq!(parse_request(&big).unwrap().0, Request::TooLarge);
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        assert_eq!(parse_request(&many).unwrap().0, Request::TooLarge);
    }

    #[test]
    fn rejects_garbage_and_other_methods() {
        for bad in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET noslash HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            b"GET /\xff HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(
                parse_request(bad).unwrap().0,
                Request::Bad,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let (r, _) = parse_request(b"POST / HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(r, Request::MethodNotAllowed { close: false });
    }

    /// Every way of making the head ambiguous is refused as a whole with 400.
    #[test]
    fn strict_heads_per_rfc_9112() {
        let smuggled = b"GET /smuggle1 HTTP/1.1\r\nHost: xy\r\n\r\n";
        assert_eq!(smuggled.len(), 36);
        for head in [
            // Whitespace between the field name and the colon (§5.1).
            &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 36\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 36\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length\t: 36\r\n\r\n",
            // obs-fold (§5.2), also as the first field and with an empty value before it.
            b"POST / HTTP/1.1\r\nHost: x\r\nX-Pad: a\r\n Content-Length: 36\r\n\r\n",
            b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nX-Pad:\r\n\tb\r\n\r\n",
            // Characters outside token in the name; control characters in the value.
            b"GET / HTTP/1.1\r\nX-Bad(name): 1\r\n\r\n",
            b"GET / HTTP/1.1\r\n[Content-Length]: 36\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent\x00Length: 36\r\n\r\n",
            b"GET / HTTP/1.1\r\nX-A: a\x01b\r\n\r\n",
            b"GET / HTTP/1.1\r\n: empty\r\n\r\n",
            // Bare CR and bare LF.
            b"GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n",
            b"GET / HTTP/1.1\nHost: x\n\n",
            b"GET / HTTP/1.1\r\nHost: x\n\r\n",
            // Content-Length: duplicates, conflicts, lists, signs, garbage, overflow.
            b"POST / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 36\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 36\r\nContent-Length: 36\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 36, 36\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: +36\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 0x24\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            // Content-Length with Transfer-Encoding (§6.3), in either order.
            b"POST / HTTP/1.1\r\nContent-Length: 36\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
            // Transfer-Encoding whose length cannot be determined, or in HTTP/1.0.
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked;a=b\r\n\r\n",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            // GET and HEAD with a body.
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"HEAD / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
            // Request line: extra spaces, absolute-form, non-ASCII target.
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 \r\n\r\n",
            b"GET http://x/ HTTP/1.1\r\n\r\n",
            b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
        ] {
            let mut input = head.to_vec();
            input.extend_from_slice(smuggled);
            let (r, used) = parse_request(&input).unwrap();
            assert_eq!(r, Request::Bad, "{:?}", String::from_utf8_lossy(head));
            // Everything is consumed: the connection closes, nothing more is parsed.
            assert_eq!(used, input.len(), "{:?}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn chunked_bodies_are_framed_exactly() {
        let body = b"5;name=value\r\nGET /\r\n1C\r\nGET /smuggled HTTP/1.1\r\n\r\nxx\r\n0\r\n\
                     Trailer: yes\r\n\r\n";
        let mut input = b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n".to_vec();
        let head = input.len();
        input.extend_from_slice(body);
        let next = b"GET / HTTP/1.1\r\n\r\n";
        input.extend_from_slice(next);
        let (r, used) = parse_request(&input).unwrap();
        assert_eq!(r, Request::MethodNotAllowed { close: false });
        assert_eq!(used, head + body.len());
        assert_eq!(&input[used..], next);
        // Byte by byte: the same result, and nothing before the body's end.
        let mut parser = RequestParser::new();
        let mut pos = 0;
        let mut got = None;
        for end in 1..=input.len() {
            loop {
                let (n, r) = parser.advance(&input[pos..end]);
                pos += n;
                if r.is_some() {
                    got = r;
                    break;
                }
                if n == 0 {
                    break;
                }
            }
            if got.is_some() {
                assert_eq!(end, head + body.len());
                break;
            }
        }
        assert_eq!(got, Some(Request::MethodNotAllowed { close: false }));
        // Content-Length bodies too, in pieces.
        let mut parser = RequestParser::new();
        let input = b"DELETE /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
        let (n, r) = parser.advance(&input[..47]);
        assert_eq!((n, r), (42, None));
        assert!(!parser.in_head());
        assert_eq!(parser.advance(&input[42..47]), (5, None));
        assert_eq!(
            parser.advance(&input[47..]),
            (5, Some(Request::MethodNotAllowed { close: false }))
        );
        assert!(parser.in_head());
    }

    #[test]
    fn malformed_chunks_are_refused() {
        for body in [
            &b"-5\r\nhello\r\n0\r\n\r\n"[..],
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"\r\n0\r\n\r\n",
            b";ext\r\n0\r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"5 junk\r\nhello\r\n0\r\n\r\n",
            b"5;a\nb\r\nhello\r\n0\r\n\r\n",
            b"5;a\x00\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello\r\n0\r\nX-Bad : y\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\n",
            b"11111111111111111\r\n",
        ] {
            let mut input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            input.extend_from_slice(body);
            input.extend_from_slice(b"GET /smuggled HTTP/1.1\r\n\r\n");
            let (r, used) = parse_request(&input).unwrap();
            assert_eq!(r, Request::Bad, "{:?}", String::from_utf8_lossy(body));
            assert_eq!(used, input.len());
        }
        // An endless chunk-size line.
        let mut input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;".to_vec();
        input.resize(input.len() + MAX_CHUNK_LINE, b'a');
        assert_eq!(parse_request(&input).unwrap().0, Request::Bad);
    }

    #[test]
    fn limits_and_unknown_codings() {
        let (r, _) =
            parse_request(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").unwrap();
        assert_eq!(r, Request::NotImplemented);
        let too_long = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert_eq!(
            parse_request(too_long.as_bytes()).unwrap().0,
            Request::ContentTooLarge
        );
        let chunks = format!(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            MAX_BODY + 1
        );
        assert_eq!(
            parse_request(chunks.as_bytes()).unwrap().0,
            Request::ContentTooLarge
        );
        // Exactly MAX_BODY is fine (and waits for its bytes).
        let at_limit = format!("POST / HTTP/1.1\r\nContent-Length: {MAX_BODY}\r\n\r\n");
        assert_eq!(parse_request(at_limit.as_bytes()), None);
        // A leading empty line is skipped (RFC 9112 §2.2).
        let (r, used) = parse_request(b"\r\nGET / HTTP/1.1\r\n\r\n").unwrap();
        assert!(matches!(r, Request::Page { .. }));
        assert_eq!(used, 20);
    }

    #[test]
    fn responses_have_exact_lengths() {
        let mut out = Vec::new();
        assert!(!respond(
            &Request::Page {
                head_only: false,
                close: false
            },
            &mut out
        ));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains(&format!("Content-Length: {}\r\n", PAGE.len())));
        assert!(text.ends_with(PAGE));
        let mut out = Vec::new();
        assert!(respond(&Request::Bad, &mut out));
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("Connection: close"));
        for (r, status) in [
            (Request::ContentTooLarge, "HTTP/1.1 413 Content Too Large"),
            (Request::NotImplemented, "HTTP/1.1 501 Not Implemented"),
            (Request::Timeout, "HTTP/1.1 408 Request Timeout"),
        ] {
            let mut out = Vec::new();
            assert!(respond(&r, &mut out));
            let text = String::from_utf8(out).unwrap();
            assert!(text.starts_with(&format!("{status}\r\n")), "{text}");
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.contains(&format!("Content-Length: {}", body.len())));
        }
    }

    fn config() -> ServerConfig {
        ServerConfig {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 20,
        }
    }

    #[test]
    fn header_deadline_runs_from_accept_and_is_not_extended_by_trickling() {
        let cfg = config();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut timer = ConnTimer::new(t0);
        assert_eq!(timer.expired(t0 + s(9), &cfg), None);
        // A byte every second: still due 10 s after the accept.
        for i in 1..10 {
            timer.progress(t0 + s(i));
            timer.head_pending(t0 + s(i), true);
        }
        assert_eq!(timer.deadline(&cfg), Some((t0 + s(10), Expiry::Header)));
        assert_eq!(timer.expired(t0 + s(10), &cfg), Some(Expiry::Header));
    }

    #[test]
    fn idle_deadline_after_a_response_and_a_new_head_clock_per_request() {
        let cfg = config();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut timer = ConnTimer::new(t0);
        // Request complete at 1 s, response written at 2 s: idle until 62 s.
        timer.progress(t0 + s(1));
        timer.head_done();
        timer.head_pending(t0 + s(1), false);
        timer.progress(t0 + s(2));
        assert_eq!(timer.deadline(&cfg), Some((t0 + s(62), Expiry::Idle)));
        assert_eq!(timer.expired(t0 + s(61), &cfg), None);
        // The next request's first byte at 30 s: its head is due at 40 s, more bytes or not.
        timer.progress(t0 + s(30));
        timer.head_pending(t0 + s(30), true);
        timer.progress(t0 + s(35));
        timer.head_pending(t0 + s(35), true);
        assert_eq!(timer.deadline(&cfg), Some((t0 + s(40), Expiry::Header)));
        // Inside a body (or writing), progress moves the idle deadline.
        timer.head_done();
        timer.progress(t0 + s(39));
        assert_eq!(timer.deadline(&cfg), Some((t0 + s(99), Expiry::Idle)));
        // The request began at 30 s, whatever progress its body makes (shedding order).
        assert_eq!(timer.request_since, t0 + s(30));
        // Lingering overrides both.
        timer.linger(t0 + s(50));
        assert_eq!(
            timer.deadline(&cfg),
            Some((t0 + s(50) + LINGER, Expiry::Linger))
        );
    }

    #[test]
    fn huge_timeouts_never_expire_instead_of_overflowing() {
        let cfg = ServerConfig {
            header_timeout: Duration::MAX,
            idle_timeout: Duration::MAX,
            max_connections: 1,
        };
        let t0 = Instant::now();
        let mut timer = ConnTimer::new(t0);
        assert_eq!(timer.deadline(&cfg), None);
        assert_eq!(timer.expired(t0 + Duration::from_secs(1 << 40), &cfg), None);
        timer.head_done();
        assert_eq!(timer.expired(t0 + Duration::from_secs(1 << 40), &cfg), None);
    }

    #[test]
    fn shed_log_is_rate_limited_and_counts() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut log = ShedLog::new(20);
        assert_eq!(log.due(t0), None);
        let first = log.record(t0, false).unwrap();
        assert!(first.contains("connection limit 20 reached"), "{first}");
        assert!(first.contains("closed 1 waiting"), "{first}");
        assert_eq!(log.record(t0 + ms(10), false), None);
        assert_eq!(log.record(t0 + ms(20), true), None);
        assert_eq!(log.due(t0 + ms(999)), None);
        let second = log.due(t0 + ms(1000)).unwrap();
        assert!(
            second.contains("closed 1 waiting") && second.contains("refused 1 new"),
            "{second}"
        );
        assert_eq!(log.due(t0 + ms(5000)), None, "nothing new to report");
    }
}
