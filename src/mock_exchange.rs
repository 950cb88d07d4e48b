//! A local stand-in for Binance's spot market-data WebSocket service, for demos, tests and
//! benchmarks: the logic behind `examples/mock_exchange.rs`.
//!
//! It serves `wss://` with a certificate from a CA it generates, on kernel sockets (it plays
//! the exchange, not the F-Stack side), and speaks:
//! - raw streams `/ws/<stream>`, combined streams `/stream?streams=a/b` (events wrapped as
//!   `{"stream":...,"data":...}`), and `/ws` with SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS;
//! - `timeUnit=MICROSECOND` (event times in µs);
//! - realistic events for ticker, miniTicker, bookTicker, trade, aggTrade, partial and diff
//!   depth, whose values derive from a per-stream sequence number (see [`event_json`]) so tests
//!   can check every field exactly; event times are the send time;
//! - pings at an interval, counting pongs;
//! - faults on request (see [`Faults::SPECS`]): drop connections, malformed JSON, oversize
//!   frames, stop responding, stop market data behind live pings, `serverShutdown` notices,
//!   rejected upgrades (optionally only the first N, with `Retry-After`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// What to serve and how.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Listen address (port 0 picks one).
    pub listen: SocketAddr,
    /// DNS names in the server certificate.
    pub hostnames: Vec<String>,
    /// Events per second per stream; 0 sends as fast as the client takes them.
    pub rate: f64,
    /// Interval between server pings (Binance: 20 s).
    pub ping_interval: Duration,
    /// Faults applied to every connection.
    pub faults: Faults,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            listen: "127.0.0.1:0".parse().expect("valid"),
            hostnames: vec!["localhost".into(), "stream.binance.com".into()],
            rate: 10.0,
            ping_interval: Duration::from_secs(20),
            faults: Faults::default(),
        }
    }
}

/// Faults counted in market events sent on a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Close the TCP connection abruptly (no close frame) after this many events.
    pub drop_after: Option<u64>,
    /// Send a malformed JSON text frame after every N events.
    pub malformed_every: Option<u64>,
    /// Send an oversize (2 MiB) text frame after every N events.
    pub oversize_every: Option<u64>,
    /// Stop responding (no events, pings or replies; the connection stays open) after this
    /// many events.
    pub stall_after: Option<u64>,
    /// Send a `serverShutdown` event after this many events, then keep streaming for a while.
    pub shutdown_notice_after: Option<u64>,
    /// Answer WebSocket upgrades with this HTTP status instead of 101.
    pub reject_upgrade: Option<u16>,
    /// With `reject_upgrade`: reject only the first N upgrade attempts the mock receives
    /// (counted across connections); later ones succeed.
    pub reject_first: Option<u64>,
    /// With `reject_upgrade`: send `Retry-After: SECS` with each rejection.
    pub retry_after: Option<u64>,
    /// Stop sending market events after this many (pings and control replies go on), like a
    /// server whose data feed died behind a live connection.
    pub data_stall_after: Option<u64>,
}

