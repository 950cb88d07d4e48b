//! The REST side, on the same port as the streams: `GET /api/v3/depth?symbol=S&limit=L`
//! answered from the mock's books ([`crate::book`]), over HTTP/1.1 keep-alive, with Binance's
//! answers and headers (error bodies `{"code":...,"msg":...}`, `X-MBX-USED-WEIGHT-1M`,
//! `Retry-After` with 429 and 418) and the REST faults.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read, Write};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::book::MockBook;
use crate::config::{Faults, MockConfig};
use crate::server::{DepthRequest, MockStats};

/// Largest request head read.
const MAX_HEAD: usize = 16 << 10;

/// What the REST side reads and answers from.
pub(crate) struct Rest {
    pub(crate) config: MockConfig,
    pub(crate) faults: Faults,
    pub(crate) stats: Arc<MockStats>,
    /// The streams' sequence numbers (diff depth under `SYMBOL@depth`).
    pub(crate) sequences: Arc<Mutex<BTreeMap<String, u64>>>,
    /// Each symbol's book, advanced as snapshots are asked for.
    pub(crate) books: Arc<Mutex<BTreeMap<String, MockBook>>>,
}

/// The sequence key of `symbol`'s diff depth streams (all speeds share the market).
pub(crate) fn depth_key(symbol: &str) -> String {
    format!("{}@depth", symbol.to_uppercase())
}

/// Reads a request head (up to the blank line) from `stream` into `buf`; returns its length,
/// or `None` when the peer closed first.
pub(crate) fn read_head(stream: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some(end + 4));
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                "request head too large",
            ));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// True when the head asks for a WebSocket upgrade.
pub(crate) fn is_upgrade(head: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    if req.parse(head).is_err() {
        return false;
    }
    req.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("upgrade")
            && std::str::from_utf8(h.value)
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
    })
}

impl Rest {
    /// Serves requests on `stream` until the client closes it or asks to; `buf` holds what
    /// was read already (the first request's head at least).
    pub(crate) fn serve(
        &self,
        stream: &mut (impl Read + Write),
        mut buf: Vec<u8>,
    ) -> io::Result<()> {
        self.stats.rest_connections.fetch_add(1, Ordering::Relaxed);
        loop {
            let Some(len) = read_head(stream, &mut buf)? else {
                return Ok(());
            };
            let head: Vec<u8> = buf.drain(..len).collect();
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            let (method, target, close) = match req.parse(&head) {
                Ok(httparse::Status::Complete(_)) => {
                    let close = req.version == Some(0)
                        || req.headers.iter().any(|h| {
                            h.name.eq_ignore_ascii_case("connection")
                                && h.value.eq_ignore_ascii_case(b"close")
                        });
                    (
                        req.method.unwrap_or("").to_owned(),
                        req.path.unwrap_or("").to_owned(),
                        close,
                    )
                }
                _ => {
                    respond(
                        stream,
                        400,
                        &[],
                        r#"{"code":-1,"msg":"Malformed request."}"#,
                        0,
                    )?;
                    return Ok(());
                }
            };
            self.stats.rest_requests.fetch_add(1, Ordering::Relaxed);
            if method != "GET" {
                respond(
                    stream,
                    405,
                    &[],
                    r#"{"code":-1,"msg":"Method not allowed."}"#,
                    0,
                )?;
                return Ok(());
            }
            let (status, extra, body, weight) = self.route(&target);
            respond(stream, status, &extra, &body, weight)?;
            if close {
                return Ok(());
            }
        }
    }

