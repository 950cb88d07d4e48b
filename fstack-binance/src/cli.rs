//! The `binance_ticker` command line (a contract other tools drive; `--help` lists it).
//!
//! Parsed with clap. [`parse_args`] never panics and never exits: bad arguments give a one-line
//! [`CliError`] (the caller exits 2), `--help` gives [`Command::Help`] with the text.
//! Options take their value as the next argument or after `=` (`--count 5`, `--count=5`).
//! Single-valued options given twice keep the last value. `--symbol` and `--stream` are
//! repeatable (each may also be a comma-separated list); giving any replaces the default.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};
use fstack_tls::Engine;

use crate::book::snapshot::{request_weight, MAX_LIMIT};
use crate::book::BookConfig;
use crate::decimal::DecimalValue;
use crate::endpoint::Endpoint;
use crate::feed::{FeedConfig, StallTimeout};
use crate::output::Format;
use crate::rest::{RestConfig, RestEndpoint};
use crate::stream::{streams_for, DepthSpeed, Stream, StreamKind, TimeUnit};

/// A bad command line, as one line of text (e.g. `invalid value 'x' for '--count <N>': ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

/// A `--resolve HOST:PORT:ADDR` override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    /// Host name (lowercased).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Address to connect to.
    pub addr: IpAddr,
}

impl Resolve {
    /// Parses `HOST:PORT:ADDR` (ADDR may be an IPv6 literal, with or without brackets).
    pub fn parse(s: &str) -> Result<Self, CliError> {
        let bad = || CliError(format!("expected HOST:PORT:ADDR, got {s:?}"));
        let (host, rest) = s.split_once(':').ok_or_else(bad)?;
        let (port, addr) = rest.split_once(':').ok_or_else(bad)?;
        if host.is_empty() {
            return Err(bad());
        }
        let port = match port.parse::<u16>() {
            Ok(p) if p != 0 && port.bytes().all(|b| b.is_ascii_digit()) => p,
            _ => return Err(CliError(format!("invalid port {port:?}"))),
        };
        let a = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr);
        let addr = a
            .parse::<IpAddr>()
            .map_err(|_| CliError(format!("invalid address {addr:?}")))?;
        Ok(Resolve {
            host: host.to_ascii_lowercase(),
            port,
            addr,
        })
    }
}

/// `--book` and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookOptions {
    /// `--book-levels`: levels per side printed (default 10).
    pub levels: usize,
    /// `--snapshot-limit`: levels per side of each REST snapshot, 1 to 5000 (default 1000).
    pub snapshot_limit: u32,
    /// `--rest-endpoint` (default `https://api.binance.com`).
    pub rest_endpoint: RestEndpoint,
}

