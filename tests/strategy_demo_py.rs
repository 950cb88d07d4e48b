//! The Python strategy (`examples/strategy_demo.py`) against a bus published from this
//! process: stream names that are not ASCII, and its command-line behaviour.
//!
//! Needs the `iceoryx2` Python package (`./dev deps` installs it in `.venv`; `PYTHON` names
//! the interpreter). Without it the tests say so and pass, except in CI (`CI` set).

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fstack_bus::record::kind;
use fstack_bus::{BusConfig, BusPublisher, MarketRecord};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/strategy_demo.py")
}

fn trade(r: &mut MarketRecord, seq: u64) {
    r.kind = kind::TRADE;
    r.set_symbol("BTCUSDT");
    r.ints[0] = seq;
    r.ints[1] = 1_700_000_000_000 + seq;
    r.n_values = 2;
    r.mantissa[0] = 4_325_000_000_000 + seq as i64;
    r.scale[0] = 8;
    r.mantissa[1] = 1_000_000;
    r.scale[1] = 8;
}

/// Runs the Python strategy with `args` while this process publishes a trade on each of
/// `streams` every few milliseconds, until it exits (at most 60 s).
fn run_against_feed(python: &str, bus: &str, streams: &[&str], args: &[&str]) -> Output {
    run_against_feed_with(python, bus, streams, args, false, trade)
}

/// [`run_against_feed`]; with `head_one`, the strategy's stdout is closed after its first
/// line, like `| head -1` (the returned stdout is then empty).
fn run_against_feed_with(
    python: &str,
    bus: &str,
    streams: &[&str],
    args: &[&str],
    head_one: bool,
    fill: fn(&mut MarketRecord, u64),
) -> Output {
    let mut feed = BusPublisher::new(BusConfig::new(bus)).unwrap();
    for s in streams {
        feed.open_stream(s).unwrap();
    }
    let mut child = Command::new(python)
        .arg(script())
        .args(["--service", bus])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let head = head_one.then(|| {
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            line // the pipe closes here
        })
    });
    let start = Instant::now();
    let mut seq = 0;
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            break;
        }
        seq += 1;
        for s in streams {
            feed.publish(s, |r| fill(r, seq)).unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    if let Some(h) = head {
        assert!(h.join().unwrap().starts_with('{'));
    }
    out
}

#[test]
fn python_strategy_reads_a_unicode_stream() {
    let Some(python) = support::python_with_iceoryx2("") else {
        return;
    };
    let bus = format!("pyuni-{}", std::process::id());
    let stream = "币安人生usdt@trade";
    let out = run_against_feed(
        &python,
        &bus,
        &[stream],
        &["--count", "2", "--format", "json"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("attached to {stream}")),
        "{stderr}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(r#"{"stream":"\u5e01\u5b89\u4eba\u751fusdt@trade","kind":"trade""#),
        "{stdout}"
    );
}

/// `--service` follows the Rust side's rule and message: a name that cannot be a bus is an
/// error, not a strategy that silently reads nothing.
#[test]
fn python_strategy_rejects_invalid_bus_names() {
    let Some(python) = support::python_with_iceoryx2("") else {
        return;
    };
    for bad in ["", "a/b", "x y", &"n".repeat(65), "é"] {
        let out = Command::new(&python)
            .arg(script())
            .args(["--service", bad, "--duration", "1"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "strategy_demo.py: bus name must be 1 to 64 characters of letters, digits, '_', '.', '-'\n",
            "{bad:?}"
        );
    }
}

/// `... --format json | head -1`: one line on stderr after the summary, exit status 1, no
/// traceback (as the Rust example does).
#[test]
fn python_strategy_reports_a_closed_stdout_in_one_line() {
    let Some(python) = support::python_with_iceoryx2("") else {
        return;
    };
    let bus = format!("pypipe-{}", std::process::id());
    let out = run_against_feed_with(
        &python,
        &bus,
        &["btcusdt@trade"],
        &["--format", "json", "--duration", "30"],
        true,
        trade,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(!stderr.contains("Traceback"), "{stderr}");
    assert!(
        lines[lines.len() - 2].starts_with("strategy_demo.py: received "),
        "{stderr}"
    );
    assert_eq!(
        lines[lines.len() - 1],
        "strategy_demo.py: writing to stdout: Broken pipe (os error 32)"
    );
}

/// Latency samples spread from nanoseconds to beyond the histogram's 60 s, deterministic.
fn latency_samples(n: usize) -> Vec<u64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            // A log-uniform spread: 2^0 .. 2^37 ns.
            let bits = (x >> 58) % 38;
            (x >> 8) & ((1u64 << bits) - 1)
        })
        .collect()
}

