//! A local stand-in for Binance's market-data WebSocket service: the command line of the
//! `fstack-mock-exchange` crate.
//!
//! ```text
//! cargo run --example mock_exchange -- [--listen ADDR:PORT] [--ca-out PEM] [--host NAME]...
//!     [--rate EVENTS_PER_SEC] [--ping-interval SECS] [--tls12-only] [--unlisted SYM]...
//!     [--fault SPEC]... [--duration SECS]
//! cargo run --example mock_exchange -- --check-books FILE [--book-levels N]
//! ```
//! `--rate 0` streams as fast as the client reads. The same port serves the REST depth
//! snapshot (`GET /api/v3/depth?symbol=S&limit=L`) from the books the diff depth streams
//! build. Faults (`--help` lists them with what they do): `drop-after=N`,
//! `malformed-every=N`, `oversize-every=N`, `stall-after=N`, `data-stall-after=N`,
//! `shutdown-notice-after=N` (counted in events per connection), `reject-upgrade=STATUS`,
//! `reject-first=N`, `retry-after=SECS`, `skip-diff=N`, `stale-snapshots=N`,
//! `rest-status=STATUS`, `rest-status-first=N`. `--unlisted SYM` makes a symbol one the mock
//! does not list (silent streams, HTTP 400 `Invalid symbol.`). The CA file is removed at
//! start and written whole (a temporary file renamed over it) once the mock listens, so a
//! client waiting for it never reads an old or partial one. Stops on Ctrl-C or after
//! `--duration`, printing its counters. A bad command line exits 2 with one line.
//!
//! `--check-books FILE` serves nothing: it checks `binance_ticker --book --format json`
//! output in FILE against the mock's books (every book line must show the best
//! `--book-levels` levels of the mock's book at its update id, or fewer of them, never a
//! wrong one), prints one line with what it checked and exits 0, or names the first
//! difference (or says FILE holds no book line) on stderr and exits 1.

use std::fmt::Write as _;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;
use fstack_examples::args;
use fstack_mock_exchange::{Faults, MockConfig, MockExchange};

/// The command line (`--help` prints it).
#[derive(Parser, Debug)]
#[command(
    name = "mock_exchange",
    about = "A local stand-in for Binance's market-data WebSocket service: wss:// with a \
             generated CA, raw and combined stream URLs, SUBSCRIBE, pings, order books with \
             their REST depth snapshot on the same port, and faults.",
    args_override_self = true,
    after_help = faults_help()
)]
struct Args {
    /// Address to listen on
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9443", value_parser = args::socket_addr)]
    listen: SocketAddr,
    /// Where to write the CA certificate (PEM) that clients trust
    #[arg(long, value_name = "PEM", default_value = "mock-ca.pem", value_parser = args::path)]
    ca_out: PathBuf,
    /// Name in the server certificate: a DNS name, or an IP address (an iPAddress name, for
    /// clients that connect to a literal address); repeatable [default: localhost,
    /// stream.binance.com]
    #[arg(long = "host", value_name = "NAME", value_parser = host)]
    hosts: Vec<String>,
    /// Events per second per stream; 0 sends as fast as the client reads
    #[arg(long, value_name = "N", default_value = "10", allow_negative_numbers = true, value_parser = rate)]
    rate: f64,
    /// Seconds between server pings
    #[arg(long, value_name = "SECS", default_value = "20", allow_negative_numbers = true, value_parser = args::seconds)]
    ping_interval: Duration,
    /// Offer TLS 1.2 only (default: TLS 1.3 and 1.2)
    #[arg(long)]
    tls12_only: bool,
    /// A fault applied to every connection (see Faults below); repeatable
    #[arg(long = "fault", value_name = "SPEC", value_parser = fault)]
    faults: Vec<String>,
    /// A symbol the mock does not list: its streams send nothing and the REST API answers
    /// HTTP 400 "Invalid symbol."; repeatable
    #[arg(long = "unlisted", value_name = "SYM", value_parser = symbol)]
    unlisted: Vec<String>,
    /// Serve nothing: check the book lines of `binance_ticker --book --format json` output
    /// in FILE against the mock's books, print what was checked, exit 0 (1 on a difference)
    #[arg(long, value_name = "FILE", value_parser = args::existing_file)]
    check_books: Option<PathBuf>,
    /// With --check-books: the levels per side each book line shows (binance_ticker's
    /// --book-levels)
    #[arg(long, value_name = "N", default_value = "10", requires = "check_books", value_parser = clap::value_parser!(u16).range(1..))]
    book_levels: u16,
    /// Stop after SECS seconds (default: run until Ctrl-C)
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, value_parser = args::seconds)]
    duration: Option<Duration>,
}

fn faults_help() -> String {
    let mut text = String::from(
        "Faults (--fault SPEC; N counts market events per connection unless said otherwise):\n",
    );
    let width = Faults::SPECS
        .iter()
        .map(|(s, _)| s.len())
        .max()
        .unwrap_or(0);
    for (spec, what) in Faults::SPECS {
        let _ = writeln!(text, "  {spec:width$}  {what}");
    }
    text
}

