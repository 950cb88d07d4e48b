//! The seam between the public API and the TLS engines.
//!
//! The public types ([`TlsConnector`](crate::TlsConnector), [`TlsAcceptor`](crate::TlsAcceptor),
//! [`TlsStream`](crate::TlsStream), [`MidHandshake`](crate::MidHandshake)) are engine-neutral.
//! They hand each engine parsed settings ([`ClientSettings`], [`ServerSettings`]: DER
//! certificates and keys, the `danger_` flags, the protocol versions) and drive one
//! [`Session`] per connection through an enum, so the hot path pays one predictable branch
//! rather than a virtual call.
//!
//! Every engine module provides, with the same meaning:
//!
//! - `ClientConfig::new(&ClientSettings) -> Result<ClientConfig, Error>` and
//!   `ServerConfig::new(&ServerSettings) -> Result<ServerConfig, Error>` (the server checks that
//!   the key belongs to the leaf certificate: [`Error::KeyMismatch`]);
//! - `Session::client(&Arc<ClientConfig>, S, &Peer) -> Result<Session<S>, Error>` and
//!   `Session::server(&Arc<ServerConfig>, S) -> Result<Session<S>, Error>`, which only set up;
//! - on `Session<S: Read + Write>`: `handshake(&mut self) -> Result<Progress, Error>` (called
//!   until [`Progress::Done`]; certificate failures as [`Error::CertificateVerification`], the
//!   stream's own failures as [`Error::Io`]), `read`, `write`, `flush` and `shutdown` with the
//!   semantics documented on [`TlsStream`](crate::TlsStream);
//! - on `Session<S>`: `pending`, `has_pinned_write`, `peer_closed`, `get_ref`, `get_mut`,
//!   `protocol_version`, `cipher_suite`.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::Error;

/// A TLS implementation behind this crate's API.
///
/// Both are compiled in by default (cargo features `rustls` and `mbedtls`) and chosen per
/// connector or acceptor with [`TlsConnectorBuilder::engine`](crate::TlsConnectorBuilder::engine)
/// and [`TlsAcceptorBuilder::engine`](crate::TlsAcceptorBuilder::engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Engine {
    /// [rustls](https://docs.rs/rustls) 0.23 with the *ring* crypto provider: the fastest
    /// record layer measured here (AES-GCM in assembly), and the default.
    Rustls,
    /// [mbedTLS](https://github.com/Mbed-TLS/mbedtls) 3.6 LTS (through `mbedtls-rs-sys`),
    /// driven through its send/recv callbacks like a C client.
    Mbedtls,
}

impl Engine {
    /// Every engine, compiled in or not.
    pub const ALL: [Engine; 2] = [Engine::Rustls, Engine::Mbedtls];

    /// The engines compiled into this build, the default first.
    pub fn available() -> &'static [Engine] {
        const AVAILABLE: &[Engine] = &[
            #[cfg(feature = "rustls")]
            Engine::Rustls,
            #[cfg(feature = "mbedtls")]
            Engine::Mbedtls,
        ];
        AVAILABLE
    }

    /// True when this engine is compiled in.
    pub fn is_available(self) -> bool {
        Engine::available().contains(&self)
    }

    /// The name used on command lines: `rustls` or `mbedtls`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Rustls => "rustls",
            Engine::Mbedtls => "mbedtls",
        }
    }
}

impl Default for Engine {
    /// rustls when compiled in (the faster record layer, see BENCHMARKS.md), else mbedTLS.
    fn default() -> Engine {
        Engine::available()[0]
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing an [`Engine`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown TLS engine {name:?}: expected one of {names}", name = self.0, names = engine_names())]
pub struct UnknownEngine(String);

fn engine_names() -> String {
    Engine::available()
        .iter()
        .map(|e| e.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Engine {
    type Err = UnknownEngine;

    /// Parses `rustls` or `mbedtls` (an engine that is not compiled in is refused too).
    fn from_str(s: &str) -> Result<Engine, UnknownEngine> {
        Engine::available()
            .iter()
            .copied()
            .find(|e| e.name() == s)
            .ok_or_else(|| UnknownEngine(s.to_owned()))
    }
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// TLS 1.2 (RFC 5246).
    Tls12,
    /// TLS 1.3 (RFC 8446).
    Tls13,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tls12 => "TLSv1.2",
            Protocol::Tls13 => "TLSv1.3",
        })
    }
}

/// The IANA name of a cipher suite (the TLS Cipher Suites registry), for the suites the
/// engines here can negotiate.
pub fn cipher_suite_name(suite: u16) -> Option<&'static str> {
    Some(match suite {
        0x1301 => "TLS_AES_128_GCM_SHA256",
        0x1302 => "TLS_AES_256_GCM_SHA384",
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
        0x1304 => "TLS_AES_128_CCM_SHA256",
        0x1305 => "TLS_AES_128_CCM_8_SHA256",
        0xC02B => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xC02C => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xC02F => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xC030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xCCA8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xCCA9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0x009C => "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009D => "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x009E => "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        0x009F => "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        0xC0AC => "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
        0xC0AD => "TLS_ECDHE_ECDSA_WITH_AES_256_CCM",
        _ => return None,
    })
}

/// The protocol versions a connector or acceptor allows, `min <= max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Versions {
    pub(crate) min: Protocol,
    pub(crate) max: Protocol,
}

