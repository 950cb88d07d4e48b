//! Errors: what failed, in words a user understands.

use std::fmt;
use std::io;
use std::path::PathBuf;

use mbedtls::error::codes;
use mbedtls::x509::VerifyError;

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
        /// mbedTLS's reason.
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
    /// mbedTLS refused the configuration (for example, the random generator failed).
    #[error("TLS setup failed: {0}")]
    Setup(#[source] TlsError),
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

/// An mbedTLS error code with a readable explanation.
#[derive(Debug)]
pub struct TlsError {
    inner: mbedtls::Error,
}

impl TlsError {
    pub(crate) fn new(inner: mbedtls::Error) -> TlsError {
        TlsError { inner }
    }

    /// The raw (negative) mbedTLS error code, e.g. `-0x7780` for a fatal alert.
    pub fn code(&self) -> i32 {
        self.inner.to_int()
    }

    /// mbedTLS's own name for the error, e.g. `"mbedTLS error HiError::SslFatalAlertMessage"`.
    pub fn mbedtls_name(&self) -> &'static str {
        self.inner.as_str()
    }

    /// A sentence describing the error, or `None` for codes without one.
    fn explanation(&self) -> Option<&'static str> {
        let Some(high) = self.inner.high_level() else {
            return match self.inner.low_level() {
                Some(codes::NetRecvFailed) => Some("reading from the connection failed"),
                Some(codes::NetSendFailed) => Some("writing to the connection failed"),
                Some(codes::NetConnReset) => Some("the connection was reset by the peer"),
                _ => None,
            };
        };
        Some(match high {
            codes::SslConnEof => "the peer closed the connection",
            codes::SslPeerCloseNotify => "the peer closed the TLS session",
            codes::SslFatalAlertMessage => {
                "the peer aborted with a fatal alert (it may reject our certificate, \
                 protocol version or cipher suites)"
            }
            codes::SslNoCipherChosen | codes::SslNoUsableCiphersuite => {
                "no cipher suite in common with the peer"
            }
            codes::SslBadHsProtocolVersion => {
                "the peer does not support TLS 1.2 (the only version mbedTLS 2.28 offers)"
            }
            codes::SslBadHsClientHello => {
                "the client's hello message was malformed or unsupported (is it speaking TLS?)"
            }
            codes::SslBadHsServerHello => {
                "the server's hello message was malformed or unsupported (is it speaking TLS?)"
            }
            codes::SslInvalidRecord => {
                "received data that is not a valid TLS record (is the peer speaking TLS?)"
            }
            codes::SslInvalidMac => "a TLS record failed its integrity check (corrupted data)",
            codes::SslUnexpectedMessage | codes::SslUnexpectedRecord => {
                "the peer sent an unexpected TLS message"
            }
            codes::SslBadHsCertificate => "the peer's certificate message was malformed",
            codes::SslCertificateRequired | codes::SslNoClientCertificate => {
                "the peer requires a client certificate"
            }
            codes::SslCaChainRequired => "no trusted CA certificates are configured",
            codes::SslPrivateKeyRequired => "no certificate and private key are configured",
            codes::SslPeerVerifyFailed | codes::X509CertVerifyFailed => {
                "the peer's certificate could not be verified"
            }
            codes::SslAllocFailed | codes::X509AllocFailed | codes::PemAllocFailed => {
                "out of memory"
            }
            codes::SslBadInputData => "invalid input to mbedTLS",
            codes::SslInternalError => "internal mbedTLS error",
            codes::SslCounterWrapping => "too many records on one session (sequence number wrap)",
            codes::PemNoHeaderFooterPresent => "no PEM block (-----BEGIN ...-----) found",
            codes::PemInvalidData | codes::PemBadInputData => "malformed PEM data",
            codes::PemPasswordRequired | codes::PkPasswordRequired => {
                "the key is encrypted; an unencrypted key is required"
            }
            codes::PkKeyInvalidFormat | codes::PkKeyInvalidVersion => "not a valid private key",
            codes::PkUnknownPkAlg => "unsupported key algorithm",
            codes::PkInvalidPubkey => "not a valid public key",
            codes::X509InvalidFormat | codes::X509CertUnknownFormat => {
                "not a valid X.509 certificate"
            }
            codes::X509InvalidDate => "the certificate has an invalid validity date",
            codes::X509InvalidSignature | codes::X509SigMismatch => {
                "the certificate's signature is malformed"
            }
            codes::X509UnknownSigAlg | codes::X509UnknownVersion => {
                "the certificate uses an unsupported signature algorithm or version"
            }
            codes::X509InvalidExtensions => "the certificate has malformed extensions",
            _ => return None,
        })
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code();
        let hex = format!("-0x{:04X}", code.unsigned_abs());
        match self.explanation() {
            Some(text) => write!(f, "{text} (mbedTLS error {hex})"),
            None => write!(f, "{} (mbedTLS error {hex})", self.inner),
        }
    }
}

impl std::error::Error for TlsError {}

