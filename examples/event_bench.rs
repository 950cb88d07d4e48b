//! Event API cost on real F-Stack: `Poll` (F-Stack's epoll, emulated on kqueue) against
//! `Kqueue` (F-Stack's native `ff_kevent`), in the same process, on the same connection.
//!
//! ```text
//! cargo run --release --example event_bench -- --connect ADDR:PORT [--config FILE]
//!     [--rounds R] [--count N] [--size BYTES]
//! ```
//! Connects once to a TCP echo server and registers the socket (readable, edge-triggered) with
//! both a `Poll` and a `Kqueue`. Then R rounds (default 5), each running N (default 2000)
//! one-at-a-time echo round trips of BYTES (default 64) driven by epoll, then N driven by
//! kqueue: every loop iteration makes exactly one wait call of the round's API. Per API it
//! prints the round-trip times (min/p50/p99/max, µs), the mean cost of a wait call that
//! returned nothing and of one that returned the echo's event (ns, timed around the call), and
//! the process CPU time per round trip (µs; F-Stack's loop polls without sleeping, so it is
//! close to the wall time). Needs real F-Stack: the kernel backend has no kqueue.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use fstack::{
    Events, FStackSocket, Interest, KEvents, Kqueue, Poll, ShutdownSignal, Stack, StackOptions,
    Token,
};
use fstack_examples::args;

/// The command line (`--help` prints it).
#[derive(Parser, Debug)]
#[command(
    name = "event_bench",
    about = "Poll (epoll) against Kqueue on real F-Stack: echo round trips driven by each, \
             alternating, on one connection; prints latency, cost per wait call and CPU per \
             round trip.",
    args_override_self = true
)]
struct Args {
    /// The echo server
    #[arg(long, value_name = "ADDR:PORT", value_parser = args::socket_addr)]
    connect: SocketAddr,
    /// F-Stack configuration file
    #[arg(long, value_name = "FILE", default_value = "f-stack.conf", value_parser = args::existing_file)]
    config: PathBuf,
    /// Rounds; each runs N round trips per API
    #[arg(long, value_name = "R", default_value = "5", value_parser = args::whole_in(1, 1000))]
    rounds: usize,
    /// Round trips per API per round
    #[arg(long, value_name = "N", default_value = "2000", value_parser = args::whole_in(1, 10_000_000))]
    count: usize,
    /// Bytes per message
    #[arg(long, value_name = "BYTES", default_value = "64", value_parser = args::whole_in(1, 65536))]
    size: usize,
}

fn main() -> ExitCode {
    match args::parse::<Args>() {
        Ok(args) => args::exit("event_bench", run(args)),
        Err(code) => code,
    }
}

/// Which API drives the current round trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Epoll,
    Kqueue,
}

