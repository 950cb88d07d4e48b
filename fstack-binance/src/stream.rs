//! The stream model: stream kinds and names, symbols, timestamp units and request targets
//! (raw `/ws/<stream>` vs combined `/stream?streams=a/b`).
//!
//! Control messages sent on an open connection (SUBSCRIBE, ...) and their rate limit are in
//! [`crate::control`].
//!
//! ## What `depth` means
//! The CLI kind `depth` is the **diff depth stream at 100 ms**, `<symbol>@depth@100ms`
//! (`e = "depthUpdate"`): its payload carries the symbol and an event time (so latency and
//! the JSON `symbol`/`event_time` fields are always available, raw or combined). The partial
//! book streams are available as `depth5`, `depth10`, `depth20` (all `@100ms`); their payloads
//! carry neither symbol nor event time, which then come from the stream name.

use std::fmt;

// Stream names are letters, digits and `@`: only non-ASCII bytes need encoding in a URL.
use percent_encoding::{utf8_percent_encode, CONTROLS};

/// Binance's limit of streams on one connection.
pub const MAX_STREAMS_PER_CONNECTION: usize = 1024;

/// Number of levels of a partial book depth stream (`@depth5/10/20`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DepthLevels {
    /// `depth5`
    Five,
    /// `depth10`
    Ten,
    /// `depth20`
    Twenty,
}

impl DepthLevels {
    /// 5, 10 or 20.
    pub fn count(self) -> usize {
        match self {
            DepthLevels::Five => 5,
            DepthLevels::Ten => 10,
            DepthLevels::Twenty => 20,
        }
    }
}

/// Update speed of a depth stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DepthSpeed {
    /// Default 1000 ms (no suffix in the stream name).
    Ms1000,
    /// `@100ms` suffix.
    Ms100,
}

/// The kind of a market-data stream (the part of the stream name after `<symbol>@`).
/// Adding one: see the checklist in [`crate::events`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// `@ticker`: 24 h rolling window ticker (`e = "24hrTicker"`).
    Ticker,
    /// `@miniTicker` (`e = "24hrMiniTicker"`).
    MiniTicker,
    /// `@bookTicker`: best bid/ask, real time, no `e`/`E` fields.
    BookTicker,
    /// `@trade` (`e = "trade"`).
    Trade,
    /// `@aggTrade` (`e = "aggTrade"`).
    AggTrade,
    /// `@depth<levels>[@100ms]`: partial book snapshot, no `e`, `E` or `s` fields.
    PartialDepth {
        /// Levels per side.
        levels: DepthLevels,
        /// Update speed.
        speed: DepthSpeed,
    },
    /// `@depth[@100ms]`: diff depth (`e = "depthUpdate"`).
    DiffDepth {
        /// Update speed.
        speed: DepthSpeed,
    },
}

/// Why a stream name, symbol or kind was rejected. Carries no text (no allocation); callers
/// add the offending input to their messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// Symbols are 1 to 32 ASCII letters or digits.
    #[error("invalid symbol (expected 1-32 letters or digits)")]
    InvalidSymbol,
    /// The name has no `@` separating symbol and kind.
    #[error("stream name has no '@'")]
    MissingAt,
    /// The kind is not one of the supported stream kinds.
    #[error("unknown stream kind (expected {})", StreamKind::cli_name_list())]
    UnknownKind,
    /// More streams than fit on one connection.
    #[error("more than {MAX_STREAMS_PER_CONNECTION} streams on one connection")]
    TooManyStreams,
}

