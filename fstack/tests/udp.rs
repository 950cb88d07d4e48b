//! `FStackUdpSocket` end to end on the kernel backend, all inside one running F-Stack loop: echo
//! over IPv4 and IPv6 with exact bytes, datagram boundaries, truncation reported, 10,000
//! datagrams through a poll loop with drops counted, multicast on loopback from a kernel-side
//! `std::net::UdpSocket` sender (received while joined, not after leaving), bad group
//! addresses, socket options, a refused connected socket, and every call refused once the loop
//! has ended.

mod common;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{Pattern, Scenario};
use fstack::{
    Error, Events, FStackUdpSocket, Interest, Poll, Token, UdpBindOptions, MAX_DATAGRAM_V4,
};

const A: Token = Token(0);
const B: Token = Token(1);

/// A scenario written as `advance`: `Ok(true)` when done, `Ok(false)` to run again next
/// iteration.
trait Steps {
    fn name(&self) -> &'static str;
    fn advance(&mut self) -> Result<bool, String>;
}

impl<T: Steps> Scenario for T {
    fn name(&self) -> &'static str {
        Steps::name(self)
    }
    fn step(&mut self) -> Option<Result<(), String>> {
        match self.advance() {
            Ok(true) => Some(Ok(())),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

fn fail<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// A datagram of `len` bytes (at least 8) for sequence number `seq`: the number big-endian,
/// then bytes that depend on it, so a lost, duplicated, reordered or corrupted datagram shows.
fn datagram(seq: u64, len: usize) -> Vec<u8> {
    let mut d = vec![0u8; len];
    d[..8].copy_from_slice(&seq.to_be_bytes());
    Pattern::new(seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)).fill(&mut d[8..]);
    d
}

/// Patterned bytes of any length (for sizes below 8 too).
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut d = vec![0u8; len];
    Pattern::new(seed).fill(&mut d);
    d
}

// ---------------------------------------------------------------------------------------------

/// A client sends datagrams of many sizes (0 to the largest a UDP datagram carries) at once to
/// a server, which echoes each to its sender; each echo must come back whole and alone.
struct Echo {
    name: &'static str,
    poll: Poll,
    events: Events,
    server: FStackUdpSocket,
    client: FStackUdpSocket,
    client_addr: SocketAddr,
    sent: Vec<Vec<u8>>,
    to_send: usize,
    server_got: usize,
    pending_echo: VecDeque<(Vec<u8>, SocketAddr)>,
    echoed: usize,
    buf: Vec<u8>,
}

impl Echo {
    fn new(name: &'static str, ip: &str, max: usize) -> Result<Echo, Error> {
        let any: SocketAddr = format!("{ip}:0").parse().unwrap();
        let server = FStackUdpSocket::bind(any)?;
        let client = FStackUdpSocket::bind(any)?;
        for s in [&server, &client] {
            s.set_recv_buffer_size(1 << 20)?;
            s.set_send_buffer_size(1 << 20)?;
        }
        client.connect(server.local_addr()?)?;
        let mut poll = Poll::new()?;
        poll.register(&server, A, Interest::READABLE | Interest::WRITABLE)?;
        poll.register(&client, B, Interest::READABLE | Interest::WRITABLE)?;
        let sent = [0, 1, 2, 7, 8, 17, 100, 1000, 1472, 1473, 9000, 32768, max]
            .iter()
            .enumerate()
            .map(|(i, &n)| payload(i as u64 + 1, n))
            .collect();
        Ok(Echo {
            name,
            poll,
            events: Events::with_capacity(4),
            client_addr: client.local_addr()?,
            server,
            client,
            sent,
            to_send: 0,
            server_got: 0,
            pending_echo: VecDeque::new(),
            echoed: 0,
            // One byte more than the largest datagram: a recv that returned two datagrams
            // glued together, or a part of one, would show as a wrong length.
            buf: vec![0; max + 1],
        })
    }
}

impl Steps for Echo {
    fn name(&self) -> &'static str {
        self.name
    }

    fn advance(&mut self) -> Result<bool, String> {
        self.poll.poll(&mut self.events).map_err(fail("poll"))?;
        // Client: everything at once (the receive buffers hold it all).
        while self.to_send < self.sent.len() {
            let d = &self.sent[self.to_send];
            match self.client.send(d) {
                Ok(n) if n == d.len() => self.to_send += 1,
                Ok(n) => return Err(format!("send of {} bytes sent {n}", d.len())),
                Err(e) if e.is_would_block() => break,
                Err(e) => return Err(format!("client send of {} bytes: {e}", d.len())),
            }
        }
        // Server: receive each datagram whole, echo it to its sender.
        loop {
            match self.server.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    let want = &self.sent[self.server_got];
                    if self.buf[..n] != want[..] {
                        return Err(format!(
                            "server: datagram {} arrived as {n} bytes, sent {} (or differs)",
                            self.server_got,
                            want.len()
                        ));
                    }
                    if from != self.client_addr {
                        return Err(format!(
                            "server: from {from}, client is {}",
                            self.client_addr
                        ));
                    }
                    self.server_got += 1;
                    self.pending_echo.push_back((self.buf[..n].to_vec(), from));
                }
                Err(e) if e.is_would_block() => break,
                Err(e) => return Err(format!("server recv_from: {e}")),
            }
        }
        while let Some((d, to)) = self.pending_echo.front() {
            match self.server.send_to(d, *to) {
                Ok(_) => {
                    self.pending_echo.pop_front();
                }
                Err(e) if e.is_would_block() => break,
                Err(e) => return Err(format!("server send_to: {e}")),
            }
        }
        // Client: each echo alone and exact, in order.
        loop {
            match self.client.recv(&mut self.buf) {
                Ok(n) => {
                    let want = &self.sent[self.echoed];
                    if n != want.len() || self.buf[..n] != want[..] {
                        return Err(format!(
                            "echo {} came back as {n} bytes, sent {} (or differs)",
                            self.echoed,
                            want.len()
                        ));
                    }
                    self.echoed += 1;
                }
                Err(e) if e.is_would_block() => break,
                Err(e) => return Err(format!("client recv: {e}")),
            }
        }
        Ok(self.echoed == self.sent.len())
    }
}

