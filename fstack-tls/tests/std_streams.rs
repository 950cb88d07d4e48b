//! Client and acceptor over std non-blocking loopback sockets: certificate verification
//! outcomes, end-of-stream semantics and write pinning, for every engine pairing and both TLS
//! versions (`support::combos`).

mod support;

use std::io::{self, Read, Write};
use std::net::Shutdown;

use fstack_tls::{Engine, Error, Protocol, TlsAcceptor, TlsConnector, VerifyReason};
use support::certs::{self, TestCa, Validity};
use support::{combos, handshake_pair, read_available, write_all_nb, Combo, Pattern};

/// The client's verification error for this server, asserting the handshake failed.
fn rejected(connector: &TlsConnector, host: &str, acceptor: &TlsAcceptor) -> Error {
    let (client, server) = handshake_pair(connector, host, acceptor);
    assert!(server.is_err(), "the server should see the client abort");
    match client {
        Ok(_) => panic!("the client accepted a bad certificate"),
        Err(e) => e,
    }
}

fn assert_reason(e: &Error, reason: VerifyReason, words: &str) {
    let failure = e
        .verify_failure()
        .unwrap_or_else(|| panic!("not a verification error: {e}"));
    assert!(
        failure.contains(reason),
        "{reason:?} missing from {:?}",
        failure.reasons()
    );
    let msg = e.to_string();
    assert!(msg.contains(words), "message {msg:?} lacks {words:?}");
    assert!(msg.contains("certificate verification failed for"), "{msg}");
}

#[test]
fn valid_certificate_handshake_and_data_both_ways() {
    for combo in combos() {
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let leaf = ca.leaf(&["localhost", "example.test"], Validity::Current);
        let acceptor = combo.acceptor_for(&ca, &leaf);
        let connector = combo.connector_for(&ca);
        for host in ["localhost", "example.test"] {
            let (client, server) = handshake_pair(&connector, host, &acceptor);
            let (mut client, mut server) = (client.unwrap(), server.unwrap());
            assert_eq!(client.host(), Some(host));
            assert_eq!(client.protocol_version(), Some(combo.version));
            assert_eq!(client.cipher_suite(), server.cipher_suite());
            if combo.server == Engine::Rustls {
                // rustls servers follow the client's order: each engine's first choice.
                let want = match (combo.client, combo.version) {
                    (Engine::Rustls, Protocol::Tls13) => "TLS_AES_128_GCM_SHA256",
                    (Engine::Rustls, _) => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                    (_, Protocol::Tls13) => "TLS_CHACHA20_POLY1305_SHA256",
                    (_, _) => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                };
                assert_eq!(client.cipher_suite_name(), Some(want), "{combo}");
            }
            write_all_nb(&mut client, b"ping", || {});
            let mut got = Vec::new();
            while got.len() < 4 {
                read_available(&mut server, &mut got).unwrap();
            }
            assert_eq!(got, b"ping");
            write_all_nb(&mut server, b"pong", || {});
            got.clear();
            while got.len() < 4 {
                read_available(&mut client, &mut got).unwrap();
            }
            assert_eq!(got, b"pong");
        }
    }
}

#[test]
fn wrong_hostname_is_rejected_as_hostname_mismatch() {
    for combo in combos() {
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let leaf = ca.leaf(&["localhost"], Validity::Current);
        let e = rejected(
            &combo.connector_for(&ca),
            "other.test",
            &combo.acceptor_for(&ca, &leaf),
        );
        assert_reason(&e, VerifyReason::HostnameMismatch, "hostname mismatch");
        assert!(e.to_string().contains("other.test"), "{e}");
        assert_eq!(e.verify_failure().unwrap().reasons().len(), 1, "{e}");
    }
}

