//! Certificates generated at test time with rcgen: a test CA, leaf certificates it signs
//! (valid, expired, not yet valid, other names, IP addresses), and self-signed ones.
#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

/// A PEM certificate and its PEM private key.
#[derive(Clone, Debug)]
pub struct CertKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A certificate authority that signs leaf certificates.
pub struct TestCa {
    pub ca: CertKey,
    issuer: Issuer<'static, KeyPair>,
}

/// Validity windows relative to now.
#[derive(Clone, Copy, Debug)]
pub enum Validity {
    /// From a year ago to ten years ahead.
    Current,
    /// Ended a year ago.
    Expired,
    /// Starts in ten years.
    NotYetValid,
}

impl Validity {
    fn apply(self, params: &mut CertificateParams) {
        let now = OffsetDateTime::now_utc();
        let year = Duration::days(365);
        let (from, to) = match self {
            Validity::Current => (now - year, now + 10 * year),
            Validity::Expired => (now - 3 * year, now - year),
            Validity::NotYetValid => (now + 10 * year, now + 20 * year),
        };
        params.not_before = from;
        params.not_after = to;
    }
}

/// Parameters for a server certificate naming `names` (the first is also the CN; IP literals
/// become iPAddress names, the rest dNSName).
fn server_params(names: &[&str], validity: Validity) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.subject_alt_names = names
        .iter()
        .map(|name| match name.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName((*name).try_into().unwrap()),
        })
        .collect();
    validity.apply(&mut params);
    params
}

impl TestCa {
    /// A new self-signed CA named `CN=<name>`.
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "fstack-tls tests");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Validity::Current.apply(&mut params);
        let cert = params.self_signed(&key).unwrap();
        let ca = CertKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        TestCa {
            ca,
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (see [`server_params`]), signed by this CA.
    pub fn leaf(&self, names: &[&str], validity: Validity) -> CertKey {
        let key = KeyPair::generate().unwrap();
        let cert = server_params(names, validity)
            .signed_by(&key, &self.issuer)
            .unwrap();
        CertKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A server certificate naming `cn` in its common name only (no subjectAltName), signed
    /// by this CA.
    pub fn leaf_common_name_only(&self, cn: &str) -> CertKey {
        let key = KeyPair::generate().unwrap();
        let mut params = server_params(&[cn], Validity::Current);
        params.subject_alt_names.clear();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        CertKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// The leaf followed by this CA's certificate, as a server would send it.
    pub fn chain(&self, leaf: &CertKey) -> String {
        format!("{}{}", leaf.cert_pem, self.ca.cert_pem)
    }
}

/// A self-signed server certificate for `names`.
pub fn self_signed(names: &[&str]) -> CertKey {
    let key = KeyPair::generate().unwrap();
    let cert = server_params(names, Validity::Current)
        .self_signed(&key)
        .unwrap();
    CertKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A self-signed server certificate for `names` that also says CA:TRUE, as `openssl req
/// -x509` makes by default.
pub fn self_signed_ca(names: &[&str]) -> CertKey {
    let key = KeyPair::generate().unwrap();
    let mut params = server_params(names, Validity::Current);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    CertKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// Writes `contents` to a fresh file in a per-process temp directory and returns its path.
pub fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fstack-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}
