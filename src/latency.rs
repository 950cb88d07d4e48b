//! TCP latency probe: connect time and small-message echo round trips, measured inside the
//! F-Stack loop. The logic behind `examples/tcp_latency.rs`.
//!
//! [`LatencyClient::step`] is called once per loop iteration. It connects to the target
//! `connects` times in a row (closing all but the last connection, each timed from `ff_connect`
//! to the completed handshake), then sends `size`-byte messages on the last connection one at a
//! time and waits for each to come back byte-exact before sending the next.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fstack::{Error, Events, FStackSocket, Interest, Poll, Ready, Token};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// The echo server.
    pub addr: SocketAddr,
    /// Connections opened (each one timed); the last carries the echo round trips.
    pub connects: usize,
    /// Round trips measured.
    pub round_trips: usize,
    /// Round trips done first and not measured (warm caches, settled congestion window).
    pub warmup: usize,
    /// Bytes per message.
    pub size: usize,
}

impl Config {
    /// Defaults: 10 connects, 10 warm-up and 1,000 measured round trips of 64 bytes.
    pub fn new(addr: SocketAddr) -> Config {
        Config {
            addr,
            connects: 10,
            round_trips: 1000,
            warmup: 10,
            size: 64,
        }
    }
}

/// Order statistics of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Smallest sample.
    pub min: Duration,
    /// Median (nearest rank).
    pub p50: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Largest sample.
    pub max: Duration,
}

impl Summary {
    /// Summarises `samples` (sorted in place); `None` when empty.
    pub fn of(samples: &mut [Duration]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let rank = |p: usize| {
            // Nearest-rank percentile: the smallest sample with at least p% at or below it.
            let r = (p * samples.len()).div_ceil(100);
            samples[r.clamp(1, samples.len()) - 1]
        };
        Some(Summary {
            count: samples.len(),
            min: samples[0],
            p50: rank(50),
            p99: rank(99),
            max: samples[samples.len() - 1],
        })
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        write!(
            f,
            "n={} min={:.1} p50={:.1} p99={:.1} max={:.1} us",
            self.count,
            us(self.min),
            us(self.p50),
            us(self.p99),
            us(self.max)
        )
    }
}

/// The measurements of a finished run.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// Time from `ff_connect` to the established connection.
    pub connect: Summary,
    /// Echo round trips of one message.
    pub round_trip: Summary,
}

enum Phase {
    Connecting {
        started: Instant,
    },
    Echo {
        sent: usize,
        received: usize,
        started: Instant,
    },
}

/// The probe's state, advanced by [`LatencyClient::step`] once per loop iteration.
pub struct LatencyClient {
    config: Config,
    poll: Poll,
    events: Events,
    sock: Option<(FStackSocket, Phase)>,
    readable: bool,
    writable: bool,
    message: Vec<u8>,
    echoed: Vec<u8>,
    connect_samples: Vec<Duration>,
    rtt_samples: Vec<Duration>,
    round: usize,
}

const CONN: Token = Token(0);

impl LatencyClient {
    /// A probe for `config`. Needs F-Stack initialised on this thread.
    pub fn new(config: Config) -> fstack::Result<LatencyClient> {
        if config.connects == 0 || config.size == 0 {
            return Err(fstack::Error::InvalidArgument(
                "connects and size must be at least 1".into(),
            ));
        }
        Ok(LatencyClient {
            poll: Poll::new()?,
            events: Events::with_capacity(4),
            sock: None,
            readable: false,
            writable: false,
            message: vec![0; config.size],
            echoed: vec![0; config.size],
            connect_samples: Vec::with_capacity(config.connects),
            rtt_samples: Vec::with_capacity(config.round_trips),
            round: 0,
            config,
        })
    }

    /// Does whatever is ready without blocking; `Some(report)` once finished (the connection is
    /// then closed). Call it from inside the running loop.
    pub fn step(&mut self) -> fstack::Result<Option<Report>> {
        if self.sock.is_none() {
            let started = Instant::now();
            let sock = FStackSocket::connect(self.config.addr)?;
            self.poll
                .register(&sock, CONN, Interest::READABLE | Interest::WRITABLE)?;
            self.readable = false;
            self.writable = false;
            self.sock = Some((sock, Phase::Connecting { started }));
        }
        self.poll.poll(&mut self.events)?;
        for ev in &self.events {
            self.readable |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
            self.writable |= ev.is_writable() || ev.is_error();
        }
        let (mut sock, phase) = self.sock.take().expect("connected above");
        let next = match phase {
            Phase::Connecting { started } => self.connecting(&mut sock, started)?,
            Phase::Echo {
                sent,
                received,
                started,
            } => self.echo(&mut sock, sent, received, started)?,
        };
        match next {
            Some(phase) => {
                self.sock = Some((sock, phase));
                Ok(None)
            }
            None => {
                // Closed inside the loop, before it ends.
                self.poll.deregister(&sock)?;
                drop(sock);
                if self.connect_samples.len() < self.config.connects {
                    return Ok(None); // the next step connects again
                }
                Ok(Some(Report {
                    connect: Summary::of(&mut self.connect_samples).expect("connects >= 1"),
                    round_trip: Summary::of(&mut self.rtt_samples).unwrap_or(Summary {
                        count: 0,
                        min: Duration::ZERO,
                        p50: Duration::ZERO,
                        p99: Duration::ZERO,
                        max: Duration::ZERO,
                    }),
                }))
            }
        }
    }

