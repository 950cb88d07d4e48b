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
//! decides and reports errors. A ticker decodes in about 0.86 µs instead of 1.17 µs through
//! serde's derived visitors (BENCHMARKS.md).
//!
//! ## Dispatch
//! The message type is chosen from the first key of the object without a separate parsing
//! pass: `"stream"` (combined; the `data` slice is decoded directly), `"e"` (its value picks
//! the struct), `"u"` (bookTicker), `"lastUpdateId"` (partial depth), `"result"`, `"id"`,
//! `"code"`, `"error"` (control replies). Any other layout falls back to a probe pass that
//! accepts the keys in any order.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::decimal::Decimal;
use crate::stream::{StreamKind, StreamRef};

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

    /// `ticker`, `miniTicker`, `bookTicker`, `trade`, `aggTrade` or `depth` (same as
    /// [`StreamKind::event_name`]).
    pub fn event_name(&self) -> &'static str {
        match self {
            MarketEvent::Ticker(_) => "ticker",
            MarketEvent::MiniTicker(_) => "miniTicker",
            MarketEvent::BookTicker(_) => "bookTicker",
            MarketEvent::Trade(_) => "trade",
            MarketEvent::AggTrade(_) => "aggTrade",
            MarketEvent::PartialDepth(_) | MarketEvent::DepthUpdate(_) => "depth",
        }
    }

    /// Whether a stream of `kind` carries this event.
    pub fn matches_kind(&self, kind: StreamKind) -> bool {
        matches!(
            (self, kind),
            (MarketEvent::Ticker(_), StreamKind::Ticker)
                | (MarketEvent::MiniTicker(_), StreamKind::MiniTicker)
                | (MarketEvent::BookTicker(_), StreamKind::BookTicker)
                | (MarketEvent::Trade(_), StreamKind::Trade)
                | (MarketEvent::AggTrade(_), StreamKind::AggTrade)
                | (
                    MarketEvent::PartialDepth(_),
                    StreamKind::PartialDepth { .. }
                )
                | (MarketEvent::DepthUpdate(_), StreamKind::DiffDepth { .. })
        )
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

/// One price level `[price, quantity]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level<'a> {
    /// Price.
    pub price: Decimal<'a>,
    /// Quantity.
    pub qty: Decimal<'a>,
}

/// A JSON array of `["price","qty"]` pairs, validated at decode time and kept as the raw
/// slice of the input: no allocation; [`Levels::iter`] walks it lazily.
#[derive(Clone, Copy)]
pub struct Levels<'a> {
    raw: &'a str,
    len: usize,
}

impl<'a> Levels<'a> {
    /// Validates a JSON array of `["decimal","decimal"]` pairs.
    pub fn parse(raw: &'a str) -> Result<Self, &'static str> {
        let raw = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        let (levels, end) = Self::parse_prefix(raw)?;
        if end != raw.len() {
            return Err("trailing characters after depth levels");
        }
        Ok(levels)
    }

    /// Parses the array at the start of `text` (no leading whitespace) and returns it with
    /// the offset just past its closing `]`.
    fn parse_prefix(text: &'a str) -> Result<(Self, usize), &'static str> {
        let b = text.as_bytes();
        if b.first() != Some(&b'[') {
            return Err("depth levels must be an array");
        }
        let mut pos = 1;
        let mut len = 0;
        while let Some(_level) = next_level(text, &mut pos, len == 0)? {
            len += 1;
        }
        Ok((
            Levels {
                raw: &text[..pos],
                len,
            },
            pos,
        ))
    }

    /// Number of levels.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there is no level.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first level (the best one in Binance's order), if any.
    pub fn first(&self) -> Option<Level<'a>> {
        self.iter().next()
    }

    /// The raw JSON array as received, e.g. `[["0.0024","10"]]`.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Iterates the levels in order.
    pub fn iter(&self) -> LevelIter<'a> {
        let b = self.raw.as_bytes();
        LevelIter {
            raw: self.raw,
            pos: skip_ws(b, 0) + 1,
            remaining: self.len,
            first: true,
        }
    }
}

impl std::fmt::Debug for Levels<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Levels<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<'a> IntoIterator for Levels<'a> {
    type Item = Level<'a>;
    type IntoIter = LevelIter<'a>;
    fn into_iter(self) -> LevelIter<'a> {
        self.iter()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Levels<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &'de RawValue = Deserialize::deserialize(d)?;
        Levels::parse(raw.get()).map_err(serde::de::Error::custom)
    }
}

