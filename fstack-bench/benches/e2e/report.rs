//! The report, as markdown tables on stdout: the source's capacity, a summary per client and
//! TLS version with ratios to the baseline of the same version, then per mode and version the
//! median (min–max) of each figure, and every run.

use fstack_bench::{median_min_max, quantile};

use crate::measure::RunResult;
use crate::{ClientId, ClientKind, Mode, Plan, TlsVersion, PACED_STREAMS};

type Mmm = (f64, f64, f64);

struct Summary {
    eps: Mmm,
    cpu: Mmm,
    p50: Mmm,
    p99: Mmm,
    p999: Mmm,
    allocs: Mmm,
    bytes: Mmm,
    source_ns: Mmm,
    others: Mmm,
    csw: Mmm,
    seq_errors: u64,
    suite: String,
}

fn summarize(runs: &[&RunResult]) -> Option<Summary> {
    let m = |f: &dyn Fn(&RunResult) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(|r| f(r)).collect();
        median_min_max(&mut v)
    };
    let first = runs.first()?;
    let mut suites: Vec<&str> = runs.iter().map(|r| r.suite()).collect();
    suites.dedup();
    Some(Summary {
        eps: m(&|r| r.events_per_s),
        cpu: m(&|r| r.cpu_ns_per_event),
        p50: m(&|r| quantile(&r.latency_us, 0.50) as f64),
        p99: m(&|r| quantile(&r.latency_us, 0.99) as f64),
        p999: m(&|r| quantile(&r.latency_us, 0.999) as f64),
        allocs: m(&|r| r.allocs_per_event),
        bytes: m(&|r| r.alloc_bytes_per_event),
        source_ns: m(&|r| r.server.as_ref().map_or(f64::NAN, |s| s.cpu_ns_per_event())),
        others: m(&|r| r.others_cores),
        csw: m(&|r| r.voluntary_csw_per_event),
        seq_errors: runs.iter().map(|r| r.seq_errors).sum(),
        suite: if suites.len() == 1 {
            first.suite().to_owned()
        } else {
            suites.join(" / ")
        },
    })
}

fn cell(v: Mmm, prec: usize) -> String {
    format!("{:.p$} ({:.p$}–{:.p$})", v.0, v.1, v.2, p = prec)
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() && b.is_finite() {
        format!("{:.2}", a / b)
    } else {
        "–".into()
    }
}

fn runs_of(results: &[RunResult], client: ClientId, mode: Mode) -> Vec<&RunResult> {
    results
        .iter()
        .filter(|r| r.client == client && r.mode == mode)
        .collect()
}

pub fn report(
    results: &[RunResult],
    plan: &Plan,
    versions: &[TlsVersion],
    clients: &[ClientId],
    modes: &[Mode],
) {
    source_capacity(results, plan);
    summary(results, plan, versions, clients);
    for &mode in modes {
        for &tls in versions {
            detail(results, plan, tls, clients, mode);
        }
    }
    per_run(results);
}

fn source_capacity(results: &[RunResult], plan: &Plan) {
    let null: Vec<&RunResult> = results
        .iter()
        .filter(|r| r.client.kind == ClientKind::Null)
        .collect();
    if null.is_empty() {
        return;
    }
    println!();
    println!(
        "## source capacity: a null client (rustls, decrypt and drop) reading {} events at max rate",
        plan.source_events
    );
    println!();
    println!("| TLS | suite | events/s delivered | null client CPU, ns/event | source CPU, ns/event | source capacity, events/s per core | events per write system call | frame bytes/event | TLS overhead bytes/event |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in null {
        let Some(s) = r.server.as_ref() else {
            continue;
        };
        let n = s.events.max(1) as f64;
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} |",
            r.client.tls.name(),
            r.suite(),
            r.events_per_s,
            r.cpu_ns_per_event,
            s.cpu_ns_per_event(),
            1e9 / s.cpu_ns_per_event(),
            n / s.writes.max(1) as f64,
            s.frame_bytes as f64 / n,
            (s.record_bytes - s.frame_bytes) as f64 / n,
        );
    }
}

