//! UDP echo over F-Stack: a server that sends every datagram back, or a client that measures
//! echo round trips.
//!
//! ```text
//! cargo run --release --example udp_echo -- --listen ADDR:PORT [--config FILE]
//! cargo run --release --example udp_echo -- --connect ADDR:PORT [--count N] [--warmup W]
//!     [--size BYTES] [--timeout SECS] [--config FILE]
//! ```
//! Server: echoes every datagram to its sender until Ctrl-C/SIGTERM, then prints its counts.
//! Client: sends W (default 10) warm-up datagrams, then N (default 1000) measured ones, of
//! BYTES (default 64, at least 8: each starts with its big-endian sequence number; at most
//! 65507 to an IPv4 server, 65527 to an IPv6 one, the largest UDP payloads), one at a
//! time, checks each echo byte for byte, and prints `n=… lost=… min=… p50=… p99=… max=… us`
//! for the measured ones. An echo missing after `--timeout` (default 1 s)
//! counts as lost and the next datagram goes out; an echo that differs ends the run with exit
//! status 1, as does a run in which no echo came back. The logic is in
//! `fstack_examples::udp_echo`. `--help` lists the options; a bad command line exits 2 with one
//! line, a failed run exits 1 with one line.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Parser};
use fstack::{ShutdownSignal, Stack, StackOptions};
use fstack_examples::args;
use fstack_examples::udp_echo::{EchoProbe, EchoServer, ProbeConfig, ServerStats};

/// The command line (`--help` prints it).
#[derive(Parser, Debug)]
#[command(
    name = "udp_echo",
    about = "UDP echo over F-Stack. With --listen: echo every datagram to its sender until \
             Ctrl-C. With --connect: send W warm-up and N measured datagrams one at a time, check \
             each echo byte for byte, and print n, lost and min/p50/p99/max round trip in \
             microseconds.",
    args_override_self = true,
    group(ArgGroup::new("mode").required(true).args(["listen", "connect"]))
)]
struct Args {
    /// Server: echo the datagrams that arrive on this address
    #[arg(long, value_name = "ADDR:PORT", value_parser = args::socket_addr,
          conflicts_with_all = ["count", "warmup", "size", "timeout"])]
    listen: Option<SocketAddr>,
    /// Client: the echo server to measure (port 1-65535)
    #[arg(long, value_name = "ADDR:PORT", value_parser = args::destination)]
    connect: Option<SocketAddr>,
    /// F-Stack configuration file
    #[arg(long, value_name = "FILE", default_value = "f-stack.conf", value_parser = args::existing_file)]
    config: PathBuf,
    /// Client: datagrams measured, one at a time
    #[arg(long, value_name = "N", default_value = "1000", allow_negative_numbers = true, value_parser = args::whole_in(1, 10_000_000))]
    count: usize,
    /// Client: datagrams sent first and not measured (the first ones to a new peer wait for
    /// address resolution)
    #[arg(long, value_name = "W", default_value = "10", allow_negative_numbers = true, value_parser = args::whole_in(0, 10_000_000))]
    warmup: usize,
    /// Client: bytes per datagram, 8 (its sequence number) to the largest UDP payload: 65507
    /// to an IPv4 server, 65527 to an IPv6 one
    #[arg(long, value_name = "BYTES", default_value = "64", allow_negative_numbers = true, value_parser = args::whole_in(8, fstack::MAX_DATAGRAM_V6))]
    size: usize,
    /// Client: seconds to wait for each echo before counting the datagram as lost (decimals
    /// allowed)
    #[arg(long, value_name = "SECS", default_value = "1", allow_negative_numbers = true, value_parser = args::seconds)]
    timeout: Duration,
}

