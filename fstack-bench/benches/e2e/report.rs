//! The report: one row per run, then per mode the median (min–max) of each figure, ours
//! against the baseline, as markdown tables on stdout.

use fstack_bench::{median_min_max, quantile};

use crate::measure::RunResult;
use crate::{Client, Mode, Plan, PACED_STREAMS};

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

pub fn report(results: &[RunResult], plan: &Plan) {
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
