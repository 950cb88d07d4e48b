//! Each event kind decoded field by field, raw and combined, with and without a stream hint.

use super::*;
use crate::stream::{DepthLevels, DepthSpeed, Stream};

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

/// A payload of each kind in Binance's layout: one arm per variant, so a new kind does not
/// compile here until it has a sample.
fn sample(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Ticker => TICKER,
        StreamKind::MiniTicker => MINI,
        StreamKind::BookTicker => BOOK,
        StreamKind::Trade => TRADE,
        StreamKind::AggTrade => AGG,
        StreamKind::PartialDepth { .. } => PARTIAL,
        StreamKind::DiffDepth { .. } => DIFF,
    }
}

#[test]
fn every_stream_kind_decodes() {
    for kind in StreamKind::ALL {
        let data = sample(kind);
        let e = ev(decode(data, None).unwrap());
        assert!(e.event.matches_kind(kind), "{kind}: {e:?}");
        assert_eq!(e.event.event_name(), kind.event_name(), "{kind}");
        // The decoder's table of `e` values knows the kind's event type.
        match kind.event_type() {
            Some(tag) => {
                let tagged = if data.contains(r#""e":"#) {
                    data.to_owned()
                } else {
                    data.replacen('{', &format!(r#"{{"e":"{tag}","#), 1)
                };
                assert!(
                    tagged.contains(&format!(r#""e":"{tag}""#)),
                    "{kind}: {data}"
                );
                let e = ev(decode(&tagged, None).unwrap());
                assert!(e.event.matches_kind(kind), "{kind}: {e:?}");
            }
            None => assert!(!data.contains(r#""e":"#), "{kind}: {data}"),
        }
        // Combined, under a stream name of this kind, and raw with that name as the hint.
        // (Partial depth payloads name no symbol.)
        let symbol = Some(e.symbol()).filter(|s| !s.is_empty());
        let stream = Stream::new(symbol.unwrap_or("btcusdt"), kind).unwrap();
        let text = combined(stream.name(), data);
        let c = ev(decode(&text, None).unwrap());
        assert_eq!(c.stream, Some(stream.as_ref()), "{kind}");
        let h = ev(decode(data, Some(stream.as_ref())).unwrap());
        assert_eq!(h.stream, Some(stream.as_ref()), "{kind}");
    }
}
