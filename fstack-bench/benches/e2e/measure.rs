//! A point in time as the client thread sees it, and what one measured run found.

use std::time::{Duration, Instant};

use fstack_bench::{process_cpu_ns, thread_allocs, thread_context_switches, thread_cpu_ns};

use crate::server::ConnReport;
use crate::source::Source;
use crate::{ClientId, Mode};

/// A point in time as seen by the client thread.
#[derive(Clone, Copy)]
pub struct Snapshot {
    pub wall: Instant,
    pub thread_cpu: u64,
    pub process_cpu: u64,
    pub allocs: u64,
    pub alloc_bytes: u64,
    pub csw: (u64, u64),
}

impl Snapshot {
    pub fn now() -> Snapshot {
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

/// What a client saw during its measured window, before the server's side is added.
pub struct Measured {
    pub start: Snapshot,
    pub end: Snapshot,
    /// Receive latencies in µs (empty for a client that does not decode).
    pub latency_us: Vec<u32>,
    /// Events whose sequence number was not the one expected (lost, repeated or reordered).
    pub seq_errors: u64,
    pub events: u64,
    /// The cipher suite the client itself reports (IANA number), to check against the
    /// server's.
    pub client_suite: Option<u16>,
}

/// One measured run.
pub struct RunResult {
    pub client: ClientId,
    pub mode: Mode,
    pub events: u64,
    pub events_per_s: f64,
    pub cpu_ns_per_event: f64,
    /// CPU of every other thread (the source) over the client's measured window: 1.0 = one
    /// core busy.
    pub others_cores: f64,
    pub allocs_per_event: f64,
    pub alloc_bytes_per_event: f64,
    pub voluntary_csw_per_event: f64,
    /// Latencies in µs, sorted.
    pub latency_us: Vec<u32>,
    pub seq_errors: u64,
    /// The server's account of the connection, if it reported in time.
    pub server: Option<ConnReport>,
}

impl RunResult {
    /// `TLS_AES_128_GCM_SHA256` etc., as the server negotiated it.
    pub fn suite(&self) -> &str {
        self.server.as_ref().map_or("?", |s| s.suite.as_str())
    }
}

/// The run's result, once the connection has ended: the server's report for it is the one
/// after the `reports_before` it had when the client connected.
pub fn finish(
    client: ClientId,
    mode: Mode,
    source: &Source,
    reports_before: usize,
    m: Measured,
) -> RunResult {
    let Measured {
        start,
        end,
        mut latency_us,
        seq_errors,
        events,
        client_suite,
    } = m;
    let n = events.max(1) as f64;
    let wall_s = end.wall.duration_since(start.wall).as_secs_f64();
    let cpu = end.thread_cpu - start.thread_cpu;
    let others = (end.process_cpu - start.process_cpu).saturating_sub(cpu);
    latency_us.sort_unstable();
    let server = source
        .server
        .wait_report(reports_before, Duration::from_secs(10));
    match &server {
        None => eprintln!(
            "e2e: {}: the source did not report the connection",
            client.name()
        ),
        Some(r) => {
            let expected = match client.tls {
                crate::TlsVersion::Tls12 => "TLSv1_2",
                crate::TlsVersion::Tls13 => "TLSv1_3",
            };
            if r.protocol != expected {
                eprintln!(
                    "e2e: {}: negotiated {}, not {expected}",
                    client.name(),
                    r.protocol
                );
            }
            if client_suite != Some(r.suite_id) {
                eprintln!(
                    "e2e: {}: the client reports suite {client_suite:04x?}, the server {:#06x}",
                    client.name(),
                    r.suite_id
                );
            }
            if let Some(p) = &r.problem {
                eprintln!("e2e: {}: source: {p}", client.name());
            }
        }
    }
    RunResult {
        client,
        mode,
        events,
        events_per_s: events as f64 / wall_s,
        cpu_ns_per_event: cpu as f64 / n,
        others_cores: others as f64 / 1e9 / wall_s,
        allocs_per_event: (end.allocs - start.allocs) as f64 / n,
        alloc_bytes_per_event: (end.alloc_bytes - start.alloc_bytes) as f64 / n,
        voluntary_csw_per_event: (end.csw.0 - start.csw.0) as f64 / n,
        latency_us,
        seq_errors,
        server,
    }
}
