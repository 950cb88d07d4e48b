//! A small HTTPS client for Binance's REST API inside the F-Stack loop: GET requests over one
//! keep-alive connection ([`RestClient`]), on the same F-Stack + TLS stack as the streams.
//!
//! [`RestClient::poll`] is called once per loop iteration and never blocks. Requests are sent
//! one at a time over one connection, kept open between them (HTTP/1.1 keep-alive) and
//! opened again when the server closes it. The host is resolved like the streams' (kernel
//! resolver on a helper thread, or a `--resolve` address) and its certificate verified.
//!
//! What it does with answers (Binance's rules,
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits>):
//! * HTTP 429 (too many requests) and 418 (IP banned for ignoring 429s): no request at all
//!   until `Retry-After` has passed (the longest backoff when the answer has none), then the
//!   same request again; these waits do not count as failed attempts.
//! * HTTP 5xx, a broken connection, a malformed answer, or no answer within the request
//!   timeout: the request is tried again after an exponential backoff with jitter, up to
//!   [`RestConfig::max_attempts`] attempts, then reported [`RestEvent::Failed`]. While a
//!   request waits for its delay, the requests queued behind it go first.
//! * Any other answer (2xx, other 4xx such as 400 for an unknown symbol) is the request's
//!   result, [`RestEvent::Response`].
//! * Request weight: each request says its weight, and requests wait while the weight spent
//!   in the last minute would exceed [`RestConfig::weight_per_minute`] ([`budget`]); a
//!   request that waits is reported once ([`RestEvent::WaitingForBudget`]).
//! * A certificate that fails verification ends the client ([`RestError::is_fatal`]).

use std::net::IpAddr;
use std::time::Duration;

use fstack_tls::dial::DialError;

pub mod budget;
mod client;
pub mod response;

pub use client::{RestClient, RestCounters};
pub use response::{Head, HttpError, ResponseReader};

/// Where the REST API is: `https://host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestEndpoint {
    /// Host name (lowercased) or IP literal (IPv6 without brackets): dialed, verified, and
    /// sent as `Host`.
    pub host: String,
    /// TCP port (443 unless given).
    pub port: u16,
    /// Path prefix without a trailing `/` (`""` for none), put before every request target.
    pub path: String,
}

impl RestEndpoint {
    /// Binance's spot REST API.
    pub const DEFAULT: &'static str = "https://api.binance.com";

