//! The fixed-layout event record every market event travels in, and its exact rendering.
//!
//! One [`MarketRecord`] per event (a depth event with more levels than fit continues in
//! further records). `#[repr(C)]`, no pointers, native byte order (x86-64: little-endian), so a
//! subscriber in any language maps it with a struct definition; `examples/strategy_demo.py`
//! does so with ctypes. The README's "Record layout" table lists every field with its offset;
//! the tests in `tests/layout.rs` assert the offsets.
//!
//! Prices and quantities are exact: an `i64` mantissa and the number of fraction digits the
//! exchange sent (`"0.01000000"` is mantissa 1000000, scale 8), so [`format_decimal`] gives back
//! the exchange's string, trailing zeros included.

use std::fmt::Write;

use iceoryx2::prelude::ZeroCopySend;

/// Price/quantity slots in one record: 40 (price, quantity) depth levels, or a ticker's 15
/// values.
pub const MAX_VALUES: usize = 80;
/// Depth levels (bids plus asks) one record carries; more continue in the next record.
pub const MAX_LEVELS: usize = MAX_VALUES / 2;
/// Integer-field slots ([`MarketRecord::ints`]).
pub const MAX_INTS: usize = 6;
/// Bytes of [`MarketRecord::symbol`].
pub const SYMBOL_CAP: usize = 24;
/// Bytes of [`MarketRecord::stream`].
pub const STREAM_CAP: usize = 56;

/// [`MarketRecord::kind`] values.
pub mod kind {
    /// `24hrTicker`
    pub const TICKER: u8 = 1;
    /// `24hrMiniTicker`
    pub const MINI_TICKER: u8 = 2;
    /// bookTicker
    pub const BOOK_TICKER: u8 = 3;
    /// `trade`
    pub const TRADE: u8 = 4;
    /// `aggTrade`
    pub const AGG_TRADE: u8 = 5;
    /// Partial book depth (`@depth5/10/20`): `lastUpdateId`, `bids`, `asks`.
    pub const PARTIAL_DEPTH: u8 = 6;
    /// Diff depth `depthUpdate`: `U`, `u`, `b`, `a`.
    pub const DEPTH_UPDATE: u8 = 7;
}

/// [`MarketRecord::flags`] bits.
pub mod flags {
    /// `event_time` holds the exchange's `E` (bookTicker and partial depth may have none).
    pub const HAS_EVENT_TIME: u8 = 1;
    /// `event_time` is in microseconds (the connection asked for `timeUnit=MICROSECOND`);
    /// otherwise milliseconds.
    pub const TIME_MICROS: u8 = 2;
    /// `m`: the buyer is the market maker (trade, aggTrade).
    pub const BUYER_MAKER: u8 = 4;
    /// More records of the same event follow (depth with more than [`super::MAX_LEVELS`]
    /// levels): continuation, never truncation.
    pub const MORE: u8 = 8;
    /// A value did not fit an `i64` mantissa, or its text is not canonical (`"01.5"`,
    /// `"-0"`, `"-0.00"`): its slot holds 0 with scale 0. Counted by the feed; [`write_json`](super::write_json)
    /// adds `"inexact":true` and [`write_text`](super::write_text) ` inexact`. A negative zero (which Binance's
    /// `priceChange` could plausibly send) is numerically 0, but its sign and digits are not
    /// carried.
    pub const INEXACT: u8 = 16;
}

