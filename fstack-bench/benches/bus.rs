//! Market-data bus benchmark: `cargo bench -p fstack-bench --bench bus`.
//!
//! * Hand-off latency (the record's `publish_ns` to the subscriber's read, both
//!   CLOCK_MONOTONIC) p50/p99/p99.9/max with 1, 4 and 16 Rust subscriber threads, each its
//!   own iceoryx2 node, at a paced 100k events/s; and with the Python strategy
//!   (`examples/strategy_demo.py`, a separate process) at 20k events/s.
//! * Maximum sustained rate: the publisher sends as fast as it can for 0.5 s; the rate is
//!   what the publisher achieved. Subscribers that cannot keep up miss records rather than
//!   slow it down: the drops column counts them (0 means every subscriber got every record).
//! * `-- cost`: only the publisher's cost (below), with the decimal conversion alone.
//! * `-- stalls`: why single publishes take milliseconds ([`stalls`]; `STALL_SECS`, default 10,
//!   and `STALL_CASE`, a substring of the cases' names).
//! * The publisher's added cost per event: `fstack_binance::bus::publish_event` of a decoded
//!   ticker (conversion, loan, write, send) with one subscriber attached, against the same
//!   loop without it (decoding only), in the same run.
//!
//! Subscribers spin while idle, so with more subscribers than cores they share the CPU:
//! the figures say what this machine (`nproc` printed) bounds. `PYTHON` names the
//! interpreter with the `iceoryx2` package (default `.venv/bin/python`, as `./dev deps`
//! installs it).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fstack_binance::bus::publish_event;
use fstack_binance::events::{decode, Message};
use fstack_binance::stream::TimeUnit;
use fstack_bus::record::{kind, MarketRecord};
use fstack_bus::{BusConfig, BusPublisher, BusSubscriber};
use hdrhistogram::Histogram;

/// Counts the publisher thread's allocations (the cost loop must make none).
#[global_allocator]
static ALLOC: fstack_bench::CountingAlloc = fstack_bench::CountingAlloc;

const STREAM: &str = "btcusdt@trade";

fn fill(r: &mut MarketRecord, seq: u64) {
    r.kind = kind::TRADE;
    r.set_symbol("BTCUSDT");
    r.ints[0] = seq;
    r.n_values = 2;
    r.mantissa[0] = 4_325_000_000_000 + seq as i64;
    r.scale[0] = 8;
    r.mantissa[1] = 1_000_000;
    r.scale[1] = 8;
}

struct Reader {
    latency: Histogram<u64>,
    received: u64,
    missed: u64,
}

fn reader(name: String, ready: Arc<AtomicU64>, done: Arc<AtomicBool>) -> Reader {
    let mut bus = BusSubscriber::new(&name, false).unwrap();
    while bus.scan().unwrap() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    ready.fetch_add(1, Ordering::AcqRel);
    loop {
        let finished = done.load(Ordering::Acquire);
        if bus.poll(|_| {}).unwrap() == 0 {
            if finished {
                break;
            }
            std::hint::spin_loop();
        }
    }
    Reader {
        latency: bus.latency_ns.clone(),
        received: bus.received,
        missed: bus.missed,
    }
}