fn host(v: &str) -> Result<String, String> {
    if v.parse::<std::net::IpAddr>().is_ok() {
        return Ok(v.to_owned());
    }
    let label_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'*';
    if v.is_empty()
        || !v
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(label_char))
    {
        return Err("expected a DNS name (letters, digits, '-', dots) or an IP address".into());
    }
    Ok(v.to_owned())
}

fn rate(v: &str) -> Result<f64, String> {
    v.parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r >= 0.0)
        .ok_or_else(|| "expected a number of events per second (0 = unlimited)".into())
}

fn symbol(v: &str) -> Result<String, String> {
    if v.is_empty() || !v.chars().all(char::is_alphanumeric) {
        return Err("expected letters and digits, e.g. BTCUSDT".into());
    }
    Ok(v.to_uppercase())
}

fn fault(v: &str) -> Result<String, String> {
    Faults::default().apply(v).map(|()| v.to_owned())
}

fn main() -> ExitCode {
    match args::parse::<Args>() {
        Ok(args) => {
            // Faults that only make sense together are checked as a whole.
            let mut faults = Faults::default();
            let mut names = Vec::new();
            for spec in &args.faults {
                let name = spec.split('=').next().unwrap_or_default();
                if names.contains(&name) {
                    eprintln!("mock_exchange: fault {name} given twice (see --help)");
                    return ExitCode::from(2);
                }
                names.push(name);
                if let Err(e) = faults.apply(spec) {
                    eprintln!("mock_exchange: {e} (see --help)");
                    return ExitCode::from(2);
                }
            }
            if let Err(e) = faults.check() {
                eprintln!("mock_exchange: {e} (see --help)");
                return ExitCode::from(2);
            }
            args::exit("mock_exchange", run(args))
        }
        Err(code) => code,
    }
}

/// `--check-books FILE`: one line on stdout with what was checked.
fn check_books(path: &std::path::Path, levels: usize) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let check = fstack_mock_exchange::check_book_lines(&text, levels)
        .map_err(|e| format!("check-books: {}", e.replace('\n', " ")))?;
    let total: u64 = check.books.values().sum();
    if total == 0 {
        // Nothing was checked: no line that could pass for success.
        return Err(format!(
            "check-books: {} holds no book line ({} resync line(s)): nothing to check",
            path.display(),
            check.resyncs.values().sum::<u64>()
        ));
    }
    let per_symbol: Vec<String> = check
        .books
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    let resyncs: u64 = check.resyncs.values().sum();
    println!(
        "check-books: {total} book lines equal the mock's books (best {levels} levels, \
         {} with fewer; {}), {resyncs} resync line(s)",
        check.short,
        per_symbol.join(", ")
    );
    Ok(())
}

fn run(args: Args) -> Result<(), String> {
    if let Some(path) = &args.check_books {
        return check_books(path, usize::from(args.book_levels));
    }
    let mut config = MockConfig {
        listen: args.listen,
        rate: args.rate,
        ping_interval: args.ping_interval,
        tls12_only: args.tls12_only,
        unlisted: args.unlisted.clone(),
        ..MockConfig::default()
    };
    if !args.hosts.is_empty() {
        config.hostnames = args.hosts;
    }
    for spec in &args.faults {
        config.faults.apply(spec)?; // validated while parsing
    }
    let ca_out = args.ca_out.display().to_string();
    let duration = args.duration;

    // A CA file left from an earlier run must not be mistaken for this run's.
    match std::fs::remove_file(&args.ca_out) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(format!("removing the old {ca_out}: {e}")),
    }
    let shutdown = fstack::ShutdownSignal::install().map_err(|e| e.to_string())?;
    let mut mock = MockExchange::start(config.clone())
        .map_err(|e| format!("starting on {}: {e}", config.listen))?;
    mock.write_ca(&args.ca_out)
        .map_err(|e| format!("writing {ca_out}: {e}"))?;
    eprintln!(
        "mock_exchange: wss://{} (certificate for {}, {}), CA written to {ca_out}, {} events/s per stream",
        mock.local_addr(),
        config.hostnames.join(", "),
        if config.tls12_only { "TLS 1.2 only" } else { "TLS 1.3 and 1.2" },
        if config.rate == 0.0 { "unlimited".to_string() } else { config.rate.to_string() }
    );
    let start = Instant::now();
    while !shutdown.requested() && duration.is_none_or(|d| start.elapsed() < d) {
        std::thread::sleep(Duration::from_millis(50));
    }
    mock.stop();
    let s = mock.stats();
    eprintln!(
        "mock_exchange: stopped; connections {}, rejected upgrades {}, events {}, pings {}, pongs {}, control requests {}, client closes {}, REST connections {}, depth snapshots asked {}, diffs skipped {}",
        s.connections.load(Ordering::Relaxed),
        s.rejected_upgrades.load(Ordering::Relaxed),
        s.events.load(Ordering::Relaxed),
        s.pings.load(Ordering::Relaxed),
        s.pongs.load(Ordering::Relaxed),
        s.control_requests.load(Ordering::Relaxed),
        s.client_closes.load(Ordering::Relaxed),
        s.rest_connections.load(Ordering::Relaxed),
        s.depth_request_count.load(Ordering::Relaxed),
        s.skipped_diffs.load(Ordering::Relaxed),
    );
    Ok(())
}