// ---------------------------------------------------------------------------------------------

/// What one receive of [`Boundaries`] must return.
enum Expect {
    /// A whole datagram (received with a buffer larger than any).
    Whole(Vec<u8>),
    /// `recv_from` into a buffer of `capacity` bytes reports truncation and keeps the start.
    TruncatedFrom { capacity: usize, start: Vec<u8> },
    /// `recv` (no sender) into `capacity` bytes reports truncation.
    Truncated { capacity: usize, start: Vec<u8> },
}

/// Datagrams sent back to back come out one per receive, whatever their sizes; one longer than
/// the buffer is reported as truncated (its start kept, its rest gone: the next receive returns
/// the next datagram); empty datagrams are received as `Ok(0)`.
struct Boundaries {
    poll: Poll,
    events: Events,
    sender: FStackUdpSocket,
    receiver: FStackUdpSocket,
    script: VecDeque<Expect>,
    sent: bool,
}

impl Boundaries {
    fn new() -> Result<Boundaries, Error> {
        let receiver = FStackUdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
        let sender = FStackUdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
        let mut poll = Poll::new()?;
        poll.register(&receiver, B, Interest::READABLE)?;
        let long = payload(11, 100);
        let longer = payload(12, 3000);
        let script = VecDeque::from([
            Expect::Whole(b"a".to_vec()),
            Expect::Whole(b"bb".to_vec()),
            Expect::Whole(b"ccc".to_vec()),
            Expect::TruncatedFrom {
                capacity: 10,
                start: long[..10].to_vec(),
            },
            Expect::Whole(b"after the long one".to_vec()),
            Expect::Truncated {
                capacity: 2999,
                start: longer[..2999].to_vec(),
            },
            Expect::Whole(Vec::new()),
            // An empty datagram fits an empty buffer; a non-empty one does not.
            Expect::Truncated {
                capacity: 0,
                start: Vec::new(),
            },
            Expect::Whole(b"last".to_vec()),
        ]);
        Ok(Boundaries {
            poll,
            events: Events::with_capacity(4),
            sender,
            receiver,
            script,
            sent: false,
        })
    }

    fn datagrams() -> Vec<Vec<u8>> {
        vec![
            b"a".to_vec(),
            b"bb".to_vec(),
            b"ccc".to_vec(),
            payload(11, 100),
            b"after the long one".to_vec(),
            payload(12, 3000),
            Vec::new(),
            b"x".to_vec(),
            b"last".to_vec(),
        ]
    }
}

