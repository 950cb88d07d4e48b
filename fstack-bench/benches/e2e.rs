//! End-to-end benchmark: `mock_exchange` streams ticker events over loopback (TLS 1.2 +
//! WebSocket) to two clients, in the same run and against the same server:
//!
//! - **ours**: `fstack_binance::feed::Feed` (FStackSocket on the kernel backend + fstack-tls
//!   (mbedTLS) + tungstenite + zero-copy decode) inside `fstack::Stack::run`;
//! - **baseline**: what a Rust user would pick instead: tokio (current_thread runtime) +
//!   tokio-rustls (ring, TLS 1.2 forced, as mbedTLS 2.28 negotiates) + tokio-tungstenite +
//!   serde_json into a typed struct with owned `String`s.
//!
//! Per event it measures receive latency (the server's send timestamp `E` in µs -> decoded
//! struct, same host clock), throughput, client-thread CPU time and heap allocations on the
//! client thread. Two modes: `max` (the mock sends as fast as the client reads: throughput and
//! CPU per event; latency there is queueing) and `paced` (a fixed rate, default 10,000
//! events/s spread over 5 streams of a combined connection: latency percentiles).
//!
//! The baseline runs inside the F-Stack loop body (blocking it while it runs, harmless on the
//! kernel backend): `Stack::init` is once per process and `Stack::run` consumes the stack, and
//! this way the repetitions interleave (ours, baseline, ours, ...) so that machine noise hits
//! both alike.
//!
//! Run: `cargo bench -p fstack-bench --bench e2e`. Environment: `E2E_EVENTS` (measured events
//! per max-rate run, default 200000), `E2E_PACED_EVENTS` (default 30000), `E2E_PACED_RATE`
//! (events/s, default 10000), `E2E_REPS` (default 5), `E2E_WARMUP` (default 5000),
//! `E2E_MAX_STREAMS` (ticker streams of the max-rate connection, 1-10, default 10; 1 is the raw
//! `/ws/btcusdt@ticker` form), `E2E_CLIENTS` (`ours,baseline`; one of them alone for
//! profiling). The report (markdown tables) goes to stdout; see BENCHMARKS.md.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fstack::{Stack, StackOptions};
use fstack_bench::{
    load_average, median_min_max, process_cpu_ns, quantile, thread_allocs, thread_context_switches,
    thread_cpu_ns, CountingAlloc,
};
use fstack_binance::events::{decode, Message};
use fstack_binance::feed::{Feed, FeedConfig, Notice};
use fstack_binance::stats::unix_micros_now;
use fstack_binance::subscribe::{request_target, Stream, TimeUnit, UrlMode};
use fstack_mock_exchange::{MockConfig, MockExchange};
use fstack_tls::TlsConnector;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const PACED_STREAMS: [&str; 5] = [
    "btcusdt@ticker",
    "ethusdt@ticker",
    "bnbusdt@ticker",
    "solusdt@ticker",
    "xrpusdt@ticker",
];

/// Streams of the max-rate runs (the first `E2E_MAX_STREAMS`).
const MAX_STREAMS: [&str; 10] = [
    "btcusdt@ticker",
    "ethusdt@ticker",
    "bnbusdt@ticker",
    "solusdt@ticker",
    "xrpusdt@ticker",
    "adausdt@ticker",
    "dogeusdt@ticker",
    "trxusdt@ticker",
    "linkusdt@ticker",
    "dotusdt@ticker",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Ours,
    Baseline,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Ours => "ours",
            Client::Baseline => "baseline",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Max,
    Paced,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Max => "max",
            Mode::Paced => "paced",
        }
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Plan {
    max_events: u64,
    paced_events: u64,
    paced_rate: f64,
    reps: u64,
    warmup: u64,
}

/// A point in time as seen by the client thread.
#[derive(Clone, Copy)]
struct Snapshot {
    wall: Instant,
    thread_cpu: u64,
    process_cpu: u64,
    allocs: u64,
    alloc_bytes: u64,
    csw: (u64, u64),
}

