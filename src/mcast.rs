//! Multicast receiving over F-Stack: the logic behind `examples/mcast_recv.rs`.
//!
//! [`McastReceiver`] joins an IPv4 group on one of the stack's interfaces and reads its
//! datagrams; [`SeqTracker`] follows the big-endian sequence number each datagram starts with
//! (the usual shape of market-data feeds) and counts the numbers that never arrived.
//!
//! # How sequence numbers are counted
//!
//! The range is the numbers from the first one received to the highest one received.
//!
//! - **received**: every datagram that carries a sequence number, duplicates and late ones
//!   included.
//! - **gaps**: the numbers in the range that have not been received. A datagram ahead of the
//!   highest adds the numbers it skipped; a late one (reordered) that fills a gap removes it
//!   again, so reordering alone leaves no gap once everything arrived. Late ones are placed
//!   this way within [`WINDOW`] numbers of the highest; an older one cannot be told from a
//!   duplicate and changes nothing (counted as `too_old`).
//! - **duplicates**: a number already received (within the window) changes nothing.
//! - A number below the first one received is outside the range (the receiver cannot know
//!   where the sender started): counted as `before_first`, no gap changes.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// Datagrams read per [`McastReceiver::poll_once`] call.
const DRAIN_BUDGET: usize = 256;

use fstack::{Events, FStackUdpSocket, Interest, Poll, Token};

/// Bytes of the sequence number at the start of each datagram.
pub const SEQ_BYTES: usize = 8;
/// How far behind the highest number a late datagram is still placed (numbers).
pub const WINDOW: u64 = 1 << 16;

/// What a sequence number did to the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The first datagram: it starts the range.
    First,
    /// The next number after the highest.
    InOrder,
    /// Ahead of the highest: `skipped` numbers became gaps.
    Ahead {
        /// Numbers between the previous highest and this one.
        skipped: u64,
    },
    /// Below the highest and not seen before: it filled a gap.
    Late,
    /// Seen before.
    Duplicate,
    /// More than [`WINDOW`] below the highest: cannot be placed.
    TooOld,
    /// Below the first number received.
    BeforeFirst,
}

/// Counts of a sequence of numbers (see the module docs for the rules).
#[derive(Debug, Clone)]
pub struct SeqTracker {
    first: Option<u64>,
    highest: u64,
    /// Bit `n % WINDOW` says whether `n` arrived, for `n` in `(highest - WINDOW, highest]`.
    seen: Vec<u64>,
    received: u64,
    gaps: u64,
    duplicates: u64,
    late: u64,
    too_old: u64,
    before_first: u64,
}

impl Default for SeqTracker {
    fn default() -> Self {
        SeqTracker::new()
    }
}

impl SeqTracker {
    /// Nothing received yet.
    pub fn new() -> SeqTracker {
        SeqTracker {
            first: None,
            highest: 0,
            seen: vec![0; (WINDOW / 64) as usize],
            received: 0,
            gaps: 0,
            duplicates: 0,
            late: 0,
            too_old: 0,
            before_first: 0,
        }
    }

    fn bit(n: u64) -> (usize, u64) {
        let i = n % WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    fn is_seen(&self, n: u64) -> bool {
        let (w, b) = Self::bit(n);
        self.seen[w] & b != 0
    }

    fn mark(&mut self, n: u64) {
        let (w, b) = Self::bit(n);
        self.seen[w] |= b;
    }

    /// Records one datagram's number.
    pub fn record(&mut self, seq: u64) -> Arrival {
        self.received += 1;
        let Some(first) = self.first else {
            self.first = Some(seq);
            self.highest = seq;
            self.mark(seq);
            return Arrival::First;
        };
        if seq > self.highest {
            let skipped = seq - self.highest - 1;
            // The numbers entering the window replace ones that leave it.
            if skipped + 1 >= WINDOW {
                self.seen.fill(0);
            } else {
                for n in self.highest + 1..=seq {
                    let (w, b) = Self::bit(n);
                    self.seen[w] &= !b;
                }
            }
            self.highest = seq;
            self.mark(seq);
            self.gaps = self.gaps.saturating_add(skipped);
            return if skipped == 0 {
                Arrival::InOrder
            } else {
                Arrival::Ahead { skipped }
            };
        }
        if seq < first {
            self.before_first += 1;
            return Arrival::BeforeFirst;
        }
        if self.highest - seq >= WINDOW {
            self.too_old += 1;
            return Arrival::TooOld;
        }
        if self.is_seen(seq) {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.mark(seq);
        self.gaps -= 1; // it was counted as a gap when a later number arrived first
        self.late += 1;
        Arrival::Late
    }

    /// Datagrams recorded.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Numbers in the range not received.
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// Numbers received again.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Late arrivals that filled a gap.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Arrivals too far behind to place.
    pub fn too_old(&self) -> u64 {
        self.too_old
    }

    /// Arrivals below the first number.
    pub fn before_first(&self) -> u64 {
        self.before_first
    }

    /// The highest number received, if any.
    pub fn highest(&self) -> Option<u64> {
        self.first.map(|_| self.highest)
    }
}

/// Where and how to receive.
#[derive(Debug, Clone)]
pub struct McastConfig {
    /// The group (224.0.0.0/4) and port.
    pub group: SocketAddrV4,
    /// One of the stack's IPv4 addresses: the interface to join on (`0.0.0.0` lets the stack
    /// choose by its route to the group).
    pub interface: Ipv4Addr,
    /// Bytes per receive; a longer datagram is received truncated to it (and reported).
    pub buffer: usize,
}

/// One datagram as [`McastReceiver::poll_once`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram {
    /// A datagram with a sequence number.
    Numbered {
        /// Its sequence number.
        seq: u64,
        /// Bytes received (the buffer's length when truncated).
        len: usize,
        /// It was longer than the buffer: the rest is gone.
        truncated: bool,
        /// What it did to the count.
        arrival: Arrival,
    },
    /// Shorter than a sequence number: not counted.
    Short {
        /// Its length.
        len: usize,
        /// Its sender, when known.
        from: Option<SocketAddr>,
    },
}

impl fmt::Display for Datagram {
    /// `seq=S len=L` (with ` truncated` when cut), or `short len=L`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datagram::Numbered {
                seq,
                len,
                truncated,
                ..
            } => {
                write!(f, "seq={seq} len={len}")?;
                if *truncated {
                    f.write_str(" truncated")?;
                }
                Ok(())
            }
            Datagram::Short { len, .. } => write!(f, "short len={len}"),
        }
    }
}

