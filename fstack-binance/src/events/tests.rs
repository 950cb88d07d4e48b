use super::*;
use crate::stream::{DepthLevels, DepthSpeed, Stream};

pub(crate) const TICKER: &str = r#"{"e":"24hrTicker","E":1700000000123,"s":"BTCUSDT","p":"523.45000000","P":"1.226","w":"42987.65432100","x":"42726.67000000","c":"43250.12000000","Q":"0.01234000","b":"43250.11000000","B":"1.50000000","a":"43250.12000000","A":"0.25000000","o":"42726.67000000","h":"43800.00000000","l":"42650.50000000","v":"12345.67800000","q":"530712345.12345678","O":1699913600123,"C":1700000000123,"F":3200000000,"L":3201234567,"n":1234568}"#;
pub(crate) const MINI: &str = r#"{"e":"24hrMiniTicker","E":1700000000456,"s":"ETHUSDT","c":"2250.55000000","o":"2200.00000000","h":"2275.10000000","l":"2190.01000000","v":"345678.12340000","q":"771234567.89000000"}"#;
pub(crate) const BOOK: &str = r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;
pub(crate) const TRADE: &str = r#"{"e":"trade","E":1700000000789,"s":"BTCUSDT","t":3201234568,"p":"43250.13000000","q":"0.00150000","T":1700000000788,"m":true,"M":true}"#;
pub(crate) const AGG: &str = r#"{"e":"aggTrade","E":1700000000790,"s":"BTCUSDT","a":2800000001,"p":"43250.13000000","q":"0.05000000","f":3201234569,"l":3201234571,"T":1700000000789,"m":false,"M":true}"#;
pub(crate) const PARTIAL: &str = r#"{"lastUpdateId":41234567890,"bids":[["43250.11000000","1.50000000"],["43250.10000000","0.02000000"]],"asks":[["43250.12000000","0.25000000"],["43250.50000000","3.00000000"]]}"#;
pub(crate) const DIFF: &str = r#"{"e":"depthUpdate","E":1700000000900,"s":"BTCUSDT","U":41234567891,"u":41234567895,"b":[["43250.11000000","1.40000000"],["43249.00000000","0.00000000"]],"a":[["43250.12000000","0.30000000"]]}"#;

fn combined(stream: &str, data: &str) -> String {
    format!(r#"{{"stream":"{stream}","data":{data}}}"#)
}

fn dec(s: &str) -> Decimal<'_> {
    Decimal::parse(s).unwrap()
}

fn ev<'a>(m: Message<'a>) -> StreamEvent<'a> {
    match m {
        Message::Event(e) => e,
        other => panic!("not an event: {other:?}"),
    }
}

#[test]
fn ticker_raw_exact() {
    let e = ev(decode(TICKER, None).unwrap());
    assert_eq!(e.stream, None);
    let MarketEvent::Ticker(t) = e.event else {
        panic!()
    };
    assert_eq!(t.event_time, 1_700_000_000_123);
    assert_eq!(t.symbol, "BTCUSDT");
    assert_eq!(t.price_change.as_str(), "523.45000000");
    assert_eq!(t.price_change_percent.as_str(), "1.226");
    assert_eq!(t.weighted_avg_price.as_str(), "42987.65432100");
    assert_eq!(t.prev_close_price.as_str(), "42726.67000000");
    assert_eq!(t.last_price.as_str(), "43250.12000000");
    assert_eq!(t.last_qty.as_str(), "0.01234000");
    assert_eq!(t.bid_price.as_str(), "43250.11000000");
    assert_eq!(t.bid_qty.as_str(), "1.50000000");
    assert_eq!(t.ask_price.as_str(), "43250.12000000");
    assert_eq!(t.ask_qty.as_str(), "0.25000000");
    assert_eq!(t.open_price.as_str(), "42726.67000000");
    assert_eq!(t.high_price.as_str(), "43800.00000000");
    assert_eq!(t.low_price.as_str(), "42650.50000000");
    assert_eq!(t.volume.as_str(), "12345.67800000");
    assert_eq!(t.quote_volume.as_str(), "530712345.12345678");
    assert_eq!(t.open_time, 1_699_913_600_123);
    assert_eq!(t.close_time, 1_700_000_000_123);
    assert_eq!(t.first_trade_id, 3_200_000_000);
    assert_eq!(t.last_trade_id, 3_201_234_567);
    assert_eq!(t.trade_count, 1_234_568);
    assert_eq!(t.last_price.value().unwrap().mantissa(), 4_325_012_000_000);
    assert_eq!(e.event.event_time(), Some(1_700_000_000_123));
    assert_eq!(e.event.event_name(), "ticker");
}

