//! The mbedTLS 3.6 LTS engine (feature `mbedtls`), through the raw bindings of
//! `mbedtls-rs-sys` and used the way a C client uses mbedTLS: one `mbedtls_ssl_config` per
//! connector or acceptor, one `mbedtls_ssl_context` per connection, and the non-blocking
//! stream behind `mbedtls_ssl_set_bio`'s send and receive callbacks (`bio.rs`), with
//! `MBEDTLS_ERR_SSL_WANT_READ` / `WANT_WRITE` as `WouldBlock`.
//!
//! mbedTLS keeps pointers to everything it is given (the configuration, certificates, keys,
//! the cipher suite list, the callbacks' contexts), so all of those live at fixed heap
//! addresses, owned here and freed only after what points to them.

#[cfg(target_arch = "x86_64")]
mod aesni;
mod bio;
mod errors;
mod platform;
mod verify;

use std::ffi::{c_int, CString};
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use mbedtls_rs_sys as sys;

use self::bio::Bio;
use self::verify::Policy;
use crate::engine::{ClientSettings, Peer, Progress, Protocol, ServerSettings, Versions};
use crate::error::{Error, TlsError};

extern "C" {
    // ssl_misc.h: internal in mbedTLS 3 (it was public in 2.x) but an exported symbol, and the
    // only way to send what mbedTLS holds in its output buffer without queueing anything new.
    // Needed because `mbedtls_ssl_write` with output left over (an alert queued while reading)
    // sends that output and reports the *new* bytes as written.
    fn mbedtls_ssl_flush_output(ssl: *mut sys::mbedtls_ssl_context) -> c_int;
}

/// The cipher suites offered (client) and chosen from (server), most preferred first,
/// 0-terminated for `mbedtls_ssl_conf_ciphersuites`. AEAD suites with forward secrecy only.
///
/// ChaCha20-Poly1305 comes first because it is this build's fastest AEAD: mbedtls-rs-sys
/// compiles mbedTLS at `-Os` without AES-NI or PCLMULQDQ. Opening a 460-byte record takes
/// 1.05 µs with ChaCha20-Poly1305, 1.8 µs with AES-GCM on the AES-NI hook (`aesni.rs`) and
/// 3.1 / 3.5 µs (AES-128 / AES-256) with mbedTLS's software AES, TLS 1.3 and 1.2 alike
/// (BENCHMARKS.md). Servers that honour the client's order (rustls, OpenSSL's default) pick
/// it; servers that impose AES-GCM (Binance) still find it.
static CIPHER_SUITES: [c_int; 10] = [
    sys::MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256 as c_int,
    sys::MBEDTLS_TLS1_3_AES_128_GCM_SHA256 as c_int,
    sys::MBEDTLS_TLS1_3_AES_256_GCM_SHA384 as c_int,
    sys::MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 as c_int,
    sys::MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 as c_int,
    sys::MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 as c_int,
    sys::MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 as c_int,
    sys::MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 as c_int,
    sys::MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 as c_int,
    0,
];

/// A zeroed heap allocation for an mbedTLS object, which its `_init` function then sets up
/// (mbedTLS objects start zeroed anyway). Released as a `Box<MaybeUninit<T>>`.
fn alloc_zeroed<T>() -> NonNull<T> {
    NonNull::from(Box::leak(Box::new(MaybeUninit::<T>::zeroed()))).cast()
}

/// An mbedTLS object at a fixed heap address (mbedTLS keeps pointers to it), set up by its
/// `_init` function and released by its `_free` function.
struct Owned<T> {
    ptr: NonNull<T>,
    free: unsafe extern "C" fn(*mut T),
}

impl<T> Owned<T> {
    /// Allocates and initialises one with `init`; `free` releases it on drop.
    fn new(init: unsafe extern "C" fn(*mut T), free: unsafe extern "C" fn(*mut T)) -> Owned<T> {
        let ptr = alloc_zeroed::<T>();
        // SAFETY: `init` is T's mbedTLS initialiser; it makes the zeroed allocation a valid,
        // empty T.
        unsafe { init(ptr.as_ptr()) };
        Owned { ptr, free }
    }