/// Lazy iterator over [`Levels`]; no allocation.
#[derive(Debug, Clone)]
pub struct LevelIter<'a> {
    raw: &'a str,
    pos: usize,
    remaining: usize,
    first: bool,
}

impl<'a> Iterator for LevelIter<'a> {
    type Item = Level<'a>;
    fn next(&mut self) -> Option<Level<'a>> {
        if self.remaining == 0 {
            return None;
        }
        // Validated at decode time: an error here cannot happen; end the iteration if it did.
        let level = next_level(self.raw, &mut self.pos, self.first)
            .ok()
            .flatten()?;
        self.first = false;
        self.remaining -= 1;
        Some(level)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for LevelIter<'_> {}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && matches!(b[pos], b' ' | b'\t' | b'\n' | b'\r') {
        pos += 1;
    }
    pos
}

fn expect(b: &[u8], pos: &mut usize, c: u8, what: &'static str) -> Result<(), &'static str> {
    *pos = skip_ws(b, *pos);
    if b.get(*pos) == Some(&c) {
        *pos += 1;
        Ok(())
    } else {
        Err(what)
    }
}

fn decimal_string<'a>(raw: &'a str, pos: &mut usize) -> Result<Decimal<'a>, &'static str> {
    let b = raw.as_bytes();
    expect(b, pos, b'"', "depth level entries must be strings")?;
    let start = *pos;
    let len = b[start..]
        .iter()
        .position(|&c| c == b'"')
        .ok_or("unterminated string in depth levels")?;
    *pos = start + len + 1;
    Decimal::parse(&raw[start..start + len]).map_err(|_| "invalid decimal in depth levels")
}

/// Parses the next `["p","q"]` after the opening `[` of the array (pos points after it or
/// after the previous level). Returns `Ok(None)` at the closing `]` (pos then points past it).
fn next_level<'a>(
    raw: &'a str,
    pos: &mut usize,
    first: bool,
) -> Result<Option<Level<'a>>, &'static str> {
    let b = raw.as_bytes();
    *pos = skip_ws(b, *pos);
    match b.get(*pos) {
        Some(b']') => {
            *pos += 1;
            return Ok(None);
        }
        Some(b',') if !first => *pos += 1,
        _ if first => {}
        _ => return Err("expected ',' or ']' in depth levels"),
    }
    expect(
        b,
        pos,
        b'[',
        "each depth level must be a [price, quantity] array",
    )?;
    let price = decimal_string(raw, pos)?;
    expect(b, pos, b',', "depth level must have a quantity")?;
    let qty = decimal_string(raw, pos)?;
    expect(b, pos, b']', "depth level must have exactly two entries")?;
    Ok(Some(Level { price, qty }))
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

#[derive(Deserialize)]
struct Control<'a> {
    #[serde(default, borrow, deserialize_with = "some_raw")]
    result: Option<&'a RawValue>,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, borrow, deserialize_with = "opt_cow")]
    msg: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    error: Option<NestedError<'a>>,
}

#[derive(Deserialize)]
struct NestedError<'a> {
    code: i64,
    #[serde(borrow)]
    msg: Cow<'a, str>,
}

/// `Option<Cow<str>>` that borrows when the string has no escapes (serde's own impl for
/// `Option<Cow<str>>` always copies).
fn opt_cow<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// Keeps `null` as a raw value so that presence can be told from absence.
fn some_raw<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(default, borrow)]
    e: Option<&'a str>,
    #[serde(default, borrow)]
    stream: Option<&'a str>,
    #[serde(default, borrow, deserialize_with = "some_raw")]
    data: Option<&'a RawValue>,
    #[serde(rename = "lastUpdateId", default, deserialize_with = "present")]
    last_update_id: bool,
    #[serde(default, deserialize_with = "present")]
    u: bool,
    #[serde(default, deserialize_with = "present")]
    result: bool,
    #[serde(default, deserialize_with = "present")]
    code: bool,
    #[serde(default, deserialize_with = "present")]
    error: bool,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    stream: &'a str,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Decodes one text frame.
