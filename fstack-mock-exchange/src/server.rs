//! The running mock: [`MockExchange`] accepts connections on a background thread and serves
//! each on its own thread; [`MockStats`] counts what happened.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::{Faults, MockConfig};
use crate::connection::Connection;
use crate::tls::tls_config;

/// Counters of a running mock, shared with its connection threads.
#[derive(Debug, Default)]
pub struct MockStats {
    /// WebSocket connections established.
    pub connections: AtomicU64,
    /// Market events sent, all connections.
    pub events: AtomicU64,
    /// Pings sent.
    pub pings: AtomicU64,
    /// Pongs received whose payload matched the ping.
    pub pongs: AtomicU64,
    /// SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS requests answered.
    pub control_requests: AtomicU64,
    /// Close frames received from clients.
    pub client_closes: AtomicU64,
    /// When each control request arrived (to check the client's rate limit).
    pub control_times: Mutex<Vec<Instant>>,
    /// Each control request's method and params, in arrival order (to check what a client
    /// subscribed).
    pub control_log: Mutex<Vec<(String, Vec<String>)>>,
    /// When each WebSocket upgrade request arrived, rejected or not (to check that a client
    /// waits for `Retry-After`).
    pub upgrade_times: Mutex<Vec<Instant>>,
    /// Upgrade requests answered with an error status.
    pub rejected_upgrades: AtomicU64,
    /// The request target (path and query, as sent) of each upgrade request.
    pub request_targets: Mutex<Vec<String>>,
    /// Connections that made REST requests (keep-alive: one for many requests).
    pub rest_connections: AtomicU64,
    /// REST requests received.
    pub rest_requests: AtomicU64,
    /// Depth snapshot requests received.
    pub depth_request_count: AtomicU64,
    /// Each depth snapshot request: when, for which symbol, and what it was answered.
    pub depth_requests: Mutex<Vec<DepthRequest>>,
    /// REST request weight counted per request over the last minute (the
    /// `X-MBX-USED-WEIGHT-1M` header).
    pub rest_weight: Mutex<Vec<(Instant, u32)>>,
    /// Diff depth events left out by the `skip-diff` fault.
    pub skipped_diffs: AtomicU64,
}

/// One depth snapshot request as the mock answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthRequest {
    /// When it arrived.
    pub at: Instant,
    /// The `symbol` parameter as sent.
    pub symbol: String,
    /// The HTTP status answered.
    pub status: u16,
    /// The snapshot's `lastUpdateId` (200 only).
    pub last_update_id: Option<u64>,
}

/// A running mock exchange; stops when dropped.
pub struct MockExchange {
    addr: SocketAddr,
    ca_pem: String,
    stats: Arc<MockStats>,
    stop: Arc<AtomicBool>,
    faults: Arc<Mutex<Faults>>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl MockExchange {
    /// Generates a CA and server certificate, binds and starts serving on background threads.
    pub fn start(config: MockConfig) -> io::Result<MockExchange> {
        let (ca_pem, tls) = tls_config(&config.hostnames, config.tls12_only)?;
        let listener = TcpListener::bind(config.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(MockStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let faults = Arc::new(Mutex::new(config.faults.clone()));
        let sequences = Arc::new(Mutex::new(BTreeMap::new()));
        let books = Arc::new(Mutex::new(BTreeMap::new()));
        let acceptor = {
            let (stats, stop, faults) = (stats.clone(), stop.clone(), faults.clone());
            thread::Builder::new()
                .name("mock-accept".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match listener.accept() {
                            Ok((sock, _)) => {
                                let conn = Connection {
                                    tls: tls.clone(),
                                    config: config.clone(),
                                    faults: faults.lock().expect("faults lock").clone(),
                                    stats: stats.clone(),
                                    stop: stop.clone(),
                                    sequences: sequences.clone(),
                                    books: books.clone(),
                                };
                                let _ = thread::Builder::new()
                                    .name("mock-conn".into())
                                    .spawn(move || conn.serve(sock));
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                                thread::sleep(Duration::from_millis(2))
                            }
                            Err(_) => thread::sleep(Duration::from_millis(10)),
                        }
                    }
                })?
        };
        Ok(MockExchange {
            addr,
            ca_pem,
            stats,
            stop,
            faults,
            acceptor: Some(acceptor),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM of the CA that signed the server certificate: the client's trust anchor.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Live counters.
    pub fn stats(&self) -> &MockStats {
        &self.stats
    }

    /// Replaces the faults applied to connections accepted from now on.
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().expect("faults lock") = faults;
    }

    /// Writes [`MockExchange::ca_pem`] to `path` atomically: into a temporary file in the same
    /// directory, then renamed over `path`, so a client waiting for the file never reads a
    /// partial one.
    pub fn write_ca(&self, path: &Path) -> io::Result<()> {
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "the path names no file"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.tmp", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let written = std::fs::write(&tmp, &self.ca_pem).and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// Stops accepting and ends every connection.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MockExchange {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for MockExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockExchange")
            .field("addr", &self.addr)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_file_is_replaced_whole() {
        let mock = MockExchange::start(MockConfig::default()).unwrap();
        let dir = std::env::temp_dir().join(format!("mock-ca-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ca.pem");
        std::fs::write(&path, "stale").unwrap();
        mock.write_ca(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), mock.ca_pem());
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["ca.pem"], "no temporary file left");
        assert!(mock.write_ca(&dir.join("missing").join("ca.pem")).is_err());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