    /// The object, for mbedTLS calls.
    fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the object was initialised in `new` and is freed once, here, after whatever
        // pointed to it (owners declare those first); then its allocation is released as the
        // `MaybeUninit<T>` it was made as.
        unsafe {
            (self.free)(self.ptr.as_ptr());
            drop(Box::from_raw(self.ptr.as_ptr().cast::<MaybeUninit<T>>()));
        }
    }
}

/// mbedTLS's number for a protocol version.
fn protocol_version(p: Protocol) -> sys::mbedtls_ssl_protocol_version {
    match p {
        Protocol::Tls12 => sys::mbedtls_ssl_protocol_version_MBEDTLS_SSL_VERSION_TLS1_2,
        Protocol::Tls13 => sys::mbedtls_ssl_protocol_version_MBEDTLS_SSL_VERSION_TLS1_3,
    }
}

/// A failed set-up call as [`Error::Setup`].
fn setup_error(code: c_int) -> Error {
    Error::Setup(errors::tls_error(code))
}

/// An `mbedtls_ssl_config` and the certificates and key it points to.
struct SslConfig {
    // Dropped first: the configuration points to the objects below.
    conf: Owned<sys::mbedtls_ssl_config>,
    _certs: Option<Owned<sys::mbedtls_x509_crt>>,
    _key: Option<Owned<sys::mbedtls_pk_context>>,
}

// SAFETY: once built, the configuration and what it points to are only read through the
// contexts using it, except for values mbedTLS caches inside keys during handshakes, which
// `platform::lock_shared` serialises. Its callbacks (random, verify) are thread-safe.
unsafe impl Send for SslConfig {}
// SAFETY: as above.
unsafe impl Sync for SslConfig {}

impl SslConfig {
    /// The defaults for `endpoint`, with the OS random generator, the cipher suites and
    /// `versions`.
    fn new(endpoint: u32, versions: Versions) -> Result<SslConfig, Error> {
        platform::init()?;
        let conf = Owned::new(sys::mbedtls_ssl_config_init, sys::mbedtls_ssl_config_free);
        // SAFETY: `conf` is initialised.
        let rc = unsafe {
            sys::mbedtls_ssl_config_defaults(
                conf.as_ptr(),
                endpoint as c_int,
                sys::MBEDTLS_SSL_TRANSPORT_STREAM as c_int,
                sys::MBEDTLS_SSL_PRESET_DEFAULT as c_int,
            )
        };
        if rc != 0 {
            return Err(setup_error(rc));
        }
        // SAFETY: `conf` holds its defaults; the suite list is a 0-terminated static, and the
        // random generator takes no context.
        unsafe {
            sys::mbedtls_ssl_conf_rng(conf.as_ptr(), Some(platform::random), ptr::null_mut());
            sys::mbedtls_ssl_conf_ciphersuites(conf.as_ptr(), CIPHER_SUITES.as_ptr());
            // mbedtls_ssl_conf_{min,max}_tls_version are static inline functions in ssl.h,
            // absent from the bindings: set the fields as they do.
            (*conf.as_ptr()).private_min_tls_version = protocol_version(versions.min);
            (*conf.as_ptr()).private_max_tls_version = protocol_version(versions.max);
        }
        Ok(SslConfig {
            conf,
            _certs: None,
            _key: None,
        })
    }
}