/// One market event (or one part of a long depth event). See the module docs and the README
/// for units; all integers are native-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ZeroCopySend)]
#[type_name("fstack_bus::MarketRecord")]
#[repr(C)]
pub struct MarketRecord {
    /// Per-service sequence number: 1, 2, 3, ... with no gap unless this subscriber's buffer
    /// overflowed.
    pub seq: u64,
    /// CLOCK_MONOTONIC nanoseconds when the feed wrote the record (hand-off latency).
    pub publish_ns: u64,
    /// Unix microseconds when the feed decoded the event (local receive time).
    pub receive_us: u64,
    /// The exchange's event time `E` (ms, or µs with [`flags::TIME_MICROS`]); 0 without
    /// [`flags::HAS_EVENT_TIME`].
    pub event_time: u64,
    /// The kind's integer fields in the order of [`int_fields`]; Ticker's `F`/`L` are `i64`
    /// stored two's-complement.
    pub ints: [u64; MAX_INTS],
    /// One of [`kind`].
    pub kind: u8,
    /// [`flags`] bits.
    pub flags: u8,
    /// Bytes used in `symbol`.
    pub symbol_len: u8,
    /// Bytes used in `stream`.
    pub stream_len: u8,
    /// Scalar price/quantity slots used (0 for depth).
    pub n_values: u8,
    /// Depth: bid levels in this record (pairs at `values[0..2*n_bids]`).
    pub n_bids: u8,
    /// Depth: ask levels in this record (pairs after the bids).
    pub n_asks: u8,
    /// Depth: index of this record within its event (0 for the first).
    pub part: u8,
    /// The event's symbol (`s`, e.g. `BTCUSDT`; partial depth: the stream's, lowercase), ASCII.
    pub symbol: [u8; SYMBOL_CAP],
    /// The stream name (`btcusdt@ticker`), ASCII.
    pub stream: [u8; STREAM_CAP],
    /// Mantissas of prices and quantities (see [`value_fields`] for scalar kinds).
    pub mantissa: [i64; MAX_VALUES],
    /// Fraction digits of each mantissa as the exchange sent it.
    pub scale: [u8; MAX_VALUES],
}

impl MarketRecord {
    /// All zeros: no kind, no values.
    pub const ZERO: MarketRecord = MarketRecord {
        seq: 0,
        publish_ns: 0,
        receive_us: 0,
        event_time: 0,
        ints: [0; MAX_INTS],
        kind: 0,
        flags: 0,
        symbol_len: 0,
        stream_len: 0,
        n_values: 0,
        n_bids: 0,
        n_asks: 0,
        part: 0,
        symbol: [0; SYMBOL_CAP],
        stream: [0; STREAM_CAP],
        mantissa: [0; MAX_VALUES],
        scale: [0; MAX_VALUES],
    };

    /// The symbol (empty if not valid UTF-8, which the feed never writes).
    pub fn symbol(&self) -> &str {
        text(&self.symbol, self.symbol_len)
    }

    /// The stream name.
    pub fn stream(&self) -> &str {
        text(&self.stream, self.stream_len)
    }

    /// Copies `s` into `symbol` (cut at [`SYMBOL_CAP`] bytes on a character boundary).
    pub fn set_symbol(&mut self, s: &str) {
        self.symbol_len = copy_text(&mut self.symbol, s);
    }

    /// Copies `s` into `stream` (cut at [`STREAM_CAP`] bytes on a character boundary).
    pub fn set_stream(&mut self, s: &str) {
        self.stream_len = copy_text(&mut self.stream, s);
    }

    /// Slot `i` as (mantissa, scale); slots past [`MAX_VALUES`] read as 0.
    pub fn value(&self, i: usize) -> (i64, u8) {
        match (self.mantissa.get(i), self.scale.get(i)) {
            (Some(&m), Some(&s)) => (m, s),
            _ => (0, 0),
        }
    }

    /// The `E` value if present.
    pub fn event_time(&self) -> Option<u64> {
        (self.flags & flags::HAS_EVENT_TIME != 0).then_some(self.event_time)
    }
}

fn text(buf: &[u8], len: u8) -> &str {
    let len = usize::from(len).min(buf.len());
    std::str::from_utf8(&buf[..len]).unwrap_or("")
}

fn copy_text(buf: &mut [u8], s: &str) -> u8 {
    let mut n = s.len().min(buf.len()).min(usize::from(u8::MAX));
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    buf[..n].copy_from_slice(&s.as_bytes()[..n]);
    // `n` fits: bounded by u8::MAX above.
    n as u8
}

/// The kind's name as in the feed's own output (`ticker`, `bookTicker`, `depth`, ...), or
/// `None` for an unknown kind.
pub fn kind_name(kind: u8) -> Option<&'static str> {
    Some(match kind {
        kind::TICKER => "ticker",
        kind::MINI_TICKER => "miniTicker",
        kind::BOOK_TICKER => "bookTicker",
        kind::TRADE => "trade",
        kind::AGG_TRADE => "aggTrade",
        kind::PARTIAL_DEPTH | kind::DEPTH_UPDATE => "depth",
        _ => return None,
    })
}

