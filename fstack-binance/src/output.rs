//! One line of output per event, as readable text or as a JSON object, written into a
//! caller-owned, reusable `String` (no allocation once the buffer has grown to a line's size).
//!
//! Text (`--format text`):
//! ```text
//! BTCUSDT  last 43250.12  chg +1.23%  high 43800.00  low 42650.50  vol 12345.678
//! ETHUSDT  mini last 2250.55  open 2200.00  high 2275.10  low 2190.01  vol 345678.1234
//! BNBUSDT  book bid 25.3519 x 31.21  ask 25.3652 x 40.66
//! BTCUSDT  trade 43250.13 x 0.0015  sell
//! BTCUSDT  aggTrade 43250.13 x 0.05  buy
//! BTCUSDT  depth20  bid 43250.11 x 1.50  ask 43250.12 x 0.25  levels 2/2
//! BTCUSDT  depth update 41234567891..41234567895  bids 2  asks 1
//! ```
//! Prices drop trailing zeros but keep two decimals; `chg` is the ticker's `P` rounded half
//! away from zero to two decimals (exact decimal arithmetic). Trades show the taker side
//! (`m = true` means the buyer was the maker, so the taker sold).
//!
//! JSON (`--format json`), one object per line: `stream` (the stream name; for a raw payload
//! without a known stream it is rebuilt from the symbol and the event kind), `event` (`ticker`,
//! `miniTicker`, `bookTicker`, `trade`, `aggTrade`, `depth`), `symbol` (uppercase),
//! `event_time` (milliseconds, when the event has one; `event_time_us` is added when the
//! connection uses microseconds), then the event's fields with prices and quantities as
//! decimal strings exactly as received, ids and counts as numbers, other `*_time` fields in
//! milliseconds. Depth events add `depth` (`partial` or `update`) and `bids`/`asks` as arrays of
//! `["price","qty"]`.
//!
//! None (`--format none`): no line at all. Events are still decoded, counted and timed (the
//! summary at exit reports them), so that a run measures the client's own work without the
//! cost of formatting and writing lines.

use std::fmt::Write as _;

use crate::decimal::Decimal;
use crate::events::{Levels, MarketEvent, StreamEvent};
use crate::stream::TimeUnit;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
    /// No line per event: [`Formatter::write_line`] appends nothing.
    None,
}

impl Format {
    /// Parses `text`, `json` or `none`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            "none" => Some(Format::None),
            _ => None,
        }
    }
}

/// Formats events in one [`Format`]; `time_unit` is the connection's timestamp unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Formatter {
    /// Output format.
    pub format: Format,
    /// Unit of the events' timestamps.
    pub time_unit: TimeUnit,
}

impl Formatter {
    /// A formatter.
    pub fn new(format: Format, time_unit: TimeUnit) -> Self {
        Formatter { format, time_unit }
    }

    /// Appends one line (with a trailing `\n`) for `ev` to `out`; nothing for
    /// [`Format::None`].
    pub fn write_line(&self, out: &mut String, ev: &StreamEvent<'_>) {
        match self.format {
            Format::Text => write_text(out, ev),
            Format::Json => write_json(out, ev, self.time_unit),
            Format::None => return,
        }
        out.push('\n');
    }
}

use crate::stream::{push_lowercase as push_lower, push_uppercase as push_upper};

fn price(out: &mut String, d: Decimal<'_>) {
    out.push_str(d.trimmed(2));
}

fn qty(out: &mut String, d: Decimal<'_>) {
    out.push_str(d.trimmed(0));
}

fn percent(out: &mut String, d: Decimal<'_>) {
    match d.value() {
        Ok(v) => {
            let r = v.round(2);
            if r.mantissa() >= 0 {
                out.push('+');
            }
            // Writing into a String cannot fail.
            let _ = write!(out, "{r}");
        }
        Err(_) => {
            if !d.is_negative() {
                out.push('+');
            }
            out.push_str(d.as_str());
        }
    }
    out.push('%');
}