impl Steps for Boundaries {
    fn name(&self) -> &'static str {
        "datagram boundaries kept, truncation reported"
    }

    fn advance(&mut self) -> Result<bool, String> {
        let to = self.receiver.local_addr().map_err(fail("local_addr"))?;
        let from = self.sender.local_addr().map_err(fail("local_addr"))?;
        if !self.sent {
            for d in Self::datagrams() {
                let n = self.sender.send_to(&d, to).map_err(fail("send_to"))?;
                if n != d.len() {
                    return Err(format!("send_to sent {n} of {}", d.len()));
                }
            }
            self.sent = true;
        }
        self.poll.poll(&mut self.events).map_err(fail("poll"))?;
        while let Some(expect) = self.script.front() {
            let mut big = vec![0u8; 4096];
            let outcome = match expect {
                Expect::Whole(want) => match self.receiver.recv_from(&mut big) {
                    Ok((n, f)) if big[..n] == want[..] && f == from => Ok(()),
                    Ok((n, f)) => Err(format!(
                        "expected the {}-byte datagram from {from}, got {n} bytes from {f}",
                        want.len()
                    )),
                    Err(e) if e.is_would_block() => return Ok(false),
                    Err(e) => Err(e.to_string()),
                },
                Expect::TruncatedFrom { capacity, start } => {
                    let mut small = vec![0u8; *capacity];
                    match self.receiver.recv_from(&mut small) {
                        Err(e) if e.is_would_block() => return Ok(false),
                        Err(e @ Error::Truncated { .. }) => {
                            let want = format!(
                                "ff_recvmsg: a datagram from {from} did not fit the \
                                 {capacity}-byte buffer; its first {capacity} bytes were kept \
                                 and the rest discarded"
                            );
                            if !e.is_truncated() || e.to_string() != want {
                                Err(format!("message {e:?} / {e}"))
                            } else if e.kind() != ErrorKind::InvalidData {
                                Err(format!("kind {:?}", e.kind()))
                            } else if small != *start {
                                Err("the truncated buffer does not hold the start".into())
                            } else {
                                Ok(())
                            }
                        }
                        other => Err(format!("expected Truncated, got {other:?}")),
                    }
                }
                Expect::Truncated { capacity, start } => {
                    let mut small = vec![0u8; *capacity];
                    match self.receiver.recv(&mut small) {
                        Err(e) if e.is_would_block() => return Ok(false),
                        Err(Error::Truncated {
                            op: "ff_recvmsg",
                            capacity: c,
                            from: None,
                        }) if c == *capacity && small == *start => Ok(()),
                        other => Err(format!("expected Truncated({capacity}), got {other:?}")),
                    }
                }
            };
            match outcome {
                Ok(()) => {
                    self.script.pop_front();
                }
                Err(e) => return Err(format!("receive {}: {e}", 9 - self.script.len())),
            }
        }
        // Nothing more: the discarded tails did not turn into datagrams of their own.
        match self.receiver.recv(&mut [0u8; 4096]) {
            Err(e) if e.is_would_block() => Ok(true),
            other => Err(format!("expected nothing more, got {other:?}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------

const FLOOD: u64 = 10_000;
/// Datagrams in flight in the paced phase.
const WINDOW: u64 = 64;

/// 10,000 datagrams through the poll loop, twice. Paced (at most 64 in flight, a receive
/// buffer that holds them): every datagram must arrive once, in order, byte-exact, and the
/// count of lost ones is 0. Burst (all sent before the receiver reads, into a 4 KiB receive
/// buffer): the stack must drop most of them, and the receiver must see that as gaps in the
/// sequence numbers, counted, while what did arrive is exact and in order.
struct Flood {
    poll: Poll,
    events: Events,
    sender: FStackUdpSocket,
    receiver: FStackUdpSocket,
    burst: bool,
    sent: u64,
    received: u64,
    /// Next sequence number expected; a larger one means the ones between were lost.
    next: u64,
    lost: u64,
    writable: bool,
    last_progress: Instant,
    buf: Vec<u8>,
    report: Rc<RefCell<Vec<String>>>,
}

impl Flood {
    fn new(burst: bool, report: Rc<RefCell<Vec<String>>>) -> Result<Flood, Error> {
        let receiver = FStackUdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
        let sender = FStackUdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
        receiver.set_recv_buffer_size(if burst { 4096 } else { 1 << 20 })?;
        sender.connect(receiver.local_addr()?)?;
        let mut poll = Poll::new()?;
        poll.register(&sender, A, Interest::WRITABLE)?;
        poll.register(&receiver, B, Interest::READABLE)?;
        Ok(Flood {
            poll,
            events: Events::with_capacity(4),
            sender,
            receiver,
            burst,
            sent: 0,
            received: 0,
            next: 0,
            lost: 0,
            writable: true,
            last_progress: Instant::now(),
            buf: vec![0; 2048],
            report,
        })
    }

    fn size(seq: u64) -> usize {
        8 + (seq as usize * 7) % 500
    }

    fn receive(&mut self) -> Result<(), String> {
        loop {
            match self.receiver.recv(&mut self.buf) {
                Ok(n) => {
                    if n < 8 {
                        return Err(format!("a {n}-byte datagram"));
                    }
                    let seq = u64::from_be_bytes(self.buf[..8].try_into().unwrap());
                    if seq < self.next || seq >= self.sent {
                        return Err(format!(
                            "sequence {seq} after {} (duplicate, reordered or never sent)",
                            self.next
                        ));
                    }
                    if self.buf[..n] != datagram(seq, Self::size(seq))[..] {
                        return Err(format!("datagram {seq} differs ({n} bytes)"));
                    }
                    self.lost += seq - self.next;
                    self.next = seq + 1;
                    self.received += 1;
                    self.last_progress = Instant::now();
                }
                Err(e) if e.is_would_block() => return Ok(()),
                Err(e) => return Err(format!("recv: {e}")),
            }
        }
    }
}

impl Steps for Flood {
    fn name(&self) -> &'static str {
        if self.burst {
            "10,000 datagrams in a burst into a 4 KiB buffer: drops counted"
        } else {
            "10,000 paced datagrams through the poll loop: all arrive exact"
        }
    }

    fn advance(&mut self) -> Result<bool, String> {
        self.poll.poll(&mut self.events).map_err(fail("poll"))?;
        for ev in &self.events {
            if ev.token() == A && ev.is_writable() {
                self.writable = true;
            }
        }
        // The burst's receiver reads only once everything was sent.
        if !self.burst || self.sent == FLOOD {
            self.receive()?;
        }
        while self.writable && self.sent < FLOOD && (self.burst || self.sent - self.next < WINDOW) {
            let d = datagram(self.sent, Self::size(self.sent));
            match self.sender.send(&d) {
                Ok(_) => self.sent += 1,
                Err(e) if e.is_would_block() => self.writable = false,
                Err(e) => return Err(format!("send {}: {e}", self.sent)),
            }
        }
        if self.sent < FLOOD {
            if !self.burst && self.last_progress.elapsed() > Duration::from_secs(5) {
                return Err(format!(
                    "stalled: {} sent, {} received (a datagram lost in the paced phase)",
                    self.sent, self.received
                ));
            }
            return Ok(false);
        }
        if self.next < FLOOD && self.last_progress.elapsed() < Duration::from_millis(300) {
            return Ok(false); // more may still be queued
        }
        // Whatever never came is lost: the tail after the last received one too.
        self.lost += FLOOD - self.next;
        self.next = FLOOD;
        let line = format!(
            "{}: sent={FLOOD} received={} lost={}",
            if self.burst { "burst" } else { "paced" },
            self.received,
            self.lost
        );
        eprintln!("udp flood {line}");
        self.report.borrow_mut().push(line.clone());
        if self.received + self.lost != FLOOD {
            return Err(format!("received + lost != sent ({line})"));
        }
        if !self.burst && self.lost != 0 {
            return Err(format!("datagrams lost with a window of {WINDOW}: {line}"));
        }
        if self.burst && (self.lost == 0 || self.received == 0) {
            return Err(format!(
                "a 4 KiB receive buffer cannot hold 10,000 datagrams: expected drops and some \
                 arrivals ({line})"
            ));
        }
        Ok(true)
    }
}

// ---------------------------------------------------------------------------------------------

/// Two groups on the loopback interface, and a plain kernel `std::net::UdpSocket` sending to
/// them: the F-Stack socket receives both groups' datagrams exactly; after leaving the first
/// group, a datagram to it is not received while one sent after it to the second group is.
struct Multicast {
    poll: Poll,
    events: Events,
    receiver: FStackUdpSocket,
    port: u16,
    sender: UdpSocket,
    groups: [Ipv4Addr; 2],
    phase: u8,
    got: Vec<(Vec<u8>, SocketAddr)>,
}

impl Multicast {
    fn new() -> Result<Multicast, String> {
        // Groups in the IPv4 local scope (RFC 2365), distinct per process.
        let id = std::process::id();
        let groups = [
            Ipv4Addr::new(239, 255, (id >> 8) as u8, id as u8),
            Ipv4Addr::new(239, 254, (id >> 8) as u8, id as u8),
        ];
        let receiver = FStackUdpSocket::bind("0.0.0.0:0".parse().unwrap()).map_err(fail("bind"))?;
        let port = receiver.local_addr().map_err(fail("local_addr"))?.port();
        for g in &groups {
            receiver
                .join_multicast_v4(g, &Ipv4Addr::LOCALHOST)
                .map_err(fail("join"))?;
        }
        // Joined twice on the same interface: the stack refuses, and says which group.
        match receiver.join_multicast_v4(&groups[0], &Ipv4Addr::LOCALHOST) {
            Err(Error::Multicast {
                op: "ff_setsockopt(IP_ADD_MEMBERSHIP)",
                group,
                interface,
                source,
            }) if group == groups[0] && interface == "127.0.0.1" => {
                eprintln!("udp multicast: joining twice: {source}")
            }
            other => return Err(format!("second join: {other:?}")),
        }
        // A kernel socket bound to the loopback address sends its multicast out of loopback.
        let sender = UdpSocket::bind("127.0.0.1:0").map_err(fail("std bind"))?;
        let mut poll = Poll::new().map_err(fail("poll"))?;
        poll.register(&receiver, B, Interest::READABLE)
            .map_err(fail("register"))?;
        Ok(Multicast {
            poll,
            events: Events::with_capacity(4),
            receiver,
            port,
            sender,
            groups,
            phase: 0,
            got: Vec::new(),
        })
    }

    fn send(&self, group: usize, text: &str) -> Result<(), String> {
        let to = SocketAddr::from((self.groups[group], self.port));
        let n = self
            .sender
            .send_to(text.as_bytes(), to)
            .map_err(fail("std send_to"))?;
        assert_eq!(n, text.len());
        Ok(())
    }

    fn drain(&mut self) -> Result<(), String> {
        let mut buf = [0u8; 1500];
        loop {
            match self.receiver.recv_from(&mut buf) {
                Ok((n, from)) => self.got.push((buf[..n].to_vec(), from)),
                Err(e) if e.is_would_block() => return Ok(()),
                Err(e) => return Err(format!("recv_from: {e}")),
            }
        }
    }
}

impl Steps for Multicast {
    fn name(&self) -> &'static str {
        "multicast from a kernel sender on loopback: received while joined, not after leave"
    }

    fn advance(&mut self) -> Result<bool, String> {
        self.poll.poll(&mut self.events).map_err(fail("poll"))?;
        self.drain()?;
        let sender = self.sender.local_addr().unwrap();
        let texts = |got: &[(Vec<u8>, SocketAddr)]| -> Result<Vec<String>, String> {
            got.iter()
                .map(|(d, from)| {
                    if *from != sender {
                        return Err(format!("datagram from {from}, sender is {sender}"));
                    }
                    Ok(String::from_utf8_lossy(d).into_owned())
                })
                .collect()
        };
        match self.phase {
            0 => {
                self.send(0, "to the first group, joined")?;
                self.send(1, "to the second group, joined")?;
                self.phase = 1;
            }
            1 if self.got.len() >= 2 => {
                let got = texts(&self.got)?;
                if got != ["to the first group, joined", "to the second group, joined"] {
                    return Err(format!("while joined: {got:?}"));
                }
                self.got.clear();
                self.receiver
                    .leave_multicast_v4(&self.groups[0], &Ipv4Addr::LOCALHOST)
                    .map_err(fail("leave"))?;
                // Leaving again: not a member any more.
                match self
                    .receiver
                    .leave_multicast_v4(&self.groups[0], &Ipv4Addr::LOCALHOST)
                {
                    Err(e @ Error::Multicast { .. }) => {
                        let want = format!(
                            "ff_setsockopt(IP_DROP_MEMBERSHIP) failed for multicast group {} \
                             on interface 127.0.0.1: ",
                            self.groups[0]
                        );
                        if !e.to_string().starts_with(&want) {
                            return Err(format!("second leave: {e}"));
                        }
                    }
                    other => return Err(format!("second leave: {other:?}")),
                }
                // In this order: loopback delivers in order, so once the second arrives the
                // first would have too.
                self.send(0, "to the first group, left")?;
                self.send(1, "to the second group, still joined")?;
                self.phase = 2;
            }
            2 if !self.got.is_empty() => {
                let got = texts(&self.got)?;
                if got != ["to the second group, still joined"] {
                    return Err(format!("after leaving the first group: {got:?}"));
                }
                return Ok(true);
            }
            _ => {}
        }
        Ok(false)
    }
}

// ---------------------------------------------------------------------------------------------

/// `result` is `Err(Error::InvalidArgument(message))`.
fn invalid<T: std::fmt::Debug>(result: fstack::Result<T>, message: &str) -> Result<(), String> {
    match result {
        Err(Error::InvalidArgument(m)) if m == message => Ok(()),
        other => Err(format!(
            "expected InvalidArgument({message:?}), got {other:?}"
        )),
    }
}

/// Bad group and interface addresses and family mix-ups are refused before reaching the
/// stack, with messages that say what is wrong; the options round-trip.
struct Options;

impl Options {
    fn check() -> Result<(), String> {
        let v4 = FStackUdpSocket::bind("127.0.0.1:0".parse().unwrap()).map_err(fail("bind v4"))?;
        let lo = Ipv4Addr::LOCALHOST;
        for bad in [
            "10.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "127.0.0.1",
            "223.255.255.255",
        ] {
            let g: Ipv4Addr = bad.parse().unwrap();
            invalid(
                v4.join_multicast_v4(&g, &lo),
                &format!(
                    "join_multicast_v4: {bad} is not an IPv4 multicast group address \
                     (224.0.0.0/4, RFC 5771)"
                ),
            )?;
            invalid(
                v4.leave_multicast_v4(&g, &lo),
                &format!(
                    "leave_multicast_v4: {bad} is not an IPv4 multicast group address \
                     (224.0.0.0/4, RFC 5771)"
                ),
            )?;
        }
        let group = Ipv4Addr::new(239, 1, 2, 3);
        for bad in ["239.1.2.3", "224.0.0.1", "255.255.255.255"] {
            let i: Ipv4Addr = bad.parse().unwrap();
            invalid(
                v4.join_multicast_v4(&group, &i),
                &format!(
                    "join_multicast_v4: the interface {bad} must be one of the stack's unicast \
                     addresses (or 0.0.0.0 to let the stack choose)"
                ),
            )?;
        }
        // An interface address the stack does not have.
        match v4.join_multicast_v4(&group, &Ipv4Addr::new(192, 0, 2, 123)) {
            Err(Error::Multicast {
                op: "ff_setsockopt(IP_ADD_MEMBERSHIP)",
                ..
            }) => {}
            other => return Err(format!("join on a foreign interface address: {other:?}")),
        }
        invalid(
            v4.join_multicast_v6(&"ff02::1".parse().unwrap(), 0),
            "join_multicast_v6 on an IPv4 socket (use the _v4 method)",
        )?;
        invalid(
            v4.send_to(b"x", "[::1]:9".parse().unwrap()),
            "send_to [::1]:9: this socket is IPv4, the address is not",
        )?;
        invalid(v4.set_ttl(256), "set_ttl: 256 is not a hop limit (0-255)")?;
        invalid(
            v4.set_multicast_ttl_v4(1000),
            "set_multicast_ttl_v4: 1000 is not a hop limit (0-255)",
        )?;
        invalid(
            v4.set_multicast_loop_v6(true),
            "set_multicast_loop_v6 on an IPv4 socket (use the _v4 method)",
        )?;

        // Round trips.
        v4.set_broadcast(true).map_err(fail("set_broadcast"))?;
        ensure(v4.broadcast().map_err(fail("broadcast"))?, "broadcast on")?;
        v4.set_broadcast(false).map_err(fail("set_broadcast"))?;
        ensure(!v4.broadcast().map_err(fail("broadcast"))?, "broadcast off")?;
        v4.set_ttl(7).map_err(fail("set_ttl"))?;
        ensure(v4.ttl().map_err(fail("ttl"))? == 7, "ttl 7")?;
        ensure(
            v4.multicast_loop_v4().map_err(fail("loop"))?,
            "loop on by default",
        )?;
        v4.set_multicast_loop_v4(false).map_err(fail("set loop"))?;
        ensure(!v4.multicast_loop_v4().map_err(fail("loop"))?, "loop off")?;
        ensure(
            v4.multicast_ttl_v4().map_err(fail("mttl"))? == 1,
            "multicast ttl 1",
        )?;
        v4.set_multicast_ttl_v4(32).map_err(fail("set mttl"))?;
        ensure(
            v4.multicast_ttl_v4().map_err(fail("mttl"))? == 32,
            "multicast ttl 32",
        )?;
        v4.set_multicast_if_v4(&lo).map_err(fail("set if"))?;
        ensure(
            v4.multicast_if_v4().map_err(fail("if"))? == lo,
            "multicast if",
        )?;
        invalid(
            v4.set_multicast_if_v4(&group),
            "set_multicast_if_v4: the interface 239.1.2.3 must be one of the stack's unicast \
             addresses (or 0.0.0.0 to let the stack choose)",
        )?;
        // Sending to a broadcast address needs SO_BROADCAST.
        match v4.send_to(b"x", "255.255.255.255:9".parse().unwrap()) {
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {}
            other => return Err(format!("broadcast without SO_BROADCAST: {other:?}")),
        }
        // Not connected: send has nowhere to go.
        match v4.send(b"x") {
            Err(Error::Io {
                op: "ff_send",
                source,
            }) if source.raw_os_error() == Some(libc::EDESTADDRREQ) => {}
            other => return Err(format!("send while not connected: {other:?}")),
        }
        match v4.peer_addr() {
            Err(e) if e.os_error().and_then(|e| e.raw_os_error()) == Some(libc::ENOTCONN) => {}
            other => return Err(format!("peer_addr while not connected: {other:?}")),
        }

        let Ok(v6) = FStackUdpSocket::bind("[::1]:0".parse().unwrap()) else {
            eprintln!("SKIPPED the IPv6 option checks: no IPv6 loopback here");
            return Ok(());
        };
        for bad in ["::1", "::", "2001:db8::1", "fe80::1"] {
            let g: Ipv6Addr = bad.parse().unwrap();
            invalid(
                v6.join_multicast_v6(&g, 1),
                &format!(
                    "join_multicast_v6: {bad} is not an IPv6 multicast group address \
                     (ff00::/8, RFC 4291 section 2.7)"
                ),
            )?;
        }
        invalid(
            v6.join_multicast_v4(&group, &lo),
            "join_multicast_v4 on an IPv6 socket (use the _v6 method)",
        )?;
        invalid(
            v6.send_to(b"x", "127.0.0.1:9".parse().unwrap()),
            "send_to 127.0.0.1:9: this socket is IPv6, the address is not",
        )?;
        // Interface 1 is loopback on Linux.
        let g6: Ipv6Addr = "ff01::4242".parse().unwrap();
        v6.join_multicast_v6(&g6, 1).map_err(fail("join v6"))?;
        v6.leave_multicast_v6(&g6, 1).map_err(fail("leave v6"))?;
        match v6.leave_multicast_v6(&g6, 1) {
            Err(e @ Error::Multicast { .. })
                if e.to_string().starts_with(
                    "ff_setsockopt(IPV6_LEAVE_GROUP) failed for multicast group ff01::4242 on \
                     interface index 1: ",
                ) => {}
            other => return Err(format!("second v6 leave: {other:?}")),
        }
        ensure(
            v6.ttl().map_err(fail("v6 ttl"))? == fstack::DEFAULT_HOP_LIMIT_V6,
            "v6 default hop limit",
        )?;
        v6.set_ttl(9).map_err(fail("v6 set_ttl"))?;
        ensure(v6.ttl().map_err(fail("v6 ttl"))? == 9, "v6 hop limit")?;
        ensure(
            v6.multicast_loop_v6().map_err(fail("v6 loop"))?,
            "v6 loop on",
        )?;
        v6.set_multicast_loop_v6(false)
            .map_err(fail("v6 set loop"))?;
        ensure(
            !v6.multicast_loop_v6().map_err(fail("v6 loop"))?,
            "v6 loop off",
        )?;
        v6.set_multicast_hops_v6(5).map_err(fail("v6 hops"))?;
        ensure(
            v6.multicast_hops_v6().map_err(fail("v6 hops"))? == 5,
            "v6 hops 5",
        )?;
        v6.set_multicast_if_v6(1).map_err(fail("v6 if"))?;
        ensure(v6.multicast_if_v6().map_err(fail("v6 if"))? == 1, "v6 if 1")?;
        Ok(())
    }
}

fn ensure(cond: bool, what: &str) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(format!("{what}: not so"))
    }
}

