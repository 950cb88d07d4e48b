//! UDP echo over F-Stack: the server and the round-trip probe behind `examples/udp_echo.rs`.
//!
//! [`EchoServer`] sends every datagram it receives back to its sender, unchanged.
//! [`EchoProbe`] sends `warmup` datagrams, then `count` measured ones, one at a time to an
//! echo server and times each echo; a datagram whose echo does not come back within the
//! timeout is counted as lost and the probe moves on, so a lost datagram never stalls it.
//! Warm-up datagrams are not measured: the first ones to a new peer may wait for (or, beyond
//! the stack's ARP hold queue, be dropped during) address resolution. Each datagram starts with its 8-byte
//! big-endian sequence number, so an echo that arrives after its timeout is recognised as late
//! and not mistaken for the current one; an echo whose bytes differ from what was sent ends the
//! probe with [`ProbeError::Mismatch`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Datagrams handled per loop iteration; readiness is kept for the next one.
const DRAIN_BUDGET: usize = 256;

use fstack::{Events, FStackUdpSocket, Interest, Poll, Token};

use crate::latency::Summary;

/// The receive buffer: longer than the largest UDP payload over IPv4 or IPv6, so no datagram
/// is truncated.
const BUFFER: usize = 65_536;
/// The bytes of the sequence number at the start of each probe datagram.
pub const SEQ_BYTES: usize = 8;

const SOCKET: Token = Token(0);

/// What the server has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Datagrams echoed.
    pub echoed: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Datagrams longer than the receive buffer (not echoed); none can be with this buffer.
    pub truncated: u64,
    /// Echoes the stack refused to send (e.g. to a sender address it cannot reach, or out of
    /// buffers): dropped, like any datagram the network loses.
    pub send_failed: u64,
}

/// A UDP echo server: every datagram goes back to its sender unchanged.
///
/// When the stack cannot take an echo right now (would block), the server stops reading until
/// the socket is writable again, so arriving datagrams wait in the socket's receive buffer
/// (and beyond it the stack drops them, as UDP may).
pub struct EchoServer {
    socket: FStackUdpSocket,
    poll: Poll,
    events: Events,
    buf: Vec<u8>,
    /// An echo that would have blocked: its length in `buf` and its destination.
    pending: Option<(usize, SocketAddr)>,
    readable: bool,
    writable: bool,
    stats: ServerStats,
}

