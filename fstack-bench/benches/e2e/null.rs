//! The null client: rustls (ring) on a blocking kernel socket, decrypting every record and
//! dropping the frames after checking their sequence numbers. No WebSocket library, no JSON:
//! it measures what the source can deliver, not a client anyone would write.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::measure::{Measured, Snapshot};
use crate::server::FIRST_SEQ;
use crate::source::Source;

pub fn run(source: &Source, warmup: u64, target: u64) -> Measured {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(source.server.ca_pem().as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[source.server.version().rustls()])
    .expect("TLS version")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("TLS client");
    let mut sock = TcpStream::connect(source.server.addr()).expect("connect");
    sock.set_nodelay(true).expect("nodelay");
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).expect("TLS handshake");
    }
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        source.target
    );
    conn.writer()
        .write_all(request.as_bytes())
        .expect("request");
    conn.complete_io(&mut sock).expect("request");

    let mut frames = FrameCounter::default();
    let mut net = vec![0u8; 256 << 10];
    let mut upgraded = false;
    let mut start = None;
    let mut end = None;
    let mut close_sent = false;
    loop {
        let n = match sock.read(&mut net) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => panic!("e2e: null: read: {e}"),
        };
        let mut wire = &net[..n];
        while !wire.is_empty() {
            conn.read_tls(&mut wire).expect("read_tls");
            conn.process_new_packets().expect("TLS");
            loop {
                match conn.reader().read(&mut frames.buf[frames.len..]) {
                    Ok(0) => break,
                    Ok(k) => frames.len += k,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("e2e: null: {e}"),
                }
                if !upgraded {
                    let head = &frames.buf[..frames.len];
                    let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    assert!(
                        head.starts_with(b"HTTP/1.1 101"),
                        "e2e: null: upgrade refused"
                    );
                    frames.buf.copy_within(at + 4..frames.len, 0);
                    frames.len -= at + 4;
                    upgraded = true;
                }
                frames.parse();
                if start.is_none() && frames.count >= warmup {
                    start = Some(Snapshot::now());
                }
                if end.is_none() && frames.count >= warmup + target {
                    end = Some(Snapshot::now());
                }
            }
        }
        if frames.closed {
            break;
        }
        if end.is_some() && !close_sent {
            // A masked close frame (code 1000), as a client must send.
            let mask = [1u8, 2, 3, 4];
            let code = [0x03 ^ mask[0], 0xe8 ^ mask[1]];
            let frame = [
                0x88, 0x82, mask[0], mask[1], mask[2], mask[3], code[0], code[1],
            ];
            conn.writer().write_all(&frame).expect("close");
            conn.complete_io(&mut sock).expect("close");
            close_sent = true;
        }
    }
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    let client_suite = conn.negotiated_cipher_suite().map(|s| u16::from(s.suite()));
    Measured {
        start: start.expect("start"),
        end: end.expect("end"),
        latency_us: Vec::new(),
        seq_errors: frames.seq_errors,
        events: target,
        client_suite,
    }
}

/// Counts the server's (unmasked) frames in the decrypted bytes and checks each text frame's
/// sequence number, the `n` at its end.
struct FrameCounter {
    buf: Vec<u8>,
    len: usize,
    count: u64,
    next_seq: u64,
    seq_errors: u64,
    closed: bool,
}

impl Default for FrameCounter {
    fn default() -> Self {
        FrameCounter {
            buf: vec![0u8; 64 << 10],
            len: 0,
            count: 0,
            next_seq: FIRST_SEQ,
            seq_errors: 0,
            closed: false,
        }
    }
}

impl FrameCounter {
    fn parse(&mut self) {
        let mut at = 0;
        while self.len - at >= 2 {
            let b = &self.buf[at..self.len];
            let (header, len) = match b[1] & 0x7f {
                126 if b.len() >= 4 => (4, u16::from_be_bytes([b[2], b[3]]) as usize),
                126 => break,
                127 => panic!("e2e: null: unexpected 64-bit frame length"),
                n => (2, n as usize),
            };
            if b.len() < header + len {
                break;
            }
            match b[0] & 0x0f {
                0x1 => {
                    self.count += 1;
                    let payload = &b[header..header + len];
                    if seq_of(payload) != Some(self.next_seq) {
                        self.seq_errors += 1;
                    }
                    self.next_seq = seq_of(payload).unwrap_or(self.next_seq) + 1;
                }
                0x8 => self.closed = true,
                _ => {}
            }
            at += header + len;
        }
        self.buf.copy_within(at..self.len, 0);
        self.len -= at;
    }
}

/// The ticker's `"n":<digits>` near the end of the payload.
fn seq_of(payload: &[u8]) -> Option<u64> {
    let tail = &payload[payload.len().saturating_sub(24)..];
    let at = tail.windows(4).rposition(|w| w == b"\"n\":")? + 4;
    let digits = tail[at..].iter().take_while(|b| b.is_ascii_digit());
    Some(digits.fold(0u64, |v, d| v * 10 + u64::from(d - b'0')))
}