    /// The answer to `GET target`: status, extra headers, body, and the weight counted in
    /// the last minute.
    fn route(&self, target: &str) -> (u16, Vec<(&'static str, String)>, String, u32) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        // A path prefix (as behind a reverse proxy) is ignored.
        if !path.ends_with("/api/v3/depth") {
            return (404, vec![], r#"{"code":-1,"msg":"Not found."}"#.into(), 0);
        }
        let params: Vec<(String, String)> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| {
                let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
                (k.to_owned(), v.into_owned())
            })
            .collect();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let symbol = param("symbol").unwrap_or("").to_owned();
        let limit = param("limit").map_or(Ok(100), |l| l.parse::<usize>());
        // Binance's request weight for the limit asked.
        let weight = match limit {
            Ok(0..=100) | Err(_) => 5,
            Ok(101..=500) => 25,
            Ok(501..=1000) => 50,
            Ok(_) => 250,
        };
        let used = self.spend(weight);
        let number = self
            .stats
            .depth_request_count
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        let answer = |status: u16, extra: Vec<(&'static str, String)>, body: String, id| {
            self.stats
                .depth_requests
                .lock()
                .expect("depth log")
                .push(DepthRequest {
                    at: Instant::now(),
                    symbol: symbol.clone(),
                    status,
                    last_update_id: id,
                });
            (status, extra, body, used)
        };
        let f = &self.faults;
        if let Some(status) = f
            .rest_status
            .filter(|_| f.rest_status_first.is_none_or(|n| number <= n))
        {
            let mut extra = vec![];
            if let (429 | 418, Some(secs)) = (status, f.retry_after) {
                extra.push(("Retry-After", secs.to_string()));
            }
            let body = match status {
                429 => {
                    r#"{"code":-1003,"msg":"Too many requests; current limit of IP is 6000 requests per minute."}"#
                }
                418 => r#"{"code":-1003,"msg":"Way too many requests; IP banned."}"#,
                500..=599 => {
                    r#"{"code":-1000,"msg":"An unknown error occurred while processing the request."}"#
                }
                _ => r#"{"code":-1,"msg":"Rejected by mock_exchange."}"#,
            };
            return answer(status, extra, body.into(), None);
        }
        if symbol.is_empty() {
            let body = r#"{"code":-1102,"msg":"Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."}"#;
            return answer(400, vec![], body.into(), None);
        }
        let Ok(limit) = limit else {
            let body = r#"{"code":-1100,"msg":"Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."}"#;
            return answer(400, vec![], body.into(), None);
        };
        if !self.config.lists(&symbol) {
            return answer(
                400,
                vec![],
                r#"{"code":-1121,"msg":"Invalid symbol."}"#.into(),
                None,
            );
        }
        let seq = if f.stale_snapshots.is_some_and(|n| number <= n) {
            0
        } else {
            let seqs = self.sequences.lock().expect("sequence lock");
            seqs.get(&depth_key(&symbol)).copied().unwrap_or(0)
        };
        let mut books = self.books.lock().expect("book lock");
        let book = books
            .entry(symbol.to_uppercase())
            .or_insert_with(|| MockBook::new(&symbol));
        let mut body = String::with_capacity(4096);
        if seq >= book.seq() {
            book.advance_to(seq);
            book.snapshot_json(limit.min(5000), &mut body);
        } else {
            MockBook::at_seq(&symbol, seq).snapshot_json(limit.min(5000), &mut body);
        }
        answer(200, vec![], body, Some(crate::book::final_update_id(seq)))
    }

    /// Counts `weight` now; returns the weight of the last minute, this request included.
    fn spend(&self, weight: u32) -> u32 {
        let mut log = self.stats.rest_weight.lock().expect("weight log");
        let now = Instant::now();
        log.retain(|(t, _)| now.duration_since(*t) < Duration::from_secs(60));
        log.push((now, weight));
        log.iter().map(|(_, w)| w).sum()
    }
}

fn respond(
    stream: &mut impl Write,
    status: u16,
    extra: &[(&'static str, String)],
    body: &str,
    used_weight: u32,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        418 => "I'm a teapot",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json;charset=UTF-8\r\n\
         Content-Length: {}\r\nX-MBX-USED-WEIGHT-1M: {used_weight}\r\n",
        body.len()
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}