impl Snapshot {
    fn now() -> Snapshot {
        let (allocs, alloc_bytes) = thread_allocs();
        Snapshot {
            wall: Instant::now(),
            thread_cpu: thread_cpu_ns(),
            process_cpu: process_cpu_ns(),
            allocs,
            alloc_bytes,
            csw: thread_context_switches(),
        }
    }
}

/// One measured run.
struct RunResult {
    client: Client,
    mode: Mode,
    events: u64,
    #[allow(dead_code)]
    wall_s: f64,
    events_per_s: f64,
    cpu_ns_per_event: f64,
    /// CPU of every other thread (the mock server) over the wall time: 1.0 = one core busy.
    server_cores: f64,
    allocs_per_event: f64,
    alloc_bytes_per_event: f64,
    voluntary_csw_per_event: f64,
    /// Latencies in µs, sorted.
    latency_us: Vec<u32>,
    cipher: String,
}

fn finish(
    client: Client,
    mode: Mode,
    start: Snapshot,
    end: Snapshot,
    mut latency_us: Vec<u32>,
    cipher: String,
) -> RunResult {
    let events = latency_us.len() as u64;
    let n = events.max(1) as f64;
    let wall_s = end.wall.duration_since(start.wall).as_secs_f64();
    let cpu = end.thread_cpu - start.thread_cpu;
    let others = (end.process_cpu - start.process_cpu).saturating_sub(cpu);
    latency_us.sort_unstable();
    RunResult {
        client,
        mode,
        events,
        wall_s,
        events_per_s: events as f64 / wall_s,
        cpu_ns_per_event: cpu as f64 / n,
        server_cores: others as f64 / 1e9 / wall_s,
        allocs_per_event: (end.allocs - start.allocs) as f64 / n,
        alloc_bytes_per_event: (end.alloc_bytes - start.alloc_bytes) as f64 / n,
        voluntary_csw_per_event: (end.csw.0 - start.csw.0) as f64 / n,
        latency_us,
        cipher,
    }
}

/// Where a mode's events come from.
struct Source {
    addr: SocketAddr,
    ca_pem: String,
    streams: Vec<Stream>,
    /// Request target, e.g. `/ws/btcusdt@ticker?timeUnit=MICROSECOND`.
    target: String,
}

impl Source {
    fn new(mock: &MockExchange, names: &[&str]) -> Source {
        let streams: Vec<Stream> = names.iter().map(|s| Stream::parse(s).unwrap()).collect();
        let target = request_target(&streams, UrlMode::Auto, TimeUnit::Microsecond).unwrap();
        Source {
            addr: mock.local_addr(),
            ca_pem: mock.ca_pem().to_owned(),
            streams,
            target,
        }
    }
}

// ---- ours ---------------------------------------------------------------------------------

struct OursRun {
    mode: Mode,
    feed: Feed,
    warmup: u64,
    target: u64,
    seen: u64,
    latency_us: Vec<u32>,
    start: Option<Snapshot>,
    end: Option<Snapshot>,
    deadline: Instant,
    problems: u64,
}

impl OursRun {
    fn new(mode: Mode, source: &Source, warmup: u64, target: u64) -> OursRun {
        let connector = TlsConnector::builder()
            .ca_pem(source.ca_pem.as_bytes().to_vec())
            .build()
            .expect("TLS connector");
        let mut config = FeedConfig::new("localhost", source.addr.port(), source.streams.clone());
        config.resolve = Some(source.addr);
        config.time_unit = TimeUnit::Microsecond;
        let feed = Feed::new(config, connector).expect("feed");
        OursRun {
            mode,
            feed,
            warmup,
            target,
            seen: 0,
            latency_us: Vec::with_capacity(target as usize),
            start: None,
            end: None,
            deadline: Instant::now() + Duration::from_secs(120),
            problems: 0,
        }
    }

