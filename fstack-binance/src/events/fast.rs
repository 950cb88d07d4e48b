//! Hand parsers for every event kind: the decoder's measured hot path.
//!
//! Why they exist, next to serde_json's derived `Deserialize` impls:
//! * Speed: a ticker decodes in about 0.17 µs here, several times faster than through
//!   serde's derived visitors (BENCHMARKS.md).
//! * Allocation: the two depth payloads are allocation-free here. serde_json allocates a
//!   scratch buffer when it scans nested arrays into a `RawValue`; these avoid it.
//!
//! Two tiers per kind:
//! * `*_exact`: Binance's exact layout, its keys in its order without white space. The bytes
//!   between two values are constants (`","p":"`): each field costs one comparison of them
//!   and a scan of its value, with no key scan, key `match` or duplicate check. [`exact`]
//!   picks the parser from a byte or two of the payload.
//! * `*_any`: the same fields in any key order, white space anywhere JSON allows it.
//!
//! Both accept a strict subset of what the serde path accepts (known keys only, plain strings,
//! canonical unsigned integers, no duplicates): what the exact tier accepts, the general one
//! accepts with the same values, and what neither accepts returns `None`, in which case the
//! caller decodes with serde (which then allocates, or reports the precise error). The serde
//! path stays the reference: the tests check that all three agree.
//!
//! Values are scanned by [`super::scan`]: each decimal is found and validated in one pass.

use super::levels::skip_ws;
use super::scan;
use super::{
    AggTrade, BookTicker, DepthUpdate, Levels, MarketEvent, MiniTicker, PartialDepth, Ticker, Trade,
};
use crate::decimal::Decimal;

struct Scan<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scan<'a> {
    fn new(text: &'a str) -> Self {
        Scan { text, pos: 0 }
    }

    // Values whose first byte is at `pos` (no white space before them). The string-valued ones
    // start just after the opening quote and consume the closing one.

    /// A plain string's content.
    #[inline(always)]
    fn str_body(&mut self) -> Option<&'a str> {
        let end = scan::string_end(self.text.as_bytes(), self.pos)?;
        let s = self.text.get(self.pos..end)?;
        self.pos = end + 1;
        Some(s)
    }
    /// A decimal's content, scanned and validated in one pass.
    #[inline(always)]
    fn dec_body(&mut self) -> Option<Decimal<'a>> {
        let end = scan::decimal_end(self.text.as_bytes(), self.pos)?;
        let s = self.text.get(self.pos..end)?;
        self.pos = end + 1;
        Some(Decimal::from_validated(s))
    }
    #[inline(always)]
    fn uint(&mut self) -> Option<u64> {
        let (v, end) = scan::uint(self.text.as_bytes(), self.pos)?;
        self.pos = end;
        Some(v)
    }
    #[inline(always)]
    fn int(&mut self) -> Option<i64> {
        if self.text.as_bytes().get(self.pos) == Some(&b'-') {
            self.pos += 1;
            let v = self.uint()?;
            return 0i64.checked_sub_unsigned(v);
        }
        i64::try_from(self.uint()?).ok()
    }
    #[inline(always)]
    fn boolean(&mut self) -> Option<bool> {
        let rest = self.text.as_bytes().get(self.pos..)?;
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

    // Binance's exact layout: the bytes between two values are a constant (`,"p":"`).

    /// Consumes `lit` if the text continues with exactly these bytes.
    #[inline(always)]
    fn lit<const N: usize>(&mut self, lit: &[u8; N]) -> Option<()> {
        let rest = self.text.as_bytes().get(self.pos..)?;
        (rest.first_chunk::<N>() == Some(lit)).then(|| self.pos += N)
    }
    #[inline(always)]
    fn uint_after<const N: usize>(&mut self, lit: &[u8; N]) -> Option<u64> {
        self.lit(lit)?;
        self.uint()
    }
    #[inline(always)]
    fn int_after<const N: usize>(&mut self, lit: &[u8; N]) -> Option<i64> {
        self.lit(lit)?;
        self.int()
    }
    #[inline(always)]
    fn str_after<const N: usize>(&mut self, lit: &[u8; N]) -> Option<&'a str> {
        self.lit(lit)?;
        self.str_body()
    }
    #[inline(always)]
    fn dec_after<const N: usize>(&mut self, lit: &[u8; N]) -> Option<Decimal<'a>> {
        self.lit(lit)?;
        self.dec_body()
    }
    #[inline(always)]
    fn bool_after<const N: usize>(&mut self, lit: &[u8; N]) -> Option<bool> {
        self.lit(lit)?;
        self.boolean()
    }
    #[inline(always)]
    fn levels_after<const N: usize>(&mut self, lit: &[u8; N]) -> Option<Levels<'a>> {
        self.lit(lit)?;
        self.levels()
    }
    /// The closing `}` and the end of the text (white space after it: the general path).
    #[inline(always)]
    fn end(&mut self) -> Option<()> {
        self.lit(b"}")?;
        (self.pos == self.text.len()).then_some(())
    }

    // Any key order, white space anywhere JSON allows it.

    fn ws(&mut self) {
        self.pos = skip_ws(self.text.as_bytes(), self.pos);
    }
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.text.as_bytes().get(self.pos) == Some(&c)).then(|| self.pos += 1)
    }
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        self.str_body()
    }
    fn u64(&mut self) -> Option<u64> {
        self.ws();
        self.uint()
    }
    fn i64(&mut self) -> Option<i64> {
        self.ws();
        self.int()
    }
    fn bool(&mut self) -> Option<bool> {
        self.ws();
        self.boolean()
    }
    fn decimal(&mut self) -> Option<Decimal<'a>> {
        self.eat(b'"')?;
        self.dec_body()
    }
    fn levels(&mut self) -> Option<Levels<'a>> {
        self.ws();
        let (levels, end) = Levels::parse_prefix(self.text.get(self.pos..)?).ok()?;
        self.pos += end;
        Some(levels)
    }
    /// Walks `{"k":v,...}` calling `field(key, scan)` for each key; checks the end of input.
    fn object(&mut self, mut field: impl FnMut(&'a str, &mut Self) -> Option<()>) -> Option<()> {
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

// Per kind: the exact layout first; any difference (another order, white space, a new
// field) fails one of its comparisons and the general parser takes over.

pub(super) fn ticker(text: &str) -> Option<Ticker<'_>> {
    ticker_exact(text).or_else(|| ticker_any(text))
}

pub(super) fn mini_ticker(text: &str) -> Option<MiniTicker<'_>> {
    mini_ticker_exact(text).or_else(|| mini_ticker_any(text))
}