impl BookOptions {
    /// Levels printed per side unless `--book-levels` says otherwise.
    pub const DEFAULT_LEVELS: usize = 10;
    /// Snapshot depth unless `--snapshot-limit` says otherwise (request weight 50).
    pub const DEFAULT_SNAPSHOT_LIMIT: u32 = 1000;
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `--endpoint`
    pub endpoint: Endpoint,
    /// `--symbol`, lowercased, duplicates removed (default `["btcusdt"]`).
    pub symbols: Vec<String>,
    /// `--stream`, duplicates removed (default `[Ticker]`).
    pub kinds: Vec<StreamKind>,
    /// `--ca-file`
    pub ca_file: Option<PathBuf>,
    /// `--tls`: the TLS engine (default [`Engine::default()`], rustls when compiled in).
    pub tls: Engine,
    /// `--resolve` entries.
    pub resolve: Vec<Resolve>,
    /// `--config` (default `f-stack.conf`; must exist).
    pub fstack_config: PathBuf,
    /// `--count` (at least 1).
    pub count: Option<u64>,
    /// `--duration` (positive).
    pub duration: Option<Duration>,
    /// `--read-timeout` (positive, default 60 s).
    pub read_timeout: Duration,
    /// `--stall-timeout` (default automatic; `0` turns the data watchdog off).
    pub stall_timeout: StallTimeout,
    /// `--connect-timeout` (positive, default 10 s).
    pub connect_timeout: Duration,
    /// `--connect-retries` (at least 1, default 5).
    pub connect_retries: u32,
    /// `--format`
    pub format: Format,
    /// `--latency-histogram`: where to write the latency histogram at a clean exit.
    pub latency_histogram: Option<PathBuf>,
    /// `--book` and its options; `None` without `--book`.
    pub book: Option<BookOptions>,
    /// `--publish NAME`: publish every event on the market-data bus NAME (shared memory).
    pub publish: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        let feed = FeedConfig::new("", 0, Vec::new());
        Config {
            endpoint: Endpoint::parse(Endpoint::DEFAULT).expect("default endpoint is valid"),
            symbols: vec!["btcusdt".to_owned()],
            kinds: vec![StreamKind::Ticker],
            ca_file: None,
            tls: Engine::default(),
            resolve: Vec::new(),
            fstack_config: PathBuf::from("f-stack.conf"),
            count: None,
            duration: None,
            read_timeout: feed.read_timeout,
            stall_timeout: feed.stall_timeout,
            connect_timeout: feed.connect_timeout,
            connect_retries: feed.connect_retries,
            format: Format::Text,
            latency_histogram: None,
            book: None,
            publish: None,
        }
    }
}

impl Config {
    /// Every symbol × kind stream, in order (symbols outermost).
    pub fn streams(&self) -> Vec<Stream> {
        // Symbols and kinds were validated while parsing.
        streams_for(&self.symbols, &self.kinds).unwrap_or_default()
    }

    /// The `--resolve` address for `host:port`, if any (host compared case-insensitively).
    pub fn resolve_for(&self, host: &str, port: u16) -> Option<IpAddr> {
        self.resolve
            .iter()
            .rev()
            .find(|r| r.port == port && r.host.eq_ignore_ascii_case(host))
            .map(|r| r.addr)
    }

    /// Timestamp unit implied by the endpoint's query.
    pub fn time_unit(&self) -> TimeUnit {
        self.endpoint.time_unit()
    }

    /// The feed's configuration: endpoint, streams, `--resolve`, timeouts and retries; the
    /// rest keeps [`FeedConfig::new`]'s defaults.
    pub fn feed_config(&self) -> FeedConfig {
        let e = &self.endpoint;
        let mut f = FeedConfig::for_endpoint(e.clone(), self.streams());
        f.resolve = self
            .resolve_for(&e.host, e.port)
            .map(|ip| SocketAddr::new(ip, e.port));
        f.read_timeout = self.read_timeout;
        f.stall_timeout = self.stall_timeout;
        f.connect_timeout = self.connect_timeout;
        f.connect_retries = self.connect_retries;
        f
    }

    /// With `--book`: the books' configuration (the feed's, the REST endpoint with its
    /// `--resolve` address, the snapshot limit).
    pub fn book_config(&self) -> Option<BookConfig> {
        let book = self.book.as_ref()?;
        let e = &book.rest_endpoint;
        let mut rest = RestConfig::new(e.clone());
        rest.resolve = self.resolve_for(&e.host, e.port);
        let mut config = BookConfig::new(self.feed_config(), rest);
        config.snapshot_limit = book.snapshot_limit;
        Some(config)
    }
}

/// What to do.
// Built once per process; boxing the config would only complicate matching.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run with this configuration.
    Run(Config),
    /// Print this help text to stdout and exit 0.
    Help(String),
}