/// `bind_with`: `SO_REUSEPORT` lets two sockets bind one address and port (refused without
/// it), `SO_REUSEADDR` is set and read back, and `IPV6_V6ONLY` decides whether an IPv6
/// wildcard socket receives an IPv4 datagram (from a kernel-side sender).
struct BindOptions;

impl BindOptions {
    fn check() -> Result<(), String> {
        let plain = FStackUdpSocket::bind("127.0.0.1:0".parse().unwrap()).map_err(fail("bind"))?;
        ensure(
            !plain.reuse_address().map_err(fail("reuse_address"))?,
            "reuse_address off",
        )?;
        ensure(
            !plain.reuse_port().map_err(fail("reuse_port"))?,
            "reuse_port off",
        )?;
        let taken = plain.local_addr().map_err(fail("local_addr"))?;
        match FStackUdpSocket::bind(taken) {
            Err(e) if e.kind() == ErrorKind::AddrInUse => {}
            other => return Err(format!("second bind without reuse: {other:?}")),
        }
        let both = UdpBindOptions::new().reuse_address(true).reuse_port(true);
        let first = FStackUdpSocket::bind_with("127.0.0.1:0".parse().unwrap(), both)
            .map_err(fail("bind_with"))?;
        ensure(
            first.reuse_address().map_err(fail("reuse_address"))?,
            "reuse_address on",
        )?;
        ensure(
            first.reuse_port().map_err(fail("reuse_port"))?,
            "reuse_port on",
        )?;
        ensure(
            !first.only_v6().map_err(fail("only_v6 v4"))?,
            "IPv4 socket is not v6-only",
        )?;
        let addr = first.local_addr().map_err(fail("local_addr"))?;
        let second = FStackUdpSocket::bind_with(addr, both).map_err(fail("second bind_with"))?;
        ensure(
            second.local_addr().map_err(fail("local_addr"))? == addr,
            "both bound to one address",
        )?;

        // IPV6_V6ONLY, where the host has IPv6.
        let Ok(v6) = FStackUdpSocket::bind_with(
            "[::]:0".parse().unwrap(),
            UdpBindOptions::new().only_v6(true),
        ) else {
            eprintln!("SKIPPED IPV6_V6ONLY: no IPv6 here");
            return Ok(());
        };
        ensure(v6.only_v6().map_err(fail("only_v6"))?, "only_v6 on")?;
        let dual = FStackUdpSocket::bind_with(
            "[::]:0".parse().unwrap(),
            UdpBindOptions::new().only_v6(false),
        )
        .map_err(fail("bind_with only_v6(false)"))?;
        ensure(!dual.only_v6().map_err(fail("only_v6"))?, "only_v6 off")?;
        let sender = UdpSocket::bind("127.0.0.1:0").map_err(fail("kernel bind"))?;
        let port = dual.local_addr().map_err(fail("local_addr"))?.port();
        sender
            .send_to(b"dual", ("127.0.0.1", port))
            .map_err(fail("send to the dual-stack socket"))?;
        let mut buf = [0u8; 16];
        let deadline = Instant::now() + Duration::from_secs(2);
        let (n, from) = loop {
            match dual.recv_from(&mut buf) {
                Ok(got) => break got,
                Err(e) if e.is_would_block() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => return Err(format!("dual-stack recv: {e}")),
            }
        };
        ensure(&buf[..n] == b"dual", "the IPv4 datagram's bytes")?;
        let want: SocketAddr = format!(
            "[::ffff:127.0.0.1]:{}",
            sender.local_addr().map_err(fail("local_addr"))?.port()
        )
        .parse()
        .unwrap();
        ensure(from == want, &format!("from {from}, want {want}"))?;
        // The v6-only socket is never reached over IPv4.
        let port = v6.local_addr().map_err(fail("local_addr"))?.port();
        sender
            .send_to(b"v4", ("127.0.0.1", port))
            .map_err(fail("send to the v6-only port"))?;
        std::thread::sleep(Duration::from_millis(20));
        match v6.recv_from(&mut buf) {
            Err(e) if e.is_would_block() => Ok(()),
            other => Err(format!("v6-only socket got an IPv4 datagram: {other:?}")),
        }
    }
}