impl Faults {
    /// Every spec [`Faults::apply`] accepts, with what it does (for help texts).
    pub const SPECS: &'static [(&'static str, &'static str)] = &[
        (
            "drop-after=N",
            "close the TCP connection abruptly (no close frame) after N events",
        ),
        (
            "malformed-every=N",
            "send a malformed JSON text frame after every N events",
        ),
        (
            "oversize-every=N",
            "send an oversize (2 MiB) text frame after every N events",
        ),
        (
            "stall-after=N",
            "stop responding (no events, pings or replies; the connection stays open) after N events",
        ),
        (
            "data-stall-after=N",
            "stop sending market events after N (pings and control replies go on)",
        ),
        (
            "shutdown-notice-after=N",
            "send a serverShutdown event after N events, then keep streaming for a while",
        ),
        (
            "reject-upgrade=STATUS",
            "answer WebSocket upgrades with HTTP STATUS (400-599) instead of 101",
        ),
        (
            "reject-first=N",
            "with reject-upgrade: reject only the first N upgrade attempts (counted across connections)",
        ),
        (
            "retry-after=SECS",
            "with reject-upgrade: send Retry-After: SECS with each rejection",
        ),
    ];

    /// Checks the faults as a whole: `reject-first` and `retry-after` qualify `reject-upgrade`
    /// and mean nothing without it.
    pub fn check(&self) -> Result<(), String> {
        if self.reject_upgrade.is_none() {
            if self.reject_first.is_some() {
                return Err("fault reject-first=N needs reject-upgrade=STATUS".into());
            }
            if self.retry_after.is_some() {
                return Err("fault retry-after=SECS needs reject-upgrade=STATUS".into());
            }
        }
        Ok(())
    }

    /// Parses one `--fault` value: `drop-after=N`, `malformed-every=N`, `oversize-every=N`,
    /// `stall-after=N`, `data-stall-after=N`, `shutdown-notice-after=N`,
    /// `reject-upgrade=STATUS`, `reject-first=N` or `retry-after=SECS` (see [`Faults::SPECS`]).
    /// Errors are one short line that does not repeat `spec`.
    pub fn apply(&mut self, spec: &str) -> Result<(), String> {
        let (name, n) = spec
            .split_once('=')
            .ok_or_else(|| "expected NAME=N".to_owned())?;
        let slot = match name {
            "drop-after" => &mut self.drop_after,
            "malformed-every" => &mut self.malformed_every,
            "oversize-every" => &mut self.oversize_every,
            "stall-after" => &mut self.stall_after,
            "shutdown-notice-after" => &mut self.shutdown_notice_after,
            "data-stall-after" => &mut self.data_stall_after,
            "reject-first" => &mut self.reject_first,
            "retry-after" => &mut self.retry_after,
            "reject-upgrade" => {
                self.reject_upgrade = Some(
                    n.parse::<u16>()
                        .ok()
                        .filter(|s| (400..600).contains(s))
                        .ok_or_else(|| "STATUS must be 400-599".to_owned())?,
                );
                return Ok(());
            }
            _ => {
                let names: Vec<&str> = Faults::SPECS
                    .iter()
                    .filter_map(|(spec, _)| spec.split_once('=').map(|(name, _)| name))
                    .collect();
                return Err(format!(
                    "unknown fault `{name}` (expected {})",
                    names.join(", ")
                ));
            }
        };
        *slot = Some(
            n.parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{name} needs a positive integer"))?,
        );
        Ok(())
    }
}

/// Counters of a running mock, shared with its connection threads.
#[derive(Debug, Default)]
pub struct MockStats {
    /// WebSocket connections established.
    pub connections: AtomicU64,
    /// Market events sent, all connections.
    pub events: AtomicU64,
    /// Pings sent.
    pub pings: AtomicU64,
    /// Pongs received whose payload matched the ping.
    pub pongs: AtomicU64,
    /// SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS requests answered.
    pub control_requests: AtomicU64,
    /// Close frames received from clients.
    pub client_closes: AtomicU64,
    /// When each control request arrived (to check the client's rate limit).
    pub control_times: Mutex<Vec<Instant>>,
    /// When each WebSocket upgrade request arrived, rejected or not (to check that a client
    /// waits for `Retry-After`).
    pub upgrade_times: Mutex<Vec<Instant>>,
    /// Upgrade requests answered with an error status.
    pub rejected_upgrades: AtomicU64,
    /// The request target (path and query, as sent) of each upgrade request.
    pub request_targets: Mutex<Vec<String>>,
}

