//! The command lines of `tls_get`, `mock_exchange` and `tcp_latency` (clap, through
//! `fstack_examples::args`): a bad command line exits 2 with exactly one line on stderr ending
//! in `(see --help)`, nothing on stdout; `--help` exits 0 with every option on stdout. None of
//! these runs touches F-Stack. Also: `mock_exchange` replaces a stale CA file only with a whole
//! new one.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fstack_mock_exchange::Faults;

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(support::example_bin(name))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"))
}

/// `name args` exits 2 with nothing on stdout and exactly `NAME: want` as its one stderr line.
fn assert_usage_error(name: &str, args: &[&str], want: &str) {
    let out = run(name, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{name} {args:?}: stdout not empty");
    assert_eq!(stderr.lines().count(), 1, "{name} {args:?}: {stderr}");
    assert_eq!(stderr.matches("(see --help)").count(), 1, "{stderr}");
    assert_eq!(stderr, format!("{name}: {want}\n"), "{name} {args:?}");
}

/// `mock_exchange --check-books` on a file without a book line: exit 1, nothing on stdout,
/// one line on stderr saying there was nothing to check.
#[test]
fn check_books_on_an_empty_file() {
    let path = std::env::temp_dir().join(format!("check-books-empty-{}.json", std::process::id()));
    std::fs::write(&path, "").unwrap();
    let out = run("mock_exchange", &["--check-books", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(
        stderr,
        format!(
            "mock_exchange: check-books: {} holds no book line (0 resync line(s)): nothing to \
             check\n",
            path.display()
        )
    );
}

/// `name --help` (and `-h`) exits 0 with `words` on stdout and nothing on stderr.
fn assert_help(name: &str, words: &[&str]) {
    for flag in ["--help", "-h"] {
        let out = run(name, &[flag]);
        let help = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name} {flag}");
        assert!(out.stderr.is_empty(), "{name} {flag}: {:?}", out.stderr);
        assert!(help.contains(&format!("\nUsage: {name} ")), "{help}");
        for word in words {
            assert!(
                help.contains(word),
                "{name} {flag}: {word:?} missing from\n{help}"
            );
        }
    }
}

#[test]
fn tls_get() {
    let cases: &[(&[&str], &str)] = &[
        (&["--bogus"], "unexpected argument '--bogus' found (see --help)"),
        (&[], "the following required arguments were not provided: <URL> (see --help)"),
        (&["--insecure"], "the following required arguments were not provided: <URL> (see --help)"),
        (&["https://a/", "https://b/"], "unexpected argument 'https://b/' found (see --help)"),
        (&["http://localhost/"], "invalid value 'http://localhost/' for '<URL>': not an https:// URL (see --help)"),
        (&["https://:443/"], "invalid value 'https://:443/' for '<URL>': not a URL: empty host (see --help)"),
        (&["https://h:99999/"], "invalid value 'https://h:99999/' for '<URL>': not a URL: invalid port number (see --help)"),
        (&["https://h:0/"], "invalid value 'https://h:0/' for '<URL>': port 0 cannot be connected to (see --help)"),
        (&["https://a b/"], "invalid value 'https://a b/' for '<URL>': not a URL: invalid international domain name (see --help)"),
        (&["https://user@h/"], "invalid value 'https://user@h/' for '<URL>': user info in the URL is not supported (see --help)"),
        (&["--config", "/nonexistent/f-stack.conf", "https://h/"], "invalid value '/nonexistent/f-stack.conf' for '--config <FILE>': cannot read it: No such file or directory (os error 2) (see --help)"),
        (&["--ca-file", "/nonexistent/ca.pem", "https://h/"], "invalid value '/nonexistent/ca.pem' for '--ca-file <PEM>': cannot read it: No such file or directory (os error 2) (see --help)"),
        (&["--timeout", "0", "https://h/"], "invalid value '0' for '--timeout <SECS>': expected a positive number of seconds (see --help)"),
        (&["--timeout", "-1", "https://h/"], "invalid value '-1' for '--timeout <SECS>': expected a positive number of seconds (see --help)"),
        (&["--timeout", "https://h/"], "invalid value 'https://h/' for '--timeout <SECS>': expected a positive number of seconds (see --help)"),
        (&["https://h/", "--timeout"], "a value is required for '--timeout <SECS>' but none was supplied (see --help)"),
        (&["--resolve", "h:443", "https://h/"], "invalid value 'h:443' for '--resolve <HOST:PORT:ADDR>': expected HOST:PORT:ADDR, got \"h:443\" (see --help)"),
        (&["--resolve", "h:443:nothost", "https://h/"], "invalid value 'h:443:nothost' for '--resolve <HOST:PORT:ADDR>': invalid address \"nothost\" (see --help)"),
        (&["--ca-file=", "https://h/"], "invalid value '' for '--ca-file <PEM>': needs a path (see --help)"),
        (&["--config", "", "https://h/"], "invalid value '' for '--config <FILE>': needs a path (see --help)"),
    ];
    for (args, want) in cases {
        assert_usage_error("tls_get", args, want);
    }
    assert_help(
        "tls_get",
        &[
            "<URL>",
            "https://HOST[:PORT]/PATH",
            "--ca-file <PEM>",
            "--resolve <HOST:PORT:ADDR>",
            "--config <FILE>",
            "[default: f-stack.conf]",
            "--timeout <SECS>",
            "[default: 30]",
            "-k, --insecure",
            "-h, --help",
        ],
    );
}

#[test]
fn mock_exchange() {
    let cases: &[(&[&str], &str)] = &[
        (&["--bogus"], "unexpected argument '--bogus' found (see --help)"),
        (&["extra"], "unexpected argument 'extra' found (see --help)"),
        (&["--fault", "explode=1"], "invalid value 'explode=1' for '--fault <SPEC>': unknown fault `explode` (expected drop-after, malformed-every, oversize-every, stall-after, data-stall-after, shutdown-notice-after, reject-upgrade, reject-first, retry-after, skip-diff, stale-snapshots, rest-status, rest-status-first) (see --help)"),
        (&["--fault", "drop-after=0"], "invalid value 'drop-after=0' for '--fault <SPEC>': drop-after needs a positive integer (see --help)"),
        (&["--fault", "stall-after"], "invalid value 'stall-after' for '--fault <SPEC>': expected NAME=N (see --help)"),
        (&["--fault", "reject-upgrade=200"], "invalid value 'reject-upgrade=200' for '--fault <SPEC>': STATUS must be 400-599 (see --help)"),
        (&["--fault", "reject-first=2"], "fault reject-first=N needs reject-upgrade=STATUS (see --help)"),
        (&["--fault", "retry-after=2"], "fault retry-after=SECS needs reject-upgrade=STATUS or rest-status=STATUS (see --help)"),
        (&["--fault", "rest-status-first=2"], "fault rest-status-first=N needs rest-status=STATUS (see --help)"),
        (&["--fault", "rest-status=99"], "invalid value 'rest-status=99' for '--fault <SPEC>': STATUS must be 400-599 (see --help)"),
        (&["--unlisted", "no coin"], "invalid value 'no coin' for '--unlisted <SYM>': expected letters and digits, e.g. BTCUSDT (see --help)"),
        (&["--book-levels", "3"], "the following required arguments were not provided: --check-books <FILE> (see --help)"),
        (&["--check-books", "/nonexistent/out.json"], "invalid value '/nonexistent/out.json' for '--check-books <FILE>': cannot read it: No such file or directory (os error 2) (see --help)"),
        (&["--listen", "localhost"], "invalid value 'localhost' for '--listen <ADDR:PORT>': expected ADDR:PORT (IPv6 as [ADDR]:PORT) (see --help)"),
        (&["--rate", "-1"], "invalid value '-1' for '--rate <N>': expected a number of events per second (0 = unlimited) (see --help)"),
        (&["--rate", "fast"], "invalid value 'fast' for '--rate <N>': expected a number of events per second (0 = unlimited) (see --help)"),
        (&["--ping-interval", "0"], "invalid value '0' for '--ping-interval <SECS>': expected a positive number of seconds (see --help)"),
        (&["--duration", "-5"], "invalid value '-5' for '--duration <SECS>': expected a positive number of seconds (see --help)"),
        (&["--duration"], "a value is required for '--duration <SECS>' but none was supplied (see --help)"),
        (&["--host", ""], "invalid value '' for '--host <NAME>': expected a DNS name (letters, digits, '-', dots) or an IP address (see --help)"),
        (&["--host", "a b"], "invalid value 'a b' for '--host <NAME>': expected a DNS name (letters, digits, '-', dots) or an IP address (see --help)"),
        (&["--fault", "reject-upgrade=429", "--fault", "reject-upgrade=503"], "fault reject-upgrade given twice (see --help)"),
        (&["--ca-out", ""], "invalid value '' for '--ca-out <PEM>': needs a path (see --help)"),
    ];
    for (args, want) in cases {
        assert_usage_error("mock_exchange", args, want);
    }
    let mut words = vec![
        "--listen <ADDR:PORT>",
        "[default: 127.0.0.1:9443]",
        "--ca-out <PEM>",
        "[default: mock-ca.pem]",
        "--host <NAME>",
        "[default: localhost, stream.binance.com]",
        "--rate <N>",
        "[default: 10]",
        "--ping-interval <SECS>",
        "[default: 20]",
        "--fault <SPEC>",
        "--unlisted <SYM>",
        "--check-books <FILE>",
        "--book-levels <N>",
        "--duration <SECS>",
        "-h, --help",
        // Every fault, by name (the list the feed tests rely on).
        "  drop-after=N ",
        "  malformed-every=N ",
        "  oversize-every=N ",
        "  stall-after=N ",
        "  data-stall-after=N ",
        "  shutdown-notice-after=N ",
        "  reject-upgrade=STATUS ",
        "  reject-first=N ",
        "  retry-after=SECS ",
        "  skip-diff=N ",
        "  stale-snapshots=N ",
        "  rest-status=STATUS ",
        "  rest-status-first=N ",
    ];
    // ... and with what it does.
    words.extend(Faults::SPECS.iter().map(|(_, what)| *what));
    assert_help("mock_exchange", &words);
}

#[test]
fn tcp_latency() {
    let cases: &[(&[&str], &str)] = &[
        (&["--bogus"], "unexpected argument '--bogus' found (see --help)"),
        (&[], "the following required arguments were not provided: --connect <ADDR:PORT> (see --help)"),
        (&["--count", "5"], "the following required arguments were not provided: --connect <ADDR:PORT> (see --help)"),
        (&["--connect", "localhost:7"], "invalid value 'localhost:7' for '--connect <ADDR:PORT>': expected ADDR:PORT (IPv6 as [ADDR]:PORT) (see --help)"),
        (&["--connect", "127.0.0.1:7", "--count", "x"], "invalid value 'x' for '--count <N>': expected a whole number (see --help)"),
        (&["--connect", "127.0.0.1:7", "--count", "-1"], "invalid value '-1' for '--count <N>': expected a whole number (see --help)"),
        (&["--connect", "127.0.0.1:7", "--warmup", "1.5"], "invalid value '1.5' for '--warmup <W>': expected a whole number (see --help)"),
        (&["--connect", "127.0.0.1:7", "--connects", "0"], "invalid value '0' for '--connects <K>': must be at least 1 (see --help)"),
        (&["--connect", "127.0.0.1:7", "--size=0"], "invalid value '0' for '--size <BYTES>': must be at least 1 (see --help)"),
        (&["--connect", "127.0.0.1:7", "--size", "99999999999999999999999"], "invalid value '99999999999999999999999' for '--size <BYTES>': number out of range (see --help)"),
        (&["--connect", "127.0.0.1:7", "--size", "100000000000"], "invalid value '100000000000' for '--size <BYTES>': must be at most 16777216 (see --help)"),
        (&["--connect", "127.0.0.1:7", "--count", "0"], "invalid value '0' for '--count <N>': must be at least 1 (see --help)"),
        (&["--connect", "127.0.0.1:7", "--count", "100000000000"], "invalid value '100000000000' for '--count <N>': must be at most 10000000 (see --help)"),
        (&["--connect", "127.0.0.1:7", "--connects", "100000000000"], "invalid value '100000000000' for '--connects <K>': must be at most 100000 (see --help)"),
        (&["--connect", "127.0.0.1:7", "--warmup", "18446744073709551615"], "invalid value '18446744073709551615' for '--warmup <W>': must be at most 10000000 (see --help)"),
        (&["--connect", "127.0.0.1:7", "--config"], "a value is required for '--config <FILE>' but none was supplied (see --help)"),
    ];
    for (args, want) in cases {
        assert_usage_error("tcp_latency", args, want);
    }
    assert_help(
        "tcp_latency",
        &[
            "--connect <ADDR:PORT>",
            "--config <FILE>",
            "[default: f-stack.conf]",
            "--count <N>",
            "[default: 1000]",
            "--connects <K>",
            "[default: 10]",
            "--warmup <W>",
            "--size <BYTES>",
            "[default: 64]",
            "-h, --help",
        ],
    );
}

/// mock_exchange removes a stale CA file before it binds and writes the new one whole once it
/// listens: a client polling for the file sees no file or the complete new certificate, never
/// the old or a partial one. A bad command line leaves the file alone.
#[test]
fn mock_exchange_replaces_a_stale_ca_file_whole() {
    let dir = std::env::temp_dir().join(format!("cli-args-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    let ca_arg = ca.to_str().unwrap();
    std::fs::write(&ca, "stale").unwrap();

    assert_usage_error(
        "mock_exchange",
        &["--ca-out", ca_arg, "--rate", "x"],
        "invalid value 'x' for '--rate <N>': expected a number of events per second (0 = unlimited) (see --help)",
    );
    assert_eq!(std::fs::read_to_string(&ca).unwrap(), "stale");

    let mut child = Command::new(support::example_bin("mock_exchange"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--ca-out",
            ca_arg,
            "--duration",
            "60",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Until the mock has started, the old file may still be there; after that the file is
    // missing or a whole certificate, never empty or partial (the write is atomic).
    let whole = |s: &str| {
        s.starts_with("-----BEGIN CERTIFICATE-----\n")
            && s.trim_end().ends_with("-----END CERTIFICATE-----")
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let pem = loop {
        match std::fs::read_to_string(&ca) {
            Ok(s) if s == "stale" => {}
            Ok(s) => {
                if !whole(&s) {
                    let _ = child.kill();
                    panic!("a partial CA file appeared: {s:?}");
                }
                break s;
            }
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}"),
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no new CA file within 60 s");
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(whole(&pem), "{pem}");
    // Once the file is there the mock listens (it prints its address after writing the file).
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .strip_prefix("mock_exchange: wss://")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{line}"));
    assert_eq!(
        std::fs::read_to_string(&ca).unwrap(),
        pem,
        "the CA file changed after start"
    );
    let connected = std::net::TcpStream::connect(addr);
    let _ = child.kill();
    let _ = child.wait();
    connected.unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    let names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(names, [ca], "no temporary file left");
    std::fs::remove_dir_all(&dir).unwrap();
}
