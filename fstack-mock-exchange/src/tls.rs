//! The server certificate: a CA generated at start and a server certificate it signs.

use std::io;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const TLS12_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Generates a CA and a server certificate for `hostnames`; returns the CA's PEM (the
/// client's trust anchor) and the server's TLS configuration (TLS 1.3 and 1.2, or 1.2 only).
pub(crate) fn tls_config(
    hostnames: &[String],
    tls12_only: bool,
) -> io::Result<(String, Arc<rustls::ServerConfig>)> {
    let err = |e: rcgen::Error| io::Error::other(format!("certificate generation: {e}"));
    let ca_key = rcgen::KeyPair::generate().map_err(err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fstack-rs mock exchange CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = ca_params.self_signed(&ca_key).map_err(err)?;
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let mut params = rcgen::CertificateParams::new(hostnames.to_vec()).map_err(err)?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        hostnames.first().map(String::as_str).unwrap_or("localhost"),
    );
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let cert = params.signed_by(&key, &issuer).map_err(err)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(if tls12_only { TLS12_ONLY } else { BOTH })
        .map_err(|e| io::Error::other(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(
            vec![
                CertificateDer::from(cert.der().to_vec()),
                CertificateDer::from(ca.der().to_vec()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok((ca.pem(), Arc::new(config)))
}