/// A host given as an IP address must be named by an iPAddress subjectAltName (RFC 9525
/// §6.3).
#[test]
fn ip_address_hosts_match_ip_address_names() {
    for combo in combos() {
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let leaf = ca.leaf(&["localhost", "127.0.0.1", "::1"], Validity::Current);
        let acceptor = combo.acceptor_for(&ca, &leaf);
        let connector = combo.connector_for(&ca);
        for host in ["127.0.0.1", "::1", "[::1]", "localhost"] {
            let (client, server) = handshake_pair(&connector, host, &acceptor);
            let (client, _server) = (client.unwrap(), server.unwrap());
            assert_eq!(client.host(), Some(host));
        }
        // Another address, and an address that is only a DNS name in the certificate's CN/SANs.
        // Both engines reject the certificate before sending their Finished message, so the
        // server's handshake fails on the alert; a server that got further would see the alert
        // on its first read, which the check below accepts too.
        let rejected = |connector: &TlsConnector, host: &str, acceptor: &TlsAcceptor| {
            let (client, server) = handshake_pair(connector, host, acceptor);
            if let Ok(mut server) = server {
                let mut got = Vec::new();
                let outcome = loop {
                    match read_available(&mut server, &mut got) {
                        Ok(false) => std::thread::sleep(std::time::Duration::from_millis(1)),
                        other => break other,
                    }
                };
                assert!(
                    outcome.is_err() && got.is_empty(),
                    "server read {outcome:?} {got:?}"
                );
            }
            match client {
                Ok(_) => panic!("the client accepted a certificate for another address"),
                Err(e) => e,
            }
        };
        for host in ["127.0.0.2", "::2"] {
            let e = rejected(&connector, host, &acceptor);
            assert_reason(&e, VerifyReason::HostnameMismatch, "hostname mismatch");
            assert!(
                e.to_string().contains(&format!("failed for {host}:")),
                "{e}"
            );
        }
        let dns_only = ca.leaf(&["localhost"], Validity::Current);
        let e = rejected(&connector, "127.0.0.1", &combo.acceptor_for(&ca, &dns_only));
        assert_reason(&e, VerifyReason::HostnameMismatch, "hostname mismatch");
        // The other checks still apply to IP hosts: an untrusted chain is rejected as such.
        let other = TestCa::new("Other CA");
        let e = rejected(&combo.connector_for(&other), "127.0.0.1", &acceptor);
        assert_reason(&e, VerifyReason::UntrustedIssuer, "untrusted issuer");
        // Turning hostname checks off skips the address check too.
        let lenient = combo
            .connector()
            .ca_pem(ca.ca.cert_pem.as_bytes())
            .danger_accept_invalid_hostnames(true)
            .build()
            .unwrap();
        let (client, server) =
            handshake_pair(&lenient, "127.0.0.9", &combo.acceptor_for(&ca, &dns_only));
        assert!(client.is_ok() && server.is_ok());
    }
}

/// The server name in a ClientHello record (RFC 6066 §3 server_name extension), if any.
fn client_hello_sni(record: &[u8]) -> Option<String> {
    let u16_at = |b: &[u8], i: usize| usize::from(u16::from_be_bytes([b[i], b[i + 1]]));
    // Record header (5 bytes), handshake header (4), version (2), random (32).
    let hello = &record[5 + 4..];
    let mut p = 2 + 32;
    p += 1 + usize::from(hello[p]); // session id
    p += 2 + u16_at(hello, p); // cipher suites
    p += 1 + usize::from(hello[p]); // compression methods
    let end = p + 2 + u16_at(hello, p);
    p += 2;
    while p < end {
        let (kind, len) = (u16_at(hello, p), u16_at(hello, p + 2));
        if kind == 0 {
            // server_name_list length (2), name type (1), name length (2), name.
            let name_len = u16_at(hello, p + 4 + 3);
            let name = &hello[p + 4 + 5..p + 4 + 5 + name_len];
            return Some(String::from_utf8(name.to_vec()).unwrap());
        }
        p += 4 + len;
    }
    None
}

