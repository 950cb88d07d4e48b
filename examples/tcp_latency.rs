//! TCP latency over F-Stack: connect time, then small-message echo round trips.
//!
//! ```text
//! cargo run --release --example tcp_latency -- --connect ADDR:PORT [--config FILE]
//!     [--count N] [--connects K] [--warmup W] [--size BYTES]
//! ```
//! Connects K times (default 10) to an echo server, timing each handshake, then sends W
//! (default 10) warm-up and N (default 1000) measured messages of BYTES (default 64) one at a
//! time on the last connection and times each echo. Prints min/p50/p99/max in microseconds.
//! The logic is in `fstack_examples::latency`. `--help` lists the options; a bad command line
//! exits 2 with one line, a failed run exits 1 with one line.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use fstack::{ShutdownSignal, Stack, StackOptions};
use fstack_examples::args;
use fstack_examples::latency::{Config, LatencyClient};

/// The command line (`--help` prints it).
#[derive(Parser, Debug)]
#[command(
    name = "tcp_latency",
    about = "TCP latency over F-Stack against an echo server: K timed connects, then N echo \
             round trips of BYTES one at a time; prints min/p50/p99/max in microseconds.",
    args_override_self = true
)]
struct Args {
    /// The echo server
    #[arg(long, value_name = "ADDR:PORT", value_parser = args::socket_addr)]
    connect: SocketAddr,
    /// F-Stack configuration file
    #[arg(long, value_name = "FILE", default_value = "f-stack.conf", value_parser = args::existing_file)]
    config: PathBuf,
    /// Echo round trips measured
    #[arg(long, value_name = "N", default_value = "1000", allow_negative_numbers = true, value_parser = args::whole_in(1, 10_000_000))]
    count: usize,
    /// Connections opened, each timed from connect to the completed handshake (at least 1); the
    /// last one carries the echoes
    #[arg(long, value_name = "K", default_value = "10", allow_negative_numbers = true, value_parser = args::whole_in(1, 100_000))]
    connects: usize,
    /// Round trips done first and not measured
    #[arg(long, value_name = "W", default_value = "10", allow_negative_numbers = true, value_parser = args::whole_in(0, 10_000_000))]
    warmup: usize,
    /// Bytes per message (at least 1)
    #[arg(long, value_name = "BYTES", default_value = "64", allow_negative_numbers = true, value_parser = args::whole_in(1, 16 << 20))]
    size: usize,
}

fn main() -> ExitCode {
    match args::parse::<Args>() {
        Ok(args) => args::exit("tcp_latency", run(args)),
        Err(code) => code,
    }
}

fn run(args: Args) -> Result<(), String> {
    let Args {
        connect: addr,
        config: config_file,
        count,
        connects,
        warmup,
        size,
    } = args;
    let config = Config {
        addr,
        connects,
        round_trips: count,
        warmup,
        size,
    };

    let shutdown =
        ShutdownSignal::install().map_err(|e| format!("installing signal handlers: {e}"))?;
    let stack = Stack::init(StackOptions::new(&config_file)).map_err(|e| e.to_string())?;
    let mut client = LatencyClient::new(config).map_err(|e| e.to_string())?;
    eprintln!(
        "tcp_latency: backend {}, {connects} connects and {warmup}+{count} round trips of \
         {size} bytes to {addr}",
        fstack::backend()
    );
    let report = stack
        .try_run(|| {
            if shutdown.requested() {
                return Err("interrupted".to_string());
            }
            Ok(match client.step().map_err(|e| e.to_string())? {
                None => ControlFlow::Continue(()),
                Some(report) => ControlFlow::Break(report),
            })
        })?
        .ok_or("loop stopped")?;
    println!(
        "tcp_latency: backend {} connect: {}",
        fstack::backend(),
        report.connect
    );
    println!(
        "tcp_latency: backend {} echo {size} B: {}",
        fstack::backend(),
        report.round_trip
    );
    Ok(())
}
