//! Why a feed connection ended or could not be made, and what that means for retrying.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use fstack_tls::dial::DialError;

use super::websocket::WebSocketError;

/// Why a connection ended or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Name resolution, the TCP connect or the TLS handshake failed (certificate
    /// verification failures are fatal).
    #[error(transparent)]
    Dial(#[from] DialError),
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
    Handshake(#[source] WebSocketError),
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
    Protocol(#[source] WebSocketError),
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
pub(super) fn is_rate_limit_status(status: u16) -> bool {
    status == 429 || status == 418
}

/// The longest `Retry-After` honoured: Binance's IP bans "scale in duration for repeat
/// offenders, from 2 minutes to 3 days" (Binance spot API docs, "LIMITS"). A longer value
/// (hostile, or a date in year 9999) waits this long, and `Instant + wait` cannot overflow.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3 * 24 * 3600);

/// Parses `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, relative to `now`,
/// at most [`MAX_RETRY_AFTER`].
pub(crate) fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value.parse().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

impl FeedError {
    /// Failures that retrying cannot fix: certificate verification, an HTTP 4xx answer to the
    /// upgrade other than 429 and 418 (those wait for `Retry-After`), bad configuration,
    /// local poll failures.
    pub fn is_fatal(&self) -> bool {
        match self {
            FeedError::Dial(DialError::Tls(e)) => !matches!(
                e,
                fstack_tls::Error::Io(_) | fstack_tls::Error::Handshake(_)
            ),
            FeedError::UpgradeRejected { status, .. } => {
                (400..500).contains(status) && !is_rate_limit_status(*status)
            }
            FeedError::GaveUp { .. } | FeedError::Poll(_) | FeedError::TooManyStreams => true,
            FeedError::Dial(DialError::Connect(e)) => matches!(
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

#[cfg(test)]
mod tests {
    use super::*;
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
        // Hostile or absurd waits are held to Binance's longest ban, so that `now + wait`
        // (an `Instant`) cannot overflow and panic.
        for huge in ["18446744073709551615", "99999999999999999999999", "259201"] {
            assert_eq!(
                parse_retry_after(huge, now),
                Some(MAX_RETRY_AFTER),
                "{huge}"
            );
        }
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(MAX_RETRY_AFTER)
        );
        assert!(std::time::Instant::now()
            .checked_add(MAX_RETRY_AFTER)
            .is_some());
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
}
