//! End-to-end benchmark: a Binance-like source (`server`: one WebSocket frame per TLS record,
//! AES-GCM, TLS 1.2 or 1.3, fast enough not to be the bottleneck) streams ticker events over
//! loopback to each client in turn, in the same run:
//!
//! - **ours**: `fstack_binance::feed::Feed` (FStackSocket on the kernel backend + fstack-tls +
//!   tungstenite + zero-copy decode) inside `fstack::Stack::run`, once per TLS engine of
//!   fstack-tls (`fstack_tls::Engine::available()`: `ours-rustls`, `ours-mbedtls`) and TLS
//!   version it speaks, forced on both ends;
//! - **baseline**: what a Rust user would pick instead: tokio (current_thread runtime) +
//!   tokio-rustls (ring) + tokio-tungstenite + serde_json into a typed struct with owned
//!   `String`s, per TLS version;
//! - **null** (source capacity only): rustls decrypting and dropping records, to show what
//!   the source delivers when the client costs next to nothing.
//!
//! Per event it measures receive latency (the server's send timestamp `E` in µs -> decoded
//! struct, same host clock), throughput, client-thread CPU time and heap allocations on the
//! client thread, and checks the sequence number the source puts in every event. Two modes:
//! `max` (the source sends as fast as the client reads: throughput and CPU per event; latency
//! there is queueing) and `paced` (a fixed rate, default 10,000 events/s spread over 5 streams
//! of a combined connection: latency percentiles).
//!
//! Clients run inside the F-Stack loop body one at a time (the baseline and the null client
//! block it while they run, harmless on the kernel backend): `Stack::init` is once per process
//! and `Stack::run` consumes the stack, and this way the repetitions interleave (the client
//! order rotates every repetition) so that machine noise hits all alike.
//!
//! Run: `cargo bench -p fstack-bench --bench e2e`. Environment: `E2E_EVENTS` (measured events
//! per max-rate run, default 500000), `E2E_PACED_EVENTS` (default 30000), `E2E_PACED_RATE`
//! (events/s, default 10000), `E2E_REPS` (default 5), `E2E_WARMUP` (default 5000),
//! `E2E_MAX_STREAMS` (ticker streams of the max-rate connection, 1-10, default 10; 1 is the raw
//! `/ws/btcusdt@ticker` form), `E2E_SOURCE_EVENTS` (events of each source-capacity run,
//! default 2000000; 0 skips them), `E2E_CLIENTS` (comma-separated client names or prefixes:
//! `ours` (every engine), `ours-<engine>`, `baseline`; default all), `E2E_TLS` (`1.2`, `1.3`
//! or both, the default), `E2E_MODES` (`max`, `paced` or both, the default). The report
//! (markdown tables) goes to stdout; see BENCHMARKS.md.
//!
//! Modules: `server` (the source), `source` (a server and the streams asked of it), `engine`
//! (fstack-tls's engines), `measure` (snapshots and one run's result), `ours`, `baseline` and
//! `null` (the clients), `decode_allocations` (the decode path alone), `report` (the tables).

mod baseline;
mod decode_allocations;
mod engine;
mod measure;
mod null;
mod ours;
mod report;
mod server;
mod source;

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use fstack::{Stack, StackOptions};
use fstack_bench::{load_average, CountingAlloc};

use decode_allocations::decode_allocations;
use fstack_tls::Engine;
use measure::{finish, Measured, RunResult};
use ours::OursRun;
use report::report;
use server::{Pace, Server};
use source::Source;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

impl TlsVersion {
    const ALL: [TlsVersion; 2] = [TlsVersion::Tls12, TlsVersion::Tls13];

    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "1.2",
            TlsVersion::Tls13 => "1.3",
        }
    }

    pub fn rustls(self) -> &'static rustls::SupportedProtocolVersion {
        match self {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Ours(Engine),
    Baseline,
    Null,
}

/// A client as the report names it: kind (and engine) and TLS version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientId {
    pub kind: ClientKind,
    pub tls: TlsVersion,
}