    /// One loop iteration; the result once the run is over.
    fn step(&mut self) -> Option<RunResult> {
        let now = Instant::now();
        let (warmup, target) = (self.warmup, self.target);
        let (seen, lat, start, end, problems) = (
            &mut self.seen,
            &mut self.latency_us,
            &mut self.start,
            &mut self.end,
            &mut self.problems,
        );
        let polled = self.feed.poll(
            now,
            &mut |ev, _len| {
                let t = unix_micros_now();
                *seen += 1;
                if *seen > warmup && *seen <= warmup + target {
                    lat.push(t.saturating_sub(ev.event_time().unwrap_or(t)) as u32);
                    if *seen == warmup + target {
                        *end = Some(Snapshot::now());
                    }
                } else if *seen == warmup {
                    *start = Some(Snapshot::now());
                }
            },
            &mut |notice| match notice {
                Notice::Connected { .. } | Notice::Ack { .. } => {}
                Notice::Disconnected { cause, .. } => {
                    eprintln!("e2e: ours: disconnected: {cause}");
                    *problems += 1;
                }
                Notice::Malformed { error } => {
                    eprintln!("e2e: ours: malformed: {error}");
                    *problems += 1;
                }
                _ => {}
            },
        );
        if let Err(e) = polled {
            panic!("e2e: ours: feed failed: {e}");
        }
        if now > self.deadline {
            panic!(
                "e2e: ours: run did not finish in time ({} events)",
                self.seen
            );
        }
        if self.end.is_some() && !self.feed.is_closed() {
            self.feed.close(now);
        }
        if self.feed.is_closed() {
            let (start, end) = (self.start.expect("start"), self.end.expect("end"));
            let lat = std::mem::take(&mut self.latency_us);
            let cipher = "mbedTLS (see micro benchmarks)".to_owned();
            return Some(finish(Client::Ours, self.mode, start, end, lat, cipher));
        }
        None
    }
}

// ---- baseline -----------------------------------------------------------------------------

mod baseline {
    use super::*;
    use futures_util::StreamExt;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use serde::Deserialize;
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    /// The "natural" typed decoding: every field owned, prices as `String` (exact, like ours).
    #[allow(dead_code)] // fields are decoded, not all read
    #[derive(Debug, Deserialize)]
    pub struct Ticker {
        #[serde(rename = "e")]
        pub event_type: String,
        #[serde(rename = "E")]
        pub event_time: u64,
        #[serde(rename = "s")]
        pub symbol: String,
        #[serde(rename = "p")]
        pub price_change: String,
        #[serde(rename = "P")]
        pub price_change_percent: String,
        #[serde(rename = "w")]
        pub weighted_avg_price: String,
        #[serde(rename = "x")]
        pub prev_close_price: String,
        #[serde(rename = "c")]
        pub last_price: String,
        #[serde(rename = "Q")]
        pub last_qty: String,
        #[serde(rename = "b")]
        pub bid_price: String,
        #[serde(rename = "B")]
        pub bid_qty: String,
        #[serde(rename = "a")]
        pub ask_price: String,
        #[serde(rename = "A")]
        pub ask_qty: String,
        #[serde(rename = "o")]
        pub open_price: String,
        #[serde(rename = "h")]
        pub high_price: String,
        #[serde(rename = "l")]
        pub low_price: String,
        #[serde(rename = "v")]
        pub volume: String,
        #[serde(rename = "q")]
        pub quote_volume: String,
        #[serde(rename = "O")]
        pub open_time: u64,
        #[serde(rename = "C")]
        pub close_time: u64,
        #[serde(rename = "F")]
        pub first_trade_id: i64,
        #[serde(rename = "L")]
        pub last_trade_id: i64,
        #[serde(rename = "n")]
        pub trade_count: u64,
    }

    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    pub struct Combined {
        pub stream: String,
        pub data: Ticker,
    }