/// The clap definition; [`Config`] is what callers get.
#[derive(Parser, Debug)]
#[command(
    name = "binance_ticker",
    about = "Streams Binance market data over F-Stack (TLS + WebSocket) and prints one line per event.",
    args_override_self = true,
    disable_version_flag = true
)]
struct Args {
    /// Base URL: wss://HOST[:PORT][/PATH][?QUERY] (a query such as timeUnit=MICROSECOND is
    /// sent with every request)
    #[arg(long, value_name = "URL", default_value = Endpoint::DEFAULT, value_parser = endpoint)]
    endpoint: Endpoint,
    /// Symbol, repeatable or comma-separated, case-insensitive; Unicode letters and digits
    /// (e.g. 币安人生USDT) [default: btcusdt]
    #[arg(long = "symbol", value_name = "SYM", value_delimiter = ',', value_parser = symbol)]
    symbols: Vec<String>,
    /// ticker, miniTicker, bookTicker, trade, aggTrade, depth (diff depth <sym>@depth@100ms),
    /// depth5, depth10, depth20 (partial book @100ms); repeatable or comma-separated [default:
    /// ticker]
    #[arg(long = "stream", value_name = "KIND", value_delimiter = ',', value_parser = kind)]
    kinds: Vec<StreamKind>,
    /// Trust anchors (PEM) instead of the system bundle
    #[arg(long, value_name = "PEM", value_parser = existing_file)]
    ca_file: Option<PathBuf>,
    /// TLS engine: rustls (default: the fastest record layer, see BENCHMARKS.md) or mbedtls
    /// (mbedTLS 3.6 LTS); both verify certificates and host names (README: TLS engines)
    #[arg(long, value_name = "ENGINE", value_parser = tls_engine)]
    tls: Option<Engine>,
    /// Connect to ADDR for HOST:PORT instead of resolving it (like curl's --resolve);
    /// repeatable
    #[arg(long, value_name = "HOST:PORT:ADDR", value_parser = resolve)]
    resolve: Vec<Resolve>,
    /// F-Stack configuration file
    #[arg(long, value_name = "FILE", default_value = "f-stack.conf", value_parser = existing_file)]
    config: PathBuf,
    /// Exit 0 after N market events
    #[arg(allow_negative_numbers = true, long, value_name = "N", value_parser = positive_u64)]
    count: Option<u64>,
    /// Exit 0 after SECS seconds (decimals allowed)
    #[arg(allow_negative_numbers = true, long, value_name = "SECS", value_parser = seconds)]
    duration: Option<Duration>,
    /// Reconnect when no frame at all (pings included) arrives for SECS
    #[arg(allow_negative_numbers = true, long, value_name = "SECS", default_value = "60", value_parser = seconds)]
    read_timeout: Duration,
    /// Replace the connection when no market event arrives for SECS, even while pings do; 0
    /// turns this off. Default: 10 when a ticker, miniTicker or depth5/10/20 stream (pushed
    /// every second or faster) is subscribed, off when only event-driven streams are (trade,
    /// aggTrade, bookTicker, depth: a quiet symbol may send nothing for minutes)
    #[arg(allow_negative_numbers = true, long, value_name = "SECS", value_parser = stall_timeout)]
    stall_timeout: Option<StallTimeout>,
    /// Give up an attempt when DNS, TCP connect, TLS handshake and WebSocket upgrade together
    /// take longer than SECS (the error names the step that stalled)
    #[arg(allow_negative_numbers = true, long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    connect_timeout: Duration,
    /// Consecutive failed connection attempts before giving up (at least 1); HTTP 429/418
    /// answers wait for the server's Retry-After
    #[arg(allow_negative_numbers = true, long, value_name = "N", default_value = "5", value_parser = positive_u32)]
    connect_retries: u32,
    /// Output format: text, json (one JSON object per line) or none (no line per event: events
    /// are still decoded, counted and timed for the summary on stderr; measures the client's
    /// own work)
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = format)]
    format: Format,
    /// At a clean exit, write the receive-latency histogram to FILE (HdrHistogram V2 + DEFLATE,
    /// for comparing runs); FILE is created at start
    #[arg(long, value_name = "FILE", value_parser = path)]
    latency_histogram: Option<PathBuf>,
    /// Keep a local order book per --symbol, exactly in sync with Binance (REST snapshot +
    /// diff depth stream, gaps detected and resynced), and print it after every update
    /// (json: {"event":"book",...} with the best --book-levels levels per side; text: best
    /// bid/ask, spread, depth); --stream is then depth (default) or depth@1000ms, and
    /// --count counts book updates
    #[arg(long)]
    book: bool,
    /// With --book: levels per side printed, best first [default: 10]
    #[arg(long, value_name = "N", requires = "book", value_parser = book_levels)]
    book_levels: Option<usize>,
    /// With --book: levels per side of each REST snapshot, 1-5000; Binance's request weight
    /// is 5 up to 100, 25 up to 500, 50 up to 1000, 250 above (6000 per minute per IP)
    /// [default: 1000]
    #[arg(long, value_name = "L", requires = "book", value_parser = snapshot_limit)]
    snapshot_limit: Option<u32>,
    /// With --book: the REST API, https://HOST[:PORT][/PATH]; --resolve applies to its
    /// HOST:PORT too; required when --endpoint is not stream.binance.com
    /// [default: https://api.binance.com]
    #[arg(long, value_name = "URL", requires = "book", value_parser = rest_endpoint)]
    rest_endpoint: Option<RestEndpoint>,
    /// Publish every event on the market-data bus NAME: fixed-layout records in shared memory
    /// (iceoryx2), one service per stream (NAME/md/<stream>), and strategies' SUBSCRIBE and
    /// UNSUBSCRIBE commands on NAME/cmd; NAME is 1-64 of letters, digits, '_', '.', '-'
    #[arg(long, value_name = "NAME", conflicts_with = "book", value_parser = bus_name)]
    publish: Option<String>,
    /// Print no line per event (the same as --format none, and it wins over any --format;
    /// the summary still goes to stderr)
    #[arg(long)]
    quiet: bool,
}