    /// Parses `https://host[:port][/path]` with the `url` crate (WHATWG rules). Only
    /// `https`; no user info, query or fragment; the host must be a DNS name or an IP
    /// literal.
    pub fn parse(input: &str) -> Result<RestEndpoint, String> {
        let url = url::Url::parse(input).map_err(|e| format!("not a URL: {e}"))?;
        if url.scheme() != "https" {
            return Err("only https:// REST endpoints are supported".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("user info in the URL is not supported".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("give the REST endpoint without a query or fragment".into());
        }
        let host = match url.host() {
            Some(url::Host::Domain(d))
                if d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') =>
            {
                d.to_owned()
            }
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            _ => return Err("invalid host".into()),
        };
        let port = match url.port_or_known_default() {
            Some(0) | None => return Err("invalid port".into()),
            Some(p) => p,
        };
        Ok(RestEndpoint {
            host,
            port,
            path: url.path().trim_end_matches('/').to_owned(),
        })
    }

    /// The `Host` header: `host`, with `:port` unless 443, IPv6 in brackets.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 443 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// `https://authority/path`, for messages.
    pub fn url(&self) -> String {
        format!("https://{}{}", self.authority(), self.path)
    }
}

/// How a [`RestClient`] connects and retries.
#[derive(Debug, Clone)]
pub struct RestConfig {
    /// Where the API is.
    pub endpoint: RestEndpoint,
    /// Connect to this address instead of resolving the host (like curl's `--resolve`).
    pub resolve: Option<IpAddr>,
    /// A request (connect included) must be answered within this.
    pub request_timeout: Duration,
    /// Attempts per request before it is reported failed (at least 1).
    pub max_attempts: u32,
    /// First delay before trying a request again; doubles per failure, with jitter.
    pub backoff_initial: Duration,
    /// Longest such delay, and the wait after a 429/418 without `Retry-After`.
    pub backoff_max: Duration,
    /// Request weight spent per minute at most (Binance allows 6,000 per IP).
    pub weight_per_minute: u32,
    /// Largest response body accepted (a 5,000-level snapshot is about 300 KB).
    pub max_body: usize,
}

impl RestConfig {
    /// Defaults for `endpoint`: 10 s request timeout, 5 attempts, backoff 250 ms to 30 s,
    /// 3,000 request weight per minute (half of Binance's per-IP limit, leaving the rest to
    /// other programs on the same address), 16 MiB bodies.
    pub fn new(endpoint: RestEndpoint) -> RestConfig {
        RestConfig {
            endpoint,
            resolve: None,
            request_timeout: Duration::from_secs(10),
            max_attempts: 5,
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            weight_per_minute: 3000,
            max_body: 16 << 20,
        }
    }
}

/// Why a request attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// Name resolution, the TCP connect or the TLS handshake failed.
    #[error(transparent)]
    Dial(#[from] DialError),
    /// The connection failed while sending or receiving.
    #[error("connection to the REST API lost: {0}")]
    Io(#[source] std::io::Error),
    /// The answer is not a valid HTTP response.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// No complete answer within the request timeout.
    #[error("no answer from the REST API within {0:?}")]
    Timeout(Duration),
    /// An answer that asks to retry: 429 or 418 (with `Retry-After`), or 5xx.
    #[error("HTTP {status} from {host}{}", retry_after.map(|d| format!(" (Retry-After {} s)", d.as_secs())).unwrap_or_default())]
    Status {
        /// The host.
        host: String,
        /// The status code.
        status: u16,
        /// Its `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The local F-Stack poll failed.
    #[error("{0}")]
    Poll(#[source] fstack::Error),
}

impl RestError {
    /// Failures that retrying cannot fix: a certificate rejected by verification (or another
    /// TLS configuration error), a local F-Stack error.
    pub fn is_fatal(&self) -> bool {
        match self {
            RestError::Dial(DialError::Tls(e)) => !matches!(
                e,
                fstack_tls::Error::Io(_) | fstack_tls::Error::Handshake(_)
            ),
            RestError::Dial(DialError::Connect(e)) => matches!(
                e,
                fstack::Error::NotInitialized { .. }
                    | fstack::Error::NotRunning { .. }
                    | fstack::Error::InvalidArgument(_)
            ),
            RestError::Poll(_) => true,
            _ => false,
        }
    }
}

/// What a [`RestClient`] reports from [`RestClient::poll`].
#[derive(Debug)]
pub enum RestEvent<'a> {
    /// The request's answer (any status other than 429, 418 and 5xx).
    Response {
        /// The request.
        id: u64,
        /// The status code.
        status: u16,
        /// The body.
        body: &'a [u8],
    },
    /// An attempt failed; the request is tried again after `retry_in`.
    Retrying {
        /// The request.
        id: u64,
        /// Why the attempt failed.
        error: &'a RestError,
        /// When it is tried again.
        retry_in: Duration,
    },
    /// The request is next to go but waits for the request weight budget
    /// ([`RestConfig::weight_per_minute`]); reported once per request.
    WaitingForBudget {
        /// The request.
        id: u64,
        /// How long it waits at most (until enough weight has left the last minute).
        wait: Duration,
        /// Weight spent in the last minute.
        used: u32,
        /// The request's own weight.
        weight: u32,
    },
    /// The request failed [`RestConfig::max_attempts`] times and is dropped.
    Failed {
        /// The request.
        id: u64,
        /// The last failure.
        error: &'a RestError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = RestEndpoint::parse(RestEndpoint::DEFAULT).unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("api.binance.com", 443, "")
        );
        assert_eq!(e.authority(), "api.binance.com");
        let e = RestEndpoint::parse("https://API.lab.test:9443/proxy/").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("api.lab.test", 9443, "/proxy")
        );
        assert_eq!(e.url(), "https://api.lab.test:9443/proxy");
        let e = RestEndpoint::parse("https://[::1]:8443").unwrap();
        assert_eq!(
            (e.host.as_str(), e.authority()),
            ("::1", "[::1]:8443".into())
        );
        for (bad, why) in [
            ("http://api.binance.com", "only https://"),
            ("wss://api.binance.com", "only https://"),
            ("https://u:p@api.binance.com", "user info"),
            ("https://api.binance.com/?x=1", "without a query"),
            ("https://api.binance.com:0", "invalid port"),
            ("api.binance.com", "not a URL"),
            ("https://a_b.com", "invalid host"),
        ] {
            let e = RestEndpoint::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn which_errors_are_fatal() {
        let status = RestError::Status {
            host: "h".into(),
            status: 429,
            retry_after: Some(Duration::from_secs(1)),
        };
        assert!(!status.is_fatal());
        assert_eq!(status.to_string(), "HTTP 429 from h (Retry-After 1 s)");
        assert!(!RestError::Timeout(Duration::from_secs(1)).is_fatal());
        assert!(!RestError::Http(HttpError::Truncated).is_fatal());
    }
}