/// Parses DER certificates into one mbedTLS chain, in order; `Err` carries the mbedTLS code of
/// the first that fails.
fn parse_chain(
    certs: &[rustls_pki_types::CertificateDer<'_>],
) -> Result<Owned<sys::mbedtls_x509_crt>, c_int> {
    let chain = Owned::new(sys::mbedtls_x509_crt_init, sys::mbedtls_x509_crt_free);
    for cert in certs {
        // SAFETY: `chain` is initialised; mbedTLS copies the DER bytes.
        let rc =
            unsafe { sys::mbedtls_x509_crt_parse_der(chain.as_ptr(), cert.as_ptr(), cert.len()) };
        if rc != 0 {
            return Err(rc);
        }
    }
    Ok(chain)
}

/// A client configuration shared by a connector's sessions.
pub(crate) struct ClientConfig {
    ssl: Arc<SslConfig>,
    accept_invalid_hostnames: bool,
}

impl ClientConfig {
    /// The client configuration for `settings`: trust anchors and authentication mode.
    pub(crate) fn new(settings: &ClientSettings) -> Result<ClientConfig, Error> {
        let mut ssl = SslConfig::new(sys::MBEDTLS_SSL_IS_CLIENT, settings.versions)?;
        let conf = ssl.conf.as_ptr();
        if settings.accept_invalid_certs {
            // SAFETY: `conf` is set up.
            unsafe { sys::mbedtls_ssl_conf_authmode(conf, sys::MBEDTLS_SSL_VERIFY_NONE as c_int) };
        } else {
            let roots = parse_chain(&settings.roots).map_err(|code| Error::Parse {
                what: "CA certificate",
                source: TlsError::mbedtls(
                    code,
                    format!(
                        "a certificate in {} is not usable as a trust anchor ({})",
                        settings.roots_from,
                        errors::text(code)
                    ),
                ),
            })?;
            // SAFETY: `conf` is set up; the roots are kept in the same `SslConfig`, freed after
            // it.
            unsafe {
                sys::mbedtls_ssl_conf_authmode(conf, sys::MBEDTLS_SSL_VERIFY_REQUIRED as c_int);
                sys::mbedtls_ssl_conf_ca_chain(conf, roots.as_ptr(), ptr::null_mut());
            }
            ssl._certs = Some(roots);
        }
        Ok(ClientConfig {
            ssl: Arc::new(ssl),
            accept_invalid_hostnames: settings.accept_invalid_hostnames,
        })
    }
}

/// A server configuration shared by an acceptor's sessions.
pub(crate) struct ServerConfig {
    ssl: Arc<SslConfig>,
}

impl ServerConfig {
    /// The server configuration for `settings`: the chain and its key (checked to match).
    pub(crate) fn new(settings: &ServerSettings) -> Result<ServerConfig, Error> {
        let mut ssl = SslConfig::new(sys::MBEDTLS_SSL_IS_SERVER, settings.versions)?;
        let parse_error = |what, code| Error::Parse {
            what,
            source: errors::tls_error(code),
        };
        if settings.chain.is_empty() {
            return Err(parse_error(
                "certificate chain",
                sys::MBEDTLS_ERR_X509_BAD_INPUT_DATA,
            ));
        }
        let chain =
            parse_chain(&settings.chain).map_err(|c| parse_error("certificate chain", c))?;
        let key = Owned::new(sys::mbedtls_pk_init, sys::mbedtls_pk_free);
        let der = settings.key.secret_der();
        // SAFETY: `key` is initialised; mbedTLS reads the DER (PKCS#8, PKCS#1 or SEC1) during
        // the call; no password.
        let rc = unsafe {
            sys::mbedtls_pk_parse_key(
                key.as_ptr(),
                der.as_ptr(),
                der.len(),
                ptr::null(),
                0,
                Some(platform::random),
                ptr::null_mut(),
            )
        };
        if rc != 0 {
            return Err(parse_error("private key", rc));
        }
        // SAFETY: the chain's first certificate is parsed (the chain is not empty), and its
        // public key is compared with the private key.
        let rc = unsafe {
            sys::mbedtls_pk_check_pair(
                &(*chain.as_ptr()).pk,
                key.as_ptr(),
                Some(platform::random),
                ptr::null_mut(),
            )
        };
        if rc != 0 {
            return Err(Error::KeyMismatch);
        }
        let conf = ssl.conf.as_ptr();
        // SAFETY: `conf` is set up; chain and key are kept in the same `SslConfig`, freed
        // after it. Clients are not asked for certificates.
        let rc = unsafe {
            sys::mbedtls_ssl_conf_authmode(conf, sys::MBEDTLS_SSL_VERIFY_NONE as c_int);
            sys::mbedtls_ssl_conf_own_cert(conf, chain.as_ptr(), key.as_ptr())
        };
        if rc != 0 {
            return Err(setup_error(rc));
        }
        ssl._certs = Some(chain);
        ssl._key = Some(key);
        Ok(ServerConfig { ssl: Arc::new(ssl) })
    }
}

/// How far `close_notify` has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseState {
    Open,
    /// Queued in mbedTLS's output buffer, maybe partly sent.
    Sending,
    Sent,
}

