//! What a feed connects to and how it behaves.

use std::net::SocketAddr;
use std::time::Duration;

use crate::endpoint::Endpoint;
use crate::stream::{Stream, TimeUnit, UrlMode};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::StreamKind;

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
