//! TLS over non-blocking streams, for [F-Stack](https://github.com/F-Stack/f-stack) sockets and
//! any other `Read + Write` stream that returns [`WouldBlock`](std::io::ErrorKind::WouldBlock).
//!
//! Two engines behind one API ([`Engine`]), TLS 1.3 and TLS 1.2 with both:
//!
//! - **rustls** 0.23 with the *ring* provider (cargo feature `rustls`): the default, because
//!   its record layer is the fastest measured here (BENCHMARKS.md);
//! - **mbedTLS 3.6 LTS** through `mbedtls-rs-sys` (cargo feature `mbedtls`), driven through its
//!   send/recv callbacks the way a C client does.
//!
//! Both are compiled in by default; pick one per connector or acceptor with
//! [`TlsConnectorBuilder::engine`] / [`TlsAcceptorBuilder::engine`]. They verify the same way:
//! the chain up to the trusted CAs, validity dates, and the host name (DNS names, or iPAddress
//! names for a host written as an IP address), and fail with the same [`VerifyReason`]s.
//!
//! The API follows `native-tls`:
//!
//! - [`TlsConnector`] (client) and [`TlsAcceptor`] (server) are built once and shared.
//! - [`TlsConnector::connect`] / [`TlsAcceptor::accept`] return a [`TlsStream`], or
//!   [`HandshakeError::WouldBlock`] with a [`MidHandshake`] that the event loop resumes with
//!   [`MidHandshake::handshake`] whenever the socket is ready.
//! - [`TlsStream`] implements [`std::io::Read`] and [`std::io::Write`] with `WouldBlock`
//!   semantics, with either engine: it sends `close_notify` on [`TlsStream::shutdown`],
//!   reports a connection that ends without `close_notify` as an error rather than a clean end
//!   of stream, and tells with [`TlsStream::pending`] that data waits inside the session. With
//!   mbedTLS a write that would block is pinned (mbedTLS requires the retry to carry the same
//!   bytes).
//! - With the `fstack` feature, [`dial`] resolves, connects and handshakes on F-Stack sockets
//!   inside the F-Stack loop.
//! - With the `async` feature, [`TlsConnector::connect_async`] / [`TlsAcceptor::accept_async`]
//!   give an `AsyncTlsStream` on any `futures_io` stream (such as `fstack::rt::TcpStream`),
//!   with tokio's io traits too under the `tokio` feature.
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

#[cfg(feature = "async")]
mod async_io;
mod certs;
mod client;
#[cfg(feature = "fstack")]
pub mod dial;
mod engine;
mod error;
#[cfg(feature = "mbedtls")]
mod mbedtls;
#[cfg(feature = "rustls")]
mod rustls;
mod server;
mod stream;

#[cfg(not(any(feature = "rustls", feature = "mbedtls")))]
compile_error!(
    "fstack-tls needs at least one TLS engine: enable the `rustls` or `mbedtls` feature"
);

#[cfg(feature = "async")]
pub use async_io::{AsyncTlsStream, Bridge};
pub use certs::SYSTEM_CA_BUNDLES;
pub use client::{TlsConnector, TlsConnectorBuilder};
pub use engine::{cipher_suite_name, Engine, Protocol, UnknownEngine};
pub use error::{Error, TlsError, VerifyFailure, VerifyReason};
pub use server::{TlsAcceptor, TlsAcceptorBuilder};
pub use stream::{HandshakeError, MidHandshake, TlsStream};
