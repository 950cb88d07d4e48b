//! Typed, zero-copy decoding of Binance market-stream messages.
//!
//! [`decode`] is the single entry point: it takes one WebSocket text frame and returns a
//! [`Message`] borrowing from it (and from the optional [`StreamRef`] hint).
//!
//! * Raw payloads (`/ws/...`) and combined ones (`{"stream":"btcusdt@ticker","data":{...}}`).
//! * Event kinds: `24hrTicker`, `24hrMiniTicker`, bookTicker (no `e`), `trade`, `aggTrade`,
//!   partial depth (`{lastUpdateId,bids,asks}`, no `e`/`s`) and `depthUpdate`; plus replies to
//!   control requests (`{"result":null,"id":1}`), error replies (`{"code":2,"msg":"..."}`) and
//!   `serverShutdown` (replace the connection).
//! * Prices and quantities are [`Decimal`]s borrowing the received text. Unknown fields are
//!   ignored. Malformed or unexpected input yields a [`DecodeError`]; nothing panics.
//!
//! ## Allocation
//! Decoding a well-formed message in Binance's layout performs **no heap allocation** (proved
//! by `tests/no_alloc.rs`): all strings are borrowed, and depth levels are validated in place
//! and kept as the raw JSON slice ([`Levels`]), iterated lazily. Depth payloads go through an
//! allocation-free hand parser because serde_json allocates a scratch buffer whenever it skips
//! or captures (`RawValue`) *nested* arrays or objects. What allocates: building a
//! [`DecodeError`] (serde_json boxes its error; unknown names are copied); an error reply whose
//! `msg` contains JSON escapes (`Cow::Owned`); [`Response::streams`] (a `Vec`); unknown fields
//! holding nested arrays/objects (serde_json's skip scratch, once per message); depth payloads
//! outside the hand parser's subset (extra keys, escaped strings), which fall back to serde.
//!
//! ## Speed
//! Every event kind in Binance's layout (any key order and whitespace, no escapes, no unknown
//! keys) goes through a small hand parser; anything else falls back to serde_json, which then
//! decides and reports errors. Binance's exact layout (its key order, no white space) takes
//! the quickest tier, which compares the constant bytes between values instead of reading
//! keys. A ticker decodes in about 0.17 µs, several times faster than through serde's
//! derived visitors (BENCHMARKS.md).
//!
//! ## Dispatch
//! An event in Binance's exact layout, raw or in the combined envelope, is recognised from a
//! few bytes and parsed at once. Otherwise the message type is chosen from the first key of
//! the object without a separate parsing pass: `"stream"` (combined; the `data` slice is
//! decoded directly), `"e"` (its value picks the struct), `"u"` (bookTicker), `"lastUpdateId"`
//! (partial depth), `"result"`, `"id"`, `"code"`, `"error"` (control replies). Any other
//! layout falls back to a probe pass that accepts the keys in any order.
//!
//! ## Layout
//! * this module: the public types ([`Message`], [`StreamEvent`], [`MarketEvent`] and the
//!   per-kind structs with their serde fallback, the control replies, [`DecodeError`]).
//! * `levels`: [`Levels`], [`Level`], [`LevelIter`]: depth levels validated in place.
//! * `decode`: [`decode`] itself: dispatch, combined envelope, control replies, probe pass.
//! * `fast`: the hand parsers (the measured hot path; see its docs for why they exist).
//! * `scan`: the byte-level scanning they share with `levels` (digits, decimals, strings).
//!
//! ## Adding a stream kind
//! A step left out fails to compile (an exhaustive `match`) or fails `cargo test -p
//! fstack-binance`, except where marked *unchecked*.
//! 1. `stream.rs`: the [`StreamKind`] variant; its values in the `every_kind!` list
//!    ([`StreamKind::ALL`], checked complete by the compiler); its names in the exhaustive
//!    [`StreamKind::suffix`], [`StreamKind::cli_name`], [`StreamKind::event_name`],
//!    [`StreamKind::event_type`] and [`StreamKind::is_periodic`]; and its suffix in
//!    [`StreamKind::parse_suffix`] (a hand-written `match` on the hot path, checked against
//!    `ALL` by `stream::tests::name_tables_agree_with_all`). `from_cli` and the "expected ..."
//!    lists of error messages follow from `ALL`.
//! 2. `events/mod.rs`: a [`MarketEvent`] variant and its struct, deriving `Deserialize` (the
//!    serde fallback, and the reference the hand parser is tested against); then the
//!    exhaustive `MarketEvent::{symbol, event_time, event_name, matches_kind}`.
//! 3. `events/decode.rs`: dispatch to it: `decode_tagged`'s table of `e` values (checked
//!    against [`StreamKind::event_type`] by `every_stream_kind_decodes`), or for a payload
//!    without `e`, the first-key dispatch in `decode`/`decode_payload` and the `Probe`.
//! 4. `events/fast.rs` (*unchecked*, optional: serde alone is correct): hand parsers when
//!    the kind matters for speed (an exact-layout one, picked in `fast::exact`, and a general
//!    one), and their agreement with serde in `events/tests/fast_path.rs` (`check_tiers`).
//! 5. `output.rs`: its text line (`write_text`) and JSON fields (`write_json`), exhaustive.
//! 6. `feed.rs`: `order_key`, the per-stream key that drops duplicate events while two
//!    connections overlap (exhaustive).
//! 7. Tests: a payload fixture in `events/tests/mod.rs` and its arm in `sample` in
//!    `events/tests/kinds.rs` (exhaustive); *unchecked*: a field-by-field decode test there
//!    and an output test in `output.rs`.
//! 8. The mock exchange, `src/mock_exchange.rs` (`Kind`, `parse_stream`, `event_json`), and
//!    the end-to-end checks in `tests/binance_feed.rs` (`seq_of` and the value checks, both
//!    exhaustive over [`MarketEvent`]). The mock describes Binance's streams on its own, on
//!    purpose: it checks this decoder, so it must not reuse it (*unchecked*: without it the
//!    kind is simply not generated).
//! 9. *Unchecked* prose: the `--stream` and `--stall-timeout` help in `cli.rs` (the `help`
//!    test checks that every CLI name appears), the README's option list, and the `Speed`
//!    notes here and in BENCHMARKS.md.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::decimal::Decimal;
use crate::stream::{DepthLevels, DepthSpeed, StreamKind, StreamRef};