///
/// `hint` names the stream of a raw (`/ws/...`) connection. It is used only when consistent
/// with the payload (same kind and, when the payload has one, same symbol): then it becomes
/// [`StreamEvent::stream`] and gives partial-depth events their symbol. Combined payloads
/// name their stream themselves and the hint is ignored.
pub fn decode<'a>(text: &'a str, hint: Option<StreamRef<'a>>) -> Result<Message<'a>, DecodeError> {
    let b = text.as_bytes();
    let Some((key, after)) = first_key(b) else {
        let start = skip_ws(b, 0);
        return if b.get(start) == Some(&b'{') {
            probe(text, hint)
        } else {
            Err(DecodeError::NotAnObject)
        };
    };
    match key {
        "stream" => decode_combined(text, b, after),
        "e" | "u" | "lastUpdateId" | "result" | "id" | "code" | "error" => {
            decode_payload(text, key, after, Source::Raw(hint))
        }
        _ => probe(text, hint),
    }
}

#[derive(Clone, Copy)]
enum Source<'a> {
    /// Raw payload with the caller's hint.
    Raw(Option<StreamRef<'a>>),
    /// `data` of a combined message.
    Combined(StreamRef<'a>),
}

fn decode_payload<'a>(
    text: &'a str,
    key: &'a str,
    after: usize,
    src: Source<'a>,
) -> Result<Message<'a>, DecodeError> {
    match key {
        "e" => match string_value(text, after) {
            Some(tag) => decode_tagged(text, tag, src),
            None => probe_payload(text, src),
        },
        "u" => event(
            MarketEvent::BookTicker(match fast::book_ticker(text) {
                Some(b) => b,
                None => serde_json::from_str(text)?,
            }),
            src,
        ),
        "lastUpdateId" => partial_depth(text, src),
        "result" | "id" | "code" | "error" => control(text),
        _ => probe_payload(text, src),
    }
}

fn decode_tagged<'a>(
    text: &'a str,
    tag: &str,
    src: Source<'a>,
) -> Result<Message<'a>, DecodeError> {
    let ev = match tag {
        "24hrTicker" => MarketEvent::Ticker(match fast::ticker(text) {
            Some(t) => t,
            None => serde_json::from_str(text)?,
        }),
        "24hrMiniTicker" => MarketEvent::MiniTicker(match fast::mini_ticker(text) {
            Some(t) => t,
            None => serde_json::from_str(text)?,
        }),
        "trade" => MarketEvent::Trade(match fast::trade(text) {
            Some(t) => t,
            None => serde_json::from_str(text)?,
        }),
        "aggTrade" => MarketEvent::AggTrade(match fast::agg_trade(text) {
            Some(t) => t,
            None => serde_json::from_str(text)?,
        }),
        "depthUpdate" => MarketEvent::DepthUpdate(match fast::depth_update(text) {
            Some(d) => d,
            None => serde_json::from_str(text)?,
        }),
        "bookTicker" => MarketEvent::BookTicker(serde_json::from_str(text)?),
        "serverShutdown" => return Ok(Message::ServerShutdown(serde_json::from_str(text)?)),
        other => return Err(DecodeError::UnknownEvent(other.to_owned())),
    };
    event(ev, src)
}

fn partial_depth<'a>(text: &'a str, src: Source<'a>) -> Result<Message<'a>, DecodeError> {
    let mut d: PartialDepth<'a> = match fast::partial_depth(text) {
        Some(d) => d,
        None => serde_json::from_str(text)?,
    };
    let stream = match src {
        Source::Combined(s) => Some(s),
        Source::Raw(h) => h,
    };
    if let Some(s) = stream {
        if matches!(s.kind, StreamKind::PartialDepth { .. }) {
            d.symbol = s.symbol;
        }
    }
    event(MarketEvent::PartialDepth(d), src)
}

fn event<'a>(ev: MarketEvent<'a>, src: Source<'a>) -> Result<Message<'a>, DecodeError> {
    let stream = match src {
        Source::Combined(s) => {
            if !ev.matches_kind(s.kind) {
                return Err(DecodeError::StreamMismatch {
                    stream: s.name.to_owned(),
                    event: ev.event_name(),
                });
            }
            Some(s)
        }
        Source::Raw(Some(h)) => {
            let sym = ev.symbol();
            let same_symbol = match ev {
                MarketEvent::PartialDepth(_) => true,
                _ => crate::stream::same_symbol(sym, h.symbol),
            };
            (ev.matches_kind(h.kind) && same_symbol).then_some(h)
        }
        Source::Raw(None) => None,
    };
    Ok(Message::Event(StreamEvent { stream, event: ev }))
}