fn main() -> ExitCode {
    let args = match args::parse::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    // The size's bound depends on the server's family, known only once both are parsed.
    if let Some(addr) = args.connect {
        if addr.is_ipv4() && args.size > fstack::MAX_DATAGRAM_V4 {
            return args::Stop::Usage(format!(
                "invalid value '{}' for '--size <BYTES>': must be at most {} to an IPv4 \
                 server (see --help)",
                args.size,
                fstack::MAX_DATAGRAM_V4
            ))
            .report("udp_echo");
        }
    }
    let result = match (args.listen, args.connect) {
        (Some(addr), _) => serve(addr, &args.config),
        (None, Some(addr)) => probe(
            ProbeConfig {
                addr,
                count: args.count,
                warmup: args.warmup,
                size: args.size,
                timeout: args.timeout,
            },
            &args.config,
        ),
        (None, None) => unreachable!("clap requires --listen or --connect"),
    };
    args::exit("udp_echo", result)
}

fn serve(addr: SocketAddr, config: &Path) -> Result<(), String> {
    let shutdown =
        ShutdownSignal::install().map_err(|e| format!("installing signal handlers: {e}"))?;
    let stack = Stack::init(StackOptions::new(config)).map_err(|e| e.to_string())?;
    let server = EchoServer::bind(addr).map_err(|e| format!("binding {addr}: {e}"))?;
    let bound = server.local_addr().map_err(|e| e.to_string())?;
    eprintln!(
        "udp_echo: backend {}, echoing datagrams on {bound} (Ctrl-C stops)",
        fstack::backend()
    );
    // The socket is closed inside the loop: nothing may reach F-Stack after it.
    let mut server = Some(server);
    let mut stats = ServerStats::default();
    let result = stack.run(|| {
        let Some(srv) = server.as_mut() else {
            return ControlFlow::Break(Ok(()));
        };
        let outcome = if shutdown.requested() {
            Some(Ok(()))
        } else {
            srv.poll_once().err().map(|e| Err(e.to_string()))
        };
        match outcome {
            None => ControlFlow::Continue(()),
            Some(result) => {
                stats = srv.stats();
                server = None;
                ControlFlow::Break(result)
            }
        }
    });
    eprintln!(
        "udp_echo: stopped; {} datagrams echoed ({} bytes), {} truncated, {} echoes refused by \
         the stack",
        stats.echoed, stats.bytes, stats.truncated, stats.send_failed
    );
    result.unwrap_or(Ok(()))
}

fn probe(config: ProbeConfig, config_file: &Path) -> Result<(), String> {
    let (addr, count, warmup, size) = (config.addr, config.count, config.warmup, config.size);
    let shutdown =
        ShutdownSignal::install().map_err(|e| format!("installing signal handlers: {e}"))?;
    let stack = Stack::init(StackOptions::new(config_file)).map_err(|e| e.to_string())?;
    eprintln!(
        "udp_echo: backend {}, {warmup}+{count} datagrams of {size} bytes to {addr}, one at a \
         time, {} s for each echo",
        fstack::backend(),
        config.timeout.as_secs_f64()
    );
    let mut client = Some(EchoProbe::new(config).map_err(|e| e.to_string())?);
    let outcome = stack.run(|| {
        let Some(probe) = client.as_mut() else {
            return ControlFlow::Break(Err("no probe".to_string()));
        };
        let step = if shutdown.requested() {
            Err("interrupted".to_string())
        } else {
            probe.step().map_err(|e| e.to_string())
        };
        let done = match step {
            Ok(None) => return ControlFlow::Continue(()),
            Ok(Some(report)) => Ok(report),
            Err(e) => Err(e),
        };
        client = None; // the socket is closed inside the loop
        ControlFlow::Break(done)
    });
    let report = outcome.unwrap_or_else(|| Err("loop stopped".into()))?;
    if report.warmup_lost > 0 {
        eprintln!(
            "udp_echo: {} of {warmup} warm-up datagrams lost (not measured)",
            report.warmup_lost
        );
    }
    if report.late > 0 {
        eprintln!(
            "udp_echo: {} echoes came back after their timeout (or twice)",
            report.late
        );
    }
    println!(
        "udp_echo: backend {} echo {size} B: {report}",
        fstack::backend()
    );
    if report.round_trip.is_none() {
        return Err(format!(
            "no echo came back from {addr} ({} datagrams lost)",
            report.lost
        ));
    }
    Ok(())
}
