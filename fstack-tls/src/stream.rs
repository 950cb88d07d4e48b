//! The TLS stream, and the resumable handshake that produces it.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::raw::c_int;
use std::sync::Arc;

use mbedtls::error::codes;
use mbedtls::ssl::io::Io;
use std::net::IpAddr;

use mbedtls::ssl::{Config, Context};
use mbedtls::x509::VerifyError;
use x509_parser::extensions::GeneralName;

use crate::error::{Error, TlsError, VerifyFailure};
use crate::io::{ErrorSlot, IoAdapter};

/// One TLS session in progress or established: the mbedTLS context owning the stream.
struct Session<S> {
    /// Boxed so moving the session (into `MidHandshake`, `TlsStream`) copies a pointer, not
    /// mbedTLS's context struct.
    ctx: Box<Context<IoAdapter<S>>>,
    errors: ErrorSlot,
    /// The name verified against the server certificate (`None` on the server side).
    host: Option<String>,
    /// For a host given as an IP address: the address the certificate must name in an
    /// iPAddress subjectAltName (RFC 9525 §6.3), checked here after the handshake because
    /// mbedTLS 2.28 matches DNS names only. `None` for names and when the check is disabled.
    verify_ip: Option<IpAddr>,
}

impl<S: Read + Write> Session<S> {
    /// Creates the context and makes the first handshake step (`establish`, exactly once).
    fn start(config: Arc<Config>, stream: S, peer: Peer<'_>) -> HandshakeResult<S> {
        let errors = ErrorSlot::default();
        let mut ctx = Box::new(Context::new(config));
        // An IP address is neither sent as SNI (RFC 6066 §3) nor given to mbedTLS's name
        // check, which would compare it with DNS names; it is checked in `step`.
        let (host, sni, verify_ip) = match peer {
            Peer::Client => (None, None, None),
            Peer::Name(name) => (Some(name), Some(name), None),
            Peer::Ip { text, ip, verify } => (Some(text), None, verify.then_some(ip)),
        };
        let result = ctx.establish(IoAdapter::new(stream, errors.clone()), sni);
        let session = Session {
            ctx,
            errors,
            host: host.map(str::to_owned),
            verify_ip,
        };
        session.step(result)
    }

    /// Turns the outcome of a handshake step into a stream, a mid-handshake state or an error.
    fn step(mut self, result: mbedtls::Result<()>) -> HandshakeResult<S> {
        match result {
            Ok(()) => match self.verify_ip {
                Some(ip) if !self.certificate_names(ip) => {
                    // Tell the server, as mbedTLS does for its own checks (RFC 5246 §7.2.2
                    // bad_certificate); best effort on a non-blocking stream.
                    let ssl = self.raw();
                    // SAFETY: `ssl` points to the set-up context owned (boxed) by this
                    // session, used only for this call; its bio is the adapter it owns.
                    let _ = unsafe {
                        mbedtls_sys::ssl_send_alert_message(
                            ssl,
                            mbedtls_sys::SSL_ALERT_LEVEL_FATAL as u8,
                            mbedtls_sys::SSL_ALERT_MSG_BAD_CERT as u8,
                        )
                    };
                    Err(HandshakeError::Failure(Error::CertificateVerification {
                        host: self.host.clone().unwrap_or_else(|| ip.to_string()),
                        failure: VerifyFailure::from_flags(VerifyError::CERT_CN_MISMATCH.bits()),
                    }))
                }
                _ => Ok(TlsStream::new(self)),
            },
            Err(e) => match e.high_level() {
                Some(codes::SslWantRead) => Err(HandshakeError::WouldBlock(MidHandshake {
                    session: self,
                    wants_write: false,
                })),
                Some(codes::SslWantWrite) => Err(HandshakeError::WouldBlock(MidHandshake {
                    session: self,
                    wants_write: true,
                })),
                _ => Err(HandshakeError::Failure(self.failure(e))),
            },
        }
    }
}

impl<S> Session<S> {
    /// True when the verified peer certificate lists `ip` among its iPAddress names.
    fn certificate_names(&self, ip: IpAddr) -> bool {
        let Ok(Some(chain)) = self.ctx.peer_cert() else {
            return false;
        };
        chain
            .iter()
            .next()
            .is_some_and(|leaf| names_ip_address(leaf.as_der(), ip))
    }

