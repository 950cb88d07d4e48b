//! Sessions on several threads at once, with every engine pairing: many concurrent handshakes
//! sharing one connector and one acceptor, and blocking streams whose two ends run on two
//! threads. mbedTLS is built without thread support, so the mbedTLS engine serialises the
//! state its sessions share; these tests check that this neither corrupts handshakes nor
//! deadlocks when a stream blocks.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use fstack_tls::{HandshakeError, TlsStream};
use support::certs::{TestCa, Validity};
use support::{combos, handshake_pair, read_available, write_all_nb};

#[test]
fn concurrent_handshakes_share_a_connector_and_an_acceptor() {
    const THREADS: usize = 6;
    const EACH: usize = 8;
    for combo in combos() {
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let leaf = ca.leaf(&["localhost"], Validity::Current);
        let connector = combo.connector_for(&ca);
        let acceptor = combo.acceptor_for(&ca, &leaf);
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let (connector, acceptor) = (&connector, &acceptor);
                scope.spawn(move || {
                    for i in 0..EACH {
                        let (client, server) = handshake_pair(connector, "localhost", acceptor);
                        let (mut client, mut server) = (client.unwrap(), server.unwrap());
                        assert_eq!(client.protocol_version(), Some(combo.version));
                        let msg = format!("thread {t} connection {i}");
                        write_all_nb(&mut client, msg.as_bytes(), || {});
                        let mut got = Vec::new();
                        while got.len() < msg.len() {
                            read_available(&mut server, &mut got).unwrap();
                        }
                        assert_eq!(got, msg.as_bytes());
                    }
                });
            }
        });
    }
}

/// Drives a handshake on a blocking stream: it never returns `WouldBlock`.
fn blocking<S: Read + Write>(r: Result<TlsStream<S>, HandshakeError<S>>) -> TlsStream<S> {
    match r {
        Ok(s) => s,
        Err(HandshakeError::WouldBlock(_)) => panic!("the handshake stalled (a read timed out)"),
        Err(HandshakeError::Failure(e)) => panic!("handshake failed: {e}"),
    }
}

#[test]
fn blocking_streams_with_ends_on_two_threads() {
    for combo in combos() {
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let leaf = ca.leaf(&["localhost"], Validity::Current);
        let connector = combo.connector_for(&ca);
        let acceptor = combo.acceptor_for(&ca, &leaf);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // A read that blocks past this fails the test instead of hanging it (it would, if one
        // end's blocking read held a lock the other end needs).
        let timeout = Some(Duration::from_secs(20));
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let (tcp, _) = listener.accept().unwrap();
                tcp.set_read_timeout(timeout).unwrap();
                let mut tls = blocking(acceptor.accept(tcp));
                let mut line = [0u8; 5];
                tls.read_exact(&mut line).unwrap();
                tls.write_all(b"pong").unwrap();
                tls.flush().unwrap();
                tls.shutdown().unwrap();
            });
            let tcp = TcpStream::connect(addr).unwrap();
            tcp.set_read_timeout(timeout).unwrap();
            let mut tls = blocking(connector.connect("localhost", tcp));
            tls.write_all(b"ping\n").unwrap();
            tls.flush().unwrap();
            let mut got = Vec::new();
            tls.read_to_end(&mut got).unwrap();
            assert_eq!(got, b"pong");
        });
    }
}