mod decode;
mod fast;
mod levels;
mod scan;

pub use decode::decode;
pub use levels::{Level, LevelIter, Levels};

/// Why a message could not be decoded. The caller counts it as malformed and skips it.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Invalid JSON, a missing field, a wrong type, an invalid decimal or depth level, ...
    #[error("invalid message: {0}")]
    Json(#[from] serde_json::Error),
    /// The text is not a JSON object.
    #[error("message is not a JSON object")]
    NotAnObject,
    /// An `e` value this crate does not decode (e.g. `kline`).
    #[error("unsupported event type {0:?}")]
    UnknownEvent(String),
    /// A combined-stream name this crate does not decode.
    #[error("unsupported stream {0:?}")]
    UnknownStream(String),
    /// A combined stream's `data` is a different kind than its name says.
    #[error("stream {stream:?} carries a {event} event")]
    StreamMismatch {
        /// The stream name.
        stream: String,
        /// The event's kind.
        event: &'static str,
    },
    /// A JSON object that is neither an event nor a control reply.
    #[error("unrecognised message")]
    Unrecognized,
}

/// One decoded message.
// Events are the common case; boxing them would allocate per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Message<'a> {
    /// A market event.
    Event(StreamEvent<'a>),
    /// A reply to a control request: `{"result":null,"id":1}`.
    Response(Response<'a>),
    /// An error reply: `{"code":2,"msg":"Invalid request","id":1}` (or nested under `error`).
    Error(ErrorReply<'a>),
    /// `{"e":"serverShutdown",...}`: the server is going away; open a replacement connection.
    ServerShutdown(ServerShutdown),
}

/// A market event and, when known, the stream it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent<'a> {
    /// The combined-stream name, or the hint given to [`decode`] for a raw payload when it is
    /// consistent with the event (same kind, same symbol). `None` otherwise.
    pub stream: Option<StreamRef<'a>>,
    /// The event.
    pub event: MarketEvent<'a>,
}

impl<'a> StreamEvent<'a> {
    /// The symbol: the event's `s` field (uppercase, e.g. `BTCUSDT`), or for partial depth
    /// the stream name's symbol (lowercase), or `""` when unknown.
    pub fn symbol(&self) -> &'a str {
        self.event.symbol()
    }

    /// The event time `E` (in the connection's [`crate::stream::TimeUnit`]), if any.
    pub fn event_time(&self) -> Option<u64> {
        self.event.event_time()
    }
}

