//! Hand parsers for every event kind in Binance's exact layout: the decoder's measured hot
//! path.
//!
//! Why they exist, next to serde_json's derived `Deserialize` impls:
//! * Speed: they are about 3x faster than serde_json's derived visitors; a ticker decodes in
//!   about 0.86 µs instead of 1.17 µs (BENCHMARKS.md).
//! * Allocation: the two depth payloads are allocation-free here. serde_json allocates a
//!   scratch buffer when it scans nested arrays into a `RawValue`; these avoid it.
//!
//! They accept a strict subset of what the serde path accepts (known keys only, plain strings,
//! canonical unsigned integers, no duplicates) and return `None` for anything else, in which
//! case the caller decodes with serde (which then allocates, or reports the precise error).
//! The serde path stays the reference: the tests check that both agree.

use super::levels::skip_ws;
use super::{AggTrade, BookTicker, DepthUpdate, Levels, MiniTicker, PartialDepth, Ticker, Trade};
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
