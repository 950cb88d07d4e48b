//! A strategy process on the market-data bus: attaches to every stream of
//! `binance_ticker --publish NAME` (new streams too, as the feed adds them), prints each
//! record, checks sequence numbers and reports hand-off latency percentiles on exit.
//!
//! ```text
//! cargo run --release --example strategy_demo -- --service feed --format json
//! cargo run --release --example strategy_demo -- --service feed --subscribe ethusdt@trade
//! ```
//! Text: `SEQ STREAM mid=PRICE` (ticker, bookTicker, depth) or `SEQ STREAM last=PRICE
//! qty=QTY` (trades). JSON: one object per record with every price and quantity as the
//! exchange's exact decimal string (`fstack_bus::record::write_json`; `strategy_demo.py`
//! prints the same bytes). Ends after `--count` records, `--duration`, Ctrl-C or SIGTERM; the
//! summary (received, missed, latency p50/p99/p99.9/max) goes to stderr.
//!
//! `--subscribe`/`--unsubscribe STREAM` first send that command to the feed and print its
//! reply on stderr (`strategy_demo: command SUBSCRIBE ethusdt@trade: ok (request 3)`);
//! `--command-only` exits after the replies.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{ArgGroup, Parser};
use fstack_bus::command::op;
use fstack_bus::record::{write_json, write_text};
use fstack_bus::{BusSubscriber, Command, CommandClient};
use fstack_examples::args;

/// How often the bus is listed while no stream is attached yet, and afterwards (for streams
/// the feed adds): listing reads iceoryx2's service directory, not something to do between
/// every two records.
const FIRST_SCAN_INTERVAL: Duration = Duration::from_millis(100);
const SCAN_INTERVAL: Duration = Duration::from_secs(1);
/// Empty polls spent spinning before a short sleep: low latency while events flow, little CPU
/// when they do not.
const SPIN_POLLS: u32 = 20_000;

#[derive(Parser, Debug)]
#[command(
    name = "strategy_demo",
    version,
    args_override_self = true,
    about = "Reads the market-data bus of binance_ticker --publish NAME",
    group(ArgGroup::new("commands").multiple(true).args(["subscribe", "unsubscribe"]))
)]
struct Args {
    /// The bus name given to binance_ticker --publish
    #[arg(long, value_name = "NAME", value_parser = bus_name)]
    service: String,
    /// Exit after N records (at least 1)
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = args::positive)]
    count: Option<usize>,
    /// text (mid price or last trade per record) or json (every field, exact decimals)
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    format: String,
    /// Exit after SECS seconds (decimals allowed)
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, value_parser = args::seconds)]
    duration: Option<Duration>,
    /// Ask the feed to subscribe STREAM (e.g. ethusdt@trade) before reading
    #[arg(long, value_name = "STREAM")]
    subscribe: Vec<String>,
    /// Ask the feed to unsubscribe STREAM before reading
    #[arg(long, value_name = "STREAM")]
    unsubscribe: Vec<String>,
    /// Send the commands, print the replies and exit (exit status 1 unless all are ok)
    #[arg(long, requires = "commands")]
    command_only: bool,
}

/// Value parser: a bus name as `binance_ticker --publish` takes it.
fn bus_name(v: &str) -> Result<String, String> {
    fstack_bus::names::check(v).map_err(|e| e.to_string())?;
    Ok(v.to_owned())
}