/// One connection: an mbedTLS context, the stream behind its callbacks, and the verify
/// policy its callback reads.
pub(crate) struct Session<S> {
    // mbedTLS points from the context to `bio` and `policy` (and to the configuration), so
    // all three sit at fixed heap addresses and are freed in `Drop`, context first.
    ssl: NonNull<sys::mbedtls_ssl_context>,
    bio: NonNull<Bio<S>>,
    policy: NonNull<Policy>,
    config: Arc<SslConfig>,
    /// For error messages: the name the certificate is verified against.
    host: Option<String>,
    /// The bytes of a write that returned `WouldBlock` after mbedTLS had encrypted them.
    pinned: Option<Vec<u8>>,
    peer_closed: bool,
    close: CloseState,
    /// The session owns the stream (inside `bio`).
    _stream: PhantomData<S>,
}

// SAFETY: the session exclusively owns everything its pointers reach except the configuration
// (Send + Sync); an mbedTLS context has no thread affinity. The shared-state lock guard that
// `bio` holds during a handshake step never outlives the step.
unsafe impl<S: Send> Send for Session<S> {}

impl<S: Read + Write> Session<S> {
    /// A client session for `peer`, ready for its first handshake step.
    pub(crate) fn client(
        config: &Arc<ClientConfig>,
        stream: S,
        peer: &Peer<'_>,
    ) -> Result<Session<S>, Error> {
        let (ip, name) = match *peer {
            Peer::Name(name) => {
                // A fully qualified name's final dot is not part of the name sent as SNI (RFC
                // 6066 §3) nor of the names in certificates; rustls drops it too.
                let name = name.strip_suffix('.').unwrap_or(name);
                let c = CString::new(name).map_err(|_| Error::InvalidHostname {
                    host: name.to_owned(),
                    reason: "it contains a NUL byte",
                })?;
                (None, Some(c))
            }
            Peer::Ip { ip, verify, .. } => (verify.then_some(ip), None),
        };
        let policy = Policy {
            accept_invalid_hostnames: config.accept_invalid_hostnames,
            ip,
        };
        let session = Session::new(&config.ssl, stream, policy, Some(peer.host()))?;
        // A DNS name is sent as SNI and checked by mbedTLS. For an address, NULL: neither SNI
        // nor mbedTLS's name check (which needs *some* call here since 3.6.3, or the
        // handshake fails); the verify callback checks the address instead.
        let name_ptr = name.as_ref().map_or(ptr::null(), |c| c.as_ptr());
        // SAFETY: the context is set up; mbedTLS copies the name.
        let rc = unsafe { sys::mbedtls_ssl_set_hostname(session.ssl.as_ptr(), name_ptr) };
        if rc != 0 {
            return Err(setup_error(rc));
        }
        Ok(session)
    }

    /// A server session, ready for its first handshake step.
    pub(crate) fn server(config: &Arc<ServerConfig>, stream: S) -> Result<Session<S>, Error> {
        let policy = Policy {
            accept_invalid_hostnames: false,
            ip: None,
        };
        Session::new(&config.ssl, stream, policy, None)
    }

