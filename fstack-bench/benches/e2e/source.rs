//! Where a mode's events come from: a `mock_exchange`'s address and CA, the streams and the
//! request target.

use std::net::SocketAddr;

use fstack_binance::stream::{request_target, Stream, TimeUnit, UrlMode};
use fstack_mock_exchange::MockExchange;

/// Where a mode's events come from.
pub struct Source {
    pub addr: SocketAddr,
    pub ca_pem: String,
    pub streams: Vec<Stream>,
    /// Request target, e.g. `/ws/btcusdt@ticker?timeUnit=MICROSECOND`.
    pub target: String,
}

impl Source {
    pub fn new(mock: &MockExchange, names: &[&str]) -> Source {
        let streams: Vec<Stream> = names.iter().map(|s| Stream::parse(s).unwrap()).collect();
        let target = request_target(&streams, UrlMode::Auto, TimeUnit::Microsecond).unwrap();
        Source {
            addr: mock.local_addr(),
            ca_pem: mock.ca_pem().to_owned(),
            streams,
            target,
        }
    }
}