fn level_text(out: &mut String, label: &str, levels: Levels<'_>) {
    out.push_str(label);
    match levels.first() {
        Some(l) => {
            price(out, l.price);
            out.push_str(" x ");
            out.push_str(l.qty.trimmed(2));
        }
        None => out.push('-'),
    }
}

/// Appends the text line for `ev` (without the trailing newline).
pub fn write_text(out: &mut String, ev: &StreamEvent<'_>) {
    let sym = ev.symbol();
    if sym.is_empty() {
        out.push('?');
    } else {
        push_upper(out, sym);
    }
    out.push_str("  ");
    match &ev.event {
        MarketEvent::Ticker(t) => {
            out.push_str("last ");
            price(out, t.last_price);
            out.push_str("  chg ");
            percent(out, t.price_change_percent);
            out.push_str("  high ");
            price(out, t.high_price);
            out.push_str("  low ");
            price(out, t.low_price);
            out.push_str("  vol ");
            qty(out, t.volume);
        }
        MarketEvent::MiniTicker(t) => {
            out.push_str("mini last ");
            price(out, t.close_price);
            out.push_str("  open ");
            price(out, t.open_price);
            out.push_str("  high ");
            price(out, t.high_price);
            out.push_str("  low ");
            price(out, t.low_price);
            out.push_str("  vol ");
            qty(out, t.volume);
        }
        MarketEvent::BookTicker(b) => {
            out.push_str("book bid ");
            price(out, b.bid_price);
            out.push_str(" x ");
            qty(out, b.bid_qty);
            out.push_str("  ask ");
            price(out, b.ask_price);
            out.push_str(" x ");
            qty(out, b.ask_qty);
        }
        MarketEvent::Trade(t) => {
            out.push_str("trade ");
            price(out, t.price);
            out.push_str(" x ");
            qty(out, t.qty);
            out.push_str(if t.buyer_is_maker { "  sell" } else { "  buy" });
        }
        MarketEvent::AggTrade(t) => {
            out.push_str("aggTrade ");
            price(out, t.price);
            out.push_str(" x ");
            qty(out, t.qty);
            out.push_str(if t.buyer_is_maker { "  sell" } else { "  buy" });
        }
        MarketEvent::PartialDepth(d) => {
            let name = ev.stream.map(|s| s.kind.suffix()).unwrap_or("depth");
            out.push_str(name.split('@').next().unwrap_or(name));
            level_text(out, "  bid ", d.bids);
            level_text(out, "  ask ", d.asks);
            let _ = write!(out, "  levels {}/{}", d.bids.len(), d.asks.len());
        }
        MarketEvent::DepthUpdate(d) => {
            let _ = write!(
                out,
                "depth update {}..{}  bids {}  asks {}",
                d.first_update_id,
                d.final_update_id,
                d.bids.len(),
                d.asks.len()
            );
        }
    }
}

/// Appends `s` as a JSON string (quoted, escaped).
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

struct Obj<'o> {
    out: &'o mut String,
}

impl Obj<'_> {
    fn key(&mut self, k: &str) {
        self.out.push_str(",\"");
        self.out.push_str(k);
        self.out.push_str("\":");
    }
    fn dec(&mut self, k: &str, d: Decimal<'_>) {
        self.key(k);
        // Validated decimals contain only digits, '-' and '.': no escaping needed.
        self.out.push('"');
        self.out.push_str(d.as_str());
        self.out.push('"');
    }
    fn num<N: std::fmt::Display>(&mut self, k: &str, n: N) {
        self.key(k);
        let _ = write!(self.out, "{n}");
    }
    fn str(&mut self, k: &str, s: &str) {
        self.key(k);
        push_json_str(self.out, s);
    }
    fn levels(&mut self, k: &str, levels: Levels<'_>) {
        self.key(k);
        self.out.push('[');
        for (i, l) in levels.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str("[\"");
            self.out.push_str(l.price.as_str());
            self.out.push_str("\",\"");
            self.out.push_str(l.qty.as_str());
            self.out.push_str("\"]");
        }
        self.out.push(']');
    }
}