    /// Decodes one text frame the baseline way; the event time.
    pub fn decode_text(text: &str, combined: bool) -> Option<u64> {
        if combined {
            serde_json::from_str::<Combined>(text)
                .ok()
                .map(|c| c.data.event_time)
        } else {
            serde_json::from_str::<Ticker>(text)
                .ok()
                .map(|t| t.event_time)
        }
    }

    fn client_config(ca_pem: &str) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.expect("CA PEM")).expect("CA");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            // The comparison is TLS 1.2 to TLS 1.2: mbedTLS 2.28 speaks nothing newer.
            .with_protocol_versions(&[&rustls::version::TLS12])
            .expect("TLS 1.2")
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    pub fn run(mode: Mode, source: &Source, warmup: u64, target: u64) -> RunResult {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let config = Arc::new(client_config(&source.ca_pem));
        let combined = source.target.starts_with("/stream");
        let url = format!("wss://localhost:{}{}", source.addr.port(), source.target);
        let addr = source.addr;
        rt.block_on(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            tcp.set_nodelay(true).expect("nodelay");
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .expect("TLS handshake");
            let cipher = format!(
                "{:?}",
                tls.get_ref().1.negotiated_cipher_suite().map(|s| s.suite())
            );
            let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
                .await
                .expect("WebSocket handshake");
            let mut seen = 0u64;
            let mut lat = Vec::with_capacity(target as usize);
            let mut start = None;
            let deadline = Instant::now() + Duration::from_secs(120);
            let end = loop {
                let msg = ws.next().await.expect("stream ended").expect("read");
                let WsMessage::Text(text) = msg else {
                    continue;
                };
                let Some(event_time) = decode_text(&text, combined) else {
                    eprintln!("e2e: baseline: undecodable message");
                    continue;
                };
                let t = unix_micros_now();
                seen += 1;
                if seen > warmup {
                    lat.push(t.saturating_sub(event_time) as u32);
                    if seen == warmup + target {
                        break Snapshot::now();
                    }
                } else if seen == warmup {
                    start = Some(Snapshot::now());
                }
                assert!(Instant::now() < deadline, "e2e: baseline run too slow");
            };
            let _ = ws.close(None).await;
            while let Some(Ok(_)) = ws.next().await {}
            finish(
                Client::Baseline,
                mode,
                start.expect("start"),
                end,
                lat,
                cipher,
            )
        })
    }
}

// ---- decode-only allocation check ----------------------------------------------------------

/// Allocations per decode of captured-shape payloads, on this thread: ours and the baseline's.
fn decode_allocations() -> (f64, f64) {
    let mut raw = String::new();
    fstack_mock_exchange::event_json(
        "BTCUSDT",
        fstack_mock_exchange::Kind::Ticker,
        12345,
        unix_micros_now(),
        &mut raw,
    );
    let combined = format!(r#"{{"stream":"btcusdt@ticker","data":{raw}}}"#);
    let n = 10_000u64;
    let hint = fstack_binance::subscribe::StreamRef::parse("btcusdt@ticker").unwrap();
    let (a0, _) = thread_allocs();
    for i in 0..n {
        let text = if i % 2 == 0 { &raw } else { &combined };
        let m = decode(std::hint::black_box(text), Some(hint)).expect("decode");
        assert!(matches!(m, Message::Event(_)));
        std::hint::black_box(&m);
    }
    let (a1, _) = thread_allocs();
    for i in 0..n {
        let (text, c) = if i % 2 == 0 {
            (&raw, false)
        } else {
            (&combined, true)
        };
        std::hint::black_box(baseline::decode_text(std::hint::black_box(text), c));
    }
    let (a2, _) = thread_allocs();
    ((a1 - a0) as f64 / n as f64, (a2 - a1) as f64 / n as f64)
}

// ---- report -------------------------------------------------------------------------------

struct Summary {
    eps: (f64, f64, f64),
    cpu: (f64, f64, f64),
    p50: (f64, f64, f64),
    p99: (f64, f64, f64),
    p999: (f64, f64, f64),
    allocs: (f64, f64, f64),
    bytes: (f64, f64, f64),
    server: (f64, f64, f64),
    csw: (f64, f64, f64),
}

fn summarize(runs: &[&RunResult]) -> Summary {
    let m = |f: &dyn Fn(&RunResult) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(|r| f(r)).collect();
        median_min_max(&mut v)
    };
    Summary {
        eps: m(&|r| r.events_per_s),
        cpu: m(&|r| r.cpu_ns_per_event),
        p50: m(&|r| quantile(&r.latency_us, 0.50) as f64),
        p99: m(&|r| quantile(&r.latency_us, 0.99) as f64),
        p999: m(&|r| quantile(&r.latency_us, 0.999) as f64),
        allocs: m(&|r| r.allocs_per_event),
        bytes: m(&|r| r.alloc_bytes_per_event),
        server: m(&|r| r.server_cores),
        csw: m(&|r| r.voluntary_csw_per_event),
    }
}

