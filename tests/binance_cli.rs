//! The `binance_ticker` command line as other tools drive it: against `mock_exchange` (in this
//! process, on kernel sockets), `--count` with `--format json`, and a TLS verification failure
//! that must exit non-zero with the reason on one line.

#[path = "../fstack/tests/common/mod.rs"]
mod common;
mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use std::time::Duration;

use fstack_mock_exchange::{Faults, MockConfig, MockExchange};

/// The example binary `name`, built by cargo for this test's profile (never a guessed path
/// that could hold a stale build).
fn example(name: &str) -> PathBuf {
    support::example_bin(name)
}

/// Runs binance_ticker with the repository's F-Stack config and `args`.
fn run_ticker(args: &[&str]) -> Output {
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("f-stack.conf");
    Command::new(example("binance_ticker"))
        .args(["--config", config.to_str().unwrap()])
        .args(args)
        .output()
        .expect("run binance_ticker")
}

/// Runs binance_ticker against `mock` (trusting `ca`), bounded to 30 s.
fn ticker(mock: &MockExchange, ca: &str, extra: &[&str]) -> Output {
    let port = mock.local_addr().port();
    let endpoint = format!("wss://localhost:{port}");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let mut args = vec![
        "--endpoint",
        &endpoint,
        "--resolve",
        &resolve,
        "--ca-file",
        ca,
    ];
    args.extend(["--duration", "30"]);
    args.extend(extra);
    run_ticker(&args)
}