fn main() -> ExitCode {
    let args = match args::parse::<Args>() {
        Ok(args) => args,
        Err(code) => return code, // help printed (0) or a bad command line (2)
    };
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("strategy_demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, String> {
    let mut all_ok = true;
    let commands = args
        .subscribe
        .iter()
        .map(|s| (op::SUBSCRIBE, "SUBSCRIBE", s))
        .chain(
            args.unsubscribe
                .iter()
                .map(|s| (op::UNSUBSCRIBE, "UNSUBSCRIBE", s)),
        );
    let mut client = None;
    for (code, verb, stream) in commands {
        let client = match &client {
            Some(c) => c,
            None => client.insert(CommandClient::new(&args.service).map_err(|e| e.to_string())?),
        };
        let command = Command::new(code, stream).ok_or("stream name too long")?;
        let reply = client
            .call(command, Duration::from_secs(15))
            .map_err(|e| format!("command {verb} {stream}: {e}"))?;
        all_ok &= reply.status == fstack_bus::command::status::OK;
        eprintln!(
            "strategy_demo: command {verb} {stream}: {} (request {}{}{})",
            reply.status_name(),
            reply.request_id,
            if reply.code != 0 {
                format!(", code {}", reply.code)
            } else {
                String::new()
            },
            if reply.msg().is_empty() {
                String::new()
            } else {
                format!(", {}", reply.msg())
            },
        );
    }
    if args.command_only {
        return Ok(if all_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    drop(client);
    let mut bus = BusSubscriber::new(&args.service, true).map_err(|e| e.to_string())?;
    let json = args.format == "json";
    let deadline = args.duration.map(|d| Instant::now() + d);
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    let mut line = String::with_capacity(1024);
    let mut next_scan = Instant::now();
    let mut idle = 0u32;
    let mut said_waiting = false;
    let mut write_error = None;
    let mut gaps = 0u64;
    // Records printed: a poll may bring more than --count still needs.
    let mut printed = 0u64;
    let count = args.count.map_or(u64::MAX, |n| n as u64);
    loop {
        let now = Instant::now();
        if now >= next_scan {
            let added = bus.scan().map_err(|e| e.to_string())?;
            let every = if bus.streams().is_empty() {
                FIRST_SCAN_INTERVAL
            } else {
                SCAN_INTERVAL
            };
            next_scan = now + every;
            if added > 0 {
                eprintln!("strategy_demo: attached to {}", bus.streams().join(", "));
            }
            // Once: a strategy started before its feed (or with a typo in --service) would
            // otherwise wait in silence.
            if bus.streams().is_empty() && !said_waiting {
                said_waiting = true;
                eprintln!("strategy_demo: waiting for bus {} ...", args.service);
            }
            for e in bus.take_attach_errors() {
                eprintln!("strategy_demo: cannot attach to {e}");
            }
        }
        if printed >= count
            || deadline.is_some_and(|t| now >= t)
            || bus.termination_requested()
            || write_error.is_some()
        {
            break;
        }
        let n = bus
            .poll(|r| {
                if r.missed > 0 {
                    gaps += 1;
                    eprintln!(
                        "strategy_demo: gap on {}: {} record(s) missed before seq {}",
                        r.record.stream(),
                        r.missed,
                        r.record.seq
                    );
                }
                if printed >= count || write_error.is_some() {
                    return;
                }
                printed += 1;
                line.clear();
                if json {
                    write_json(&mut line, r.record);
                } else {
                    write_text(&mut line, r.record);
                }
                line.push('\n');
                if let Err(e) = out.write_all(line.as_bytes()) {
                    write_error = Some(e);
                }
            })
            .map_err(|e| e.to_string())?;
        if n == 0 {
            idle += 1;
            if idle == 1 {
                if let Err(e) = out.flush() {
                    write_error.get_or_insert(e);
                }
            }
            if idle > SPIN_POLLS {
                std::thread::sleep(Duration::from_micros(50));
            } else {
                std::hint::spin_loop();
            }
        } else {
            idle = 0;
        }
    }
    let flushed = out.flush();
    eprintln!(
        "strategy_demo: received {}, missed {} in {gaps} gap(s), feed restarts {}, hand-off latency {}",
        bus.received,
        bus.missed,
        bus.restarts,
        bus.latency_summary()
    );
    if let Some(e) = write_error.or(flushed.err()) {
        return Err(format!("writing to stdout: {e}"));
    }
    Ok(ExitCode::SUCCESS)
}