/// Binance's letters for the integer slots of `kind`, in slot order.
pub fn int_fields(kind: u8) -> &'static [&'static str] {
    match kind {
        kind::TICKER => &["O", "C", "F", "L", "n"],
        kind::BOOK_TICKER => &["u"],
        kind::TRADE => &["t", "T"],
        kind::AGG_TRADE => &["a", "f", "l", "T"],
        kind::PARTIAL_DEPTH => &["lastUpdateId"],
        kind::DEPTH_UPDATE => &["U", "u"],
        _ => &[],
    }
}

/// Integer slots holding an `i64` (two's complement): Ticker's `F` and `L` (-1 when there was
/// no trade).
pub fn int_is_signed(kind: u8, slot: usize) -> bool {
    kind == kind::TICKER && (slot == 2 || slot == 3)
}

/// Binance's letters for the scalar price/quantity slots of `kind`, in slot order (empty for
/// depth, whose levels are pairs).
pub fn value_fields(kind: u8) -> &'static [&'static str] {
    match kind {
        kind::TICKER => &[
            "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A", "o", "h", "l", "v", "q",
        ],
        kind::MINI_TICKER => &["c", "o", "h", "l", "v", "q"],
        kind::BOOK_TICKER => &["b", "B", "a", "A"],
        kind::TRADE | kind::AGG_TRADE => &["p", "q"],
        _ => &[],
    }
}

/// Appends mantissa × 10^-scale with exactly `scale` fraction digits: (1000000, 8) gives
/// `0.01000000`, (-5, 1) gives `-0.5`. Scales above 18 are written as given (i64 has 19
/// digits at most, so the integer part is then `0`).
pub fn format_decimal(out: &mut String, mantissa: i64, scale: u8) {
    if mantissa < 0 {
        out.push('-');
    }
    let digits = mantissa.unsigned_abs().to_string();
    let scale = usize::from(scale);
    if scale == 0 {
        out.push_str(&digits);
        return;
    }
    if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(&digits);
    }
}

/// The exact decimal string of `text` as (mantissa, scale), or `None` when it does not fit an
/// `i64` mantissa and a `u8` scale or would not format back to the same text (leading zeros,
/// `+`, `-0`, exponents): the record cannot carry it exactly.
///
/// This runs for every price and quantity the feed publishes (15 per ticker), so it is our
/// own code rather than a per-digit loop: the digits before and after the point are checked
/// and converted eight at a time in a `u64` (SWAR). Texts of up to 19 digits (all an `i64`
/// holds) take this path; longer ones, which fit only with leading zeros
/// (`0.00000000000000000001`), go through the byte-by-byte [`parse_decimal_serial`]. Both give
/// the same result for every input (property-tested in this module's tests).
pub fn parse_decimal(text: &str) -> Option<(i64, u8)> {
    let b = text.as_bytes();
    let start = usize::from(b.first() == Some(&b'-'));
    let (int_end, frac_start) = match b[start..].iter().position(|&c| c == b'.') {
        Some(i) => (start + i, start + i + 1),
        None => (b.len(), b.len()),
    };
    let int_len = int_end - start;
    let frac_len = b.len() - frac_start;
    // "", "-", ".5", "5.", "01.5", "00": not the canonical form of a number.
    if int_len == 0 || (frac_start > int_end && frac_len == 0) {
        return None;
    }
    if int_len > 1 && b[start] == b'0' {
        return None;
    }
    if int_len + frac_len > 19 {
        return parse_decimal_serial(text); // fraction zeros past 19 digits: rare, exact anyway
    }
    // At most 19 digits: below 10^19, so no step overflows a u64.
    let m = swar_digits(b, frac_start, b.len(), swar_digits(b, start, int_end, 0)?)?;
    let m = i64::try_from(m).ok()?;
    // 19 digits at most: fits.
    let scale = frac_len as u8;
    if start == 1 {
        if m == 0 {
            return None; // "-0.0" would come back without its sign
        }
        return Some((-m, scale));
    }
    Some((m, scale))
}

