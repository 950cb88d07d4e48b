//! The `binance_ticker` command line (a contract other tools drive; see [`USAGE`]).
//!
//! [`parse_args`] never panics: bad arguments give a one-line [`CliError`]. Options take their
//! value as the next argument or after `=` (`--count 5`, `--count=5`). Single-valued options
//! given twice keep the last value. `--symbol` and `--stream` are repeatable (each may also be
//! a comma-separated list); giving any replaces the default.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::decimal::DecimalValue;
use crate::endpoint::Endpoint;
use crate::output::Format;
use crate::subscribe::{streams_for, Stream, StreamKind, TimeUnit};

/// Help text for `--help`.
pub const USAGE: &str = "\
Usage: binance_ticker [OPTIONS]

Streams Binance market data over F-Stack (TLS + WebSocket) and prints one line per event.

Options:
  --endpoint URL         base URL (default wss://stream.binance.com:9443)
  --symbol SYM           symbol, repeatable, case-insensitive (default btcusdt)
  --stream KIND          ticker (default), miniTicker, bookTicker, trade, aggTrade, depth;
                         repeatable. depth = diff depth <sym>@depth@100ms; depth5, depth10,
                         depth20 = partial book @100ms
  --ca-file PEM          trust anchors instead of the system bundle
  --resolve HOST:PORT:ADDR
                         connect to ADDR for HOST:PORT instead of resolving (repeatable)
  --config FILE          F-Stack config (default f-stack.conf)
  --count N              exit 0 after N market events
  --duration SECS        exit 0 after SECS seconds (decimals allowed)
  --read-timeout SECS    reconnect when no frame arrives for SECS (default 60)
  --connect-retries N    consecutive failed connection attempts before giving up (default 5)
  --format text|json     output format (default text)
  -h, --help             print this help
";

/// A bad command line, as one line of text (e.g. `--count: invalid number \"x\"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, CliError> {
    Err(CliError(msg.into()))
}

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
        let bad = || CliError(format!("--resolve: expected HOST:PORT:ADDR, got {s:?}"));
        let (host, rest) = s.split_once(':').ok_or_else(bad)?;
        let (port, addr) = rest.split_once(':').ok_or_else(bad)?;
        if host.is_empty() {
            return Err(bad());
        }
        let port = match port.parse::<u16>() {
            Ok(p) if p != 0 && port.bytes().all(|b| b.is_ascii_digit()) => p,
            _ => return err(format!("--resolve: invalid port {port:?}")),
        };
        let a = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr);
        let addr = a
            .parse::<IpAddr>()
            .map_err(|_| CliError(format!("--resolve: invalid address {addr:?}")))?;
        Ok(Resolve {
            host: host.to_ascii_lowercase(),
            port,
            addr,
        })
    }
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
    /// `--resolve` entries.
    pub resolve: Vec<Resolve>,
    /// `--config` (default `f-stack.conf`).
    pub fstack_config: PathBuf,
    /// `--count` (at least 1).
    pub count: Option<u64>,
    /// `--duration` (positive).
    pub duration: Option<Duration>,
    /// `--read-timeout` (positive, default 60 s).
    pub read_timeout: Duration,
    /// `--connect-retries` (default 5). 0 and 1 both mean a single attempt.
    pub connect_retries: u32,
    /// `--format`
    pub format: Format,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: Endpoint::parse(Endpoint::DEFAULT).expect("default endpoint is valid"),
            symbols: vec!["btcusdt".to_owned()],
            kinds: vec![StreamKind::Ticker],
            ca_file: None,
            resolve: Vec::new(),
            fstack_config: PathBuf::from("f-stack.conf"),
            count: None,
            duration: None,
            read_timeout: Duration::from_secs(60),
            connect_retries: 5,
            format: Format::Text,
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
}

/// What to do.
// Built once per process; boxing the config would only complicate matching.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run with this configuration.
    Run(Config),
    /// Print [`USAGE`] and exit 0.
    Help,
}

fn seconds(opt: &str, v: &str) -> Result<Duration, CliError> {
    let bad = || {
        CliError(format!(
            "{opt}: expected a positive number of seconds, got {v:?}"
        ))
    };
    let d = DecimalValue::parse(v).map_err(|_| bad())?;
    let us = d
        .rescale(6)
        .or_else(|_| d.round(6).rescale(6))
        .map_err(|_| bad())?;
    if us <= 0 {
        return Err(bad());
    }
    let us = u64::try_from(us).map_err(|_| bad())?;
    Ok(Duration::from_micros(us))
}

fn number<T: std::str::FromStr>(opt: &str, v: &str) -> Result<T, CliError> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return err(format!("{opt}: expected a non-negative integer, got {v:?}"));
    }
    v.parse()
        .map_err(|_| CliError(format!("{opt}: number out of range: {v}")))
}

