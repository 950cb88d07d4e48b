//! fstack-tls's engines as `ours` uses them: a connector per engine and TLS version.

use fstack_tls::{Engine, Protocol, TlsConnector};

use crate::TlsVersion;

impl TlsVersion {
    pub fn protocol(self) -> Protocol {
        match self {
            TlsVersion::Tls12 => Protocol::Tls12,
            TlsVersion::Tls13 => Protocol::Tls13,
        }
    }
}

/// A connector of `engine` trusting `ca_pem` that negotiates exactly `version`, or why the
/// engine cannot.
pub fn connector(
    engine: Engine,
    version: TlsVersion,
    ca_pem: &str,
) -> Result<TlsConnector, fstack_tls::Error> {
    let only = Some(version.protocol());
    TlsConnector::builder()
        .engine(engine)
        .ca_pem(ca_pem.as_bytes().to_vec())
        .min_protocol_version(only)
        .max_protocol_version(only)
        .build()
}
