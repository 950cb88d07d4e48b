//! A point in time as the client thread sees it, and what one measured run found.

use std::time::Instant;

use fstack_bench::{process_cpu_ns, thread_allocs, thread_context_switches, thread_cpu_ns};

use crate::{Client, Mode};

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

/// One measured run.
pub struct RunResult {
    pub client: Client,
    pub mode: Mode,
    pub events: u64,
    #[allow(dead_code)]
    pub wall_s: f64,
    pub events_per_s: f64,
    pub cpu_ns_per_event: f64,
    /// CPU of every other thread (the mock server) over the wall time: 1.0 = one core busy.
    pub server_cores: f64,
    pub allocs_per_event: f64,
    pub alloc_bytes_per_event: f64,
    pub voluntary_csw_per_event: f64,
    /// Latencies in µs, sorted.
    pub latency_us: Vec<u32>,
    pub cipher: String,
}

pub fn finish(
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