const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// `acc` followed by the ASCII digits `b[from..to]` (at most 19 digits in all), or `None` if a
/// byte is not a digit.
#[inline(always)]
fn swar_digits(b: &[u8], mut from: usize, to: usize, mut acc: u64) -> Option<u64> {
    while to - from >= 8 {
        let w = u64::from_le_bytes(b[from..from + 8].try_into().ok()?);
        acc = acc * POW10[8] + eight_digits(w)?;
        from += 8;
    }
    let n = to - from;
    if n == 0 {
        return Some(acc);
    }
    // The last 1..=7 digits, as the low end of an 8-digit word whose leading bytes are '0'.
    // One 8-byte load that covers them (the other bytes belong to the text around them).
    let w = if from + 8 <= b.len() {
        let w = u64::from_le_bytes(b[from..from + 8].try_into().ok()?);
        (w << (8 * (8 - n))) | (0x3030_3030_3030_3030 >> (8 * n))
    } else if to >= 8 {
        let w = u64::from_le_bytes(b[to - 8..to].try_into().ok()?);
        let keep = !0u64 << (8 * (8 - n));
        (w & keep) | (0x3030_3030_3030_3030 & !keep)
    } else {
        // A text of fewer than 8 bytes.
        let mut w = 0x3030_3030_3030_3030u64;
        for &c in &b[from..to] {
            w = (w >> 8) | (u64::from(c) << 56);
        }
        w
    };
    Some(acc * POW10[n] + eight_digits(w)?)
}

/// Eight ASCII digits, the first in the lowest byte (little-endian load), as their value; `None`
/// if a byte is not `0`-`9`. The check and the three multiplications are simdjson's
/// (`is_made_of_eight_digits_fast`, `parse_eight_digits_unrolled`).
#[inline(always)]
fn eight_digits(w: u64) -> Option<u64> {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    if (w & HIGH) | ((w.wrapping_add(0x0606_0606_0606_0606) & HIGH) >> 4) != 0x3333_3333_3333_3333 {
        return None;
    }
    let v = w - 0x3030_3030_3030_3030;
    // Pairs: byte i = 10 * digit i + digit i+1.
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    let v = ((v & MASK)
        .wrapping_mul(0x000F_4240_0000_0064)
        .wrapping_add(((v >> 16) & MASK).wrapping_mul(0x0000_2710_0000_0001)))
        >> 32;
    Some(v & 0xFFFF_FFFF)
}

/// [`parse_decimal`] one byte at a time (the reference it is tested against; used for texts
/// of more than 19 digits).
pub fn parse_decimal_serial(text: &str) -> Option<(i64, u8)> {
    let (neg, digits) = match text.as_bytes().split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text.as_bytes()),
    };
    // The integer part is "0" or has no leading zero ("01.5" would not come back as sent).
    if digits.len() > 1 && digits[0] == b'0' && digits[1] != b'.' {
        return None;
    }
    let mut m: i64 = 0;
    let mut frac: Option<u32> = None;
    for (i, &c) in digits.iter().enumerate() {
        if c == b'.' {
            if frac.is_some() || i == 0 || i + 1 == digits.len() {
                return None;
            }
            frac = Some(0);
            continue;
        }
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        m = m.checked_mul(10)?.checked_add(i64::from(d))?;
        if let Some(f) = frac.as_mut() {
            *f += 1;
        }
    }
    if digits.is_empty() {
        return None;
    }
    let scale = u8::try_from(frac.unwrap_or(0)).ok()?;
    if neg {
        if m == 0 {
            return None; // "-0.0" would come back without its sign
        }
        m = -m;
    }
    Some((m, scale))
}

