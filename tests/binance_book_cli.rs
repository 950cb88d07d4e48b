//! `binance_ticker --book` as other tools drive it, against `mock_exchange` (in this process,
//! on kernel sockets): JSON book lines equal to the mock's books, the text line, a gap's
//! resync line, `--format none`, an unknown symbol, and the command line's errors.

#[path = "../fstack/tests/common/mod.rs"]
mod common;
mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use fstack_mock_exchange::{check_book_lines, Faults, MockBook, MockConfig, MockExchange};

/// A mock exchange with its CA in a file for `--ca-file` (removed when dropped).
struct Exchange {
    mock: MockExchange,
    ca: PathBuf,
}

impl Exchange {
    fn start(name: &str, config: MockConfig) -> Exchange {
        let mock = MockExchange::start(config).unwrap();
        let ca =
            std::env::temp_dir().join(format!("binance-book-{name}-{}.pem", std::process::id()));
        std::fs::write(&ca, mock.ca_pem()).unwrap();
        Exchange { mock, ca }
    }

    /// `binance_ticker --book` against this mock (streams and REST on its port, both through
    /// --resolve), bounded to 30 s, with `extra` arguments.
    fn book(&self, extra: &[&str]) -> Output {
        let port = self.mock.local_addr().port();
        let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("f-stack.conf");
        Command::new(support::example_bin("binance_ticker"))
            .args(["--config", config.to_str().unwrap(), "--book"])
            .args(["--endpoint", &format!("wss://stream.lab.test:{port}")])
            .args(["--rest-endpoint", &format!("https://api.lab.test:{port}")])
            .args(["--resolve", &format!("stream.lab.test:{port}:127.0.0.1")])
            .args(["--resolve", &format!("api.lab.test:{port}:127.0.0.1")])
            .args(["--ca-file", self.ca.to_str().unwrap(), "--duration", "30"])
            .args(extra)
            .output()
            .expect("run binance_ticker")
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca);
    }
}

