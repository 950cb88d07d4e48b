//! The record layout other languages rely on (the README's table, `strategy_demo.py`'s ctypes
//! structure), and the exact decimal and JSON renderings.

use std::mem::{align_of, offset_of, size_of};

use fstack_bus::command::{status, Command, CommandReply};
use fstack_bus::record::{
    flags, format_decimal, kind, mid, parse_decimal, write_json, write_text, MarketRecord,
};

#[test]
fn market_record_layout() {
    assert_eq!(size_of::<MarketRecord>(), 888);
    assert_eq!(align_of::<MarketRecord>(), 8);
    let offsets = [
        (offset_of!(MarketRecord, seq), 0),
        (offset_of!(MarketRecord, publish_ns), 8),
        (offset_of!(MarketRecord, receive_us), 16),
        (offset_of!(MarketRecord, event_time), 24),
        (offset_of!(MarketRecord, ints), 32),
        (offset_of!(MarketRecord, kind), 80),
        (offset_of!(MarketRecord, flags), 81),
        (offset_of!(MarketRecord, symbol_len), 82),
        (offset_of!(MarketRecord, stream_len), 83),
        (offset_of!(MarketRecord, n_values), 84),
        (offset_of!(MarketRecord, n_bids), 85),
        (offset_of!(MarketRecord, n_asks), 86),
        (offset_of!(MarketRecord, part), 87),
        (offset_of!(MarketRecord, symbol), 88),
        (offset_of!(MarketRecord, stream), 112),
        (offset_of!(MarketRecord, mantissa), 168),
        (offset_of!(MarketRecord, scale), 808),
    ];
    for (i, (got, want)) in offsets.iter().enumerate() {
        assert_eq!(got, want, "field {i}");
    }
}

#[test]
fn command_layouts() {
    assert_eq!(size_of::<Command>(), 64);
    assert_eq!(offset_of!(Command, op), 0);
    assert_eq!(offset_of!(Command, stream_len), 1);
    assert_eq!(offset_of!(Command, stream), 8);
    assert_eq!(size_of::<CommandReply>(), 136);
    assert_eq!(offset_of!(CommandReply, code), 0);
    assert_eq!(offset_of!(CommandReply, request_id), 8);
    assert_eq!(offset_of!(CommandReply, status), 16);
    assert_eq!(offset_of!(CommandReply, msg_len), 17);
    assert_eq!(offset_of!(CommandReply, msg), 24);

    let c = Command::new(1, "ethusdt@trade").unwrap();
    assert_eq!(c.stream(), Ok("ethusdt@trade"));
    assert!(Command::new(1, &"x".repeat(57)).is_none());
    let mut bad = c;
    bad.stream_len = 200;
    assert_eq!(bad.stream(), Err("stream_len exceeds the stream buffer"));
    bad.stream_len = 2;
    bad.stream[0] = 0xff;
    assert_eq!(bad.stream(), Err("stream is not UTF-8"));
    let r = CommandReply::new(status::REJECTED, 7, -1121, &"é".repeat(100));
    assert_eq!(
        (r.code, r.request_id, r.status),
        (-1121, 7, status::REJECTED)
    );
    assert_eq!(r.msg(), "é".repeat(56)); // cut at 112 bytes, on a character boundary
    assert_eq!(r.status_name(), "rejected");
}

#[test]
fn decimals_round_trip_exactly() {
    for text in [
        "0.01000000",
        "43250.12000000",
        "0",
        "7",
        "-0.5",
        "-525.12000084",
        "0.00000001",
        "1012345678.90125052",
        "9223372036854775807",
        "-9223372036854775807",
        "0.000000000000000000000001",
    ] {
        let (m, s) = parse_decimal(text).unwrap_or_else(|| panic!("{text}"));
        let mut out = String::new();
        format_decimal(&mut out, m, s);
        assert_eq!(out, text);
    }
    assert_eq!(parse_decimal("0.01000000"), Some((1_000_000, 8)));
    assert_eq!(
        parse_decimal("43250.12000000"),
        Some((4_325_012_000_000, 8))
    );
    // Not carried: no exact (mantissa, scale) gives the same text back, or too large.
    for text in [
        "",
        "-",
        "01.5",
        "-0",
        "-0.00",
        "+1",
        "1.",
        ".5",
        "1e5",
        "1.2.3",
        "9223372036854775808",
        " 1",
        "١",
    ] {
        assert_eq!(parse_decimal(text), None, "{text:?}");
    }
    let mut out = String::new();
    format_decimal(&mut out, i64::MIN, 0);
    assert_eq!(out, "-9223372036854775808");
    assert_eq!(mid((4_325_012, 2), (4_325_013, 2)), Some((43_250_125, 3)));
    assert_eq!(mid((1, 0), (15, 1)), Some((125, 2)));
    assert_eq!(mid((i64::MAX, 0), (i64::MAX, 0)), None);
}

