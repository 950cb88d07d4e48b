//! The rustls engine: rustls 0.23 with the *ring* provider, driven through its buffered API
//! over the non-blocking stream.
//!
//! The buffered API, not the unbuffered one: in rustls 0.23 both copy each decrypted record
//! into a fresh `Vec` (in-place decryption is future work upstream), so the unbuffered API
//! would only add buffer management here. That copy is this engine's one heap allocation per
//! received record (BENCHMARKS.md counts it).

mod verify;

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{Connection, RootCertStore, SupportedProtocolVersion};
use rustls_pki_types::ServerName;

use crate::engine::{ClientSettings, Peer, Progress, Protocol, ServerSettings, Versions};
use crate::error::{Error, TlsError};

/// *ring*'s provider, its cipher suites ordered cheapest first for the small records market
/// data comes in: AES-128-GCM (10 AES rounds) before AES-256-GCM (14), both before
/// ChaCha20-Poly1305 (about twice AES-GCM's cost with AES-NI: `cargo bench -p fstack-bench
/// --bench micro -- tls_record_open`, BENCHMARKS.md). A
/// server that honours client preference picks AES-128-GCM; one that imposes its own order
/// (as exchanges may) decides itself.
fn provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    use rustls::CipherSuite as C;
    // A stable sort: within a class, TLS 1.3 stays before 1.2 and ECDSA before RSA.
    provider.cipher_suites.sort_by_key(|s| match s.suite() {
        C::TLS13_AES_128_GCM_SHA256
        | C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 0,
        C::TLS13_AES_256_GCM_SHA384
        | C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => 1,
        _ => 2,
    });
    Arc::new(provider)
}

fn protocol_versions(v: Versions) -> Vec<&'static SupportedProtocolVersion> {
    let mut out = Vec::new();
    // Newest first: rustls offers them in this order.
    if v.allows(Protocol::Tls13) {
        out.push(&rustls::version::TLS13);
    }
    if v.allows(Protocol::Tls12) {
        out.push(&rustls::version::TLS12);
    }
    out
}

fn setup_error(e: rustls::Error) -> Error {
    Error::Setup(TlsError::rustls(e.to_string()))
}

/// A client configuration shared by a connector's sessions.
pub(crate) struct ClientConfig {
    config: Arc<rustls::ClientConfig>,
}

impl ClientConfig {
    pub(crate) fn new(settings: &ClientSettings) -> Result<ClientConfig, Error> {
        let provider = provider();
        let inner = if settings.accept_invalid_certs {
            None
        } else {
            let mut roots = RootCertStore::empty();
            for cert in &settings.roots {
                roots.add(cert.clone()).map_err(|e| Error::Parse {
                    what: "CA certificate",
                    source: TlsError::rustls(format!(
                        "a certificate in {} is not usable as a trust anchor ({e})",
                        settings.roots_from
                    )),
                })?;
            }
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| Error::NoTrustAnchors(e.to_string()))?,
            )
        };
        let verifier = verify::Verifier {
            inner,
            roots: settings.roots.clone(),
            accept_invalid_hostnames: settings.accept_invalid_hostnames,
            algorithms: provider.signature_verification_algorithms,
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&protocol_versions(settings.versions))
            .map_err(setup_error)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(ClientConfig {
            config: Arc::new(config),
        })
    }
}

/// A server configuration shared by an acceptor's sessions.
pub(crate) struct ServerConfig {
    config: Arc<rustls::ServerConfig>,
}

impl ServerConfig {
    pub(crate) fn new(settings: &ServerSettings) -> Result<ServerConfig, Error> {
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&protocol_versions(settings.versions))
            .map_err(setup_error)?
            .with_no_client_auth()
            .with_single_cert(settings.chain.clone(), settings.key.clone_key())
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                    Error::KeyMismatch
                }
                other => Error::Parse {
                    what: "private key",
                    source: TlsError::rustls(format!("unsupported key or certificate ({other})")),
                },
            })?;
        Ok(ServerConfig {
            config: Arc::new(config),
        })
    }
}

