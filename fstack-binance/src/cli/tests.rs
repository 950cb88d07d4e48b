//! The command line's contract: defaults, every option, help, one-line errors.
use super::*;
use crate::stream::{DepthLevels, DepthSpeed};

/// The repository's F-Stack config (`--config` must name an existing file).
fn conf() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../f-stack.conf").to_owned()
}

fn run(args: &[&str]) -> Config {
    let conf = conf();
    let argv = ["--config", conf.as_str()]
        .into_iter()
        .chain(args.iter().copied());
    match parse_args(argv) {
        Ok(Command::Run(c)) => c,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn fail(args: &[&str]) -> String {
    let conf = conf();
    let argv = ["--config", conf.as_str()]
        .into_iter()
        .chain(args.iter().copied());
    match parse_args(argv) {
        Err(e) => {
            let s = e.to_string();
            assert!(!s.contains('\n'), "{s}");
            assert_eq!(s.matches("(see --help)").count(), 1, "{s}");
            s
        }
        Ok(c) => panic!("{args:?} accepted: {c:?}"),
    }
}

#[test]
fn defaults() {
    let c = run(&[]);
    assert_eq!(
        c,
        Config {
            fstack_config: PathBuf::from(conf()),
            ..Config::default()
        }
    );
    assert_eq!(c.endpoint.host, "stream.binance.com");
    assert_eq!(c.endpoint.port, 9443);
    assert_eq!(c.symbols, ["btcusdt"]);
    assert_eq!(c.kinds, [StreamKind::Ticker]);
    assert_eq!(c.read_timeout, Duration::from_secs(60));
    assert_eq!(c.connect_timeout, Duration::from_secs(10));
    assert_eq!(c.stall_timeout, StallTimeout::Auto);
    assert_eq!(c.connect_retries, 5);
    assert_eq!(c.format, Format::Text);
    assert_eq!(
        (c.count, c.duration, c.ca_file.as_ref()),
        (None, None, None)
    );
    assert_eq!(c.latency_histogram, None);
    assert_eq!(c.publish, None);
    let names: Vec<String> = c.streams().iter().map(|s| s.name().to_owned()).collect();
    assert_eq!(names, ["btcusdt@ticker"]);
    assert_eq!(c.time_unit(), TimeUnit::Millisecond);
    // The library's defaults are the feed's: one home.
    let f = c.feed_config();
    assert_eq!(
        (f.read_timeout, f.connect_timeout, f.connect_retries),
        (c.read_timeout, c.connect_timeout, c.connect_retries)
    );
}

#[test]
fn full_command_line() {
    let ca = conf(); // any existing file will do for the parser
    let c = run(&[
        "--endpoint",
        "wss://127.0.0.1:9443",
        "--symbol",
        "BTCUSDT",
        "--symbol=ethusdt,bnbusdt",
        "--stream",
        "ticker",
        "--stream",
        "bookTicker",
        "--stream=depth",
        "--stream",
        "depth20",
        "--ca-file",
        &ca,
        "--resolve",
        "stream.binance.com:9443:10.0.0.2",
        "--resolve=h:443:[::1]",
        "--count",
        "100",
        "--duration",
        "2.5",
        "--read-timeout",
        "0.25",
        "--stall-timeout",
        "3",
        "--connect-timeout",
        "1.5",
        "--connect-retries",
        "1",
        "--format",
        "json",
        "--latency-histogram",
        "/tmp/latency.hdr",
    ]);
    assert_eq!(c.endpoint.host, "127.0.0.1");
    assert_eq!(c.symbols, ["btcusdt", "ethusdt", "bnbusdt"]);
    assert_eq!(
        c.kinds,
        [
            StreamKind::Ticker,
            StreamKind::BookTicker,
            StreamKind::DiffDepth {
                speed: DepthSpeed::Ms100
            },
            StreamKind::PartialDepth {
                levels: DepthLevels::Twenty,
                speed: DepthSpeed::Ms100
            },
        ]
    );
    assert_eq!(c.streams().len(), 12);
    assert_eq!(c.streams()[2].name(), "btcusdt@depth@100ms");
    assert_eq!(c.ca_file, Some(PathBuf::from(&ca)));
    assert_eq!(
        c.resolve_for("STREAM.binance.com", 9443),
        Some("10.0.0.2".parse().unwrap())
    );
    assert_eq!(c.resolve_for("stream.binance.com", 443), None);
    assert_eq!(c.resolve_for("h", 443), Some("::1".parse().unwrap()));
    assert_eq!(c.count, Some(100));
    assert_eq!(c.duration, Some(Duration::from_millis(2500)));
    assert_eq!(c.read_timeout, Duration::from_millis(250));
    assert_eq!(c.stall_timeout, StallTimeout::After(Duration::from_secs(3)));
    assert_eq!(c.connect_timeout, Duration::from_millis(1500));
    assert_eq!(c.connect_retries, 1);
    assert_eq!(c.format, Format::Json);
    assert_eq!(c.latency_histogram, Some(PathBuf::from("/tmp/latency.hdr")));
    let f = c.feed_config();
    assert_eq!(
        (f.endpoint.host.as_str(), f.endpoint.port),
        ("127.0.0.1", 9443)
    );
    assert_eq!(f.stall_timeout, StallTimeout::After(Duration::from_secs(3)));
    assert_eq!(f.connect_timeout, Duration::from_millis(1500));
    assert_eq!(f.streams.len(), 12);
    // Last value wins for single options; duplicates collapse for repeatable ones.
    let c = run(&[
        "--format", "json", "--format", "text", "--symbol", "a", "--symbol", "A",
    ]);
    assert_eq!((c.format, c.symbols.len()), (Format::Text, 1));
    assert_eq!(
        run(&["--read-timeout", "1.0000001"]).read_timeout,
        Duration::from_micros(1_000_000)
    );
    assert_eq!(
        run(&["--duration", "0.0000005"]).duration,
        Some(Duration::from_micros(1))
    );
    assert_eq!(
        run(&["--stall-timeout", "0"]).stall_timeout,
        StallTimeout::Off
    );
    // Non-ASCII symbols, lowercased for stream names.
    let c = run(&["--symbol", "币安人生USDT", "--stream", "trade"]);
    assert_eq!(c.symbols, ["币安人生usdt"]);
    assert_eq!(c.streams()[0].name(), "币安人生usdt@trade");
}

#[test]
fn help() {
    let Ok(Command::Help(text)) = parse_args(["--help"]) else {
        panic!("--help")
    };
    assert!(matches!(
        parse_args(["--count", "1", "-h"]),
        Ok(Command::Help(_))
    ));
    assert_eq!(text, super::help());
    for opt in [
        "--endpoint",
        "--symbol",
        "--stream",
        "--ca-file",
        "--resolve",
        "--config",
        "--count",
        "--duration",
        "--read-timeout",
        "--stall-timeout",
        "--connect-timeout",
        "--connect-retries",
        "--format",
        "--latency-histogram <FILE>",
        "--book",
        "--book-levels <N>",
        "--snapshot-limit <L>",
        "--rest-endpoint <URL>",
        "[default: https://api.binance.com]",
        "--help",
        "depth20",
        "[default: 10]",
        "[default: 5]",
        "[default: 60]",
    ] {
        assert!(text.contains(opt), "{opt} missing from help:\n{text}");
    }
    // The `--stream` help is prose: it must name every kind the parser accepts by name.
    for name in StreamKind::ALL.into_iter().filter_map(StreamKind::cli_name) {
        assert!(text.contains(name), "{name} missing from help:\n{text}");
    }
}

#[test]
fn errors_are_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["--bogus"], "unexpected argument '--bogus' found (see --help)"),
        (&["-x"], "unexpected argument '-x' found (see --help)"),
        (&["btcusdt"], "unexpected argument 'btcusdt' found (see --help)"),
        (&["--count"], "a value is required for '--count <N>' but none was supplied (see --help)"),
        (&["--count", "x"], "invalid value 'x' for '--count <N>': expected a positive integer (see --help)"),
        (&["--count", "-1"], "invalid value '-1' for '--count <N>': expected a positive integer (see --help)"),
        (&["--duration", "-1"], "invalid value '-1' for '--duration <SECS>': expected a positive decimal number of seconds such as 2.5 (see --help)"),
        (&["--count=-1"], "invalid value '-1' for '--count <N>': expected a positive integer (see --help)"),
        (&["--count", "0"], "invalid value '0' for '--count <N>': must be at least 1 (see --help)"),
        (&["--count", "99999999999999999999999"], "invalid value '99999999999999999999999' for '--count <N>': number out of range (see --help)"),
        (&["--connect-retries", "0"], "invalid value '0' for '--connect-retries <N>': must be at least 1 (see --help)"),
        (&["--connect-retries", "4294967296"], "invalid value '4294967296' for '--connect-retries <N>': number out of range (see --help)"),
        (&["--duration", "0"], "invalid value '0' for '--duration <SECS>': expected a positive decimal number of seconds such as 2.5 (see --help)"),
        (&["--duration", "1e3"], "invalid value '1e3' for '--duration <SECS>': expected a positive decimal number of seconds such as 2.5 (see --help)"),
        (&["--read-timeout", ""], "invalid value '' for '--read-timeout <SECS>': expected a positive decimal number of seconds such as 2.5 (see --help)"),
        (&["--connect-timeout", "0"], "invalid value '0' for '--connect-timeout <SECS>': expected a positive decimal number of seconds such as 2.5 (see --help)"),
        (&["--stall-timeout", "0.0000000001"], "invalid value '0.0000000001' for '--stall-timeout <SECS>': expected a decimal number of seconds such as 2.5 (0 = off) (see --help)"),
        (&["--stall-timeout", "x"], "invalid value 'x' for '--stall-timeout <SECS>': expected a decimal number of seconds such as 2.5 (0 = off) (see --help)"),
        (&["--duration", "99999999999999999999999999"], "invalid value '99999999999999999999999999' for '--duration <SECS>': expected a positive decimal number of seconds such as 2.5 (see --help)"),
        (&["--format", "xml"], "invalid value 'xml' for '--format <FORMAT>': expected text, json or none (see --help)"),
        (&["--stream", "kline"], "invalid value 'kline' for '--stream <KIND>': unknown kind (expected ticker, miniTicker, bookTicker, trade, aggTrade, depth, depth5, depth10 or depth20) (see --help)"),
        (&["--stream", "depth7"], "invalid value 'depth7' for '--stream <KIND>': unknown kind (expected ticker, miniTicker, bookTicker, trade, aggTrade, depth, depth5, depth10 or depth20) (see --help)"),
        (&["--symbol", "btc/usdt"], "invalid value 'btc/usdt' for '--symbol <SYM>': invalid symbol (expected 1-32 letters or digits, e.g. btcusdt or 币安人生usdt) (see --help)"),
        (&["--symbol", "btc usdt"], "invalid value 'btc usdt' for '--symbol <SYM>': invalid symbol (expected 1-32 letters or digits, e.g. btcusdt or 币安人生usdt) (see --help)"),
        (&["--symbol", "btcusdt,İusdt"], "invalid value 'İusdt' for '--symbol <SYM>': invalid symbol (expected 1-32 letters or digits, e.g. btcusdt or 币安人生usdt) (see --help)"),
        (&["--symbol", "btc@usdt"], "invalid value 'btc@usdt' for '--symbol <SYM>': invalid symbol (expected 1-32 letters or digits, e.g. btcusdt or 币安人生usdt) (see --help)"),
        (&["--symbol", ""], "invalid value '' for '--symbol <SYM>': invalid symbol (expected 1-32 letters or digits, e.g. btcusdt or 币安人生usdt) (see --help)"),
        (&["--endpoint", "https://x"], "invalid value 'https://x' for '--endpoint <URL>': only wss:// endpoints are supported (the feed always uses TLS) (see --help)"),
        (&["--endpoint", "wss://x:99999"], "invalid value 'wss://x:99999' for '--endpoint <URL>': invalid port (see --help)"),
        (&["--resolve", "host:443"], "invalid value 'host:443' for '--resolve <HOST:PORT:ADDR>': expected HOST:PORT:ADDR, got \"host:443\" (see --help)"),
        (&["--resolve", ":443:1.2.3.4"], "invalid value ':443:1.2.3.4' for '--resolve <HOST:PORT:ADDR>': expected HOST:PORT:ADDR, got \":443:1.2.3.4\" (see --help)"),
        (&["--resolve", "h:http:1.2.3.4"], "invalid value 'h:http:1.2.3.4' for '--resolve <HOST:PORT:ADDR>': invalid port \"http\" (see --help)"),
        (&["--resolve", "h:443:nothost"], "invalid value 'h:443:nothost' for '--resolve <HOST:PORT:ADDR>': invalid address \"nothost\" (see --help)"),
        (&["--ca-file="], "invalid value '' for '--ca-file <PEM>': needs a path (see --help)"),
        (&["--ca-file", "/nonexistent/ca.pem"], "invalid value '/nonexistent/ca.pem' for '--ca-file <PEM>': cannot read it: No such file or directory (os error 2) (see --help)"),
        (&["--endpoint", "ws://127.0.0.1:1"], "invalid value 'ws://127.0.0.1:1' for '--endpoint <URL>': only wss:// endpoints are supported (the feed always uses TLS) (see --help)"),
        (&["--endpoint", "wss://stream.binance.com:9443/ws"], "invalid value 'wss://stream.binance.com:9443/ws' for '--endpoint <URL>': give the base URL without /ws: the feed adds /ws/... or /stream?... itself (see --help)"),
        (&["--config", ""], "invalid value '' for '--config <FILE>': needs a path (see --help)"),
        (&["--latency-histogram="], "invalid value '' for '--latency-histogram <FILE>': needs a path (see --help)"),
        (&["--config", "/nonexistent/f-stack.conf"], "invalid value '/nonexistent/f-stack.conf' for '--config <FILE>': cannot read it: No such file or directory (os error 2) (see --help)"),
        (&["--config", "/"], "invalid value '/' for '--config <FILE>': not a file (see --help)"),
    ];
    for (args, msg) in cases {
        assert_eq!(fail(args), *msg, "{args:?}");
    }
}

