//! TLS over `FStackSocket` (kernel backend on loopback) inside one `Stack::run` loop, driven by
//! edge-triggered `Poll` readiness: a 32 MiB transfer each way with slow readers (the client
//! writes like tungstenite, retrying with a grown buffer after `WouldBlock`), clean
//! close_notify at the end, then a hostname mismatch over the same listener; for every engine
//! pairing and both TLS versions (`support::combos`), one after the other.
//!
//! F-Stack can be initialised once per process, so this file holds a single test.

mod support;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use fstack::{Events, FStackListener, FStackSocket, Interest, Poll, Stack, StackOptions, Token};
use fstack_tls::{
    Error, HandshakeError, MidHandshake, TlsAcceptor, TlsConnector, TlsStream, VerifyReason,
};
use support::certs::{TestCa, Validity};
use support::{Checker, Pattern};

const TOTAL: usize = 32 << 20;
/// Bytes a slow reader takes per loop iteration.
const READ_BUDGET: usize = 16 << 10;
const LISTENER: Token = Token(0);
const CLIENT: Token = Token(1);
const SERVER: Token = Token(2);

fn config_path() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../f-stack.conf");
    if repo.exists() {
        return repo;
    }
    support::certs::temp_file("f-stack.conf", "[dpdk]\nlcore_mask=1\n")
}

enum Hs {
    Connecting(FStackSocket),
    Mid(MidHandshake<FStackSocket>),
    Ready(TlsStream<FStackSocket>),
    Failed(Error),
    Gone,
}

impl Hs {
    fn from(r: Result<TlsStream<FStackSocket>, HandshakeError<FStackSocket>>) -> Hs {
        match r {
            Ok(s) => Hs::Ready(s),
            Err(HandshakeError::WouldBlock(m)) => Hs::Mid(m),
            Err(HandshakeError::Failure(e)) => Hs::Failed(e),
        }
    }
}

/// How a side produces its 32 MiB.
enum Writer {
    /// tungstenite-style: an output buffer that keeps growing while writes would block.
    Growing { out: Vec<u8> },
    /// Plain: a fixed chunk retried as-is after `WouldBlock`.
    Fixed { chunk: Vec<u8>, off: usize },
}

struct Side {
    hs: Hs,
    readable: bool,
    writable: bool,
    writer: Writer,
    source: Pattern,
    produced: usize,
    checker: Checker,
    eof: bool,
    shut: bool,
    write_would_block: usize,
    grown_retries: usize,
    blocked_len: Option<usize>,
}

impl Side {
    fn new(hs: Hs, writer: Writer, send_seed: u64, recv_seed: u64) -> Side {
        Side {
            hs,
            readable: true,
            writable: true,
            writer,
            source: Pattern::new(send_seed),
            produced: 0,
            checker: Checker::new(recv_seed),
            eof: false,
            shut: false,
            write_would_block: 0,
            grown_retries: 0,
            blocked_len: None,
        }
    }

    fn done(&self) -> bool {
        self.eof && self.shut
    }

    /// Advances the handshake as far as it goes without blocking.
    fn handshake(&mut self, connector: &TlsConnector, host: &str) -> Result<(), String> {
        loop {
            self.hs = match std::mem::replace(&mut self.hs, Hs::Gone) {
                Hs::Connecting(mut s) => match s.finish_connect() {
                    Ok(true) => Hs::from(connector.connect(host, s)),
                    Ok(false) => {
                        self.hs = Hs::Connecting(s);
                        return Ok(());
                    }
                    Err(e) => return Err(format!("connect: {e}")),
                },
                Hs::Mid(m) if self.readable || self.writable => {
                    let next = Hs::from(m.handshake());
                    if matches!(next, Hs::Mid(_)) {
                        self.readable = false;
                        self.writable = false;
                        self.hs = next;
                        return Ok(());
                    }
                    next
                }
                other => {
                    self.hs = other;
                    return Ok(());
                }
            };
            if let Hs::Ready(_) = self.hs {
                // Edges seen during the handshake are used up; data may already wait.
                self.readable = true;
                self.writable = true;
            }
        }
    }

