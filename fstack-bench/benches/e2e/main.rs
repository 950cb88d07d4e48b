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
//!
//! Modules: `source` (where a mode's events come from), `measure` (snapshots and one run's
//! result), `ours` and `baseline` (the two clients), `decode_allocations` (the decode path
//! alone), `report` (the tables).

mod baseline;
mod decode_allocations;
mod measure;
mod ours;
mod report;
mod source;

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fstack::{Stack, StackOptions};
use fstack_bench::{load_average, CountingAlloc};
use fstack_mock_exchange::{MockConfig, MockExchange};

use decode_allocations::decode_allocations;
use measure::RunResult;
use ours::OursRun;
use report::report;
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
