//! TCP latency over F-Stack: connect time, then small-message echo round trips.
//!
//! ```text
//! cargo run --release --example tcp_latency -- --connect ADDR:PORT [--config FILE]
//!     [--count N] [--connects K] [--warmup W] [--size BYTES]
//! ```
//! Connects K times (default 10) to an echo server, timing each handshake, then sends N
//! (default 1000) messages of BYTES (default 64) one at a time on the last connection and times
//! each echo. Prints min/p50/p99/max in microseconds. The logic is in
//! `fstack_examples::latency`.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::process::ExitCode;

use fstack::{ShutdownSignal, Stack, StackOptions};
use fstack_examples::args;
use fstack_examples::latency::{Config, LatencyClient};

const USAGE: &str = "usage: tcp_latency --connect ADDR:PORT [--config FILE] [--count N] \
[--connects K] [--warmup W] [--size BYTES]";

fn main() -> ExitCode {
    args::exit("tcp_latency", run())
}

fn number(v: &str, name: &str) -> Result<usize, String> {
    v.parse()
        .map_err(|_| format!("{name}: `{v}` is not a number"))
}

fn run() -> Result<(), String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut addr: Option<SocketAddr> = None;
    let mut config_file = "f-stack.conf".to_string();
    let (mut count, mut connects, mut warmup, mut size) = (1000, 10, 10, 64);
    let mut i = 0;
    while i < argv.len() {
        if let Some(v) = args::value(&argv, &mut i, "--connect")? {
            addr = Some(
                v.parse()
                    .map_err(|_| format!("--connect: `{v}` is not ADDR:PORT"))?,
            );
        } else if let Some(v) = args::value(&argv, &mut i, "--config")? {
            config_file = v.to_string();
        } else if let Some(v) = args::value(&argv, &mut i, "--count")? {
            count = number(v, "--count")?;
        } else if let Some(v) = args::value(&argv, &mut i, "--connects")? {
            connects = number(v, "--connects")?;
        } else if let Some(v) = args::value(&argv, &mut i, "--warmup")? {
            warmup = number(v, "--warmup")?;
        } else if let Some(v) = args::value(&argv, &mut i, "--size")? {
            size = number(v, "--size")?;
        } else if argv[i] == "-h" || argv[i] == "--help" {
            println!("{USAGE}");
            return Ok(());
        } else {
            return Err(format!("unknown argument `{}`\n{USAGE}", argv[i]));
        }
        i += 1;
    }
    let addr = addr.ok_or_else(|| format!("--connect is required\n{USAGE}"))?;
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
    let outcome = stack.run(|| {
        if shutdown.requested() {
            return ControlFlow::Break(Err("interrupted".to_string()));
        }
        match client.step() {
            Ok(None) => ControlFlow::Continue(()),
            Ok(Some(report)) => ControlFlow::Break(Ok(report)),
            Err(e) => ControlFlow::Break(Err(e.to_string())),
        }
    });
    let report = outcome.unwrap_or_else(|| Err("loop stopped".into()))?;
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