fn summary(results: &[RunResult], plan: &Plan, versions: &[TlsVersion], clients: &[ClientId]) {
    println!();
    println!(
        "## summary: medians of {} runs; ratios to the baseline of the same TLS version",
        plan.reps
    );
    println!();
    println!("Ratios are client / baseline: below 1 is better for CPU and latency, above 1 for throughput.");
    // Whether the source could have limited a client: its CPU per event in the client runs
    // against the fastest client's rate.
    let max_runs: Vec<&RunResult> = results
        .iter()
        .filter(|r| r.mode == Mode::Max && r.client.kind != ClientKind::Null)
        .collect();
    if !max_runs.is_empty() {
        let mut ns: Vec<f64> = max_runs
            .iter()
            .filter_map(|r| r.server.as_ref().map(|s| s.cpu_ns_per_event()))
            .collect();
        let (ns, _, _) = median_min_max(&mut ns);
        let fastest = max_runs.iter().map(|r| r.events_per_s).fold(0.0, f64::max);
        println!(
            "The source spent a median {ns:.0} ns of CPU per event in the max-rate client runs \
             ({:.0} events/s per core); the fastest client run read {fastest:.0} events/s, \
             {:.0}% of that.",
            1e9 / ns,
            fastest * ns / 1e7
        );
    }
    println!();
    println!("| client | TLS | suite | CPU µs/event, max rate | ×baseline | max events/s | ×baseline | paced p50 / p99 / p99.9 µs | ×baseline | allocs/event max / paced | sequence errors |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &tls in versions {
        let base = |mode| {
            summarize(&runs_of(
                results,
                ClientId {
                    kind: ClientKind::Baseline,
                    tls,
                },
                mode,
            ))
        };
        let (base_max, base_paced) = (base(Mode::Max), base(Mode::Paced));
        for &c in clients.iter().filter(|c| c.tls == tls) {
            let max = summarize(&runs_of(results, c, Mode::Max));
            let paced = summarize(&runs_of(results, c, Mode::Paced));
            let suite = max
                .as_ref()
                .or(paced.as_ref())
                .map_or("?".to_owned(), |s| s.suite.clone());
            let (cpu, cpu_x, eps, eps_x) = match (&max, &base_max) {
                (Some(m), b) => (
                    format!("{:.2}", m.cpu.0 / 1e3),
                    b.as_ref().map_or("–".into(), |b| ratio(m.cpu.0, b.cpu.0)),
                    format!("{:.0}", m.eps.0),
                    b.as_ref().map_or("–".into(), |b| ratio(m.eps.0, b.eps.0)),
                ),
                (None, _) => ("–".into(), "–".into(), "–".into(), "–".into()),
            };
            let (lat, lat_x) = match (&paced, &base_paced) {
                (Some(p), b) => (
                    format!("{:.0} / {:.0} / {:.0}", p.p50.0, p.p99.0, p.p999.0),
                    b.as_ref().map_or("–".into(), |b| {
                        format!(
                            "{} / {} / {}",
                            ratio(p.p50.0, b.p50.0),
                            ratio(p.p99.0, b.p99.0),
                            ratio(p.p999.0, b.p999.0)
                        )
                    }),
                ),
                (None, _) => ("–".into(), "–".into()),
            };
            let allocs = |s: &Option<Summary>| {
                s.as_ref()
                    .map_or("–".into(), |s| format!("{:.2}", s.allocs.0))
            };
            let errors = max.as_ref().map_or(0, |s| s.seq_errors)
                + paced.as_ref().map_or(0, |s| s.seq_errors);
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} |",
                c.name(),
                tls.name(),
                suite,
                cpu,
                cpu_x,
                eps,
                eps_x,
                lat,
                lat_x,
                allocs(&max),
                allocs(&paced),
                errors
            );
        }
    }
}