fn cell(v: (f64, f64, f64), prec: usize) -> String {
    format!("{:.p$} ({:.p$}–{:.p$})", v.0, v.1, v.2, p = prec)
}

fn report(results: &[RunResult], plan: &Plan) {
    println!();
    println!("## per run");
    println!();
    println!("| client | mode | events | events/s | CPU ns/event | p50 µs | p99 µs | p99.9 µs | max µs | allocs/event | bytes/event | server cores | vol. ctx sw/event |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in results {
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {:.2} | {:.0} | {:.2} | {:.3} |",
            r.client.name(),
            r.mode.name(),
            r.events,
            r.events_per_s,
            r.cpu_ns_per_event,
            quantile(&r.latency_us, 0.50),
            quantile(&r.latency_us, 0.99),
            quantile(&r.latency_us, 0.999),
            r.latency_us.last().copied().unwrap_or(0),
            r.allocs_per_event,
            r.alloc_bytes_per_event,
            r.server_cores,
            r.voluntary_csw_per_event,
        );
    }
    for r in results
        .iter()
        .filter(|r| r.client == Client::Baseline)
        .take(1)
    {
        println!("\nbaseline cipher suite: {}", r.cipher);
    }
    for mode in [Mode::Max, Mode::Paced] {
        let pick = |c: Client| -> Vec<&RunResult> {
            results
                .iter()
                .filter(|r| r.client == c && r.mode == mode)
                .collect()
        };
        let (ours, base) = (
            summarize(&pick(Client::Ours)),
            summarize(&pick(Client::Baseline)),
        );
        println!();
        match mode {
            Mode::Max => println!(
                "## max rate ({} events per run, {} runs each): median (min–max)",
                plan.max_events, plan.reps
            ),
            Mode::Paced => println!(
                "## paced, {:.0} events/s over {} streams ({} events per run, {} runs each): median (min–max)",
                plan.paced_rate,
                PACED_STREAMS.len(),
                plan.paced_events,
                plan.reps
            ),
        }
        println!();
        println!("| figure | ours | baseline | ours / baseline |");
        println!("|---|---|---|---|");
        let row = |name: &str, o: (f64, f64, f64), b: (f64, f64, f64), prec: usize| {
            println!(
                "| {name} | {} | {} | {:.2} |",
                cell(o, prec),
                cell(b, prec),
                o.0 / b.0
            );
        };
        row("throughput, events/s", ours.eps, base.eps, 0);
        row("client CPU, ns/event", ours.cpu, base.cpu, 0);
        row("latency p50, µs", ours.p50, base.p50, 0);
        row("latency p99, µs", ours.p99, base.p99, 0);
        row("latency p99.9, µs", ours.p999, base.p999, 0);
        row(
            "heap allocations/event (client thread)",
            ours.allocs,
            base.allocs,
            2,
        );
        row("heap bytes/event", ours.bytes, base.bytes, 0);
        row("server CPU, cores", ours.server, base.server, 2);
        row("voluntary context switches/event", ours.csw, base.csw, 3);
    }
}