impl Steps for BindOptions {
    fn name(&self) -> &'static str {
        "bind_with: SO_REUSEADDR, SO_REUSEPORT and IPV6_V6ONLY before bind"
    }
    fn advance(&mut self) -> Result<bool, String> {
        BindOptions::check().map(|()| true)
    }
}

impl Steps for Options {
    fn name(&self) -> &'static str {
        "bad group addresses and family mix-ups refused clearly; options round-trip"
    }
    fn advance(&mut self) -> Result<bool, String> {
        Options::check().map(|()| true)
    }
}

// ---------------------------------------------------------------------------------------------

/// A socket connected to a port nobody listens on: the peer's ICMP port unreachable turns
/// into "connection refused" on a later receive.
struct Refused {
    socket: FStackUdpSocket,
    peer: SocketAddr,
    deadline: Instant,
    sent: bool,
}

impl Refused {
    fn new() -> Result<Refused, String> {
        // A port that was free a moment ago.
        let peer = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map_err(fail("std bind"))?;
        let socket = FStackUdpSocket::bind("127.0.0.1:0".parse().unwrap()).map_err(fail("bind"))?;
        socket.connect(peer).map_err(fail("connect"))?;
        if socket.peer_addr().map_err(fail("peer_addr"))? != peer {
            return Err("peer_addr differs".into());
        }
        Ok(Refused {
            socket,
            peer,
            deadline: Instant::now() + Duration::from_secs(10),
            sent: false,
        })
    }
}