fn bus_name(v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(v.to_owned())
    } else {
        Err("expected 1 to 64 letters, digits, '_', '.' or '-'".into())
    }
}

fn endpoint(v: &str) -> Result<Endpoint, String> {
    const WSS_ONLY: &str = "only wss:// endpoints are supported (the feed always uses TLS)";
    let e = Endpoint::parse(v).map_err(|e| match e {
        crate::endpoint::EndpointError::UnsupportedScheme => WSS_ONLY.to_owned(),
        e => e.to_string(),
    })?;
    if !e.tls {
        return Err(WSS_ONLY.into());
    }
    // Binance documents raw streams at /ws/<stream> and combined ones at /stream?streams=...:
    // the feed adds those; a base URL ending in them would double the path.
    if ["/ws", "/stream"].iter().any(|p| e.path.ends_with(p)) {
        return Err(format!(
            "give the base URL without {}: the feed adds /ws/... or /stream?... itself",
            &e.path[e.path.rfind('/').unwrap_or(0)..]
        ));
    }
    Ok(e)
}

fn tls_engine(v: &str) -> Result<Engine, String> {
    v.parse::<Engine>().map_err(|e| e.to_string())
}

fn symbol(v: &str) -> Result<String, String> {
    Stream::new(v, StreamKind::Ticker)
        .map(|s| s.symbol().to_owned())
        .map_err(|_| {
            format!(
                "invalid symbol (expected 1-{} letters or digits, e.g. btcusdt or 币安人生usdt)",
                crate::stream::MAX_SYMBOL_CHARS
            )
        })
}

fn kind(v: &str) -> Result<StreamKind, String> {
    StreamKind::from_cli(v)
        .map_err(|_| format!("unknown kind (expected {})", StreamKind::cli_name_list()))
}

/// A non-empty path; shared with the other examples' command lines.
pub fn path(v: &str) -> Result<PathBuf, String> {
    if v.is_empty() {
        return Err("needs a path".into());
    }
    Ok(PathBuf::from(v))
}

