//! The client side: trust anchors, verification policy, engine and `connect`.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::certs::{parse_certificates, read_file, system_trust_anchors};
use crate::engine::{ClientSettings, ConnectorConfig, Engine, Peer, Protocol, Versions};
use crate::error::Error;
use crate::stream::{self, HandshakeError, TlsStream};

/// Builds a [`TlsConnector`]; start from [`TlsConnector::builder`].
///
/// Without [`ca_file`](Self::ca_file) or [`ca_pem`](Self::ca_pem), the system's CA bundle is
/// trusted: the file named by `SSL_CERT_FILE`, else the certificates in `SSL_CERT_DIR`, else
/// the first of [`SYSTEM_CA_BUNDLES`](crate::SYSTEM_CA_BUNDLES) that exists.
#[derive(Debug, Clone, Default)]
pub struct TlsConnectorBuilder {
    ca_files: Vec<PathBuf>,
    ca_pems: Vec<Vec<u8>>,
    accept_invalid_certs: bool,
    accept_invalid_hostnames: bool,
    engine: Option<Engine>,
    min_version: Option<Protocol>,
    max_version: Option<Protocol>,
}

impl TlsConnectorBuilder {
    /// Trusts the CA certificates in a PEM (or DER) file instead of the system bundle. May be
    /// called several times.
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.ca_files.push(path.as_ref().to_path_buf());
        self
    }

    /// Trusts the CA certificates in PEM (or DER) bytes instead of the system bundle. May be
    /// called several times.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pems.push(pem.into());
        self
    }

    /// **Dangerous**: accepts any server certificate, unverified: expired, self-signed, issued
    /// by anyone, for any name. The connection is encrypted but not authenticated, so anyone on
    /// the path can intercept it. For tests and diagnosis only.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    /// **Dangerous**: accepts a certificate issued for another host name; every other check
    /// still applies. Any holder of a certificate from a trusted CA can impersonate the server.
    pub fn danger_accept_invalid_hostnames(mut self, accept: bool) -> Self {
        self.accept_invalid_hostnames = accept;
        self
    }

    /// The TLS engine; [`Engine::default()`] (rustls when compiled in) if not called.
    pub fn engine(mut self, engine: Engine) -> Self {
        self.engine = Some(engine);
        self
    }

    /// The lowest protocol version offered; `None` (the default) means TLS 1.2.
    pub fn min_protocol_version(mut self, version: Option<Protocol>) -> Self {
        self.min_version = version;
        self
    }

    /// The highest protocol version offered; `None` (the default) means TLS 1.3.
    pub fn max_protocol_version(mut self, version: Option<Protocol>) -> Self {
        self.max_version = version;
        self
    }

    /// Loads the trust anchors and builds the connector.
    ///
    /// Fails with [`Error::EngineUnavailable`] for an engine not compiled in,
    /// [`Error::InvalidVersions`] for a minimum above the maximum, and file and parse errors
    /// naming the file.
    pub fn build(self) -> Result<TlsConnector, Error> {
        let engine = self.engine.unwrap_or_default();
        if !engine.is_available() {
            return Err(Error::EngineUnavailable(engine));
        }
        let versions = Versions::new(self.min_version, self.max_version)?;
        let (roots, roots_from) = if self.accept_invalid_certs {
            (Vec::new(), "no CA certificates (verification is off)")
        } else {
            self.trust_anchors()?
        };
        let settings = ClientSettings {
            roots,
            roots_from,
            accept_invalid_certs: self.accept_invalid_certs,
            accept_invalid_hostnames: self.accept_invalid_hostnames,
            versions,
        };
        Ok(TlsConnector {
            config: ConnectorConfig::new(engine, &settings)?,
            verify_ip_names: !self.accept_invalid_certs && !self.accept_invalid_hostnames,
        })
    }

    fn trust_anchors(
        &self,
    ) -> Result<(Vec<rustls_pki_types::CertificateDer<'static>>, &'static str), Error> {
        if self.ca_files.is_empty() && self.ca_pems.is_empty() {
            return Ok((system_trust_anchors()?, "the system CA bundle"));
        }
        let mut list = Vec::new();
        for path in &self.ca_files {
            let bytes = read_file("CA certificates", path)?;
            list.extend(parse_certificates(&bytes, "CA certificate file")?);
        }
        for pem in &self.ca_pems {
            list.extend(parse_certificates(pem, "CA certificate")?);
        }
        Ok((list, "the given CA certificates"))
    }
}

/// Connects TLS clients. Build it once (loading trust anchors is the expensive part) and
/// share it: cloning is cheap.
///
/// Server Name Indication and host name verification always use the name passed to
/// [`connect`](Self::connect). A host written as an IP address (`192.0.2.1`, `::1` or `[::1]`)
/// is not sent as SNI and must appear among the certificate's iPAddress names.
#[derive(Clone)]
pub struct TlsConnector {
    config: ConnectorConfig,
    /// False when a `danger_` option turned certificate or hostname checks off.
    verify_ip_names: bool,
}

impl TlsConnector {
    /// A connector trusting the system's CA bundle, with the default engine.
    pub fn new() -> Result<TlsConnector, Error> {
        TlsConnector::builder().build()
    }

    /// A builder for custom trust anchors, verification policy, engine and versions.
    pub fn builder() -> TlsConnectorBuilder {
        TlsConnectorBuilder::default()
    }

    /// The engine this connector's sessions use.
    pub fn engine(&self) -> Engine {
        self.config.engine()
    }

    /// Starts a TLS handshake as a client on a connected non-blocking `stream`, sending `host`
    /// as SNI and verifying the server certificate against it.
    ///
    /// Returns the stream when the handshake completed at once, or
    /// [`HandshakeError::WouldBlock`] with a [`MidHandshake`](crate::MidHandshake) to resume
    /// on readiness.
    pub fn connect<S: Read + Write>(
        &self,
        host: &str,
        stream: S,
    ) -> Result<TlsStream<S>, HandshakeError<S>> {
        check_hostname(host)?;
        // `[::1]` as in a URL, or a bare address.
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let peer = match literal.parse::<IpAddr>() {
            Ok(ip) => Peer::Ip {
                text: host,
                ip,
                verify: self.verify_ip_names,
            },
            Err(_) => {
                // The same rule for both engines (RFC 1035 §2.3.1 labels, as relaxed by
                // webpki: underscores allowed; one final dot allowed).
                if rustls_pki_types::DnsName::try_from(host).is_err() {
                    return Err(Error::InvalidHostname {
                        host: host.to_owned(),
                        reason: "it is not a valid DNS name or IP address",
                    }
                    .into());
                }
                Peer::Name(host)
            }
        };
        let session = self.config.session(stream, &peer)?;
        stream::handshake(session, Some(peer.host().to_owned()))
    }
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("engine", &self.engine())
            .finish_non_exhaustive()
    }
}

fn check_hostname(host: &str) -> Result<(), Error> {
    let reason = if host.is_empty() {
        "it is empty"
    } else if host.len() > 255 {
        "it is longer than 255 bytes"
    } else if host.contains('\0') {
        "it contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(Error::InvalidHostname {
        host: host.to_owned(),
        reason,
    })
}