#[test]
fn more_streams_than_one_connection_takes() {
    let symbols: Vec<String> = (0..205).map(|i| format!("sym{i}")).collect();
    let list = symbols.join(",");
    assert_eq!(
        fail(&["--symbol", &list, "--stream", "trade,ticker,bookTicker,aggTrade,depth"]),
        "1025 streams (every --symbol with every --stream), more than Binance's 1024 per connection (see --help)"
    );
    let c = run(&[
        "--symbol",
        &symbols[..204].join(","),
        "--stream",
        "trade,ticker,bookTicker,aggTrade,depth",
    ]);
    assert_eq!(c.streams().len(), 1020);
}

#[cfg(unix)]
#[test]
fn non_utf8_is_an_error() {
    use std::os::unix::ffi::OsStringExt;
    let bad = OsString::from_vec(vec![0x66, 0xff]);
    assert!(parse_args([OsString::from("--symbol"), bad.clone()]).is_err());
    assert!(parse_args([bad]).is_err());
}

#[test]
fn book_options() {
    assert_eq!(run(&[]).book, None);
    let c = run(&["--book", "--symbol", "btcusdt,ethusdt"]);
    let book = c.book.clone().unwrap();
    assert_eq!(
        book,
        BookOptions {
            levels: 10,
            snapshot_limit: 1000,
            rest_endpoint: RestEndpoint::parse("https://api.binance.com").unwrap(),
        }
    );
    // The diff depth stream at 100 ms by default.
    let names: Vec<String> = c.streams().iter().map(|s| s.name().to_owned()).collect();
    assert_eq!(names, ["btcusdt@depth@100ms", "ethusdt@depth@100ms"]);
    let b = c.book_config().unwrap();
    assert_eq!(b.snapshot_limit, 1000);
    assert_eq!(b.rest.endpoint.host, "api.binance.com");
    assert_eq!(b.rest.resolve, None);
    assert_eq!(b.feed.streams.len(), 2);
    assert_eq!(super::snapshot_weight(&book), 50);
    let c = run(&[
        "--book",
        "--stream",
        "depth@1000ms",
        "--book-levels",
        "5",
        "--snapshot-limit",
        "100",
        "--rest-endpoint",
        "https://api.lab.test:9443",
        "--resolve",
        "api.lab.test:9443:10.77.0.1",
        "--resolve",
        "stream.binance.com:9443:10.77.0.1",
    ]);
    let book = c.book.clone().unwrap();
    assert_eq!((book.levels, book.snapshot_limit), (5, 100));
    assert_eq!(c.streams()[0].name(), "btcusdt@depth");
    let b = c.book_config().unwrap();
    // --resolve for both hosts.
    assert_eq!(b.rest.resolve, Some("10.77.0.1".parse().unwrap()));
    assert_eq!(b.feed.resolve, Some("10.77.0.1:9443".parse().unwrap()));
    assert_eq!(super::snapshot_weight(&book), 5);
    assert_eq!(run(&["--format", "json"]).book_config().map(|_| ()), None);

    let cases: &[(&[&str], &str)] = &[
        (&["--book-levels", "5"], "the following required arguments were not provided: --book (see --help)"),
        (&["--snapshot-limit", "5"], "the following required arguments were not provided: --book (see --help)"),
        (&["--rest-endpoint", "https://x"], "the following required arguments were not provided: --book (see --help)"),
        (&["--book", "--stream", "ticker"], "--book keeps books from one diff depth stream per symbol: give --stream depth (or depth@1000ms), or no --stream (see --help)"),
        (&["--book", "--stream", "depth,depth@1000ms"], "--book keeps books from one diff depth stream per symbol: give --stream depth (or depth@1000ms), or no --stream (see --help)"),
        (&["--book", "--snapshot-limit", "0"], "invalid value '0' for '--snapshot-limit <L>': must be at least 1 (see --help)"),
        (&["--book", "--snapshot-limit", "5001"], "invalid value '5001' for '--snapshot-limit <L>': Binance serves 1 to 5000 levels (see --help)"),
        (&["--book", "--book-levels", "x"], "invalid value 'x' for '--book-levels <N>': expected a positive integer (see --help)"),
        (&["--book", "--snapshot-limit", "5"], "--book-levels 10 (the default) is more than --snapshot-limit 5: the book would not know that many levels (see --help)"),
        (&["--book", "--book-levels", "20", "--snapshot-limit", "10"], "--book-levels 20 is more than --snapshot-limit 10: the book would not know that many levels (see --help)"),
        (&["--book", "--endpoint", "wss://testnet.binance.vision"], "--book with --endpoint testnet.binance.vision needs --rest-endpoint: the snapshots must come from the same exchange as the stream (the default, https://api.binance.com, goes with stream.binance.com only) (see --help)"),
        (&["--book", "--rest-endpoint", "http://api.binance.com"], "invalid value 'http://api.binance.com' for '--rest-endpoint <URL>': only https:// REST endpoints are supported (see --help)"),
    ];
    for (args, msg) in cases {
        assert_eq!(fail(args), *msg, "{args:?}");
    }
}

#[test]
fn publish_and_quiet() {
    let c = run(&["--publish", "feed-1.a_b", "--quiet", "--format", "json"]);
    assert_eq!(c.publish.as_deref(), Some("feed-1.a_b"));
    assert_eq!(c.format, Format::None);
    let long = "x".repeat(65);
    for bad in ["", "a/b", "a b", long.as_str()] {
        let e = fail(&["--publish", bad]);
        assert!(e.contains("--publish"), "{bad:?}: {e}");
    }
    let e = fail(&["--publish", "a", "--book"]);
    assert!(e.contains("--book"), "{e}");
}