fn control(text: &str) -> Result<Message<'_>, DecodeError> {
    let c: Control = serde_json::from_str(text)?;
    if let Some(e) = c.error {
        return Ok(Message::Error(ErrorReply {
            code: e.code,
            msg: e.msg,
            id: c.id,
        }));
    }
    if let Some(code) = c.code {
        return Ok(Message::Error(ErrorReply {
            code,
            msg: c.msg.unwrap_or(Cow::Borrowed("")),
            id: c.id,
        }));
    }
    match c.result {
        Some(r) => Ok(Message::Response(Response {
            id: c.id,
            result: (r.get() != "null").then_some(r),
        })),
        None => Err(DecodeError::Unrecognized),
    }
}

fn decode_combined<'a>(text: &'a str, b: &[u8], after: usize) -> Result<Message<'a>, DecodeError> {
    // Fast path for Binance's exact layout: {"stream":"NAME","data":DATA}
    if let Some((name, data_start)) = combined_prefix(text, b, after) {
        let end = text.trim_end_matches(|c: char| c.is_ascii_whitespace());
        if let Some(data) = end.strip_suffix('}').and_then(|s| s.get(data_start..)) {
            let stream =
                StreamRef::parse(name).map_err(|_| DecodeError::UnknownStream(name.to_owned()))?;
            match decode_data(data, stream) {
                // The slice may not be exactly the data value (e.g. more keys follow it):
                // only a JSON error can come from that; retry the general way.
                Err(DecodeError::Json(_)) => {}
                other => return other,
            }
        }
    }
    let env: Envelope = serde_json::from_str(text)?;
    let stream = StreamRef::parse(env.stream)
        .map_err(|_| DecodeError::UnknownStream(env.stream.to_owned()))?;
    decode_data(env.data.get(), stream)
}

fn decode_data<'a>(data: &'a str, stream: StreamRef<'a>) -> Result<Message<'a>, DecodeError> {
    let src = Source::Combined(stream);
    match first_key(data.as_bytes()) {
        Some((key, after)) => decode_payload(data, key, after, src),
        None => probe_payload(data, src),
    }
}

/// `{"stream":"` ... `","data":` at the start: returns the name and where data starts.
fn combined_prefix<'a>(text: &'a str, b: &[u8], after: usize) -> Option<(&'a str, usize)> {
    // `after` points just past the closing quote of the "stream" key.
    if b.get(after) != Some(&b':') || b.get(after + 1) != Some(&b'"') {
        return None;
    }
    let start = after + 2;
    let len = b[start..].iter().position(|&c| c == b'"' || c == b'\\')?;
    let end = start + len;
    let rest = b.get(end..end + 9)?;
    (rest == b"\",\"data\":").then(|| (&text[start..end], end + 9))
}

/// First key of a JSON object if it is a plain string without escapes, and the offset
/// just after its closing quote.
fn first_key(b: &[u8]) -> Option<(&str, usize)> {
    let mut pos = skip_ws(b, 0);
    if b.get(pos) != Some(&b'{') {
        return None;
    }
    pos = skip_ws(b, pos + 1);
    if b.get(pos) != Some(&b'"') {
        return None;
    }
    let start = pos + 1;
    let len = b[start..].iter().position(|&c| c == b'"' || c == b'\\')?;
    if b[start + len] != b'"' {
        return None;
    }
    let key = std::str::from_utf8(&b[start..start + len]).ok()?;
    Some((key, start + len + 1))
}

/// The string value after a key (offset just past the key's closing quote), if plain.
fn string_value(text: &str, after: usize) -> Option<&str> {
    let b = text.as_bytes();
    let mut pos = skip_ws(b, after);
    if b.get(pos) != Some(&b':') {
        return None;
    }
    pos = skip_ws(b, pos + 1);
    if b.get(pos) != Some(&b'"') {
        return None;
    }
    let start = pos + 1;
    let len = b[start..].iter().position(|&c| c == b'"' || c == b'\\')?;
    if b[start + len] != b'"' {
        return None;
    }
    text.get(start..start + len)
}

fn probe<'a>(text: &'a str, hint: Option<StreamRef<'a>>) -> Result<Message<'a>, DecodeError> {
    let p: Probe = serde_json::from_str(text)?;
    if let (Some(name), Some(data)) = (p.stream, p.data) {
        let stream =
            StreamRef::parse(name).map_err(|_| DecodeError::UnknownStream(name.to_owned()))?;
        return decode_data(data.get(), stream);
    }
    probe_dispatch(text, p, Source::Raw(hint))
}