/// What one API measured.
#[derive(Default)]
struct Stats {
    rtt_ns: Vec<u64>,
    empty_polls: u64,
    empty_ns: u64,
    event_polls: u64,
    event_ns: u64,
    cpu_ns: u64,
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

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

struct Bench {
    sock: FStackSocket,
    poll: Poll,
    kq: Kqueue,
    events: Events,
    kevents: KEvents,
    msg: Vec<u8>,
    got: usize,
    buf: Vec<u8>,
    sent_at: Option<Instant>,
    api: Api,
    done_in_api: usize,
    round: usize,
    round_cpu_start: u64,
    stats: [Stats; 2],
    count: usize,
    rounds: usize,
    registered: bool,
}

impl Bench {
    /// One loop iteration: send when idle, one wait call, read what arrived.
    fn step(&mut self) -> Result<bool, String> {
        if !self.registered {
            match self.sock.finish_connect() {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(e) => return Err(e.to_string()),
            }
            self.sock.set_nodelay(true).map_err(|e| e.to_string())?;
            self.poll
                .register(&self.sock, Token(1), Interest::READABLE)
                .map_err(|e| e.to_string())?;
            self.kq
                .register(&self.sock, Token(1), Interest::READABLE)
                .map_err(|e| e.to_string())?;
            self.registered = true;
            self.round_cpu_start = cpu_ns();
        }
        if self.sent_at.is_none() {
            self.sock
                .write_all(&self.msg)
                .map_err(|e| format!("write: {e}"))?;
            self.got = 0;
            self.sent_at = Some(Instant::now());
        }
        let start = Instant::now();
        let readable = match self.api {
            Api::Epoll => {
                self.poll
                    .poll(&mut self.events)
                    .map_err(|e| e.to_string())?;
                self.events.iter().any(|e| e.is_readable())
            }
            Api::Kqueue => {
                self.kq.poll(&mut self.kevents).map_err(|e| e.to_string())?;
                self.kevents.iter().any(|e| e.is_readable())
            }
        };
        let spent = start.elapsed().as_nanos() as u64;
        let stats = &mut self.stats[self.api as usize];
        if readable {
            stats.event_polls += 1;
            stats.event_ns += spent;
        } else {
            stats.empty_polls += 1;
            stats.empty_ns += spent;
            return Ok(false);
        }
        loop {
            match self.sock.read(&mut self.buf) {
                Ok(0) => return Err("the echo server closed the connection".into()),
                Ok(n) => {
                    if self.buf[..n] != self.msg[self.got..self.got + n] {
                        return Err("the echo differs from what was sent".into());
                    }
                    self.got += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        if self.got < self.msg.len() {
            return Ok(false);
        }
        let rtt = self.sent_at.take().expect("sent").elapsed().as_nanos() as u64;
        let stats = &mut self.stats[self.api as usize];
        stats.rtt_ns.push(rtt);
        self.done_in_api += 1;
        if self.done_in_api == self.count {
            let now = cpu_ns();
            self.stats[self.api as usize].cpu_ns += now - self.round_cpu_start;
            self.round_cpu_start = now;
            self.done_in_api = 0;
            self.api = match self.api {
                Api::Epoll => Api::Kqueue,
                Api::Kqueue => {
                    self.round += 1;
                    Api::Epoll
                }
            };
            // The next message's first byte changes, so a stale echo would not match.
            self.msg[0] = self.msg[0].wrapping_add(1);
        }
        Ok(self.round == self.rounds)
    }
}

fn run(args: Args) -> Result<(), String> {
    let shutdown =
        ShutdownSignal::install().map_err(|e| format!("installing signal handlers: {e}"))?;
    let stack = Stack::init(StackOptions::new(&args.config)).map_err(|e| e.to_string())?;
    let poll = Poll::new().map_err(|e| e.to_string())?;
    let kq = Kqueue::new().map_err(|e| e.to_string())?;
    eprintln!(
        "event_bench: backend {}, {} rounds x {} round trips of {} bytes per API to {}",
        fstack::backend(),
        args.rounds,
        args.count,
        args.size,
        args.connect
    );
    let mut bench: Option<Bench> = None;
    let mut parts = Some((poll, kq));
    let deadline = Instant::now() + Duration::from_secs(120);
    let result = stack.run(|| {
        if shutdown.requested() {
            return ControlFlow::Break(Err("interrupted".to_string()));
        }
        if Instant::now() > deadline {
            return ControlFlow::Break(Err("did not finish within 120 s".to_string()));
        }
        let b = match bench.as_mut() {
            Some(b) => b,
            None => {
                let (poll, kq) = parts.take().expect("once");
                let sock = match FStackSocket::connect(args.connect) {
                    Ok(s) => s,
                    Err(e) => return ControlFlow::Break(Err(e.to_string())),
                };
                bench.insert(Bench {
                    sock,
                    poll,
                    kq,
                    events: Events::with_capacity(64),
                    kevents: KEvents::with_capacity(64),
                    msg: (0..args.size).map(|i| i as u8).collect(),
                    got: 0,
                    buf: vec![0; args.size.max(4096)],
                    sent_at: None,
                    api: Api::Epoll,
                    done_in_api: 0,
                    round: 0,
                    round_cpu_start: 0,
                    stats: [Stats::default(), Stats::default()],
                    count: args.count,
                    rounds: args.rounds,
                    registered: false,
                })
            }
        };
        match b.step() {
            Ok(false) => ControlFlow::Continue(()),
            Ok(true) => ControlFlow::Break(Ok(())),
            Err(e) => ControlFlow::Break(Err(e)),
        }
    });
    match result {
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(e),
        None => return Err("the loop stopped early".into()),
    }
    let b = bench.expect("ran");
    let mut p50 = [0.0; 2];
    for (i, name) in ["epoll", "kqueue"].iter().enumerate() {
        let s = &b.stats[i];
        let mut rtt = s.rtt_ns.clone();
        rtt.sort_unstable();
        p50[i] = percentile(&rtt, 0.5);
        println!(
            "event_bench: {name:<6} n={} rtt min={:.1} p50={:.1} p99={:.1} max={:.1} us; \
             empty wait {:.0} ns ({} calls), wait with the event {:.0} ns ({} calls); \
             cpu {:.2} us/round trip",
            rtt.len(),
            percentile(&rtt, 0.0),
            p50[i],
            percentile(&rtt, 0.99),
            percentile(&rtt, 1.0),
            s.empty_ns as f64 / s.empty_polls.max(1) as f64,
            s.empty_polls,
            s.event_ns as f64 / s.event_polls.max(1) as f64,
            s.event_polls,
            s.cpu_ns as f64 / 1000.0 / rtt.len() as f64,
        );
    }
    println!("event_bench: kqueue/epoll p50 rtt = {:.3}", p50[1] / p50[0]);
    Ok(())
}
