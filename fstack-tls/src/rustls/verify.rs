//! Server certificate verification for the rustls engine: webpki's checks, the `danger_`
//! options, and rustls's errors turned into this crate's [`VerifyReason`]s.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::certs::is_self_signed;
use crate::error::{VerifyFailure, VerifyReason};

/// webpki's verifier plus this crate's policy: `inner` is `None` when certificates are not
/// checked at all (`danger_accept_invalid_certs`); `accept_invalid_hostnames` forgives a name
/// mismatch only (webpki checks the chain and validity dates before the name, so a name error
/// means everything else passed).
#[derive(Debug)]
pub(crate) struct Verifier {
    pub(crate) inner: Option<Arc<WebPkiServerVerifier>>,
    /// The trust anchors as given, to tell a self-signed certificate that is not among them.
    pub(crate) roots: Vec<CertificateDer<'static>>,
    pub(crate) accept_invalid_hostnames: bool,
    pub(crate) algorithms: WebPkiSupportedAlgorithms,
}

/// Marks an untrusted certificate that signed itself, so the error says "self-signed" rather
/// than "unknown issuer".
#[derive(Debug)]
struct SelfSigned;

impl fmt::Display for SelfSigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("self-signed certificate")
    }
}

impl std::error::Error for SelfSigned {}

fn is_name_error(e: &CertificateError) -> bool {
    matches!(
        e,
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
    )
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(e))
                if self.accept_invalid_hostnames && is_name_error(&e) =>
            {
                Ok(ServerCertVerified::assertion())
            }
            // Whatever webpki stopped at first (an unknown issuer, or a CA certificate as the end
            // entity), a certificate that signed itself and is not trusted is "self-signed",
            // as mbedTLS reports it.
            Err(rustls::Error::InvalidCertificate(_))
                if is_self_signed(end_entity) && !self.roots.iter().any(|r| r == end_entity) =>
            {
                Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    OtherError(Arc::new(SelfSigned)),
                )))
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Even with certificate checks off, the server must prove it holds the certificate's
        // key: otherwise the handshake would not bind to any key at all.
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The reasons behind a rejected certificate.
pub(crate) fn failure(e: &CertificateError) -> VerifyFailure {
    use CertificateError as C;
    let reason = match e {
        C::NotValidForName | C::NotValidForNameContext { .. } => VerifyReason::HostnameMismatch,
        // A signature that does not verify under the trusted certificate of the same name:
        // issued by someone else, as mbedTLS reports it (not trusted).
        C::UnknownIssuer | C::BadSignature => VerifyReason::UntrustedIssuer,
        C::Expired | C::ExpiredContext { .. } => VerifyReason::Expired,
        C::NotValidYet | C::NotValidYetContext { .. } => VerifyReason::NotYetValid,
        C::Revoked => VerifyReason::Revoked,
        C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            VerifyReason::UnacceptableHash
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => VerifyReason::WrongKeyUsage,
        C::Other(other) if other.0.downcast_ref::<SelfSigned>().is_some() => {
            VerifyReason::SelfSigned
        }
        C::Other(other)
            if matches!(
                other.0.downcast_ref::<webpki::Error>(),
                Some(webpki::Error::CaUsedAsEndEntity)
            ) =>
        {
            VerifyReason::CaUsedAsServerCertificate
        }
        _ => VerifyReason::Other,
    };
    VerifyFailure::new([reason], None)
}
