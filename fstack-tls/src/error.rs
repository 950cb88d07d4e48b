//! Errors: what failed, in words a user understands.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::engine::{Engine, Protocol};

/// Everything that can go wrong while configuring TLS or during a handshake.
///
/// Errors after the handshake surface through [`std::io::Read`] and [`std::io::Write`] as
/// [`io::Error`]s; see [`TlsStream`](crate::TlsStream) for their kinds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A certificate, key or CA bundle file could not be read.
    #[error("cannot read {what} from {}: {source}", path.display())]
    ReadFile {
        /// What the file should contain, e.g. `"CA certificates"`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: io::Error,
    },
    /// A certificate or key could not be parsed.
    #[error("invalid {what}: {source}")]
    Parse {
        /// What was being parsed, e.g. `"private key"`.
        what: &'static str,
        /// The parser's reason.
        #[source]
        source: TlsError,
    },
    /// No trust anchors could be found or loaded.
    #[error("no trusted CA certificates: {0}")]
    NoTrustAnchors(String),
    /// The acceptor's private key does not belong to its certificate.
    #[error("the private key does not match the certificate (its public key differs)")]
    KeyMismatch,
    /// The host name given to [`TlsConnector::connect`](crate::TlsConnector::connect) is not
    /// usable for SNI and verification.
    #[error("invalid host name {host:?}: {reason}")]
    InvalidHostname {
        /// The rejected name.
        host: String,
        /// Why.
        reason: &'static str,
    },
    /// The server's certificate was rejected.
    #[error("certificate verification failed for {host}: {failure}")]
    CertificateVerification {
        /// The host name the certificate was checked against.
        host: String,
        /// Which checks failed.
        failure: VerifyFailure,
    },
    /// The TLS handshake failed for a protocol reason.
    #[error("TLS handshake failed: {0}")]
    Handshake(#[source] TlsError),
    /// The underlying stream failed during the handshake.
    #[error("TLS handshake failed: {0}")]
    Io(#[source] io::Error),
    /// The engine refused the configuration (for example, its random generator failed).
    #[error("TLS setup failed: {0}")]
    Setup(#[source] TlsError),
    /// The engine asked for is not compiled into this build (cargo features `rustls`,
    /// `mbedtls`).
    #[error("the {0} TLS engine is not compiled in (enable the fstack-tls cargo feature \"{0}\")")]
    EngineUnavailable(Engine),
    /// The minimum protocol version is above the maximum.
    #[error("invalid TLS version range: minimum {min} is above maximum {max}")]
    InvalidVersions {
        /// The minimum asked for.
        min: Protocol,
        /// The maximum asked for.
        max: Protocol,
    },
}

impl Error {
    /// The verification failure, when this error is [`Error::CertificateVerification`].
    pub fn verify_failure(&self) -> Option<&VerifyFailure> {
        match self {
            Error::CertificateVerification { failure, .. } => Some(failure),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(source) => source,
            Error::ReadFile { ref source, .. } => io::Error::new(source.kind(), e),
            Error::CertificateVerification { .. } | Error::Handshake(_) => {
                io::Error::new(io::ErrorKind::InvalidData, e)
            }
            other => io::Error::new(io::ErrorKind::InvalidInput, other),
        }
    }
}

/// A TLS engine's (or the PEM parser's) reason for a failure, in words, with the engine's own
/// error code where it has one.
#[derive(Debug)]
pub struct TlsError {
    engine: Option<Engine>,
    text: String,
    mbedtls_code: Option<i32>,
}

impl TlsError {
    /// An mbedTLS error: `code` is negative (e.g. `-0x7780`), `text` says what it means.
    #[cfg_attr(not(feature = "mbedtls"), allow(dead_code))]
    pub(crate) fn mbedtls(code: i32, text: impl Into<String>) -> TlsError {
        TlsError {
            engine: Some(Engine::Mbedtls),
            text: text.into(),
            mbedtls_code: Some(code),
        }
    }

    /// A rustls error, explained in `text`.
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    pub(crate) fn rustls(text: impl Into<String>) -> TlsError {
        TlsError {
            engine: Some(Engine::Rustls),
            text: text.into(),
            mbedtls_code: None,
        }
    }

    /// A failure before any engine is involved (PEM or DER parsing).
    pub(crate) fn parse(text: impl Into<String>) -> TlsError {
        TlsError {
            engine: None,
            text: text.into(),
            mbedtls_code: None,
        }
    }

    /// The engine that failed (`None` for certificate and key parsing, which is shared).
    pub fn engine(&self) -> Option<Engine> {
        self.engine
    }

    /// The raw (negative) mbedTLS error code, e.g. `-0x7780` for a fatal alert, when the
    /// mbedTLS engine failed.
    pub fn mbedtls_code(&self) -> Option<i32> {
        self.mbedtls_code
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        if let Some(code) = self.mbedtls_code {
            write!(f, " (mbedTLS error -0x{:04X})", code.unsigned_abs())?;
        }
        Ok(())
    }
}

impl std::error::Error for TlsError {}

/// One check that a peer certificate failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VerifyReason {
    /// The certificate does not name the host that was connected to.
    HostnameMismatch,
    /// The certificate signed itself and is not among the trusted certificates.
    SelfSigned,
    /// The certificate (or its chain) is not signed by a trusted certificate authority.
    UntrustedIssuer,
    /// The certificate's validity period has ended.
    Expired,
    /// The certificate's validity period has not started yet.
    NotYetValid,
    /// The certificate has been revoked (it is on a CRL).
    Revoked,
    /// The certificate uses a key type or size that is not accepted.
    UnacceptableKey,
    /// The certificate is signed with a hash algorithm that is not accepted.
    UnacceptableHash,
    /// The certificate's key usage does not allow TLS.
    WrongKeyUsage,
    /// The peer sent no certificate.
    NoCertificate,
    /// The server's certificate is a CA certificate (basicConstraints CA:TRUE, as `openssl
    /// req -x509` makes by default), which rustls refuses as an end entity even when it is
    /// trusted itself (RFC 5280 §4.2.1.9); mbedTLS accepts it.
    CaUsedAsServerCertificate,
    /// Another check failed.
    Other,
}

impl VerifyReason {
    /// Every reason, most important first.
    pub const ALL: [VerifyReason; 12] = [
        VerifyReason::HostnameMismatch,
        VerifyReason::SelfSigned,
        VerifyReason::UntrustedIssuer,
        VerifyReason::Expired,
        VerifyReason::NotYetValid,
        VerifyReason::Revoked,
        VerifyReason::UnacceptableKey,
        VerifyReason::UnacceptableHash,
        VerifyReason::WrongKeyUsage,
        VerifyReason::NoCertificate,
        VerifyReason::CaUsedAsServerCertificate,
        VerifyReason::Other,
    ];
}

impl fmt::Display for VerifyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerifyReason::HostnameMismatch => {
                "hostname mismatch (the certificate is issued for a different name)"
            }
            VerifyReason::SelfSigned => {
                "self-signed certificate (not issued by a trusted certificate authority)"
            }
            VerifyReason::UntrustedIssuer => {
                "untrusted issuer (the certificate is not signed by a trusted certificate \
                 authority)"
            }
            VerifyReason::Expired => "the certificate has expired",
            VerifyReason::NotYetValid => "the certificate is not yet valid",
            VerifyReason::Revoked => "the certificate has been revoked",
            VerifyReason::UnacceptableKey => "the certificate's key type or size is not accepted",
            VerifyReason::UnacceptableHash => {
                "the certificate is signed with a hash algorithm that is not accepted"
            }
            VerifyReason::WrongKeyUsage => "the certificate's key usage does not allow TLS",
            VerifyReason::NoCertificate => "the peer sent no certificate",
            VerifyReason::CaUsedAsServerCertificate => {
                "a CA certificate (basicConstraints CA:TRUE) is used as the server's certificate"
            }
            VerifyReason::Other => "the certificate was rejected",
        })
    }
}