/// Defines [`StreamKind::ALL`] from one list that is also `match`ed without a wildcard, so
/// the list is checked by the compiler: a kind missing from it (a new variant, level count or
/// speed) fails to compile with "non-exhaustive patterns", one listed twice with
/// "unreachable pattern". Field values must be full paths (`DepthSpeed::Ms100`): in a
/// pattern, a bare name could bind a variable instead.
macro_rules! every_kind {
    ($(#[$doc:meta])* $($variant:ident $({ $($field:ident: $value:path),+ })?),+ $(,)?) => {
        impl StreamKind {
            $(#[$doc])*
            pub const ALL: [StreamKind; [$(stringify!($variant)),+].len()] =
                [$(StreamKind::$variant $({ $($field: $value),+ })?),+];
        }

        const _: () = {
            // Never called: only compiled, for the exhaustiveness check.
            #[allow(dead_code)]
            fn every_kind_is_listed(kind: StreamKind) {
                match kind {
                    $(StreamKind::$variant $({ $($field: $value),+ })? => {})+
                }
            }
        };
    };
}

every_kind! {
    /// Every stream kind, each level count and speed on its own: first the `--stream` kinds
    /// in help order, then the 1000 ms depth streams. The compiler checks that the list is
    /// complete.
    ///
    /// The name tables hang off exhaustive `match`es ([`StreamKind::suffix`],
    /// [`StreamKind::cli_name`], [`StreamKind::event_name`], [`StreamKind::event_type`],
    /// [`StreamKind::is_periodic`]), so a new variant does not compile until each knows it;
    /// [`StreamKind::from_cli`] and the "expected ..." lists are derived from this array; the
    /// tables that parse names ([`StreamKind::parse_suffix`], the decoder's `e` values) are
    /// checked against it by tests. The steps to add a kind are listed in [`crate::events`].
    Ticker,
    MiniTicker,
    BookTicker,
    Trade,
    AggTrade,
    DiffDepth { speed: DepthSpeed::Ms100 },
    PartialDepth { levels: DepthLevels::Five, speed: DepthSpeed::Ms100 },
    PartialDepth { levels: DepthLevels::Ten, speed: DepthSpeed::Ms100 },
    PartialDepth { levels: DepthLevels::Twenty, speed: DepthSpeed::Ms100 },
    DiffDepth { speed: DepthSpeed::Ms1000 },
    PartialDepth { levels: DepthLevels::Five, speed: DepthSpeed::Ms1000 },
    PartialDepth { levels: DepthLevels::Ten, speed: DepthSpeed::Ms1000 },
    PartialDepth { levels: DepthLevels::Twenty, speed: DepthSpeed::Ms1000 },
}

impl StreamKind {
    /// All CLI kinds in their canonical spelling, as accepted by [`StreamKind::from_cli`]:
    /// the `--stream` names that are also event names ([`StreamKind::event_name`]), one per
    /// event name. Checked against [`StreamKind::ALL`] by a test.
    pub const CLI_NAMES: [&'static str; 6] = [
        "ticker",
        "miniTicker",
        "bookTicker",
        "trade",
        "aggTrade",
        "depth",
    ];

    /// Parses a CLI `--stream KIND` (case-insensitive): `ticker`, `miniTicker`, `bookTicker`,
    /// `trade`, `aggTrade`, `depth` (= diff depth `@depth@100ms`). Extensions: `depth5`,
    /// `depth10`, `depth20` (partial book at 100 ms; exact spelling) and any exact suffix
    /// accepted by [`StreamKind::parse_suffix`] (e.g. `depth20@1000ms`, `depth@1000ms`).
    /// The names are the [`StreamKind::cli_name`]s of [`StreamKind::ALL`].
    pub fn from_cli(s: &str) -> Result<Self, StreamError> {
        let named = Self::ALL.into_iter().find(|k| match k.cli_name() {
            // The names in `CLI_NAMES` (one per event name) ignore case; extensions do not.
            Some(n) if n == k.event_name() => s.eq_ignore_ascii_case(n),
            Some(n) => s == n,
            None => false,
        });
        named.map_or_else(|| Self::parse_suffix(s), Ok)
    }

    /// The `--stream` name of this kind: its suffix for the kinds without a speed, the suffix
    /// without `@100ms` for the 100 ms depth streams (`depth`, `depth5`, `depth10`,
    /// `depth20`); `None` for the 1000 ms depth streams (named by their exact suffix).
    pub fn cli_name(self) -> Option<&'static str> {
        match self {
            StreamKind::Ticker
            | StreamKind::MiniTicker
            | StreamKind::BookTicker
            | StreamKind::Trade
            | StreamKind::AggTrade => Some(self.suffix()),
            StreamKind::PartialDepth { speed, .. } | StreamKind::DiffDepth { speed } => match speed
            {
                DepthSpeed::Ms100 => self.suffix().strip_suffix("@100ms"),
                DepthSpeed::Ms1000 => None,
            },
        }
    }

    /// The `--stream` names of [`StreamKind::ALL`] as an English list, e.g. for error
    /// messages: `ticker, miniTicker, ..., depth10 or depth20`.
    pub fn cli_name_list() -> impl fmt::Display {
        struct List;
        impl fmt::Display for List {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut names = StreamKind::ALL.into_iter().filter_map(StreamKind::cli_name);
                let mut next = names.next();
                let mut first = true;
                while let Some(name) = next {
                    next = names.next();
                    if !first {
                        f.write_str(if next.is_some() { ", " } else { " or " })?;
                    }
                    f.write_str(name)?;
                    first = false;
                }
                Ok(())
            }
        }
        List
    }

    /// Parses the exact (case-sensitive) suffix of a stream name: `ticker`, `miniTicker`,
    /// `bookTicker`, `trade`, `aggTrade`, `depth`, `depth@100ms`, `depth@1000ms`,
    /// `depth5`..`depth20` with optional `@100ms`/`@1000ms`.
    ///
    /// The inverse of [`StreamKind::suffix`] (plus the explicit `@1000ms`), written as a
    /// `match` rather than a search of [`StreamKind::ALL`] because the decoder calls it for
    /// every combined-stream message; a test checks it against [`StreamKind::ALL`].
    pub fn parse_suffix(s: &str) -> Result<Self, StreamError> {
        Ok(match s {
            "ticker" => StreamKind::Ticker,
            "miniTicker" => StreamKind::MiniTicker,
            "bookTicker" => StreamKind::BookTicker,
            "trade" => StreamKind::Trade,
            "aggTrade" => StreamKind::AggTrade,
            _ => {
                let (base, speed) = match s.split_once('@') {
                    None => (s, DepthSpeed::Ms1000),
                    Some((b, "100ms")) => (b, DepthSpeed::Ms100),
                    Some((b, "1000ms")) => (b, DepthSpeed::Ms1000),
                    Some(_) => return Err(StreamError::UnknownKind),
                };
                let levels = match base {
                    "depth" => return Ok(StreamKind::DiffDepth { speed }),
                    "depth5" => DepthLevels::Five,
                    "depth10" => DepthLevels::Ten,
                    "depth20" => DepthLevels::Twenty,
                    _ => return Err(StreamError::UnknownKind),
                };
                StreamKind::PartialDepth { levels, speed }
            }
        })
    }

    /// The canonical stream-name suffix (`"ticker"`, `"depth20@100ms"`, `"depth"`, ...).
    pub fn suffix(self) -> &'static str {
        use DepthLevels::*;
        use DepthSpeed::*;
        match self {
            StreamKind::Ticker => "ticker",
            StreamKind::MiniTicker => "miniTicker",
            StreamKind::BookTicker => "bookTicker",
            StreamKind::Trade => "trade",
            StreamKind::AggTrade => "aggTrade",
            StreamKind::DiffDepth { speed: Ms1000 } => "depth",
            StreamKind::DiffDepth { speed: Ms100 } => "depth@100ms",
            StreamKind::PartialDepth { levels, speed } => match (levels, speed) {
                (Five, Ms1000) => "depth5",
                (Ten, Ms1000) => "depth10",
                (Twenty, Ms1000) => "depth20",
                (Five, Ms100) => "depth5@100ms",
                (Ten, Ms100) => "depth10@100ms",
                (Twenty, Ms100) => "depth20@100ms",
            },
        }
    }

    /// True for streams Binance pushes on a fixed period whatever the market does: `@ticker`
    /// and `@miniTicker` (1 s) and partial book depth (100 ms or 1 s). Trades, book tickers
    /// and diff depth are pushed only when something changes.
    pub fn is_periodic(self) -> bool {
        match self {
            StreamKind::Ticker | StreamKind::MiniTicker | StreamKind::PartialDepth { .. } => true,
            StreamKind::BookTicker
            | StreamKind::Trade
            | StreamKind::AggTrade
            | StreamKind::DiffDepth { .. } => false,
        }
    }

    /// The `event` name used in JSON output: `ticker`, `miniTicker`, `bookTicker`, `trade`,
    /// `aggTrade` or `depth` (partial and diff depth both).
    pub fn event_name(self) -> &'static str {
        match self {
            StreamKind::Ticker => "ticker",
            StreamKind::MiniTicker => "miniTicker",
            StreamKind::BookTicker => "bookTicker",
            StreamKind::Trade => "trade",
            StreamKind::AggTrade => "aggTrade",
            StreamKind::PartialDepth { .. } | StreamKind::DiffDepth { .. } => "depth",
        }
    }

    /// The event type (`e` field) of this kind's payloads, which the decoder dispatches on:
    /// `24hrTicker`, `24hrMiniTicker`, `bookTicker` (spot payloads omit it, others carry it),
    /// `trade`, `aggTrade`, `depthUpdate`; `None` for partial depth, whose payloads have no
    /// `e`. A test checks that the decoder knows each of them.
    pub fn event_type(self) -> Option<&'static str> {
        match self {
            StreamKind::Ticker => Some("24hrTicker"),
            StreamKind::MiniTicker => Some("24hrMiniTicker"),
            StreamKind::BookTicker => Some("bookTicker"),
            StreamKind::Trade => Some("trade"),
            StreamKind::AggTrade => Some("aggTrade"),
            StreamKind::DiffDepth { .. } => Some("depthUpdate"),
            StreamKind::PartialDepth { .. } => None,
        }
    }
}