/// Marker set by this crate's verify callback: a certificate that is not trusted and signed
/// itself. mbedTLS leaves bits 20 and up of the verify flags to applications.
pub(crate) const SELF_SIGNED: u32 = VerifyError::CUSTOM_BIT_20.bits();

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
    /// Another check failed.
    Other,
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
            VerifyReason::Other => "the certificate was rejected",
        })
    }
}

/// The failed checks of a rejected certificate, from mbedTLS's verify flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyFailure {
    flags: u32,
}

impl VerifyFailure {
    pub(crate) fn from_flags(flags: u32) -> VerifyFailure {
        VerifyFailure { flags }
    }

    /// The raw mbedTLS verify flags (`MBEDTLS_X509_BADCERT_*`; bit 20 marks self-signed).
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// The failed checks, most important first.
    pub fn reasons(&self) -> Vec<VerifyReason> {
        let has = |bits: VerifyError| self.flags & bits.bits() != 0;
        let self_signed = self.flags & SELF_SIGNED != 0;
        let checks = [
            (
                has(VerifyError::CERT_CN_MISMATCH),
                VerifyReason::HostnameMismatch,
            ),
            (self_signed, VerifyReason::SelfSigned),
            (
                has(VerifyError::CERT_NOT_TRUSTED) && !self_signed,
                VerifyReason::UntrustedIssuer,
            ),
            (has(VerifyError::CERT_EXPIRED), VerifyReason::Expired),
            (has(VerifyError::CERT_FUTURE), VerifyReason::NotYetValid),
            (has(VerifyError::CERT_REVOKED), VerifyReason::Revoked),
            (
                has(VerifyError::CERT_BAD_KEY | VerifyError::CERT_BAD_PK),
                VerifyReason::UnacceptableKey,
            ),
            (
                has(VerifyError::CERT_BAD_MD),
                VerifyReason::UnacceptableHash,
            ),
            (
                has(VerifyError::CERT_KEY_USAGE
                    | VerifyError::CERT_EXT_KEY_USAGE
                    | VerifyError::CERT_NS_CERT_TYPE),
                VerifyReason::WrongKeyUsage,
            ),
            (has(VerifyError::CERT_MISSING), VerifyReason::NoCertificate),
        ];
        let mut out: Vec<VerifyReason> = checks
            .iter()
            .filter(|(failed, _)| *failed)
            .map(|&(_, reason)| reason)
            .collect();
        let known = VerifyError::CERT_CN_MISMATCH
            | VerifyError::CERT_NOT_TRUSTED
            | VerifyError::CERT_EXPIRED
            | VerifyError::CERT_FUTURE
            | VerifyError::CERT_REVOKED
            | VerifyError::CERT_BAD_KEY
            | VerifyError::CERT_BAD_PK
            | VerifyError::CERT_BAD_MD
            | VerifyError::CERT_KEY_USAGE
            | VerifyError::CERT_EXT_KEY_USAGE
            | VerifyError::CERT_NS_CERT_TYPE
            | VerifyError::CERT_MISSING
            | VerifyError::CERT_SKIP_VERIFY;
        if self.flags & !(known.bits() | SELF_SIGNED) != 0 || out.is_empty() {
            out.push(VerifyReason::Other);
        }
        out
    }

    /// Whether `reason` is among the failed checks.
    pub fn contains(&self, reason: VerifyReason) -> bool {
        self.reasons().contains(&reason)
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
    fn reasons_in_words() {
        let f = VerifyFailure::from_flags(
            VerifyError::CERT_CN_MISMATCH.bits() | VerifyError::CERT_EXPIRED.bits(),
        );
        assert_eq!(
            f.reasons(),
            vec![VerifyReason::HostnameMismatch, VerifyReason::Expired]
        );
        assert!(f.to_string().contains("hostname mismatch"), "{f}");
        assert!(f.to_string().contains("expired"), "{f}");

        let f = VerifyFailure::from_flags(VerifyError::CERT_NOT_TRUSTED.bits() | SELF_SIGNED);
        assert_eq!(f.reasons(), vec![VerifyReason::SelfSigned]);
        let f = VerifyFailure::from_flags(VerifyError::CERT_NOT_TRUSTED.bits());
        assert_eq!(f.reasons(), vec![VerifyReason::UntrustedIssuer]);
        let f = VerifyFailure::from_flags(VerifyError::CERT_FUTURE.bits());
        assert!(f.to_string().contains("not yet valid"), "{f}");
        let f = VerifyFailure::from_flags(VerifyError::CRL_EXPIRED.bits());
        assert_eq!(f.reasons(), vec![VerifyReason::Other]);
    }

    #[test]
    fn tls_error_messages() {
        let e = TlsError::new(codes::SslFatalAlertMessage.into());
        assert!(e.to_string().starts_with("the peer aborted"), "{e}");
        assert!(e.to_string().contains("-0x7780"), "{e}");
        assert_eq!(e.code(), -0x7780);
        let e = TlsError::new(codes::SslNoUsableCiphersuite.into());
        assert!(e.to_string().contains("no cipher suite in common"), "{e}");
    }
}
