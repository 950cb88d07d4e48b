//! The TLS stream, and the resumable handshake that produces it. Engine-neutral: the work is
//! done by the engine's session (see `engine.rs`).

use std::fmt;
use std::io::{self, Read, Write};

use crate::engine::{cipher_suite_name, Engine, Progress, Protocol, Session};
use crate::error::Error;

/// Runs the first handshake step of a new session.
pub(crate) fn handshake<S: Read + Write>(
    session: Session<S>,
    host: Option<String>,
) -> Result<TlsStream<S>, HandshakeError<S>> {
    MidHandshake {
        session,
        host,
        wants_write: false,
    }
    .handshake()
}

/// A handshake that could not finish because the stream would block.
///
/// Wait until the stream is readable (or writable, see [`wants_write`](Self::wants_write)),
/// then call [`handshake`](Self::handshake) to continue where it stopped. With edge-triggered
/// readiness, simply retry on every event of the socket.
pub struct MidHandshake<S> {
    session: Session<S>,
    /// The name the server certificate is verified against (`None` on the server side).
    host: Option<String>,
    wants_write: bool,
}

impl<S: Read + Write> MidHandshake<S> {
    /// Continues the handshake.
    pub fn handshake(mut self) -> Result<TlsStream<S>, HandshakeError<S>> {
        match self.session.handshake() {
            Ok(Progress::Done) => Ok(TlsStream {
                session: self.session,
                host: self.host,
            }),
            Ok(Progress::WantRead) => {
                self.wants_write = false;
                Err(HandshakeError::WouldBlock(self))
            }
            Ok(Progress::WantWrite) => {
                self.wants_write = true;
                Err(HandshakeError::WouldBlock(self))
            }
            Err(e) => Err(HandshakeError::Failure(e)),
        }
    }
}

impl<S> MidHandshake<S> {
    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        self.session.get_ref()
    }

    /// The underlying stream, mutably. Reading or writing it directly corrupts the session.
    pub fn get_mut(&mut self) -> &mut S {
        self.session.get_mut()
    }

    /// True when the handshake stopped because the stream could not take more bytes: wait for
    /// writability. Otherwise it waits for the peer's bytes: wait for readability.
    pub fn wants_write(&self) -> bool {
        self.wants_write
    }

    /// True when the handshake waits for bytes from the peer (the opposite of
    /// [`wants_write`](Self::wants_write)).
    pub fn wants_read(&self) -> bool {
        !self.wants_write
    }

    /// The engine doing the handshake.
    pub fn engine(&self) -> Engine {
        self.session.engine()
    }
}

impl<S: fmt::Debug> fmt::Debug for MidHandshake<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MidHandshake")
            .field("stream", self.get_ref())
            .field("engine", &self.engine())
            .field("host", &self.host)
            .field("wants_write", &self.wants_write)
            .finish()
    }
}

/// Why [`TlsConnector::connect`](crate::TlsConnector::connect),
/// [`TlsAcceptor::accept`](crate::TlsAcceptor::accept) or [`MidHandshake::handshake`] returned
/// without a stream.
pub enum HandshakeError<S> {
    /// The stream would block: resume with [`MidHandshake::handshake`] on readiness.
    WouldBlock(MidHandshake<S>),
    /// The handshake failed; the stream has been dropped.
    Failure(Error),
}

impl<S> From<Error> for HandshakeError<S> {
    fn from(e: Error) -> HandshakeError<S> {
        HandshakeError::Failure(e)
    }
}

impl<S> fmt::Debug for HandshakeError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::WouldBlock(_) => f.write_str("WouldBlock(..)"),
            HandshakeError::Failure(e) => f.debug_tuple("Failure").field(e).finish(),
        }
    }
}

impl<S> fmt::Display for HandshakeError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::WouldBlock(_) => f.write_str("the TLS handshake would block"),
            HandshakeError::Failure(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl<S> std::error::Error for HandshakeError<S> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HandshakeError::WouldBlock(_) => None,
            HandshakeError::Failure(e) => Some(e),
        }
    }
}

