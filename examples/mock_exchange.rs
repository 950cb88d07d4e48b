//! A local stand-in for Binance's market-data WebSocket service (see
//! `fstack_examples::mock_exchange`).
//!
//! ```text
//! cargo run --example mock_exchange -- [--listen ADDR:PORT] [--ca-out PEM] [--host NAME]...
//!     [--rate EVENTS_PER_SEC] [--ping-interval SECS] [--fault SPEC]... [--duration SECS]
//! ```
//! `--rate 0` streams as fast as the client reads. Faults: `drop-after=N`, `malformed-every=N`,
//! `oversize-every=N`, `stall-after=N`, `shutdown-notice-after=N`, `reject-upgrade=STATUS` (counted in events per
//! connection). Stops on Ctrl-C or after `--duration`, printing its counters.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fstack_examples::args;
use fstack_examples::mock_exchange::{Faults, MockConfig, MockExchange};

const USAGE: &str = "usage: mock_exchange [--listen ADDR:PORT] [--ca-out PEM] [--host NAME]... \
[--rate N] [--ping-interval SECS] [--fault SPEC]... [--duration SECS]";

fn main() -> ExitCode {
    args::exit("mock_exchange", run())
}

fn secs(v: &str, what: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{what}: `{v}` is not a positive number of seconds"))
}

fn run() -> Result<(), String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut config = MockConfig {
        listen: "127.0.0.1:9443".parse().expect("valid"),
        ..MockConfig::default()
    };
    let mut hosts = Vec::new();
    let mut faults = Faults::default();
    let mut ca_out = "mock-ca.pem".to_string();
    let mut duration = None;
    let mut i = 0;
    while i < argv.len() {
        if let Some(v) = args::value(&argv, &mut i, "--listen")? {
            config.listen = v
                .parse()
                .map_err(|_| format!("--listen: `{v}` is not ADDR:PORT"))?;
        } else if let Some(v) = args::value(&argv, &mut i, "--ca-out")? {
            ca_out = v.to_string();
        } else if let Some(v) = args::value(&argv, &mut i, "--host")? {
            hosts.push(v.to_string());
        } else if let Some(v) = args::value(&argv, &mut i, "--rate")? {
            config.rate = v
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r >= 0.0)
                .ok_or_else(|| format!("--rate: `{v}` is not a number of events per second"))?;
        } else if let Some(v) = args::value(&argv, &mut i, "--ping-interval")? {
            config.ping_interval = secs(v, "--ping-interval")?;
        } else if let Some(v) = args::value(&argv, &mut i, "--fault")? {
            faults.apply(v)?;
        } else if let Some(v) = args::value(&argv, &mut i, "--duration")? {
            duration = Some(secs(v, "--duration")?);
        } else if argv[i] == "-h" || argv[i] == "--help" {
            println!("{USAGE}");
            return Ok(());
        } else {
            return Err(format!("unknown argument `{}`\n{USAGE}", argv[i]));
        }
        i += 1;
    }
    if !hosts.is_empty() {
        config.hostnames = hosts;
    }
    config.faults = faults;

    let shutdown = fstack::ShutdownSignal::install().map_err(|e| e.to_string())?;
    let mut mock = MockExchange::start(config.clone()).map_err(|e| format!("starting: {e}"))?;
    std::fs::write(&ca_out, mock.ca_pem()).map_err(|e| format!("writing {ca_out}: {e}"))?;
    eprintln!(
        "mock_exchange: wss://{} (certificate for {}), CA written to {ca_out}, {} events/s per stream",
        mock.local_addr(),
        config.hostnames.join(", "),
        if config.rate == 0.0 { "unlimited".to_string() } else { config.rate.to_string() }
    );
    let start = Instant::now();
    while !shutdown.requested() && duration.is_none_or(|d| start.elapsed() < d) {
        std::thread::sleep(Duration::from_millis(50));
    }
    mock.stop();
    let s = mock.stats();
    eprintln!(
        "mock_exchange: stopped; connections {}, events {}, pings {}, pongs {}, control requests {}, client closes {}",
        s.connections.load(Ordering::Relaxed),
        s.events.load(Ordering::Relaxed),
        s.pings.load(Ordering::Relaxed),
        s.pongs.load(Ordering::Relaxed),
        s.control_requests.load(Ordering::Relaxed),
        s.client_closes.load(Ordering::Relaxed),
    );
    Ok(())
}