    /// Moves data: writes until WouldBlock, reads a bounded amount (slow reader).
    fn transfer(&mut self) -> Result<(), String> {
        let Hs::Ready(tls) = &mut self.hs else {
            return Ok(());
        };
        // Writing.
        while self.writable && !self.shut {
            let result = match &mut self.writer {
                Writer::Growing { out } => {
                    // Small messages (1-7 KB): the write that blocks is often shorter than a
                    // record, and its retry carries more bytes.
                    if self.produced < TOTAL && out.len() < (1 << 20) {
                        let n = (1000 + (self.produced * 7919) % 6000).min(TOTAL - self.produced);
                        out.extend(self.source.bytes(n));
                        self.produced += n;
                    }
                    if out.is_empty() {
                        None
                    } else {
                        if self
                            .blocked_len
                            .is_some_and(|len| len < 16384 && out.len() > len)
                        {
                            self.grown_retries += 1;
                        }
                        Some(tls.write(out).map(|n| {
                            out.drain(..n);
                        }))
                    }
                }
                Writer::Fixed { chunk, off } => {
                    if *off == chunk.len() && self.produced < TOTAL {
                        let n = (16 << 10).min(TOTAL - self.produced);
                        *chunk = self.source.bytes(n);
                        *off = 0;
                        self.produced += n;
                    }
                    if *off == chunk.len() {
                        None
                    } else {
                        Some(tls.write(&chunk[*off..]).map(|n| *off += n))
                    }
                }
            };
            match result {
                None => match tls.shutdown() {
                    Ok(()) => self.shut = true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                    Err(e) => return Err(format!("shutdown: {e}")),
                },
                Some(Ok(())) => self.blocked_len = None,
                Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.write_would_block += 1;
                    self.writable = false;
                    if let Writer::Growing { out } = &self.writer {
                        self.blocked_len = Some(out.len());
                    }
                }
                Some(Err(e)) => return Err(format!("write: {e}")),
            }
        }
        // Reading, slowly: at most READ_BUDGET per iteration, so the peer's writes block.
        let mut buf = [0u8; 4096];
        let mut budget = READ_BUDGET;
        while self.readable && !self.eof && budget > 0 {
            match tls.read(&mut buf) {
                Ok(0) => {
                    if self.checker.received != TOTAL {
                        return Err(format!("EOF after {} bytes", self.checker.received));
                    }
                    self.eof = true;
                }
                Ok(n) => {
                    self.checker.check(&buf[..n]);
                    budget = budget.saturating_sub(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        Ok(())
    }
}

fn socket_of(hs: &Hs) -> Option<&FStackSocket> {
    match hs {
        Hs::Connecting(s) => Some(s),
        Hs::Mid(m) => Some(m.get_ref()),
        Hs::Ready(t) => Some(t.get_ref()),
        _ => None,
    }
}

/// Small socket buffers make the writers hit `WouldBlock` (mbedTLS WANT_WRITE) often.
fn small_buffers(sock: &FStackSocket) -> Result<(), String> {
    sock.set_send_buffer_size(32 << 10)
        .and_then(|()| sock.set_recv_buffer_size(32 << 10))
        .map_err(|e| e.to_string())
}

enum Phase {
    Transfer,
    WrongHost,
}

#[test]
fn tls_over_fstack_sockets() {
    if fstack::backend() != fstack::Backend::Kernel {
        eprintln!("SKIPPED: this test runs F-Stack's kernel backend on loopback");
        return;
    }
    let ca = TestCa::new("F-Stack Test CA");
    let leaf = ca.leaf(&["localhost"], Validity::Current);
    let combos = support::combos();
    let ends: Vec<(TlsConnector, TlsAcceptor)> = combos
        .iter()
        .map(|c| (c.connector_for(&ca), c.acceptor_for(&ca, &leaf)))
        .collect();
    let mut current = 0;

    let stack = Stack::init(StackOptions::new(config_path())).unwrap();
    let mut poll = Poll::new().unwrap();
    let mut events = Events::with_capacity(16);
    let listener = FStackListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    poll.register(&listener, LISTENER, Interest::READABLE)
        .unwrap();

    let mut phase = Phase::Transfer;
    let mut client: Option<Side> = None;
    let mut server: Option<Side> = None;
    let start = Instant::now();
    let mut transfer_time = None;
    let mut iterations = 0u64;

    let outcome = stack.run(|| -> ControlFlow<Result<String, String>> {
        iterations += 1;
        if start.elapsed() > support::DEADLINE {
            return ControlFlow::Break(Err("timed out".into()));
        }
        let mut step = || -> Result<bool, String> {
            let (connector, acceptor) = &ends[current];
            // Start the client of the current phase.
            if client.is_none() {
                let sock = FStackSocket::connect(addr).map_err(|e| e.to_string())?;
                small_buffers(&sock)?;
                poll.register(&sock, CLIENT, Interest::READABLE | Interest::WRITABLE)
                    .map_err(|e| e.to_string())?;
                let writer = Writer::Growing { out: Vec::new() };
                client = Some(Side::new(Hs::Connecting(sock), writer, 1, 2));
            }
            poll.poll(&mut events).map_err(|e| e.to_string())?;
            for ev in &events {
                let side = match ev.token() {
                    LISTENER => {
                        loop {
                            match listener.accept() {
                                Ok((sock, _)) => {
                                    small_buffers(&sock)?;
                                    poll.register(
                                        &sock,
                                        SERVER,
                                        Interest::READABLE | Interest::WRITABLE,
                                    )
                                    .map_err(|e| e.to_string())?;
                                    let writer = Writer::Fixed {
                                        chunk: Vec::new(),
                                        off: 0,
                                    };
                                    server = Some(Side::new(
                                        Hs::from(acceptor.accept(sock)),
                                        writer,
                                        2,
                                        1,
                                    ));
                                }
                                Err(e) if e.is_would_block() => break,
                                Err(e) => return Err(format!("accept: {e}")),
                            }
                        }
                        continue;
                    }
                    CLIENT => client.as_mut(),
                    _ => server.as_mut(),
                };
                if let Some(side) = side {
                    side.readable |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
                    side.writable |= ev.is_writable() || ev.is_error();
                }
            }
            let host = match phase {
                Phase::Transfer => "localhost",
                Phase::WrongHost => "wrong.test",
            };
            if let Some(c) = client.as_mut() {
                c.handshake(connector, host)?;
                c.transfer()?;
            }
            if let Some(s) = server.as_mut() {
                s.handshake(connector, host)?;
                s.transfer()?;
            }
            match phase {
                Phase::Transfer => {
                    let (Some(c), Some(s)) = (&client, &server) else {
                        return Ok(false);
                    };
                    if let (Hs::Failed(e), _) | (_, Hs::Failed(e)) = (&c.hs, &s.hs) {
                        return Err(format!("handshake failed: {e}"));
                    }
                    if c.done() && s.done() {
                        transfer_time = Some(start.elapsed());
                        for side in [&c, &s] {
                            if let Some(sock) = socket_of(&side.hs) {
                                poll.deregister(sock).map_err(|e| e.to_string())?;
                            }
                        }
                        for side in [&c, &s] {
                            if let Hs::Ready(tls) = &side.hs {
                                if tls.protocol_version() != Some(combos[current].version) {
                                    return Err(format!(
                                        "{}: negotiated {:?}",
                                        combos[current],
                                        tls.protocol_version()
                                    ));
                                }
                            }
                        }
                        eprintln!(
                            "{}: 32 MiB each way: client writes blocked {} times ({} grown \
                             retries), server writes blocked {} times",
                            combos[current],
                            c.write_would_block,
                            c.grown_retries,
                            s.write_would_block
                        );
                        if c.write_would_block == 0 || s.write_would_block == 0 {
                            return Err("the slow readers never made a writer block".into());
                        }
                        if c.grown_retries == 0 {
                            return Err("no write was retried with a grown buffer".into());
                        }
                        client = None;
                        server = None;
                        phase = Phase::WrongHost;
                    }
                    Ok(false)
                }
                Phase::WrongHost => {
                    let Some(c) = &client else { return Ok(false) };
                    match &c.hs {
                        Hs::Failed(e) => {
                            let f = e
                                .verify_failure()
                                .ok_or_else(|| format!("expected a verify failure, got: {e}"))?;
                            if !f.contains(VerifyReason::HostnameMismatch) {
                                return Err(format!("expected hostname mismatch, got: {e}"));
                            }
                            if !e.to_string().contains("hostname mismatch") {
                                return Err(format!("message lacks the reason: {e}"));
                            }
                            current += 1;
                            if current == combos.len() {
                                return Ok(true);
                            }
                            // The server of the rejected handshake may still be around.
                            if let Some(sock) = server.as_ref().and_then(|s| socket_of(&s.hs)) {
                                poll.deregister(sock).map_err(|e| e.to_string())?;
                            }
                            if let Some(sock) = socket_of(&c.hs) {
                                poll.deregister(sock).map_err(|e| e.to_string())?;
                            }
                            client = None;
                            server = None;
                            phase = Phase::Transfer;
                            Ok(false)
                        }
                        Hs::Ready(_) => Err("connected despite the wrong host name".into()),
                        _ => Ok(false),
                    }
                }
            }
        };
        match step() {
            Ok(true) => ControlFlow::Break(Ok(format!(
                "transfer took {:?}, {iterations} loop iterations in all",
                transfer_time.unwrap()
            ))),
            Ok(false) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(Err(e)),
        }
    });
    match outcome {
        Some(Ok(report)) => eprintln!("{report}"),
        Some(Err(e)) => panic!("{e}"),
        None => panic!("the loop was stopped from outside"),
    }
}