#[test]
fn ticker_with_no_trades_has_negative_ids() {
    let text = TICKER.replace(
        r#""F":3200000000,"L":3201234567,"n":1234568"#,
        r#""F":-1,"L":-1,"n":0"#,
    );
    let MarketEvent::Ticker(t) = ev(decode(&text, None).unwrap()).event else {
        panic!()
    };
    assert_eq!(
        (t.first_trade_id, t.last_trade_id, t.trade_count),
        (-1, -1, 0)
    );
}

#[test]
fn mini_ticker_exact() {
    let MarketEvent::MiniTicker(m) = ev(decode(MINI, None).unwrap()).event else {
        panic!()
    };
    assert_eq!(m.event_time, 1_700_000_000_456);
    assert_eq!(m.symbol, "ETHUSDT");
    assert_eq!(m.close_price, dec("2250.55"));
    assert_eq!(m.close_price.as_str(), "2250.55000000");
    assert_eq!(m.open_price.as_str(), "2200.00000000");
    assert_eq!(m.high_price.as_str(), "2275.10000000");
    assert_eq!(m.low_price.as_str(), "2190.01000000");
    assert_eq!(m.volume.as_str(), "345678.12340000");
    assert_eq!(m.quote_volume.as_str(), "771234567.89000000");
}

#[test]
fn book_ticker_exact_without_e() {
    let e = ev(decode(BOOK, None).unwrap());
    let MarketEvent::BookTicker(b) = e.event else {
        panic!()
    };
    assert_eq!(b.update_id, 400_900_217);
    assert_eq!(b.symbol, "BNBUSDT");
    assert_eq!(b.bid_price.as_str(), "25.35190000");
    assert_eq!(b.bid_qty.as_str(), "31.21000000");
    assert_eq!(b.ask_price.as_str(), "25.36520000");
    assert_eq!(b.ask_qty.as_str(), "40.66000000");
    assert_eq!(b.event_time, None);
    assert_eq!(e.event.event_time(), None);
    // Futures-style variant with e/E.
    let f = r#"{"e":"bookTicker","u":400900217,"E":1568014460893,"T":1568014460891,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;
    let MarketEvent::BookTicker(b) = ev(decode(f, None).unwrap()).event else {
        panic!()
    };
    assert_eq!(b.event_time, Some(1_568_014_460_893));
}

#[test]
fn trade_and_agg_trade_exact() {
    let MarketEvent::Trade(t) = ev(decode(TRADE, None).unwrap()).event else {
        panic!()
    };
    assert_eq!(
        t,
        Trade {
            event_time: 1_700_000_000_789,
            symbol: "BTCUSDT",
            trade_id: 3_201_234_568,
            price: dec("43250.13000000"),
            qty: dec("0.00150000"),
            trade_time: 1_700_000_000_788,
            buyer_is_maker: true,
        }
    );
    assert_eq!(t.qty.as_str(), "0.00150000");
    let MarketEvent::AggTrade(a) = ev(decode(AGG, None).unwrap()).event else {
        panic!()
    };
    assert_eq!(
        a,
        AggTrade {
            event_time: 1_700_000_000_790,
            symbol: "BTCUSDT",
            agg_trade_id: 2_800_000_001,
            price: dec("43250.13"),
            qty: dec("0.05"),
            first_trade_id: 3_201_234_569,
            last_trade_id: 3_201_234_571,
            trade_time: 1_700_000_000_789,
            buyer_is_maker: false,
        }
    );
    assert_eq!(a.price.as_str(), "43250.13000000");
}