impl Versions {
    /// Checks the builder's bounds (`None`: no bound).
    pub(crate) fn new(min: Option<Protocol>, max: Option<Protocol>) -> Result<Versions, Error> {
        let v = Versions {
            min: min.unwrap_or(Protocol::Tls12),
            max: max.unwrap_or(Protocol::Tls13),
        };
        if v.min > v.max {
            return Err(Error::InvalidVersions {
                min: v.min,
                max: v.max,
            });
        }
        Ok(v)
    }

    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    pub(crate) fn allows(self, p: Protocol) -> bool {
        self.min <= p && p <= self.max
    }
}

/// What a client engine is configured with.
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    /// Trusted CA certificates (DER). Empty when `accept_invalid_certs` is set.
    pub(crate) roots: Vec<CertificateDer<'static>>,
    /// Where the roots came from, for error messages ("CA certificate file", "system CA
    /// bundle").
    pub(crate) roots_from: &'static str,
    /// `danger_accept_invalid_certs`: no certificate check at all.
    pub(crate) accept_invalid_certs: bool,
    /// `danger_accept_invalid_hostnames`: every check but the name.
    pub(crate) accept_invalid_hostnames: bool,
    pub(crate) versions: Versions,
}

/// What a server engine is configured with.
#[derive(Debug)]
pub(crate) struct ServerSettings {
    /// The leaf certificate first, then intermediates (DER).
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub(crate) versions: Versions,
}

/// The server a client connects to, as far as the handshake checks it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Peer<'a> {
    /// A DNS name: sent as SNI and checked against the certificate's DNS names.
    Name(&'a str),
    /// An IP address (`text` as the caller wrote it, e.g. `[::1]`): never sent as SNI (RFC 6066
    /// §3), checked against iPAddress subjectAltNames (RFC 9525 §6.3) unless `verify` is false
    /// (hostname checks turned off).
    Ip {
        text: &'a str,
        ip: IpAddr,
        /// Unused by rustls, whose verifier applies the `danger_` options itself.
        #[cfg_attr(not(feature = "mbedtls"), allow(dead_code))]
        verify: bool,
    },
}

impl Peer<'_> {
    /// The name the certificate is verified against, as the caller wrote it.
    pub(crate) fn host(&self) -> &str {
        match self {
            Peer::Name(name) => name,
            Peer::Ip { text, .. } => text,
        }
    }
}

/// Where a handshake stands after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Established (and verified).
    Done,
    /// Waiting for the peer's bytes: resume when the stream is readable.
    WantRead,
    /// The stream could not take our bytes: resume when it is writable.
    WantWrite,
}

/// A client engine's configuration, shared by its connections.
#[derive(Clone)]
pub(crate) enum ConnectorConfig {
    #[cfg(feature = "rustls")]
    Rustls(Arc<crate::rustls::ClientConfig>),
    #[cfg(feature = "mbedtls")]
    Mbedtls(Arc<crate::mbedtls::ClientConfig>),
}

impl ConnectorConfig {
    pub(crate) fn new(engine: Engine, settings: &ClientSettings) -> Result<Self, Error> {
        match engine {
            #[cfg(feature = "rustls")]
            Engine::Rustls => Ok(ConnectorConfig::Rustls(Arc::new(
                crate::rustls::ClientConfig::new(settings)?,
            ))),
            #[cfg(feature = "mbedtls")]
            Engine::Mbedtls => Ok(ConnectorConfig::Mbedtls(Arc::new(
                crate::mbedtls::ClientConfig::new(settings)?,
            ))),
            #[allow(unreachable_patterns)]
            other => Err(Error::EngineUnavailable(other)),
        }
    }

    pub(crate) fn engine(&self) -> Engine {
        match self {
            #[cfg(feature = "rustls")]
            ConnectorConfig::Rustls(_) => Engine::Rustls,
            #[cfg(feature = "mbedtls")]
            ConnectorConfig::Mbedtls(_) => Engine::Mbedtls,
        }
    }

    pub(crate) fn session<S: Read + Write>(
        &self,
        stream: S,
        peer: &Peer<'_>,
    ) -> Result<Session<S>, Error> {
        Ok(match self {
            #[cfg(feature = "rustls")]
            ConnectorConfig::Rustls(c) => {
                Session::Rustls(Box::new(crate::rustls::Session::client(c, stream, peer)?))
            }
            #[cfg(feature = "mbedtls")]
            ConnectorConfig::Mbedtls(c) => {
                Session::Mbedtls(Box::new(crate::mbedtls::Session::client(c, stream, peer)?))
            }
        })
    }
}

/// A server engine's configuration, shared by its connections.
#[derive(Clone)]
pub(crate) enum AcceptorConfig {
    #[cfg(feature = "rustls")]
    Rustls(Arc<crate::rustls::ServerConfig>),
    #[cfg(feature = "mbedtls")]
    Mbedtls(Arc<crate::mbedtls::ServerConfig>),
}