    /// Explains a failed handshake: the stream's own I/O error, which certificate check
    /// failed, or the TLS-level reason.
    fn failure(&self, e: mbedtls::Error) -> Error {
        if matches!(
            e.low_level(),
            Some(codes::NetRecvFailed | codes::NetSendFailed)
        ) {
            if let Some(io) = self.errors.take() {
                return Error::Io(io);
            }
        }
        if matches!(
            e.high_level(),
            Some(codes::X509CertVerifyFailed | codes::SslPeerVerifyFailed)
        ) {
            if let Err(flags) = self.ctx.verify_result() {
                // u32::MAX means "no verification result available".
                if flags.bits() != u32::MAX {
                    return Error::CertificateVerification {
                        host: self.host.clone().unwrap_or_else(|| "the client".into()),
                        failure: VerifyFailure::from_flags(flags.bits()),
                    };
                }
            }
        }
        if e.high_level() == Some(codes::SslConnEof) {
            return Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection during the TLS handshake",
            ));
        }
        Error::Handshake(TlsError::new(e))
    }

    fn adapter(&self) -> &IoAdapter<S> {
        self.ctx
            .io()
            .expect("mbedTLS keeps the stream until the context is dropped or a handshake fails")
    }

    fn adapter_mut(&mut self) -> &mut IoAdapter<S> {
        self.ctx
            .io_mut()
            .expect("mbedTLS keeps the stream until the context is dropped or a handshake fails")
    }

    fn raw(&mut self) -> *mut mbedtls_sys::ssl_context {
        (&mut *self.ctx).into()
    }
}

/// Who the other side must be, as far as the handshake checks it.
pub(crate) enum Peer<'a> {
    /// The server side: no name to check.
    Client,
    /// A DNS name: sent as SNI and checked by mbedTLS.
    Name(&'a str),
    /// An IP address (`text` as the caller wrote it): checked against iPAddress names unless
    /// `verify` is false (hostname checks turned off).
    Ip {
        text: &'a str,
        ip: IpAddr,
        verify: bool,
    },
}

/// Starts a handshake on `stream` with `config`.
pub(crate) fn handshake<S: Read + Write>(
    config: Arc<Config>,
    stream: S,
    peer: Peer<'_>,
) -> HandshakeResult<S> {
    Session::start(config, stream, peer)
}

/// True when the DER certificate `der` has an iPAddress subjectAltName equal to `ip`
/// (RFC 5280 §4.2.1.6: 4 octets for IPv4, 16 for IPv6). Parsed with `x509-parser`.
fn names_ip_address(der: &[u8], ip: IpAddr) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return false;
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    san.value.general_names.iter().any(|name| match (name, ip) {
        (GeneralName::IPAddress(b), IpAddr::V4(a)) => *b == a.octets(),
        (GeneralName::IPAddress(b), IpAddr::V6(a)) => *b == a.octets(),
        _ => false,
    })
}

type HandshakeResult<S> = Result<TlsStream<S>, HandshakeError<S>>;

/// A handshake that could not finish because the stream would block.
///
/// Wait until the stream is readable (or writable, see [`wants_write`](Self::wants_write)),
/// then call [`handshake`](Self::handshake) to continue where it stopped. With edge-triggered
/// readiness, simply retry on every event of the socket.
pub struct MidHandshake<S> {
    session: Session<S>,
    wants_write: bool,
}

impl<S: Read + Write> MidHandshake<S> {
    /// Continues the handshake.
    pub fn handshake(mut self) -> Result<TlsStream<S>, HandshakeError<S>> {
        let result = self.session.ctx.handshake();
        self.session.step(result)
    }
}

impl<S> MidHandshake<S> {
    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.session.adapter().stream
    }

    /// The underlying stream, mutably. Reading or writing it directly corrupts the session.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.session.adapter_mut().stream
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
}

impl<S: fmt::Debug> fmt::Debug for MidHandshake<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MidHandshake")
            .field("stream", self.get_ref())
            .field("host", &self.session.host)
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseState {
    Open,
    /// close_notify is written (or partly written) to mbedTLS's output buffer.
    Sending,
    Sent,
}