/// Appends the record as one JSON object (no newline): `stream`, `kind`, `symbol`, `seq`,
/// `event_time` (null without `E`), the integer fields and every price and quantity under
/// Binance's letters as exact decimal strings; depth levels as `[["price","qty"],...]` under
/// `b`/`a` (`bids`/`asks` for partial depth) with `part` and `more`; `"inexact":true` last
/// when a value did not fit ([`flags::INEXACT`]). The Python example writes
/// the same bytes. Strings are ASCII stream and symbol names; anything else is escaped.
pub fn write_json(out: &mut String, r: &MarketRecord) {
    out.push_str("{\"stream\":");
    json_str(out, r.stream());
    out.push_str(",\"kind\":");
    json_str(out, kind_name(r.kind).unwrap_or("unknown"));
    out.push_str(",\"symbol\":");
    json_str(out, r.symbol());
    let _ = write!(out, ",\"seq\":{}", r.seq);
    match r.event_time() {
        Some(t) => {
            let _ = write!(out, ",\"event_time\":{t}");
        }
        None => out.push_str(",\"event_time\":null"),
    }
    for (slot, name) in int_fields(r.kind).iter().enumerate() {
        let v = r.ints[slot];
        if int_is_signed(r.kind, slot) {
            let _ = write!(out, ",\"{name}\":{}", v as i64);
        } else {
            let _ = write!(out, ",\"{name}\":{v}");
        }
    }
    let fields = value_fields(r.kind);
    for (slot, name) in fields.iter().enumerate().take(usize::from(r.n_values)) {
        let (m, s) = r.value(slot);
        let _ = write!(out, ",\"{name}\":\"");
        format_decimal(out, m, s);
        out.push('"');
    }
    if matches!(r.kind, kind::TRADE | kind::AGG_TRADE) {
        let _ = write!(out, ",\"m\":{}", r.flags & flags::BUYER_MAKER != 0);
    }
    if matches!(r.kind, kind::PARTIAL_DEPTH | kind::DEPTH_UPDATE) {
        let (b, a) = if r.kind == kind::PARTIAL_DEPTH {
            ("bids", "asks")
        } else {
            ("b", "a")
        };
        let bids = usize::from(r.n_bids);
        let asks = usize::from(r.n_asks);
        let _ = write!(out, ",\"{b}\":");
        levels_json(out, r, 0, bids);
        let _ = write!(out, ",\"{a}\":");
        levels_json(out, r, bids, asks);
        let _ = write!(
            out,
            ",\"part\":{},\"more\":{}",
            r.part,
            r.flags & flags::MORE != 0
        );
    }
    write_inexact_json(out, r);
    out.push('}');
}

/// `,"inexact":true` when a value of the record did not fit (its slot reads 0): without it a
/// strategy would take that 0 for the exchange's value.
fn write_inexact_json(out: &mut String, r: &MarketRecord) {
    if r.flags & flags::INEXACT != 0 {
        out.push_str(",\"inexact\":true");
    }
}

fn levels_json(out: &mut String, r: &MarketRecord, first: usize, n: usize) {
    out.push('[');
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        let slot = 2 * (first + i);
        let (p, ps) = r.value(slot);
        let (q, qs) = r.value(slot + 1);
        out.push_str("[\"");
        format_decimal(out, p, ps);
        out.push_str("\",\"");
        format_decimal(out, q, qs);
        out.push_str("\"]");
    }
    out.push(']');
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends one human line (no newline): `seq stream mid=PRICE` for kinds with a best bid
/// and ask (ticker, bookTicker, depth with both sides), `seq stream last=PRICE qty=QTY` for
/// trades, `seq stream close=PRICE` for the mini ticker, then ` inexact` when a value did
/// not fit ([`flags::INEXACT`]). The mid is exact (one more fraction digit than the finer of
/// the two prices).
pub fn write_text(out: &mut String, r: &MarketRecord) {
    let _ = write!(out, "{} {} ", r.seq, r.stream());
    let bid_ask = match r.kind {
        kind::TICKER => Some((r.value(6), r.value(8))),
        kind::BOOK_TICKER => Some((r.value(0), r.value(2))),
        kind::PARTIAL_DEPTH | kind::DEPTH_UPDATE if r.n_bids > 0 && r.n_asks > 0 => {
            Some((r.value(0), r.value(2 * usize::from(r.n_bids))))
        }
        _ => None,
    };
    match (r.kind, bid_ask) {
        (_, Some((bid, ask))) => {
            out.push_str("mid=");
            match mid(bid, ask) {
                Some((m, s)) => format_decimal(out, m, s),
                None => out.push('?'),
            }
        }
        (kind::TRADE | kind::AGG_TRADE, None) => {
            out.push_str("last=");
            format_decimal(out, r.mantissa[0], r.scale[0]);
            out.push_str(" qty=");
            format_decimal(out, r.mantissa[1], r.scale[1]);
        }
        (kind::MINI_TICKER, None) => {
            out.push_str("close=");
            format_decimal(out, r.mantissa[0], r.scale[0]);
        }
        _ => out.push_str(kind_name(r.kind).unwrap_or("unknown")),
    }
    if r.flags & flags::INEXACT != 0 {
        out.push_str(" inexact");
    }
}

