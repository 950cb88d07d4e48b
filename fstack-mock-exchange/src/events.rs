//! The generated market data: stream names ([`parse_stream`], [`Kind`]) and each event's JSON
//! ([`event_json`]), every value a function of the event's sequence number. This is the mock's
//! own description of Binance's events, written independently of any decoder it tests.

use std::fmt::Write as _;

/// Stream kinds the mock can generate, from a stream name's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `@ticker`
    Ticker,
    /// `@miniTicker`
    MiniTicker,
    /// `@bookTicker`
    BookTicker,
    /// `@trade`
    Trade,
    /// `@aggTrade`
    AggTrade,
    /// `@depth5|10|20[@100ms]`
    PartialDepth(usize),
    /// `@depth[@100ms]`
    DiffDepth,
}

/// Splits `btcusdt@ticker` into the upper-case symbol and the kind. Symbols are Unicode
/// letters and digits, like Binance's (`币安人生usdt@trade` → `币安人生USDT`).
pub fn parse_stream(name: &str) -> Option<(String, Kind)> {
    let (symbol, suffix) = name.split_once('@')?;
    if symbol.is_empty() || !symbol.chars().all(char::is_alphanumeric) {
        return None;
    }
    let suffix = suffix
        .strip_suffix("@100ms")
        .or(suffix.strip_suffix("@1000ms"))
        .unwrap_or(suffix);
    let kind = match suffix {
        "ticker" => Kind::Ticker,
        "miniTicker" => Kind::MiniTicker,
        "bookTicker" => Kind::BookTicker,
        "trade" => Kind::Trade,
        "aggTrade" => Kind::AggTrade,
        "depth" => Kind::DiffDepth,
        "depth5" => Kind::PartialDepth(5),
        "depth10" => Kind::PartialDepth(10),
        "depth20" => Kind::PartialDepth(20),
        _ => return None,
    };
    Some((symbol.to_uppercase(), kind))
}

/// `base + seq * step` in units of 1e-8, formatted with 8 decimals like Binance's prices.
pub fn price(base_e8: u64, seq: u64, step_e8: u64) -> String {
    let v = base_e8 + (seq % 100_000) * step_e8;
    format!("{}.{:08}", v / 100_000_000, v % 100_000_000)
}