const SOCKET: Token = Token(0);

/// A socket joined to a multicast group, with its sequence tracker.
pub struct McastReceiver {
    config: McastConfig,
    socket: FStackUdpSocket,
    poll: Poll,
    events: Events,
    buf: Vec<u8>,
    readable: bool,
    tracker: SeqTracker,
    short: u64,
    truncated: u64,
}

impl McastReceiver {
    /// Binds the group's address and port and joins the group on `config.interface`. Needs
    /// F-Stack initialised on this thread.
    ///
    /// Errors: [`fstack::Error::InvalidArgument`] for a group outside 224.0.0.0/4, a buffer
    /// shorter than [`SEQ_BYTES`], or a multicast/broadcast interface address;
    /// [`fstack::Error::Multicast`] when the stack refuses to join (e.g. the interface address
    /// is not one of its own).
    pub fn join(config: McastConfig) -> fstack::Result<McastReceiver> {
        if config.buffer < SEQ_BYTES {
            return Err(fstack::Error::InvalidArgument(format!(
                "the receive buffer must hold at least the {SEQ_BYTES}-byte sequence number"
            )));
        }
        if !config.group.ip().is_multicast() {
            return Err(fstack::Error::InvalidArgument(format!(
                "{} is not an IPv4 multicast group address (224.0.0.0/4, RFC 5771)",
                config.group.ip()
            )));
        }
        // Bound to the group itself: only its datagrams arrive on this port.
        let socket = FStackUdpSocket::bind(SocketAddr::V4(config.group))?;
        socket.join_multicast_v4(config.group.ip(), &config.interface)?;
        let mut poll = Poll::new()?;
        poll.register(&socket, SOCKET, Interest::READABLE)?;
        Ok(McastReceiver {
            buf: vec![0; config.buffer],
            config,
            socket,
            poll,
            events: Events::with_capacity(4),
            readable: true,
            tracker: SeqTracker::new(),
            short: 0,
            truncated: 0,
        })
    }

    /// Reads what has arrived, without blocking, and reports each datagram to `each`, which
    /// returns whether to go on (false stops reading; the rest waits for the next call).
    /// Call it once per loop iteration.
    pub fn poll_once(&mut self, mut each: impl FnMut(&Datagram) -> bool) -> fstack::Result<()> {
        self.poll.poll(&mut self.events)?;
        if !self.events.is_empty() {
            self.readable = true;
        }
        // A budget per call: a flood must not keep the loop (and Ctrl-C) from coming round;
        // readiness is kept for the next call.
        for _ in 0..DRAIN_BUDGET {
            if !self.readable {
                break;
            }
            let (len, from, truncated) = match self.socket.recv_from(&mut self.buf) {
                Ok((n, from)) => (n, Some(from), false),
                Err(e) if e.is_would_block() => {
                    self.readable = false;
                    break;
                }
                Err(fstack::Error::Truncated { capacity, from, .. }) => (capacity, from, true),
                Err(e) => return Err(e),
            };
            let datagram = match self.buf[..len].get(..SEQ_BYTES) {
                Some(head) => {
                    let seq = u64::from_be_bytes(head.try_into().expect("8 bytes"));
                    self.truncated += u64::from(truncated);
                    Datagram::Numbered {
                        seq,
                        len,
                        truncated,
                        arrival: self.tracker.record(seq),
                    }
                }
                None => {
                    self.short += 1;
                    Datagram::Short { len, from }
                }
            };
            if !each(&datagram) {
                break;
            }
        }
        Ok(())
    }