/// Publishes `total` records at `rate` per second (0: as fast as possible) to `subscribers`
/// reader threads; returns the merged latency histogram, the achieved rate and the drops.
fn run(tag: &str, subscribers: usize, total: u64, rate: f64) -> (Histogram<u64>, f64, u64) {
    let name = format!("bench-{tag}-{}", std::process::id());
    let mut config = BusConfig::new(&name);
    config.max_subscribers = subscribers.max(1);
    config.buffer_size = 16_384;
    let mut bus = BusPublisher::new(config).unwrap();
    bus.open_stream(STREAM).unwrap();
    let ready = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..subscribers)
        .map(|_| {
            let (name, ready, done) = (name.clone(), ready.clone(), done.clone());
            std::thread::spawn(move || reader(name, ready, done))
        })
        .collect();
    while ready.load(Ordering::Acquire) < subscribers as u64 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    let mut seq = 0;
    while seq < total {
        if rate > 0.0 {
            let due = ((start.elapsed().as_secs_f64() * rate) as u64).min(total);
            if seq >= due {
                std::hint::spin_loop();
                continue;
            }
        }
        seq += 1;
        bus.publish(STREAM, |r| fill(r, seq)).unwrap();
    }
    let achieved = total as f64 / start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(100));
    done.store(true, Ordering::Release);
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    let mut missed = 0;
    for t in threads {
        let r = t.join().unwrap();
        latency.add(&r.latency).unwrap();
        missed += r.missed + (total - r.received - r.missed);
    }
    (latency, achieved, missed)
}