fn probe_payload<'a>(text: &'a str, src: Source<'a>) -> Result<Message<'a>, DecodeError> {
    let p: Probe = serde_json::from_str(text)?;
    probe_dispatch(text, p, src)
}

fn probe_dispatch<'a>(
    text: &'a str,
    p: Probe<'a>,
    src: Source<'a>,
) -> Result<Message<'a>, DecodeError> {
    if let Some(tag) = p.e {
        decode_tagged(text, tag, src)
    } else if p.last_update_id {
        partial_depth(text, src)
    } else if p.u {
        event(MarketEvent::BookTicker(serde_json::from_str(text)?), src)
    } else if p.result || p.code || p.error {
        control(text)
    } else {
        Err(DecodeError::Unrecognized)
    }
}

/// Allocation-free hand parsers for the two depth payloads in Binance's layout. serde_json
/// allocates a scratch buffer when it scans nested arrays into a `RawValue`; these avoid it.
/// They accept a strict subset of what the serde path accepts (known keys only, plain strings,
/// canonical unsigned integers, no duplicates) and return `None` for anything else, in which
/// case the caller decodes with serde (which then allocates, or reports the precise error).
mod fast {
    use super::{
        skip_ws, AggTrade, BookTicker, DepthUpdate, Levels, MiniTicker, PartialDepth, Ticker, Trade,
    };
    use crate::decimal::Decimal;