fn detail(results: &[RunResult], plan: &Plan, tls: TlsVersion, clients: &[ClientId], mode: Mode) {
    // Baseline first: every other column is compared with it.
    let mut cols: Vec<ClientId> = clients.iter().copied().filter(|c| c.tls == tls).collect();
    cols.sort_by_key(|c| c.kind != ClientKind::Baseline);
    let sums: Vec<(ClientId, Summary)> = cols
        .iter()
        .filter_map(|&c| summarize(&runs_of(results, c, mode)).map(|s| (c, s)))
        .collect();
    if sums.is_empty() {
        return;
    }
    let base = sums
        .iter()
        .find(|(c, _)| c.kind == ClientKind::Baseline)
        .map(|(_, s)| s);
    println!();
    match mode {
        Mode::Max => println!(
            "## max rate, TLS {} ({} events per run, {} runs each; latency here is time queued in socket buffers): median (min–max)",
            tls.name(),
            plan.max_events,
            plan.reps
        ),
        Mode::Paced => println!(
            "## paced, TLS {}, {:.0} events/s over {} streams ({} events per run, {} runs each): median (min–max)",
            tls.name(),
            plan.paced_rate,
            PACED_STREAMS.len(),
            plan.paced_events,
            plan.reps
        ),
    }
    println!();
    let mut head = "| figure |".to_owned();
    let mut rule = "|---|".to_owned();
    for (c, _) in &sums {
        head.push_str(&format!(" {} |", c.name()));
        rule.push_str("---|");
        if c.kind != ClientKind::Baseline && base.is_some() {
            head.push_str(&format!(" {} / baseline |", c.name()));
            rule.push_str("---|");
        }
    }
    println!("{head}");
    println!("{rule}");
    let row = |name: &str, f: &dyn Fn(&Summary) -> Mmm, prec: usize| {
        let mut line = format!("| {name} |");
        for (c, s) in &sums {
            line.push_str(&format!(" {} |", cell(f(s), prec)));
            if c.kind != ClientKind::Baseline {
                if let Some(b) = base {
                    line.push_str(&format!(" {} |", ratio(f(s).0, f(b).0)));
                }
            }
        }
        println!("{line}");
    };
    row("throughput, events/s", &|s| s.eps, 0);
    row("client CPU, ns/event", &|s| s.cpu, 0);
    row("latency p50, µs", &|s| s.p50, 0);
    row("latency p99, µs", &|s| s.p99, 0);
    row("latency p99.9, µs", &|s| s.p999, 0);
    row("heap allocations/event (client thread)", &|s| s.allocs, 2);
    row("heap bytes/event", &|s| s.bytes, 0);
    row("source CPU, ns/event", &|s| s.source_ns, 0);
    row("other threads' CPU (the source), cores", &|s| s.others, 2);
    row("voluntary context switches/event", &|s| s.csw, 3);
    let mut suites = "| negotiated suite |".to_owned();
    let mut errors = "| sequence errors (all runs) |".to_owned();
    for (c, s) in &sums {
        suites.push_str(&format!(" {} |", s.suite));
        errors.push_str(&format!(" {} |", s.seq_errors));
        if c.kind != ClientKind::Baseline && base.is_some() {
            suites.push_str(" |");
            errors.push_str(" |");
        }
    }
    println!("{suites}");
    println!("{errors}");
}

fn per_run(results: &[RunResult]) {
    println!();
    println!("## per run");
    println!();
    println!("| client | TLS | mode | events | events/s | CPU ns/event | p50 µs | p99 µs | p99.9 µs | max µs | allocs/event | bytes/event | source ns/event | others' cores | vol. ctx sw/event | seq errors |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in results {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {:.2} | {:.0} | {:.0} | {:.2} | {:.3} | {} |",
            r.client.name(),
            r.client.tls.name(),
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
            r.server.as_ref().map_or(f64::NAN, |s| s.cpu_ns_per_event()),
            r.others_cores,
            r.voluntary_csw_per_event,
            r.seq_errors,
        );
    }
}