/// (bid + ask) / 2 exactly, or `None` on overflow.
pub fn mid(bid: (i64, u8), ask: (i64, u8)) -> Option<(i64, u8)> {
    let scale = bid.1.max(ask.1);
    let up = |(m, s): (i64, u8)| -> Option<i128> {
        i128::from(m).checked_mul(10i128.checked_pow(u32::from(scale - s))?)
    };
    // ×10 then ÷2 = ×5: one more fraction digit keeps the half exact.
    let sum = (up(bid)? + up(ask)?).checked_mul(5)?;
    Some((i64::try_from(sum).ok()?, scale.checked_add(1)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: reproducible inputs without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn same(text: &str) {
        assert_eq!(parse_decimal(text), parse_decimal_serial(text), "{text:?}");
    }

    #[test]
    fn fixed_cases() {
        let ok = [
            ("0", (0, 0)),
            ("0.01000000", (1_000_000, 8)),
            ("43250.12000000", (4_325_012_000_000, 8)),
            ("1012345678.90123456", (101_234_567_890_123_456, 8)),
            ("-0.5", (-5, 1)),
            ("-1.23", (-123, 2)),
            ("9223372036854775807", (i64::MAX, 0)),
            ("-9223372036854775807", (-i64::MAX, 0)),
            ("0.9223372036854775807", (i64::MAX, 19)),
            ("0.00000000000000000001", (1, 20)),
            ("12345678", (12_345_678, 0)),
            ("123456789", (123_456_789, 0)),
            ("1234567.8", (12_345_678, 1)),
        ];
        for (t, want) in ok {
            assert_eq!(parse_decimal(t), Some(want), "{t}");
            same(t);
        }
        for t in [
            "",
            "-",
            ".",
            ".5",
            "5.",
            "-.5",
            "01",
            "00.5",
            "-0",
            "-0.000",
            "+1",
            "1e5",
            "1.2.3",
            "1..2",
            "12a",
            "1 ",
            " 1",
            "9223372036854775808",
            "-9223372036854775808",
            "99999999999999999999",
            "1.0000000000000000000",
            "١",
            "1/2",
            "1:2",
        ] {
            assert_eq!(parse_decimal(t), None, "{t:?}");
            same(t);
        }
    }

    /// Random texts over an alphabet of digits, '.', '-' and bytes next to '0'..'9' (the
    /// SWAR check's edges), of every length up to 24, and random valid numbers, against the
    /// byte-by-byte reference.
    #[test]
    fn equals_the_serial_parser() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let alphabet = b"0123456789012345678901234567890123456789..-/:+eE \x7f";
        let mut buf = Vec::new();
        for _ in 0..300_000 {
            buf.clear();
            let len = rng.below(25) as usize;
            for _ in 0..len {
                buf.push(alphabet[rng.below(alphabet.len() as u64) as usize]);
            }
            // Mostly digit-only texts with at most one point and an optional sign.
            if rng.below(2) == 0 {
                buf.retain(|c| c.is_ascii_digit());
                if !buf.is_empty() && rng.below(3) > 0 {
                    let at = rng.below(buf.len() as u64 + 1) as usize;
                    buf.insert(at, b'.');
                }
                if rng.below(4) == 0 {
                    buf.insert(0, b'-');
                }
            }
            same(std::str::from_utf8(&buf).unwrap());
        }
        // Valid numbers: every i64 magnitude range and scale, round-tripping format_decimal.
        let mut out = String::new();
        for _ in 0..300_000 {
            let digits = 1 + rng.below(19) as u32;
            let m = (rng.next() % 10u64.pow(digits).min(i64::MAX as u64)) as i64;
            let m = if rng.below(3) == 0 { -m } else { m };
            let scale = rng.below(21) as u8;
            out.clear();
            format_decimal(&mut out, m, scale);
            same(&out);
            if m != 0 {
                assert_eq!(parse_decimal(&out), Some((m, scale)), "{out}");
            }
        }
    }
}