impl AcceptorConfig {
    pub(crate) fn new(engine: Engine, settings: &ServerSettings) -> Result<Self, Error> {
        match engine {
            #[cfg(feature = "rustls")]
            Engine::Rustls => Ok(AcceptorConfig::Rustls(Arc::new(
                crate::rustls::ServerConfig::new(settings)?,
            ))),
            #[cfg(feature = "mbedtls")]
            Engine::Mbedtls => Ok(AcceptorConfig::Mbedtls(Arc::new(
                crate::mbedtls::ServerConfig::new(settings)?,
            ))),
            #[allow(unreachable_patterns)]
            other => Err(Error::EngineUnavailable(other)),
        }
    }

    pub(crate) fn engine(&self) -> Engine {
        match self {
            #[cfg(feature = "rustls")]
            AcceptorConfig::Rustls(_) => Engine::Rustls,
            #[cfg(feature = "mbedtls")]
            AcceptorConfig::Mbedtls(_) => Engine::Mbedtls,
        }
    }

    pub(crate) fn session<S: Read + Write>(&self, stream: S) -> Result<Session<S>, Error> {
        Ok(match self {
            #[cfg(feature = "rustls")]
            AcceptorConfig::Rustls(c) => {
                Session::Rustls(Box::new(crate::rustls::Session::server(c, stream)?))
            }
            #[cfg(feature = "mbedtls")]
            AcceptorConfig::Mbedtls(c) => {
                Session::Mbedtls(Box::new(crate::mbedtls::Session::server(c, stream)?))
            }
        })
    }
}

/// One connection of some engine. Boxed so that moving a handshake or stream around copies a
/// pointer, not an engine's context.
pub(crate) enum Session<S> {
    #[cfg(feature = "rustls")]
    Rustls(Box<crate::rustls::Session<S>>),
    #[cfg(feature = "mbedtls")]
    Mbedtls(Box<crate::mbedtls::Session<S>>),
}

/// Calls the same method on whichever engine's session this is.
macro_rules! dispatch {
    ($self:expr, $s:ident => $call:expr) => {
        match $self {
            #[cfg(feature = "rustls")]
            Session::Rustls($s) => $call,
            #[cfg(feature = "mbedtls")]
            Session::Mbedtls($s) => $call,
        }
    };
}

impl<S: Read + Write> Session<S> {
    pub(crate) fn handshake(&mut self) -> Result<Progress, Error> {
        dispatch!(self, s => s.handshake())
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        dispatch!(self, s => s.read(buf))
    }

    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        dispatch!(self, s => s.write(buf))
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        dispatch!(self, s => s.flush())
    }

    pub(crate) fn shutdown(&mut self) -> io::Result<()> {
        dispatch!(self, s => s.shutdown())
    }
}

impl<S> Session<S> {
    pub(crate) fn engine(&self) -> Engine {
        match self {
            #[cfg(feature = "rustls")]
            Session::Rustls(_) => Engine::Rustls,
            #[cfg(feature = "mbedtls")]
            Session::Mbedtls(_) => Engine::Mbedtls,
        }
    }

    pub(crate) fn pending(&self) -> usize {
        dispatch!(self, s => s.pending())
    }

    pub(crate) fn has_pinned_write(&self) -> bool {
        dispatch!(self, s => s.has_pinned_write())
    }

    pub(crate) fn peer_closed(&self) -> bool {
        dispatch!(self, s => s.peer_closed())
    }

    pub(crate) fn get_ref(&self) -> &S {
        dispatch!(self, s => s.get_ref())
    }

    pub(crate) fn get_mut(&mut self) -> &mut S {
        dispatch!(self, s => s.get_mut())
    }

    pub(crate) fn protocol_version(&self) -> Option<Protocol> {
        dispatch!(self, s => s.protocol_version())
    }

    pub(crate) fn cipher_suite(&self) -> Option<u16> {
        dispatch!(self, s => s.cipher_suite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_names_round_trip() {
        for e in Engine::available() {
            assert_eq!(e.name().parse::<Engine>(), Ok(*e));
        }
        let err = "openssl".parse::<Engine>().unwrap_err().to_string();
        assert!(
            err.starts_with("unknown TLS engine \"openssl\": expected one of "),
            "{err}"
        );
        assert_eq!(Engine::default(), Engine::available()[0]);
    }

    #[test]
    fn versions_are_checked() {
        let all = Versions::new(None, None).unwrap();
        assert!(all.allows(Protocol::Tls12) && all.allows(Protocol::Tls13));
        let only12 = Versions::new(None, Some(Protocol::Tls12)).unwrap();
        assert!(!only12.allows(Protocol::Tls13));
        let err = Versions::new(Some(Protocol::Tls13), Some(Protocol::Tls12)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid TLS version range: minimum TLSv1.3 is above maximum TLSv1.2"
        );
    }

    #[test]
    fn suite_names() {
        assert_eq!(cipher_suite_name(0x1301), Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!(
            cipher_suite_name(0xC02F),
            Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        );
        assert_eq!(cipher_suite_name(0x0000), None);
    }
}