/// SNI carries host names only: a host written as an address is not sent (RFC 6066 §3).
#[test]
fn addresses_are_not_sent_as_sni() {
    for combo in combos() {
        if combo.server != combo.client {
            continue; // the server here is a raw socket: one pass per client engine
        }
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let connector = combo.connector_for(&ca);
        for (host, sni) in [
            ("localhost", Some("localhost")),
            ("127.0.0.1", None),
            ("::1", None),
            ("[::1]", None),
        ] {
            let (c, mut s) = support::tcp_pair();
            // The first step sends the ClientHello, then waits for the server.
            let _mid = connector.connect(host, c);
            let mut record = Vec::new();
            let start = std::time::Instant::now();
            while record.len() < 5
                || record.len() < 5 + usize::from(u16::from_be_bytes([record[3], record[4]]))
            {
                let mut buf = [0u8; 4096];
                match s.read(&mut buf) {
                    Ok(0) => panic!("the client closed"),
                    Ok(n) => record.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{e}"),
                }
                assert!(start.elapsed() < support::DEADLINE);
            }
            assert_eq!(record[0], 22, "not a handshake record");
            assert_eq!(client_hello_sni(&record).as_deref(), sni, "host {host}");
        }
    }
}

/// Names come from subjectAltName only with rustls (webpki, RFC 9525 §6.4.4); mbedTLS falls
/// back to the common name when a certificate has no subjectAltName (README, TLS engines).
#[test]
fn common_name_only_certificates_differ_by_engine() {
    for combo in combos() {
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let leaf = ca.leaf_common_name_only("localhost");
        let connector = combo.connector_for(&ca);
        let acceptor = combo.acceptor_for(&ca, &leaf);
        match combo.client {
            Engine::Mbedtls => {
                let (client, server) = handshake_pair(&connector, "localhost", &acceptor);
                client.unwrap();
                server.unwrap();
                let e = rejected(&connector, "other.test", &acceptor);
                assert_reason(&e, VerifyReason::HostnameMismatch, "hostname mismatch");
            }
            _ => {
                let e = rejected(&connector, "localhost", &acceptor);
                assert_reason(&e, VerifyReason::HostnameMismatch, "hostname mismatch");
            }
        }
    }
}

#[test]
fn untrusted_ca_is_rejected_as_untrusted_issuer() {
    for combo in combos() {
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let leaf = ca.leaf(&["localhost"], Validity::Current);
        // Another CA, and an impostor CA with the same name (its signature does not verify).
        for other in [TestCa::new("Some Other CA"), TestCa::new("Test CA")] {
            let e = rejected(
                &combo.connector_for(&other),
                "localhost",
                &combo.acceptor_for(&ca, &leaf),
            );
            assert_reason(&e, VerifyReason::UntrustedIssuer, "untrusted issuer");
            assert!(!e
                .verify_failure()
                .unwrap()
                .contains(VerifyReason::SelfSigned));
        }
    }
}

#[test]
fn expired_certificate_is_rejected_as_expired() {
    for combo in combos() {
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let leaf = ca.leaf(&["localhost"], Validity::Expired);
        let e = rejected(
            &combo.connector_for(&ca),
            "localhost",
            &combo.acceptor_for(&ca, &leaf),
        );
        assert_reason(&e, VerifyReason::Expired, "expired");
    }
}

#[test]
fn future_certificate_is_rejected_as_not_yet_valid() {
    for combo in combos() {
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let leaf = ca.leaf(&["localhost"], Validity::NotYetValid);
        let e = rejected(
            &combo.connector_for(&ca),
            "localhost",
            &combo.acceptor_for(&ca, &leaf),
        );
        assert_reason(&e, VerifyReason::NotYetValid, "not yet valid");
    }
}

#[test]
fn self_signed_certificate_is_rejected_as_self_signed() {
    for combo in combos() {
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let own = certs::self_signed(&["localhost"]);
        let acceptor = combo
            .acceptor(own.cert_pem.as_bytes(), own.key_pem.as_bytes())
            .unwrap();
        let e = rejected(&combo.connector_for(&ca), "localhost", &acceptor);
        assert_reason(&e, VerifyReason::SelfSigned, "self-signed");
        assert!(!e
            .verify_failure()
            .unwrap()
            .contains(VerifyReason::UntrustedIssuer));
    }
}

