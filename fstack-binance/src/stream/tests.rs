//! Tests of [`crate::stream`]: names and kinds, symbols, name tables, request targets.

use super::*;
use crate::control::{control_request, Method};

#[test]
fn names_and_kinds() {
    let cases = [
        ("ticker", StreamKind::Ticker, "btcusdt@ticker"),
        ("MINITICKER", StreamKind::MiniTicker, "btcusdt@miniTicker"),
        ("bookTicker", StreamKind::BookTicker, "btcusdt@bookTicker"),
        ("Trade", StreamKind::Trade, "btcusdt@trade"),
        ("aggtrade", StreamKind::AggTrade, "btcusdt@aggTrade"),
        (
            "depth",
            StreamKind::DiffDepth {
                speed: DepthSpeed::Ms100,
            },
            "btcusdt@depth@100ms",
        ),
        (
            "depth20",
            StreamKind::PartialDepth {
                levels: DepthLevels::Twenty,
                speed: DepthSpeed::Ms100,
            },
            "btcusdt@depth20@100ms",
        ),
        (
            "depth5@1000ms",
            StreamKind::PartialDepth {
                levels: DepthLevels::Five,
                speed: DepthSpeed::Ms1000,
            },
            "btcusdt@depth5",
        ),
    ];
    for (cli, kind, name) in cases {
        let k = StreamKind::from_cli(cli).unwrap();
        assert_eq!(k, kind, "{cli}");
        let s = Stream::new("BTCUSDT", k).unwrap();
        assert_eq!(s.name(), name);
        assert_eq!(s.symbol(), "btcusdt");
        assert_eq!(s.kind(), kind);
        assert_eq!(Stream::parse(name).unwrap(), s);
        let r = StreamRef::parse(name).unwrap();
        assert_eq!((r.name, r.symbol, r.kind), (name, "btcusdt", kind));
        assert_eq!(s.as_ref(), r);
    }
    assert_eq!(
        StreamKind::from_cli("kline_1m"),
        Err(StreamError::UnknownKind)
    );
    assert_eq!(StreamKind::from_cli(""), Err(StreamError::UnknownKind));
    assert_eq!(
        StreamKind::parse_suffix("Ticker"),
        Err(StreamError::UnknownKind)
    );
    assert_eq!(
        StreamKind::parse_suffix("depth7"),
        Err(StreamError::UnknownKind)
    );
    assert_eq!(
        StreamKind::parse_suffix("depth@250ms"),
        Err(StreamError::UnknownKind)
    );
    assert_eq!(StreamRef::parse("btcusdt"), Err(StreamError::MissingAt));
    assert_eq!(StreamRef::parse("@ticker"), Err(StreamError::InvalidSymbol));
    assert_eq!(
        StreamRef::parse("btc-usdt@ticker"),
        Err(StreamError::InvalidSymbol)
    );
    assert_eq!(
        StreamRef::parse("!ticker@arr"),
        Err(StreamError::InvalidSymbol)
    );
    assert_eq!(
        Stream::new("", StreamKind::Ticker),
        Err(StreamError::InvalidSymbol)
    );
    assert_eq!(
        Stream::new(&"a".repeat(33), StreamKind::Ticker),
        Err(StreamError::InvalidSymbol)
    );
    for bad in [
        "btc usdt",
        "btc/usdt",
        "btc@usdt",
        "btc\"usdt",
        "btc\\usdt",
        "btc\u{7}",
    ] {
        assert_eq!(
            Stream::new(bad, StreamKind::Trade),
            Err(StreamError::InvalidSymbol),
            "{bad:?}"
        );
    }
}

#[test]
fn non_ascii_symbols() {
    // Binance lists spot pairs with Chinese names; stream names lowercase the UTF-8 symbol.
    let s = Stream::new("币安人生USDT", StreamKind::Trade).unwrap();
    assert_eq!(s.name(), "币安人生usdt@trade");
    assert_eq!(s.symbol(), "币安人生usdt");
    assert_eq!(Stream::parse("币安人生usdt@trade").unwrap(), s);
    let r = StreamRef::parse("币安人生usdt@trade").unwrap();
    assert_eq!((r.symbol, r.kind), ("币安人生usdt", StreamKind::Trade));
    // Lowercasing that changes the length in bytes (U+1E9E "ẞ" → U+00DF "ß", 3 → 2 bytes).
    let s = Stream::new("ẞUSDT", StreamKind::Ticker).unwrap();
    assert_eq!(s.name(), "ßusdt@ticker");
    assert_eq!(s.symbol(), "ßusdt");
    assert_eq!(Stream::parse(s.name()).unwrap(), s);
    // A letter whose lowercase form is not one (U+0130 → "i" + U+0307 combining dot) cannot be
    // put into a stream name.
    assert_eq!(
        Stream::new("İUSDT", StreamKind::Ticker),
        Err(StreamError::InvalidSymbol)
    );
    assert_eq!(
        Stream::new(&"币".repeat(32), StreamKind::Ticker)
            .unwrap()
            .symbol()
            .chars()
            .count(),
        32
    );
    assert_eq!(
        Stream::new(&"币".repeat(33), StreamKind::Ticker),
        Err(StreamError::InvalidSymbol)
    );
    assert!(same_symbol("币安人生USDT", "币安人生usdt"));
    assert!(same_symbol("BTCUSDT", "btcusdt"));
    assert!(same_symbol("ДОГUSDT", "догusdt"));
    assert!(!same_symbol("币安人生USDT", "币安人usdt"));
    // URLs carry the name percent-encoded as UTF-8; control messages carry it as is.
    let trade = |symbol| Stream::new(symbol, StreamKind::Trade).unwrap();
    let streams = [trade("币安人生usdt"), trade("btcusdt")];
    assert_eq!(
        request_target(&streams[..1], UrlMode::Auto, TimeUnit::Millisecond).unwrap(),
        "/ws/%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9Fusdt@trade"
    );
    assert_eq!(
        request_target(&streams, UrlMode::Auto, TimeUnit::Millisecond).unwrap(),
        "/stream?streams=%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9Fusdt@trade/btcusdt@trade"
    );
    assert_eq!(
        control_request(Method::Subscribe, 7, &streams[..1]).text,
        r#"{"method":"SUBSCRIBE","params":["币安人生usdt@trade"],"id":7}"#
    );
}