    /// Sets up a context on `config` over `stream`, with its callbacks.
    fn new(
        config: &Arc<SslConfig>,
        stream: S,
        policy: Policy,
        host: Option<&str>,
    ) -> Result<Session<S>, Error> {
        let ssl = alloc_zeroed::<sys::mbedtls_ssl_context>();
        // SAFETY: a zeroed allocation of the context type, made valid and empty here.
        unsafe { sys::mbedtls_ssl_init(ssl.as_ptr()) };
        // From here on `Drop` frees everything, whatever fails.
        let session = Session {
            ssl,
            bio: NonNull::from(Box::leak(Box::new(Bio::new(stream)))),
            policy: NonNull::from(Box::leak(Box::new(policy))),
            config: config.clone(),
            host: host.map(str::to_owned),
            pinned: None,
            peer_closed: false,
            close: CloseState::Open,
            _stream: PhantomData,
        };
        let rc = {
            let _shared = platform::lock_shared();
            // SAFETY: the context is initialised; the configuration outlives it (the session
            // holds the Arc and frees the context first).
            unsafe { sys::mbedtls_ssl_setup(ssl.as_ptr(), session.config.conf.as_ptr()) }
        };
        if rc != 0 {
            return Err(setup_error(rc));
        }
        // SAFETY: the context is set up; the policy and the bio are the session's, freed after
        // the context; the callbacks are the ones for this `Bio<S>` and this `Policy`.
        unsafe {
            sys::mbedtls_ssl_set_verify(
                ssl.as_ptr(),
                Some(verify::verify),
                session.policy.as_ptr().cast(),
            );
            sys::mbedtls_ssl_set_bio(
                ssl.as_ptr(),
                session.bio.as_ptr().cast(),
                Some(bio::send::<S>),
                Some(bio::recv::<S>),
                None,
            );
        }
        Ok(session)
    }

    /// Runs one mbedTLS call `f` on the context (with the shared-state lock if `shared`),
    /// then re-raises a panic of the stream caught by the callbacks.
    fn call(
        &mut self,
        shared: bool,
        f: impl FnOnce(*mut sys::mbedtls_ssl_context) -> c_int,
    ) -> c_int {
        if shared {
            self.bio_mut().shared = Some(platform::lock_shared());
        }
        let rc = f(self.ssl.as_ptr());
        let bio = self.bio_mut();
        bio.shared = None;
        bio.resume_panic();
        rc
    }

    /// One handshake step: `mbedtls_ssl_handshake` until done or the stream would block.
    pub(crate) fn handshake(&mut self) -> Result<Progress, Error> {
        // SAFETY: the context is set up and its bio is this session's.
        let rc = self.call(true, |ssl| unsafe { sys::mbedtls_ssl_handshake(ssl) });
        match rc {
            0 => Ok(Progress::Done),
            sys::MBEDTLS_ERR_SSL_WANT_READ => Ok(Progress::WantRead),
            sys::MBEDTLS_ERR_SSL_WANT_WRITE => Ok(Progress::WantWrite),
            e => Err(self.handshake_failure(e)),
        }
    }