/// `openssl req -x509`'s default: a self-signed certificate with CA:TRUE. Untrusted, both
/// engines call it self-signed; trusted directly, mbedTLS accepts it and rustls refuses a CA
/// certificate as the server's (README, TLS engines).
#[test]
fn self_signed_ca_certificates() {
    for combo in combos() {
        eprintln!("{combo}");
        let own = certs::self_signed_ca(&["localhost"]);
        let acceptor = combo
            .acceptor(own.cert_pem.as_bytes(), own.key_pem.as_bytes())
            .unwrap();
        let e = rejected(
            &combo.connector_for(&TestCa::new("Test CA")),
            "localhost",
            &acceptor,
        );
        assert_reason(&e, VerifyReason::SelfSigned, "self-signed");
        let trusting = combo
            .connector()
            .ca_pem(own.cert_pem.as_bytes())
            .build()
            .unwrap();
        match combo.client {
            Engine::Mbedtls => {
                let (client, server) = handshake_pair(&trusting, "localhost", &acceptor);
                client.unwrap();
                server.unwrap();
            }
            _ => {
                let e = rejected(&trusting, "localhost", &acceptor);
                assert_reason(
                    &e,
                    VerifyReason::CaUsedAsServerCertificate,
                    "a CA certificate (basicConstraints CA:TRUE) is used as the server's \
                     certificate",
                );
            }
        }
    }
}

#[test]
fn danger_accept_invalid_certs_accepts_every_bad_certificate() {
    for combo in combos() {
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let other = TestCa::new("Some Other CA");
        let own = certs::self_signed(&["localhost"]);
        let danger = combo
            .connector()
            .ca_pem(other.ca.cert_pem.as_bytes())
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let cases = [
            (
                "wrong host",
                combo.acceptor_for(&ca, &ca.leaf(&["localhost"], Validity::Current)),
                "x.test",
            ),
            (
                "untrusted",
                combo.acceptor_for(&ca, &ca.leaf(&["localhost"], Validity::Current)),
                "localhost",
            ),
            (
                "expired",
                combo.acceptor_for(&ca, &ca.leaf(&["localhost"], Validity::Expired)),
                "localhost",
            ),
            (
                "self-signed",
                combo
                    .acceptor(own.cert_pem.as_bytes(), own.key_pem.as_bytes())
                    .unwrap(),
                "localhost",
            ),
        ];
        for (what, acceptor, host) in cases {
            let (client, server) = handshake_pair(&danger, host, &acceptor);
            let (mut client, mut server) = (
                client.unwrap_or_else(|e| panic!("{what}: {e}")),
                server.unwrap_or_else(|e| panic!("{what}: {e}")),
            );
            write_all_nb(&mut client, b"hi", || {});
            let mut got = Vec::new();
            while got.len() < 2 {
                read_available(&mut server, &mut got).unwrap();
            }
            assert_eq!(got, b"hi", "{what}");
        }
    }
}

#[test]
fn danger_accept_invalid_hostnames_still_checks_the_rest() {
    for combo in combos() {
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let connector = combo
            .connector()
            .ca_pem(ca.ca.cert_pem.as_bytes())
            .danger_accept_invalid_hostnames(true)
            .build()
            .unwrap();
        let good = combo.acceptor_for(&ca, &ca.leaf(&["localhost"], Validity::Current));
        let (client, _) = handshake_pair(&connector, "other.test", &good);
        client.expect("a hostname mismatch should be accepted");
        let expired = combo.acceptor_for(&ca, &ca.leaf(&["localhost"], Validity::Expired));
        let e = rejected(&connector, "other.test", &expired);
        assert_reason(&e, VerifyReason::Expired, "expired");
        assert!(!e
            .verify_failure()
            .unwrap()
            .contains(VerifyReason::HostnameMismatch));
    }
}

