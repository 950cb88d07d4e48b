//! What the underlying stream does wrong, and what the TLS stream makes of it, with every
//! engine: interrupted calls are retried, a write that takes no bytes is `WriteZero`, the
//! stream's own errors come back as they were (not as "send failed"), and a panic of the
//! stream reaches the caller.

mod support;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fstack_tls::{Error, HandshakeError, TlsAcceptor, TlsConnector, TlsStream};
use support::certs::{TestCa, Validity};
use support::{combos, read_available, tcp_pair, write_all_nb, Side, DEADLINE};

/// A stream with faults switched on from the test.
#[derive(Debug)]
struct Faulty {
    inner: TcpStream,
    /// Every other read and write fails with `Interrupted` first.
    interrupt: bool,
    tick: bool,
    /// Writes take no bytes.
    write_zero: bool,
    /// Reads fail with this test's own error.
    fail_reads: bool,
    /// Writes fail with this test's own error, once set.
    fail_writes: Arc<AtomicBool>,
    /// Reads panic.
    panic_on_read: bool,
    interrupted: usize,
}

impl Faulty {
    fn new(inner: TcpStream) -> Faulty {
        Faulty {
            inner,
            interrupt: false,
            tick: false,
            write_zero: false,
            fail_reads: false,
            fail_writes: Arc::new(AtomicBool::new(false)),
            panic_on_read: false,
            interrupted: 0,
        }
    }

    fn interrupts(&mut self) -> bool {
        self.tick = !self.tick;
        if self.interrupt && self.tick {
            self.interrupted += 1;
            return true;
        }
        false
    }
}

fn injected(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("injected {what} fault"),
    )
}

impl Read for Faulty {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.panic_on_read {
            panic!("the stream panicked");
        }
        if self.fail_reads {
            return Err(injected("read"));
        }
        if self.interrupts() {
            return Err(io::ErrorKind::Interrupted.into());
        }
        self.inner.read(buf)
    }
}

impl Write for Faulty {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.write_zero {
            return Ok(0);
        }
        if self.fail_writes.load(Ordering::Relaxed) {
            return Err(injected("write"));
        }
        if self.interrupts() {
            return Err(io::ErrorKind::Interrupted.into());
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn ends(combo: support::Combo) -> (TlsConnector, TlsAcceptor) {
    let ca = TestCa::new("Test CA");
    let leaf = ca.leaf(&["localhost"], Validity::Current);
    (combo.connector_for(&ca), combo.acceptor_for(&ca, &leaf))
}

/// Drives both sides until both finished.
fn drive<C: Read + Write, S: Read + Write>(
    mut client: Side<C>,
    mut server: Side<S>,
) -> (Result<TlsStream<C>, Error>, Result<TlsStream<S>, Error>) {
    let start = Instant::now();
    loop {
        let c_busy = client.step();
        let s_busy = server.step();
        if !c_busy && !s_busy {
            return (client.into_result(), server.into_result());
        }
        assert!(start.elapsed() < DEADLINE, "handshake did not finish");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Reads exactly `n` bytes from a non-blocking TLS stream.
fn read_n<S: Read>(s: &mut S, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < n {
        read_available(s, &mut got).unwrap();
        assert!(start.elapsed() < DEADLINE, "read did not finish");
    }
    got
}

#[test]
fn interrupted_calls_are_retried() {
    for combo in combos() {
        eprintln!("{combo}");
        let (connector, acceptor) = ends(combo);
        let (c, s) = tcp_pair();
        let (mut c, mut s) = (Faulty::new(c), Faulty::new(s));
        c.interrupt = true;
        s.interrupt = true;
        let (client, server) = drive(
            Side::from(connector.connect("localhost", c)),
            Side::from(acceptor.accept(s)),
        );
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        let data = vec![0x5A; 100_000];
        write_all_nb(&mut client, &data, || {});
        assert_eq!(read_n(&mut server, data.len()), data);
        write_all_nb(&mut server, b"pong", || {});
        assert_eq!(read_n(&mut client, 4), b"pong");
        assert!(client.get_ref().interrupted > 0 && server.get_ref().interrupted > 0);
    }
}

#[test]
fn a_write_that_takes_nothing_is_write_zero() {
    for combo in combos() {
        eprintln!("{combo}");
        let (connector, _acceptor) = ends(combo);
        let (c, _s) = tcp_pair();
        let mut c = Faulty::new(c);
        c.write_zero = true;
        match connector.connect("localhost", c) {
            Err(HandshakeError::Failure(Error::Io(e))) => {
                assert_eq!(e.kind(), io::ErrorKind::WriteZero, "{e}")
            }
            other => panic!("expected WriteZero, got {other:?}"),
        }
    }
}

#[test]
fn the_streams_own_errors_come_back() {
    for combo in combos() {
        eprintln!("{combo}");
        let (connector, acceptor) = ends(combo);
        // During the handshake: the client's first read fails.
        let (c, _s) = tcp_pair();
        let mut c = Faulty::new(c);
        c.fail_reads = true;
        let mut side = Side::from(connector.connect("localhost", c));
        let start = Instant::now();
        while side.step() {
            assert!(start.elapsed() < DEADLINE);
        }
        match side.into_result() {
            Err(Error::Io(e)) => {
                assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
                assert_eq!(e.to_string(), "injected read fault");
            }
            other => panic!("expected the stream's error, got {:?}", other.err()),
        }
        // After it: a write fails.
        let (c, s) = tcp_pair();
        let c = Faulty::new(c);
        let fail_writes = c.fail_writes.clone();
        let (client, server) = drive(
            Side::from(connector.connect("localhost", c)),
            Side::from(acceptor.accept(s)),
        );
        let (mut client, _server) = (client.unwrap(), server.unwrap());
        fail_writes.store(true, Ordering::Relaxed);
        let e = client
            .write(b"hello")
            .and_then(|_| client.flush())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        assert_eq!(e.to_string(), "injected write fault");
    }
}

#[test]
fn a_panicking_stream_panics_the_caller() {
    for combo in combos() {
        eprintln!("{combo}");
        let (connector, _acceptor) = ends(combo);
        let (c, _s) = tcp_pair();
        let mut c = Faulty::new(c);
        c.panic_on_read = true;
        // The first step writes the ClientHello, then reads: the panic crosses the engine
        // (mbedTLS: C code, which it must not unwind through) and reaches this caller.
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut side = Side::from(connector.connect("localhost", c));
            while side.step() {}
        }));
        let payload = outcome.expect_err("the stream's panic was lost");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"the stream panicked"));
    }
}