impl fmt::Display for StreamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.suffix())
    }
}

/// Longest symbol accepted, in characters (Binance's longest spot symbols are about 20).
pub const MAX_SYMBOL_CHARS: usize = 32;

/// A symbol is 1 to [`MAX_SYMBOL_CHARS`] Unicode letters or digits. Binance lists spot pairs
/// whose symbols are not ASCII (e.g. `币安人生USDT`); what cannot be part of a symbol
/// (white space, `/`, `@`, quotes, control characters) is rejected, which also keeps stream
/// names safe to put into JSON control messages without escaping.
pub fn valid_symbol(s: &str) -> bool {
    if s.is_ascii() {
        // The same rule without the per-character Unicode tables: an ASCII letter or digit
        // lowercases to one, and each character is one byte. Combined streams parse their
        // name with every event.
        return (1..=MAX_SYMBOL_CHARS).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric());
    }
    let mut n = 0;
    for c in s.chars() {
        // Its lowercase form too: stream names carry the symbol lowercased, and `İ` (U+0130)
        // lowercases to `i` plus a combining dot, which is not a letter.
        if !c.is_alphanumeric() || !c.to_lowercase().all(char::is_alphanumeric) {
            return false;
        }
        n += 1;
    }
    (1..=MAX_SYMBOL_CHARS).contains(&n)
}

