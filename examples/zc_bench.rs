//! Zero-copy send against plain writes on real F-Stack, same process, same connection.
//!
//! ```text
//! zc_bench --connect ADDR:PORT [--config FILE] [--rounds R] [--mb M] [--chunk BYTES]
//! ```
//! Connects to a TCP sink and sends R rounds (default 4) of M MiB (default 64) with plain
//! `write`, then M MiB with `FStackSocket::write_zero_copy`, in chunks of BYTES (default
//! 16384), writing until `WouldBlock` on each writable event. Prints per method the bytes/s and
//! the process CPU time per MiB. Needs F-Stack built with `FF_ZC_SEND=1`
//! (`fstack::zero_copy_send()`); otherwise it says so and exits 1.

use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use fstack::{Events, FStackSocket, Interest, Poll, ShutdownSignal, Stack, StackOptions, Token};
use fstack_examples::args;

/// The command line (`--help` prints it).
#[derive(Parser, Debug)]
#[command(
    name = "zc_bench",
    about = "Plain writes against zero-copy writes (FF_ZC_SEND) to a TCP sink over F-Stack, \
             alternating rounds on one connection; prints bytes/s and CPU per MiB.",
    args_override_self = true
)]
struct Args {
    /// The sink
    #[arg(long, value_name = "ADDR:PORT", value_parser = args::socket_addr)]
    connect: SocketAddr,
    /// F-Stack configuration file
    #[arg(long, value_name = "FILE", default_value = "f-stack.conf", value_parser = args::existing_file)]
    config: PathBuf,
    /// Rounds; each sends M MiB per method
    #[arg(long, value_name = "R", default_value = "4", value_parser = args::whole_in(1, 1000))]
    rounds: usize,
    /// MiB per method per round
    #[arg(long, value_name = "M", default_value = "64", value_parser = args::whole_in(1, 100_000))]
    mb: usize,
    /// Bytes per write
    #[arg(long, value_name = "BYTES", default_value = "16384", value_parser = args::whole_in(1, 1 << 20))]
    chunk: usize,
}

fn main() -> ExitCode {
    match args::parse::<Args>() {
        Ok(args) => args::exit("zc_bench", run(args)),
        Err(code) => code,
    }
}

/// CPU time of this process so far, in nanoseconds.
fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn run(args: Args) -> Result<(), String> {
    if !fstack::zero_copy_send() {
        return Err(
            "this build's F-Stack was not built with FF_ZC_SEND=1 (fstack::zero_copy_send() is \
             false): see the fstack::zc docs to enable it"
                .into(),
        );
    }
    let shutdown =
        ShutdownSignal::install().map_err(|e| format!("installing signal handlers: {e}"))?;
    let stack = Stack::init(StackOptions::new(&args.config)).map_err(|e| e.to_string())?;
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(16);
    eprintln!(
        "zc_bench: backend {}, {} rounds x {} MiB per method in {}-byte writes to {}",
        fstack::backend(),
        args.rounds,
        args.mb,
        args.chunk,
        args.connect
    );
    let chunk: Vec<u8> = (0..args.chunk).map(|i| (i * 31) as u8).collect();
    let per_round = (args.mb as u64) << 20;
    let mut sock: Option<FStackSocket> = None;
    let mut connected = false;
    // [plain, zero-copy]: bytes, wall ns, cpu ns, writes.
    let mut totals = [[0u64; 4]; 2];
    let mut method = 0usize;
    let mut round = 0usize;
    let mut sent_in_round = 0u64;
    let mut round_start = (Instant::now(), 0u64);
    let deadline = Instant::now() + Duration::from_secs(300);
    let result = stack.run(|| -> ControlFlow<Result<(), String>> {
        if shutdown.requested() {
            return ControlFlow::Break(Err("interrupted".into()));
        }
        if Instant::now() > deadline {
            return ControlFlow::Break(Err("did not finish within 300 s".into()));
        }
        let s = match sock.as_mut() {
            Some(s) => s,
            None => {
                let s = match FStackSocket::connect(args.connect) {
                    Ok(s) => s,
                    Err(e) => return ControlFlow::Break(Err(e.to_string())),
                };
                if let Err(e) = poll.register(&s, Token(0), Interest::WRITABLE) {
                    return ControlFlow::Break(Err(e.to_string()));
                }
                sock.insert(s)
            }
        };
        if let Err(e) = poll.poll(&mut events) {
            return ControlFlow::Break(Err(e.to_string()));
        }
        if !connected {
            match s.finish_connect() {
                Ok(true) => {
                    connected = true;
                    round_start = (Instant::now(), cpu_ns());
                }
                Ok(false) => return ControlFlow::Continue(()),
                Err(e) => return ControlFlow::Break(Err(e.to_string())),
            }
        } else if events.is_empty() {
            return ControlFlow::Continue(());
        }
        loop {
            let want = (per_round - sent_in_round).min(chunk.len() as u64) as usize;
            // Ok(None): WouldBlock.
            let r = if method == 0 {
                match s.write(&chunk[..want]) {
                    Ok(n) => Ok(Some(n)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(None),
                    Err(e) => Err(format!("write: {e}")),
                }
            } else {
                match s.write_zero_copy(&chunk[..want]) {
                    Ok(n) => Ok(Some(n)),
                    Err(e) if e.is_would_block() => Ok(None),
                    Err(e) => Err(e.to_string()),
                }
            };
            match r {
                Ok(Some(n)) => {
                    sent_in_round += n as u64;
                    totals[method][3] += 1;
                }
                Ok(None) => break,
                Err(e) => return ControlFlow::Break(Err(e)),
            }
            if sent_in_round == per_round {
                let t = &mut totals[method];
                t[0] += sent_in_round;
                t[1] += round_start.0.elapsed().as_nanos() as u64;
                t[2] += cpu_ns() - round_start.1;
                sent_in_round = 0;
                round_start = (Instant::now(), cpu_ns());
                method ^= 1;
                if method == 0 {
                    round += 1;
                    if round == args.rounds {
                        return ControlFlow::Break(Ok(()));
                    }
                }
            }
        }
        ControlFlow::Continue(())
    });
    match result {
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(e),
        None => return Err("the loop stopped early".into()),
    }
    let mut rate = [0.0; 2];
    for (i, name) in ["plain", "zero-copy"].iter().enumerate() {
        let [bytes, wall, cpu, writes] = totals[i];
        rate[i] = bytes as f64 / (wall as f64 / 1e9) / 1e6;
        println!(
            "zc_bench: {name:<9} {} MiB in {writes} writes: {:.1} MB/s, cpu {:.1} us/MiB",
            bytes >> 20,
            rate[i],
            cpu as f64 / 1000.0 / (bytes >> 20) as f64
        );
    }
    println!(
        "zc_bench: zero-copy/plain throughput = {:.3}",
        rate[1] / rate[0]
    );
    let _ = std::io::stdout().flush();
    Ok(())
}