/// Appends the JSON object for `ev` (without the trailing newline).
pub fn write_json(out: &mut String, ev: &StreamEvent<'_>, time_unit: TimeUnit) {
    let ms = |t: u64| time_unit.to_millis(t);
    out.push_str("{\"stream\":");
    match ev.stream {
        Some(s) => push_json_str(out, s.name),
        None => {
            // Rebuild `<symbol>@<kind>` from the event.
            out.push('"');
            push_lower(out, ev.symbol());
            out.push('@');
            out.push_str(match ev.event {
                MarketEvent::DepthUpdate(_) => "depth",
                _ => ev.event.event_name(),
            });
            out.push('"');
        }
    }
    let mut o = Obj { out };
    o.str("event", ev.event.event_name());
    o.key("symbol");
    o.out.push('"');
    push_upper(o.out, ev.symbol());
    o.out.push('"');
    if let Some(t) = ev.event_time() {
        o.num("event_time", ms(t));
        if time_unit == TimeUnit::Microsecond {
            o.num("event_time_us", t);
        }
    }
    match &ev.event {
        MarketEvent::Ticker(t) => {
            o.dec("price_change", t.price_change);
            o.dec("price_change_percent", t.price_change_percent);
            o.dec("weighted_avg_price", t.weighted_avg_price);
            o.dec("prev_close_price", t.prev_close_price);
            o.dec("last_price", t.last_price);
            o.dec("last_qty", t.last_qty);
            o.dec("bid_price", t.bid_price);
            o.dec("bid_qty", t.bid_qty);
            o.dec("ask_price", t.ask_price);
            o.dec("ask_qty", t.ask_qty);
            o.dec("open_price", t.open_price);
            o.dec("high_price", t.high_price);
            o.dec("low_price", t.low_price);
            o.dec("volume", t.volume);
            o.dec("quote_volume", t.quote_volume);
            o.num("open_time", ms(t.open_time));
            o.num("close_time", ms(t.close_time));
            o.num("first_trade_id", t.first_trade_id);
            o.num("last_trade_id", t.last_trade_id);
            o.num("trade_count", t.trade_count);
        }
        MarketEvent::MiniTicker(t) => {
            o.dec("close_price", t.close_price);
            o.dec("open_price", t.open_price);
            o.dec("high_price", t.high_price);
            o.dec("low_price", t.low_price);
            o.dec("volume", t.volume);
            o.dec("quote_volume", t.quote_volume);
        }
        MarketEvent::BookTicker(b) => {
            o.num("update_id", b.update_id);
            o.dec("bid_price", b.bid_price);
            o.dec("bid_qty", b.bid_qty);
            o.dec("ask_price", b.ask_price);
            o.dec("ask_qty", b.ask_qty);
        }
        MarketEvent::Trade(t) => {
            o.num("trade_id", t.trade_id);
            o.dec("price", t.price);
            o.dec("qty", t.qty);
            o.num("trade_time", ms(t.trade_time));
            o.num("buyer_is_maker", t.buyer_is_maker);
        }
        MarketEvent::AggTrade(t) => {
            o.num("agg_trade_id", t.agg_trade_id);
            o.dec("price", t.price);
            o.dec("qty", t.qty);
            o.num("first_trade_id", t.first_trade_id);
            o.num("last_trade_id", t.last_trade_id);
            o.num("trade_time", ms(t.trade_time));
            o.num("buyer_is_maker", t.buyer_is_maker);
        }
        MarketEvent::PartialDepth(d) => {
            o.str("depth", "partial");
            o.num("last_update_id", d.last_update_id);
            o.levels("bids", d.bids);
            o.levels("asks", d.asks);
        }
        MarketEvent::DepthUpdate(d) => {
            o.str("depth", "update");
            o.num("first_update_id", d.first_update_id);
            o.num("final_update_id", d.final_update_id);
            o.levels("bids", d.bids);
            o.levels("asks", d.asks);
        }
    }
    o.out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::tests::{AGG, BOOK, DIFF, MINI, PARTIAL, TICKER, TRADE};
    use crate::events::{decode, Message};
    use crate::stream::Stream;

    fn line(text: &str, hint: Option<&Stream>, f: Formatter) -> String {
        let Message::Event(e) = decode(text, hint.map(|h| h.as_ref())).unwrap() else {
            panic!()
        };
        let mut out = String::new();
        f.write_line(&mut out, &e);
        assert!(out.ends_with('\n'));
        out.pop();
        out
    }

    fn text(t: &str, hint: Option<&Stream>) -> String {
        line(t, hint, Formatter::new(Format::Text, TimeUnit::Millisecond))
    }

    fn json(t: &str, hint: Option<&Stream>) -> String {
        let s = line(t, hint, Formatter::new(Format::Json, TimeUnit::Millisecond));
        // Always valid JSON.
        let _: serde_json::Value = serde_json::from_str(&s).unwrap();
        s
    }

    #[test]
    fn text_lines() {
        assert_eq!(
            text(TICKER, None),
            "BTCUSDT  last 43250.12  chg +1.23%  high 43800.00  low 42650.50  vol 12345.678"
        );
        let neg = TICKER.replace(r#""P":"1.226""#, r#""P":"-0.005""#);
        assert!(text(&neg, None).contains("chg -0.01%"));
        let zero = TICKER.replace(r#""P":"1.226""#, r#""P":"0.000""#);
        assert!(text(&zero, None).contains("chg +0.00%"));
        let tiny = TICKER.replace(r#""P":"1.226""#, r#""P":"-0.004""#);
        assert!(text(&tiny, None).contains("chg +0.00%"));
        let whole = TICKER.replace(r#""P":"1.226""#, r#""P":"12""#);
        assert!(text(&whole, None).contains("chg +12%"));
        assert_eq!(
            text(MINI, None),
            "ETHUSDT  mini last 2250.55  open 2200.00  high 2275.10  low 2190.01  vol 345678.1234"
        );
        assert_eq!(
            text(BOOK, None),
            "BNBUSDT  book bid 25.3519 x 31.21  ask 25.3652 x 40.66"
        );
        assert_eq!(text(TRADE, None), "BTCUSDT  trade 43250.13 x 0.0015  sell");
        assert_eq!(text(AGG, None), "BTCUSDT  aggTrade 43250.13 x 0.05  buy");
        let hint = Stream::parse("btcusdt@depth20@100ms").unwrap();
        assert_eq!(
            text(PARTIAL, Some(&hint)),
            "BTCUSDT  depth20  bid 43250.11 x 1.50  ask 43250.12 x 0.25  levels 2/2"
        );
        assert_eq!(
            text(PARTIAL, None),
            "?  depth  bid 43250.11 x 1.50  ask 43250.12 x 0.25  levels 2/2"
        );
        let empty = r#"{"lastUpdateId":1,"bids":[],"asks":[]}"#;
        assert_eq!(
            text(empty, Some(&hint)),
            "BTCUSDT  depth20  bid -  ask -  levels 0/0"
        );
        assert_eq!(
            text(DIFF, None),
            "BTCUSDT  depth update 41234567891..41234567895  bids 2  asks 1"
        );
    }

    #[test]
    fn json_lines() {
        assert_eq!(
            json(TICKER, None),
            concat!(
                r#"{"stream":"btcusdt@ticker","event":"ticker","symbol":"BTCUSDT","event_time":1700000000123,"#,
                r#""price_change":"523.45000000","price_change_percent":"1.226","weighted_avg_price":"42987.65432100","#,
                r#""prev_close_price":"42726.67000000","last_price":"43250.12000000","last_qty":"0.01234000","#,
                r#""bid_price":"43250.11000000","bid_qty":"1.50000000","ask_price":"43250.12000000","ask_qty":"0.25000000","#,
                r#""open_price":"42726.67000000","high_price":"43800.00000000","low_price":"42650.50000000","#,
                r#""volume":"12345.67800000","quote_volume":"530712345.12345678","open_time":1699913600123,"#,
                r#""close_time":1700000000123,"first_trade_id":3200000000,"last_trade_id":3201234567,"trade_count":1234568}"#
            )
        );
        assert_eq!(
            json(MINI, None),
            r#"{"stream":"ethusdt@miniTicker","event":"miniTicker","symbol":"ETHUSDT","event_time":1700000000456,"close_price":"2250.55000000","open_price":"2200.00000000","high_price":"2275.10000000","low_price":"2190.01000000","volume":"345678.12340000","quote_volume":"771234567.89000000"}"#
        );
        assert_eq!(
            json(BOOK, None),
            r#"{"stream":"bnbusdt@bookTicker","event":"bookTicker","symbol":"BNBUSDT","update_id":400900217,"bid_price":"25.35190000","bid_qty":"31.21000000","ask_price":"25.36520000","ask_qty":"40.66000000"}"#
        );
        assert_eq!(
            json(TRADE, None),
            r#"{"stream":"btcusdt@trade","event":"trade","symbol":"BTCUSDT","event_time":1700000000789,"trade_id":3201234568,"price":"43250.13000000","qty":"0.00150000","trade_time":1700000000788,"buyer_is_maker":true}"#
        );
        assert_eq!(
            json(AGG, None),
            r#"{"stream":"btcusdt@aggTrade","event":"aggTrade","symbol":"BTCUSDT","event_time":1700000000790,"agg_trade_id":2800000001,"price":"43250.13000000","qty":"0.05000000","first_trade_id":3201234569,"last_trade_id":3201234571,"trade_time":1700000000789,"buyer_is_maker":false}"#
        );
        let hint = Stream::parse("btcusdt@depth10@100ms").unwrap();
        assert_eq!(
            json(PARTIAL, Some(&hint)),
            r#"{"stream":"btcusdt@depth10@100ms","event":"depth","symbol":"BTCUSDT","depth":"partial","last_update_id":41234567890,"bids":[["43250.11000000","1.50000000"],["43250.10000000","0.02000000"]],"asks":[["43250.12000000","0.25000000"],["43250.50000000","3.00000000"]]}"#
        );
        let combined = format!(r#"{{"stream":"btcusdt@depth@100ms","data":{DIFF}}}"#);
        assert_eq!(
            json(&combined, None),
            r#"{"stream":"btcusdt@depth@100ms","event":"depth","symbol":"BTCUSDT","event_time":1700000000900,"depth":"update","first_update_id":41234567891,"final_update_id":41234567895,"bids":[["43250.11000000","1.40000000"],["43249.00000000","0.00000000"]],"asks":[["43250.12000000","0.30000000"]]}"#
        );
        assert_eq!(
            json(DIFF, None).split(',').next().unwrap(),
            r#"{"stream":"btcusdt@depth""#
        );
    }

    #[test]
    fn json_microseconds() {
        let t = TRADE
            .replace("1700000000789", "1700000000789123")
            .replace("1700000000788", "1700000000788456");
        let s = line(
            &t,
            None,
            Formatter::new(Format::Json, TimeUnit::Microsecond),
        );
        assert!(
            s.contains(r#""event_time":1700000000789,"event_time_us":1700000000789123,"#),
            "{s}"
        );
        assert!(s.contains(r#""trade_time":1700000000788,"#), "{s}");
    }

    #[test]
    fn json_string_escaping() {
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
    }

    #[test]
    fn buffer_is_reused() {
        let Message::Event(e) = decode(TICKER, None).unwrap() else {
            panic!()
        };
        let f = Formatter::new(Format::Json, TimeUnit::Millisecond);
        let mut out = String::with_capacity(1024);
        let cap = out.capacity();
        for _ in 0..100 {
            out.clear();
            f.write_line(&mut out, &e);
        }
        assert_eq!(out.capacity(), cap);
        assert_eq!(Format::parse("json"), Some(Format::Json));
        assert_eq!(Format::parse("text"), Some(Format::Text));
        assert_eq!(Format::parse("none"), Some(Format::None));
        assert_eq!(Format::parse("JSON"), None);
        let mut out = String::from("kept");
        Formatter::new(Format::None, TimeUnit::Millisecond).write_line(&mut out, &e);
        assert_eq!(out, "kept");
    }
}