/// The Python strategy keeps latency in fixed buckets (bounded memory however long it runs)
/// and prints the same summary as the Rust example for the same samples.
#[test]
fn python_latency_histogram_is_bounded_and_matches_the_rust_one() {
    let Some(python) = support::python_with_iceoryx2("") else {
        return;
    };
    let samples = latency_samples(200_000);
    let mut rust =
        fstack_bus::BusSubscriber::new(&format!("pyhist-{}", std::process::id()), false).unwrap();
    for &v in &samples {
        rust.latency_ns.saturating_record(v.max(1));
    }
    let code = r#"
import sys
sys.path.insert(0, sys.argv[1])
import strategy_demo as s
h = s.LatencyHistogram()
for line in sys.stdin:
    h.record(int(line))
# Bounded: one entry per bucket reached, never one per sample.
assert len(h.counts) <= 27 * 1024, len(h.counts)
print(h.summary())
print(len(h.counts))
"#;
    let mut child = Command::new(&python)
        .args(["-c", code])
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = samples.iter().map(|v| format!("{v}\n")).collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(input.as_bytes()).unwrap();
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some(rust.latency_summary().as_str()));
    let buckets: usize = lines.next().unwrap().parse().unwrap();
    assert!(buckets < samples.len() / 4, "{buckets} buckets");
}

/// The summary line keeps its format (the percentiles now come from the buckets).
#[test]
fn python_summary_line_format_is_unchanged() {
    let Some(python) = support::python_with_iceoryx2("") else {
        return;
    };
    let bus = format!("pysum-{}", std::process::id());
    let out = run_against_feed(&python, &bus, &["btcusdt@trade"], &["--count", "3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    let re_like = last
        .strip_prefix("strategy_demo.py: received ")
        .and_then(|r| r.split_once(", hand-off latency n="))
        .map(|(_, r)| {
            r.split(' ')
                .map(|w| w.split('=').next().unwrap_or(""))
                .collect::<Vec<_>>()
        });
    assert_eq!(
        re_like,
        Some(vec!["3", "p50", "p99", "p99.9", "max"]),
        "{last}"
    );
    for field in last.split(' ').filter(|w| w.ends_with("us")) {
        let v = field.split('=').nth(1).unwrap().trim_end_matches("us");
        let (_, frac) = v.split_once('.').unwrap_or_else(|| panic!("{last}"));
        assert_eq!(frac.len(), 2, "{last}");
    }
}

/// Started before its feed (or with a typo), the Python strategy says what it waits for, once.
#[test]
fn python_strategy_says_once_that_it_waits_for_a_missing_feed() {
    let Some(python) = support::python_with_iceoryx2("") else {
        return;
    };
    let bus = format!("pynofeed-{}", std::process::id());
    let out = Command::new(&python)
        .arg(script())
        .args(["--service", &bus, "--duration", "1.5"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let waiting = format!("strategy_demo.py: waiting for bus {bus} ...");
    assert_eq!(
        stderr.lines().filter(|l| *l == waiting).count(),
        1,
        "{stderr}"
    );
}

/// A trade whose quantity did not fit the record (slot 0, scale 0, `INEXACT`).
fn inexact_trade(r: &mut MarketRecord, seq: u64) {
    trade(r, seq);
    r.flags |= fstack_bus::record::flags::INEXACT;
    r.mantissa[1] = 0;
    r.scale[1] = 0;
}

/// The Python strategy shows `INEXACT` exactly as the Rust rendering does, in JSON and text.
#[test]
fn python_strategy_shows_inexact_records_like_rust() {
    let Some(python) = support::python_with_iceoryx2("") else {
        return;
    };
    for format in ["json", "text"] {
        let bus = format!("pyinexact{format}-{}", std::process::id());
        let stream = "btcusdt@trade";
        let out = run_against_feed_with(
            &python,
            &bus,
            &[stream],
            &["--count", "1", "--format", format],
            false,
            inexact_trade,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let got = String::from_utf8(out.stdout).unwrap();
        let got = got.trim_end();
        let seq: u64 = if format == "json" {
            let v: serde_json::Value = serde_json::from_str(got).unwrap();
            v["seq"].as_u64().unwrap()
        } else {
            got.split(' ').next().unwrap().parse().unwrap()
        };
        let mut want = MarketRecord::ZERO;
        inexact_trade(&mut want, seq);
        want.set_stream(stream);
        want.seq = seq;
        let mut line = String::new();
        if format == "json" {
            fstack_bus::record::write_json(&mut line, &want);
        } else {
            fstack_bus::record::write_text(&mut line, &want);
        }
        assert!(line.contains("inexact"), "{line}");
        assert_eq!(got, line);
    }
}
