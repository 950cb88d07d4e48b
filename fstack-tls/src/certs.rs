//! Certificates and keys from PEM or DER bytes and files, and the system's trust store: parsed
//! once here, handed to the engines as DER.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, TlsError};

/// Where [`TlsConnectorBuilder::build`](crate::TlsConnectorBuilder::build) looks for the
/// system's CA bundle when neither `SSL_CERT_FILE` nor `SSL_CERT_DIR` is set, in this order.
pub const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Gentoo, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL, CentOS
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // RHEL 7+
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // Alpine, macOS, OpenBSD
    "/usr/local/share/certs/ca-root-nss.crt", // FreeBSD
];

pub(crate) fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::ReadFile {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Parses one or more PEM certificates, or a single DER one; fails if none is found.
pub(crate) fn parse_certificates(
    bytes: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let parse_error = |text: String| Error::Parse {
        what,
        source: TlsError::parse(text),
    };
    if !is_pem(bytes) {
        // A DER certificate is one ASN.1 SEQUENCE: check that much here so that a file of
        // anything else fails now, not at the first handshake.
        x509_parser::parse_x509_certificate(bytes)
            .map_err(|e| parse_error(format!("not a PEM or DER certificate ({e})")))?;
        return Ok(vec![CertificateDer::from(bytes.to_vec())]);
    }
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| parse_error(format!("malformed PEM data ({e})")))?;
    if certs.is_empty() {
        return Err(parse_error(
            "no CERTIFICATE block (-----BEGIN CERTIFICATE-----) found".into(),
        ));
    }
    for cert in &certs {
        x509_parser::parse_x509_certificate(cert)
            .map_err(|e| parse_error(format!("not a valid X.509 certificate ({e})")))?;
    }
    Ok(certs)
}

/// Parses an unencrypted private key: PEM (PKCS#8, PKCS#1 RSA or SEC1 EC) or DER.
pub(crate) fn parse_private_key(bytes: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    let parse_error = |text: String| Error::Parse {
        what: "private key",
        source: TlsError::parse(text),
    };
    if is_pem(bytes) {
        if bytes.windows(19).any(|w| w == b"ENCRYPTED PRIVATE K")
            || bytes.windows(10).any(|w| w == b"Proc-Type:")
        {
            return Err(parse_error(
                "the key is encrypted; an unencrypted key is required".into(),
            ));
        }
        return PrivateKeyDer::from_pem_slice(bytes)
            .map_err(|e| parse_error(format!("no usable private key in the PEM data ({e})")));
    }
    PrivateKeyDer::try_from(bytes.to_vec())
        .map_err(|e| parse_error(format!("not a PEM or DER private key ({e})")))
}

/// The system's CA certificates: `SSL_CERT_FILE`, else the certificates in `SSL_CERT_DIR`,
/// else the first of [`SYSTEM_CA_BUNDLES`] that exists.
pub(crate) fn system_trust_anchors() -> Result<Vec<CertificateDer<'static>>, Error> {
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
        let mut list = Vec::new();
        for entry in entries.flatten() {
            // Directories hold certificates plus hash links and other files: take what parses.
            if let Ok(bytes) = std::fs::read(entry.path()) {
                if let Ok(certs) = parse_certificates(&bytes, "CA certificate") {
                    list.extend(certs);
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

/// True when the DER certificate's issuer is its own subject.
pub(crate) fn is_self_signed(der: &[u8]) -> bool {
    x509_parser::parse_x509_certificate(der)
        .is_ok_and(|(_, cert)| cert.subject().as_raw() == cert.issuer().as_raw())
}

/// True when the DER certificate `der` has an iPAddress subjectAltName equal to `ip`
/// (RFC 5280 §4.2.1.6: 4 octets for IPv4, 16 for IPv6).
#[cfg_attr(not(feature = "mbedtls"), allow(dead_code))]
pub(crate) fn names_ip_address(der: &[u8], ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return false;
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    san.value.general_names.iter().any(|name| match (name, ip) {
        (GeneralName::IPAddress(b), IpAddr::V4(a)) => *b == a.octets(),
        (GeneralName::IPAddress(b), IpAddr::V6(a)) => *b == a.octets(),
        _ => false,
    })
}
