//! The client side: trust anchors, verification policy and `connect`.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mbedtls::alloc::List as CertList;
use mbedtls::ssl::config::{AuthMode, Endpoint, Preset, Transport};
use mbedtls::ssl::Config;
use mbedtls::x509::{Certificate, VerifyError};

use crate::error::{Error, SELF_SIGNED};
use crate::stream::{self, HandshakeError, Peer, TlsStream};
use crate::{new_rng, parse_certificates, read_file};

/// Where [`TlsConnectorBuilder::build`] looks for the system's CA bundle when neither
/// `SSL_CERT_FILE` nor `SSL_CERT_DIR` is set, in this order.
pub const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Gentoo, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL, CentOS
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // RHEL 7+
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // Alpine, macOS, OpenBSD
    "/usr/local/share/certs/ca-root-nss.crt", // FreeBSD
];

/// Builds a [`TlsConnector`]; start from [`TlsConnector::builder`].
///
/// Without [`ca_file`](Self::ca_file) or [`ca_pem`](Self::ca_pem), the system's CA bundle is
/// trusted: the file named by `SSL_CERT_FILE`, else the certificates in `SSL_CERT_DIR`, else
/// the first of [`SYSTEM_CA_BUNDLES`] that exists.
#[derive(Debug, Clone, Default)]
pub struct TlsConnectorBuilder {
    ca_files: Vec<PathBuf>,
    ca_pems: Vec<Vec<u8>>,
    accept_invalid_certs: bool,
    accept_invalid_hostnames: bool,
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

    /// Loads the trust anchors and builds the connector.
    pub fn build(self) -> Result<TlsConnector, Error> {
        let mut config = Config::new(Endpoint::Client, Transport::Stream, Preset::Default);
        config.set_rng(new_rng()?);
        if self.accept_invalid_certs {
            config.set_authmode(AuthMode::None);
        } else {
            config.set_authmode(AuthMode::Required);
            config.set_ca_list(Arc::new(self.trust_anchors()?), None);
            let accept_invalid_hostnames = self.accept_invalid_hostnames;
            config.set_verify_callback(
                move |cert: &Certificate, depth: i32, flags: &mut VerifyError| {
                    if depth == 0 {
                        if accept_invalid_hostnames {
                            flags.remove(VerifyError::CERT_CN_MISMATCH);
                        }
                        if flags.contains(VerifyError::CERT_NOT_TRUSTED) && is_self_signed(cert) {
                            flags.insert(VerifyError::from_bits_truncate(SELF_SIGNED));
                        }
                    }
                    Ok(())
                },
            );
        }
        Ok(TlsConnector {
            config: Arc::new(config),
            verify_ip_names: !self.accept_invalid_certs && !self.accept_invalid_hostnames,
        })
    }

    fn trust_anchors(&self) -> Result<CertList<Certificate>, Error> {
        let mut list = CertList::new();
        if self.ca_files.is_empty() && self.ca_pems.is_empty() {
            return system_trust_anchors();
        }
        for path in &self.ca_files {
            let bytes = read_file("CA certificates", path)?;
            list.append(parse_certificates(&bytes, "CA certificate file")?);
        }
        for pem in &self.ca_pems {
            list.append(parse_certificates(pem, "CA certificate")?);
        }
        Ok(list)
    }
}

/// A certificate whose issuer is its own subject.
fn is_self_signed(cert: &Certificate) -> bool {
    match (cert.subject_raw(), cert.issuer_raw()) {
        (Ok(subject), Ok(issuer)) => subject == issuer,
        _ => false,
    }
}

/// The system's CA certificates (see [`TlsConnectorBuilder`]).
fn system_trust_anchors() -> Result<CertList<Certificate>, Error> {
    if let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(file);
        let bytes = read_file("CA certificates (SSL_CERT_FILE)", &path)?;
        return parse_certificates(&bytes, "CA bundle named by SSL_CERT_FILE");
    }
    if let Some(dir) = std::env::var_os("SSL_CERT_DIR").filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        let entries = std::fs::read_dir(&dir).map_err(|source| Error::ReadFile {
            what: "CA certificates (SSL_CERT_DIR)",
            path: dir.clone(),
            source,
        })?;
        let mut list = CertList::new();
        for entry in entries.flatten() {
            // Directories hold certificates plus hash links and other files: take what parses.
            if let Ok(bytes) = std::fs::read(entry.path()) {
                if let Ok(certs) = parse_certificates(&bytes, "CA certificate") {
                    list.append(certs);
                }
            }
        }
        if list.is_empty() {
            return Err(Error::NoTrustAnchors(format!(
                "SSL_CERT_DIR={} contains no readable certificates",
                dir.display()
            )));
        }
        return Ok(list);
    }
    for candidate in SYSTEM_CA_BUNDLES {
        let path = Path::new(candidate);
        if path.exists() {
            let bytes = read_file("the system CA bundle", path)?;
            return parse_certificates(&bytes, "system CA bundle");
        }
    }
    Err(Error::NoTrustAnchors(format!(
        "no system CA bundle found (SSL_CERT_FILE and SSL_CERT_DIR are unset, and none of {} \
         exists); install ca-certificates or pass a CA file",
        SYSTEM_CA_BUNDLES.join(", ")
    )))
}

/// Connects TLS clients. Build it once (loading trust anchors is the expensive part) and
/// share it: cloning is cheap.
///
/// Server Name Indication and host name verification always use the name passed to
/// [`connect`](Self::connect). mbedTLS 2.28 matches that name against the certificate's DNS
/// names and common name only (not IP address entries), and speaks TLS 1.2.
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<Config>,
    /// False when a `danger_` option turned certificate or hostname checks off.
    verify_ip_names: bool,
}

impl TlsConnector {
    /// A connector trusting the system's CA bundle.
    pub fn new() -> Result<TlsConnector, Error> {
        TlsConnector::builder().build()
    }

    /// A builder for custom trust anchors and verification policy.
    pub fn builder() -> TlsConnectorBuilder {
        TlsConnectorBuilder::default()
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
            Err(_) => Peer::Name(host),
        };
        stream::handshake(self.config.clone(), stream, peer)
    }
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
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