fn mock(rate: f64, faults: Faults) -> MockConfig {
    MockConfig {
        rate,
        faults,
        hostnames: vec!["stream.lab.test".into(), "api.lab.test".into()],
        unlisted: vec!["NOSUCHCOIN".into()],
        ..MockConfig::default()
    }
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Two symbols, 2,000 JSON book lines: each one equals the mock's book at its update id (the
/// best 10 levels per side, exact strings); the summary says what happened per symbol.
#[test]
fn json_books_equal_the_mock_books() {
    if common::skip_unless_kernel_backend("json_books_equal_the_mock_books") {
        return;
    }
    let ex = Exchange::start("json", mock(0.0, Faults::default()));
    let out = ex.book(&[
        "--symbol",
        "btcusdt,ethusdt",
        "--format",
        "json",
        "--count",
        "2000",
    ]);
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 2000, "{stderr}");
    let check = check_book_lines(&stdout, 10).unwrap_or_else(|e| panic!("{e}\n{stderr}"));
    assert_eq!(check.books.values().sum::<u64>(), 2000);
    assert_eq!(check.books.len(), 2, "{:?}", check.books);
    assert!(check.resyncs.is_empty());
    // The line's shape, key by key in this order.
    let line = stdout.lines().next().unwrap();
    let at: Vec<usize> = ["event", "symbol", "update_id", "event_time", "bids", "asks"]
        .iter()
        .map(|k| {
            line.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k}: {line}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{line}");
    assert!(line.starts_with(r#"{"event":"book","symbol":""#), "{line}");
    let first: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(first.as_object().unwrap().len(), 6, "{line}");
    assert!(first["event_time"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(first["bids"].as_array().unwrap().len(), 10);
    for sym in ["BTCUSDT", "ETHUSDT"] {
        assert!(
            stderr.contains(&format!("binance_ticker: {sym} book in sync at update ")),
            "{stderr}"
        );
        let summary = stderr
            .lines()
            .find(|l| l.starts_with(&format!("binance_ticker: book {sym}: live at ")))
            .unwrap_or_else(|| panic!("no summary for {sym}: {stderr}"));
        assert!(summary.contains(", gaps 0, resyncs 0, "), "{summary}");
    }
    assert!(stderr.contains("events 2000  messages "), "{stderr}");
    assert!(
        stderr.contains("binance_ticker: rest https://api.lab.test:"),
        "{stderr}"
    );
}

/// The text line: best bid and ask as the mock's book has them, the exact spread, the depth.
#[test]
fn text_lines_show_the_top_of_the_book() {
    if common::skip_unless_kernel_backend("text_lines_show_the_top_of_the_book") {
        return;
    }
    let ex = Exchange::start("text", mock(100.0, Faults::default()));
    let out = ex.book(&["--symbol", "btcusdt", "--count", "20"]);
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 20, "{stderr}");
    let trim = |s: &str| {
        let t = s.trim_end_matches('0');
        let (int, frac) = t.split_once('.').unwrap();
        format!("{int}.{frac:0<2}")
    };
    for line in stdout.lines() {
        let id: u64 = line
            .strip_prefix("BTCUSDT  book ")
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        let b = MockBook::at_update_id("BTCUSDT", id).unwrap();
        let (bid, ask) = (&b.bids(1)[0], &b.asks(1)[0]);
        let cents = |p: &str| p.replace('.', "").parse::<u64>().unwrap() / 1_000_000;
        let spread = cents(&ask.0) - cents(&bid.0);
        let spread = format!("{}.{:02}", spread / 100, spread % 100);
        let spread = spread.trim_end_matches('0').trim_end_matches('.');
        let (nb, na) = b.depth();
        assert_eq!(
            line,
            format!(
                "BTCUSDT  book {id}  bid {} x {}  ask {} x {}  spread {spread}  depth {nb}/{na}",
                trim(&bid.0),
                trim(&bid.1),
                trim(&ask.0),
                trim(&ask.1),
            )
        );
    }
}

/// A skipped diff: one `book_resync` line (reason `gap`) for that symbol, and every book
/// before and after it equal to the mock's.
#[test]
fn a_gap_prints_a_resync_line_and_the_books_stay_exact() {
    if common::skip_unless_kernel_backend("a_gap_prints_a_resync_line_and_the_books_stay_exact") {
        return;
    }
    let faults = Faults {
        skip_diff: Some(100),
        ..Faults::default()
    };
    let ex = Exchange::start("gap", mock(500.0, faults));
    let out = ex.book(&[
        "--symbol",
        "btcusdt,ethusdt",
        "--format",
        "json",
        "--count",
        "600",
        "--book-levels",
        "40",
    ]);
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let check = check_book_lines(&stdout, 40).unwrap_or_else(|e| panic!("{e}\n{stderr}"));
    assert_eq!(check.resyncs.values().sum::<u64>(), 1, "{stdout}");
    let resync: serde_json::Value = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["event"] == "book_resync")
        .unwrap();
    assert_eq!(resync["reason"], "gap");
    let detail = resync["detail"].as_str().unwrap();
    assert!(detail.contains("does not follow update"), "{detail}");
    assert!(stderr.contains("book discarded at update"), "{stderr}");
    let symbol = resync["symbol"].as_str().unwrap();
    let summary = stderr
        .lines()
        .find(|l| l.starts_with(&format!("binance_ticker: book {symbol}: ")))
        .unwrap();
    assert!(summary.contains(", gaps 1, resyncs 1, "), "{summary}");
}

/// `--snapshot-limit 10 --book-levels 10`: removals expose levels below the snapshot's
/// deepest price that the book never saw. Every printed level is still the mock's (a side
/// may print fewer than 10), never a wrong one.
#[test]
fn a_snapshot_as_deep_as_the_printed_levels_never_prints_wrong_levels() {
    if common::skip_unless_kernel_backend(
        "a_snapshot_as_deep_as_the_printed_levels_never_prints_wrong_levels",
    ) {
        return;
    }
    let ex = Exchange::start("shallow", mock(0.0, Faults::default()));
    let out = ex.book(&[
        "--symbol",
        "btcusdt,ethusdt",
        "--format",
        "json",
        "--count",
        "3000",
        "--snapshot-limit",
        "10",
        "--book-levels",
        "10",
    ]);
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 3000, "{stderr}");
    let check = check_book_lines(&stdout, 10).unwrap_or_else(|e| panic!("{e}\n{stderr}"));
    assert_eq!(check.books.values().sum::<u64>(), 3000);
    assert!(
        check.short > 0,
        "removals must leave fewer known levels: {check:?}"
    );
}

/// Five stale snapshots in a row: a line for each, then the error line that asks whether
/// the REST API and the stream are the same exchange; the sync keeps trying and succeeds.
#[test]
fn snapshots_that_do_not_match_are_reported() {
    if common::skip_unless_kernel_backend("snapshots_that_do_not_match_are_reported") {
        return;
    }
    let faults = Faults {
        stale_snapshots: Some(5),
        ..Faults::default()
    };
    let ex = Exchange::start("stale", mock(100.0, faults));
    let out = ex.book(&["--symbol", "btcusdt", "--format", "json", "--count", "20"]);
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    let stale: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("binance_ticker: BTCUSDT snapshot at update "))
        .collect();
    assert_eq!(stale.len(), 5, "{stderr}");
    assert!(
        stale
            .iter()
            .all(|l| l.contains(" is older than the stream's events (from ")),
        "{stderr}"
    );
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(": error: snapshot and stream do not match"))
        .collect();
    assert_eq!(
        errors,
        [
            "binance_ticker: BTCUSDT: error: snapshot and stream do not match (5 snapshots in a \
          row): is --rest-endpoint the same exchange as --endpoint? Still trying."
        ],
        "{stderr}"
    );
    assert!(
        stderr.contains("binance_ticker: BTCUSDT book in sync at update "),
        "{stderr}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    check_book_lines(&stdout, 10).unwrap_or_else(|e| panic!("{e}\n{stderr}"));
}

/// A REST API nobody answers: after --connect-retries failed connection attempts in a row
/// with no book live, one line and exit 1; the requests that never reached a server cost no
/// weight.
#[test]
fn an_unreachable_rest_api_ends_the_run() {
    if common::skip_unless_kernel_backend("an_unreachable_rest_api_ends_the_run") {
        return;
    }
    let ex = Exchange::start("norest", mock(10.0, Faults::default()));
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = ex.book(&[
        "--symbol",
        "btcusdt",
        "--connect-retries",
        "2",
        "--rest-endpoint",
        &format!("https://api.lab.test:{port}"),
        "--resolve",
        &format!("api.lab.test:{port}:127.0.0.1"),
    ]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("connection attempts in a row failed"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with(
            "binance_ticker: REST API: 2 connection attempts in a row failed, no book is live: "
        ),
        "{stderr}"
    );
    let rest = stderr
        .lines()
        .find(|l| l.starts_with("binance_ticker: rest https://api.lab.test:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(rest.contains(", connections 0, weight 0"), "{rest}");
}

/// Thirteen symbols at `--snapshot-limit 5000` (weight 250 each, 3,000 per minute): the
/// thirteenth snapshot waits for the weight budget, and says so on stderr.
#[test]
fn a_snapshot_waiting_for_the_weight_budget_says_so() {
    if common::skip_unless_kernel_backend("a_snapshot_waiting_for_the_weight_budget_says_so") {
        return;
    }
    let ex = Exchange::start("budget", mock(10.0, Faults::default()));
    let symbols: Vec<String> = (0..13).map(|i| format!("coin{i}usdt")).collect();
    let out = ex.book(&[
        "--symbol",
        &symbols.join(","),
        "--snapshot-limit",
        "5000",
        "--format",
        "none",
        "--duration",
        "3",
    ]);
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    let waits: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(" snapshot waits up to "))
        .collect();
    assert!(!waits.is_empty(), "{stderr}");
    assert!(
        waits.iter().all(|w| w.ends_with(
            " for the request weight budget (3000 spent in the last minute, this request \
             weighs 250)"
        )),
        "{stderr}"
    );
}

/// `--format none`: nothing on stdout; every update still applied and counted.
#[test]
fn format_none_counts_book_updates() {
    if common::skip_unless_kernel_backend("format_none_counts_book_updates") {
        return;
    }
    let ex = Exchange::start("none", mock(0.0, Faults::default()));
    let out = ex.book(&["--symbol", "btcusdt", "--format", "none", "--count", "1500"]);
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("events 1500  messages "), "{stderr}");
    // Applied until the connection closed: at least what was counted.
    let applied: u64 = stderr
        .split("; applied ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(applied >= 1500, "{stderr}");
}

/// A symbol the exchange does not list fails with its answer on one line while the other
/// symbol's books go on; with no symbol left the run fails.
#[test]
fn an_unknown_symbol_fails_alone() {
    if common::skip_unless_kernel_backend("an_unknown_symbol_fails_alone") {
        return;
    }
    let ex = Exchange::start("unknown", mock(100.0, Faults::default()));
    let out = ex.book(&[
        "--symbol",
        "nosuchcoin,btcusdt",
        "--format",
        "json",
        "--count",
        "30",
    ]);
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let check = check_book_lines(&stdout, 10).unwrap();
    assert_eq!(check.books.get("BTCUSDT"), Some(&30));
    assert!(
        stderr.contains(
            "binance_ticker: NOSUCHCOIN: no book: HTTP 400 from api.lab.test: Invalid symbol. (code -1121)\n"
        ),
        "{stderr}"
    );

    let out = ex.book(&["--symbol", "nosuchcoin", "--count", "3"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr.lines().last().unwrap_or_default(),
        "binance_ticker: no book left: every symbol failed",
        "{stderr}"
    );
}

/// Book options without `--book`, or a stream a book cannot be kept from: exit 2, one line.
#[test]
fn book_arguments_are_checked() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--book-levels", "5"],
            "the following required arguments were not provided: --book",
        ),
        (
            &["--book", "--stream", "trade"],
            "--book keeps books from one diff depth stream per symbol",
        ),
        (
            &["--book", "--snapshot-limit", "6000"],
            "Binance serves 1 to 5000 levels",
        ),
    ];
    for (args, want) in cases {
        let out = Command::new(support::example_bin("binance_ticker"))
            .args(*args)
            .output()
            .unwrap();
        let stderr = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}