/// The ASCII shortcuts of `valid_symbol` and `same_symbol` give the answers of the Unicode
/// rules they skip.
#[test]
fn ascii_symbol_shortcuts_agree_with_the_unicode_rules() {
    let unicode_valid = |s: &str| {
        s.chars()
            .all(|c| c.is_alphanumeric() && c.to_lowercase().all(char::is_alphanumeric))
            && (1..=MAX_SYMBOL_CHARS).contains(&s.chars().count())
    };
    let unicode_same = |a: &str, b: &str| {
        a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
    };
    for c in 0..=127u8 {
        for s in [
            format!("{}", c as char),
            format!("btc{}usdt", c as char),
            format!("{}USDT", c as char),
        ] {
            assert_eq!(valid_symbol(&s), unicode_valid(&s), "{s:?}");
            for t in [
                s.to_ascii_lowercase(),
                s.to_ascii_uppercase(),
                "btcusdt".into(),
            ] {
                assert_eq!(same_symbol(&s, &t), unicode_same(&s, &t), "{s:?} {t:?}");
            }
        }
    }
    for s in [
        "",
        "a",
        &"a".repeat(32),
        &"a".repeat(33),
        "ÄUSDT",
        "币安人生usdt",
        "İUSDT",
    ] {
        assert_eq!(valid_symbol(s), unicode_valid(s), "{s:?}");
    }
    for (a, b) in [
        ("ÄUSDT", "äusdt"),
        ("ÄUSDT", "ÄUSDT"),
        ("ÄUSDT", "Ausdt"),
        ("ДОГUSDT", "догusdt"),
        ("BTCUSDT", "BTCUSD"),
    ] {
        assert_eq!(same_symbol(a, b), unicode_same(a, b), "{a} {b}");
    }
}

#[test]
fn cli_names_round_trip() {
    for n in StreamKind::CLI_NAMES {
        assert_eq!(
            StreamKind::from_cli(n).unwrap().event_name(),
            if n == "depth" { "depth" } else { n }
        );
    }
    assert_eq!(StreamKind::Ticker.to_string(), "ticker");
}

