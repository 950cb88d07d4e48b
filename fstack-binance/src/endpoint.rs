//! The `--endpoint` base URL: `wss://host[:port][/path][?query]` (or `ws://` without TLS).
//!
//! The port defaults to 443 for `wss` and 80 for `ws`; Binance's `stream.binance.com` also
//! listens on 9443, which must then be given explicitly. A path is a prefix put before
//! `/ws/...` or `/stream?...` (useful behind a proxy); a query (e.g. `timeUnit=MICROSECOND`)
//! is appended to every request target.

use std::fmt;

use crate::stream::TimeUnit;

/// Why an endpoint URL was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Only `wss://` and `ws://` are supported.
    #[error("unsupported scheme (expected wss:// or ws://)")]
    UnsupportedScheme,
    /// No host after the scheme.
    #[error("missing host")]
    MissingHost,
    /// The host has characters other than letters, digits, `.`, `-` (or is a bad `[IPv6]`).
    #[error("invalid host")]
    InvalidHost,
    /// The port is not a number in 1..=65535.
    #[error("invalid port")]
    InvalidPort,
    /// `user@host` is not supported.
    #[error("user info in URL is not supported")]
    UserInfo,
    /// `#fragment` is not allowed.
    #[error("URL fragment is not allowed")]
    Fragment,
}

/// A parsed endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `true` for `wss://`.
    pub tls: bool,
    /// Host name (lowercased) or IP literal (IPv6 without brackets). This is also the name
    /// TLS verifies.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Path prefix without trailing `/` (`""` when none).
    pub path: String,
    /// Query without `?`, if any.
    pub query: Option<String>,
}

impl Endpoint {
    /// Binance's default, `wss://stream.binance.com:9443`.
    pub const DEFAULT: &'static str = "wss://stream.binance.com:9443";