/// Parses the arguments after the program name.
pub fn parse_args<I, S>(args: I) -> Result<Command, CliError>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut cfg = Config::default();
    let mut symbols: Vec<String> = Vec::new();
    let mut kinds: Vec<StreamKind> = Vec::new();
    let mut it = args.into_iter().map(Into::into);
    while let Some(arg) = it.next() {
        let arg = arg
            .into_string()
            .map_err(|a| CliError(format!("argument is not valid UTF-8: {a:?}")))?;
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        let (opt, inline) = match arg.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        const WITH_VALUE: [&str; 11] = [
            "--endpoint",
            "--symbol",
            "--stream",
            "--ca-file",
            "--resolve",
            "--config",
            "--count",
            "--duration",
            "--read-timeout",
            "--connect-retries",
            "--format",
        ];
        if !WITH_VALUE.contains(&opt.as_str()) {
            return if opt.starts_with('-') {
                err(format!("unknown option {opt} (see --help)"))
            } else {
                err(format!("unexpected argument {opt:?} (see --help)"))
            };
        }
        let value = match inline {
            Some(v) => v,
            None => match it.next() {
                Some(v) => v
                    .into_string()
                    .map_err(|a| CliError(format!("{opt}: value is not valid UTF-8: {a:?}")))?,
                None => return err(format!("{opt} needs a value")),
            },
        };
        let v = value.as_str();
        match opt.as_str() {
            "--endpoint" => {
                cfg.endpoint =
                    Endpoint::parse(v).map_err(|e| CliError(format!("--endpoint {v:?}: {e}")))?;
            }
            "--symbol" => {
                for s in v.split(',') {
                    Stream::new(s, StreamKind::Ticker).map_err(|_| {
                        CliError(format!(
                            "--symbol: invalid symbol {s:?} (expected 1-32 ASCII letters or digits)"
                        ))
                    })?;
                    let s = s.to_ascii_lowercase();
                    if !symbols.contains(&s) {
                        symbols.push(s);
                    }
                }
            }
            "--stream" => {
                for k in v.split(',') {
                    let kind = StreamKind::from_cli(k).map_err(|_| {
                        CliError(format!(
                            "--stream: unknown kind {k:?} (expected ticker, miniTicker, bookTicker, trade, aggTrade or depth)"
                        ))
                    })?;
                    if !kinds.contains(&kind) {
                        kinds.push(kind);
                    }
                }
            }
            "--ca-file" => {
                if v.is_empty() {
                    return err("--ca-file needs a path");
                }
                cfg.ca_file = Some(PathBuf::from(v));
            }
            "--resolve" => cfg.resolve.push(Resolve::parse(v)?),
            "--config" => {
                if v.is_empty() {
                    return err("--config needs a path");
                }
                cfg.fstack_config = PathBuf::from(v);
            }
            "--count" => {
                let n: u64 = number(&opt, v)?;
                if n == 0 {
                    return err("--count: must be at least 1");
                }
                cfg.count = Some(n);
            }
            "--duration" => cfg.duration = Some(seconds(&opt, v)?),
            "--read-timeout" => cfg.read_timeout = seconds(&opt, v)?,
            "--connect-retries" => cfg.connect_retries = number(&opt, v)?,
            "--format" => {
                cfg.format = Format::parse(v).ok_or_else(|| {
                    CliError(format!("--format: expected text or json, got {v:?}"))
                })?;
            }
            _ => unreachable_option(&opt)?,
        }
    }
    if !symbols.is_empty() {
        cfg.symbols = symbols;
    }
    if !kinds.is_empty() {
        cfg.kinds = kinds;
    }
    Ok(Command::Run(cfg))
}

