//! The hand parsers of `events::fast` agree with serde_json, the reference, on what they
//! accept; everything outside their subset goes through serde.

use super::*;

#[test]
fn fast_depth_parsers_agree_with_serde() {
    let spaced = " {\n \"e\" : \"depthUpdate\", \"E\":1,\"s\":\"BTCUSDT\",\"U\":0,\"u\":18446744073709551615,\"b\":[ ],\"a\":[[\"1\",\"2\"]] } ";
    for text in [DIFF, spaced] {
        let fast = fast::depth_update(text).expect("fast path");
        let slow: DepthUpdate = serde_json::from_str(text).unwrap();
        assert_eq!(fast, slow);
    }
    let fast = fast::partial_depth(PARTIAL).expect("fast path");
    let slow: PartialDepth = serde_json::from_str(PARTIAL).unwrap();
    assert_eq!(fast, slow);
    // Outside the fast subset: serde decides (accepts or reports the error).
    let extra_key = DIFF.replace(r#""U":"#, r#""T":5,"U":"#);
    assert!(fast::depth_update(&extra_key).is_none());
    let MarketEvent::DepthUpdate(d) = ev(decode(&extra_key, None).unwrap()).event else {
        panic!()
    };
    assert_eq!(d.first_update_id, 41_234_567_891);
    for bad in [
        DIFF.replace(r#""U":41234567891"#, r#""U":041234567891"#),
        DIFF.replace(r#""U":41234567891"#, r#""U":4.1e10"#),
        DIFF.replace(r#""U":41234567891"#, r#""U":-1"#),
        DIFF.replace(r#""U":41234567891"#, r#""U":18446744073709551616"#),
        DIFF.replace(r#""U":41234567891"#, r#""U":1,"U":2"#),
        DIFF.replace("BTCUSDT", "BTC\\u0055SDT"),
        DIFF.replace("BTCUSDT", "BTC\tUSDT"),
        DIFF.replace(r#""u":41234567895,"#, ""),
        format!("{DIFF}x"),
        DIFF.replace("}", "},"),
    ] {
        assert!(fast::depth_update(&bad).is_none(), "{bad}");
        assert!(decode(&bad, None).is_err(), "{bad}");
    }
    let bad = PARTIAL.replace("41234567890", "\"41234567890\"");
    assert!(fast::partial_depth(&bad).is_none());
    assert!(decode(&bad, None).is_err());
}

/// `fast::X(text)`, if it accepts the text, must equal serde's result; and `decode` (fast path
/// first, serde second) must agree with serde on acceptance.
fn agree<'a, T>(text: &'a str, fast: fn(&'a str) -> Option<T>) -> bool
where
    T: serde::Deserialize<'a> + PartialEq + std::fmt::Debug,
{
    let slow = serde_json::from_str::<T>(text);
    match fast(text) {
        Some(f) => {
            assert_eq!(
                Some(&f),
                slow.as_ref().ok(),
                "fast path disagrees on {text}"
            );
            true
        }
        None => false,
    }
}

#[test]
fn fast_event_parsers_agree_with_serde() {
    // The common layouts take the fast path.
    assert!(agree(TICKER, fast::ticker));
    assert!(agree(MINI, fast::mini_ticker));
    assert!(agree(BOOK, fast::book_ticker));
    assert!(agree(TRADE, fast::trade));
    assert!(agree(AGG, fast::agg_trade));
    let no_trades = TICKER
        .replace(r#""F":3200000000"#, r#""F":-1"#)
        .replace(r#""L":3201234567"#, r#""L":-1"#);
    assert!(agree(&no_trades, fast::ticker));
    let spaced = TRADE.replace(',', " ,\n ").replace(':', " : ");
    assert!(agree(&spaced, fast::trade));
    let reordered = r#"{"s":"BNBUSDT","A":"40.66000000","u":400900217,"b":"25.35190000","a":"25.36520000","B":"31.21000000","E":1700000000999}"#;
    assert!(agree(reordered, fast::book_ticker));
    assert_eq!(
        fast::book_ticker(reordered).unwrap().event_time,
        Some(1_700_000_000_999)
    );

    // Outside the fast subset, serde decides: same results through decode either way.
    let variants = [
        TICKER.replace(r#""n":1234568"#, r#""n":1234568,"extra":[1,{"x":2}]"#),
        TICKER.replace(r#""F":3200000000"#, r#""F":-9223372036854775808"#),
        TICKER.replace(r#""F":3200000000"#, r#""F":-9223372036854775809"#),
        TICKER.replace(r#""n":1234568"#, r#""n":1234568,"n":5"#),
        TICKER.replace(r#""c":"43250.12000000""#, r#""c":"43250.12e3""#),
        TICKER.replace(r#""c":"43250.12000000""#, r#""c":43250.12"#),
        TICKER.replace("BTCUSDT", "BTC\\u0055SDT"),
        TICKER.replace(r#""E":1700000000123,"#, ""),
        TRADE.replace(r#""m":true"#, r#""m":1"#),
        TRADE.replace(r#""m":true"#, r#""m":tru"#),
        TRADE.replace(r#""M":true"#, r#""M":true,"M":false"#),
        AGG.replace(r#""f":3201234569"#, r#""f":-1"#),
        BOOK.replace(r#""u":400900217"#, r#""u":400900217,"E":null"#),
        MINI.replace(r#""q":"771234567.89000000""#, r#""q":"7.7.1""#),
        MINI.replace(r#""q":"771234567.89000000""#, r#""q":"-0.5""#),
        MINI.replace(r#""q":"771234567.89000000""#, r#""q":"-0""#),
        MINI.replace(r#""q":"771234567.89000000""#, r#""q":"-""#),
        MINI.replace(r#""q":"771234567.89000000""#, r#""q":"""#),
        MINI.replace(r#""q":"771234567.89000000""#, r#""q":"1.""#),
        MINI.replace(r#""q":"771234567.89000000""#, r#""q":".5""#),
        MINI.replace(r#""q":"771234567.89000000""#, r#""q":"-.5""#),
        MINI.replace(r#""q":"771234567.89000000""#, r#""q":"+1""#),
        MINI.replace(r#""q":"771234567.89000000""#, r#""q":"1 ""#),
        format!("{TRADE}x"),
    ];
    for text in &variants {
        agree(text, fast::ticker);
        agree(text, fast::trade);
        agree(text, fast::agg_trade);
        agree(text, fast::book_ticker);
        agree(text, fast::mini_ticker);
        let via_decode = decode(text, None).map(|m| format!("{m:?}"));
        let via_serde = match text
            .split_once(r#""e":""#)
            .map(|(_, r)| r.split('"').next())
        {
            Some(Some("24hrTicker")) => serde_json::from_str::<Ticker>(text).map(|_| ()),
            Some(Some("trade")) => serde_json::from_str::<Trade>(text).map(|_| ()),
            Some(Some("aggTrade")) => serde_json::from_str::<AggTrade>(text).map(|_| ()),
            Some(Some("24hrMiniTicker")) => serde_json::from_str::<MiniTicker>(text).map(|_| ()),
            _ => serde_json::from_str::<BookTicker>(text).map(|_| ()),
        };
        assert_eq!(
            via_decode.is_ok(),
            via_serde.is_ok(),
            "{text}: {via_decode:?}"
        );
    }
    // The oddities really are rejected where JSON or the types say so.
    assert!(decode(&variants[2], None).is_err());
    assert!(decode(&variants[3], None).is_err());
    assert!(decode(&variants[0], None).is_ok());
    assert!(decode(&variants[1], None).is_ok());
}

/// `exact` (when it accepts) equals `any`, and `any` (when it accepts) equals serde.
fn tiers_agree<'a, T>(
    text: &'a str,
    exact: fn(&'a str) -> Option<T>,
    any: fn(&'a str) -> Option<T>,
) -> bool
where
    T: serde::Deserialize<'a> + PartialEq + std::fmt::Debug,
{
    agree(text, any);
    match exact(text) {
        Some(e) => {
            assert_eq!(
                Some(e),
                any(text),
                "exact and general tiers disagree on {text}"
            );
            true
        }
        None => false,
    }
}

/// [`tiers_agree`] for the parser of `text`'s kind; returns whether the exact tier accepted it.
fn check_tiers(text: &str) -> bool {
    let b = text.as_bytes();
    match (b.get(2), b.get(6), b.get(10)) {
        (Some(b'e'), Some(b'2'), Some(b'T')) => {
            tiers_agree(text, fast::ticker_exact, fast::ticker_any)
        }
        (Some(b'e'), Some(b'2'), _) => {
            tiers_agree(text, fast::mini_ticker_exact, fast::mini_ticker_any)
        }
        (Some(b'e'), Some(b't'), _) => tiers_agree(text, fast::trade_exact, fast::trade_any),
        (Some(b'e'), Some(b'a'), _) => {
            tiers_agree(text, fast::agg_trade_exact, fast::agg_trade_any)
        }
        (Some(b'e'), Some(b'd'), _) => {
            tiers_agree(text, fast::depth_update_exact, fast::depth_update_any)
        }
        (Some(b'u'), _, _) => tiers_agree(text, fast::book_ticker_exact, fast::book_ticker_any),
        (Some(b'l'), _, _) => tiers_agree(text, fast::partial_depth_exact, fast::partial_depth_any),
        _ => false,
    }
}

const ALL: [&str; 7] = [TICKER, MINI, BOOK, TRADE, AGG, PARTIAL, DIFF];

#[test]
fn exact_layouts_take_the_exact_tier() {
    for text in ALL {
        assert!(check_tiers(text), "{text}");
        assert!(fast::exact(text).is_some(), "{text}");
    }
    // Negative ids, zero, the largest u64, a non-ASCII symbol, an empty depth side.
    let variants = [
        TICKER
            .replace(r#""F":3200000000"#, r#""F":-1"#)
            .replace(r#""L":3201234567"#, r#""L":-9223372036854775808"#),
        TICKER.replace(r#""n":1234568"#, r#""n":0"#),
        TRADE.replace(r#""t":3201234568"#, r#""t":18446744073709551615"#),
        TRADE.replace("BTCUSDT", "币安人生USDT"),
        MINI.replace(r#""c":"2250.55000000""#, r#""c":"-0.5""#),
        BOOK.replace(
            r#""b":"25.35190000""#,
            r#""b":"123456789012345678901234567890.5""#,
        ),
        DIFF.replace(r#""a":[["43250.12000000","0.30000000"]]"#, r#""a":[]"#),
    ];
    for text in &variants {
        assert!(check_tiers(text), "{text}");
    }
}

#[test]
fn other_layouts_take_the_general_tier_or_serde() {
    // Keys out of Binance's order, white space, an unknown key: the exact tier declines, the
    // general tier or serde decide, with the values of the canonical payload.
    let cases = [
        (
            TICKER.replace(
                r#""p":"523.45000000","P":"1.226""#,
                r#""P":"1.226","p":"523.45000000""#,
            ),
            TICKER,
        ),
        (
            TRADE.replace(r#","m":true,"M":true"#, r#","M":true,"m":true"#),
            TRADE,
        ),
        (AGG.replacen('{', "{ ", 1), AGG),
        (DIFF.replace(r#","b":"#, r#", "b" :"#), DIFF),
        (PARTIAL.replace(r#""bids":"#, r#""bids" :"#), PARTIAL),
        (format!("{MINI} "), MINI),
        (
            TICKER.replace(r#""n":1234568"#, r#""n":1234568,"x2":1"#),
            TICKER,
        ),
        (
            BOOK.replace(r#""s":"BNBUSDT","#, "").replace(
                r#""A":"40.66000000"}"#,
                r#""A":"40.66000000","s":"BNBUSDT"}"#,
            ),
            BOOK,
        ),
    ];
    for (text, canonical) in &cases {
        assert!(!check_tiers(text), "exact tier accepted {text}");
        let decoded = decode(text, None).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(
            ev(decoded).event,
            ev(decode(canonical, None).unwrap()).event,
            "{text}"
        );
    }
    // An escaped symbol cannot be borrowed: serde reports it; a bookTicker with `E` keeps it.
    let escaped = TRADE.replace("BTCUSDT", "BTC\\u0055SDT");
    assert!(!check_tiers(&escaped));
    assert!(decode(&escaped, None).is_err());
    let with_e = BOOK.replace(r#""u":400900217"#, r#""u":400900217,"E":5"#);
    assert!(!check_tiers(&with_e));
    let MarketEvent::BookTicker(b) = ev(decode(&with_e, None).unwrap()).event else {
        panic!()
    };
    assert_eq!((b.update_id, b.event_time), (400_900_217, Some(5)));
}

/// Hostile input: every prefix of every payload, and every byte replaced by characters that
/// matter to the parsers. `decode` never panics, and whatever a tier accepts equals what the
/// next one (serde last) makes of it.
#[test]
fn truncated_and_mutated_payloads_agree_with_serde() {
    let replacements = [
        "\"", "\\", ".", "-", "0", "9", "x", " ", "}", "{", ",", ":", "e", "]", "[", "\u{e9}",
        "\u{0}", "",
    ];
    for payload in ALL {
        let combined = combined("btcusdt@ticker", payload);
        for text in [payload, combined.as_str()] {
            for end in 0..text.len() {
                let prefix = &text[..end];
                assert!(decode(prefix, None).is_err(), "accepted {prefix}");
                check_tiers(prefix);
            }
        }
        for i in 0..payload.len() {
            for r in replacements {
                let mut text = String::with_capacity(payload.len() + 2);
                text.push_str(&payload[..i]);
                text.push_str(r);
                text.push_str(&payload[i + 1..]);
                let _ = decode(&text, None);
                check_tiers(&text);
            }
        }
    }
}