/// Ciphertext read from the stream at once. rustls's `read_tls` reads at most 4 KiB per call
/// (its deframer's read size): about 8 one-event records per system call. Reading ahead into
/// this buffer fetches every record that has arrived (about 34 of them per 16 KiB), and rustls
/// takes them from memory (BENCHMARKS.md, end to end).
const READ_AHEAD: usize = 16 << 10;

/// The stream behind a read-ahead buffer: `ahead[pos..end]` arrived and rustls has not taken
/// it yet. `WouldBlock` only when the buffer is empty and the stream has nothing.
struct Ahead<S> {
    stream: S,
    ahead: Box<[u8]>,
    pos: usize,
    end: usize,
}

impl<S: Read> Read for Ahead<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.end {
            if buf.len() >= self.ahead.len() {
                return self.stream.read(buf);
            }
            self.end = self.stream.read(&mut self.ahead)?;
            self.pos = 0;
        }
        let n = buf.len().min(self.end - self.pos);
        buf[..n].copy_from_slice(&self.ahead[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// One connection: the rustls state machine and the stream it reads and writes.
pub(crate) struct Session<S> {
    conn: Connection,
    stream: Ahead<S>,
    /// For error messages: the name the certificate is verified against.
    host: Option<String>,
    /// Decrypted plaintext not yet read (rustls's own count after each processing step).
    plaintext: usize,
    peer_closed: bool,
    close_sent: bool,
}

impl<S> Session<S> {
    pub(crate) fn client(
        config: &Arc<ClientConfig>,
        stream: S,
        peer: &Peer<'_>,
    ) -> Result<Session<S>, Error> {
        let name = match *peer {
            Peer::Ip { ip, .. } => ServerName::IpAddress(ip.into()),
            Peer::Name(host) => {
                ServerName::try_from(host.to_owned()).map_err(|_| Error::InvalidHostname {
                    host: host.to_owned(),
                    reason: "it is not a valid DNS name",
                })?
            }
        };
        let conn =
            rustls::ClientConnection::new(config.config.clone(), name).map_err(setup_error)?;
        Ok(Session::new(conn.into(), stream, Some(peer.host())))
    }

    pub(crate) fn server(config: &Arc<ServerConfig>, stream: S) -> Result<Session<S>, Error> {
        let conn = rustls::ServerConnection::new(config.config.clone()).map_err(setup_error)?;
        Ok(Session::new(conn.into(), stream, None))
    }

    fn new(conn: Connection, stream: S, host: Option<&str>) -> Session<S> {
        Session {
            conn,
            stream: Ahead {
                stream,
                ahead: vec![0; READ_AHEAD].into_boxed_slice(),
                pos: 0,
                end: 0,
            },
            host: host.map(str::to_owned),
            plaintext: 0,
            peer_closed: false,
            close_sent: false,
        }
    }

    pub(crate) fn pending(&self) -> usize {
        // rustls decrypts every complete record it has read; what is left in its input
        // buffer is an incomplete record. The read-ahead buffer may hold more records.
        self.plaintext + (self.stream.end - self.stream.pos)
    }

    pub(crate) fn has_pinned_write(&self) -> bool {
        false
    }

    pub(crate) fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    pub(crate) fn get_ref(&self) -> &S {
        &self.stream.stream
    }

    pub(crate) fn get_mut(&mut self) -> &mut S {
        &mut self.stream.stream
    }

    pub(crate) fn protocol_version(&self) -> Option<Protocol> {
        match self.conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_2 => Some(Protocol::Tls12),
            rustls::ProtocolVersion::TLSv1_3 => Some(Protocol::Tls13),
            _ => None,
        }
    }

    pub(crate) fn cipher_suite(&self) -> Option<u16> {
        Some(u16::from(self.conn.negotiated_cipher_suite()?.suite()))
    }
}

impl<S: Read + Write> Session<S> {
    pub(crate) fn handshake(&mut self) -> Result<Progress, Error> {
        loop {
            match self.send_tls() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Progress::WantWrite),
                Err(e) => return Err(Error::Io(e)),
            }
            if !self.conn.is_handshaking() {
                return Ok(Progress::Done);
            }
            match self.conn.read_tls(&mut self.stream) {
                Ok(0) => {
                    return Err(Error::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection during the TLS handshake",
                    )))
                }
                Ok(_) => self.process().map_err(|e| self.handshake_failure(e))?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Progress::WantRead),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
    }

    /// Decrypts what `read_tls` brought. On failure rustls has queued an alert for the peer:
    /// it is sent on a best-effort basis (the stream may be full).
    fn process(&mut self) -> Result<(), rustls::Error> {
        match self.conn.process_new_packets() {
            Ok(state) => {
                self.plaintext = state.plaintext_bytes_to_read();
                Ok(())
            }
            Err(e) => {
                let _ = self.send_tls();
                Err(e)
            }
        }
    }

    fn handshake_failure(&self, e: rustls::Error) -> Error {
        match e {
            rustls::Error::InvalidCertificate(c) => Error::CertificateVerification {
                host: self.host.clone().unwrap_or_else(|| "the client".into()),
                failure: verify::failure(&c),
            },
            other => Error::Handshake(explain(&other)),
        }
    }

    /// Writes rustls's pending records to the stream until done or `WouldBlock`.
    fn send_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.stream.stream) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the connection accepted no bytes",
                    ))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.peer_closed {
            return Ok(0);
        }
        if self.conn.wants_write() {
            // Records a full socket refused earlier: a request-response caller that reads
            // without flushing still gets its request out.
            match self.send_tls() {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
        }
        loop {
            match self.conn.reader().read(buf) {
                Ok(0) => {
                    self.peer_closed = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.plaintext = self.plaintext.saturating_sub(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the connection closed without a TLS close_notify (the data may be \
                         truncated)",
                    ))
                }
                Err(e) => return Err(e),
            }
            // No plaintext left: fetch ciphertext.
            match self.conn.read_tls(&mut self.stream) {
                // End of stream: rustls notes it, and the reader reports it next time round.
                Ok(_) => {}
                // The end of every drain: a bare kind does not allocate.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = self.process() {
                let kind = match e {
                    rustls::Error::AlertReceived(_) => io::ErrorKind::ConnectionAborted,
                    _ => io::ErrorKind::InvalidData,
                };
                return Err(io::Error::new(kind, explain(&e)));
            }
            // Post-handshake messages (a TLS 1.3 key update) may want an answer.
            match self.send_tls() {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
        }
    }

    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.close_sent {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after TLS shutdown (close_notify already sent)",
            ));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        // Make room first: rustls's output buffer is bounded.
        match self.send_tls() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
            _ => {}
        }
        let n = self.conn.writer().write(buf)?;
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match self.send_tls() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(n),
        }
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.send_tls()?;
        self.stream.stream.flush()
    }

    pub(crate) fn shutdown(&mut self) -> io::Result<()> {
        if !self.close_sent {
            self.conn.send_close_notify();
            self.close_sent = true;
        }
        self.flush()
    }
}

/// rustls's error in words a user understands, with rustls's own description.
fn explain(e: &rustls::Error) -> TlsError {
    use rustls::Error as E;
    let text = match e {
        E::AlertReceived(alert) => format!(
            "the peer aborted with a fatal alert ({alert:?}; it may reject our certificate, \
             protocol version or cipher suites)"
        ),
        E::PeerIncompatible(why) => {
            format!("no protocol version or cipher suite in common with the peer ({why:?})")
        }
        E::InvalidMessage(why) => format!(
            "received data that is not a valid TLS record (is the peer speaking TLS?) ({why:?})"
        ),
        E::DecryptError => "a TLS record failed its integrity check (corrupted data)".into(),
        E::PeerMisbehaved(why) => format!("the peer sent an unexpected TLS message ({why:?})"),
        E::InvalidCertificate(c) => format!("the peer's certificate was rejected ({c:?})"),
        other => format!("{other}"),
    };
    TlsError::rustls(text)
}
