//! Unusual but valid layouts are accepted; malformed input is an error, never a panic.

use super::*;

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