/// A running mock exchange; stops when dropped.
pub struct MockExchange {
    addr: SocketAddr,
    ca_pem: String,
    stats: Arc<MockStats>,
    stop: Arc<AtomicBool>,
    faults: Arc<Mutex<Faults>>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl MockExchange {
    /// Generates a CA and server certificate, binds and starts serving on background threads.
    pub fn start(config: MockConfig) -> io::Result<MockExchange> {
        let (ca_pem, tls) = tls_config(&config.hostnames)?;
        let listener = TcpListener::bind(config.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(MockStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let faults = Arc::new(Mutex::new(config.faults.clone()));
        let sequences = Arc::new(Mutex::new(BTreeMap::new()));
        let acceptor = {
            let (stats, stop, faults) = (stats.clone(), stop.clone(), faults.clone());
            thread::Builder::new()
                .name("mock-accept".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match listener.accept() {
                            Ok((sock, _)) => {
                                let conn = Connection {
                                    tls: tls.clone(),
                                    config: config.clone(),
                                    faults: faults.lock().expect("faults lock").clone(),
                                    stats: stats.clone(),
                                    stop: stop.clone(),
                                    sequences: sequences.clone(),
                                };
                                let _ = thread::Builder::new()
                                    .name("mock-conn".into())
                                    .spawn(move || conn.serve(sock));
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                                thread::sleep(Duration::from_millis(2))
                            }
                            Err(_) => thread::sleep(Duration::from_millis(10)),
                        }
                    }
                })?
        };
        Ok(MockExchange {
            addr,
            ca_pem,
            stats,
            stop,
            faults,
            acceptor: Some(acceptor),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM of the CA that signed the server certificate: the client's trust anchor.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Live counters.
    pub fn stats(&self) -> &MockStats {
        &self.stats
    }

    /// Replaces the faults applied to connections accepted from now on.
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().expect("faults lock") = faults;
    }

    /// Writes [`MockExchange::ca_pem`] to `path` atomically: into a temporary file in the same
    /// directory, then renamed over `path`, so a client waiting for the file never reads a
    /// partial one.
    pub fn write_ca(&self, path: &Path) -> io::Result<()> {
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "the path names no file"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.tmp", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let written = std::fs::write(&tmp, &self.ca_pem).and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// Stops accepting and ends every connection.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MockExchange {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tls_config(hostnames: &[String]) -> io::Result<(String, Arc<rustls::ServerConfig>)> {
    let err = |e: rcgen::Error| io::Error::other(format!("certificate generation: {e}"));
    let ca_key = rcgen::KeyPair::generate().map_err(err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fstack-rs mock exchange CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = ca_params.self_signed(&ca_key).map_err(err)?;
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let mut params = rcgen::CertificateParams::new(hostnames.to_vec()).map_err(err)?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        hostnames.first().map(String::as_str).unwrap_or("localhost"),
    );
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let cert = params.signed_by(&key, &issuer).map_err(err)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        // mbedTLS 2.28 (the fstack-tls client) speaks TLS 1.2 only.
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(|e| io::Error::other(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(
            vec![
                CertificateDer::from(cert.der().to_vec()),
                CertificateDer::from(ca.der().to_vec()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok((ca.pem(), Arc::new(config)))
}

/// Stream kinds the mock can generate, from a stream name's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `@ticker`
    Ticker,
    /// `@miniTicker`
    MiniTicker,
    /// `@bookTicker`
    BookTicker,
    /// `@trade`
    Trade,
    /// `@aggTrade`
    AggTrade,
    /// `@depth5|10|20[@100ms]`
    PartialDepth(usize),
    /// `@depth[@100ms]`
    DiffDepth,
}

/// Splits `btcusdt@ticker` into the upper-case symbol and the kind. Symbols are Unicode
/// letters and digits, like Binance's (`币安人生usdt@trade` → `币安人生USDT`).
pub fn parse_stream(name: &str) -> Option<(String, Kind)> {
    let (symbol, suffix) = name.split_once('@')?;
    if symbol.is_empty() || !symbol.chars().all(char::is_alphanumeric) {
        return None;
    }
    let suffix = suffix
        .strip_suffix("@100ms")
        .or(suffix.strip_suffix("@1000ms"))
        .unwrap_or(suffix);
    let kind = match suffix {
        "ticker" => Kind::Ticker,
        "miniTicker" => Kind::MiniTicker,
        "bookTicker" => Kind::BookTicker,
        "trade" => Kind::Trade,
        "aggTrade" => Kind::AggTrade,
        "depth" => Kind::DiffDepth,
        "depth5" => Kind::PartialDepth(5),
        "depth10" => Kind::PartialDepth(10),
        "depth20" => Kind::PartialDepth(20),
        _ => return None,
    };
    Some((symbol.to_uppercase(), kind))
}

/// `base + seq * step` in units of 1e-8, formatted with 8 decimals like Binance's prices.
pub fn price(base_e8: u64, seq: u64, step_e8: u64) -> String {
    let v = base_e8 + (seq % 100_000) * step_e8;
    format!("{}.{:08}", v / 100_000_000, v % 100_000_000)
}

/// The JSON payload of event number `seq` of a stream, with event time `time`.
///
/// Every value is a function of `seq`, so a test that sees `seq` (carried in `n`, `t`, `a`,
/// `u` or `lastUpdateId`) can check every field.
pub fn event_json(symbol: &str, kind: Kind, seq: u64, time: u64, out: &mut String) {
    let p = |base, step| price(base, seq, step);
    match kind {
        Kind::Ticker => {
            let _ = write!(
                out,
                r#"{{"e":"24hrTicker","E":{time},"s":"{symbol}","p":"{}","P":"1.23","w":"{}","x":"{}","c":"{}","Q":"{}","b":"{}","B":"{}","a":"{}","A":"{}","o":"{}","h":"{}","l":"{}","v":"{}","q":"{}","O":{},"C":{time},"F":{},"L":{},"n":{seq}}}"#,
                p(52_512_000_000, 1),
                p(4_319_876_543_210, 3),
                p(4_272_500_000_000, 0),
                p(4_325_012_000_000, 1_000_000),
                p(12_345_000, 7),
                p(4_325_011_000_000, 1_000_000),
                p(341_000_000, 11),
                p(4_325_013_000_000, 1_000_000),
                p(128_000_000, 13),
                p(4_272_500_000_000, 0),
                p(4_398_800_000_000, 0),
                p(4_201_100_000_000, 0),
                p(2_345_678_901_234, 17),
                p(101_234_567_890_123_456, 19),
                time.saturating_sub(86_400_000),
                seq * 10,
                seq * 10 + 9,
            );
        }
        Kind::MiniTicker => {
            let _ = write!(
                out,
                r#"{{"e":"24hrMiniTicker","E":{time},"s":"{symbol}","c":"{}","o":"{}","h":"{}","l":"{}","v":"{}","q":"{}"}}"#,
                p(4_325_012_000_000, 1_000_000),
                p(4_272_500_000_000, 0),
                p(4_398_800_000_000, 0),
                p(4_201_100_000_000, 0),
                p(2_345_678_901_234, 17),
                p(101_234_567_890_123_456, 19),
            );
        }
        Kind::BookTicker => {
            let _ = write!(
                out,
                r#"{{"u":{seq},"s":"{symbol}","b":"{}","B":"{}","a":"{}","A":"{}"}}"#,
                p(4_325_011_000_000, 1_000_000),
                p(341_000_000, 11),
                p(4_325_013_000_000, 1_000_000),
                p(128_000_000, 13),
            );
        }
        Kind::Trade => {
            let _ = write!(
                out,
                r#"{{"e":"trade","E":{time},"s":"{symbol}","t":{seq},"p":"{}","q":"{}","T":{time},"m":{},"M":true}}"#,
                p(4_325_012_000_000, 1_000_000),
                p(1_000_000, 3),
                seq.is_multiple_of(2),
            );
        }
        Kind::AggTrade => {
            let _ = write!(
                out,
                r#"{{"e":"aggTrade","E":{time},"s":"{symbol}","a":{seq},"p":"{}","q":"{}","f":{},"l":{},"T":{time},"m":{},"M":true}}"#,
                p(4_325_012_000_000, 1_000_000),
                p(1_000_000, 3),
                seq * 3,
                seq * 3 + 2,
                seq % 2 == 1,
            );
        }
        Kind::PartialDepth(levels) => {
            let _ = write!(out, r#"{{"lastUpdateId":{seq},"bids":["#);
            levels_json(out, seq, levels, 4_325_011_000_000, false);
            out.push_str(r#"],"asks":["#);
            levels_json(out, seq, levels, 4_325_013_000_000, true);
            out.push_str("]}");
        }
        Kind::DiffDepth => {
            let _ = write!(
                out,
                r#"{{"e":"depthUpdate","E":{time},"s":"{symbol}","U":{},"u":{seq},"b":["#,
                seq.saturating_sub(2)
            );
            levels_json(out, seq, 3, 4_325_011_000_000, false);
            out.push_str(r#"],"a":["#);
            levels_json(out, seq, 3, 4_325_013_000_000, true);
            out.push_str("]}");
        }
    }
}

fn levels_json(out: &mut String, seq: u64, levels: usize, base: u64, up: bool) {
    for i in 0..levels as u64 {
        if i > 0 {
            out.push(',');
        }
        let px = if up {
            base + i * 1_000_000
        } else {
            base - i * 1_000_000
        };
        let _ = write!(
            out,
            r#"["{}","{}"]"#,
            price(px, seq, 1_000_000),
            price(10_000_000 * (i + 1), seq, 7)
        );
    }
}

/// Wall-clock time in ms or µs since the Unix epoch.
fn now_since_epoch(micros: bool) -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    if micros {
        d.as_micros() as u64
    } else {
        d.as_millis() as u64
    }
}

type Tls = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

struct Subscription {
    name: String,
    symbol: String,
    kind: Kind,
    next_due: Instant,
    /// Next sequence number this connection sends for the stream.
    cursor: u64,
}

struct Connection {
    tls: Arc<rustls::ServerConfig>,
    config: MockConfig,
    faults: Faults,
    stats: Arc<MockStats>,
    stop: Arc<AtomicBool>,
    /// Highest sequence number sent per stream name, across connections. Like an exchange
    /// fanning one publication out to every subscriber, concurrent connections send the same
    /// numbers; a new subscription continues after the highest number sent so far.
    sequences: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Connection {
    fn serve(self, sock: TcpStream) {
        let _ = self.try_serve(sock);
    }

    // The handshake callback's error type is tungstenite's, not ours to shrink.
    #[allow(clippy::result_large_err)]
    fn try_serve(self, sock: TcpStream) -> Result<(), Box<dyn std::error::Error>> {
        sock.set_nonblocking(false)?;
        sock.set_nodelay(true)?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))?;
        let conn = rustls::ServerConnection::new(self.tls.clone())?;
        let tls = rustls::StreamOwned::new(conn, sock);
        let uri = Arc::new(Mutex::new(String::new()));
        let ws_config = WebSocketConfig::default().max_message_size(Some(64 << 10));
        let seen = uri.clone();
        let faults = self.faults.clone();
        let stats = self.stats.clone();
        let mut ws = tungstenite::accept_hdr_with_config(
            tls,
            move |req: &Request, resp: Response| {
                *seen.lock().expect("uri lock") = req.uri().to_string();
                stats
                    .request_targets
                    .lock()
                    .expect("target log")
                    .push(req.uri().to_string());
                let attempt = {
                    let mut times = stats.upgrade_times.lock().expect("upgrade log");
                    times.push(Instant::now());
                    times.len() as u64
                };
                let reject = faults
                    .reject_upgrade
                    .filter(|_| faults.reject_first.is_none_or(|n| attempt <= n));
                match reject {
                    Some(status) => {
                        stats.rejected_upgrades.fetch_add(1, Ordering::Relaxed);
                        let mut err = tungstenite::handshake::server::ErrorResponse::new(Some(
                            "rejected by mock_exchange".to_string(),
                        ));
                        *err.status_mut() = tungstenite::http::StatusCode::from_u16(status)
                            .unwrap_or(tungstenite::http::StatusCode::BAD_REQUEST);
                        if let Some(secs) = faults.retry_after {
                            err.headers_mut().insert(
                                tungstenite::http::header::RETRY_AFTER,
                                tungstenite::http::HeaderValue::from(secs),
                            );
                        }
                        Err(err)
                    }
                    None => Ok(resp),
                }
            },
            Some(ws_config),
        )?;
        // Stream names with non-ASCII symbols arrive percent-encoded (UTF-8).
        let target = percent_encoding::percent_decode_str(&uri.lock().expect("uri lock"))
            .decode_utf8_lossy()
            .into_owned();
        ws.get_ref().sock.set_nonblocking(true)?;
        self.stats.connections.fetch_add(1, Ordering::Relaxed);

        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        // A path prefix (as behind a reverse proxy) before `/ws` or `/stream` is ignored.
        let path = ["/ws/", "/ws", "/stream"]
            .iter()
            .find_map(|p| path.find(p).map(|i| &path[i..]))
            .unwrap_or(path);
        let params: Vec<(&str, &str)> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let micros = params
            .iter()
            .any(|&(k, v)| k == "timeUnit" && v.eq_ignore_ascii_case("microsecond"));
        let combined = path == "/stream";
        let mut subs = Vec::new();
        let initial: Vec<&str> = if combined {
            params
                .iter()
                .filter(|(k, _)| *k == "streams")
                .flat_map(|(_, v)| v.split('/'))
                .collect()
        } else {
            path.strip_prefix("/ws/")
                .map(|s| vec![s])
                .unwrap_or_default()
        };
        for name in initial.into_iter().filter(|n| !n.is_empty()) {
            match parse_stream(name) {
                Some((symbol, kind)) => subs.push(self.subscription(name, symbol, kind)),
                None => {
                    // Binance answers an unknown stream in the URL with an HTTP 400; here the
                    // upgrade has happened, so close with a policy error.
                    let _ = ws.close(Some(tungstenite::protocol::CloseFrame {
                        code: tungstenite::protocol::frame::coding::CloseCode::Policy,
                        reason: format!("invalid stream {name}").into(),
                    }));
                    let _ = ws.flush();
                    return Ok(());
                }
            }
        }
        self.stream_events(&mut ws, subs, combined, micros)
    }

    fn subscription(&self, name: &str, symbol: String, kind: Kind) -> Subscription {
        let cursor = self
            .sequences
            .lock()
            .expect("sequence lock")
            .get(name)
            .map_or(1, |s| s + 1);
        Subscription {
            name: name.to_string(),
            symbol,
            kind,
            next_due: Instant::now(),
            cursor,
        }
    }

    fn next_seq(&self, sub: &mut Subscription) -> u64 {
        let seq = sub.cursor;
        sub.cursor += 1;
        let mut seqs = self.sequences.lock().expect("sequence lock");
        let top = seqs.entry(sub.name.clone()).or_insert(0);
        *top = (*top).max(seq);
        seq
    }

    fn stream_events(
        &self,
        ws: &mut WebSocket<Tls>,
        mut subs: Vec<Subscription>,
        combined: bool,
        micros: bool,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let period =
            (self.config.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / self.config.rate));
        let mut sent = 0u64;
        let mut last_ping = Instant::now();
        let mut ping_payload = 0u64;
        let mut stalled = false;
        let mut body = String::with_capacity(1024);
        let mut frame = String::with_capacity(1100);
        let mut write_blocked = false;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                let _ = ws.close(None);
                let _ = ws.flush();
                return Ok(());
            }
            if stalled {
                // Hold the connection open without reading or writing anything.
                thread::sleep(Duration::from_millis(20));
                continue;
            }
            // Client messages: control requests, pongs, close.
            loop {
                match ws.read() {
                    Ok(Message::Text(t)) => self.control(ws, &mut subs, t.as_str())?,
                    Ok(Message::Pong(p)) => {
                        if p.as_ref() == ping_payload.to_string().as_bytes() {
                            self.stats.pongs.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(Message::Close(_)) => {
                        self.stats.client_closes.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(tungstenite::Error::ConnectionClosed)
                    | Err(tungstenite::Error::AlreadyClosed) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
            let now = Instant::now();
            if now.duration_since(last_ping) >= self.config.ping_interval {
                last_ping = now;
                ping_payload += 1;
                ws.write(Message::Ping(ping_payload.to_string().into_bytes().into()))?;
                self.stats.pings.fetch_add(1, Ordering::Relaxed);
            }
            // Market events that are due, unless the client is not keeping up (or the data
            // feed has "died" behind the live connection).
            let data_stalled = self.faults.data_stall_after.is_some_and(|n| sent >= n);
            if !write_blocked && !data_stalled {
                for sub in subs.iter_mut() {
                    let due = match period {
                        Some(p) => {
                            if sub.next_due > now {
                                continue;
                            }
                            sub.next_due += p;
                            if sub.next_due < now {
                                sub.next_due = now + p; // fell behind: skip, do not burst
                            }
                            true
                        }
                        None => true,
                    };
                    if !due {
                        continue;
                    }
                    let seq = self.next_seq(sub);
                    body.clear();
                    event_json(
                        &sub.symbol,
                        sub.kind,
                        seq,
                        now_since_epoch(micros),
                        &mut body,
                    );
                    let text = if combined {
                        frame.clear();
                        let _ = write!(frame, r#"{{"stream":"{}","data":{body}}}"#, sub.name);
                        &frame
                    } else {
                        &body
                    };
                    ws.write(Message::text(text.as_str()))?;
                    sent += 1;
                    self.stats.events.fetch_add(1, Ordering::Relaxed);
                    if self.inject_faults(ws, sent, &mut stalled)? {
                        return Ok(());
                    }
                    if stalled {
                        break;
                    }
                }
            }
            match ws.flush() {
                Ok(()) => write_blocked = false,
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    write_blocked = true
                }
                Err(e) => return Err(e.into()),
            }
            if period.is_some() || write_blocked || subs.is_empty() || data_stalled {
                thread::sleep(Duration::from_micros(200));
            }
        }
    }

    /// Applies the configured faults after `sent` events; true when the connection was dropped.
    fn inject_faults(
        &self,
        ws: &mut WebSocket<Tls>,
        sent: u64,
        stalled: &mut bool,
    ) -> Result<bool, Box<dyn std::error::Error>> {
        let f = &self.faults;
        if f.malformed_every.is_some_and(|n| sent.is_multiple_of(n)) {
            ws.write(Message::text(r#"{"e":"24hrTicker","E":17000"#))?;
        }
        if f.oversize_every.is_some_and(|n| sent.is_multiple_of(n)) {
            let mut big = String::with_capacity(2 << 20);
            big.push_str(r#"{"e":"trade","pad":""#);
            big.extend(std::iter::repeat_n('x', 2 << 20));
            big.push_str("\"}");
            ws.write(Message::text(big))?;
        }
        if f.shutdown_notice_after == Some(sent) {
            ws.write(Message::text(format!(
                r#"{{"e":"serverShutdown","E":{}}}"#,
                now_since_epoch(false)
            )))?;
        }
        if f.drop_after == Some(sent) {
            let _ = ws.flush();
            let _ = ws.get_ref().sock.shutdown(std::net::Shutdown::Both);
            return Ok(true);
        }
        if f.stall_after == Some(sent) {
            let _ = ws.flush();
            *stalled = true;
        }
        Ok(false)
    }

    fn control(
        &self,
        ws: &mut WebSocket<Tls>,
        subs: &mut Vec<Subscription>,
        text: &str,
    ) -> tungstenite::Result<()> {
        let reply = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => {
                let id = v.get("id").cloned().unwrap_or(serde_json::Value::Null);
                let params: Vec<String> = v
                    .get("params")
                    .and_then(|p| p.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                self.stats.control_requests.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .control_times
                    .lock()
                    .expect("control log")
                    .push(Instant::now());
                match v.get("method").and_then(|m| m.as_str()) {
                    Some("SUBSCRIBE") => {
                        let bad: Vec<&String> = params
                            .iter()
                            .filter(|p| parse_stream(p).is_none())
                            .collect();
                        if !bad.is_empty() {
                            serde_json::json!({"error": {"code": 2, "msg": format!("Invalid request: unknown stream {}", bad[0])}, "id": id})
                        } else {
                            for name in &params {
                                if !subs.iter().any(|s| &s.name == name) {
                                    let (symbol, kind) = parse_stream(name).expect("checked");
                                    subs.push(self.subscription(name, symbol, kind));
                                }
                            }
                            serde_json::json!({"result": null, "id": id})
                        }
                    }
                    Some("UNSUBSCRIBE") => {
                        subs.retain(|s| !params.contains(&s.name));
                        serde_json::json!({"result": null, "id": id})
                    }
                    Some("LIST_SUBSCRIPTIONS") => {
                        let names: Vec<&str> = subs.iter().map(|s| s.name.as_str()).collect();
                        serde_json::json!({"result": names, "id": id})
                    }
                    _ => {
                        serde_json::json!({"error": {"code": 2, "msg": "Invalid request: unknown method"}, "id": id})
                    }
                }
            }
            Err(_) => {
                serde_json::json!({"error": {"code": 3, "msg": "Invalid JSON: expected value"}, "id": null})
            }
        };
        ws.write(Message::text(reply.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        assert_eq!(
            parse_stream("btcusdt@ticker"),
            Some(("BTCUSDT".into(), Kind::Ticker))
        );
        assert_eq!(
            parse_stream("ethbtc@depth10@100ms"),
            Some(("ETHBTC".into(), Kind::PartialDepth(10)))
        );
        assert_eq!(
            parse_stream("ethbtc@depth@100ms"),
            Some(("ETHBTC".into(), Kind::DiffDepth))
        );
        assert_eq!(
            parse_stream("币安人生usdt@trade"),
            Some(("币安人生USDT".into(), Kind::Trade))
        );
        assert_eq!(parse_stream("btc usdt@trade"), None);
        assert_eq!(parse_stream("btcusdt@nothing"), None);
        assert_eq!(parse_stream("@ticker"), None);
        assert_eq!(parse_stream("btc/usdt@ticker"), None);
    }

    #[test]
    fn events_are_valid_json_with_exact_values() {
        for kind in [
            Kind::Ticker,
            Kind::MiniTicker,
            Kind::BookTicker,
            Kind::Trade,
            Kind::AggTrade,
            Kind::PartialDepth(5),
            Kind::DiffDepth,
        ] {
            let mut s = String::new();
            event_json("BTCUSDT", kind, 42, 1_700_000_000_123, &mut s);
            let v: serde_json::Value =
                serde_json::from_str(&s).unwrap_or_else(|e| panic!("{kind:?}: {e}: {s}"));
            assert!(v.is_object());
        }
        let mut s = String::new();
        event_json("BTCUSDT", Kind::Ticker, 2, 1_700_000_000_123, &mut s);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["c"], "43250.14000000");
        assert_eq!(v["n"], 2);
        assert_eq!(v["E"], 1_700_000_000_123u64);
        assert!(
            s.len() > 400 && s.len() < 520,
            "ticker is {} bytes",
            s.len()
        );
    }

    #[test]
    fn fault_specs() {
        let mut f = Faults::default();
        f.apply("drop-after=5").unwrap();
        f.apply("stall-after=7").unwrap();
        assert_eq!(f.drop_after, Some(5));
        assert_eq!(f.stall_after, Some(7));
        assert!(f.apply("drop-after=0").is_err());
        assert!(f.apply("explode=1").is_err());
        assert!(f.apply("drop-after").is_err());
        f.apply("reject-upgrade=429").unwrap();
        f.apply("reject-first=2").unwrap();
        f.apply("retry-after=3").unwrap();
        f.apply("data-stall-after=9").unwrap();
        assert_eq!(
            (
                f.reject_upgrade,
                f.reject_first,
                f.retry_after,
                f.data_stall_after
            ),
            (Some(429), Some(2), Some(3), Some(9))
        );
        assert_eq!(
            f.apply("reject-upgrade=200"),
            Err("STATUS must be 400-599".into())
        );
        assert_eq!(
            f.apply("reject-upgrade=x"),
            Err("STATUS must be 400-599".into())
        );
        assert_eq!(
            f.apply("drop-after=0"),
            Err("drop-after needs a positive integer".into())
        );
        assert_eq!(
            f.apply("retry-after=-1"),
            Err("retry-after needs a positive integer".into())
        );
        assert_eq!(f.apply("drop-after"), Err("expected NAME=N".into()));
        assert_eq!(
            f.apply("explode=1"),
            Err(
                "unknown fault `explode` (expected drop-after, malformed-every, oversize-every, \
                 stall-after, data-stall-after, shutdown-notice-after, reject-upgrade, \
                 reject-first, retry-after)"
                    .into()
            )
        );
    }

    /// `Faults::SPECS` lists every fault: applying them all sets every field.
    #[test]
    fn fault_specs_are_all_listed() {
        let mut f = Faults::default();
        for (spec, help) in Faults::SPECS {
            let (name, _) = spec.split_once('=').unwrap();
            f.apply(&format!("{name}=429")).unwrap();
            assert!(!help.is_empty() && !help.contains('\n'), "{spec}");
        }
        let every = Some(429);
        assert_eq!(
            f,
            Faults {
                drop_after: every,
                malformed_every: every,
                oversize_every: every,
                stall_after: every,
                shutdown_notice_after: every,
                reject_upgrade: Some(429),
                reject_first: every,
                retry_after: every,
                data_stall_after: every,
            }
        );
    }

    #[test]
    fn ca_file_is_replaced_whole() {
        let mock = MockExchange::start(MockConfig::default()).unwrap();
        let dir = std::env::temp_dir().join(format!("mock-ca-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ca.pem");
        std::fs::write(&path, "stale").unwrap();
        mock.write_ca(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), mock.ca_pem());
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["ca.pem"], "no temporary file left");
        assert!(mock.write_ca(&dir.join("missing").join("ca.pem")).is_err());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