impl EchoServer {
    /// Binds `addr`. Needs F-Stack initialised on this thread.
    pub fn bind(addr: SocketAddr) -> fstack::Result<EchoServer> {
        let socket = FStackUdpSocket::bind(addr)?;
        let mut poll = Poll::new()?;
        poll.register(&socket, SOCKET, Interest::READABLE | Interest::WRITABLE)?;
        Ok(EchoServer {
            socket,
            poll,
            events: Events::with_capacity(4),
            buf: vec![0; BUFFER],
            pending: None,
            // Datagrams may have arrived before the registration.
            readable: true,
            writable: true,
            stats: ServerStats::default(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> fstack::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Counters so far.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// Echoes what has arrived, without blocking; call it once per loop iteration. Fails only
    /// when the socket itself fails (a datagram, whatever it holds, never ends the server).
    pub fn poll_once(&mut self) -> fstack::Result<()> {
        self.poll.poll(&mut self.events)?;
        for ev in &self.events {
            self.readable |= ev.is_readable() || ev.is_error();
            self.writable |= ev.is_writable() || ev.is_error();
        }
        if let Some((n, to)) = self.pending {
            if !self.writable || !self.echo(n, to)? {
                return Ok(());
            }
            self.pending = None;
        }
        // A budget per loop iteration: a peer that keeps the socket full (or a datagram that
        // echoes to itself) must not keep the loop, and with it Ctrl-C, from coming round.
        for _ in 0..DRAIN_BUDGET {
            if !self.readable {
                break;
            }
            match self.socket.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    if !self.echo(n, from)? {
                        self.pending = Some((n, from));
                        return Ok(());
                    }
                }
                Err(e) if e.is_would_block() => self.readable = false,
                Err(e) if e.is_truncated() => self.stats.truncated += 1,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sends `buf[..n]` to `to`: true when done (sent, or refused by the stack and counted),
    /// false when it would block.
    fn echo(&mut self, n: usize, to: SocketAddr) -> fstack::Result<bool> {
        match self.socket.send_to(&self.buf[..n], to) {
            Ok(_) => {
                self.stats.echoed += 1;
                self.stats.bytes += n as u64;
                Ok(true)
            }
            Err(e) if e.is_would_block() => {
                self.writable = false;
                Ok(false)
            }
            Err(fstack::Error::Io { .. }) => {
                self.stats.send_failed += 1;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }
}

impl fmt::Debug for EchoServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoServer")
            .field("socket", &self.socket)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// What [`EchoProbe`] measures.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// The echo server.
    pub addr: SocketAddr,
    /// Datagrams measured, one at a time.
    pub count: usize,
    /// Datagrams sent first and not measured (their losses are counted apart).
    pub warmup: usize,
    /// Bytes per datagram, at least [`SEQ_BYTES`].
    pub size: usize,
    /// How long to wait for each echo before counting the datagram as lost.
    pub timeout: Duration,
}

/// The outcome of a finished probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeReport {
    /// Measured datagrams sent.
    pub sent: usize,
    /// Measured datagrams whose echo did not come back within the timeout.
    pub lost: usize,
    /// Warm-up datagrams whose echo did not come back within the timeout.
    pub warmup_lost: usize,
    /// Echoes that arrived after their datagram's timeout, or twice.
    pub late: usize,
    /// Round trips of the echoes that came back in time; `None` when none did.
    pub round_trip: Option<Summary>,
}

impl fmt::Display for ProbeReport {
    /// `n=N lost=L min=… p50=… p99=… max=… us` (microseconds, one decimal; `-` without any
    /// echo).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e6);
        match &self.round_trip {
            Some(s) => write!(
                f,
                "n={} lost={} min={} p50={} p99={} max={} us",
                s.count,
                self.lost,
                us(s.min),
                us(s.p50),
                us(s.p99),
                us(s.max)
            ),
            None => write!(f, "n=0 lost={} min=- p50=- p99=- max=- us", self.lost),
        }
    }
}

/// Why a probe failed.
#[derive(Debug)]
pub enum ProbeError {
    /// An F-Stack call failed.
    Stack(fstack::Error),
    /// The peer answered with an ICMP port unreachable: nothing listens there.
    Refused(SocketAddr),
    /// An echo's bytes differ from the datagram sent with its sequence number.
    Mismatch {
        /// The sequence number the echo carried (or `None` when it is shorter than one).
        seq: Option<u64>,
        /// Bytes sent with that number.
        sent: usize,
        /// Bytes that came back.
        got: usize,
        /// The first byte that differs.
        first_difference: usize,
    },
    /// An echo carried a sequence number never sent.
    Unknown {
        /// The number.
        seq: u64,
    },
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Stack(e) => write!(f, "{e}"),
            ProbeError::Refused(addr) => write!(
                f,
                "{addr} refused the datagrams (ICMP port unreachable): no echo server there"
            ),
            ProbeError::Mismatch {
                seq: Some(seq),
                sent,
                got,
                first_difference,
            } => write!(
                f,
                "the echo of datagram {seq} differs from what was sent ({sent} bytes sent, \
                 {got} came back, first difference at byte {first_difference})"
            ),
            ProbeError::Mismatch { got, .. } => write!(
                f,
                "an echo of {got} bytes is shorter than a datagram's {SEQ_BYTES}-byte sequence \
                 number"
            ),
            ProbeError::Unknown { seq } => {
                write!(
                    f,
                    "an echo carried sequence number {seq}, which was never sent"
                )
            }
        }
    }
}

impl std::error::Error for ProbeError {}

impl From<fstack::Error> for ProbeError {
    fn from(e: fstack::Error) -> ProbeError {
        ProbeError::Stack(e)
    }
}

/// The datagram with sequence number `seq`: the number (8 bytes, big-endian), then bytes that
/// depend on it and their position, `size` bytes in all.
pub fn probe_datagram(seq: u64, size: usize, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend(
        (SEQ_BYTES..size).map(|i| (seq.wrapping_mul(31).wrapping_add(i as u64) % 251) as u8),
    );
}

/// The round-trip probe's state, advanced by [`EchoProbe::step`] once per loop iteration.
pub struct EchoProbe {
    config: ProbeConfig,
    socket: Option<FStackUdpSocket>,
    poll: Poll,
    events: Events,
    /// The datagram in flight: its number and when it was sent.
    in_flight: Option<(u64, Instant)>,
    next_seq: u64,
    message: Vec<u8>,
    expected: Vec<u8>,
    buf: Vec<u8>,
    writable: bool,
    samples: Vec<Duration>,
    lost: usize,
    warmup_lost: usize,
    late: usize,
}

impl EchoProbe {
    /// A probe for `config`. Needs F-Stack initialised on this thread; the socket is created
    /// and connected in the first [`step`](Self::step) (connects need the running loop).
    pub fn new(config: ProbeConfig) -> Result<EchoProbe, ProbeError> {
        if config.count == 0 || config.size < SEQ_BYTES || config.size > BUFFER {
            return Err(ProbeError::Stack(fstack::Error::InvalidArgument(format!(
                "count must be at least 1 and size {SEQ_BYTES} to {BUFFER} bytes"
            ))));
        }
        Ok(EchoProbe {
            poll: Poll::new()?,
            events: Events::with_capacity(4),
            socket: None,
            in_flight: None,
            next_seq: 0,
            message: Vec::with_capacity(config.size),
            expected: Vec::with_capacity(config.size),
            buf: vec![0; BUFFER],
            writable: true,
            samples: Vec::with_capacity(config.count),
            lost: 0,
            warmup_lost: 0,
            late: 0,
            config,
        })
    }

    /// Does whatever is ready without blocking; `Some(report)` once every datagram was
    /// answered or timed out. Call it from inside the running loop.
    pub fn step(&mut self) -> Result<Option<ProbeReport>, ProbeError> {
        if self.socket.is_none() {
            let local = match self.config.addr.ip() {
                IpAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                IpAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
            };
            let socket = FStackUdpSocket::bind(local)?;
            socket.connect(self.config.addr)?;
            self.poll
                .register(&socket, SOCKET, Interest::READABLE | Interest::WRITABLE)?;
            self.socket = Some(socket);
        }
        self.poll.poll(&mut self.events)?;
        for ev in &self.events {
            self.writable |= ev.is_writable() || ev.is_error();
        }
        self.receive()?;
        if let Some((seq, sent_at)) = self.in_flight {
            if sent_at.elapsed() >= self.config.timeout {
                if self.is_warmup(seq) {
                    self.warmup_lost += 1;
                } else {
                    self.lost += 1;
                }
                self.in_flight = None;
            }
        }
        let total = (self.config.warmup + self.config.count) as u64;
        if self.in_flight.is_none() && self.next_seq < total {
            self.send()?;
        }
        if self.in_flight.is_none() && self.next_seq == total {
            return Ok(Some(ProbeReport {
                sent: self.config.count,
                lost: self.lost,
                warmup_lost: self.warmup_lost,
                late: self.late,
                round_trip: Summary::of(&mut self.samples),
            }));
        }
        Ok(None)
    }

    fn is_warmup(&self, seq: u64) -> bool {
        seq < self.config.warmup as u64
    }

    fn send(&mut self) -> Result<(), ProbeError> {
        if !self.writable {
            return Ok(());
        }
        let socket = self.socket.as_ref().expect("created in step");
        let seq = self.next_seq;
        probe_datagram(seq, self.config.size, &mut self.message);
        let started = Instant::now();
        match socket.send(&self.message) {
            Ok(_) => {
                self.in_flight = Some((seq, started));
                self.next_seq += 1;
                Ok(())
            }
            Err(e) if e.is_would_block() => {
                self.writable = false;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                Err(ProbeError::Refused(self.config.addr))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Takes every echo that arrived: the current one ends its round trip; earlier ones are
    /// late; anything else is an error.
    fn receive(&mut self) -> Result<(), ProbeError> {
        let socket = self.socket.as_ref().expect("created in step");
        loop {
            let n = match socket.recv(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.is_would_block() => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Err(ProbeError::Refused(self.config.addr))
                }
                Err(e) => return Err(e.into()),
            };
            let got = &self.buf[..n];
            let Some(seq) = got
                .get(..SEQ_BYTES)
                .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
            else {
                return Err(ProbeError::Mismatch {
                    seq: None,
                    sent: self.config.size,
                    got: n,
                    first_difference: n,
                });
            };
            if seq >= self.next_seq {
                return Err(ProbeError::Unknown { seq });
            }
            probe_datagram(seq, self.config.size, &mut self.expected);
            if got != self.expected.as_slice() {
                let first_difference = got
                    .iter()
                    .zip(&self.expected)
                    .position(|(a, b)| a != b)
                    .unwrap_or(n.min(self.expected.len()));
                return Err(ProbeError::Mismatch {
                    seq: Some(seq),
                    sent: self.expected.len(),
                    got: n,
                    first_difference,
                });
            }
            match self.in_flight {
                Some((current, sent_at)) if current == seq => {
                    if !self.is_warmup(seq) {
                        self.samples.push(sent_at.elapsed());
                    }
                    self.in_flight = None;
                }
                _ => self.late += 1,
            }
        }
    }
}

impl fmt::Debug for EchoProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoProbe")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_carry_their_number() {
        let mut d = Vec::new();
        probe_datagram(0x0102_0304_0506_0708, 12, &mut d);
        assert_eq!(d.len(), 12);
        assert_eq!(&d[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        let mut e = Vec::new();
        probe_datagram(0x0102_0304_0506_0709, 12, &mut e);
        assert_ne!(d[8..], e[8..], "the payload depends on the number");
        probe_datagram(5, 8, &mut d);
        assert_eq!(d, 5u64.to_be_bytes());
    }

    #[test]
    fn report_line() {
        let us = Duration::from_micros;
        let r = ProbeReport {
            sent: 4,
            lost: 1,
            warmup_lost: 0,
            late: 0,
            round_trip: Summary::of(&mut [us(30), us(10), us(20)]),
        };
        assert_eq!(
            r.to_string(),
            "n=3 lost=1 min=10.0 p50=20.0 p99=30.0 max=30.0 us"
        );
        let none = ProbeReport {
            sent: 2,
            lost: 2,
            warmup_lost: 1,
            late: 0,
            round_trip: None,
        };
        assert_eq!(none.to_string(), "n=0 lost=2 min=- p50=- p99=- max=- us");
    }
}
