//! The server side: certificate chain, private key and `accept`.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use mbedtls::pk::Pk;
use mbedtls::ssl::config::{AuthMode, Endpoint, Preset, Transport};
use mbedtls::ssl::Config;

use crate::error::{Error, TlsError};
use crate::stream::{self, HandshakeError, Peer, TlsStream};
use crate::{new_rng, nul_terminated, parse_certificates, read_file};

/// Accepts TLS connections with one certificate chain. Build it once and share it: cloning is
/// cheap. Clients are not asked for certificates.
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<Config>,
}

impl TlsAcceptor {
    /// An acceptor presenting `cert_chain_pem` (the server certificate first, then any
    /// intermediates) and proving it with `key_pem` (an unencrypted PEM or DER private key).
    pub fn new(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<TlsAcceptor, Error> {
        let chain = parse_certificates(cert_chain_pem, "certificate chain")?;
        let key =
            Pk::from_private_key(&nul_terminated(key_pem), None).map_err(|e| Error::Parse {
                what: "private key",
                source: TlsError::new(e),
            })?;
        let leaf = chain.iter().next().ok_or_else(|| Error::Parse {
            what: "certificate chain",
            source: TlsError::new(mbedtls::error::codes::X509BadInputData.into()),
        })?;
        if !Pk::check_pair(leaf.public_key(), &key) {
            return Err(Error::KeyMismatch);
        }
        let mut config = Config::new(Endpoint::Server, Transport::Stream, Preset::Default);
        config.set_rng(new_rng()?);
        config.set_authmode(AuthMode::None);
        config
            .push_cert(Arc::new(chain), Arc::new(key))
            .map_err(|e| Error::Setup(TlsError::new(e)))?;
        Ok(TlsAcceptor {
            config: Arc::new(config),
        })
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

    /// Starts a TLS handshake as the server on an accepted non-blocking `stream`.
    ///
    /// Returns the stream when the handshake completed at once, or
    /// [`HandshakeError::WouldBlock`] with a [`MidHandshake`](crate::MidHandshake) to resume
    /// on readiness.
    pub fn accept<S: Read + Write>(&self, stream: S) -> Result<TlsStream<S>, HandshakeError<S>> {
        stream::handshake(self.config.clone(), stream, Peer::Client)
    }
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor").finish_non_exhaustive()
    }
}