/// A decoded market event.
#[derive(Debug, Clone, PartialEq)]
pub enum MarketEvent<'a> {
    /// `24hrTicker`
    Ticker(Ticker<'a>),
    /// `24hrMiniTicker`
    MiniTicker(MiniTicker<'a>),
    /// bookTicker
    BookTicker(BookTicker<'a>),
    /// `trade`
    Trade(Trade<'a>),
    /// `aggTrade`
    AggTrade(AggTrade<'a>),
    /// partial book depth (`@depth5/10/20`)
    PartialDepth(PartialDepth<'a>),
    /// diff depth `depthUpdate`
    DepthUpdate(DepthUpdate<'a>),
}

impl<'a> MarketEvent<'a> {
    /// See [`StreamEvent::symbol`].
    pub fn symbol(&self) -> &'a str {
        match self {
            MarketEvent::Ticker(e) => e.symbol,
            MarketEvent::MiniTicker(e) => e.symbol,
            MarketEvent::BookTicker(e) => e.symbol,
            MarketEvent::Trade(e) => e.symbol,
            MarketEvent::AggTrade(e) => e.symbol,
            MarketEvent::PartialDepth(e) => e.symbol,
            MarketEvent::DepthUpdate(e) => e.symbol,
        }
    }

    /// The event time `E`, if the kind has one (bookTicker and partial depth do not).
    pub fn event_time(&self) -> Option<u64> {
        match self {
            MarketEvent::Ticker(e) => Some(e.event_time),
            MarketEvent::MiniTicker(e) => Some(e.event_time),
            MarketEvent::BookTicker(e) => e.event_time,
            MarketEvent::Trade(e) => Some(e.event_time),
            MarketEvent::AggTrade(e) => Some(e.event_time),
            MarketEvent::PartialDepth(_) => None,
            MarketEvent::DepthUpdate(e) => Some(e.event_time),
        }
    }

    /// `ticker`, `miniTicker`, `bookTicker`, `trade`, `aggTrade` or `depth`: the
    /// [`StreamKind::event_name`] of the streams that carry this event.
    pub fn event_name(&self) -> &'static str {
        // Any kind that carries the event will do: the depth kinds share their event name.
        let kind = match self {
            MarketEvent::Ticker(_) => StreamKind::Ticker,
            MarketEvent::MiniTicker(_) => StreamKind::MiniTicker,
            MarketEvent::BookTicker(_) => StreamKind::BookTicker,
            MarketEvent::Trade(_) => StreamKind::Trade,
            MarketEvent::AggTrade(_) => StreamKind::AggTrade,
            MarketEvent::PartialDepth(_) => StreamKind::PartialDepth {
                levels: DepthLevels::Five,
                speed: DepthSpeed::Ms100,
            },
            MarketEvent::DepthUpdate(_) => StreamKind::DiffDepth {
                speed: DepthSpeed::Ms100,
            },
        };
        kind.event_name()
    }

    /// Whether a stream of `kind` carries this event.
    pub fn matches_kind(&self, kind: StreamKind) -> bool {
        match self {
            MarketEvent::Ticker(_) => kind == StreamKind::Ticker,
            MarketEvent::MiniTicker(_) => kind == StreamKind::MiniTicker,
            MarketEvent::BookTicker(_) => kind == StreamKind::BookTicker,
            MarketEvent::Trade(_) => kind == StreamKind::Trade,
            MarketEvent::AggTrade(_) => kind == StreamKind::AggTrade,
            MarketEvent::PartialDepth(_) => matches!(kind, StreamKind::PartialDepth { .. }),
            MarketEvent::DepthUpdate(_) => matches!(kind, StreamKind::DiffDepth { .. }),
        }
    }
}

/// `<symbol>@ticker`: 24 h rolling-window statistics (`e = "24hrTicker"`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Ticker<'a> {
    /// `E` event time.
    #[serde(rename = "E")]
    pub event_time: u64,
    /// `s` symbol, e.g. `BTCUSDT`.
    #[serde(rename = "s")]
    pub symbol: &'a str,
    /// `p` price change.
    #[serde(rename = "p", borrow)]
    pub price_change: Decimal<'a>,
    /// `P` price change percent.
    #[serde(rename = "P", borrow)]
    pub price_change_percent: Decimal<'a>,
    /// `w` weighted average price.
    #[serde(rename = "w", borrow)]
    pub weighted_avg_price: Decimal<'a>,
    /// `x` first trade price before the window.
    #[serde(rename = "x", borrow)]
    pub prev_close_price: Decimal<'a>,
    /// `c` last price.
    #[serde(rename = "c", borrow)]
    pub last_price: Decimal<'a>,
    /// `Q` last quantity.
    #[serde(rename = "Q", borrow)]
    pub last_qty: Decimal<'a>,
    /// `b` best bid price.
    #[serde(rename = "b", borrow)]
    pub bid_price: Decimal<'a>,
    /// `B` best bid quantity.
    #[serde(rename = "B", borrow)]
    pub bid_qty: Decimal<'a>,
    /// `a` best ask price.
    #[serde(rename = "a", borrow)]
    pub ask_price: Decimal<'a>,
    /// `A` best ask quantity.
    #[serde(rename = "A", borrow)]
    pub ask_qty: Decimal<'a>,
    /// `o` open price.
    #[serde(rename = "o", borrow)]
    pub open_price: Decimal<'a>,
    /// `h` high price.
    #[serde(rename = "h", borrow)]
    pub high_price: Decimal<'a>,
    /// `l` low price.
    #[serde(rename = "l", borrow)]
    pub low_price: Decimal<'a>,
    /// `v` total traded base asset volume.
    #[serde(rename = "v", borrow)]
    pub volume: Decimal<'a>,
    /// `q` total traded quote asset volume.
    #[serde(rename = "q", borrow)]
    pub quote_volume: Decimal<'a>,
    /// `O` statistics open time.
    #[serde(rename = "O")]
    pub open_time: u64,
    /// `C` statistics close time.
    #[serde(rename = "C")]
    pub close_time: u64,
    /// `F` first trade id (-1 when there was no trade).
    #[serde(rename = "F")]
    pub first_trade_id: i64,
    /// `L` last trade id (-1 when there was no trade).
    #[serde(rename = "L")]
    pub last_trade_id: i64,
    /// `n` number of trades.
    #[serde(rename = "n")]
    pub trade_count: u64,
}

/// `<symbol>@miniTicker` (`e = "24hrMiniTicker"`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct MiniTicker<'a> {
    /// `E` event time.
    #[serde(rename = "E")]
    pub event_time: u64,
    /// `s` symbol.
    #[serde(rename = "s")]
    pub symbol: &'a str,
    /// `c` close (last) price.
    #[serde(rename = "c", borrow)]
    pub close_price: Decimal<'a>,
    /// `o` open price.
    #[serde(rename = "o", borrow)]
    pub open_price: Decimal<'a>,
    /// `h` high price.
    #[serde(rename = "h", borrow)]
    pub high_price: Decimal<'a>,
    /// `l` low price.
    #[serde(rename = "l", borrow)]
    pub low_price: Decimal<'a>,
    /// `v` base asset volume.
    #[serde(rename = "v", borrow)]
    pub volume: Decimal<'a>,
    /// `q` quote asset volume.
    #[serde(rename = "q", borrow)]
    pub quote_volume: Decimal<'a>,
}

/// `<symbol>@bookTicker`: best bid/ask (spot payloads have no `e` and no `E`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct BookTicker<'a> {
    /// `u` order book update id.
    #[serde(rename = "u")]
    pub update_id: u64,
    /// `s` symbol.
    #[serde(rename = "s")]
    pub symbol: &'a str,
    /// `b` best bid price.
    #[serde(rename = "b", borrow)]
    pub bid_price: Decimal<'a>,
    /// `B` best bid quantity.
    #[serde(rename = "B", borrow)]
    pub bid_qty: Decimal<'a>,
    /// `a` best ask price.
    #[serde(rename = "a", borrow)]
    pub ask_price: Decimal<'a>,
    /// `A` best ask quantity.
    #[serde(rename = "A", borrow)]
    pub ask_qty: Decimal<'a>,
    /// `E` event time, present only in some payload variants (e.g. futures); `None` on spot.
    #[serde(rename = "E", default)]
    pub event_time: Option<u64>,
}

/// `<symbol>@trade` (`e = "trade"`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Trade<'a> {
    /// `E` event time.
    #[serde(rename = "E")]
    pub event_time: u64,
    /// `s` symbol.
    #[serde(rename = "s")]
    pub symbol: &'a str,
    /// `t` trade id.
    #[serde(rename = "t")]
    pub trade_id: u64,
    /// `p` price.
    #[serde(rename = "p", borrow)]
    pub price: Decimal<'a>,
    /// `q` quantity.
    #[serde(rename = "q", borrow)]
    pub qty: Decimal<'a>,
    /// `T` trade time.
    #[serde(rename = "T")]
    pub trade_time: u64,
    /// `m` is the buyer the market maker? (true: the taker sold)
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
}

