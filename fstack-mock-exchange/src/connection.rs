//! One client connection: the WebSocket upgrade (or its rejection), the streams the URL names,
//! control requests, pings, the event schedule and fault injection.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use crate::book::MockBook;
use crate::config::{Faults, MockConfig};
use crate::events::{event_json, parse_stream, Kind};
use crate::rest::{depth_key, is_upgrade, read_head, Rest};
use crate::server::MockStats;

/// Wall-clock time in ms or µs since the Unix epoch.
fn now_since_epoch(micros: bool) -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    if micros {
        d.as_micros() as u64
    } else {
        d.as_millis() as u64
    }
}

type TlsStream = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;
type Tls = Prefixed<TlsStream>;

/// A stream that first hands out bytes already read from it (the request head read to tell
/// a WebSocket upgrade from a REST request), then reads on.
pub(crate) struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    pub(crate) inner: S,
}

impl<S: Read> Read for Prefixed<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos < self.prefix.len() {
            let n = buf.len().min(self.prefix.len() - self.pos);
            buf[..n].copy_from_slice(&self.prefix[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

impl<S: Write> Write for Prefixed<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct Subscription {
    name: String,
    /// The key of the stream's sequence numbers: the name, or for diff depth the symbol's
    /// market (`SYMBOL@depth`, shared by every speed and by the REST snapshot).
    key: String,
    symbol: String,
    kind: Kind,
    /// An unlisted symbol: nothing is ever sent.
    silent: bool,
    next_due: Instant,
    /// Next sequence number this connection sends for the stream.
    cursor: u64,
}

/// A connection's settings and shared state, moved to the thread that serves it.
pub(crate) struct Connection {
    pub(crate) tls: Arc<rustls::ServerConfig>,
    pub(crate) config: MockConfig,
    pub(crate) faults: Faults,
    pub(crate) stats: Arc<MockStats>,
    pub(crate) stop: Arc<AtomicBool>,
    /// Highest sequence number sent per stream name, across connections. Like an exchange
    /// fanning one publication out to every subscriber, concurrent connections send the same
    /// numbers; a new subscription continues after the highest number sent so far.
    pub(crate) sequences: Arc<Mutex<BTreeMap<String, u64>>>,
    /// The books the REST side serves snapshots of.
    pub(crate) books: Arc<Mutex<BTreeMap<String, MockBook>>>,
}

impl Connection {
    /// Serves `sock` until the client leaves, a fault ends it or the mock stops.
    pub(crate) fn serve(self, sock: TcpStream) {
        let _ = self.try_serve(sock);
    }

    // The handshake callback's error type is tungstenite's, not ours to shrink.
    #[allow(clippy::result_large_err)]
    fn try_serve(self, sock: TcpStream) -> Result<(), Box<dyn std::error::Error>> {
        sock.set_nonblocking(false)?;
        sock.set_nodelay(true)?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))?;
        let conn = rustls::ServerConnection::new(self.tls.clone())?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        // The same port serves the streams (WebSocket upgrades) and the REST API.
        let mut head = Vec::new();
        if read_head(&mut tls, &mut head)?.is_none() {
            return Ok(());
        }
        if !is_upgrade(&head) {
            let rest = Rest {
                config: self.config.clone(),
                faults: self.faults.clone(),
                stats: self.stats.clone(),
                sequences: self.sequences.clone(),
                books: self.books.clone(),
            };
            rest.serve(&mut tls, head)?;
            return Ok(());
        }
        let tls = Prefixed {
            prefix: head,
            pos: 0,
            inner: tls,
        };
        let uri = Arc::new(Mutex::new(String::new()));
        let ws_config = WebSocketConfig::default().max_message_size(Some(64 << 10));
        let seen = uri.clone();
        let faults = self.faults.clone();
        let stats = self.stats.clone();
        let mut ws = tungstenite::accept_hdr_with_config(
            tls,
            move |req: &Request, resp: Response| {
                *seen.lock().expect("uri lock") = req.uri().to_string();
                stats
                    .request_targets
                    .lock()
                    .expect("target log")
                    .push(req.uri().to_string());
                let attempt = {
                    let mut times = stats.upgrade_times.lock().expect("upgrade log");
                    times.push(Instant::now());
                    times.len() as u64
                };
                let reject = faults
                    .reject_upgrade
                    .filter(|_| faults.reject_first.is_none_or(|n| attempt <= n));
                match reject {
                    Some(status) => {
                        stats.rejected_upgrades.fetch_add(1, Ordering::Relaxed);
                        let mut err = tungstenite::handshake::server::ErrorResponse::new(Some(
                            "rejected by mock_exchange".to_string(),
                        ));
                        *err.status_mut() = tungstenite::http::StatusCode::from_u16(status)
                            .unwrap_or(tungstenite::http::StatusCode::BAD_REQUEST);
                        if let Some(secs) = faults.retry_after {
                            err.headers_mut().insert(
                                tungstenite::http::header::RETRY_AFTER,
                                tungstenite::http::HeaderValue::from(secs),
                            );
                        }
                        Err(err)
                    }
                    None => Ok(resp),
                }
            },
            Some(ws_config),
        )?;
        // Stream names with non-ASCII symbols arrive percent-encoded (UTF-8).
        let target = percent_encoding::percent_decode_str(&uri.lock().expect("uri lock"))
            .decode_utf8_lossy()
            .into_owned();
        ws.get_ref().inner.sock.set_nonblocking(true)?;
        self.stats.connections.fetch_add(1, Ordering::Relaxed);

        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        // A path prefix (as behind a reverse proxy) before `/ws` or `/stream` is ignored.
        let path = ["/ws/", "/ws", "/stream"]
            .iter()
            .find_map(|p| path.find(p).map(|i| &path[i..]))
            .unwrap_or(path);
        let params: Vec<(&str, &str)> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let micros = params
            .iter()
            .any(|&(k, v)| k == "timeUnit" && v.eq_ignore_ascii_case("microsecond"));
        let combined = path == "/stream";
        let mut subs = Vec::new();
        let initial: Vec<&str> = if combined {
            params
                .iter()
                .filter(|(k, _)| *k == "streams")
                .flat_map(|(_, v)| v.split('/'))
                .collect()
        } else {
            path.strip_prefix("/ws/")
                .map(|s| vec![s])
                .unwrap_or_default()
        };
        for name in initial.into_iter().filter(|n| !n.is_empty()) {
            match parse_stream(name) {
                Some((symbol, kind)) => subs.push(self.subscription(name, symbol, kind)),
                None => {
                    // Binance answers an unknown stream in the URL with an HTTP 400; here the
                    // upgrade has happened, so close with a policy error.
                    let _ = ws.close(Some(tungstenite::protocol::CloseFrame {
                        code: tungstenite::protocol::frame::coding::CloseCode::Policy,
                        reason: format!("invalid stream {name}").into(),
                    }));
                    let _ = ws.flush();
                    return Ok(());
                }
            }
        }
        self.stream_events(&mut ws, subs, combined, micros)
    }

    fn subscription(&self, name: &str, symbol: String, kind: Kind) -> Subscription {
        let key = match kind {
            Kind::DiffDepth => depth_key(&symbol),
            _ => name.to_string(),
        };
        let cursor = self
            .sequences
            .lock()
            .expect("sequence lock")
            .get(&key)
            .map_or(1, |s| s + 1);
        Subscription {
            name: name.to_string(),
            key,
            silent: !self.config.lists(&symbol),
            symbol,
            kind,
            next_due: Instant::now(),
            cursor,
        }
    }

    fn next_seq(&self, sub: &mut Subscription) -> u64 {
        let seq = sub.cursor;
        sub.cursor += 1;
        let mut seqs = self.sequences.lock().expect("sequence lock");
        let top = seqs.entry(sub.key.clone()).or_insert(0);
        *top = (*top).max(seq);
        seq
    }

    fn stream_events(
        &self,
        ws: &mut WebSocket<Tls>,
        mut subs: Vec<Subscription>,
        combined: bool,
        micros: bool,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let period =
            (self.config.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / self.config.rate));
        let mut sent = 0u64;
        let mut diffs = 0u64;
        let mut last_ping = Instant::now();
        let mut ping_payload = 0u64;
        let mut stalled = false;
        let mut body = String::with_capacity(1024);
        let mut frame = String::with_capacity(1100);
        let mut write_blocked = false;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                let _ = ws.close(None);
                let _ = ws.flush();
                return Ok(());
            }
            if stalled {
                // Hold the connection open without reading or writing anything.
                thread::sleep(Duration::from_millis(20));
                continue;
            }
            // Client messages: control requests, pongs, close.
            loop {
                match ws.read() {
                    Ok(Message::Text(t)) => self.control(ws, &mut subs, t.as_str())?,
                    Ok(Message::Pong(p)) => {
                        if p.as_ref() == ping_payload.to_string().as_bytes() {
                            self.stats.pongs.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(Message::Close(_)) => {
                        self.stats.client_closes.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(tungstenite::Error::ConnectionClosed)
                    | Err(tungstenite::Error::AlreadyClosed) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
            let now = Instant::now();
            if now.duration_since(last_ping) >= self.config.ping_interval {
                last_ping = now;
                ping_payload += 1;
                ws.write(Message::Ping(ping_payload.to_string().into_bytes().into()))?;
                self.stats.pings.fetch_add(1, Ordering::Relaxed);
            }
            // Market events that are due, unless the client is not keeping up (or the data
            // feed has "died" behind the live connection).
            let data_stalled = self.faults.data_stall_after.is_some_and(|n| sent >= n);
            if !write_blocked && !data_stalled {
                for sub in subs.iter_mut().filter(|s| !s.silent) {
                    let due = match period {
                        Some(p) => {
                            if sub.next_due > now {
                                continue;
                            }
                            sub.next_due += p;
                            if sub.next_due < now {
                                sub.next_due = now + p; // fell behind: skip, do not burst
                            }
                            true
                        }
                        None => true,
                    };
                    if !due {
                        continue;
                    }
                    let seq = self.next_seq(sub);
                    if sub.kind == Kind::DiffDepth {
                        diffs += 1;
                        if self.faults.skip_diff == Some(diffs) {
                            // Never sent: the market moved on without this connection.
                            self.stats.skipped_diffs.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    }
                    body.clear();
                    event_json(
                        &sub.symbol,
                        sub.kind,
                        seq,
                        now_since_epoch(micros),
                        &mut body,
                    );
                    let text = if combined {
                        frame.clear();
                        let _ = write!(frame, r#"{{"stream":"{}","data":{body}}}"#, sub.name);
                        &frame
                    } else {
                        &body
                    };
                    ws.write(Message::text(text.as_str()))?;
                    sent += 1;
                    self.stats.events.fetch_add(1, Ordering::Relaxed);
                    if self.inject_faults(ws, sent, &mut stalled)? {
                        return Ok(());
                    }
                    if stalled {
                        break;
                    }
                }
            }
            match ws.flush() {
                Ok(()) => write_blocked = false,
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    write_blocked = true
                }
                Err(e) => return Err(e.into()),
            }
            if period.is_some() || write_blocked || subs.is_empty() || data_stalled {
                thread::sleep(Duration::from_micros(200));
            }
        }
    }

    /// Applies the configured faults after `sent` events; true when the connection was dropped.
    fn inject_faults(
        &self,
        ws: &mut WebSocket<Tls>,
        sent: u64,
        stalled: &mut bool,
    ) -> Result<bool, Box<dyn std::error::Error>> {
        let f = &self.faults;
        if f.malformed_every.is_some_and(|n| sent.is_multiple_of(n)) {
            ws.write(Message::text(r#"{"e":"24hrTicker","E":17000"#))?;
        }
        if f.oversize_every.is_some_and(|n| sent.is_multiple_of(n)) {
            let mut big = String::with_capacity(2 << 20);
            big.push_str(r#"{"e":"trade","pad":""#);
            big.extend(std::iter::repeat_n('x', 2 << 20));
            big.push_str("\"}");
            ws.write(Message::text(big))?;
        }
        if f.shutdown_notice_after == Some(sent) {
            ws.write(Message::text(format!(
                r#"{{"e":"serverShutdown","E":{}}}"#,
                now_since_epoch(false)
            )))?;
        }
        if f.drop_after == Some(sent) {
            let _ = ws.flush();
            let _ = ws.get_ref().inner.sock.shutdown(std::net::Shutdown::Both);
            return Ok(true);
        }
        if f.stall_after == Some(sent) {
            let _ = ws.flush();
            *stalled = true;
        }
        Ok(false)
    }

    fn control(
        &self,
        ws: &mut WebSocket<Tls>,
        subs: &mut Vec<Subscription>,
        text: &str,
    ) -> tungstenite::Result<()> {
        let reply = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => {
                let id = v.get("id").cloned().unwrap_or(serde_json::Value::Null);
                let params: Vec<String> = v
                    .get("params")
                    .and_then(|p| p.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                self.stats.control_requests.fetch_add(1, Ordering::Relaxed);
                if let Some(method) = v.get("method").and_then(|m| m.as_str()) {
                    self.stats
                        .control_log
                        .lock()
                        .expect("control log")
                        .push((method.to_owned(), params.clone()));
                }
                self.stats
                    .control_times
                    .lock()
                    .expect("control log")
                    .push(Instant::now());
                match v.get("method").and_then(|m| m.as_str()) {
                    Some("SUBSCRIBE") => {
                        let bad: Vec<&String> = params
                            .iter()
                            .filter(|p| parse_stream(p).is_none())
                            .collect();
                        if !bad.is_empty() {
                            serde_json::json!({"error": {"code": 2, "msg": format!("Invalid request: unknown stream {}", bad[0])}, "id": id})
                        } else {
                            for name in &params {
                                if !subs.iter().any(|s| &s.name == name) {
                                    let (symbol, kind) = parse_stream(name).expect("checked");
                                    subs.push(self.subscription(name, symbol, kind));
                                }
                            }
                            serde_json::json!({"result": null, "id": id})
                        }
                    }
                    Some("UNSUBSCRIBE") => {
                        subs.retain(|s| !params.contains(&s.name));
                        serde_json::json!({"result": null, "id": id})
                    }
                    Some("LIST_SUBSCRIPTIONS") => {
                        let names: Vec<&str> = subs.iter().map(|s| s.name.as_str()).collect();
                        serde_json::json!({"result": names, "id": id})
                    }
                    _ => {
                        serde_json::json!({"error": {"code": 2, "msg": "Invalid request: unknown method"}, "id": id})
                    }
                }
            }
            Err(_) => {
                serde_json::json!({"error": {"code": 3, "msg": "Invalid JSON: expected value"}, "id": null})
            }
        };
        ws.write(Message::text(reply.to_string()))
    }
}