fn us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn python_subscriber() -> Option<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var("PYTHON")
        .unwrap_or_else(|_| root.join(".venv/bin/python").to_string_lossy().into_owned());
    let name = format!("bench-py-{}", std::process::id());
    let mut bus = BusPublisher::new(BusConfig::new(&name)).ok()?;
    bus.open_stream(STREAM).ok()?;
    let total = 100_000u64;
    let child = Command::new(&python)
        .arg(root.join("examples/strategy_demo.py"))
        .args([
            "--service",
            &name,
            "--count",
            &total.to_string(),
            "--duration",
            "60",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    // Until it is attached (its port shows on the service).
    let deadline = Instant::now() + Duration::from_secs(20);
    while bus.subscribers(STREAM) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let rate = 20_000.0;
    let start = Instant::now();
    let mut seq = 0;
    while seq < total {
        let due = ((start.elapsed().as_secs_f64() * rate) as u64).min(total);
        if seq >= due {
            std::thread::sleep(Duration::from_micros(20));
            continue;
        }
        seq += 1;
        bus.publish(STREAM, |r| fill(r, seq)).ok()?;
    }
    let out = child.wait_with_output().ok()?;
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines()
        .last()
        .map(|l| format!("{l} (python: {python}, 20k events/s)"))
}

/// Nanoseconds per event: decoding alone, and what `publish_event` adds with no subscriber and
/// with one reading on another thread; and an empty record's loan-zero-send alone.
fn publisher_cost() -> (f64, f64, f64, f64) {
    let frame = r#"{"e":"24hrTicker","E":1700000000000,"s":"BTCUSDT","p":"525.12000000","P":"1.23","w":"43198.76543210","x":"42725.00000000","c":"43250.12000000","Q":"0.12345000","b":"43250.11000000","B":"3.41000000","a":"43250.13000000","A":"1.28000000","o":"42725.00000000","h":"43988.00000000","l":"42011.00000000","v":"23456.78901234","q":"1012345678.90123456","O":1699913600000,"C":1700000000000,"F":100,"L":200,"n":101}"#;
    let name = format!("bench-cost-{}", std::process::id());
    let mut bus = BusPublisher::new(BusConfig::new(&name)).unwrap();
    bus.open_stream("btcusdt@ticker").unwrap();
    let n = 1_000_000u32;
    let mut scratch = String::new();
    let hint = fstack_binance::stream::StreamRef::parse("btcusdt@ticker").unwrap();
    let allocs = fstack_bench::thread_allocs().0;
    let start = Instant::now();
    for _ in 0..n {
        let m = decode(frame, Some(hint)).unwrap();
        std::hint::black_box(&m);
    }
    let decode_ns = start.elapsed().as_nanos() as f64 / f64::from(n);
    let decode_allocs = fstack_bench::thread_allocs().0 - allocs;
    println!("decode alone: {decode_allocs} allocations in {n} events");
    let mut publish = |bus: &mut BusPublisher| {
        let allocs = fstack_bench::thread_allocs().0;
        let start = Instant::now();
        for _ in 0..n {
            if let Message::Event(ev) = decode(frame, Some(hint)).unwrap() {
                publish_event(bus, &ev, 0, TimeUnit::Millisecond, &mut scratch).unwrap();
            }
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(n) - decode_ns;
        let allocs = fstack_bench::thread_allocs().0 - allocs;
        println!("decode + publish_event: {allocs} allocations in {n} events");
        ns
    };
    let alone_ns = publish(&mut bus);
    // The bus alone: loan, zero, stamp, send of an empty record (no conversion).
    let allocs = fstack_bench::thread_allocs().0;
    let start = Instant::now();
    for _ in 0..n {
        bus.publish("btcusdt@ticker", |_| {}).unwrap();
    }
    let empty_ns = start.elapsed().as_nanos() as f64 / f64::from(n);
    let allocs = fstack_bench::thread_allocs().0 - allocs;
    println!("empty record (BusPublisher::publish): {allocs} allocations in {n} records");
    let ready = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let t = {
        let (name, ready, done) = (name.clone(), ready.clone(), done.clone());
        std::thread::spawn(move || reader(name, ready, done))
    };
    while ready.load(Ordering::Acquire) < 1 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let with_reader_ns = publish(&mut bus);
    // `maintain` (forgetting gone subscribers' drop counts, once a second in the feed's loop).
    let mut maintain_us = Vec::new();
    for i in 1..=50u64 {
        let t = Instant::now();
        bus.maintain(Instant::now() + Duration::from_secs(2 * i));
        maintain_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    maintain_us.sort_by(f64::total_cmp);
    println!(
        "maintain (once a second in the feed loop): median {:.0} us, max {:.0} us",
        maintain_us[25], maintain_us[49]
    );
    done.store(true, Ordering::Release);
    t.join().unwrap();
    (decode_ns, alone_ns, with_reader_ns, empty_ns)
}

/// The calling thread's context switches (voluntary: it slept or blocked; involuntary: it
/// was preempted) and minor page faults so far.
fn thread_usage() -> (i64, i64, i64) {
    // SAFETY: getrusage writes the struct it is given; all-zero is a valid `rusage`.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a local `rusage`.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    (ru.ru_nvcsw, ru.ru_nivcsw, ru.ru_minflt)
}

/// `-- stalls`: why single publishes take milliseconds. Publishes paced at 100k/s for
/// `secs` with one reader attached (sleeping 50 us when idle), while `churn` is on a thread
/// attaches a new subscriber (its own node), reads for 20 ms and drops it, every 50 ms.
/// Every publish is timed, with the publisher thread's context switches and page faults
/// around it; slow ones are classified. `noop` replaces the publish with nothing (the same
/// timing loop and churn): what the machine alone does to the loop.
fn stalls(tag: &str, secs: u64, churn: bool, noop: bool, explicit: bool) {
    let name = format!(
        "bench-st{}-{}",
        u8::from(churn) * 4 + u8::from(noop) * 2 + u8::from(explicit),
        std::process::id()
    );
    let mut bus = BusPublisher::new(BusConfig::new(&name)).unwrap();
    bus.open_stream(STREAM).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let changes = Arc::new(AtomicU64::new(0));
    let steady = {
        let (name, done) = (name.clone(), done.clone());
        std::thread::spawn(move || {
            let mut s = BusSubscriber::new(&name, false).unwrap();
            while s.scan().unwrap() == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            while !done.load(Ordering::Acquire) {
                if s.poll(|_| {}).unwrap() == 0 {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        })
    };
    while bus.subscribers(STREAM) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let churner = churn.then(|| {
        let (name, done, changes) = (name.clone(), done.clone(), changes.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                let mut s = BusSubscriber::new(&name, false).unwrap();
                let _ = s.scan();
                changes.fetch_add(1, Ordering::AcqRel);
                for _ in 0..20 {
                    let _ = s.poll(|_| {});
                    std::thread::sleep(Duration::from_millis(1));
                }
                drop(s);
                changes.fetch_add(1, Ordering::AcqRel);
                std::thread::sleep(Duration::from_millis(30));
            }
        })
    });
    let rate = 100_000.0;
    let (cs0, ics0, flt0) = thread_usage();
    let start = Instant::now();
    let end = Duration::from_secs(secs);
    let mut seq = 0u64;
    let (mut over100, mut over1ms, mut max_ns) = (0u64, 0u64, 0u64);
    // Publishes over 100 us that had a page fault or a context switch; explicit connection
    // updates' time over 100 us and max.
    let (mut slow_faulted, mut slow_switched) = (0u64, 0u64);
    let (mut upd_over100, mut upd_max) = (0u64, 0u64);
    // Of the publishes over 1 ms: slept/blocked (voluntary switch), preempted only, page
    // faults without a switch, none of these.
    let (mut vol, mut invol, mut fault, mut plain) = (0, 0, 0, 0);
    // The loop itself (between two of its iterations, outside any publish) stalled > 1 ms.
    let (mut gaps, mut gap_max, mut last) = (0u64, 0u64, Instant::now());
    let mut worst = Vec::new();
    while start.elapsed() < end {
        let now = Instant::now();
        let gap = (now - last).as_nanos() as u64;
        last = now;
        gap_max = gap_max.max(gap);
        gaps += u64::from(gap > 1_000_000);
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        if seq >= due {
            std::hint::spin_loop();
            continue;
        }
        seq += 1;
        if explicit {
            let t = Instant::now();
            bus.update_connections().unwrap();
            let dt = t.elapsed().as_nanos() as u64;
            upd_max = upd_max.max(dt);
            upd_over100 += u64::from(dt > 100_000);
        }
        let u0 = thread_usage();
        let t0 = Instant::now();
        if noop {
            std::hint::black_box(seq);
        } else {
            bus.publish(STREAM, |r| fill(r, seq)).unwrap();
        }
        let dt = t0.elapsed().as_nanos() as u64;
        let u1 = thread_usage();
        max_ns = max_ns.max(dt);
        if dt > 100_000 {
            over100 += 1;
            slow_faulted += u64::from(u1.2 > u0.2);
            slow_switched += u64::from(u1.0 > u0.0 || u1.1 > u0.1);
        }
        if dt > 1_000_000 {
            over1ms += 1;
            let (v, i, f) = (u1.0 - u0.0, u1.1 - u0.1, u1.2 - u0.2);
            if v > 0 {
                vol += 1;
            } else if i > 0 {
                invol += 1;
            } else if f > 0 {
                fault += 1;
            } else {
                plain += 1;
            }
            worst.push((dt, v, i, f));
        }
    }
    let (cs1, ics1, flt1) = thread_usage();
    done.store(true, Ordering::Release);
    steady.join().unwrap();
    if let Some(t) = churner {
        t.join().unwrap();
    }
    worst.sort_unstable_by_key(|w| std::cmp::Reverse(w.0));
    let worst: Vec<String> = worst
        .iter()
        .take(5)
        .map(|(dt, v, i, f)| format!("{:.1}ms(v{v},i{i},f{f})", *dt as f64 / 1e6))
        .collect();
    println!(
        "{tag:<26} {seq:>8} publishes >100us {over100:>4} (switched {slow_switched}, \
         faulted {slow_faulted}) >1ms {over1ms:>3} max {:>6.2} ms | >1ms: slept {vol} \
         preempted {invol} faults {fault} none {plain} | explicit update_connections >100us \
         {upd_over100} max {:.2} ms | loop gaps >1ms {gaps} max {:.2} ms | \
         thread total: voluntary {} involuntary {} minflt {} | subscriber changes {} | worst {}",
        max_ns as f64 / 1e6,
        upd_max as f64 / 1e6,
        gap_max as f64 / 1e6,
        cs1 - cs0,
        ics1 - ics0,
        flt1 - flt0,
        changes.load(Ordering::Acquire),
        worst.join(" ")
    );
}

fn main() {
    if std::env::args().any(|a| a == "stalls") {
        let secs = std::env::var("STALL_SECS").map_or(10, |s| s.parse().unwrap());
        println!(
            "stalls: {secs} s each, paced 100k/s, one steady reader; load {:?}",
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
        );
        let only = std::env::var("STALL_CASE").unwrap_or_default();
        for (tag, churn, noop, explicit) in [
            ("publish, steady", false, false, false),
            ("publish, churn", true, false, false),
            ("publish, churn, explicit", true, false, true),
            ("no-op, churn", true, true, false),
        ] {
            if tag.contains(only.as_str()) {
                stalls(tag, secs, churn, noop, explicit);
            }
        }
        return;
    }
    if std::env::args().any(|a| a == "cost") {
        print_cost();
        return;
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "bus benchmark on {cores} core(s); record {} bytes",
        size_of::<MarketRecord>()
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9} {:>12} {:>8}",
        "case", "p50 us", "p99 us", "p99.9 us", "max us", "rate ev/s", "drops"
    );
    for subs in [1usize, 4, 16] {
        let (h, rate, drops) = run(&format!("lat{subs}"), subs, 200_000, 100_000.0);
        println!(
            "{:<28} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>12.0} {:>8}",
            format!("{subs} Rust sub(s), 100k/s"),
            us(&h, 0.5),
            us(&h, 0.99),
            us(&h, 0.999),
            h.max() as f64 / 1000.0,
            rate,
            drops
        );
        let (h, rate, drops) = run(&format!("max{subs}"), subs, 1_000_000, 0.0);
        println!(
            "{:<28} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>12.0} {:>8}",
            format!("{subs} Rust sub(s), max rate"),
            us(&h, 0.5),
            us(&h, 0.99),
            us(&h, 0.999),
            h.max() as f64 / 1000.0,
            rate,
            drops
        );
    }
    match python_subscriber() {
        Some(line) => println!("Python subscriber: {line}"),
        None => {
            println!("Python subscriber: SKIPPED (no python with the iceoryx2 package; set PYTHON)")
        }
    }
    print_cost();
}

fn print_cost() {
    // The conversion alone: the ticker's 15 decimal strings.
    let values = [
        "525.12000000",
        "1.23",
        "43198.76543210",
        "42725.00000000",
        "43250.12000000",
        "0.12345000",
        "43250.11000000",
        "3.41000000",
        "43250.13000000",
        "1.28000000",
        "42725.00000000",
        "43988.00000000",
        "42011.00000000",
        "23456.78901234",
        "1012345678.90123456",
    ];
    for (name, f) in [
        (
            "parse_decimal",
            fstack_bus::record::parse_decimal as fn(&str) -> Option<(i64, u8)>,
        ),
        (
            "parse_decimal_serial",
            fstack_bus::record::parse_decimal_serial,
        ),
        ("(loop floor: length only)", |s: &str| {
            Some((s.len() as i64, 0))
        }),
    ] {
        let start = Instant::now();
        for _ in 0..1_000_000 {
            for v in values {
                std::hint::black_box(f(std::hint::black_box(v)));
            }
        }
        println!(
            "{name}: {:.1} ns per ticker (15 values)",
            start.elapsed().as_nanos() as f64 / 1e6
        );
    }
    let (decode_ns, alone_ns, with_reader_ns, empty_ns) = publisher_cost();
    println!(
        "publisher cost per ticker event: decode {decode_ns:.0} ns; publish_event adds \
         {alone_ns:.0} ns with no subscriber, {with_reader_ns:.0} ns with 1 reading; an \
         empty record (loan, zero, send; no subscriber) {empty_ns:.0} ns"
    );
}