/// Appends `symbol` lowercased as Binance spells it in stream names (Unicode lowercasing;
/// ASCII stays a byte-for-byte copy).
pub fn push_lowercase(out: &mut String, symbol: &str) {
    if symbol.is_ascii() {
        out.extend(symbol.chars().map(|c| c.to_ascii_lowercase()));
    } else {
        out.extend(symbol.chars().flat_map(char::to_lowercase));
    }
}

/// Appends `symbol` uppercased, as Binance spells it in payloads (`"s":"BTCUSDT"`).
pub fn push_uppercase(out: &mut String, symbol: &str) {
    if symbol.is_ascii() {
        out.extend(symbol.chars().map(|c| c.to_ascii_uppercase()));
    } else {
        out.extend(symbol.chars().flat_map(char::to_uppercase));
    }
}

/// True when two symbols are the same up to case (`BTCUSDT` = `btcusdt`, `币安人生USDT` =
/// `币安人生usdt`), without allocating.
pub fn same_symbol(a: &str, b: &str) -> bool {
    // Equal up to ASCII case is equal up to any case (other characters compared as they
    // are): one pass for the common case. Only a difference in non-ASCII text needs Unicode
    // lowercasing.
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    if a.is_ascii() && b.is_ascii() {
        return false;
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// A borrowed, parsed stream name such as `btcusdt@depth20@100ms`. `Copy`; no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamRef<'a> {
    /// The whole name as received or built.
    pub name: &'a str,
    /// The symbol part (before the first `@`), as written in the name (lowercase from Binance).
    pub symbol: &'a str,
    /// The kind part.
    pub kind: StreamKind,
}

impl<'a> StreamRef<'a> {
    /// Parses `<symbol>@<suffix>`.
    pub fn parse(name: &'a str) -> Result<Self, StreamError> {
        let (symbol, suffix) = name.split_once('@').ok_or(StreamError::MissingAt)?;
        if !valid_symbol(symbol) {
            return Err(StreamError::InvalidSymbol);
        }
        Ok(StreamRef {
            name,
            symbol,
            kind: StreamKind::parse_suffix(suffix)?,
        })
    }
}

/// An owned stream: lowercase symbol plus kind, with its name precomputed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Stream {
    name: String,
    symbol_len: usize,
    kind: StreamKind,
}

impl Stream {
    /// Builds `<lowercase symbol>@<suffix>`; the symbol is case-insensitive.
    pub fn new(symbol: &str, kind: StreamKind) -> Result<Self, StreamError> {
        if !valid_symbol(symbol) {
            return Err(StreamError::InvalidSymbol);
        }
        let mut name = String::with_capacity(symbol.len() + 1 + kind.suffix().len());
        push_lowercase(&mut name, symbol);
        // Lowercasing can change the length in bytes of non-ASCII text.
        let symbol_len = name.len();
        name.push('@');
        name.push_str(kind.suffix());
        Ok(Stream {
            name,
            symbol_len,
            kind,
        })
    }

    /// Parses a full stream name (the symbol part is lowercased).
    pub fn parse(name: &str) -> Result<Self, StreamError> {
        let r = StreamRef::parse(name)?;
        Stream::new(r.symbol, r.kind)
    }