/// A TLS session over a non-blocking stream, with either engine.
///
/// # Reading
/// [`read`](Read::read) returns plaintext, [`io::ErrorKind::WouldBlock`] when the stream has no
/// complete record yet, and `Ok(0)` only after the peer's `close_notify`. A connection that
/// ends without `close_notify` (possibly truncated data) fails with
/// [`io::ErrorKind::UnexpectedEof`]; a reset fails with the stream's own error (e.g.
/// [`io::ErrorKind::ConnectionReset`]).
///
/// Engines decrypt a whole record at a time, and the stream is read ahead (one read takes up
/// to 16 KiB of what has arrived), so data can be waiting inside the session while the socket
/// has nothing new: with edge-triggered readiness, read until `WouldBlock` after every
/// readable event. [`pending`](Self::pending) > 0 says more can be read without the socket;
/// 0 does **not** say the socket is empty, so it is no substitute for reading to `WouldBlock`.
///
/// # Writing
/// [`write`](Write::write) encrypts at most one record (16 KiB) per call with mbedTLS, and as
/// much as the session's output buffer takes with rustls; it returns how much it took.
///
/// - **mbedTLS**: when `write` returns `WouldBlock`, mbedTLS has already encrypted the first
///   bytes of that buffer and keeps them until the socket takes them: the write is *pinned*.
///   Retry it with a buffer that starts with the same bytes (it may be longer, as when a
///   WebSocket layer appends to its output buffer): the retry finishes the pinned record and
///   returns its length, never more. A retry whose first bytes differ fails with
///   [`io::ErrorKind::InvalidInput`] instead of silently sending the old bytes.
/// - **rustls**: `write` encrypts the bytes into the session's bounded output buffer (64 KiB
///   of records) and sends what the socket accepts; `WouldBlock` means the buffer is full and
///   nothing was taken. Nothing is ever pinned, but records the socket refused stay in the
///   session until the next `write`, `read` or `flush`.
///
/// With both, after writing, call [`flush`](Write::flush) until it returns `Ok` (on
/// writability after `WouldBlock`): only then has everything reached the stream.
///
/// # Closing
/// [`shutdown`](Self::shutdown) sends `close_notify`. Dropping the stream closes the underlying
/// stream without it, which the peer sees as a truncated connection.
pub struct TlsStream<S> {
    session: Session<S>,
    host: Option<String>,
}

impl<S> TlsStream<S> {
    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        self.session.get_ref()
    }

    /// The underlying stream, mutably. Reading or writing it directly corrupts the session.
    pub fn get_mut(&mut self) -> &mut S {
        self.session.get_mut()
    }

    /// Bytes waiting inside the session: plaintext already decrypted, plus ciphertext already
    /// read ahead from the stream and not yet decrypted. Reads make progress on them without
    /// the stream, and no readiness event announces them. 0 means the next read needs the
    /// stream, which may well hold more: with edge-triggered readiness, read until
    /// `WouldBlock`, not until this is 0.
    pub fn pending(&self) -> usize {
        self.session.pending()
    }

    /// True while a write that returned `WouldBlock` is pinned (mbedTLS only; see the type's
    /// docs).
    pub fn has_pinned_write(&self) -> bool {
        self.session.has_pinned_write()
    }

    /// True once the peer's `close_notify` was read.
    pub fn peer_closed(&self) -> bool {
        self.session.peer_closed()
    }

    /// The host name the server certificate was verified against (`None` for accepted
    /// connections).
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The engine of this session.
    pub fn engine(&self) -> Engine {
        self.session.engine()
    }

    /// The negotiated protocol version.
    pub fn protocol_version(&self) -> Option<Protocol> {
        self.session.protocol_version()
    }

    /// The negotiated cipher suite's IANA number, e.g. `0x1301`.
    pub fn cipher_suite(&self) -> Option<u16> {
        self.session.cipher_suite()
    }

    /// The negotiated cipher suite's IANA name, e.g. `TLS_AES_128_GCM_SHA256`.
    pub fn cipher_suite_name(&self) -> Option<&'static str> {
        self.cipher_suite().and_then(cipher_suite_name)
    }
}

impl<S: Read + Write> TlsStream<S> {
    /// Sends `close_notify` (after any pending output), telling the peer that no more data
    /// follows. Returns `WouldBlock` if the stream cannot take it yet: call again on
    /// writability. Reading remains possible until the peer's own `close_notify`. The
    /// underlying stream stays open; close it (or drop this stream) afterwards.
    pub fn shutdown(&mut self) -> io::Result<()> {
        self.session.shutdown()
    }
}

impl<S: Read + Write> Read for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.session.read(buf)
    }
}

impl<S: Read + Write> Write for TlsStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.session.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.session.flush()
    }
}

impl<S: fmt::Debug> fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("stream", self.get_ref())
            .field("engine", &self.engine())
            .field("host", &self.host)
            .field("protocol", &self.protocol_version())
            .field("pending", &self.pending())
            .field("pinned", &self.has_pinned_write())
            .field("peer_closed", &self.peer_closed())
            .finish()
    }
}