fn trade() -> MarketRecord {
    let mut r = MarketRecord::ZERO;
    r.kind = kind::TRADE;
    r.flags = flags::HAS_EVENT_TIME | flags::BUYER_MAKER;
    r.seq = 12;
    r.event_time = 1_700_000_000_123;
    r.ints[..2].copy_from_slice(&[99, 1_700_000_000_120]);
    r.set_symbol("BTCUSDT");
    r.set_stream("btcusdt@trade");
    r.n_values = 2;
    r.mantissa[..2].copy_from_slice(&[4_325_012_000_000, 1_000_000]);
    r.scale[..2].copy_from_slice(&[8, 8]);
    r
}

#[test]
fn json_and_text_lines() {
    let mut out = String::new();
    write_json(&mut out, &trade());
    assert_eq!(
        out,
        r#"{"stream":"btcusdt@trade","kind":"trade","symbol":"BTCUSDT","seq":12,"event_time":1700000000123,"t":99,"T":1700000000120,"p":"43250.12000000","q":"0.01000000","m":true}"#
    );
    out.clear();
    write_text(&mut out, &trade());
    assert_eq!(out, "12 btcusdt@trade last=43250.12000000 qty=0.01000000");

    let mut d = MarketRecord::ZERO;
    d.kind = kind::DEPTH_UPDATE;
    d.flags = flags::HAS_EVENT_TIME | flags::MORE;
    d.seq = 3;
    d.event_time = 5;
    d.ints[..2].copy_from_slice(&[10, 12]);
    d.set_symbol("BNBBTC");
    d.set_stream("bnbbtc@depth@100ms");
    d.n_bids = 1;
    d.n_asks = 1;
    d.part = 2;
    d.mantissa[..4].copy_from_slice(&[25, 100, 26, 0]);
    d.scale[..4].copy_from_slice(&[4, 0, 4, 2]);
    out.clear();
    write_json(&mut out, &d);
    assert_eq!(
        out,
        r#"{"stream":"bnbbtc@depth@100ms","kind":"depth","symbol":"BNBBTC","seq":3,"event_time":5,"U":10,"u":12,"b":[["0.0025","100"]],"a":[["0.0026","0.00"]],"part":2,"more":true}"#
    );
    out.clear();
    write_text(&mut out, &d);
    assert_eq!(out, "3 bnbbtc@depth@100ms mid=0.00255");

    // Ticker F/L are signed; a record without E says null; names are escaped.
    let mut t = MarketRecord::ZERO;
    t.kind = kind::TICKER;
    t.ints[..5].copy_from_slice(&[1, 2, u64::MAX, u64::MAX, 0]);
    t.set_symbol("A\"B\u{1}é");
    out.clear();
    write_json(&mut out, &t);
    assert_eq!(
        out,
        r#"{"stream":"","kind":"ticker","symbol":"A\"B\u0001\u00e9","seq":0,"event_time":null,"O":1,"C":2,"F":-1,"L":-1,"n":0}"#
    );
    // Hostile lengths read as empty or bounded, never past the buffers.
    let mut h = trade();
    h.symbol_len = 255;
    h.stream_len = 255;
    h.n_values = 255;
    h.n_bids = 255;
    h.n_asks = 255;
    h.kind = kind::PARTIAL_DEPTH;
    out.clear();
    write_json(&mut out, &h);
    assert!(out.starts_with(r#"{"stream":"btcusdt@trade"#), "{out}");
    h.kind = 200;
    out.clear();
    write_json(&mut out, &h);
    assert!(out.contains(r#""kind":"unknown""#), "{out}");
}