    /// Parses `wss://host[:port][/path][?query]`.
    pub fn parse(url: &str) -> Result<Self, EndpointError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or(EndpointError::UnsupportedScheme)?;
        let tls = if scheme.eq_ignore_ascii_case("wss") {
            true
        } else if scheme.eq_ignore_ascii_case("ws") {
            false
        } else {
            return Err(EndpointError::UnsupportedScheme);
        };
        if rest.contains('#') {
            return Err(EndpointError::Fragment);
        }
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(auth_end);
        if authority.contains('@') {
            return Err(EndpointError::UserInfo);
        }
        if authority.is_empty() {
            return Err(EndpointError::MissingHost);
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or(EndpointError::InvalidHost)?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(EndpointError::InvalidHost);
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or(EndpointError::InvalidPort)?),
            };
            (h.to_ascii_lowercase(), port)
        } else {
            let (h, p) = match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            if h.is_empty() {
                return Err(EndpointError::MissingHost);
            }
            if !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            {
                return Err(EndpointError::InvalidHost);
            }
            (h.to_ascii_lowercase(), p)
        };
        let port = match port {
            None => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(p) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(EndpointError::InvalidPort);
                }
                match p.parse::<u16>() {
                    Ok(0) | Err(_) => return Err(EndpointError::InvalidPort),
                    Ok(n) => n,
                }
            }
        };
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, (!q.is_empty()).then(|| q.to_owned())),
            None => (tail, None),
        };
        Ok(Endpoint {
            tls,
            host,
            port,
            path: path.trim_end_matches('/').to_owned(),
            query,
        })
    }

    /// `host:port` (`[v6]:port` for IPv6), as used in the `Host` header and `--resolve`.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Prefixes `target` (from [`crate::stream::request_target`], e.g. `/ws/btcusdt@ticker`)
    /// with the path and merges the endpoint's query.
    pub fn request_target(&self, target: &str) -> String {
        let mut t = String::with_capacity(self.path.len() + target.len() + 32);
        t.push_str(&self.path);
        t.push_str(target);
        if let Some(q) = &self.query {
            t.push(if target.contains('?') { '&' } else { '?' });
            t.push_str(q);
        }
        t
    }

    /// The full URL for `target`, e.g. `wss://stream.binance.com:9443/ws/btcusdt@ticker`.
    pub fn url(&self, target: &str) -> String {
        format!(
            "{}://{}{}",
            if self.tls { "wss" } else { "ws" },
            self.authority(),
            self.request_target(target)
        )
    }

    /// `Microsecond` when the query contains `timeUnit=MICROSECOND` (case-insensitive value).
    pub fn time_unit(&self) -> TimeUnit {
        let micro = self.query.as_deref().is_some_and(|q| {
            q.split('&').any(|kv| {
                kv.split_once('=').is_some_and(|(k, v)| {
                    k == "timeUnit"
                        && (v.eq_ignore_ascii_case("MICROSECOND")
                            || v.eq_ignore_ascii_case("microseconds"))
                })
            })
        });
        if micro {
            TimeUnit::Microsecond
        } else {
            TimeUnit::Millisecond
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str) -> Endpoint {
        Endpoint::parse(s).unwrap()
    }

    #[test]
    fn parses_endpoints() {
        let e = ep(Endpoint::DEFAULT);
        assert_eq!(
            e,
            Endpoint {
                tls: true,
                host: "stream.binance.com".into(),
                port: 9443,
                path: "".into(),
                query: None
            }
        );
        assert_eq!(
            e.url("/ws/btcusdt@ticker"),
            "wss://stream.binance.com:9443/ws/btcusdt@ticker"
        );
        assert_eq!(e.authority(), "stream.binance.com:9443");
        assert_eq!(e.to_string(), "wss://stream.binance.com:9443");
        let e = ep("wss://data-stream.binance.vision");
        assert_eq!(
            (e.host.as_str(), e.port, e.tls),
            ("data-stream.binance.vision", 443, true)
        );
        let e = ep("WSS://Stream.Binance.COM/");
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("stream.binance.com", 443, "")
        );
        let e = ep("ws://127.0.0.1:8080/proxy/binance/");
        assert_eq!(
            (e.tls, e.host.as_str(), e.port, e.path.as_str()),
            (false, "127.0.0.1", 8080, "/proxy/binance")
        );
        assert_eq!(
            e.request_target("/stream?streams=a@trade"),
            "/proxy/binance/stream?streams=a@trade"
        );
        assert_eq!(ep("ws://localhost").port, 80);
        let e = ep("wss://[::1]:9443");
        assert_eq!((e.host.as_str(), e.port), ("::1", 9443));
        assert_eq!(e.url("/ws"), "wss://[::1]:9443/ws");
        assert_eq!(ep("wss://[::1]").port, 443);
        let e = ep("wss://stream.binance.com:9443?timeUnit=MICROSECOND");
        assert_eq!(e.query.as_deref(), Some("timeUnit=MICROSECOND"));
        assert_eq!(e.time_unit(), TimeUnit::Microsecond);
        assert_eq!(
            e.request_target("/ws/btcusdt@trade"),
            "/ws/btcusdt@trade?timeUnit=MICROSECOND"
        );
        assert_eq!(
            e.request_target("/stream?streams=btcusdt@trade"),
            "/stream?streams=btcusdt@trade&timeUnit=MICROSECOND"
        );
        assert_eq!(ep(Endpoint::DEFAULT).time_unit(), TimeUnit::Millisecond);
        assert_eq!(ep("wss://h?").query, None);
    }

    #[test]
    fn rejects_bad_endpoints() {
        use EndpointError::*;
        for (url, err) in [
            ("https://stream.binance.com", UnsupportedScheme),
            ("stream.binance.com:9443", UnsupportedScheme),
            ("", UnsupportedScheme),
            ("wss://", MissingHost),
            ("wss:///ws", MissingHost),
            ("wss://:9443", MissingHost),
            ("wss://host:", InvalidPort),
            ("wss://host:0", InvalidPort),
            ("wss://host:65536", InvalidPort),
            ("wss://host:+443", InvalidPort),
            ("wss://host:44a", InvalidPort),
            ("wss://host:1:2", InvalidPort),
            ("wss://ho st", InvalidHost),
            ("wss://ho_st", InvalidHost),
            ("wss://[::1", InvalidHost),
            ("wss://[zz]:1", InvalidHost),
            ("wss://[::1]x", InvalidPort),
            ("wss://user@host", UserInfo),
            ("wss://host/#x", Fragment),
        ] {
            assert_eq!(Endpoint::parse(url), Err(err), "{url}");
        }
    }
}