fn levels(l: Levels<'_>) -> Vec<(&str, &str)> {
    l.iter()
        .map(|x| (x.price.as_str(), x.qty.as_str()))
        .collect()
}

#[test]
fn partial_depth_symbol_from_stream() {
    // Raw without hint: symbol unknown.
    let e = ev(decode(PARTIAL, None).unwrap());
    let MarketEvent::PartialDepth(d) = e.event else {
        panic!()
    };
    assert_eq!(d.symbol, "");
    assert_eq!(d.last_update_id, 41_234_567_890);
    assert_eq!(
        levels(d.bids),
        [
            ("43250.11000000", "1.50000000"),
            ("43250.10000000", "0.02000000")
        ]
    );
    assert_eq!(
        levels(d.asks),
        [
            ("43250.12000000", "0.25000000"),
            ("43250.50000000", "3.00000000")
        ]
    );
    assert_eq!(d.bids.len(), 2);
    assert_eq!(d.bids.first().unwrap().price.as_str(), "43250.11000000");
    assert_eq!(d.asks.iter().len(), 2);
    assert_eq!(e.event.event_time(), None);

    // Raw with hint.
    let hint = Stream::parse("btcusdt@depth20@100ms").unwrap();
    let e = ev(decode(PARTIAL, Some(hint.as_ref())).unwrap());
    assert_eq!(e.stream.unwrap().name, "btcusdt@depth20@100ms");
    assert_eq!(e.symbol(), "btcusdt");
    // A hint of another kind is not applied.
    let other = Stream::parse("btcusdt@ticker").unwrap();
    let e = ev(decode(PARTIAL, Some(other.as_ref())).unwrap());
    assert_eq!((e.stream, e.symbol()), (None, ""));

    // Combined.
    let text = combined("ethusdt@depth5", PARTIAL);
    let e = ev(decode(&text, None).unwrap());
    let s = e.stream.unwrap();
    assert_eq!(s.name, "ethusdt@depth5");
    assert_eq!(
        s.kind,
        StreamKind::PartialDepth {
            levels: DepthLevels::Five,
            speed: DepthSpeed::Ms1000
        }
    );
    assert_eq!(e.symbol(), "ethusdt");
}