    struct Scan<'a> {
        text: &'a str,
        pos: usize,
    }

    impl<'a> Scan<'a> {
        fn ws(&mut self) {
            self.pos = skip_ws(self.text.as_bytes(), self.pos);
        }
        fn eat(&mut self, c: u8) -> Option<()> {
            self.ws();
            (self.text.as_bytes().get(self.pos) == Some(&c)).then(|| self.pos += 1)
        }
        fn string(&mut self) -> Option<&'a str> {
            self.eat(b'"')?;
            let b = self.text.as_bytes();
            let start = self.pos;
            let len = b[start..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
            if b[start + len] != b'"' {
                return None;
            }
            self.pos = start + len + 1;
            self.text.get(start..start + len)
        }
        fn u64(&mut self) -> Option<u64> {
            self.ws();
            let b = self.text.as_bytes();
            let start = self.pos;
            let len = b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
            if len == 0 || (len > 1 && b[start] == b'0') {
                return None;
            }
            // A fraction or exponent makes it a float for serde: not a u64.
            if matches!(b.get(start + len), Some(b'.' | b'e' | b'E')) {
                return None;
            }
            self.pos = start + len;
            self.text[start..start + len].parse().ok()
        }
        fn i64(&mut self) -> Option<i64> {
            self.ws();
            if self.text.as_bytes().get(self.pos) == Some(&b'-') {
                self.pos += 1;
                let v = self.u64()?;
                return 0i64.checked_sub_unsigned(v);
            }
            i64::try_from(self.u64()?).ok()
        }
        fn bool(&mut self) -> Option<bool> {
            self.ws();
            let rest = &self.text.as_bytes()[self.pos..];
            if rest.starts_with(b"true") {
                self.pos += 4;
                Some(true)
            } else if rest.starts_with(b"false") {
                self.pos += 5;
                Some(false)
            } else {
                None
            }
        }
        /// A quoted decimal, scanned and validated in one pass (the rules of
        /// `Decimal::parse`: optional `-`, digits, at most one `.` with digits on both sides).
        fn decimal(&mut self) -> Option<Decimal<'a>> {
            self.eat(b'"')?;
            let b = self.text.as_bytes();
            let start = self.pos;
            let digits = start + usize::from(b.get(start) == Some(&b'-'));
            let mut dot = None;
            let mut i = digits;
            loop {
                match *b.get(i)? {
                    b'0'..=b'9' => {}
                    b'.' if dot.is_none() => dot = Some(i),
                    b'"' => break,
                    _ => return None,
                }
                i += 1;
            }
            if i == digits || dot.is_some_and(|d| d == digits || d + 1 == i) {
                return None;
            }
            self.pos = i + 1;
            Some(Decimal::from_validated(&self.text[start..i]))
        }
        fn levels(&mut self) -> Option<Levels<'a>> {
            self.ws();
            let (levels, end) = Levels::parse_prefix(&self.text[self.pos..]).ok()?;
            self.pos += end;
            Some(levels)
        }
        /// Walks `{"k":v,...}` calling `field(key, scan)` for each key; checks the end of input.
        fn object(
            &mut self,
            mut field: impl FnMut(&'a str, &mut Self) -> Option<()>,
        ) -> Option<()> {
            self.eat(b'{')?;
            loop {
                let key = self.string()?;
                self.eat(b':')?;
                field(key, self)?;
                self.ws();
                match self.text.as_bytes().get(self.pos) {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
            self.ws();
            (self.pos == self.text.len()).then_some(())
        }
    }

    fn set<T>(slot: &mut Option<T>, v: Option<T>) -> Option<()> {
        if slot.is_some() {
            return None; // duplicate key: let serde report it
        }
        *slot = Some(v?);
        Some(())
    }

    // Hand parsers for the event kinds in Binance's layout (any key order, no escapes, no
    // unknown keys): about 3x faster than serde_json's derived visitors (BENCHMARKS.md).
    // Anything else returns `None` and goes through serde, which decides and reports errors.

    pub(super) fn ticker(text: &str) -> Option<Ticker<'_>> {
        let mut f: [Option<Decimal<'_>>; 15] = [None; 15];
        let (mut t, mut s, mut open, mut close, mut first, mut last, mut n) =
            (None, None, None, None, None, None, None);
        let mut sc = Scan { text, pos: 0 };
        sc.object(|k, sc| {
            let slot = match k {
                "p" => 0,
                "P" => 1,
                "w" => 2,
                "x" => 3,
                "c" => 4,
                "Q" => 5,
                "b" => 6,
                "B" => 7,
                "a" => 8,
                "A" => 9,
                "o" => 10,
                "h" => 11,
                "l" => 12,
                "v" => 13,
                "q" => 14,
                "e" => return sc.string().map(drop),
                "E" => return set(&mut t, sc.u64()),
                "s" => return set(&mut s, sc.string()),
                "O" => return set(&mut open, sc.u64()),
                "C" => return set(&mut close, sc.u64()),
                "F" => return set(&mut first, sc.i64()),
                "L" => return set(&mut last, sc.i64()),
                "n" => return set(&mut n, sc.u64()),
                _ => return None,
            };
            set(&mut f[slot], sc.decimal())
        })?;
        Some(Ticker {
            event_time: t?,
            symbol: s?,
            price_change: f[0]?,
            price_change_percent: f[1]?,
            weighted_avg_price: f[2]?,
            prev_close_price: f[3]?,
            last_price: f[4]?,
            last_qty: f[5]?,
            bid_price: f[6]?,
            bid_qty: f[7]?,
            ask_price: f[8]?,
            ask_qty: f[9]?,
            open_price: f[10]?,
            high_price: f[11]?,
            low_price: f[12]?,
            volume: f[13]?,
            quote_volume: f[14]?,
            open_time: open?,
            close_time: close?,
            first_trade_id: first?,
            last_trade_id: last?,
            trade_count: n?,
        })
    }

    pub(super) fn mini_ticker(text: &str) -> Option<MiniTicker<'_>> {
        let mut f: [Option<Decimal<'_>>; 6] = [None; 6];
        let (mut t, mut s) = (None, None);
        let mut sc = Scan { text, pos: 0 };
        sc.object(|k, sc| {
            let slot = match k {
                "c" => 0,
                "o" => 1,
                "h" => 2,
                "l" => 3,
                "v" => 4,
                "q" => 5,
                "e" => return sc.string().map(drop),
                "E" => return set(&mut t, sc.u64()),
                "s" => return set(&mut s, sc.string()),
                _ => return None,
            };
            set(&mut f[slot], sc.decimal())
        })?;
        Some(MiniTicker {
            event_time: t?,
            symbol: s?,
            close_price: f[0]?,
            open_price: f[1]?,
            high_price: f[2]?,
            low_price: f[3]?,
            volume: f[4]?,
            quote_volume: f[5]?,
        })
    }

    pub(super) fn book_ticker(text: &str) -> Option<BookTicker<'_>> {
        let mut f: [Option<Decimal<'_>>; 4] = [None; 4];
        let (mut u, mut s, mut t) = (None, None, None);
        let mut sc = Scan { text, pos: 0 };
        sc.object(|k, sc| {
            let slot = match k {
                "b" => 0,
                "B" => 1,
                "a" => 2,
                "A" => 3,
                "u" => return set(&mut u, sc.u64()),
                "s" => return set(&mut s, sc.string()),
                "E" => return set(&mut t, sc.u64()),
                _ => return None,
            };
            set(&mut f[slot], sc.decimal())
        })?;
        Some(BookTicker {
            update_id: u?,
            symbol: s?,
            bid_price: f[0]?,
            bid_qty: f[1]?,
            ask_price: f[2]?,
            ask_qty: f[3]?,
            event_time: t,
        })
    }

    pub(super) fn trade(text: &str) -> Option<Trade<'_>> {
        let (mut t, mut s, mut id, mut p, mut q, mut tt, mut m, mut big_m) =
            (None, None, None, None, None, None, None, None);
        let mut sc = Scan { text, pos: 0 };
        sc.object(|k, sc| match k {
            "e" => sc.string().map(drop),
            "E" => set(&mut t, sc.u64()),
            "s" => set(&mut s, sc.string()),
            "t" => set(&mut id, sc.u64()),
            "p" => set(&mut p, sc.decimal()),
            "q" => set(&mut q, sc.decimal()),
            "T" => set(&mut tt, sc.u64()),
            "m" => set(&mut m, sc.bool()),
            // Ignored ("ignore" in Binance's docs), like serde does.
            "M" => set(&mut big_m, sc.bool()),
            _ => None,
        })?;
        Some(Trade {
            event_time: t?,
            symbol: s?,
            trade_id: id?,
            price: p?,
            qty: q?,
            trade_time: tt?,
            buyer_is_maker: m?,
        })
    }

    pub(super) fn agg_trade(text: &str) -> Option<AggTrade<'_>> {
        let (mut t, mut s, mut id, mut p, mut q, mut first, mut last, mut tt, mut m, mut big_m) =
            (None, None, None, None, None, None, None, None, None, None);
        let mut sc = Scan { text, pos: 0 };
        sc.object(|k, sc| match k {
            "e" => sc.string().map(drop),
            "E" => set(&mut t, sc.u64()),
            "s" => set(&mut s, sc.string()),
            "a" => set(&mut id, sc.u64()),
            "p" => set(&mut p, sc.decimal()),
            "q" => set(&mut q, sc.decimal()),
            "f" => set(&mut first, sc.u64()),
            "l" => set(&mut last, sc.u64()),
            "T" => set(&mut tt, sc.u64()),
            "m" => set(&mut m, sc.bool()),
            "M" => set(&mut big_m, sc.bool()),
            _ => None,
        })?;
        Some(AggTrade {
            event_time: t?,
            symbol: s?,
            agg_trade_id: id?,
            price: p?,
            qty: q?,
            first_trade_id: first?,
            last_trade_id: last?,
            trade_time: tt?,
            buyer_is_maker: m?,
        })
    }

    pub(super) fn depth_update(text: &str) -> Option<DepthUpdate<'_>> {
        let (mut e, mut t, mut s, mut first, mut last, mut b, mut a) =
            (None, None, None, None, None, None, None);
        let mut sc = Scan { text, pos: 0 };
        sc.object(|k, sc| match k {
            "e" => set(&mut e, sc.string().filter(|v| *v == "depthUpdate")),
            "E" => set(&mut t, sc.u64()),
            "s" => set(&mut s, sc.string()),
            "U" => set(&mut first, sc.u64()),
            "u" => set(&mut last, sc.u64()),
            "b" => set(&mut b, sc.levels()),
            "a" => set(&mut a, sc.levels()),
            _ => None,
        })?;
        Some(DepthUpdate {
            event_time: t?,
            symbol: s?,
            first_update_id: first?,
            final_update_id: last?,
            bids: b?,
            asks: a?,
        })
    }

    pub(super) fn partial_depth(text: &str) -> Option<PartialDepth<'_>> {
        let (mut id, mut b, mut a) = (None, None, None);
        let mut sc = Scan { text, pos: 0 };
        sc.object(|k, sc| match k {
            "lastUpdateId" => set(&mut id, sc.u64()),
            "bids" => set(&mut b, sc.levels()),
            "asks" => set(&mut a, sc.levels()),
            _ => None,
        })?;
        Some(PartialDepth {
            symbol: "",
            last_update_id: id?,
            bids: b?,
            asks: a?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