/// `<symbol>@aggTrade` (`e = "aggTrade"`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct AggTrade<'a> {
    /// `E` event time.
    #[serde(rename = "E")]
    pub event_time: u64,
    /// `s` symbol.
    #[serde(rename = "s")]
    pub symbol: &'a str,
    /// `a` aggregate trade id.
    #[serde(rename = "a")]
    pub agg_trade_id: u64,
    /// `p` price.
    #[serde(rename = "p", borrow)]
    pub price: Decimal<'a>,
    /// `q` quantity.
    #[serde(rename = "q", borrow)]
    pub qty: Decimal<'a>,
    /// `f` first trade id.
    #[serde(rename = "f")]
    pub first_trade_id: u64,
    /// `l` last trade id.
    #[serde(rename = "l")]
    pub last_trade_id: u64,
    /// `T` trade time.
    #[serde(rename = "T")]
    pub trade_time: u64,
    /// `m` is the buyer the market maker?
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
}

/// `<symbol>@depth<5|10|20>[@100ms]`: top of the book. The payload has no symbol and no
/// event time.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct PartialDepth<'a> {
    /// The symbol from the stream name (lowercase) or `""` when unknown (raw payload without
    /// a matching hint).
    #[serde(skip)]
    pub symbol: &'a str,
    /// `lastUpdateId`
    #[serde(rename = "lastUpdateId")]
    pub last_update_id: u64,
    /// `bids`, best first.
    #[serde(borrow)]
    pub bids: Levels<'a>,
    /// `asks`, best first.
    #[serde(borrow)]
    pub asks: Levels<'a>,
}