    /// Explains a failed handshake: the stream's own I/O error, which certificate check
    /// failed, or the TLS-level reason.
    fn handshake_failure(&mut self, e: c_int) -> Error {
        if matches!(
            errors::low_level(e),
            bio::NET_RECV_FAILED | bio::NET_SEND_FAILED
        ) {
            if let Some(io) = self.bio_mut().take_error() {
                return Error::Io(io);
            }
        }
        if errors::high_level(e) == sys::MBEDTLS_ERR_X509_CERT_VERIFY_FAILED {
            // SAFETY: reads the context.
            let flags = unsafe { sys::mbedtls_ssl_get_verify_result(self.ssl.as_ptr()) };
            // u32::MAX: no verification result.
            if flags != 0 && flags != u32::MAX {
                return Error::CertificateVerification {
                    host: self.host.clone().unwrap_or_else(|| "the client".into()),
                    failure: verify::failure(flags),
                };
            }
        }
        if errors::high_level(e) == sys::MBEDTLS_ERR_SSL_CONN_EOF {
            return Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection during the TLS handshake",
            ));
        }
        Error::Handshake(errors::tls_error(e))
    }

    /// Turns an mbedTLS failure of a read or write into the most useful `io::Error`.
    fn io_error(&mut self, e: c_int) -> io::Error {
        if matches!(
            errors::low_level(e),
            bio::NET_RECV_FAILED | bio::NET_SEND_FAILED
        ) {
            if let Some(io) = self.bio_mut().take_error() {
                return io;
            }
        }
        let kind = match errors::high_level(e) {
            // The end of every drain: a bare kind, which (unlike an error with a payload) does
            // not allocate.
            sys::MBEDTLS_ERR_SSL_WANT_READ | sys::MBEDTLS_ERR_SSL_WANT_WRITE => {
                return io::ErrorKind::WouldBlock.into()
            }
            sys::MBEDTLS_ERR_SSL_CONN_EOF => io::ErrorKind::UnexpectedEof,
            sys::MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE => io::ErrorKind::ConnectionAborted,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, errors::tls_error(e))
    }

    /// Sends whatever mbedTLS holds in its output buffer.
    fn flush_output(&mut self) -> io::Result<()> {
        // SAFETY: the context is set up; it only writes through this session's bio.
        let rc = self.call(false, |ssl| unsafe { mbedtls_ssl_flush_output(ssl) });
        if rc < 0 {
            return Err(self.io_error(rc));
        }
        Ok(())
    }

    /// Plaintext from one record (see `TlsStream`'s docs for the outcomes).
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.peer_closed {
            return Ok(0);
        }
        loop {
            // SAFETY: the context is set up; `buf` is writable for its length.
            let rc = self.call(false, |ssl| unsafe {
                sys::mbedtls_ssl_read(ssl, buf.as_mut_ptr(), buf.len())
            });
            return match rc {
                n if n > 0 => Ok(n as usize),
                // Empty application-data records are legal (RFC 8446 §5.4 padding-only ones
                // among them); mbedTLS skips one and returns 0 for a second in a row. Only the
                // stream's own end is the end.
                0 if !self.bio_mut().eof => continue,
                // mbedTLS reports a transport EOF without close_notify as 0 (or CONN_EOF).
                0 | sys::MBEDTLS_ERR_SSL_CONN_EOF => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed without a TLS close_notify (the data may be \
                     truncated)",
                )),
                sys::MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY => {
                    self.peer_closed = true;
                    Ok(0)
                }
                // A TLS 1.3 server's ticket: consumed, not application data; read on.
                sys::MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET => continue,
                e => Err(self.io_error(e)),
            };
        }
    }

    /// Encrypts and sends at most one record of `buf`, pinning it if the stream blocks (see
    /// `TlsStream`'s docs).
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.close != CloseState::Open {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after TLS shutdown (close_notify already sent)",
            ));
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
        // SAFETY: the context is set up; this call only reads it.
        let max = unsafe { sys::mbedtls_ssl_get_max_out_record_payload(self.ssl.as_ptr()) };
        if max < 0 {
            return Err(self.io_error(max));
        }
        let take = buf.len().min(max as usize);
        // SAFETY: the context is set up; `buf` is readable for `take` bytes.
        let rc = self.call(false, |ssl| unsafe {
            sys::mbedtls_ssl_write(ssl, buf.as_ptr(), take)
        });
        match rc {
            n if n >= 0 => Ok(n as usize),
            sys::MBEDTLS_ERR_SSL_WANT_WRITE => {
                // The record holding buf[..take] is encrypted and queued: pin it.
                self.pinned = Some(buf[..take].to_vec());
                Err(io::ErrorKind::WouldBlock.into())
            }
            e => Err(self.io_error(e)),
        }
    }

    /// Sends what mbedTLS holds, then flushes the stream.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.flush_output()?;
        self.bio_mut().stream.flush()
    }

    /// Sends `close_notify` after any pending output; resumable after `WouldBlock`.
    pub(crate) fn shutdown(&mut self) -> io::Result<()> {
        if self.close == CloseState::Open {
            // Application data first: with a non-empty output buffer mbedTLS would only flush
            // it and report the alert as sent.
            self.flush_output()?;
            self.close = CloseState::Sending;
        }
        if self.close == CloseState::Sending {
            // SAFETY: the context is set up. The first call queues and sends the alert; a call
            // after WANT_WRITE only flushes what is left of it.
            let rc = self.call(false, |ssl| unsafe { sys::mbedtls_ssl_close_notify(ssl) });
            if rc < 0 {
                return Err(self.io_error(rc));
            }
            self.close = CloseState::Sent;
        }
        self.bio_mut().stream.flush()
    }
}