/// The failed checks of a rejected certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyFailure {
    /// One bit per [`VerifyReason`], in declaration order.
    reasons: u16,
    mbedtls_flags: Option<u32>,
}

impl VerifyFailure {
    /// The reasons an engine found; [`VerifyReason::Other`] when it named none.
    pub(crate) fn new(
        reasons: impl IntoIterator<Item = VerifyReason>,
        mbedtls_flags: Option<u32>,
    ) -> VerifyFailure {
        let mut bits = reasons
            .into_iter()
            .fold(0u16, |bits, r| bits | 1 << (r as u16));
        if bits == 0 {
            bits = 1 << (VerifyReason::Other as u16);
        }
        VerifyFailure {
            reasons: bits,
            mbedtls_flags,
        }
    }

    /// The raw mbedTLS verify flags (`MBEDTLS_X509_BADCERT_*`) when the mbedTLS engine
    /// verified the certificate.
    pub fn mbedtls_flags(&self) -> Option<u32> {
        self.mbedtls_flags
    }

    /// The failed checks, most important first.
    pub fn reasons(&self) -> Vec<VerifyReason> {
        VerifyReason::ALL
            .iter()
            .copied()
            .filter(|r| self.contains(*r))
            .collect()
    }

    /// Whether `reason` is among the failed checks.
    pub fn contains(&self, reason: VerifyReason) -> bool {
        self.reasons & (1 << (reason as u16)) != 0
    }
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, reason) in self.reasons().iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{reason}")?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifyFailure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_in_words_most_important_first() {
        let f = VerifyFailure::new(
            [VerifyReason::Expired, VerifyReason::HostnameMismatch],
            None,
        );
        assert_eq!(
            f.reasons(),
            vec![VerifyReason::HostnameMismatch, VerifyReason::Expired]
        );
        assert_eq!(
            f.to_string(),
            "hostname mismatch (the certificate is issued for a different name); the \
             certificate has expired"
        );
        assert!(f.contains(VerifyReason::Expired));
        assert!(!f.contains(VerifyReason::SelfSigned));
        assert_eq!(
            VerifyFailure::new([], Some(1)).reasons(),
            vec![VerifyReason::Other]
        );
        assert_eq!(VerifyFailure::new([], Some(1)).mbedtls_flags(), Some(1));
    }

    #[test]
    fn tls_error_messages() {
        let e = TlsError::mbedtls(-0x7780, "the peer aborted with a fatal alert");
        assert_eq!(
            e.to_string(),
            "the peer aborted with a fatal alert (mbedTLS error -0x7780)"
        );
        assert_eq!(e.mbedtls_code(), Some(-0x7780));
        assert_eq!(e.engine(), Some(Engine::Mbedtls));
        let e = TlsError::rustls("no cipher suite in common with the peer");
        assert_eq!(e.to_string(), "no cipher suite in common with the peer");
        assert_eq!(e.mbedtls_code(), None);
    }
}
