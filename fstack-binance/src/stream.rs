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
    let mut n = 0;
    for c in s.chars() {
        if !c.is_alphanumeric() {
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
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
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
mod tests {
    use super::*;
    use crate::control::{control_request, Method};

    #[test]
    fn names_and_kinds() {
        let cases = [
            ("ticker", StreamKind::Ticker, "btcusdt@ticker"),
            ("MINITICKER", StreamKind::MiniTicker, "btcusdt@miniTicker"),
            ("bookTicker", StreamKind::BookTicker, "btcusdt@bookTicker"),
            ("Trade", StreamKind::Trade, "btcusdt@trade"),
            ("aggtrade", StreamKind::AggTrade, "btcusdt@aggTrade"),
            (
                "depth",
                StreamKind::DiffDepth {
                    speed: DepthSpeed::Ms100,
                },
                "btcusdt@depth@100ms",
            ),
            (
                "depth20",
                StreamKind::PartialDepth {
                    levels: DepthLevels::Twenty,
                    speed: DepthSpeed::Ms100,
                },
                "btcusdt@depth20@100ms",
            ),
            (
                "depth5@1000ms",
                StreamKind::PartialDepth {
                    levels: DepthLevels::Five,
                    speed: DepthSpeed::Ms1000,
                },
                "btcusdt@depth5",
            ),
        ];
        for (cli, kind, name) in cases {
            let k = StreamKind::from_cli(cli).unwrap();
            assert_eq!(k, kind, "{cli}");
            let s = Stream::new("BTCUSDT", k).unwrap();
            assert_eq!(s.name(), name);
            assert_eq!(s.symbol(), "btcusdt");
            assert_eq!(s.kind(), kind);
            assert_eq!(Stream::parse(name).unwrap(), s);
            let r = StreamRef::parse(name).unwrap();
            assert_eq!((r.name, r.symbol, r.kind), (name, "btcusdt", kind));
            assert_eq!(s.as_ref(), r);
        }
        assert_eq!(
            StreamKind::from_cli("kline_1m"),
            Err(StreamError::UnknownKind)
        );
        assert_eq!(StreamKind::from_cli(""), Err(StreamError::UnknownKind));
        assert_eq!(
            StreamKind::parse_suffix("Ticker"),
            Err(StreamError::UnknownKind)
        );
        assert_eq!(
            StreamKind::parse_suffix("depth7"),
            Err(StreamError::UnknownKind)
        );
        assert_eq!(
            StreamKind::parse_suffix("depth@250ms"),
            Err(StreamError::UnknownKind)
        );
        assert_eq!(StreamRef::parse("btcusdt"), Err(StreamError::MissingAt));
        assert_eq!(StreamRef::parse("@ticker"), Err(StreamError::InvalidSymbol));
        assert_eq!(
            StreamRef::parse("btc-usdt@ticker"),
            Err(StreamError::InvalidSymbol)
        );
        assert_eq!(
            StreamRef::parse("!ticker@arr"),
            Err(StreamError::InvalidSymbol)
        );
        assert_eq!(
            Stream::new("", StreamKind::Ticker),
            Err(StreamError::InvalidSymbol)
        );
        assert_eq!(
            Stream::new(&"a".repeat(33), StreamKind::Ticker),
            Err(StreamError::InvalidSymbol)
        );
        for bad in [
            "btc usdt",
            "btc/usdt",
            "btc@usdt",
            "btc\"usdt",
            "btc\\usdt",
            "btc\u{7}",
        ] {
            assert_eq!(
                Stream::new(bad, StreamKind::Trade),
                Err(StreamError::InvalidSymbol),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn non_ascii_symbols() {
        // Binance lists spot pairs with Chinese names; stream names lowercase the UTF-8 symbol.
        let s = Stream::new("币安人生USDT", StreamKind::Trade).unwrap();
        assert_eq!(s.name(), "币安人生usdt@trade");
        assert_eq!(s.symbol(), "币安人生usdt");
        assert_eq!(Stream::parse("币安人生usdt@trade").unwrap(), s);
        let r = StreamRef::parse("币安人生usdt@trade").unwrap();
        assert_eq!((r.symbol, r.kind), ("币安人生usdt", StreamKind::Trade));
        // Lowercasing that changes the length in bytes (U+0130 → "i̇", 2 → 3 bytes).
        let s = Stream::new("İUSDT", StreamKind::Ticker).unwrap();
        assert_eq!(s.name(), "i\u{307}usdt@ticker");
        assert_eq!(s.symbol(), "i\u{307}usdt");
        assert_eq!(
            Stream::new(&"币".repeat(32), StreamKind::Ticker)
                .unwrap()
                .symbol()
                .chars()
                .count(),
            32
        );
        assert_eq!(
            Stream::new(&"币".repeat(33), StreamKind::Ticker),
            Err(StreamError::InvalidSymbol)
        );
        assert!(same_symbol("币安人生USDT", "币安人生usdt"));
        assert!(same_symbol("BTCUSDT", "btcusdt"));
        assert!(same_symbol("ДОГUSDT", "догusdt"));
        assert!(!same_symbol("币安人生USDT", "币安人usdt"));
        // URLs carry the name percent-encoded as UTF-8; control messages carry it as is.
        let trade = |symbol| Stream::new(symbol, StreamKind::Trade).unwrap();
        let streams = [trade("币安人生usdt"), trade("btcusdt")];
        assert_eq!(
            request_target(&streams[..1], UrlMode::Auto, TimeUnit::Millisecond).unwrap(),
            "/ws/%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9Fusdt@trade"
        );
        assert_eq!(
            request_target(&streams, UrlMode::Auto, TimeUnit::Millisecond).unwrap(),
            "/stream?streams=%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9Fusdt@trade/btcusdt@trade"
        );
        assert_eq!(
            control_request(Method::Subscribe, 7, &streams[..1]).text,
            r#"{"method":"SUBSCRIBE","params":["币安人生usdt@trade"],"id":7}"#
        );
    }

    #[test]
    fn cli_names_round_trip() {
        for n in StreamKind::CLI_NAMES {
            assert_eq!(
                StreamKind::from_cli(n).unwrap().event_name(),
                if n == "depth" { "depth" } else { n }
            );
        }
        assert_eq!(StreamKind::Ticker.to_string(), "ticker");
    }

    #[test]
    fn name_tables_agree_with_all() {
        let ms1000 = |k: StreamKind| {
            matches!(
                k,
                StreamKind::DiffDepth {
                    speed: DepthSpeed::Ms1000
                } | StreamKind::PartialDepth {
                    speed: DepthSpeed::Ms1000,
                    ..
                }
            )
        };
        for (i, k) in StreamKind::ALL.into_iter().enumerate() {
            assert!(!StreamKind::ALL[..i].contains(&k), "{k:?} listed twice");
            assert!(
                !StreamKind::ALL[..i]
                    .iter()
                    .any(|o| o.suffix() == k.suffix()),
                "{k:?}: suffix taken"
            );
            // `parse_suffix` (a hand-written match) is the inverse of `suffix`.
            assert_eq!(StreamKind::parse_suffix(k.suffix()), Ok(k), "{k:?}");
            if ms1000(k) {
                let explicit = format!("{}@1000ms", k.suffix());
                assert_eq!(StreamKind::parse_suffix(&explicit), Ok(k), "{explicit}");
            }
            assert_eq!(k.to_string(), k.suffix());
            let stream = Stream::new("btcusdt", k).unwrap();
            assert_eq!(StreamRef::parse(stream.name()).unwrap().kind, k);
            if let Some(n) = k.cli_name() {
                assert_eq!(StreamKind::from_cli(n), Ok(k), "{n}");
            }
        }
        // What `parse_suffix` accepts is a suffix of `ALL` (or one with `@1000ms` spelt out).
        let mut candidates: Vec<String> = Vec::new();
        for k in StreamKind::ALL {
            for tail in ["", "@100ms", "@1000ms", "@250ms", "@"] {
                candidates.push(format!("{}{tail}", k.suffix()));
                candidates.push(format!("{}{tail}", k.suffix().to_uppercase()));
            }
        }
        for s in &candidates {
            if let Ok(k) = StreamKind::parse_suffix(s) {
                let explicit = format!("{}@1000ms", k.suffix());
                assert!(
                    *s == k.suffix() || (ms1000(k) && *s == explicit),
                    "{s:?} parsed as {k:?}"
                );
            }
        }
        // `CLI_NAMES`: the CLI names that are also event names, one per event name.
        let main: Vec<&str> = StreamKind::ALL
            .into_iter()
            .filter_map(|k| k.cli_name().filter(|&n| n == k.event_name()))
            .collect();
        assert_eq!(main, StreamKind::CLI_NAMES);
        assert_eq!(
            StreamKind::cli_name_list().to_string(),
            "ticker, miniTicker, bookTicker, trade, aggTrade, depth, depth5, depth10 or depth20"
        );
        assert_eq!(
            StreamError::UnknownKind.to_string(),
            "unknown stream kind (expected ticker, miniTicker, bookTicker, trade, aggTrade, \
             depth, depth5, depth10 or depth20)"
        );
        // Periodic kinds (the stall timeout's default) and event types, kind by kind.
        let periodic: Vec<&str> = StreamKind::ALL
            .into_iter()
            .filter(|k| k.is_periodic())
            .filter_map(StreamKind::cli_name)
            .collect();
        assert_eq!(
            periodic,
            ["ticker", "miniTicker", "depth5", "depth10", "depth20"]
        );
        let types: Vec<Option<&str>> = StreamKind::CLI_NAMES
            .into_iter()
            .map(|n| StreamKind::from_cli(n).unwrap().event_type())
            .collect();
        assert_eq!(
            types,
            [
                Some("24hrTicker"),
                Some("24hrMiniTicker"),
                Some("bookTicker"),
                Some("trade"),
                Some("aggTrade"),
                Some("depthUpdate")
            ]
        );
    }

    #[test]
    fn streams_product_dedups() {
        let syms = vec!["BTCUSDT".to_string(), "ethusdt".into(), "btcusdt".into()];
        let v = streams_for(&syms, &[StreamKind::Ticker, StreamKind::Trade]).unwrap();
        let names: Vec<&str> = v.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
                "btcusdt@ticker",
                "btcusdt@trade",
                "ethusdt@ticker",
                "ethusdt@trade"
            ]
        );
        assert!(streams_for(&["x y".into()], &[StreamKind::Ticker]).is_err());
    }

    #[test]
    fn targets() {
        let a = Stream::new("btcusdt", StreamKind::Ticker).unwrap();
        let b = Stream::new("ethusdt", StreamKind::AggTrade).unwrap();
        let ms = TimeUnit::Millisecond;
        let us = TimeUnit::Microsecond;
        assert_eq!(
            request_target(std::slice::from_ref(&a), UrlMode::Auto, ms).unwrap(),
            "/ws/btcusdt@ticker"
        );
        assert_eq!(
            request_target(std::slice::from_ref(&a), UrlMode::Auto, us).unwrap(),
            "/ws/btcusdt@ticker?timeUnit=MICROSECOND"
        );
        assert_eq!(
            request_target(&[a.clone(), b.clone()], UrlMode::Auto, ms).unwrap(),
            "/stream?streams=btcusdt@ticker/ethusdt@aggTrade"
        );
        assert_eq!(
            request_target(&[a.clone(), b.clone()], UrlMode::Auto, us).unwrap(),
            "/stream?streams=btcusdt@ticker/ethusdt@aggTrade&timeUnit=MICROSECOND"
        );
        assert_eq!(
            request_target(std::slice::from_ref(&a), UrlMode::Combined, ms).unwrap(),
            "/stream?streams=btcusdt@ticker"
        );
        assert_eq!(
            request_target(&[a.clone(), b.clone()], UrlMode::Raw, ms).unwrap(),
            "/ws/btcusdt@ticker/ethusdt@aggTrade"
        );
        assert_eq!(request_target(&[], UrlMode::Auto, ms).unwrap(), "/stream");
        assert_eq!(
            request_target(&[], UrlMode::Raw, us).unwrap(),
            "/ws?timeUnit=MICROSECOND"
        );
        let many: Vec<Stream> = (0..1025)
            .map(|i| Stream::new(&format!("s{i}"), StreamKind::Trade).unwrap())
            .collect();
        assert_eq!(
            request_target(&many, UrlMode::Auto, ms),
            Err(StreamError::TooManyStreams)
        );
        assert!(request_target(&many[..1024], UrlMode::Auto, ms).is_ok());
        let chunks: Vec<usize> = chunk_streams(&many).map(|c| c.len()).collect();
        assert_eq!(chunks, [1024, 1]);
        let many: Vec<Stream> = many
            .into_iter()
            .chain((0..2000).map(|i| Stream::new(&format!("t{i}"), StreamKind::Trade).unwrap()))
            .collect();
        let chunks: Vec<usize> = chunk_streams(&many).map(|c| c.len()).collect();
        assert_eq!(chunks, [1024, 1024, 977]);
    }
}
