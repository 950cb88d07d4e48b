//! The server side: certificate chain, private key, engine and `accept`.

use std::io::{Read, Write};
use std::path::Path;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::certs::{parse_certificates, parse_private_key, read_file};
use crate::engine::{AcceptorConfig, Engine, Protocol, ServerSettings, Versions};
use crate::error::Error;
use crate::stream::{self, HandshakeError, TlsStream};

/// Builds a [`TlsAcceptor`]; start from [`TlsAcceptor::builder`].
#[derive(Debug)]
pub struct TlsAcceptorBuilder {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    engine: Option<Engine>,
    min_version: Option<Protocol>,
    max_version: Option<Protocol>,
}

impl TlsAcceptorBuilder {
    /// The TLS engine; [`Engine::default()`] (rustls when compiled in) if not called.
    pub fn engine(mut self, engine: Engine) -> Self {
        self.engine = Some(engine);
        self
    }

    /// The lowest protocol version accepted; `None` (the default) means TLS 1.2.
    pub fn min_protocol_version(mut self, version: Option<Protocol>) -> Self {
        self.min_version = version;
        self
    }

    /// The highest protocol version accepted; `None` (the default) means TLS 1.3.
    pub fn max_protocol_version(mut self, version: Option<Protocol>) -> Self {
        self.max_version = version;
        self
    }

    /// Builds the acceptor: [`Error::KeyMismatch`] if the key does not belong to the leaf
    /// certificate, [`Error::EngineUnavailable`], [`Error::InvalidVersions`].
    pub fn build(self) -> Result<TlsAcceptor, Error> {
        let engine = self.engine.unwrap_or_default();
        if !engine.is_available() {
            return Err(Error::EngineUnavailable(engine));
        }
        let settings = ServerSettings {
            chain: self.chain,
            key: self.key,
            versions: Versions::new(self.min_version, self.max_version)?,
        };
        Ok(TlsAcceptor {
            config: AcceptorConfig::new(engine, &settings)?,
        })
    }
}

/// Accepts TLS connections with one certificate chain. Build it once and share it: cloning is
/// cheap. Clients are not asked for certificates.
#[derive(Clone)]
pub struct TlsAcceptor {
    config: AcceptorConfig,
}

impl TlsAcceptor {
    /// An acceptor with the default engine presenting `cert_chain_pem` (the server certificate
    /// first, then any intermediates) and proving it with `key_pem` (an unencrypted PEM or DER
    /// private key).
    pub fn new(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<TlsAcceptor, Error> {
        TlsAcceptor::builder(cert_chain_pem, key_pem)?.build()
    }

    /// [`new`](Self::new) with the chain and key read from files.
    pub fn from_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsAcceptor, Error> {
        let chain = read_file("the certificate chain", cert_chain.as_ref())?;
        let key = read_file("the private key", key.as_ref())?;
        TlsAcceptor::new(&chain, &key)
    }

    /// A builder for the engine and protocol versions, after parsing the chain and key as
    /// [`new`](Self::new) does.
    pub fn builder(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<TlsAcceptorBuilder, Error> {
        Ok(TlsAcceptorBuilder {
            chain: parse_certificates(cert_chain_pem, "certificate chain")?,
            key: parse_private_key(key_pem)?,
            engine: None,
            min_version: None,
            max_version: None,
        })
    }

    /// The engine this acceptor's sessions use.
    pub fn engine(&self) -> Engine {
        self.config.engine()
    }

    /// Starts a TLS handshake as the server on an accepted non-blocking `stream`.
    ///
    /// Returns the stream when the handshake completed at once, or
    /// [`HandshakeError::WouldBlock`] with a [`MidHandshake`](crate::MidHandshake) to resume
    /// on readiness.
    pub fn accept<S: Read + Write>(&self, stream: S) -> Result<TlsStream<S>, HandshakeError<S>> {
        let session = self.config.session(stream)?;
        stream::handshake(session, None)
    }
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("engine", &self.engine())
            .finish_non_exhaustive()
    }
}
