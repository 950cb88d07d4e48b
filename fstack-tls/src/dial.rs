//! Dialing a TLS server from inside the F-Stack loop (feature `fstack`): name resolution,
//! a non-blocking TCP connect on an [`FStackSocket`], and the TLS handshake, as one state
//! machine that never blocks the loop.
//!
//! F-Stack has no DNS resolver: names are resolved with the kernel's resolver on a helper
//! thread, preferring an IPv4 address, unless the caller gives the address itself (like curl's
//! `--resolve`, for hosts whose NIC belongs to DPDK and whose kernel may have no route).
//!
//! ```no_run
//! # use fstack::{Events, Poll, Token};
//! # use fstack_tls::{dial::Dial, TlsConnector};
//! # fn in_the_loop(poll: &mut Poll, events: &mut Events) -> Result<(), Box<dyn std::error::Error>> {
//! let connector = TlsConnector::builder().build()?;
//! let mut dial = Dial::start(&connector, "example.com", 443, None);
//! let token = Token(7);
//! // Once per loop iteration:
//! poll.poll(events)?;
//! let ready = events.iter().any(|e| e.token() == token);
//! if let Some(tls) = dial.advance(ready, poll, token)? {
//!     // `tls` is a verified TLS stream, registered with `poll` under `token`.
//!     # drop(tls);
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;

use fstack::{FStackSocket, Interest, Poll, Token};

use crate::{Error, HandshakeError, MidHandshake, TlsConnector, TlsStream};

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// Name resolution failed.
    #[error("DNS lookup of {host} failed: {reason}")]
    Dns {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The TCP connection could not be established, or the socket not registered.
    #[error("{0}")]
    Connect(#[source] fstack::Error),
    /// The TLS handshake failed (a certificate rejected by verification among others).
    #[error("{0}")]
    Tls(#[source] Error),
}

enum Phase {
    Resolving(mpsc::Receiver<Result<SocketAddr, String>>),
    Connecting(FStackSocket),
    Handshaking(MidHandshake<FStackSocket>),
    Done,
}

/// One connection attempt: resolve, connect, handshake; see the [module docs](self).
pub struct Dial {
    connector: TlsConnector,
    host: String,
    addr: Option<SocketAddr>,
    phase: Phase,
}

impl fmt::Debug for Dial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dial")
            .field("host", &self.host)
            .field("addr", &self.addr)
            .field("step", &self.step())
            .finish()
    }
}

impl Dial {
    /// Starts dialing `host:port`, verifying the certificate for `host`. With `resolve`, the
    /// connection goes to that address and no lookup is made; otherwise the kernel resolves
    /// `host` on a helper thread (an IPv4 address first, else the first one). Call on the
    /// F-Stack thread.
    pub fn start(connector: &TlsConnector, host: &str, port: u16, resolve: Option<IpAddr>) -> Dial {
        let (tx, rx) = mpsc::channel();
        match resolve {
            Some(ip) => {
                let _ = tx.send(Ok(SocketAddr::new(ip, port)));
            }
            None => {
                let name = host.to_owned();
                // The kernel resolver blocks; keep it off the F-Stack thread.
                let spawned = std::thread::Builder::new()
                    .name("dns".into())
                    .spawn(move || {
                        let _ = tx.send(lookup(&name, port));
                    });
                if let Err(e) = spawned {
                    let (tx, rx) = mpsc::channel();
                    let _ = tx.send(Err(format!("cannot start the resolver thread: {e}")));
                    return Dial::with_phase(connector, host, Phase::Resolving(rx));
                }
            }
        }
        Dial::with_phase(connector, host, Phase::Resolving(rx))
    }

    fn with_phase(connector: &TlsConnector, host: &str, phase: Phase) -> Dial {
        Dial {
            connector: connector.clone(),
            host: host.to_owned(),
            addr: None,
            phase,
        }
    }