fn connected_pair(
    combo: Combo,
) -> (
    fstack_tls::TlsStream<std::net::TcpStream>,
    fstack_tls::TlsStream<std::net::TcpStream>,
) {
    let ca = TestCa::new("Test CA");
    let leaf = ca.leaf(&["localhost"], Validity::Current);
    let (c, s) = handshake_pair(
        &combo.connector_for(&ca),
        "localhost",
        &combo.acceptor_for(&ca, &leaf),
    );
    (c.unwrap(), s.unwrap())
}

/// Reads until something other than WouldBlock happens.
fn read_outcome<S: Read>(s: &mut S) -> io::Result<Vec<u8>> {
    let start = std::time::Instant::now();
    let mut out = Vec::new();
    loop {
        match read_available(s, &mut out) {
            Ok(true) => return Ok(out),
            Ok(false) => {}
            Err(e) => return Err(e),
        }
        assert!(start.elapsed() < support::DEADLINE, "read never finished");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn close_notify_reads_as_end_of_stream() {
    for combo in combos() {
        eprintln!("{combo}");
        let (mut client, mut server) = connected_pair(combo);
        write_all_nb(&mut server, b"last words", || {});
        let mut done = false;
        while !done {
            match server.shutdown() {
                Ok(()) => done = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("shutdown: {e}"),
            }
        }
        let got = read_outcome(&mut client).unwrap();
        assert_eq!(got, b"last words");
        assert!(client.peer_closed());
        assert_eq!(client.read(&mut [0u8; 8]).unwrap(), 0, "EOF is sticky");
        let e = server.write(b"more").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}

#[test]
fn eof_without_close_notify_is_unexpected_eof() {
    for combo in combos() {
        eprintln!("{combo}");
        let (mut client, mut server) = connected_pair(combo);
        write_all_nb(&mut server, b"partial", || {});
        // Close the TCP connection without close_notify (dropping sends none).
        server.get_ref().shutdown(Shutdown::Both).unwrap();
        drop(server);
        let e = read_outcome(&mut client).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
        assert!(e.to_string().contains("close_notify"), "{e}");
    }
}

#[test]
fn truncated_record_is_an_error() {
    for combo in combos() {
        eprintln!("{combo}");
        let (mut client, server) = connected_pair(combo);
        // A record header announcing 100 bytes, then only 3, then FIN.
        let mut raw = server.get_ref().try_clone().unwrap();
        raw.write_all(&[23, 3, 3, 0, 100, 1, 2, 3]).unwrap();
        raw.shutdown(Shutdown::Write).unwrap();
        let e = read_outcome(&mut client).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
        drop(server);
    }
}

#[test]
fn tcp_reset_is_connection_reset() {
    for combo in combos() {
        eprintln!("{combo}");
        let (mut client, server) = connected_pair(combo);
        // SO_LINGER 0 makes close() send RST.
        let raw = server.get_ref().try_clone().unwrap();
        raw.set_linger_zero();
        drop(raw);
        drop(server);
        let e = read_outcome(&mut client).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    }
}

trait LingerZero {
    fn set_linger_zero(&self);
}

impl LingerZero for std::net::TcpStream {
    fn set_linger_zero(&self) {
        use std::os::fd::AsRawFd;
        let linger = [1i32, 0i32]; // struct linger { l_onoff = 1, l_linger = 0 }
                                   // SAFETY: setsockopt reads `size_of_val(&linger)` bytes from a live array.
        let rc = unsafe {
            libc_setsockopt(
                self.as_raw_fd(),
                1,  // SOL_SOCKET
                13, // SO_LINGER
                linger.as_ptr().cast(),
                std::mem::size_of_val(&linger) as u32,
            )
        };
        assert_eq!(rc, 0);
    }
}

extern "C" {
    #[link_name = "setsockopt"]
    fn libc_setsockopt(
        fd: i32,
        level: i32,
        name: i32,
        value: *const std::ffi::c_void,
        len: u32,
    ) -> i32;
}

/// The tungstenite pattern: after WouldBlock, retry with the same buffer grown by new bytes.
/// Without pinning, mbedTLS would report the grown length as written and bytes would vanish.
#[test]
fn pinned_write_survives_a_grown_retry_buffer() {
    for combo in combos() {
        eprintln!("{combo}");
        let (mut client, mut server) = connected_pair(combo);
        const TOTAL: usize = 8 << 20;
        let mut source = Pattern::new(7);
        let mut checker = support::Checker::new(7);
        let mut out: Vec<u8> = Vec::new();
        let mut produced = 0;
        let mut would_block = 0;
        let mut retries_grown = 0;
        let mut last_blocked_len = None;
        let mut got = Vec::new();
        let start = std::time::Instant::now();
        let mut read_turn = 0u32;
        while checker.received < TOTAL {
            assert!(
                start.elapsed() < support::DEADLINE,
                "transfer stalled: {} of {TOTAL} bytes received, {produced} produced, {} queued",
                checker.received,
                out.len()
            );
            // Producer: append a small message (1-7 KB) per round, like a WebSocket layer queueing
            // frames, so the write that blocks is often shorter than a 16 KiB record.
            if produced < TOTAL && out.len() < 4 << 20 {
                let n = (1000 + (produced * 7919) % 6000).min(TOTAL - produced);
                out.extend(source.bytes(n));
                produced += n;
            }
            if !out.is_empty() {
                if let Some(len) = last_blocked_len {
                    // The case that loses data without pinning: a blocked write shorter than a
                    // record, retried with more bytes.
                    if len < 16384 && out.len() > len {
                        retries_grown += 1;
                    }
                }
                match client.write(&out) {
                    Ok(n) => {
                        out.drain(..n);
                        last_blocked_len = None;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        would_block += 1;
                        last_blocked_len = Some(out.len());
                    }
                    Err(e) => panic!("write: {e}"),
                }
            }
            if out.is_empty() {
                // rustls may still hold records the socket could not take: push them.
                match client.flush() {
                    Err(e) if e.kind() != io::ErrorKind::WouldBlock => panic!("flush: {e}"),
                    _ => {}
                }
            }
            // Slow reader: reads only every fourth round, a little at a time.
            read_turn += 1;
            if read_turn.is_multiple_of(4) {
                let mut buf = [0u8; 8192];
                match server.read(&mut buf) {
                    Ok(0) => panic!("unexpected EOF"),
                    Ok(n) => {
                        got.clear();
                        got.extend_from_slice(&buf[..n]);
                        checker.check(&got);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("read: {e}"),
                }
            }
        }
        assert_eq!(checker.received, TOTAL);
        assert!(would_block > 0, "the writer never hit WouldBlock");
        assert!(retries_grown > 0, "no retry used a grown buffer");
        eprintln!(
            "8 MiB pinned transfer: {would_block} WouldBlocks, {retries_grown} grown retries"
        );
    }
}

#[test]
fn retry_with_different_bytes_is_refused_by_mbedtls_only() {
    for combo in combos() {
        eprintln!("{combo}");
        let (mut client, _server) = connected_pair(combo);
        let chunk = vec![0xAB; 16 << 10];
        let start = std::time::Instant::now();
        loop {
            assert!(start.elapsed() < support::DEADLINE);
            match client.write(&chunk) {
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        if combo.client == Engine::Mbedtls {
            // mbedTLS encrypted the blocked record already: other bytes cannot replace it.
            assert!(client.has_pinned_write());
            let e = client.write(&vec![0xCD; 16 << 10]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
            assert!(e.to_string().contains("retried with different data"), "{e}");
        } else {
            // rustls took nothing when it said WouldBlock: any bytes may follow.
            assert!(!client.has_pinned_write());
            match client.write(&vec![0xCD; 16 << 10]) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => panic!("a full output buffer should still block: {other:?}"),
            }
        }
    }
}

#[test]
fn pending_reports_buffered_plaintext() {
    for combo in combos() {
        eprintln!("{combo}");
        let (mut client, mut server) = connected_pair(combo);
        write_all_nb(&mut server, &[7u8; 1000], || {});
        let mut one = [0u8; 1];
        let start = std::time::Instant::now();
        loop {
            assert!(start.elapsed() < support::DEADLINE);
            match client.read(&mut one) {
                Ok(1) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => panic!("{other:?}"),
            }
        }
        // The rest of the record is decrypted and waiting; the socket itself is empty.
        assert_eq!(client.pending(), 999);
        let mut rest = vec![0u8; 2000];
        assert_eq!(client.read(&mut rest).unwrap(), 999);
        assert_eq!(client.pending(), 0);
    }
}

#[test]
fn configuration_errors_say_what_is_wrong() {
    for combo in combos() {
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let leaf = ca.leaf(&["localhost"], Validity::Current);
        let other = ca.leaf(&["localhost"], Validity::Current);

        let e = combo
            .acceptor(leaf.cert_pem.as_bytes(), other.key_pem.as_bytes())
            .unwrap_err();
        assert!(matches!(e, Error::KeyMismatch), "{e}");
        let e = combo
            .acceptor(b"not a certificate", leaf.key_pem.as_bytes())
            .unwrap_err();
        assert!(
            e.to_string().starts_with("invalid certificate chain"),
            "{e}"
        );
        let e = combo
            .acceptor(leaf.cert_pem.as_bytes(), b"garbage")
            .unwrap_err();
        assert!(e.to_string().starts_with("invalid private key"), "{e}");
        let e = combo
            .connector()
            .ca_file("/nonexistent/ca.pem")
            .build()
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("/nonexistent/ca.pem") && msg.contains("No such file"),
            "{msg}"
        );
        let connector = combo.connector_for(&ca);
        for (host, reason) in [
            ("", "it is empty"),
            (
                "localhost.localdomain..",
                "it is not a valid DNS name or IP address",
            ),
            ("bad host", "it is not a valid DNS name or IP address"),
            ("a\0b", "it contains a NUL byte"),
        ] {
            let (c, _s) = support::tcp_pair();
            match connector.connect(host, c) {
                Err(fstack_tls::HandshakeError::Failure(e @ Error::InvalidHostname { .. })) => {
                    assert_eq!(
                        e.to_string(),
                        format!("invalid host name {host:?}: {reason}")
                    );
                }
                other => panic!("{host:?}: {other:?}"),
            }
        }
    }
}

/// A fully qualified name's final dot is dropped by both engines: `localhost.` verifies
/// against a certificate for `localhost`.
#[test]
fn trailing_dot_names_the_same_host() {
    for combo in combos() {
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let leaf = ca.leaf(&["localhost"], Validity::Current);
        let (client, server) = handshake_pair(
            &combo.connector_for(&ca),
            "localhost.",
            &combo.acceptor_for(&ca, &leaf),
        );
        assert_eq!(client.unwrap().host(), Some("localhost."));
        server.unwrap();
    }
}

#[test]
fn ca_file_and_system_bundle_via_ssl_cert_file() {
    for combo in combos() {
        eprintln!("{combo}");
        let ca = TestCa::new("Test CA");
        let leaf = ca.leaf(&["localhost"], Validity::Current);
        let acceptor = combo.acceptor_for(&ca, &leaf);
        let path = certs::temp_file("ca-for-file.pem", &ca.ca.cert_pem);

        let from_file = combo.connector().ca_file(&path).build().unwrap();
        let (client, _) = handshake_pair(&from_file, "localhost", &acceptor);
        client.unwrap();

        // The default connector honours SSL_CERT_FILE. (Only this test touches the variable.)
        std::env::set_var("SSL_CERT_FILE", &path);
        let system = TlsConnector::new();
        std::env::remove_var("SSL_CERT_FILE");
        let (client, _) = handshake_pair(&system.unwrap(), "localhost", &acceptor);
        client.unwrap();

        std::env::set_var("SSL_CERT_FILE", "/nonexistent/bundle.pem");
        let e = TlsConnector::new().unwrap_err();
        std::env::remove_var("SSL_CERT_FILE");
        assert!(e.to_string().contains("SSL_CERT_FILE"), "{e}");
    }
}
