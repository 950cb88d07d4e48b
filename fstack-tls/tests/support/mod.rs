//! Helpers shared by the fstack-tls integration tests.
#![allow(dead_code)]

pub mod certs;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use fstack_tls::{
    Engine, Error, HandshakeError, MidHandshake, Protocol, TlsAcceptor, TlsConnector,
    TlsConnectorBuilder, TlsStream,
};

/// How long any single scenario may take before the test gives up (never reached when the
/// code works; it only keeps a broken build from hanging).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A connected pair of non-blocking loopback TCP streams: (client, server).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nonblocking(true).unwrap();
    server.set_nonblocking(true).unwrap();
    (client, server)
}

/// One side of a handshake being driven.
pub enum Side<S> {
    Mid(MidHandshake<S>),
    Done(TlsStream<S>),
    Failed(Error),
}

impl<S: Read + Write> Side<S> {
    pub fn from(r: Result<TlsStream<S>, HandshakeError<S>>) -> Side<S> {
        match r {
            Ok(s) => Side::Done(s),
            Err(HandshakeError::WouldBlock(mid)) => Side::Mid(mid),
            Err(HandshakeError::Failure(e)) => Side::Failed(e),
        }
    }

    /// Makes progress; returns true if the side is still mid-handshake.
    pub fn step(&mut self) -> bool {
        let this = std::mem::replace(self, Side::Failed(Error::KeyMismatch));
        *self = match this {
            Side::Mid(mid) => Side::from(mid.handshake()),
            other => other,
        };
        matches!(self, Side::Mid(_))
    }

    pub fn into_result(self) -> Result<TlsStream<S>, Error> {
        match self {
            Side::Done(s) => Ok(s),
            Side::Failed(e) => Err(e),
            Side::Mid(_) => panic!("handshake not finished"),
        }
    }
}

/// Runs a client and a server handshake against each other over a std loopback pair, in one
/// thread, until both finished.
pub fn handshake_pair(
    connector: &TlsConnector,
    host: &str,
    acceptor: &TlsAcceptor,
) -> (
    Result<TlsStream<TcpStream>, Error>,
    Result<TlsStream<TcpStream>, Error>,
) {
    let (c, s) = tcp_pair();
    let mut client = Side::from(connector.connect(host, c));
    let mut server = Side::from(acceptor.accept(s));
    let start = Instant::now();
    loop {
        let c_busy = client.step();
        let s_busy = server.step();
        if !c_busy && !s_busy {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "handshake did not finish");
        // A failed side drops its socket, so the other one sees EOF and finishes too.
        std::thread::sleep(Duration::from_micros(200));
    }
    (client.into_result(), server.into_result())
}

/// Reads until `WouldBlock`/EOF or until `buf` has `want` bytes; returns what a read loop saw.
pub fn read_available<S: Read>(s: &mut S, out: &mut Vec<u8>) -> io::Result<bool> {
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// Writes all of `data` to a non-blocking stream, retrying after `WouldBlock` (with the same
/// bytes) while `between` runs the other side.
pub fn write_all_nb<S: Write>(s: &mut S, data: &[u8], mut between: impl FnMut()) {
    let mut off = 0;
    let start = Instant::now();
    while off < data.len() {
        match s.write(&data[off..]) {
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => between(),
            Err(e) => panic!("write failed: {e}"),
        }
        assert!(start.elapsed() < DEADLINE, "write did not finish");
    }
}

/// Deterministic, position-dependent bytes: any lost, duplicated or reordered byte changes
/// everything after it.
#[derive(Clone)]
pub struct Pattern {
    state: u64,
}

impl Pattern {
    pub fn new(seed: u64) -> Pattern {
        Pattern { state: seed | 1 }
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = (self.state >> 24) as u8;
        }
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.fill(&mut v);
        v
    }
}

/// Checks received bytes against the expected pattern as they arrive.
pub struct Checker {
    expected: Pattern,
    pub received: usize,
    scratch: Vec<u8>,
}

impl Checker {
    pub fn new(seed: u64) -> Checker {
        Checker {
            expected: Pattern::new(seed),
            received: 0,
            scratch: Vec::new(),
        }
    }

    pub fn check(&mut self, got: &[u8]) {
        self.scratch.resize(got.len(), 0);
        self.expected.fill(&mut self.scratch);
        if let Some(i) = got.iter().zip(&self.scratch).position(|(a, b)| a != b) {
            panic!(
                "byte {} differs: got {:#04x}, expected {:#04x}",
                self.received + i,
                got[i],
                self.scratch[i]
            );
        }
        self.received += got.len();
    }
}

/// One engine/version combination the tests run over: the client's engine, the server's
/// engine, and the only protocol version the client offers.
#[derive(Clone, Copy, Debug)]
pub struct Combo {
    pub client: Engine,
    pub server: Engine,
    pub version: Protocol,
}

/// Every compiled-in client engine against every compiled-in server engine, over TLS 1.3
/// and TLS 1.2. `FSTACK_TLS_TEST_ENGINE=rustls` (or `mbedtls`) keeps only that engine on both
/// sides, to narrow a failure down.
pub fn combos() -> Vec<Combo> {
    let only = std::env::var("FSTACK_TLS_TEST_ENGINE").ok();
    let engines: Vec<Engine> = Engine::available()
        .iter()
        .copied()
        .filter(|e| only.as_deref().is_none_or(|o| o == e.name()))
        .collect();
    assert!(
        !engines.is_empty(),
        "FSTACK_TLS_TEST_ENGINE names no compiled-in engine"
    );
    let mut out = Vec::new();
    for version in [Protocol::Tls13, Protocol::Tls12] {
        for &client in &engines {
            for &server in &engines {
                out.push(Combo {
                    client,
                    server,
                    version,
                });
            }
        }
    }
    out
}

impl Combo {
    /// A connector builder with this combination's engine and version.
    pub fn connector(&self) -> TlsConnectorBuilder {
        TlsConnector::builder()
            .engine(self.client)
            .min_protocol_version(Some(self.version))
            .max_protocol_version(Some(self.version))
    }

    /// A connector trusting `ca`.
    pub fn connector_for(&self, ca: &certs::TestCa) -> TlsConnector {
        self.connector()
            .ca_pem(ca.ca.cert_pem.as_bytes())
            .build()
            .unwrap()
    }

    /// An acceptor with this combination's server engine (both versions allowed: the client
    /// picks).
    pub fn acceptor(&self, chain_pem: &[u8], key_pem: &[u8]) -> Result<TlsAcceptor, Error> {
        TlsAcceptor::builder(chain_pem, key_pem)?
            .engine(self.server)
            .build()
    }

    /// An acceptor presenting `leaf` and `ca`'s certificate.
    pub fn acceptor_for(&self, ca: &certs::TestCa, leaf: &certs::CertKey) -> TlsAcceptor {
        self.acceptor(ca.chain(leaf).as_bytes(), leaf.key_pem.as_bytes())
            .unwrap()
    }
}

impl std::fmt::Display for Combo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} client, {} server, {}",
            self.client, self.server, self.version
        )
    }
}