impl Steps for Refused {
    fn name(&self) -> &'static str {
        "a connected socket reports the peer's port unreachable as connection refused"
    }
    fn advance(&mut self) -> Result<bool, String> {
        if !self.sent {
            self.socket.send(b"anyone?").map_err(fail("send"))?;
            self.sent = true;
        }
        match self.socket.recv(&mut [0u8; 64]) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Ok(true),
            Err(e) if e.is_would_block() && Instant::now() < self.deadline => Ok(false),
            other => Err(format!("{}: expected refused, got {other:?}", self.peer)),
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// Keeps a socket for the checks after the loop.
struct Keep {
    slot: Rc<RefCell<Option<FStackUdpSocket>>>,
}

impl Steps for Keep {
    fn name(&self) -> &'static str {
        "a socket kept for after the loop"
    }
    fn advance(&mut self) -> Result<bool, String> {
        let s = FStackUdpSocket::bind("127.0.0.1:0".parse().unwrap()).map_err(fail("bind"))?;
        *self.slot.borrow_mut() = Some(s);
        Ok(true)
    }
}

#[track_caller]
fn assert_not_running<T: std::fmt::Debug>(result: fstack::Result<T>, op: &str) {
    match result {
        Err(Error::NotRunning { op: got }) if got == op => {}
        other => panic!("expected NotRunning {{ op: {op:?} }}, got {other:?}"),
    }
}