fn main() {
    let plan = Plan {
        max_events: env_u64("E2E_EVENTS", 200_000),
        paced_events: env_u64("E2E_PACED_EVENTS", 30_000),
        paced_rate: env_u64("E2E_PACED_RATE", 10_000) as f64,
        reps: env_u64("E2E_REPS", 5),
        warmup: env_u64("E2E_WARMUP", 5_000),
    };
    let quiet = Duration::from_secs(3600);
    let max_mock = MockExchange::start(MockConfig {
        rate: 0.0,
        ping_interval: quiet,
        ..MockConfig::default()
    })
    .expect("mock");
    let paced_mock = MockExchange::start(MockConfig {
        rate: plan.paced_rate / PACED_STREAMS.len() as f64,
        ping_interval: quiet,
        ..MockConfig::default()
    })
    .expect("mock");
    let max_streams = (env_u64("E2E_MAX_STREAMS", 10) as usize).clamp(1, MAX_STREAMS.len());
    let max_source = Source::new(&max_mock, &MAX_STREAMS[..max_streams]);
    let paced_source = Source::new(&paced_mock, &PACED_STREAMS);

    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../f-stack.conf");
    let stack = Stack::init(StackOptions::new(&config)).expect("Stack::init");
    println!(
        "# e2e: backend {}, {} CPUs, load average {} at start",
        fstack::backend(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    let (ours_decode, base_decode) = decode_allocations();
    println!(
        "decode path only (ticker, raw and combined): ours {ours_decode:.2} allocations/event, baseline {base_decode:.2}"
    );

    // E2E_CLIENTS=ours (or baseline) runs one side only, e.g. under a profiler.
    let clients = std::env::var("E2E_CLIENTS").unwrap_or_else(|_| "ours,baseline".into());
    let mut jobs: VecDeque<(Client, Mode)> = VecDeque::new();
    for rep in 0..plan.reps {
        for mode in [Mode::Max, Mode::Paced] {
            // Alternate which client goes first.
            let order = if rep % 2 == 0 {
                [Client::Ours, Client::Baseline]
            } else {
                [Client::Baseline, Client::Ours]
            };
            for c in order {
                if clients.contains(c.name()) {
                    jobs.push_back((c, mode));
                }
            }
        }
    }
    let mut results: Vec<RunResult> = Vec::new();
    let mut current: Option<OursRun> = None;
    let started = Instant::now();
    stack.run(|| {
        if let Some(run) = current.as_mut() {
            if let Some(r) = run.step() {
                if run.problems > 0 {
                    eprintln!("e2e: ours: {} problems during the run", run.problems);
                }
                eprintln!(
                    "e2e: {} {} done: {:.0} events/s, {:.0} ns/event",
                    r.client.name(),
                    r.mode.name(),
                    r.events_per_s,
                    r.cpu_ns_per_event
                );
                results.push(r);
                current = None;
            }
            return ControlFlow::Continue(());
        }
        let Some((client, mode)) = jobs.pop_front() else {
            return ControlFlow::Break(());
        };
        let (source, events) = match mode {
            Mode::Max => (&max_source, plan.max_events),
            Mode::Paced => (&paced_source, plan.paced_events),
        };
        match client {
            Client::Ours => current = Some(OursRun::new(mode, source, plan.warmup, events)),
            Client::Baseline => {
                let r = baseline::run(mode, source, plan.warmup, events);
                eprintln!(
                    "e2e: {} {} done: {:.0} events/s, {:.0} ns/event",
                    r.client.name(),
                    r.mode.name(),
                    r.events_per_s,
                    r.cpu_ns_per_event
                );
                results.push(r);
            }
        }
        ControlFlow::Continue(())
    });
    println!(
        "# finished in {:.1} s, load average {} at end",
        started.elapsed().as_secs_f64(),
        load_average()
    );
    report(&results, &plan);
}