/// The JSON payload of event number `seq` of a stream, with event time `time`.
///
/// Every value is a function of `seq`, so a test that sees `seq` (carried in `n`, `t`, `a`,
/// `u` or `lastUpdateId`) can check every field. Diff depth events are the symbol's market
/// ([`crate::book`]): event `seq` ends at update id [`crate::final_update_id`]`(seq)`.
pub fn event_json(symbol: &str, kind: Kind, seq: u64, time: u64, out: &mut String) {
    let p = |base, step| price(base, seq, step);
    match kind {
        Kind::Ticker => {
            let _ = write!(
                out,
                r#"{{"e":"24hrTicker","E":{time},"s":"{symbol}","p":"{}","P":"1.23","w":"{}","x":"{}","c":"{}","Q":"{}","b":"{}","B":"{}","a":"{}","A":"{}","o":"{}","h":"{}","l":"{}","v":"{}","q":"{}","O":{},"C":{time},"F":{},"L":{},"n":{seq}}}"#,
                p(52_512_000_000, 1),
                p(4_319_876_543_210, 3),
                p(4_272_500_000_000, 0),
                p(4_325_012_000_000, 1_000_000),
                p(12_345_000, 7),
                p(4_325_011_000_000, 1_000_000),
                p(341_000_000, 11),
                p(4_325_013_000_000, 1_000_000),
                p(128_000_000, 13),
                p(4_272_500_000_000, 0),
                p(4_398_800_000_000, 0),
                p(4_201_100_000_000, 0),
                p(2_345_678_901_234, 17),
                p(101_234_567_890_123_456, 19),
                time.saturating_sub(86_400_000),
                seq * 10,
                seq * 10 + 9,
            );
        }
        Kind::MiniTicker => {
            let _ = write!(
                out,
                r#"{{"e":"24hrMiniTicker","E":{time},"s":"{symbol}","c":"{}","o":"{}","h":"{}","l":"{}","v":"{}","q":"{}"}}"#,
                p(4_325_012_000_000, 1_000_000),
                p(4_272_500_000_000, 0),
                p(4_398_800_000_000, 0),
                p(4_201_100_000_000, 0),
                p(2_345_678_901_234, 17),
                p(101_234_567_890_123_456, 19),
            );
        }
        Kind::BookTicker => {
            let _ = write!(
                out,
                r#"{{"u":{seq},"s":"{symbol}","b":"{}","B":"{}","a":"{}","A":"{}"}}"#,
                p(4_325_011_000_000, 1_000_000),
                p(341_000_000, 11),
                p(4_325_013_000_000, 1_000_000),
                p(128_000_000, 13),
            );
        }
        Kind::Trade => {
            let _ = write!(
                out,
                r#"{{"e":"trade","E":{time},"s":"{symbol}","t":{seq},"p":"{}","q":"{}","T":{time},"m":{},"M":true}}"#,
                p(4_325_012_000_000, 1_000_000),
                p(1_000_000, 3),
                seq.is_multiple_of(2),
            );
        }
        Kind::AggTrade => {
            let _ = write!(
                out,
                r#"{{"e":"aggTrade","E":{time},"s":"{symbol}","a":{seq},"p":"{}","q":"{}","f":{},"l":{},"T":{time},"m":{},"M":true}}"#,
                p(4_325_012_000_000, 1_000_000),
                p(1_000_000, 3),
                seq * 3,
                seq * 3 + 2,
                seq % 2 == 1,
            );
        }
        Kind::PartialDepth(levels) => {
            let _ = write!(out, r#"{{"lastUpdateId":{seq},"bids":["#);
            levels_json(out, seq, levels, 4_325_011_000_000, false);
            out.push_str(r#"],"asks":["#);
            levels_json(out, seq, levels, 4_325_013_000_000, true);
            out.push_str("]}");
        }
        Kind::DiffDepth => crate::book::depth_update_json(symbol, seq, time, out),
    }
}

fn levels_json(out: &mut String, seq: u64, levels: usize, base: u64, up: bool) {
    for i in 0..levels as u64 {
        if i > 0 {
            out.push(',');
        }
        let px = if up {
            base + i * 1_000_000
        } else {
            base - i * 1_000_000
        };
        let _ = write!(
            out,
            r#"["{}","{}"]"#,
            price(px, seq, 1_000_000),
            price(10_000_000 * (i + 1), seq, 7)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        assert_eq!(
            parse_stream("btcusdt@ticker"),
            Some(("BTCUSDT".into(), Kind::Ticker))
        );
        assert_eq!(
            parse_stream("ethbtc@depth10@100ms"),
            Some(("ETHBTC".into(), Kind::PartialDepth(10)))
        );
        assert_eq!(
            parse_stream("ethbtc@depth@100ms"),
            Some(("ETHBTC".into(), Kind::DiffDepth))
        );
        assert_eq!(
            parse_stream("币安人生usdt@trade"),
            Some(("币安人生USDT".into(), Kind::Trade))
        );
        assert_eq!(parse_stream("btc usdt@trade"), None);
        assert_eq!(parse_stream("btcusdt@nothing"), None);
        assert_eq!(parse_stream("@ticker"), None);
        assert_eq!(parse_stream("btc/usdt@ticker"), None);
    }

    #[test]
    fn events_are_valid_json_with_exact_values() {
        for kind in [
            Kind::Ticker,
            Kind::MiniTicker,
            Kind::BookTicker,
            Kind::Trade,
            Kind::AggTrade,
            Kind::PartialDepth(5),
            Kind::DiffDepth,
        ] {
            let mut s = String::new();
            event_json("BTCUSDT", kind, 42, 1_700_000_000_123, &mut s);
            let v: serde_json::Value =
                serde_json::from_str(&s).unwrap_or_else(|e| panic!("{kind:?}: {e}: {s}"));
            assert!(v.is_object());
        }
        let mut s = String::new();
        event_json("BTCUSDT", Kind::Ticker, 2, 1_700_000_000_123, &mut s);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["c"], "43250.14000000");
        assert_eq!(v["n"], 2);
        assert_eq!(v["E"], 1_700_000_000_123u64);
        assert!(
            s.len() > 400 && s.len() < 520,
            "ticker is {} bytes",
            s.len()
        );
    }
}