pub(super) fn book_ticker(text: &str) -> Option<BookTicker<'_>> {
    book_ticker_exact(text).or_else(|| book_ticker_any(text))
}

pub(super) fn trade(text: &str) -> Option<Trade<'_>> {
    trade_exact(text).or_else(|| trade_any(text))
}

pub(super) fn agg_trade(text: &str) -> Option<AggTrade<'_>> {
    agg_trade_exact(text).or_else(|| agg_trade_any(text))
}

pub(super) fn depth_update(text: &str) -> Option<DepthUpdate<'_>> {
    depth_update_exact(text).or_else(|| depth_update_any(text))
}

pub(super) fn partial_depth(text: &str) -> Option<PartialDepth<'_>> {
    partial_depth_exact(text).or_else(|| partial_depth_any(text))
}

/// The event, if `text` is one of Binance's event payloads in its exact layout. Picks the
/// parser from the bytes that tell the layouts apart (`{"e":"t` is a trade, `{"u":` a
/// bookTicker, ...) instead of reading the first key and the `e` value as strings first; every
/// parser then checks its whole prefix. `None` sends the text through [`super::decode()`]'s
/// general dispatch, which yields the same event for every text accepted here.
#[inline(always)]
pub(super) fn exact(text: &str) -> Option<MarketEvent<'_>> {
    let b = text.as_bytes();
    match (b.get(2)?, b.get(6)?) {
        (b'e', b'2') => match b.get(10)? {
            b'T' => ticker_exact(text).map(MarketEvent::Ticker),
            _ => mini_ticker_exact(text).map(MarketEvent::MiniTicker),
        },
        (b'e', b't') => trade_exact(text).map(MarketEvent::Trade),
        (b'e', b'a') => agg_trade_exact(text).map(MarketEvent::AggTrade),
        (b'e', b'd') => depth_update_exact(text).map(MarketEvent::DepthUpdate),
        (b'u', _) => book_ticker_exact(text).map(MarketEvent::BookTicker),
        (b'l', _) => partial_depth_exact(text).map(MarketEvent::PartialDepth),
        _ => None,
    }
}