    /// The stream name, e.g. `btcusdt@ticker`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The lowercase symbol.
    pub fn symbol(&self) -> &str {
        &self.name[..self.symbol_len]
    }

    /// The kind.
    pub fn kind(&self) -> StreamKind {
        self.kind
    }

    /// Borrowed view, e.g. for [`crate::events::decode`]'s hint.
    pub fn as_ref(&self) -> StreamRef<'_> {
        StreamRef {
            name: &self.name,
            symbol: self.symbol(),
            kind: self.kind,
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Every (symbol, kind) combination, symbols outermost, duplicates removed, order kept.
pub fn streams_for(symbols: &[String], kinds: &[StreamKind]) -> Result<Vec<Stream>, StreamError> {
    let mut out: Vec<Stream> = Vec::with_capacity(symbols.len() * kinds.len());
    for s in symbols {
        for &k in kinds {
            let st = Stream::new(s, k)?;
            if !out.contains(&st) {
                out.push(st);
            }
        }
    }
    Ok(out)
}

/// Splits streams into groups of at most [`MAX_STREAMS_PER_CONNECTION`]: one group per
/// connection.
pub fn chunk_streams(streams: &[Stream]) -> std::slice::Chunks<'_, Stream> {
    streams.chunks(MAX_STREAMS_PER_CONNECTION)
}

/// Timestamp unit of event fields (`E`, `T`, ...). Binance sends milliseconds unless the
/// request target carries `timeUnit=MICROSECOND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimeUnit {
    /// Milliseconds since the Unix epoch (default).
    #[default]
    Millisecond,
    /// Microseconds since the Unix epoch (`timeUnit=MICROSECOND`).
    Microsecond,
}

impl TimeUnit {
    /// Converts a timestamp in this unit to microseconds (saturating).
    pub fn to_micros(self, t: u64) -> u64 {
        match self {
            TimeUnit::Millisecond => t.saturating_mul(1000),
            TimeUnit::Microsecond => t,
        }
    }

    /// Converts a timestamp in this unit to milliseconds (truncating).
    pub fn to_millis(self, t: u64) -> u64 {
        match self {
            TimeUnit::Millisecond => t,
            TimeUnit::Microsecond => t / 1000,
        }
    }
}

/// How to put streams into the request target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UrlMode {
    /// Raw `/ws/<stream>` for exactly one stream, combined otherwise. Combined is required for
    /// several partial-depth streams (their raw payloads do not name the symbol).
    #[default]
    Auto,
    /// Always `/stream?streams=...` (`{"stream":...,"data":...}` wrapping).
    Combined,
    /// Raw `/ws/a/b/c` (several raw streams on one path; payloads are not wrapped).
    Raw,
}

/// The request target (path and query) for `streams`, e.g. `/ws/btcusdt@ticker`,
/// `/stream?streams=btcusdt@ticker/ethusdt@trade`, plus `timeUnit=MICROSECOND` when asked.
/// With no streams the target is `/ws` (raw) or `/stream` (combined): subscribe later.
/// Non-ASCII symbols are percent-encoded as UTF-8 (RFC 3986 §2.5), e.g.
/// `/ws/%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9Fusdt@trade` for `币安人生usdt@trade`.
/// Fails with [`StreamError::TooManyStreams`] above [`MAX_STREAMS_PER_CONNECTION`].
pub fn request_target(
    streams: &[Stream],
    mode: UrlMode,
    time_unit: TimeUnit,
) -> Result<String, StreamError> {
    if streams.len() > MAX_STREAMS_PER_CONNECTION {
        return Err(StreamError::TooManyStreams);
    }
    let combined = match mode {
        UrlMode::Auto => streams.len() != 1,
        UrlMode::Combined => true,
        UrlMode::Raw => false,
    };
    let mut t = String::with_capacity(32 + streams.iter().map(|s| s.name.len() + 1).sum::<usize>());
    let mut has_query = false;
    if combined {
        t.push_str("/stream");
        for (i, s) in streams.iter().enumerate() {
            t.push_str(if i == 0 { "?streams=" } else { "/" });
            t.extend(utf8_percent_encode(s.name(), CONTROLS));
            has_query = true;
        }
    } else {
        t.push_str("/ws");
        for s in streams {
            t.push('/');
            t.extend(utf8_percent_encode(s.name(), CONTROLS));
        }
    }
    if time_unit == TimeUnit::Microsecond {
        t.push_str(if has_query { "&" } else { "?" });
        t.push_str("timeUnit=MICROSECOND");
    }
    Ok(t)
}

#[cfg(test)]
mod tests;