#[test]
fn udp_scenarios_in_one_loop() {
    if common::skip_unless_kernel_backend("udp_scenarios_in_one_loop") {
        return;
    }
    let report = Rc::new(RefCell::new(Vec::new()));
    let kept = Rc::new(RefCell::new(None));
    let (r, k) = (report.clone(), kept.clone());
    common::run_scenarios(Duration::from_secs(60), move || {
        let mut s: Vec<Box<dyn Scenario>> = vec![
            Box::new(Echo::new("echo over IPv4", "127.0.0.1", MAX_DATAGRAM_V4).expect("echo v4")),
            Box::new(Boundaries::new().expect("boundaries")),
            Box::new(Flood::new(false, r.clone()).expect("paced flood")),
            Box::new(Flood::new(true, r).expect("burst flood")),
            Box::new(Multicast::new().expect("multicast")),
            Box::new(Options),
            Box::new(BindOptions),
            Box::new(Refused::new().expect("refused")),
            Box::new(Keep { slot: k }),
        ];
        match Echo::new("echo over IPv6", "[::1]", fstack::MAX_DATAGRAM_V6) {
            Ok(e) => s.push(Box::new(e)),
            Err(e) => eprintln!("SKIPPED echo over IPv6: no IPv6 loopback here ({e})"),
        }
        s
    });
    let report = report.borrow();
    assert_eq!(report.len(), 2, "{report:?}");
    assert_eq!(report[0], "paced: sent=10000 received=10000 lost=0");

    // After the loop, nothing reaches F-Stack.
    let s = kept.borrow_mut().take().expect("kept socket");
    let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
    assert_not_running(s.send_to(b"x", to), "ff_sendto");
    assert_not_running(s.send(b"x"), "ff_send");
    assert_not_running(s.recv_from(&mut [0; 8]), "ff_recvmsg");
    assert_not_running(s.recv(&mut [0; 8]), "ff_recvmsg");
    assert_not_running(s.connect(to), "ff_connect");
    assert_not_running(s.local_addr(), "ff_getsockname");
    assert_not_running(s.peer_addr(), "ff_getpeername");
    assert_not_running(s.set_broadcast(true), "ff_setsockopt(SO_BROADCAST)");
    assert_not_running(s.set_ttl(1), "ff_setsockopt(IP_TTL)");
    let g = Ipv4Addr::new(239, 1, 1, 1);
    let lo = Ipv4Addr::LOCALHOST;
    assert_not_running(
        s.join_multicast_v4(&g, &lo),
        "ff_setsockopt(IP_ADD_MEMBERSHIP)",
    );
    assert_not_running(
        s.leave_multicast_v4(&g, &lo),
        "ff_setsockopt(IP_DROP_MEMBERSHIP)",
    );
    // Refused as not running even where the arguments are wrong too.
    assert_not_running(
        s.join_multicast_v4(&lo, &lo),
        "ff_setsockopt(IP_ADD_MEMBERSHIP)",
    );
    assert_not_running(
        s.set_multicast_loop_v4(true),
        "ff_setsockopt(IP_MULTICAST_LOOP)",
    );
    assert_not_running(
        s.set_multicast_ttl_v4(300),
        "ff_setsockopt(IP_MULTICAST_TTL)",
    );
    assert_not_running(
        s.set_multicast_loop_v6(true),
        "ff_setsockopt(IPV6_MULTICAST_LOOP)",
    );
    assert_not_running(s.take_error(), "ff_getsockopt(SO_ERROR)");
    drop(s);
}