#[test]
fn diff_depth_exact() {
    let MarketEvent::DepthUpdate(d) = ev(decode(DIFF, None).unwrap()).event else {
        panic!()
    };
    assert_eq!(d.event_time, 1_700_000_000_900);
    assert_eq!(d.symbol, "BTCUSDT");
    assert_eq!(d.first_update_id, 41_234_567_891);
    assert_eq!(d.final_update_id, 41_234_567_895);
    assert_eq!(
        levels(d.bids),
        [
            ("43250.11000000", "1.40000000"),
            ("43249.00000000", "0.00000000")
        ]
    );
    assert_eq!(levels(d.asks), [("43250.12000000", "0.30000000")]);
    assert!(d.bids.iter().nth(1).unwrap().qty.is_zero());
    assert_eq!(d.asks.raw(), r#"[["43250.12000000","0.30000000"]]"#);
    assert_eq!(
        format!("{:?}", d.asks),
        r#"[Level { price: Decimal("43250.12000000"), qty: Decimal("0.30000000") }]"#
    );
}

#[test]
fn empty_and_spaced_levels() {
    let text = r#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[],"a":[ [ "1.0" , "2" ] , ["3","4"] ]}"#;
    let MarketEvent::DepthUpdate(d) = ev(decode(text, None).unwrap()).event else {
        panic!()
    };
    assert!(d.bids.is_empty());
    assert_eq!(d.bids.first(), None);
    assert_eq!(levels(d.asks), [("1.0", "2"), ("3", "4")]);
    for bad in [
        r#"[["1"]]"#,
        r#"[["1","2","3"]]"#,
        r#"[[1,"2"]]"#,
        r#"[["1","x"]]"#,
        r#"[["1","2"],]"#,
        r#"[["1","2"]["3","4"]]"#,
        r#"{"1":"2"}"#,
        r#"[["1\u0030","2"]]"#,
        r#""a""#,
        r#"[null]"#,
    ] {
        let text = format!(r#"{{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":{bad},"a":[]}}"#);
        assert!(
            matches!(decode(&text, None), Err(DecodeError::Json(_))),
            "{bad}"
        );
        assert!(Levels::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn every_kind_combined_matches_raw() {
    let cases = [
        ("btcusdt@ticker", TICKER),
        ("ethusdt@miniTicker", MINI),
        ("bnbusdt@bookTicker", BOOK),
        ("btcusdt@trade", TRADE),
        ("btcusdt@aggTrade", AGG),
        ("btcusdt@depth@100ms", DIFF),
        ("btcusdt@depth", DIFF),
    ];
    for (name, data) in cases {
        let raw = ev(decode(data, None).unwrap());
        let text = combined(name, data);
        let c = ev(decode(&text, None).unwrap());
        assert_eq!(c.event, raw.event, "{name}");
        let s = c.stream.unwrap();
        assert_eq!(s.name, name);
        assert_eq!(s.kind, StreamRef::parse(name).unwrap().kind);
        // Other key order and whitespace: the general path.
        let swapped = format!("{{ \"data\" : {data} , \"stream\" : \"{name}\" }}");
        let c2 = ev(decode(&swapped, None).unwrap());
        assert_eq!(c2, c, "{name}");
        // Extra keys after data.
        let extra = format!(r#"{{"stream":"{name}","data":{data},"x":[1,{{}}]}}"#);
        assert_eq!(ev(decode(&extra, None).unwrap()), c, "{name}");
        // Hint on raw payload.
        let hint = Stream::parse(name).unwrap();
        let h = ev(decode(data, Some(hint.as_ref())).unwrap());
        assert_eq!(h, c, "{name}");
    }
}

#[test]
fn hint_applies_only_when_consistent() {
    let hint = Stream::parse("ethusdt@trade").unwrap();
    let e = ev(decode(TRADE, Some(hint.as_ref())).unwrap());
    assert_eq!(e.stream, None, "other symbol");
    let hint = Stream::parse("btcusdt@aggTrade").unwrap();
    let e = ev(decode(TRADE, Some(hint.as_ref())).unwrap());
    assert_eq!(e.stream, None, "other kind");
    let hint = Stream::parse("btcusdt@trade").unwrap();
    let e = ev(decode(TRADE, Some(hint.as_ref())).unwrap());
    assert_eq!(e.stream.unwrap().name, "btcusdt@trade");
}

#[test]
fn combined_mismatch_and_unknown_streams() {
    let text = combined("btcusdt@ticker", TRADE);
    assert!(matches!(
        decode(&text, None),
        Err(DecodeError::StreamMismatch { ref stream, event: "trade" }) if stream == "btcusdt@ticker"
    ));
    let kline = r#"{"e":"kline","E":1,"s":"BTCUSDT","k":{}}"#;
    let text = combined("btcusdt@kline_1m", kline);
    assert!(
        matches!(decode(&text, None), Err(DecodeError::UnknownStream(s)) if s == "btcusdt@kline_1m")
    );
    assert!(matches!(decode(kline, None), Err(DecodeError::UnknownEvent(s)) if s == "kline"));
    let text = r#"{"stream":"btcusdt@ticker"}"#;
    assert!(matches!(decode(text, None), Err(DecodeError::Json(_))));
    let text = r#"{"stream":"btcusdt@ticker","data":[1,2]}"#;
    assert!(decode(text, None).is_err());
    let text = r#"{"stream":"btcusdt@ticker","data":{"e":"24hrTicker"}}"#;
    assert!(matches!(decode(text, None), Err(DecodeError::Json(_))));
}

#[test]
fn control_replies() {
    assert_eq!(
        decode(r#"{"result":null,"id":1}"#, None).unwrap(),
        Message::Response(Response {
            id: Some(1),
            result: None
        })
    );
    assert_eq!(
        decode(r#"{"id":7,"result":null}"#, None).unwrap(),
        Message::Response(Response {
            id: Some(7),
            result: None
        })
    );
    let Message::Response(r) = decode(
        r#"{"result":["btcusdt@aggTrade","btcusdt@depth"],"id":3}"#,
        None,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(r.id, Some(3));
    assert_eq!(
        r.result.unwrap().get(),
        r#"["btcusdt@aggTrade","btcusdt@depth"]"#
    );
    assert_eq!(r.streams().unwrap(), ["btcusdt@aggTrade", "btcusdt@depth"]);
    let Message::Response(r) = decode(r#"{"result":null,"id":1}"#, None).unwrap() else {
        panic!()
    };
    assert!(r.streams().unwrap().is_empty());
    assert_eq!(
        decode(
            r#"{"code": 2, "msg": "Invalid request: property name must be a string", "id": 5}"#,
            None
        )
        .unwrap(),
        Message::Error(ErrorReply {
            code: 2,
            msg: Cow::Borrowed("Invalid request: property name must be a string"),
            id: Some(5),
        })
    );
    let Message::Error(e) = decode(r#"{"code":0,"msg":"Unknown \"property\""}"#, None).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (e.code, e.msg.as_ref(), e.id),
        (0, "Unknown \"property\"", None)
    );
    assert!(matches!(e.msg, Cow::Owned(_)));
    let Message::Error(e) = decode(
        r#"{"id":9,"status":400,"error":{"code":-1121,"msg":"Invalid symbol."}}"#,
        None,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        (e.code, e.msg.as_ref(), e.id),
        (-1121, "Invalid symbol.", Some(9))
    );
    // An id alone is not a reply.
    assert!(matches!(
        decode(r#"{"id":1}"#, None),
        Err(DecodeError::Unrecognized)
    ));
}

#[test]
fn server_shutdown() {
    assert_eq!(
        decode(r#"{"e":"serverShutdown","E":1728000000000}"#, None).unwrap(),
        Message::ServerShutdown(ServerShutdown {
            event_time: Some(1_728_000_000_000)
        })
    );
    assert_eq!(
        decode(r#"{"E":5,"e":"serverShutdown"}"#, None).unwrap(),
        Message::ServerShutdown(ServerShutdown {
            event_time: Some(5)
        })
    );
    let text = combined("btcusdt@ticker", r#"{"e":"serverShutdown"}"#);
    assert_eq!(
        decode(&text, None).unwrap(),
        Message::ServerShutdown(ServerShutdown { event_time: None })
    );
}

#[test]
fn unknown_fields_and_key_order() {
    // Unknown fields anywhere, "e" not first, whitespace.
    let text = r#" { "zz": {"nested": [1, 2, {"a": null}]}, "s":"BTCUSDT", "e" : "trade", "E":1, "t":2, "p":"3.5", "q":"4", "T":5, "m":false, "M":true, "X":"MARKET" } "#;
    let MarketEvent::Trade(t) = ev(decode(text, None).unwrap()).event else {
        panic!()
    };
    assert_eq!(
        (
            t.event_time,
            t.trade_id,
            t.price.as_str(),
            t.qty.as_str(),
            t.trade_time
        ),
        (1, 2, "3.5", "4", 5)
    );
    // bookTicker with a different first key.
    let text = r#"{"s":"BNBUSDT","u":1,"b":"1","B":"2","a":"3","A":"4"}"#;
    assert!(matches!(
        ev(decode(text, None).unwrap()).event,
        MarketEvent::BookTicker(_)
    ));
    // Partial depth with asks first.
    let text = r#"{"asks":[],"bids":[["1","2"]],"lastUpdateId":3}"#;
    assert!(matches!(
        ev(decode(text, None).unwrap()).event,
        MarketEvent::PartialDepth(_)
    ));
    // Escaped first key falls back to the probe.
    let text = r#"{"\u0065":"trade","E":1,"s":"B","t":2,"p":"3","q":"4","T":5,"m":true}"#;
    assert!(matches!(
        ev(decode(text, None).unwrap()).event,
        MarketEvent::Trade(_)
    ));
}

#[test]
fn malformed_inputs_are_errors() {
    let truncated = &TICKER[..TICKER.len() / 2];
    let too_big = TRADE.replace("3201234568", "99999999999999999999999");
    let negative_id = TRADE.replace("3201234568", "-1");
    let float_time = TRADE.replace("1700000000789", "1.7e12");
    let number_price = TRADE.replace(r#""43250.13000000""#, "43250.13");
    let bad_price = TRADE.replace("43250.13000000", "43250.13.0");
    let exp_price = TRADE.replace("43250.13000000", "4.325013e4");
    let empty_price = TRADE.replace("43250.13000000", "");
    let escaped_symbol = TRADE.replace("BTCUSDT", "BTC\\u0055SDT");
    let dup = TRADE.replace(r#""t":3201234568"#, r#""t":1,"t":2"#);
    let bool_str = TRADE.replace(r#""m":true"#, r#""m":"true""#);
    let missing = TRADE.replace(r#""p":"43250.13000000","#, "");
    let twice = TICKER.repeat(2);
    let cases: Vec<&str> = vec![
        "",
        "   ",
        "null",
        "[]",
        "42",
        "\"text\"",
        "{",
        "{}",
        "{\"e\":",
        "{\"e\":\"trade\"",
        truncated,
        &TICKER[..TICKER.len() - 1],
        &too_big,
        &negative_id,
        &float_time,
        &number_price,
        &bad_price,
        &exp_price,
        &empty_price,
        &escaped_symbol,
        &dup,
        &bool_str,
        &missing,
        r#"{"e":42}"#,
        r#"{"e":null,"E":1}"#,
        r#"{"stream":42,"data":{}}"#,
        r#"{"stream":"btcusdt@trade","data":"#,
        r#"{"result":null,"id":-1}"#,
        r#"{"result":null,"id":"abc"}"#,
        r#"{"code":"x","msg":"y"}"#,
        r#"{"u":1}"#,
        r#"{"lastUpdateId":1,"bids":[]}"#,
        "{\"e\":\"trade\"}\u{0}",
        &twice,
    ];
    for c in cases {
        let r = decode(c, None);
        assert!(r.is_err(), "accepted {c:?}: {r:?}");
        // Every error displays as one line.
        let msg = r.unwrap_err().to_string();
        assert!(!msg.is_empty() && !msg.contains('\n'), "{msg}");
    }
    assert!(matches!(decode("[]", None), Err(DecodeError::NotAnObject)));
    assert!(matches!(decode("{}", None), Err(DecodeError::Unrecognized)));
}

#[test]
fn deeply_nested_input_does_not_overflow() {
    let deep = format!("{{\"x\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(decode(&deep, None).is_err());
    let deep = format!(
        "{{\"e\":\"trade\",\"x\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(decode(&deep, None).is_err());
}

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

#[test]
fn non_ascii_symbols_decode_raw_and_combined() {
    // A spot pair whose symbol is not ASCII, as Binance lists them (e.g. `币安人生USDT`).
    let trade = TRADE.replace("BTCUSDT", "币安人生USDT");
    let text = combined("币安人生usdt@trade", &trade);
    let e = ev(decode(&text, None).unwrap());
    assert_eq!(e.stream.map(|s| s.name), Some("币安人生usdt@trade"));
    assert_eq!(e.symbol(), "币安人生USDT");
    match e.event {
        MarketEvent::Trade(t) => {
            assert_eq!((t.trade_id, t.price), (3201234568, dec("43250.13000000")));
        }
        other => panic!("{other:?}"),
    }
    // A raw connection's hint applies when the symbols agree up to case.
    let hint = Stream::parse("币安人生usdt@trade").unwrap();
    let e = ev(decode(&trade, Some(hint.as_ref())).unwrap());
    assert_eq!(e.stream.map(|s| s.name), Some("币安人生usdt@trade"));
    let other = Stream::parse("币安usdt@trade").unwrap();
    assert_eq!(
        ev(decode(&trade, Some(other.as_ref())).unwrap()).stream,
        None
    );
    // The output keeps the symbol's case rules.
    let mut line = String::new();
    crate::output::write_json(
        &mut line,
        &ev(decode(&text, None).unwrap()),
        crate::stream::TimeUnit::Millisecond,
    );
    assert!(
        line.starts_with(
            r#"{"stream":"币安人生usdt@trade","event":"trade","symbol":"币安人生USDT","#
        ),
        "{line}"
    );
}