// All options in WITH_VALUE are matched above; kept as an error rather than a panic.
fn unreachable_option(opt: &str) -> Result<(), CliError> {
    err(format!("unknown option {opt} (see --help)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscribe::{DepthLevels, DepthSpeed};

    fn run(args: &[&str]) -> Config {
        match parse_args(args.iter().copied()) {
            Ok(Command::Run(c)) => c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn fail(args: &[&str]) -> String {
        match parse_args(args.iter().copied()) {
            Err(e) => {
                let s = e.to_string();
                assert!(!s.contains('\n'), "{s}");
                s
            }
            Ok(c) => panic!("{args:?} accepted: {c:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = run(&[]);
        assert_eq!(c, Config::default());
        assert_eq!(c.endpoint.host, "stream.binance.com");
        assert_eq!(c.endpoint.port, 9443);
        assert_eq!(c.symbols, ["btcusdt"]);
        assert_eq!(c.kinds, [StreamKind::Ticker]);
        assert_eq!(c.fstack_config, PathBuf::from("f-stack.conf"));
        assert_eq!(c.read_timeout, Duration::from_secs(60));
        assert_eq!(c.connect_retries, 5);
        assert_eq!(c.format, Format::Text);
        assert_eq!(
            (c.count, c.duration, c.ca_file.as_ref()),
            (None, None, None)
        );
        let names: Vec<String> = c.streams().iter().map(|s| s.name().to_owned()).collect();
        assert_eq!(names, ["btcusdt@ticker"]);
        assert_eq!(c.time_unit(), TimeUnit::Millisecond);
    }

    #[test]
    fn full_command_line() {
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
            "/tmp/ca.pem",
            "--resolve",
            "stream.binance.com:9443:10.0.0.2",
            "--resolve=h:443:[::1]",
            "--config",
            "conf/f-stack.conf",
            "--count",
            "100",
            "--duration",
            "2.5",
            "--read-timeout",
            "0.25",
            "--connect-retries",
            "0",
            "--format",
            "json",
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
        assert_eq!(c.ca_file, Some(PathBuf::from("/tmp/ca.pem")));
        assert_eq!(
            c.resolve_for("STREAM.binance.com", 9443),
            Some("10.0.0.2".parse().unwrap())
        );
        assert_eq!(c.resolve_for("stream.binance.com", 443), None);
        assert_eq!(c.resolve_for("h", 443), Some("::1".parse().unwrap()));
        assert_eq!(c.fstack_config, PathBuf::from("conf/f-stack.conf"));
        assert_eq!(c.count, Some(100));
        assert_eq!(c.duration, Some(Duration::from_millis(2500)));
        assert_eq!(c.read_timeout, Duration::from_millis(250));
        assert_eq!(c.connect_retries, 0);
        assert_eq!(c.format, Format::Json);
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
    }

    #[test]
    fn help() {
        assert_eq!(parse_args(["--help"]), Ok(Command::Help));
        assert_eq!(parse_args(["--count", "1", "-h"]), Ok(Command::Help));
        assert!(USAGE.contains("--connect-retries"));
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
            "--connect-retries",
            "--format",
            "--help",
        ] {
            assert!(USAGE.contains(opt), "{opt}");
        }
    }

    #[test]
    fn errors_are_one_line() {
        let cases: &[(&[&str], &str)] = &[
            (&["--bogus"], "unknown option --bogus (see --help)"),
            (&["-x"], "unknown option -x (see --help)"),
            (&["btcusdt"], "unexpected argument \"btcusdt\" (see --help)"),
            (&["--count"], "--count needs a value"),
            (&["--count", "x"], "--count: expected a non-negative integer, got \"x\""),
            (&["--count", "-1"], "--count: expected a non-negative integer, got \"-1\""),
            (&["--count", "0"], "--count: must be at least 1"),
            (&["--count", "99999999999999999999999"], "--count: number out of range: 99999999999999999999999"),
            (&["--connect-retries", "4294967296"], "--connect-retries: number out of range: 4294967296"),
            (&["--duration", "0"], "--duration: expected a positive number of seconds, got \"0\""),
            (&["--duration", "-1"], "--duration: expected a positive number of seconds, got \"-1\""),
            (&["--duration", "1e3"], "--duration: expected a positive number of seconds, got \"1e3\""),
            (&["--read-timeout", ""], "--read-timeout: expected a positive number of seconds, got \"\""),
            (&["--duration", "99999999999999999999999999"], "--duration: expected a positive number of seconds, got \"99999999999999999999999999\""),
            (&["--format", "xml"], "--format: expected text or json, got \"xml\""),
            (&["--stream", "kline"], "--stream: unknown kind \"kline\" (expected ticker, miniTicker, bookTicker, trade, aggTrade or depth)"),
            (&["--symbol", "btc/usdt"], "--symbol: invalid symbol \"btc/usdt\" (expected 1-32 ASCII letters or digits)"),
            (&["--symbol", ""], "--symbol: invalid symbol \"\" (expected 1-32 ASCII letters or digits)"),
            (&["--endpoint", "https://x"], "--endpoint \"https://x\": unsupported scheme (expected wss:// or ws://)"),
            (&["--endpoint", "wss://x:99999"], "--endpoint \"wss://x:99999\": invalid port"),
            (&["--resolve", "host:443"], "--resolve: expected HOST:PORT:ADDR, got \"host:443\""),
            (&["--resolve", ":443:1.2.3.4"], "--resolve: expected HOST:PORT:ADDR, got \":443:1.2.3.4\""),
            (&["--resolve", "h:http:1.2.3.4"], "--resolve: invalid port \"http\""),
            (&["--resolve", "h:443:nothost"], "--resolve: invalid address \"nothost\""),
            (&["--ca-file="], "--ca-file needs a path"),
            (&["--config", ""], "--config needs a path"),
        ];
        for (args, msg) in cases {
            assert_eq!(fail(args), *msg, "{args:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_is_an_error() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![0x66, 0xff]);
        assert!(parse_args([OsString::from("--symbol"), bad.clone()]).is_err());
        assert!(parse_args([bad]).is_err());
    }
}