/// A path to a file that exists (checked while parsing, so a typo exits 2 like any other bad
/// argument); shared with the other examples' command lines.
pub fn existing_file(v: &str) -> Result<PathBuf, String> {
    let p = path(v)?;
    match std::fs::metadata(&p) {
        Ok(m) if m.is_file() => Ok(p),
        Ok(_) => Err("not a file".into()),
        Err(e) => Err(format!("cannot read it: {e}")),
    }
}

fn resolve(v: &str) -> Result<Resolve, String> {
    Resolve::parse(v).map_err(|e| e.0)
}

fn book_levels(v: &str) -> Result<usize, String> {
    let n = positive_u64(v)?;
    if n > u64::from(MAX_LIMIT) {
        return Err(format!("at most {MAX_LIMIT}"));
    }
    Ok(n as usize)
}

fn snapshot_limit(v: &str) -> Result<u32, String> {
    let n = positive_u64(v)?;
    u32::try_from(n)
        .ok()
        .filter(|&n| n <= MAX_LIMIT)
        .ok_or_else(|| format!("Binance serves 1 to {MAX_LIMIT} levels"))
}

fn rest_endpoint(v: &str) -> Result<RestEndpoint, String> {
    RestEndpoint::parse(v)
}

fn format(v: &str) -> Result<Format, String> {
    Format::parse(v).ok_or_else(|| "expected text, json or none".into())
}

fn digits(v: &str) -> Result<&str, String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a positive integer".into());
    }
    Ok(v)
}

fn positive_u64(v: &str) -> Result<u64, String> {
    match digits(v)?.parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("number out of range".into()),
    }
}

fn positive_u32(v: &str) -> Result<u32, String> {
    let n = positive_u64(v)?;
    u32::try_from(n).map_err(|_| "number out of range".into())
}

/// Decimal seconds, rounded to whole microseconds; `allow_zero` for "off" values.
fn duration(v: &str, allow_zero: bool) -> Result<Duration, String> {
    let bad = || {
        if allow_zero {
            "expected a decimal number of seconds such as 2.5 (0 = off)".to_owned()
        } else {
            "expected a positive decimal number of seconds such as 2.5".to_owned()
        }
    };
    let d = DecimalValue::parse(v).map_err(|_| bad())?;
    let us = d
        .rescale(6)
        .or_else(|_| d.round(6).rescale(6))
        .map_err(|_| bad())?;
    // Zero only as written: a value that rounds to zero would silently mean "off".
    let written_zero = v.bytes().all(|b| b == b'0' || b == b'.');
    if us < 0 || (us == 0 && (!allow_zero || !written_zero)) {
        return Err(bad());
    }
    let us = u64::try_from(us).map_err(|_| bad())?;
    Ok(Duration::from_micros(us))
}

fn seconds(v: &str) -> Result<Duration, String> {
    duration(v, false)
}

fn stall_timeout(v: &str) -> Result<StallTimeout, String> {
    Ok(match duration(v, true)? {
        Duration::ZERO => StallTimeout::Off,
        d => StallTimeout::After(d),
    })
}

/// The help text (`--help`).
pub fn help() -> String {
    Args::command().render_help().to_string()
}