    /// The step under way: `DNS lookup`, `TCP connect` or `TLS handshake` (`done` after the
    /// stream was returned or the dial failed), for timeout messages.
    pub fn step(&self) -> &'static str {
        match self.phase {
            Phase::Resolving(_) => "DNS lookup",
            Phase::Connecting(_) => "TCP connect",
            Phase::Handshaking(_) => "TLS handshake",
            Phase::Done => "done",
        }
    }

    /// The address being connected to, once resolved.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// Advances as far as possible without blocking. `ready` says whether the socket had an
    /// event since the last call (the lookup is checked every time). The socket is registered
    /// with `poll` under `token` (readable and writable) when it is created, and stays so in the
    /// returned stream. Returns `Ok(None)` while under way, the stream once the handshake is
    /// done; after that, or after an error, the dial is spent (`Ok(None)` forever).
    pub fn advance(
        &mut self,
        mut ready: bool,
        poll: &mut Poll,
        token: Token,
    ) -> Result<Option<TlsStream<FStackSocket>>, DialError> {
        loop {
            let (next, progressed) = match std::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Resolving(rx) => match rx.try_recv() {
                    Ok(Ok(addr)) => {
                        self.addr = Some(addr);
                        let sock = FStackSocket::connect(addr).map_err(DialError::Connect)?;
                        // Latency over batching: market data and requests are small.
                        let _ = sock.set_nodelay(true);
                        poll.register(&sock, token, Interest::READABLE.add(Interest::WRITABLE))
                            .map_err(DialError::Connect)?;
                        (Phase::Connecting(sock), true)
                    }
                    Ok(Err(reason)) => {
                        return Err(DialError::Dns {
                            host: self.host.clone(),
                            reason,
                        })
                    }
                    Err(mpsc::TryRecvError::Empty) => (Phase::Resolving(rx), false),
                    Err(mpsc::TryRecvError::Disconnected) => {
                        return Err(DialError::Dns {
                            host: self.host.clone(),
                            reason: "resolver thread ended".into(),
                        })
                    }
                },
                Phase::Connecting(mut sock) if ready => {
                    if sock.finish_connect().map_err(DialError::Connect)? {
                        match self.connector.connect(&self.host, sock) {
                            Ok(tls) => return Ok(Some(tls)),
                            Err(HandshakeError::WouldBlock(mid)) => {
                                (Phase::Handshaking(mid), false)
                            }
                            Err(HandshakeError::Failure(e)) => return Err(DialError::Tls(e)),
                        }
                    } else {
                        (Phase::Connecting(sock), false)
                    }
                }
                Phase::Handshaking(mid) if ready => match mid.handshake() {
                    Ok(tls) => return Ok(Some(tls)),
                    Err(HandshakeError::WouldBlock(mid)) => (Phase::Handshaking(mid), false),
                    Err(HandshakeError::Failure(e)) => return Err(DialError::Tls(e)),
                },
                waiting @ (Phase::Connecting(_) | Phase::Handshaking(_)) => (waiting, false),
                Phase::Done => return Ok(None),
            };
            self.phase = next;
            if !progressed {
                return Ok(None);
            }
            // A new socket may already be connected (loopback): try at once.
            ready = true;
        }
    }
}

/// The kernel's answer for `host:port`: an IPv4 address if there is one (the DPDK port is
/// usually configured for IPv4), else the first address.
fn lookup(host: &str, port: u16) -> Result<SocketAddr, String> {
    let all: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| "no addresses".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_prefers_ipv4_and_reports_failures() {
        assert_eq!(
            lookup("127.0.0.1", 443),
            Ok("127.0.0.1:443".parse().unwrap())
        );
        assert_eq!(lookup("::1", 9443), Ok("[::1]:9443".parse().unwrap()));
        let err = lookup("no-such-host.invalid", 443).unwrap_err();
        assert!(!err.is_empty());
    }
}