#[test]
fn name_tables_agree_with_all() {
    let ms1000 = |k: StreamKind| {
        matches!(
            k,
            StreamKind::DiffDepth {
                speed: DepthSpeed::Ms1000
            } | StreamKind::PartialDepth {
                speed: DepthSpeed::Ms1000,
                ..
            }
        )
    };
    for (i, k) in StreamKind::ALL.into_iter().enumerate() {
        assert!(!StreamKind::ALL[..i].contains(&k), "{k:?} listed twice");
        assert!(
            !StreamKind::ALL[..i]
                .iter()
                .any(|o| o.suffix() == k.suffix()),
            "{k:?}: suffix taken"
        );
        // `parse_suffix` (a hand-written match) is the inverse of `suffix`.
        assert_eq!(StreamKind::parse_suffix(k.suffix()), Ok(k), "{k:?}");
        if ms1000(k) {
            let explicit = format!("{}@1000ms", k.suffix());
            assert_eq!(StreamKind::parse_suffix(&explicit), Ok(k), "{explicit}");
        }
        assert_eq!(k.to_string(), k.suffix());
        let stream = Stream::new("btcusdt", k).unwrap();
        assert_eq!(StreamRef::parse(stream.name()).unwrap().kind, k);
        if let Some(n) = k.cli_name() {
            assert_eq!(StreamKind::from_cli(n), Ok(k), "{n}");
        }
    }
    // What `parse_suffix` accepts is a suffix of `ALL` (or one with `@1000ms` spelt out).
    let mut candidates: Vec<String> = Vec::new();
    for k in StreamKind::ALL {
        for tail in ["", "@100ms", "@1000ms", "@250ms", "@"] {
            candidates.push(format!("{}{tail}", k.suffix()));
            candidates.push(format!("{}{tail}", k.suffix().to_uppercase()));
        }
    }
    for s in &candidates {
        if let Ok(k) = StreamKind::parse_suffix(s) {
            let explicit = format!("{}@1000ms", k.suffix());
            assert!(
                *s == k.suffix() || (ms1000(k) && *s == explicit),
                "{s:?} parsed as {k:?}"
            );
        }
    }
    // `CLI_NAMES`: the CLI names that are also event names, one per event name.
    let main: Vec<&str> = StreamKind::ALL
        .into_iter()
        .filter_map(|k| k.cli_name().filter(|&n| n == k.event_name()))
        .collect();
    assert_eq!(main, StreamKind::CLI_NAMES);
    assert_eq!(
        StreamKind::cli_name_list().to_string(),
        "ticker, miniTicker, bookTicker, trade, aggTrade, depth, depth5, depth10 or depth20"
    );
    assert_eq!(
        StreamError::UnknownKind.to_string(),
        "unknown stream kind (expected ticker, miniTicker, bookTicker, trade, aggTrade, \
         depth, depth5, depth10 or depth20)"
    );
    // Periodic kinds (the stall timeout's default) and event types, kind by kind.
    let periodic: Vec<&str> = StreamKind::ALL
        .into_iter()
        .filter(|k| k.is_periodic())
        .filter_map(StreamKind::cli_name)
        .collect();
    assert_eq!(
        periodic,
        ["ticker", "miniTicker", "depth5", "depth10", "depth20"]
    );
    let types: Vec<Option<&str>> = StreamKind::CLI_NAMES
        .into_iter()
        .map(|n| StreamKind::from_cli(n).unwrap().event_type())
        .collect();
    assert_eq!(
        types,
        [
            Some("24hrTicker"),
            Some("24hrMiniTicker"),
            Some("bookTicker"),
            Some("trade"),
            Some("aggTrade"),
            Some("depthUpdate")
        ]
    );
}

#[test]
fn streams_product_dedups() {
    let syms = vec!["BTCUSDT".to_string(), "ethusdt".into(), "btcusdt".into()];
    let v = streams_for(&syms, &[StreamKind::Ticker, StreamKind::Trade]).unwrap();
    let names: Vec<&str> = v.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "btcusdt@ticker",
            "btcusdt@trade",
            "ethusdt@ticker",
            "ethusdt@trade"
        ]
    );
    assert!(streams_for(&["x y".into()], &[StreamKind::Ticker]).is_err());
}

#[test]
fn targets() {
    let a = Stream::new("btcusdt", StreamKind::Ticker).unwrap();
    let b = Stream::new("ethusdt", StreamKind::AggTrade).unwrap();
    let ms = TimeUnit::Millisecond;
    let us = TimeUnit::Microsecond;
    assert_eq!(
        request_target(std::slice::from_ref(&a), UrlMode::Auto, ms).unwrap(),
        "/ws/btcusdt@ticker"
    );
    assert_eq!(
        request_target(std::slice::from_ref(&a), UrlMode::Auto, us).unwrap(),
        "/ws/btcusdt@ticker?timeUnit=MICROSECOND"
    );
    assert_eq!(
        request_target(&[a.clone(), b.clone()], UrlMode::Auto, ms).unwrap(),
        "/stream?streams=btcusdt@ticker/ethusdt@aggTrade"
    );
    assert_eq!(
        request_target(&[a.clone(), b.clone()], UrlMode::Auto, us).unwrap(),
        "/stream?streams=btcusdt@ticker/ethusdt@aggTrade&timeUnit=MICROSECOND"
    );
    assert_eq!(
        request_target(std::slice::from_ref(&a), UrlMode::Combined, ms).unwrap(),
        "/stream?streams=btcusdt@ticker"
    );
    assert_eq!(
        request_target(&[a.clone(), b.clone()], UrlMode::Raw, ms).unwrap(),
        "/ws/btcusdt@ticker/ethusdt@aggTrade"
    );
    assert_eq!(request_target(&[], UrlMode::Auto, ms).unwrap(), "/stream");
    assert_eq!(
        request_target(&[], UrlMode::Raw, us).unwrap(),
        "/ws?timeUnit=MICROSECOND"
    );
    let many: Vec<Stream> = (0..1025)
        .map(|i| Stream::new(&format!("s{i}"), StreamKind::Trade).unwrap())
        .collect();
    assert_eq!(
        request_target(&many, UrlMode::Auto, ms),
        Err(StreamError::TooManyStreams)
    );
    assert!(request_target(&many[..1024], UrlMode::Auto, ms).is_ok());
    let chunks: Vec<usize> = chunk_streams(&many).map(|c| c.len()).collect();
    assert_eq!(chunks, [1024, 1]);
    let many: Vec<Stream> = many
        .into_iter()
        .chain((0..2000).map(|i| Stream::new(&format!("t{i}"), StreamKind::Trade).unwrap()))
        .collect();
    let chunks: Vec<usize> = chunk_streams(&many).map(|c| c.len()).collect();
    assert_eq!(chunks, [1024, 1024, 977]);
}
