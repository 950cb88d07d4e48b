//! Where a run's events come from: a [`Server`] (one TLS version, one pace), the streams asked
//! for and the request target.

use fstack_binance::stream::{request_target, Stream, TimeUnit, UrlMode};

use crate::server::Server;

/// A server and what a client asks it for.
pub struct Source {
    pub server: Server,
    pub streams: Vec<Stream>,
    /// Request target, e.g. `/ws/btcusdt@ticker?timeUnit=MICROSECOND`.
    pub target: String,
    /// The combined form (`/stream?streams=...`): payloads wrapped with the stream's name.
    pub combined: bool,
}

impl Source {
    pub fn new(server: Server, names: &[&str]) -> Source {
        let streams: Vec<Stream> = names.iter().map(|s| Stream::parse(s).unwrap()).collect();
        let target = request_target(&streams, UrlMode::Auto, TimeUnit::Microsecond).unwrap();
        Source {
            server,
            streams,
            combined: target.starts_with("/stream"),
            target,
        }
    }
}