/// A TLS session over a non-blocking stream.
///
/// # Reading
/// [`read`](Read::read) returns plaintext, [`io::ErrorKind::WouldBlock`] when the stream has no
/// complete record yet, and `Ok(0)` only after the peer's `close_notify`. A connection that
/// ends without `close_notify` (possibly truncated data) fails with
/// [`io::ErrorKind::UnexpectedEof`]; a reset fails with the stream's own error (e.g.
/// [`io::ErrorKind::ConnectionReset`]).
///
/// mbedTLS decrypts a whole record at a time, and the stream is read ahead (one read takes
/// every record that has arrived, instead of two reads per record), so data can be waiting
/// inside the session while the socket has nothing new: with edge-triggered readiness, read
/// until `WouldBlock` (or until [`pending`](Self::pending) is 0) after every readable event.
///
/// # Writing
/// [`write`](Write::write) encrypts at most one record (16 KiB) per call. When it returns
/// `WouldBlock`, mbedTLS has already encrypted the first bytes of that buffer and keeps them
/// until the socket takes them: the write is *pinned*. Retry it with a buffer that starts with
/// the same bytes (it may be longer, as when a WebSocket layer appends to its output buffer):
/// the retry finishes the pinned record and returns its length, never more. A retry whose
/// first bytes differ fails with [`io::ErrorKind::InvalidInput`] instead of silently sending
/// the old bytes. [`flush`](Write::flush) pushes pending output; a pinned write still reports
/// its length on the next `write` of the same bytes.
///
/// # Closing
/// [`shutdown`](Self::shutdown) sends `close_notify`. Dropping the stream closes the underlying
/// stream without it, which the peer sees as a truncated connection.
pub struct TlsStream<S> {
    session: Session<S>,
    /// The bytes of a write that returned `WouldBlock` after mbedTLS had encrypted them.
    pinned: Option<Vec<u8>>,
    peer_closed: bool,
    close: CloseState,
}

impl<S> TlsStream<S> {
    fn new(session: Session<S>) -> TlsStream<S> {
        TlsStream {
            session,
            pinned: None,
            peer_closed: false,
            close: CloseState::Open,
        }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.session.adapter().stream
    }

    /// The underlying stream, mutably. Reading or writing it directly corrupts the session.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.session.adapter_mut().stream
    }

    /// Bytes waiting inside the session: plaintext already decrypted, plus ciphertext already
    /// read from the stream (reads fetch every record that has arrived at once) and not yet
    /// decrypted. Reads make progress on them without the stream, and no readiness event
    /// announces them. 0 means the next read needs new bytes from the stream.
    pub fn pending(&self) -> usize {
        self.session.ctx.bytes_available() + self.session.adapter().buffered()
    }

    /// True while a write that returned `WouldBlock` is pinned (see the type's docs).
    pub fn has_pinned_write(&self) -> bool {
        self.pinned.is_some()
    }

    /// True once the peer's `close_notify` was read.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// The host name the server certificate was verified against (`None` for accepted
    /// connections).
    pub fn host(&self) -> Option<&str> {
        self.session.host.as_deref()
    }

    /// The negotiated cipher suite's IANA number, e.g. `0xC02B`.
    pub fn cipher_suite(&self) -> Option<u16> {
        self.session.ctx.ciphersuite().ok()
    }

    /// Converts an mbedTLS failure of a read or write into the most useful `io::Error`.
    fn io_error(&self, e: mbedtls::Error) -> io::Error {
        if matches!(
            e.low_level(),
            Some(codes::NetRecvFailed | codes::NetSendFailed)
        ) {
            if let Some(io) = self.session.errors.take() {
                return io;
            }
        }
        let kind = match e.high_level() {
            // The end of every drain: a bare kind, which (unlike an error with a payload) does
            // not allocate (it was two allocations per loop wake-up, BENCHMARKS.md).
            Some(codes::SslWantRead | codes::SslWantWrite) => {
                return io::ErrorKind::WouldBlock.into()
            }
            Some(codes::SslConnEof) => io::ErrorKind::UnexpectedEof,
            Some(codes::SslFatalAlertMessage) => io::ErrorKind::ConnectionAborted,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, TlsError::new(e))
    }

    fn check(&self, rc: c_int) -> io::Result<usize> {
        if rc >= 0 {
            Ok(rc as usize)
        } else {
            Err(self.io_error(mbedtls::Error::from(rc)))
        }
    }

    /// Sends whatever mbedTLS holds in its output buffer.
    fn flush_output(&mut self) -> io::Result<()> {
        let ssl = self.session.raw();
        // SAFETY: `ssl` points to the set-up context owned (boxed) by this stream and is used
        // only for this call; its bio is the boxed adapter that the same context owns.
        let rc = unsafe { mbedtls_sys::ssl_flush_output(ssl) };
        self.check(rc).map(drop)
    }

    /// The most plaintext one record can carry right now (what `mbedtls_ssl_write` takes).
    fn max_record_payload(&mut self) -> io::Result<usize> {
        let ssl = self.session.raw();
        // SAFETY: as in `flush_output`; this call only reads the context.
        let rc = unsafe { mbedtls_sys::ssl_get_max_out_record_payload(ssl) };
        self.check(rc)
    }

    fn write_after_close(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::BrokenPipe,
            "write after TLS shutdown (close_notify already sent)",
        )
    }
}