impl<S> Session<S> {
    /// The bio, between mbedTLS calls.
    fn bio_ref(&self) -> &Bio<S> {
        // SAFETY: the bio is owned by the session; mbedTLS uses it only during calls made
        // through `&mut self`, so no callback runs while this borrow lives.
        unsafe { self.bio.as_ref() }
    }

    /// The bio, mutably, between mbedTLS calls.
    fn bio_mut(&mut self) -> &mut Bio<S> {
        // SAFETY: as in `bio_ref`, and `&mut self` makes the borrow exclusive.
        unsafe { self.bio.as_mut() }
    }

    /// Decrypted plaintext not yet read plus ciphertext read ahead and not yet decrypted.
    pub(crate) fn pending(&self) -> usize {
        // SAFETY: the context is set up; this call only reads it.
        let plaintext = unsafe { sys::mbedtls_ssl_get_bytes_avail(self.ssl.as_ptr()) };
        plaintext + self.bio_ref().buffered()
    }

    /// True while a write that returned `WouldBlock` is pinned.
    pub(crate) fn has_pinned_write(&self) -> bool {
        self.pinned.is_some()
    }

    /// True once the peer's `close_notify` was read.
    pub(crate) fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// The underlying stream.
    pub(crate) fn get_ref(&self) -> &S {
        &self.bio_ref().stream
    }

    /// The underlying stream, mutably.
    pub(crate) fn get_mut(&mut self) -> &mut S {
        &mut self.bio_mut().stream
    }

    /// The negotiated protocol version.
    pub(crate) fn protocol_version(&self) -> Option<Protocol> {
        // SAFETY: the context is set up; reading the field is what the static inline
        // `mbedtls_ssl_get_version_number` does.
        match unsafe { (*self.ssl.as_ptr()).private_tls_version } {
            sys::mbedtls_ssl_protocol_version_MBEDTLS_SSL_VERSION_TLS1_2 => Some(Protocol::Tls12),
            sys::mbedtls_ssl_protocol_version_MBEDTLS_SSL_VERSION_TLS1_3 => Some(Protocol::Tls13),
            _ => None,
        }
    }

    /// The negotiated cipher suite's IANA number.
    pub(crate) fn cipher_suite(&self) -> Option<u16> {
        // SAFETY: the context is set up; this call only reads it (0 before negotiation).
        let id = unsafe { sys::mbedtls_ssl_get_ciphersuite_id_from_ssl(self.ssl.as_ptr()) };
        u16::try_from(id).ok().filter(|&id| id != 0)
    }
}

impl<S> Drop for Session<S> {
    fn drop(&mut self) {
        // Freeing a context mid-handshake destroys PSA keys: shared state.
        let _shared = platform::lock_shared();
        // SAFETY: the context was initialised in `new` and is freed once; it sends nothing.
        // Then the context, bio and policy allocations made in `new` are released, the
        // context's first since it points to the others.
        unsafe {
            sys::mbedtls_ssl_free(self.ssl.as_ptr());
            drop(Box::from_raw(
                self.ssl
                    .as_ptr()
                    .cast::<MaybeUninit<sys::mbedtls_ssl_context>>(),
            ));
            drop(Box::from_raw(self.bio.as_ptr()));
            drop(Box::from_raw(self.policy.as_ptr()));
        }
    }
}
