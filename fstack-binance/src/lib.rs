//! A low-latency Binance market-data client on F-Stack.
//!
//! [`feed`] drives `wss://` connections (DNS, TCP, TLS, WebSocket; reconnects and rotation)
//! inside the F-Stack loop; the other modules are free of I/O and usable on their own.
//!
//! * [`decimal`]: exact decimals borrowed from the received text.
//! * [`events`]: zero-copy, allocation-free decoding of market events ([`events::decode`]);
//!   its docs list the steps to add a stream kind.
//! * [`output`]: one text or JSON line per event into a reusable buffer.
//! * [`stats`]: receive-latency histogram (HdrHistogram) and counters, with a summary for stderr.
//! * [`stream`]: stream kinds and names, symbols, timestamp units, request targets.
//! * [`control`]: SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS requests, control rate limit.
//! * [`backoff`]: exponential backoff with jitter for reconnects.
//! * [`endpoint`]: `wss://host[:port][/path]` parsing and URL building.
//! * [`cli`]: the `binance_ticker` command line.
//! * [`book`]: local order books kept exactly in sync (REST snapshot + diff stream).
//! * [`rest`]: HTTPS GET requests to Binance's REST API inside the F-Stack loop (keep-alive,
//!   429/418 and 5xx handling, request weight per minute).
//! * [`feed`]: the connection driver: DNS, TCP, TLS, WebSocket, subscriptions, reconnects;
//!   events go to a [`feed::FeedHandler`].
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod backoff;
pub mod book;
#[cfg(feature = "bus")]
pub mod bus;
pub mod cli;
pub mod control;
pub mod decimal;
pub mod endpoint;
pub mod events;
pub mod feed;
pub mod output;
pub mod rest;
pub mod stats;
pub mod stream;

pub use decimal::{Decimal, DecimalError, DecimalValue};
pub use endpoint::Endpoint;
pub use events::{decode, DecodeError, MarketEvent, Message, StreamEvent};
pub use output::{Format, Formatter};
pub use stats::Stats;
pub use stream::{Stream, StreamKind, StreamRef, TimeUnit};