#[test]
fn count_and_json_output_then_tls_failure() {
    if fstack::backend() != fstack::Backend::Kernel {
        eprintln!("SKIPPED binance_cli: needs the kernel backend");
        return;
    }
    let mock = MockExchange::start(MockConfig {
        rate: 50.0,
        ..MockConfig::default()
    })
    .unwrap();
    let dir = std::env::temp_dir().join(format!("binance-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, mock.ca_pem()).unwrap();

    let out = ticker(
        &mock,
        ca.to_str().unwrap(),
        &[
            "--symbol",
            "BTCUSDT",
            "--stream",
            "trade",
            "--stream",
            "bookTicker",
            "--count",
            "10",
            "--format",
            "json",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 10, "{stdout}");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["symbol"], "BTCUSDT", "{line}");
        let event = v["event"].as_str().unwrap();
        assert!(event == "trade" || event == "bookTicker", "{line}");
        assert!(
            v["stream"].as_str().unwrap().starts_with("btcusdt@"),
            "{line}"
        );
        if event == "trade" {
            assert!(
                v["event_time"].as_u64().unwrap() > 1_600_000_000_000,
                "{line}"
            );
            // Decimal strings exactly as the server sent them.
            assert!(v["price"].as_str().unwrap().starts_with("432"), "{line}");
            assert_eq!(
                v["price"]
                    .as_str()
                    .unwrap()
                    .split('.')
                    .nth(1)
                    .unwrap()
                    .len(),
                8,
                "{line}"
            );
        }
    }
    assert!(stderr.contains("backend kernel"), "{stderr}");
    assert!(stderr.contains("events 10"), "summary missing: {stderr}");
    assert!(stderr.contains("p50"), "latency summary missing: {stderr}");

    // A flood (as fast as the client reads): --count still ends the run with exactly N lines.
    let flood = MockExchange::start(MockConfig {
        rate: 0.0,
        ..MockConfig::default()
    })
    .unwrap();
    let flood_ca = dir.join("flood.pem");
    std::fs::write(&flood_ca, flood.ca_pem()).unwrap();
    let out = ticker(
        &flood,
        flood_ca.to_str().unwrap(),
        &["--stream", "trade", "--count", "5000", "--format", "json"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        5000,
        "{stderr}"
    );
    drop(flood);

    // A CA that did not sign the server's certificate.
    let other = MockExchange::start(MockConfig::default()).unwrap();
    let wrong = dir.join("wrong.pem");
    std::fs::write(&wrong, other.ca_pem()).unwrap();
    let out = ticker(&mock, wrong.to_str().unwrap(), &["--count", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let error_lines: Vec<&str> = stderr.lines().filter(|l| !l.contains("backend")).collect();
    assert_eq!(error_lines.len(), 1, "{stderr}");
    assert!(
        error_lines[0].contains("certificate verification failed for localhost"),
        "{stderr}"
    );
    assert!(error_lines[0].contains("untrusted"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Nothing listens: refused, retried, then one line naming the cause.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("wss://localhost:{closed}");
    let resolve = format!("localhost:{closed}:127.0.0.1");
    let out = run_ticker(&[
        "--endpoint",
        &endpoint,
        "--resolve",
        &resolve,
        "--connect-retries",
        "2",
        "--count",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("giving up after 2 failed connection attempts"),
        "{stderr}"
    );
    assert!(last.contains("refused"), "{stderr}");
    assert_eq!(stderr.matches("reconnecting in").count(), 1, "{stderr}");

    // A name that does not resolve: the DNS error, not a panic.
    let out = run_ticker(&[
        "--endpoint",
        "wss://no-such-host.invalid:9443",
        "--connect-retries",
        "1",
        "--count",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr
            .lines()
            .last()
            .unwrap_or_default()
            .contains("DNS lookup of no-such-host.invalid failed"),
        "{stderr}"
    );

    // Bad arguments: exit at once with the reason.
    let out = run_ticker(&["--count", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--count"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A mock exchange with its CA in a file for `--ca-file` (removed when dropped).
struct Exchange {
    mock: MockExchange,
    ca: PathBuf,
}

impl Exchange {
    fn start(name: &str, config: MockConfig) -> Exchange {
        let mock = MockExchange::start(config).unwrap();
        let ca =
            std::env::temp_dir().join(format!("binance-cli-{name}-{}.pem", std::process::id()));
        std::fs::write(&ca, mock.ca_pem()).unwrap();
        Exchange { mock, ca }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca);
    }
}

/// `--format none`: nothing on stdout, every event still decoded and counted (the summary's
/// count is exact, with latency), under a flood as fast as the client reads.
#[test]
fn format_none_prints_nothing_and_counts_exactly() {
    if common::skip_unless_kernel_backend("format_none_prints_nothing_and_counts_exactly") {
        return;
    }
    let ex = Exchange::start(
        "none",
        MockConfig {
            rate: 0.0,
            ..MockConfig::default()
        },
    );
    let out = ticker(
        &ex.mock,
        ex.ca.to_str().unwrap(),
        &[
            "--stream", "ticker", "--stream", "trade", "--count", "3000", "--format", "none",
        ],
    );
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let summary: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("events "))
        .collect();
    assert_eq!(summary.len(), 1, "{stderr}");
    assert!(summary[0].starts_with("events 3000  messages "), "{stderr}");
    assert!(
        stderr.contains("latency us (event time -> receive, n=3000, ms timestamps): p50 "),
        "{stderr}"
    );
}

/// Argument errors: exit 2, one line naming the option, `(see --help)` once; `--help` on
/// stdout, exit 0.
#[test]
fn bad_arguments_exit_2_with_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["--bogus"], "unexpected argument '--bogus' found"),
        (
            &["--connect-retries", "0"],
            "'--connect-retries <N>': must be at least 1",
        ),
        (
            &["--count", "-1"],
            "'--count <N>': expected a positive integer",
        ),
        (&["--count", "0"], "'--count <N>': must be at least 1"),
        (&["--stream", "depth7"], "depth, depth5, depth10 or depth20"),
        (&["--symbol", "btc usdt"], "invalid symbol"),
        (
            &["--config", "/nonexistent/f-stack.conf"],
            "cannot read it: No such file",
        ),
        (&["--stall-timeout", "soon"], "'--stall-timeout <SECS>'"),
    ];
    for (args, want) in cases {
        // No --config from run_ticker for the --config case itself: it must fail on its own.
        let out = Command::new(example("binance_ticker"))
            .args(*args)
            .output()
            .unwrap();
        let stderr = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("binance_ticker: "), "{stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert_eq!(stderr.matches("(see --help)").count(), 1, "{stderr}");
    }
    let out = Command::new(example("binance_ticker"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--stall-timeout",
        "--connect-timeout",
        "--connect-retries",
        "depth20",
        "text, json (one JSON object per line) or none",
    ] {
        assert!(help.contains(opt), "{opt}: {help}");
    }
}

/// A spot pair whose symbol is not ASCII streams like any other (URL percent-encoded, JSON
/// output in UTF-8).
#[test]
fn non_ascii_symbol() {
    if common::skip_unless_kernel_backend("non_ascii_symbol") {
        return;
    }
    let ex = Exchange::start(
        "utf8",
        MockConfig {
            rate: 50.0,
            ..MockConfig::default()
        },
    );
    let (mock, ca) = (&ex.mock, &ex.ca);
    let out = ticker(
        mock,
        ca.to_str().unwrap(),
        &[
            "--symbol",
            "币安人生USDT",
            "--stream",
            "trade",
            "--count",
            "5",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 5, "{stdout}");
    for (i, line) in stdout.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["stream"], "币安人生usdt@trade", "{line}");
        assert_eq!(v["symbol"], "币安人生USDT", "{line}");
        assert_eq!(v["trade_id"], i as u64 + 1, "{line}");
    }
}

/// HTTP 429 on upgrade: the next attempt waits for Retry-After (seen at the server), then
/// streams; `--connect-timeout` names the step that stalled.
#[test]
fn rate_limited_upgrade_and_connect_timeout() {
    if common::skip_unless_kernel_backend("rate_limited_upgrade_and_connect_timeout") {
        return;
    }
    let ex = Exchange::start(
        "429",
        MockConfig {
            rate: 50.0,
            faults: Faults {
                reject_upgrade: Some(429),
                reject_first: Some(1),
                retry_after: Some(2),
                ..Faults::default()
            },
            ..MockConfig::default()
        },
    );
    let (mock, ca) = (&ex.mock, &ex.ca);
    let out = ticker(
        mock,
        ca.to_str().unwrap(),
        &[
            "--stream",
            "trade",
            "--count",
            "3",
            "--connect-retries",
            "2",
        ],
    );
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    assert!(
        stderr.contains(": WebSocket upgrade rejected by localhost: HTTP 429 (Retry-After 2 s)")
            && stderr.contains("binance_ticker: reconnecting in 2."),
        "{stderr}"
    );
    let times = mock.stats().upgrade_times.lock().unwrap().clone();
    assert_eq!(times.len(), 2, "{stderr}");
    assert!(
        times[1] - times[0] >= Duration::from_secs(2),
        "{:?}",
        times[1] - times[0]
    );

    // A server that accepts TCP but never answers the TLS handshake.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let endpoint = format!("wss://localhost:{port}");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let out = run_ticker(&[
        "--endpoint",
        &endpoint,
        "--resolve",
        &resolve,
        "--connect-timeout",
        "0.5",
        "--connect-retries",
        "1",
        "--count",
        "1",
    ]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().last().unwrap_or_default(),
        format!(
            "binance_ticker: giving up after 1 failed connection attempt; last error: \
             connecting timed out after 500ms in the TLS handshake with 127.0.0.1:{port}"
        ),
        "{stderr}"
    );
    drop(silent);
}

/// Output that cannot be written ends the run with one line naming why, instead of streaming
/// into the void: a full disk, and a reader that went away (`binance_ticker | head -2`).
#[test]
fn stdout_write_errors_end_the_run() {
    if common::skip_unless_kernel_backend("stdout_write_errors_end_the_run") {
        return;
    }
    let ex = Exchange::start(
        "out",
        MockConfig {
            rate: 100.0,
            ..MockConfig::default()
        },
    );
    let (mock, ca) = (&ex.mock, &ex.ca);
    let port = mock.local_addr().port();
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("f-stack.conf");
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = [
            "--config",
            config.to_str().unwrap(),
            "--endpoint",
            &format!("wss://localhost:{port}"),
            "--resolve",
            &format!("localhost:{port}:127.0.0.1"),
            "--ca-file",
            ca.to_str().unwrap(),
            "--stream",
            "trade",
            "--duration",
            "30",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };

    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(example("binance_ticker"))
        .args(args(&["--count", "20000"]))
        .stdout(full)
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().last().unwrap_or_default(),
        "binance_ticker: writing to stdout: No space left on device (os error 28)",
        "{stderr}"
    );

    let mut child = Command::new(example("binance_ticker"))
        .args(args(&[]))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(lines.next().unwrap().unwrap().starts_with("BTCUSDT"));
        assert!(lines.next().unwrap().unwrap().starts_with("BTCUSDT"));
    } // the reader goes away
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = stderr_of(&out);
    assert!(started.elapsed() < Duration::from_secs(20), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().last().unwrap_or_default(),
        "binance_ticker: writing to stdout: Broken pipe (os error 32)",
        "{stderr}"
    );
}

/// `--latency-histogram FILE`: the histogram the summary was computed from, as HdrHistogram
/// V2 + DEFLATE that reads back with the same count; a path that cannot be created fails
/// before connecting (exit 1, one line).
#[test]
fn latency_histogram_file() {
    if common::skip_unless_kernel_backend("latency_histogram_file") {
        return;
    }
    use fstack_binance::stats::hdrhistogram::serialization::Deserializer;
    use fstack_binance::stats::hdrhistogram::Histogram;

    let mock = MockExchange::start(MockConfig {
        rate: 50.0,
        ..MockConfig::default()
    })
    .unwrap();
    let dir = std::env::temp_dir().join(format!("binance-cli-hdr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, mock.ca_pem()).unwrap();
    let file = dir.join("latency.hdr");
    let out = ticker(
        &mock,
        ca.to_str().unwrap(),
        &[
            "--stream",
            "trade",
            "--count",
            "20",
            "--latency-histogram",
            file.to_str().unwrap(),
        ],
    );
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("latency us (event time -> receive, n=20, ms timestamps): p50 "),
        "{stderr}"
    );
    let bytes = std::fs::read(&file).unwrap();
    assert!(
        stderr.contains(&format!(
            "binance_ticker: latency histogram (n=20, HdrHistogram V2 + DEFLATE, {} bytes) written to {}",
            bytes.len(),
            file.display()
        )),
        "{stderr}"
    );
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .expect("V2 + DEFLATE histogram");
    assert_eq!(h.len(), 20);
    assert_eq!(h.sigfig(), 3);
    let _ = std::fs::remove_dir_all(&dir);

    // A failed run leaves an existing file as it was.
    let kept = std::env::temp_dir().join(format!("binance-cli-kept-{}.hdr", std::process::id()));
    std::fs::write(&kept, b"earlier run").unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run_ticker(&[
        "--latency-histogram",
        kept.to_str().unwrap(),
        "--endpoint",
        &format!("wss://localhost:{closed}"),
        "--resolve",
        &format!("localhost:{closed}:127.0.0.1"),
        "--connect-retries",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(std::fs::read(&kept).unwrap(), b"earlier run");
    let _ = std::fs::remove_file(&kept);

    let out = run_ticker(&["--latency-histogram", "/nonexistent/dir/latency.hdr"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr.trim_end(),
        "binance_ticker: --latency-histogram /nonexistent/dir/latency.hdr: No such file or \
         directory (os error 2)"
    );
}

/// An IPv6 literal endpoint, `wss://[::1]:PORT`, from the command line: dialed without
/// `--resolve`, verified against the certificate's iPAddress name, exact events out.
#[test]
fn ipv6_literal_endpoint() {
    if common::skip_unless_kernel_backend("ipv6_literal_endpoint") {
        return;
    }
    let ex = Exchange::start(
        "v6",
        MockConfig {
            listen: "[::1]:0".parse().unwrap(),
            hostnames: vec!["::1".into()],
            rate: 50.0,
            ..MockConfig::default()
        },
    );
    let (mock, ca) = (&ex.mock, &ex.ca);
    let endpoint = format!("wss://[::1]:{}/?probe=v6", mock.local_addr().port());
    let out = run_ticker(&[
        "--endpoint",
        &endpoint,
        "--ca-file",
        ca.to_str().unwrap(),
        "--stream",
        "trade",
        "--count",
        "3",
        "--format",
        "json",
        "--duration",
        "30",
    ]);
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let ids: Vec<u64> = stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(
                (v["stream"].as_str(), v["symbol"].as_str()),
                (Some("btcusdt@trade"), Some("BTCUSDT")),
                "{l}"
            );
            assert_eq!(
                v["price"],
                fstack_mock_exchange::price(
                    4_325_012_000_000,
                    v["trade_id"].as_u64().unwrap(),
                    1_000_000
                ),
                "{l}"
            );
            v["trade_id"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(ids, [1, 2, 3], "{stdout}");
    assert!(stderr.contains("connected to [::1]:"), "{stderr}");
    // The endpoint's query parameter reached the server with the request.
    assert_eq!(
        *mock.stats().request_targets.lock().unwrap(),
        ["/ws/btcusdt@trade?probe=v6"]
    );
}

/// `--tls` picks the engine; the stderr line at connect names the version and suite it got:
/// TLS 1.3 from a server that offers it, TLS 1.2 from one that offers only that.
#[test]
fn each_engine_says_what_it_negotiated() {
    if common::skip_unless_kernel_backend("each_engine_says_what_it_negotiated") {
        return;
    }
    for tls12_only in [false, true] {
        let ex = Exchange::start(
            "engines",
            MockConfig {
                rate: 50.0,
                tls12_only,
                ..MockConfig::default()
            },
        );
        for engine in fstack_tls::Engine::available() {
            let out = ticker(
                &ex.mock,
                ex.ca.to_str().unwrap(),
                &["--tls", engine.name(), "--count", "2", "--format", "json"],
            );
            let stderr = stderr_of(&out);
            assert!(out.status.success(), "{engine}: {stderr}");
            assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
            let (version, suite) = if tls12_only {
                ("TLSv1.2", "TLS_ECDHE_ECDSA_WITH_")
            } else {
                ("TLSv1.3", "TLS_")
            };
            let line = stderr
                .lines()
                .find(|l| l.contains("connected to"))
                .unwrap_or_else(|| panic!("{engine}: no connect line in {stderr}"));
            let tail = line.split(" over ").nth(1).unwrap_or("");
            assert!(
                tail.starts_with(&format!("{version} {suite}"))
                    && tail.ends_with(&format!("({engine})")),
                "{engine}, TLS 1.2 only: {tls12_only}: {line}"
            );
        }
    }
    let out = run_ticker(&["--tls", "openssl"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("unknown TLS engine \"openssl\": expected one of rustls"),
        "{stderr}"
    );
}