impl<S: Read + Write> TlsStream<S> {
    /// Sends `close_notify` (after any pending output), telling the peer that no more data
    /// follows. Returns `WouldBlock` if the stream cannot take it yet: call again on
    /// writability. Reading remains possible until the peer's own `close_notify`. The
    /// underlying stream stays open; close it (or drop this stream) afterwards.
    pub fn shutdown(&mut self) -> io::Result<()> {
        if self.close == CloseState::Open {
            // Application data first: with a non-empty output buffer mbedTLS would only flush it
            // and report the alert as sent.
            self.flush_output()?;
            self.close = CloseState::Sending;
        }
        if self.close == CloseState::Sending {
            let ssl = self.session.raw();
            // SAFETY: as in `flush_output`. The first call queues and sends the alert; a call
            // after WANT_WRITE only flushes what is left of it.
            let rc = unsafe { mbedtls_sys::ssl_close_notify(ssl) };
            self.check(rc)?;
            self.close = CloseState::Sent;
        }
        self.session.adapter_mut().stream.flush()
    }
}

impl<S: Read + Write> Read for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.peer_closed {
            return Ok(0);
        }
        match Io::recv(&mut *self.session.ctx, buf) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed without a TLS close_notify (the data may be truncated)",
            )),
            Ok(n) => Ok(n),
            Err(e) if e.high_level() == Some(codes::SslPeerCloseNotify) => {
                self.peer_closed = true;
                Ok(0)
            }
            Err(e) => Err(self.io_error(e)),
        }
    }
}

impl<S: Read + Write> Write for TlsStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.close != CloseState::Open {
            return Err(self.write_after_close());
        }
        if let Some(pinned) = &self.pinned {
            let n = pinned.len();
            if buf.get(..n) != Some(&pinned[..]) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "TLS write retried with different data: after WouldBlock, mbedTLS holds \
                         the first {n} bytes of the earlier buffer; retry with those bytes first"
                    ),
                ));
            }
            // mbedTLS sends the record it already encrypted; only its length counts.
            self.flush_output()?;
            self.pinned = None;
            return Ok(n);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        // Output left over (e.g. an alert queued while reading) must go before a new record.
        self.flush_output()?;
        let take = buf.len().min(self.max_record_payload()?);
        match Io::send(&mut *self.session.ctx, &buf[..take]) {
            Ok(n) => Ok(n),
            Err(e) if e.high_level() == Some(codes::SslWantWrite) => {
                // The record holding buf[..take] is encrypted and queued: pin it.
                self.pinned = Some(buf[..take].to_vec());
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(e) => Err(self.io_error(e)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_output()?;
        self.session.adapter_mut().stream.flush()
    }
}

impl<S> Drop for TlsStream<S> {
    fn drop(&mut self) {
        let ssl = self.session.raw();
        // SAFETY: detaching the bio is allowed at any time; mbedTLS then refuses I/O with
        // BAD_INPUT_DATA. It stops the context's destructor from writing a close_notify that
        // `shutdown` did not ask for (or a second one after it).
        unsafe { mbedtls_sys::ssl_set_bio(ssl, std::ptr::null_mut(), None, None, None) };
    }
}

impl<S: fmt::Debug> fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("stream", self.get_ref())
            .field("host", &self.session.host)
            .field("pending", &self.pending())
            .field("pinned", &self.pinned.as_ref().map(Vec::len))
            .field("peer_closed", &self.peer_closed)
            .finish()
    }
}
