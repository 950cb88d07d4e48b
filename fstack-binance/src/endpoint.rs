//! The `--endpoint` base URL: `wss://host[:port][/path][?query]` (or `ws://` without TLS),
//! parsed by the `url` crate.
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

    /// Parses `wss://host[:port][/path][?query]` with the `url` crate (WHATWG URL rules: the
    /// scheme and host are lowercased, international names become punycode), then applies
    /// this client's rules: `wss`/`ws` only, a host of letters, digits, `.` and `-` or an IP
    /// literal, a non-zero port, no user info, no fragment.
    pub fn parse(input: &str) -> Result<Self, EndpointError> {
        // Special schemes let `wss:///ws` mean host `ws`; say what it is instead.
        if let Some((_, rest)) = input.split_once("://") {
            if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
                return Err(EndpointError::MissingHost);
            }
            // WHATWG allows an empty port (`host:`); an endpoint with one is a typo.
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            // After an IPv6 literal only `:PORT` may follow.
            let after_v6 = authority.split_once(']').map(|(_, after)| after);
            if authority.ends_with(':')
                || after_v6.is_some_and(|a| !a.is_empty() && !a.starts_with(':'))
            {
                return Err(EndpointError::InvalidPort);
            }
        }
        let url = url::Url::parse(input).map_err(|e| match e {
            url::ParseError::EmptyHost => EndpointError::MissingHost,
            url::ParseError::InvalidPort => EndpointError::InvalidPort,
            url::ParseError::RelativeUrlWithoutBase => EndpointError::UnsupportedScheme,
            _ => EndpointError::InvalidHost,
        })?;
        let tls = match url.scheme() {
            "wss" => true,
            "ws" => false,
            _ => return Err(EndpointError::UnsupportedScheme),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EndpointError::UserInfo);
        }
        if url.fragment().is_some() {
            return Err(EndpointError::Fragment);
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => {
                if !d
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                {
                    return Err(EndpointError::InvalidHost);
                }
                d.to_owned()
            }
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err(EndpointError::MissingHost),
        };
        let port = match url.port_or_known_default() {
            Some(0) | None => return Err(EndpointError::InvalidPort),
            Some(p) => p,
        };
        Ok(Endpoint {
            tls,
            host,
            port,
            path: url.path().trim_end_matches('/').to_owned(),
            query: url.query().filter(|q| !q.is_empty()).map(str::to_owned),
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
        // The url crate's rules: international names in punycode, the query kept as sent.
        assert_eq!(
            ep("wss://Bücher.example:9443").host,
            "xn--bcher-kva.example"
        );
        assert_eq!(
            ep("wss://h/?a=x%20y&timeUnit=MICROSECOND").query.as_deref(),
            Some("a=x%20y&timeUnit=MICROSECOND")
        );
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