// The struct literals below read the fields in the order written (Rust evaluates a struct
// expression's fields in source order), which is the payload's key order. Inlined into
// `decode`: the event is then built where the decoded message goes, not copied there (about
// 300 bytes for a ticker).

#[inline(always)]
pub(super) fn ticker_exact(text: &str) -> Option<Ticker<'_>> {
    let mut c = Scan::new(text);
    let t = Ticker {
        event_time: c.uint_after(br#"{"e":"24hrTicker","E":"#)?,
        symbol: c.str_after(br#","s":""#)?,
        price_change: c.dec_after(br#","p":""#)?,
        price_change_percent: c.dec_after(br#","P":""#)?,
        weighted_avg_price: c.dec_after(br#","w":""#)?,
        prev_close_price: c.dec_after(br#","x":""#)?,
        last_price: c.dec_after(br#","c":""#)?,
        last_qty: c.dec_after(br#","Q":""#)?,
        bid_price: c.dec_after(br#","b":""#)?,
        bid_qty: c.dec_after(br#","B":""#)?,
        ask_price: c.dec_after(br#","a":""#)?,
        ask_qty: c.dec_after(br#","A":""#)?,
        open_price: c.dec_after(br#","o":""#)?,
        high_price: c.dec_after(br#","h":""#)?,
        low_price: c.dec_after(br#","l":""#)?,
        volume: c.dec_after(br#","v":""#)?,
        quote_volume: c.dec_after(br#","q":""#)?,
        open_time: c.uint_after(br#","O":"#)?,
        close_time: c.uint_after(br#","C":"#)?,
        first_trade_id: c.int_after(br#","F":"#)?,
        last_trade_id: c.int_after(br#","L":"#)?,
        trade_count: c.uint_after(br#","n":"#)?,
    };
    c.end()?;
    Some(t)
}

#[inline(always)]
pub(super) fn mini_ticker_exact(text: &str) -> Option<MiniTicker<'_>> {
    let mut c = Scan::new(text);
    let m = MiniTicker {
        event_time: c.uint_after(br#"{"e":"24hrMiniTicker","E":"#)?,
        symbol: c.str_after(br#","s":""#)?,
        close_price: c.dec_after(br#","c":""#)?,
        open_price: c.dec_after(br#","o":""#)?,
        high_price: c.dec_after(br#","h":""#)?,
        low_price: c.dec_after(br#","l":""#)?,
        volume: c.dec_after(br#","v":""#)?,
        quote_volume: c.dec_after(br#","q":""#)?,
    };
    c.end()?;
    Some(m)
}

#[inline(always)]
pub(super) fn book_ticker_exact(text: &str) -> Option<BookTicker<'_>> {
    let mut c = Scan::new(text);
    let b = BookTicker {
        update_id: c.uint_after(br#"{"u":"#)?,
        symbol: c.str_after(br#","s":""#)?,
        bid_price: c.dec_after(br#","b":""#)?,
        bid_qty: c.dec_after(br#","B":""#)?,
        ask_price: c.dec_after(br#","a":""#)?,
        ask_qty: c.dec_after(br#","A":""#)?,
        // Spot payloads have no `E`; one that has it takes the general path.
        event_time: None,
    };
    c.end()?;
    Some(b)
}

#[inline(always)]
pub(super) fn trade_exact(text: &str) -> Option<Trade<'_>> {
    let mut c = Scan::new(text);
    let t = Trade {
        event_time: c.uint_after(br#"{"e":"trade","E":"#)?,
        symbol: c.str_after(br#","s":""#)?,
        trade_id: c.uint_after(br#","t":"#)?,
        price: c.dec_after(br#","p":""#)?,
        qty: c.dec_after(br#","q":""#)?,
        trade_time: c.uint_after(br#","T":"#)?,
        buyer_is_maker: c.bool_after(br#","m":"#)?,
    };
    // `M` ("ignore" in Binance's docs) is checked to be a boolean, like serde does.
    c.bool_after(br#","M":"#)?;
    c.end()?;
    Some(t)
}

#[inline(always)]
pub(super) fn agg_trade_exact(text: &str) -> Option<AggTrade<'_>> {
    let mut c = Scan::new(text);
    let a = AggTrade {
        event_time: c.uint_after(br#"{"e":"aggTrade","E":"#)?,
        symbol: c.str_after(br#","s":""#)?,
        agg_trade_id: c.uint_after(br#","a":"#)?,
        price: c.dec_after(br#","p":""#)?,
        qty: c.dec_after(br#","q":""#)?,
        first_trade_id: c.uint_after(br#","f":"#)?,
        last_trade_id: c.uint_after(br#","l":"#)?,
        trade_time: c.uint_after(br#","T":"#)?,
        buyer_is_maker: c.bool_after(br#","m":"#)?,
    };
    c.bool_after(br#","M":"#)?;
    c.end()?;
    Some(a)
}

#[inline(always)]
pub(super) fn depth_update_exact(text: &str) -> Option<DepthUpdate<'_>> {
    let mut c = Scan::new(text);
    let d = DepthUpdate {
        event_time: c.uint_after(br#"{"e":"depthUpdate","E":"#)?,
        symbol: c.str_after(br#","s":""#)?,
        first_update_id: c.uint_after(br#","U":"#)?,
        final_update_id: c.uint_after(br#","u":"#)?,
        bids: c.levels_after(br#","b":"#)?,
        asks: c.levels_after(br#","a":"#)?,
    };
    c.end()?;
    Some(d)
}

#[inline(always)]
pub(super) fn partial_depth_exact(text: &str) -> Option<PartialDepth<'_>> {
    let mut c = Scan::new(text);
    let d = PartialDepth {
        symbol: "",
        last_update_id: c.uint_after(br#"{"lastUpdateId":"#)?,
        bids: c.levels_after(br#","bids":"#)?,
        asks: c.levels_after(br#","asks":"#)?,
    };
    c.end()?;
    Some(d)
}

// The general parsers: Binance's fields in any key order, white space anywhere, no escapes,
// no unknown keys.

pub(super) fn ticker_any(text: &str) -> Option<Ticker<'_>> {
    let mut f: [Option<Decimal<'_>>; 15] = [None; 15];
    let (mut t, mut s, mut open, mut close, mut first, mut last, mut n) =
        (None, None, None, None, None, None, None);
    let mut sc = Scan::new(text);
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

pub(super) fn mini_ticker_any(text: &str) -> Option<MiniTicker<'_>> {
    let mut f: [Option<Decimal<'_>>; 6] = [None; 6];
    let (mut t, mut s) = (None, None);
    let mut sc = Scan::new(text);
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

pub(super) fn book_ticker_any(text: &str) -> Option<BookTicker<'_>> {
    let mut f: [Option<Decimal<'_>>; 4] = [None; 4];
    let (mut u, mut s, mut t) = (None, None, None);
    let mut sc = Scan::new(text);
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

pub(super) fn trade_any(text: &str) -> Option<Trade<'_>> {
    let (mut t, mut s, mut id, mut p, mut q, mut tt, mut m, mut big_m) =
        (None, None, None, None, None, None, None, None);
    let mut sc = Scan::new(text);
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

pub(super) fn agg_trade_any(text: &str) -> Option<AggTrade<'_>> {
    let (mut t, mut s, mut id, mut p, mut q, mut first, mut last, mut tt, mut m, mut big_m) =
        (None, None, None, None, None, None, None, None, None, None);
    let mut sc = Scan::new(text);
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

pub(super) fn depth_update_any(text: &str) -> Option<DepthUpdate<'_>> {
    let (mut e, mut t, mut s, mut first, mut last, mut b, mut a) =
        (None, None, None, None, None, None, None);
    let mut sc = Scan::new(text);
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

pub(super) fn partial_depth_any(text: &str) -> Option<PartialDepth<'_>> {
    let (mut id, mut b, mut a) = (None, None, None);
    let mut sc = Scan::new(text);
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
