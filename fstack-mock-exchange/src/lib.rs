//! A local stand-in for Binance's spot market-data WebSocket service, for demos, tests and
//! benchmarks of market-data clients.
//!
//! It serves `wss://` with a certificate from a CA it generates, on kernel sockets (std
//! threads, rustls and tungstenite: it plays the exchange, independent of F-Stack and of the
//! client under test), and speaks:
//! - raw streams `/ws/<stream>`, combined streams `/stream?streams=a/b` (events wrapped as
//!   `{"stream":...,"data":...}`), and `/ws` with SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS;
//! - `timeUnit=MICROSECOND` (event times in µs);
//! - realistic events for ticker, miniTicker, bookTicker, trade, aggTrade, partial and diff
//!   depth, whose values derive from a per-stream sequence number (see [`event_json`]) so tests
//!   can check every field exactly; event times are the send time;
//! - order books: diff depth events with contiguous update ids from a market the mock keeps
//!   per symbol ([`book`]), and its REST snapshot `GET /api/v3/depth?symbol=S&limit=L` on the
//!   same port (HTTPS, keep-alive, Binance's error bodies and headers); symbols it does not
//!   list ([`MockConfig::unlisted`]) stay silent and get HTTP 400 `Invalid symbol.`;
//! - pings at an interval, counting pongs;
//! - faults on request (see [`Faults::SPECS`]): drop connections, malformed JSON, oversize
//!   frames, stop responding, stop market data behind live pings, `serverShutdown` notices,
//!   rejected upgrades (optionally only the first N, with `Retry-After`), a skipped diff
//!   depth event (a gap), stale snapshots, REST answers with an error status (429 with
//!   `Retry-After`, 500, ...).
//!
//! Its description of each event ([`event_json`]) is its own, written from Binance's
//! documentation: a test that decodes what the mock sent and compares it with what
//! [`event_json`] generates for the same sequence number checks the decoder, not itself.
//!
//! # Example
//!
//! ```
//! use std::sync::atomic::Ordering;
//! use fstack_mock_exchange::{event_json, parse_stream, Faults, MockConfig, MockExchange};
//!
//! let mut config = MockConfig { rate: 100.0, ..MockConfig::default() }; // 127.0.0.1:0
//! config.faults.apply("drop-after=50")?; // what `--fault drop-after=50` sets
//! let mock = MockExchange::start(config)?;
//! // A client connects to wss://localhost:PORT/ws/btcusdt@trade, trusting mock.ca_pem().
//! let port = mock.local_addr().port();
//! assert!(port != 0 && mock.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! assert_eq!(mock.stats().connections.load(Ordering::Relaxed), 0);
//!
//! // What the mock sends as event #7 of a stream, to compare with what a client decoded.
//! let (symbol, kind) = parse_stream("btcusdt@trade").unwrap();
//! let mut json = String::new();
//! event_json(&symbol, kind, 7, 1_700_000_000_000, &mut json);
//! assert!(json.starts_with(r#"{"e":"trade","E":1700000000000,"s":"BTCUSDT","t":7,"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The mock stops when dropped (or with [`MockExchange::stop`]), ending every connection.
#![warn(missing_docs)]

pub mod book;
mod check;
mod config;
mod connection;
mod events;
mod rest;
mod server;
mod tls;

pub use book::{final_update_id, seq_of_update_id, MockBook};
pub use check::{check_book_lines, BookCheck};
pub use config::{Faults, MockConfig};
pub use events::{event_json, parse_stream, price, Kind};
pub use server::{DepthRequest, MockExchange, MockStats};
