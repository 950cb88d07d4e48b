//! TLS over non-blocking streams, for [F-Stack](https://github.com/F-Stack/f-stack) sockets and
//! any other `Read + Write` stream that returns [`WouldBlock`](std::io::ErrorKind::WouldBlock).
//!
//! Built on mbedTLS 2.28 (the [`mbedtls`] crate), TLS 1.2. The API follows `native-tls`:
//!
//! - [`TlsConnector`] (client) and [`TlsAcceptor`] (server) are built once and shared.
//! - [`TlsConnector::connect`] / [`TlsAcceptor::accept`] return a [`TlsStream`], or
//!   [`HandshakeError::WouldBlock`] with a [`MidHandshake`] that the event loop resumes with
//!   [`MidHandshake::handshake`] whenever the socket is ready.
//! - [`TlsStream`] implements [`std::io::Read`] and [`std::io::Write`] with `WouldBlock`
//!   semantics. It pins the length of a write that would block (mbedTLS requires the retry to
//!   carry the same bytes), exposes decrypted-but-unread bytes with [`TlsStream::pending`] for
//!   edge-triggered loops, sends `close_notify` on [`TlsStream::shutdown`], and reports a
//!   connection that ends without `close_notify` as an error rather than a clean end of
//!   stream.
//! - With the `fstack` feature, [`dial`] resolves, connects and handshakes on F-Stack sockets
//!   inside the F-Stack loop.
//! - Verification is always on, with SNI, unless a `danger_...` option of
//!   [`TlsConnectorBuilder`] says otherwise. A rejected certificate says which check failed
//!   ([`VerifyReason`]).
//!
//! ```no_run
//! use std::io::{ErrorKind, Read, Write};
//! use fstack_tls::{HandshakeError, TlsConnector};
//!
//! # fn connected_nonblocking_socket() -> std::net::TcpStream { unimplemented!() }
//! let connector = TlsConnector::builder().ca_file("ca.pem").build()?;
//! let socket = connected_nonblocking_socket();
//! let mut handshake = connector.connect("example.com", socket);
//! let mut tls = loop {
//!     match handshake {
//!         Ok(tls) => break tls,
//!         Err(HandshakeError::WouldBlock(mid)) => {
//!             // In an event loop: return here and resume on the socket's next event.
//!             handshake = mid.handshake();
//!         }
//!         Err(HandshakeError::Failure(e)) => return Err(e.into()),
//!     }
//! };
//! tls.write_all(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")?;
//! let mut buf = [0u8; 4096];
//! loop {
//!     match tls.read(&mut buf) {
//!         Ok(0) => break, // close_notify: clean end of stream
//!         Ok(n) => print!("{}", String::from_utf8_lossy(&buf[..n])),
//!         Err(e) if e.kind() == ErrorKind::WouldBlock => { /* wait for readability */ }
//!         Err(e) => return Err(e.into()),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod client;
#[cfg(feature = "fstack")]
pub mod dial;
mod error;
mod io;
mod server;
mod stream;

use std::path::Path;
use std::sync::Arc;

use mbedtls::alloc::List as CertList;
use mbedtls::rng::{CtrDrbg, OsEntropy};
use mbedtls::x509::Certificate;

pub use client::{TlsConnector, TlsConnectorBuilder, SYSTEM_CA_BUNDLES};
pub use error::{Error, TlsError, VerifyFailure, VerifyReason};
pub use server::TlsAcceptor;
pub use stream::{HandshakeError, MidHandshake, TlsStream};

/// A CTR-DRBG seeded from the operating system, shared by all sessions of one config.
fn new_rng() -> Result<Arc<CtrDrbg>, Error> {
    let entropy = Arc::new(OsEntropy::new());
    CtrDrbg::new(entropy, None)
        .map(Arc::new)
        .map_err(|e| Error::Setup(TlsError::new(e)))
}

/// mbedTLS's PEM parsers want a terminating NUL byte.
fn nul_terminated(bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(bytes.len() + 1);
    v.extend_from_slice(bytes);
    if v.last() != Some(&0) {
        v.push(0);
    }
    v
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::ReadFile {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Parses one or more PEM certificates, or a single DER one; fails if none is found.
fn parse_certificates(bytes: &[u8], what: &'static str) -> Result<CertList<Certificate>, Error> {
    let parse_error = |e| Error::Parse {
        what,
        source: TlsError::new(e),
    };
    let is_pem = bytes.windows(11).any(|w| w == b"-----BEGIN ");
    let list = if is_pem {
        Certificate::from_pem_multiple(&nul_terminated(bytes)).map_err(parse_error)?
    } else {
        let mut list = CertList::new();
        list.push(Certificate::from_der(bytes).map_err(parse_error)?);
        list
    };
    if list.is_empty() {
        return Err(parse_error(mbedtls::error::codes::X509BadInputData.into()));
    }
    Ok(list)
}
