//! Certificates generated at test time with mbedTLS's X.509 writer: a test CA, leaf
//! certificates it signs (valid, expired, not yet valid, other names), and self-signed ones.
#![allow(dead_code)]

use mbedtls::hash::Type as MdType;
use mbedtls::pk::{EcGroupId, Pk};
use mbedtls::rng::{CtrDrbg, OsEntropy};
use mbedtls::x509::certificate::Builder;
use mbedtls::x509::{KeyUsage, Time};
use std::sync::Arc;

/// A PEM certificate and its PEM private key.
#[derive(Clone, Debug)]
pub struct CertKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A certificate authority that signs leaf certificates.
pub struct TestCa {
    pub ca: CertKey,
    name: String,
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
    fn times(self) -> (Time, Time) {
        let year = current_year();
        let t = |y: u16| Time::new(y, 1, 1, 0, 0, 0).unwrap();
        match self {
            Validity::Current => (t(year - 1), t(year + 10)),
            Validity::Expired => (t(year - 3), t(year - 1)),
            Validity::NotYetValid => (t(year + 10), t(year + 20)),
        }
    }
}

/// The current UTC year, from the system clock.
fn current_year() -> u16 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Good enough for choosing validity windows (a year of slack either way).
    (1970 + secs / 31_556_952) as u16
}

fn rng() -> CtrDrbg {
    CtrDrbg::new(Arc::new(OsEntropy::new()), None).unwrap()
}

fn new_key(rng: &mut CtrDrbg) -> (Pk, String) {
    let mut key = Pk::generate_ec(rng, EcGroupId::SecP256R1).unwrap();
    let pem = key.write_private_pem_string().unwrap();
    (key, pem)
}

fn reload(pem: &str) -> Pk {
    let mut bytes = pem.as_bytes().to_vec();
    bytes.push(0);
    Pk::from_private_key(&bytes, None).unwrap()
}

/// DER length octets.
fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        vec![len as u8]
    } else if len <= 0xff {
        vec![0x81, len as u8]
    } else {
        vec![0x82, (len >> 8) as u8, len as u8]
    }
}

/// The value of a subjectAltName extension listing `names`: IP literals as iPAddress, the
/// rest as dNSName.
fn san_value(names_in: &[&str]) -> Vec<u8> {
    let mut names = Vec::new();
    for name in names_in {
        match name.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                let octets = match ip {
                    std::net::IpAddr::V4(a) => a.octets().to_vec(),
                    std::net::IpAddr::V6(a) => a.octets().to_vec(),
                };
                names.push(0x87); // [7] iPAddress, OCTET STRING
                names.extend(der_len(octets.len()));
                names.extend(octets);
            }
            Err(_) => {
                names.push(0x82); // [2] dNSName, IA5String
                names.extend(der_len(name.len()));
                names.extend_from_slice(name.as_bytes());
            }
        }
    }
    let mut seq = vec![0x30];
    seq.extend(der_len(names.len()));
    seq.extend(names);
    seq
}

const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

fn serial() -> [u8; 8] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    (((nanos << 16) | N.fetch_add(1, Ordering::Relaxed)) & 0x7fff_ffff_ffff_ffff).to_be_bytes()
}

impl TestCa {
    /// A new self-signed CA named `CN=<name>`.
    pub fn new(name: &str) -> TestCa {
        let mut rng = rng();
        let (mut key, key_pem) = new_key(&mut rng);
        let mut issuer_key = reload(&key_pem);
        let subject = format!("CN={name},O=fstack-tls tests");
        let (from, to) = Validity::Current.times();
        let cert_pem = Builder::new()
            .subject(&subject)
            .unwrap()
            .issuer(&subject)
            .unwrap()
            .subject_key(&mut key)
            .issuer_key(&mut issuer_key)
            .signature_hash(MdType::Sha256)
            .basic_constraints(true, None)
            .unwrap()
            .key_usage(KeyUsage::KEY_CERT_SIGN | KeyUsage::CRL_SIGN)
            .unwrap()
            .validity(from, to)
            .unwrap()
            .serial(&serial())
            .unwrap()
            .write_pem_string(&mut rng)
            .unwrap();
        TestCa {
            ca: CertKey { cert_pem, key_pem },
            name: subject,
        }
    }

    /// A server certificate for `dns_names` (the first is also the CN; IP literals become
    /// iPAddress names), signed by this CA.
    pub fn leaf(&self, dns_names: &[&str], validity: Validity) -> CertKey {
        let mut rng = rng();
        let (mut key, key_pem) = new_key(&mut rng);
        let mut issuer_key = reload(&self.ca.key_pem);
        let (from, to) = validity.times();
        let cert_pem = Builder::new()
            .subject(&format!("CN={}", dns_names[0]))
            .unwrap()
            .issuer(&self.name)
            .unwrap()
            .subject_key(&mut key)
            .issuer_key(&mut issuer_key)
            .signature_hash(MdType::Sha256)
            .basic_constraints(false, None)
            .unwrap()
            .extension(OID_SUBJECT_ALT_NAME, &san_value(dns_names), false)
            .unwrap()
            .validity(from, to)
            .unwrap()
            .serial(&serial())
            .unwrap()
            .write_pem_string(&mut rng)
            .unwrap();
        CertKey { cert_pem, key_pem }
    }

    /// The leaf followed by this CA's certificate, as a server would send it.
    pub fn chain(&self, leaf: &CertKey) -> String {
        format!("{}{}", leaf.cert_pem, self.ca.cert_pem)
    }
}

/// A self-signed server certificate for `dns_names`.
pub fn self_signed(dns_names: &[&str]) -> CertKey {
    let mut rng = rng();
    let (mut key, key_pem) = new_key(&mut rng);
    let mut issuer_key = reload(&key_pem);
    let subject = format!("CN={}", dns_names[0]);
    let (from, to) = Validity::Current.times();
    let cert_pem = Builder::new()
        .subject(&subject)
        .unwrap()
        .issuer(&subject)
        .unwrap()
        .subject_key(&mut key)
        .issuer_key(&mut issuer_key)
        .signature_hash(MdType::Sha256)
        .extension(OID_SUBJECT_ALT_NAME, &san_value(dns_names), false)
        .unwrap()
        .validity(from, to)
        .unwrap()
        .serial(&serial())
        .unwrap()
        .write_pem_string(&mut rng)
        .unwrap();
    CertKey { cert_pem, key_pem }
}

/// Writes `contents` to a fresh file in a per-process temp directory and returns its path.
pub fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fstack-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}
