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