impl ClientId {
    /// `ours-mbedtls`, `baseline`, `null`.
    pub fn name(self) -> String {
        match self.kind {
            ClientKind::Ours(e) => format!("ours-{}", e.name()),
            ClientKind::Baseline => "baseline".into(),
            ClientKind::Null => "null".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Max,
    Paced,
}

impl Mode {
    pub fn name(self) -> &'static str {
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

/// A comma-separated list from the environment, or `default`.
fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

#[derive(Debug)]
pub struct Plan {
    pub max_events: u64,
    pub paced_events: u64,
    pub paced_rate: f64,
    pub reps: u64,
    pub warmup: u64,
    pub max_streams: usize,
    pub source_events: u64,
}

/// Both servers (max rate and paced) of one TLS version.
struct Sources {
    tls: TlsVersion,
    max: Source,
    paced: Source,
}

fn main() {
    let plan = Plan {
        max_events: env_u64("E2E_EVENTS", 500_000),
        paced_events: env_u64("E2E_PACED_EVENTS", 30_000),
        paced_rate: env_u64("E2E_PACED_RATE", 10_000) as f64,
        reps: env_u64("E2E_REPS", 5),
        warmup: env_u64("E2E_WARMUP", 5_000),
        max_streams: (env_u64("E2E_MAX_STREAMS", 10) as usize).clamp(1, MAX_STREAMS.len()),
        source_events: env_u64("E2E_SOURCE_EVENTS", 2_000_000),
    };
    let tls_wanted = env_list("E2E_TLS", "1.2,1.3");
    let versions: Vec<TlsVersion> = TlsVersion::ALL
        .into_iter()
        .filter(|v| tls_wanted.iter().any(|w| w == v.name()))
        .collect();
    let modes: Vec<Mode> = {
        let wanted = env_list("E2E_MODES", "max,paced");
        [Mode::Max, Mode::Paced]
            .into_iter()
            .filter(|m| wanted.iter().any(|w| w == m.name()))
            .collect()
    };
    let sources: Vec<Sources> = versions
        .iter()
        .map(|&tls| Sources {
            tls,
            max: Source::new(
                Server::start(tls, Pace::Max).expect("source"),
                &MAX_STREAMS[..plan.max_streams],
            ),
            paced: Source::new(
                Server::start(tls, Pace::Rate(plan.paced_rate)).expect("source"),
                &PACED_STREAMS,
            ),
        })
        .collect();

    let source_of = |tls: TlsVersion, mode: Mode| -> &Source {
        let s = sources.iter().find(|s| s.tls == tls).expect("source");
        match mode {
            Mode::Max => &s.max,
            Mode::Paced => &s.paced,
        }
    };

    // The clients of the matrix: E2E_CLIENTS entries name a client or a prefix of its name.
    let wanted = env_list("E2E_CLIENTS", "ours,baseline");
    let mut clients: Vec<ClientId> = Vec::new();
    let mut unsupported: Vec<String> = Vec::new();
    for &tls in &versions {
        let kinds = Engine::available()
            .iter()
            .map(|&e| ClientKind::Ours(e))
            .chain([ClientKind::Baseline]);
        for kind in kinds {
            let id = ClientId { kind, tls };
            if !wanted.iter().any(|w| id.name().starts_with(w.as_str())) {
                continue;
            }
            if let ClientKind::Ours(e) = kind {
                let ca = source_of(tls, Mode::Max).server.ca_pem();
                if let Err(err) = engine::connector(e, tls, ca) {
                    unsupported.push(format!("{} TLS {}: {err}", id.name(), tls.name()));
                    continue;
                }
            }
            clients.push(id);
        }
    }

    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../f-stack.conf");
    let stack = Stack::init(StackOptions::new(&config)).expect("Stack::init");
    println!(
        "# e2e: backend {}, {} CPUs, load average {} at start",
        fstack::backend(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    for u in &unsupported {
        println!("skipped: {u}");
    }
    let (ours_decode, base_decode) = decode_allocations();
    println!(
        "decode path only (ticker, raw and combined): ours {ours_decode:.2} allocations/event, baseline {base_decode:.2}"
    );

    let mut jobs: VecDeque<(ClientId, Mode)> = VecDeque::new();
    if plan.source_events > 0 {
        for &tls in &versions {
            jobs.push_back((
                ClientId {
                    kind: ClientKind::Null,
                    tls,
                },
                Mode::Max,
            ));
        }
    }
    for rep in 0..plan.reps as usize {
        for &mode in &modes {
            // Rotate the order every repetition: no client always runs first, or after the
            // same neighbour.
            for i in 0..clients.len() {
                jobs.push_back((clients[(i + rep) % clients.len()], mode));
            }
        }
    }
    let mut results: Vec<RunResult> = Vec::new();
    let mut current: Option<(ClientId, Mode, usize, OursRun)> = None;
    let started = Instant::now();
    let done = |results: &mut Vec<RunResult>, r: RunResult| {
        eprintln!(
            "e2e: {} TLS {} {} done: {:.0} events/s, {:.0} ns/event, source {:.0} ns/event{}",
            r.client.name(),
            r.client.tls.name(),
            r.mode.name(),
            r.events_per_s,
            r.cpu_ns_per_event,
            r.server.as_ref().map_or(f64::NAN, |s| s.cpu_ns_per_event()),
            if r.seq_errors > 0 {
                format!(", {} SEQUENCE ERRORS", r.seq_errors)
            } else {
                String::new()
            }
        );
        results.push(r);
    };
    stack.run(|| {
        if let Some((client, mode, before, run)) = current.as_mut() {
            if let Some(m) = run.step() {
                if run.problems > 0 {
                    eprintln!("e2e: ours: {} problems during the run", run.problems);
                }
                let r = finish(*client, *mode, source_of(client.tls, *mode), *before, m);
                done(&mut results, r);
                current = None;
            }
            return ControlFlow::Continue(());
        }
        let Some((client, mode)) = jobs.pop_front() else {
            return ControlFlow::Break(());
        };
        let source = source_of(client.tls, mode);
        let before = source.server.report_count();
        let events = match mode {
            Mode::Max => plan.max_events,
            Mode::Paced => plan.paced_events,
        };
        let measured: Measured = match client.kind {
            ClientKind::Ours(engine) => {
                let connector = engine::connector(engine, client.tls, source.server.ca_pem())
                    .expect("TLS connector");
                let run = OursRun::new(connector, source, plan.warmup, events);
                current = Some((client, mode, before, run));
                return ControlFlow::Continue(());
            }
            ClientKind::Baseline => baseline::run(source, plan.warmup, events),
            ClientKind::Null => null::run(source, plan.warmup, plan.source_events),
        };
        done(&mut results, finish(client, mode, source, before, measured));
        ControlFlow::Continue(())
    });
    println!(
        "# finished in {:.1} s, load average {} at end",
        started.elapsed().as_secs_f64(),
        load_average()
    );
    report(&results, &plan, &versions, &clients, &modes);
}