    /// Leaves the group (do it inside the loop, before it ends).
    pub fn leave(&self) -> fstack::Result<()> {
        self.socket
            .leave_multicast_v4(self.config.group.ip(), &self.config.interface)
    }

    /// The counts so far.
    pub fn tracker(&self) -> &SeqTracker {
        &self.tracker
    }

    /// Datagrams shorter than a sequence number (not counted as received).
    pub fn short(&self) -> u64 {
        self.short
    }

    /// Datagrams longer than the buffer (counted, and reported as truncated).
    pub fn truncated(&self) -> u64 {
        self.truncated
    }
}

impl fmt::Debug for McastReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McastReceiver")
            .field("config", &self.config)
            .field("tracker", &self.tracker)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seqs: &[u64]) -> (SeqTracker, Vec<Arrival>) {
        let mut t = SeqTracker::new();
        let arrivals = seqs.iter().map(|&s| t.record(s)).collect();
        (t, arrivals)
    }

    #[test]
    fn in_order_has_no_gaps() {
        let (t, a) = run(&[5, 6, 7, 8]);
        assert_eq!((t.received(), t.gaps()), (4, 0));
        assert_eq!(a[0], Arrival::First);
        assert!(a[1..].iter().all(|&x| x == Arrival::InOrder));
        assert_eq!(t.highest(), Some(8));
    }

    #[test]
    fn missing_numbers_are_gaps() {
        let (t, a) = run(&[1, 2, 5, 6, 10]);
        assert_eq!((t.received(), t.gaps()), (5, 5)); // 3, 4, 7, 8, 9
        assert_eq!(a[2], Arrival::Ahead { skipped: 2 });
        assert_eq!(a[4], Arrival::Ahead { skipped: 3 });
    }

    #[test]
    fn reordering_fills_its_gap_and_duplicates_change_nothing() {
        let (t, a) = run(&[1, 3, 2, 2, 3, 4, 1]);
        assert_eq!(t.received(), 7);
        assert_eq!(t.gaps(), 0);
        assert_eq!(t.late(), 1);
        assert_eq!(t.duplicates(), 3);
        assert_eq!(
            a,
            [
                Arrival::First,
                Arrival::Ahead { skipped: 1 },
                Arrival::Late,
                Arrival::Duplicate,
                Arrival::Duplicate,
                Arrival::InOrder,
                Arrival::Duplicate
            ]
        );
    }

    #[test]
    fn before_the_first_and_too_old() {
        let (t, a) = run(&[10, 9, 10 + WINDOW + 5, 11, 10 + WINDOW + 4]);
        assert_eq!(a[1], Arrival::BeforeFirst);
        // 11 is more than WINDOW behind the highest: it cannot be placed.
        assert_eq!(a[3], Arrival::TooOld);
        assert_eq!(a[4], Arrival::Late);
        assert_eq!(t.gaps(), WINDOW + 4 - 1);
        assert_eq!((t.before_first(), t.too_old(), t.received()), (1, 1, 5));
    }

    #[test]
    fn the_window_forgets_what_left_it() {
        // 0 arrives, then WINDOW: 0's slot is reused for WINDOW, and 1..WINDOW are gaps that
        // late arrivals can still fill.
        let (t, a) = run(&[0, WINDOW, 1, WINDOW, WINDOW - 1]);
        assert_eq!(
            a[1],
            Arrival::Ahead {
                skipped: WINDOW - 1
            }
        );
        assert_eq!(a[2], Arrival::Late);
        assert_eq!(a[3], Arrival::Duplicate);
        assert_eq!(a[4], Arrival::Late);
        assert_eq!(t.gaps(), WINDOW - 3);
    }

    #[test]
    fn hostile_numbers_do_not_overflow() {
        let (t, a) = run(&[0, u64::MAX, 0, u64::MAX - 1, u64::MAX]);
        assert_eq!(t.gaps(), u64::MAX - 2);
        assert_eq!(a[2], Arrival::TooOld);
        assert_eq!(a[3], Arrival::Late);
        assert_eq!(a[4], Arrival::Duplicate);
        let (t, _) = run(&[u64::MAX, 0]);
        assert_eq!((t.gaps(), t.before_first()), (0, 1));
    }

    #[test]
    fn lines() {
        let d = Datagram::Numbered {
            seq: 7,
            len: 64,
            truncated: false,
            arrival: Arrival::InOrder,
        };
        assert_eq!(d.to_string(), "seq=7 len=64");
        let d = Datagram::Numbered {
            seq: 8,
            len: 100,
            truncated: true,
            arrival: Arrival::InOrder,
        };
        assert_eq!(d.to_string(), "seq=8 len=100 truncated");
    }
}