/// Parses the arguments after the program name.
pub fn parse_args<I, S>(args: I) -> Result<Command, CliError>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let argv =
        std::iter::once(OsString::from("binance_ticker")).chain(args.into_iter().map(Into::into));
    let matches = match Args::command().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            return Ok(Command::Help(e.render().to_string()))
        }
        Err(e) => return Err(one_line(e)),
    };
    let args = Args::from_arg_matches(&matches).map_err(one_line)?;
    if args.book && args.rest_endpoint.is_none() && args.endpoint.host != BINANCE_STREAM_HOST {
        // Snapshots from api.binance.com never match another exchange's stream.
        return Err(CliError(format!(
            "--book with --endpoint {} needs --rest-endpoint: the snapshots must come from the \
             same exchange as the stream (the default, https://api.binance.com, goes with \
             {BINANCE_STREAM_HOST} only) (see --help)",
            args.endpoint.host
        )));
    }
    let levels_given = args.book_levels.is_some();
    let config = args.into_config();
    if let Some(book) = &config.book {
        let diff = |k: &StreamKind| matches!(k, StreamKind::DiffDepth { .. });
        if config.kinds.len() != 1 || !diff(&config.kinds[0]) {
            return Err(CliError(
                "--book keeps books from one diff depth stream per symbol: give --stream depth \
                 (or depth@1000ms), or no --stream (see --help)"
                    .into(),
            ));
        }
        if book.levels > book.snapshot_limit as usize {
            return Err(CliError(format!(
                "--book-levels {}{} is more than --snapshot-limit {}: the book would not know \
                 that many levels (see --help)",
                book.levels,
                if levels_given { "" } else { " (the default)" },
                book.snapshot_limit
            )));
        }
    }
    let streams = config.streams().len();
    if streams > crate::stream::MAX_STREAMS_PER_CONNECTION {
        return Err(CliError(format!(
            "{streams} streams (every --symbol with every --stream), more than Binance's {} \
             per connection (see --help)",
            crate::stream::MAX_STREAMS_PER_CONNECTION
        )));
    }
    Ok(Command::Run(config))
}

/// The host of Binance's default stream endpoint: the only one `--rest-endpoint`'s default
/// goes with.
const BINANCE_STREAM_HOST: &str = "stream.binance.com";

fn one_line(e: clap::Error) -> CliError {
    CliError(one_line_message(&e))
}

/// clap's error as one line: its first paragraph (the message, with any indented details such
/// as a missing argument's name) without the `error: ` prefix, plus ` (see --help)`. Shared
/// by every example's command line.
pub fn one_line_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let paragraph: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = paragraph.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    let message = if message.is_empty() {
        "invalid arguments"
    } else {
        message
    };
    format!("{message} (see --help)")
}

impl Args {
    fn into_config(self) -> Config {
        let d = Config::default();
        let mut symbols: Vec<String> = Vec::new();
        for s in self.symbols {
            if !symbols.contains(&s) {
                symbols.push(s);
            }
        }
        let mut kinds: Vec<StreamKind> = Vec::new();
        for k in self.kinds {
            if !kinds.contains(&k) {
                kinds.push(k);
            }
        }
        let default_kinds = if self.book {
            vec![StreamKind::DiffDepth {
                speed: DepthSpeed::Ms100,
            }]
        } else {
            d.kinds
        };
        let book = self.book.then(|| BookOptions {
            levels: self.book_levels.unwrap_or(BookOptions::DEFAULT_LEVELS),
            snapshot_limit: self
                .snapshot_limit
                .unwrap_or(BookOptions::DEFAULT_SNAPSHOT_LIMIT),
            rest_endpoint: self.rest_endpoint.unwrap_or_else(|| {
                RestEndpoint::parse(RestEndpoint::DEFAULT).expect("default REST endpoint")
            }),
        });
        Config {
            endpoint: self.endpoint,
            symbols: if symbols.is_empty() {
                d.symbols
            } else {
                symbols
            },
            kinds: if kinds.is_empty() {
                default_kinds
            } else {
                kinds
            },
            ca_file: self.ca_file,
            tls: self.tls.unwrap_or(d.tls),
            resolve: self.resolve,
            fstack_config: self.config,
            count: self.count,
            duration: self.duration,
            read_timeout: self.read_timeout,
            stall_timeout: self.stall_timeout.unwrap_or(d.stall_timeout),
            connect_timeout: self.connect_timeout,
            connect_retries: self.connect_retries,
            format: if self.quiet {
                Format::None
            } else {
                self.format
            },
            latency_histogram: self.latency_histogram,
            book,
            publish: self.publish,
        }
    }
}

/// The request weight of one snapshot at `--snapshot-limit` (for messages).
pub fn snapshot_weight(config: &BookOptions) -> u32 {
    request_weight(config.snapshot_limit)
}

#[cfg(test)]
mod tests;
