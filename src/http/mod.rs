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
//! Pipelined requests are answered in order. HTTP/1.1 requests need exactly one valid `Host`
//! (RFC 9112 §3.2; the page is the same for every host); absolute-form targets are accepted.
//!
//! # Timeouts and the connection limit
//!
//! F-Stack's loop never blocks and its sockets have no timeouts, so every deadline is state
//! checked by [`HttpServer::poll_at`] with the loop's `now` (see [`ServerConfig`]):
//! - **header timeout**: a request, head and body, must be complete within
//!   [`ServerConfig::header_timeout`] of its first byte (the first request's, of the accept).
//!   Trickling bytes does not extend it (slowloris, in the head or in the body). If some of the request had arrived the
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
//!
//! # Layout
//!
//! [`RequestParser`] (module `parser`) frames and judges requests, [`respond`] (`response`)
//! writes the answers, `timers` holds a connection's deadlines, `shed_log` the rate-limited
//! line about the connection limit, `connection` one connection's reads, parsing and writes,
//! and [`HttpServer`] (`server`) the listener, the connection table, the sweep and shedding.

use std::time::Duration;

mod connection;
mod parser;
mod response;
mod server;
mod shed_log;
mod timers;

pub use parser::{parse_request, Request, RequestParser};
pub use response::respond;
pub use server::HttpServer;

/// Largest accepted request head (request line + headers), and trailer section.
pub const MAX_HEAD: usize = 8192;
/// Most header fields in a request head (or trailer section); more get `431`.
pub const MAX_HEADERS: usize = 100;
/// Largest accepted request body (it is read and discarded); larger gets `413`.
pub const MAX_BODY: u64 = 1 << 20;
/// How long a connection is drained after its last response before it is closed.
pub const LINGER: Duration = Duration::from_secs(2);

/// Default [`ServerConfig::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ServerConfig::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`ServerConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// The page served to every GET.
pub const PAGE: &str = "<!DOCTYPE html>\n<html>\n<head><title>Welcome to F-Stack!</title></head>\n\
<body>\n<h1>Welcome to F-Stack!</h1>\n<p>Served from Rust over F-Stack's user-space TCP/IP stack.</p>\n\
</body>\n</html>\n";

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