    /// The next phase, or `None` to close the connection.
    fn connecting(
        &mut self,
        sock: &mut FStackSocket,
        started: Instant,
    ) -> fstack::Result<Option<Phase>> {
        if !self.writable {
            return Ok(Some(Phase::Connecting { started }));
        }
        if !sock.finish_connect()? {
            self.writable = false;
            return Ok(Some(Phase::Connecting { started }));
        }
        self.connect_samples.push(started.elapsed());
        if self.connect_samples.len() < self.config.connects {
            return Ok(None);
        }
        sock.set_nodelay(true)?;
        Ok(Some(self.next_message()))
    }

    /// The next phase, or `None` when all round trips are done.
    fn echo(
        &mut self,
        sock: &mut FStackSocket,
        mut sent: usize,
        mut received: usize,
        mut started: Instant,
    ) -> fstack::Result<Option<Phase>> {
        if sent == 0 {
            started = Instant::now(); // the clock runs from the first write
        }
        while sent < self.message.len() && self.writable {
            let written = sock.write(&self.message[sent..]).ready();
            match written.map_err(|e| Error::io("write", e))? {
                Some(n) => sent += n,
                None => self.writable = false,
            }
        }
        while received < self.echoed.len() && self.readable {
            let read = sock.read(&mut self.echoed[received..]).ready();
            match read.map_err(|e| Error::io("read", e))? {
                Some(0) => {
                    return Err(Error::io(
                        "read",
                        std::io::Error::new(
                            ErrorKind::UnexpectedEof,
                            "the echo server closed the connection",
                        ),
                    ))
                }
                Some(n) => received += n,
                None => self.readable = false,
            }
        }
        if received < self.echoed.len() {
            return Ok(Some(Phase::Echo {
                sent,
                received,
                started,
            }));
        }
        let rtt = started.elapsed();
        if self.echoed != self.message {
            return Err(Error::io(
                "read",
                std::io::Error::new(ErrorKind::InvalidData, "echo differs from message"),
            ));
        }
        if self.round >= self.config.warmup {
            self.rtt_samples.push(rtt);
        }
        self.round += 1;
        if self.round < self.config.warmup + self.config.round_trips {
            Ok(Some(self.next_message()))
        } else {
            Ok(None)
        }
    }

    /// Fills the next message (distinct per round, so a stale echo cannot pass); it is written
    /// on the next step (the socket is usually writable), which also starts its clock.
    fn next_message(&mut self) -> Phase {
        let round = self.round as u64;
        for (i, b) in self.message.iter_mut().enumerate() {
            *b = (round.wrapping_mul(31).wrapping_add(i as u64) % 251) as u8;
        }
        self.writable = true;
        Phase::Echo {
            sent: 0,
            received: 0,
            started: Instant::now(),
        }
    }
}

impl std::fmt::Debug for LatencyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&u| Duration::from_micros(u)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut s: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let sum = Summary::of(&mut s).unwrap();
        assert_eq!(sum.count, 100);
        assert_eq!(sum.min, Duration::from_micros(1));
        assert_eq!(sum.p50, Duration::from_micros(50));
        assert_eq!(sum.p99, Duration::from_micros(99));
        assert_eq!(sum.max, Duration::from_micros(100));

        let sum = Summary::of(&mut us(&[7])).unwrap();
        assert_eq!((sum.p50, sum.p99, sum.max), (sum.min, sum.min, sum.min));

        let sum = Summary::of(&mut us(&[3, 1, 2])).unwrap();
        assert_eq!(sum.p50, Duration::from_micros(2));
        assert_eq!(sum.p99, Duration::from_micros(3));
        assert!(Summary::of(&mut []).is_none());
    }

    #[test]
    fn display_in_microseconds() {
        let sum = Summary::of(&mut us(&[10, 20])).unwrap();
        assert_eq!(
            sum.to_string(),
            "n=2 min=10.0 p50=10.0 p99=20.0 max=20.0 us"
        );
    }
}
