//! The TLS engines of fstack-tls that `ours` runs on, and the TLS versions each speaks.

use fstack_tls::TlsConnector;

use crate::TlsVersion;

/// One TLS engine of fstack-tls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Engine;

impl Engine {
    /// Every engine this build of fstack-tls has.
    pub fn available() -> Vec<Engine> {
        vec![Engine]
    }

    pub fn name(self) -> &'static str {
        "mbedtls"
    }

    /// Whether the engine speaks `version`.
    pub fn speaks(self, version: TlsVersion) -> bool {
        // mbedTLS 2.28 speaks TLS 1.2 only.
        version == TlsVersion::Tls12
    }

    /// A connector trusting `ca_pem` that negotiates exactly `version` (one it
    /// [`speaks`](Self::speaks)).
    pub fn connector(self, version: TlsVersion, ca_pem: &str) -> TlsConnector {
        assert!(self.speaks(version));
        TlsConnector::builder()
            .ca_pem(ca_pem.as_bytes().to_vec())
            .build()
            .expect("TLS connector")
    }
}