/// `<symbol>@depth[@100ms]` (`e = "depthUpdate"`): changed levels (quantity 0 = remove).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct DepthUpdate<'a> {
    /// `E` event time.
    #[serde(rename = "E")]
    pub event_time: u64,
    /// `s` symbol.
    #[serde(rename = "s")]
    pub symbol: &'a str,
    /// `U` first update id in the event.
    #[serde(rename = "U")]
    pub first_update_id: u64,
    /// `u` final update id in the event.
    #[serde(rename = "u")]
    pub final_update_id: u64,
    /// `b` bids to update.
    #[serde(rename = "b", borrow)]
    pub bids: Levels<'a>,
    /// `a` asks to update.
    #[serde(rename = "a", borrow)]
    pub asks: Levels<'a>,
}

/// Reply to a control request.
#[derive(Debug, Clone)]
pub struct Response<'a> {
    /// The request id (`None` if the reply carried `null` or no id).
    pub id: Option<u64>,
    /// The `result` value; `None` for `null` (the SUBSCRIBE/UNSUBSCRIBE success reply).
    pub result: Option<&'a RawValue>,
}

impl<'a> Response<'a> {
    /// The stream names of a LIST_SUBSCRIPTIONS reply (`{"result":["btcusdt@ticker"],"id":3}`).
    /// Allocates the `Vec`; names are borrowed.
    pub fn streams(&self) -> Result<Vec<&'a str>, DecodeError> {
        match self.result {
            None => Ok(Vec::new()),
            Some(r) => Ok(serde_json::from_str(r.get())?),
        }
    }
}

impl PartialEq for Response<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.result.map(RawValue::get) == other.result.map(RawValue::get)
    }
}

impl PartialEq for ServerShutdown {
    fn eq(&self, other: &Self) -> bool {
        self.event_time == other.event_time
    }
}

/// An error reply (`{"code":2,"msg":"Invalid request: ...","id":1}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply<'a> {
    /// Binance error code.
    pub code: i64,
    /// Message (borrowed unless it contains JSON escapes).
    pub msg: Cow<'a, str>,
    /// The request id, if any.
    pub id: Option<u64>,
}

/// `{"e":"serverShutdown","E":...}`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct ServerShutdown {
    /// `E` event time, if present.
    #[serde(rename = "E", default)]
    pub event_time: Option<u64>,
}

#[cfg(test)]
pub(crate) mod tests;
