//! An HTTP/1.1 response read incrementally (RFC 9112): the head parsed by `httparse`, the
//! body delimited by `Content-Length`, chunked transfer coding, or the end of the
//! connection, and bounded in size.

use std::time::{Duration, SystemTime};

/// Largest response head accepted.
const MAX_HEAD: usize = 64 << 10;
/// Longest chunk-size line accepted, extensions and CRLF included (RFC 9112 §7.1 sets no
/// limit; a size in hex needs at most 16 digits).
pub const MAX_CHUNK_LINE: usize = 4 << 10;
/// Headers accepted in a response head.
const MAX_HEADERS: usize = 100;

/// Why a response cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Not a valid HTTP/1.1 response.
    #[error("malformed HTTP response: {0}")]
    Malformed(String),
    /// The head or the body is larger than allowed.
    #[error("HTTP response larger than {0} bytes")]
    TooLarge(usize),
    /// The connection ended before the response was complete.
    #[error("the server closed the connection before the response was complete")]
    Truncated,
}

/// The parts of a response head a client acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// `Retry-After` (RFC 9110 §10.2.3: seconds or an HTTP date), sent by Binance with 429
    /// and 418.
    pub retry_after: Option<Duration>,
    /// `X-MBX-USED-WEIGHT-1M`: the request weight Binance counted for this IP in the current
    /// minute.
    pub used_weight: Option<u32>,
    /// Whether the connection stays open for another request (HTTP/1.1 without
    /// `Connection: close`, and a body not delimited by the end of the connection).
    pub keep_alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Head,
    Length(usize),
    ChunkSize,
    ChunkData(usize),
    ChunkEnd,
    Trailers,
    UntilClose,
    Done,
}

/// One response read from the bytes of a connection; see the [module docs](self).
#[derive(Debug)]
pub struct ResponseReader {
    pending: Vec<u8>,
    head: Option<Head>,
    body: Vec<u8>,
    state: Body,
    max_body: usize,
    received: bool,
    /// Bytes of the current chunk-size or trailer line already searched for its CRLF: a
    /// line arriving in pieces is scanned once, not again with every piece.
    scanned: usize,
}

impl ResponseReader {
    /// A reader accepting bodies up to `max_body` bytes.
    pub fn new(max_body: usize) -> ResponseReader {
        ResponseReader {
            pending: Vec::new(),
            head: None,
            body: Vec::new(),
            state: Body::Head,
            max_body,
            received: false,
            scanned: 0,
        }
    }

    /// Forgets the response (keeps the buffers) to read the next one.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.body.clear();
        self.head = None;
        self.state = Body::Head;
        self.received = false;
        self.scanned = 0;
    }

    /// True once any byte of the response arrived.
    pub fn received_any(&self) -> bool {
        self.received
    }

    /// The head, once complete (interim 1xx responses are skipped).
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// The body received so far (all of it once [`is_complete`](Self::is_complete)).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// True once the whole response was read.
    pub fn is_complete(&self) -> bool {
        self.state == Body::Done
    }

    /// True when bytes beyond the complete response arrived (no request was pipelined: the
    /// connection cannot be trusted for another one).
    pub fn has_excess(&self) -> bool {
        self.is_complete() && !self.pending.is_empty()
    }

    /// The connection ended cleanly: completes a body delimited by it.
    pub fn end_of_stream(&mut self) -> Result<(), HttpError> {
        match self.state {
            Body::UntilClose | Body::Done => {
                self.state = Body::Done;
                Ok(())
            }
            _ => Err(HttpError::Truncated),
        }
    }

    /// Takes the next bytes of the connection; `Ok(true)` once the response is complete.
    pub fn feed(&mut self, data: &[u8]) -> Result<bool, HttpError> {
        self.received |= !data.is_empty();
        self.pending.extend_from_slice(data);
        let mut pos = 0;
        let result = self.parse(&mut pos);
        self.pending.drain(..pos);
        result.map(|()| self.is_complete())
    }

    fn parse(&mut self, pos: &mut usize) -> Result<(), HttpError> {
        loop {
            let rest = &self.pending[*pos..];
            match self.state {
                Body::Head => {
                    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    let mut head = httparse::Response::new(&mut headers);
                    match head.parse(rest) {
                        Ok(httparse::Status::Complete(n)) => {
                            *pos += n;
                            if let Some((h, body)) = parse_head(&head)? {
                                if matches!(body, Body::Length(n) if n > self.max_body) {
                                    return Err(HttpError::TooLarge(self.max_body));
                                }
                                self.head = Some(h);
                                self.state = body;
                            }
                        }
                        Ok(httparse::Status::Partial) if rest.len() > MAX_HEAD => {
                            return Err(HttpError::TooLarge(MAX_HEAD))
                        }
                        Ok(httparse::Status::Partial) => return Ok(()),
                        Err(e) => return Err(HttpError::Malformed(e.to_string())),
                    }
                }
                Body::Length(0) => self.state = Body::Done,
                Body::Length(n) => {
                    let take = n.min(rest.len());
                    if take == 0 {
                        return Ok(());
                    }
                    self.take_body(*pos, take)?;
                    *pos += take;
                    self.state = Body::Length(n - take);
                }
                Body::UntilClose => {
                    let take = rest.len();
                    self.take_body(*pos, take)?;
                    *pos += take;
                    return Ok(());
                }
                Body::ChunkSize => {
                    let Some(end) = line_end(rest, &mut self.scanned) else {
                        if rest.len() > MAX_CHUNK_LINE {
                            return Err(chunk_line_too_long());
                        }
                        return Ok(());
                    };
                    if end + 2 > MAX_CHUNK_LINE {
                        return Err(chunk_line_too_long());
                    }
                    match httparse::parse_chunk_size(&rest[..end + 2]) {
                        Ok(httparse::Status::Complete((n, size))) => {
                            *pos += n;
                            self.state = match usize::try_from(size) {
                                Ok(0) => Body::Trailers,
                                Ok(size) => Body::ChunkData(size),
                                Err(_) => return Err(HttpError::TooLarge(self.max_body)),
                            };
                        }
                        _ => return Err(HttpError::Malformed("bad chunk size".into())),
                    }
                }
                Body::ChunkData(n) => {
                    let take = n.min(rest.len());
                    if take == 0 {
                        return Ok(());
                    }
                    self.take_body(*pos, take)?;
                    *pos += take;
                    self.state = if take == n {
                        Body::ChunkEnd
                    } else {
                        Body::ChunkData(n - take)
                    };
                }
                Body::ChunkEnd => {
                    if rest.len() < 2 {
                        return Ok(());
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(HttpError::Malformed("no CRLF after a chunk".into()));
                    }
                    *pos += 2;
                    self.state = Body::ChunkSize;
                }
                Body::Trailers => {
                    let Some(end) = line_end(rest, &mut self.scanned) else {
                        if rest.len() > MAX_HEAD {
                            return Err(HttpError::TooLarge(MAX_HEAD));
                        }
                        return Ok(());
                    };
                    *pos += end + 2;
                    if end == 0 {
                        self.state = Body::Done;
                    }
                }
                Body::Done => return Ok(()),
            }
        }
    }

    fn take_body(&mut self, at: usize, n: usize) -> Result<(), HttpError> {
        if self.body.len() + n > self.max_body {
            return Err(HttpError::TooLarge(self.max_body));
        }
        self.body.extend_from_slice(&self.pending[at..at + n]);
        Ok(())
    }
}

/// Where the line at the start of `rest` ends (its CRLF). `scanned` bytes were searched
/// before and are not searched again; it is updated for the next call (0 once found).
fn line_end(rest: &[u8], scanned: &mut usize) -> Option<usize> {
    // A CR at the end of the bytes searched may pair with an LF arriving now.
    let from = scanned.saturating_sub(1).min(rest.len());
    match rest[from..].windows(2).position(|w| w == b"\r\n") {
        Some(i) => {
            *scanned = 0;
            Some(from + i)
        }
        None => {
            *scanned = rest.len();
            None
        }
    }
}

fn chunk_line_too_long() -> HttpError {
    HttpError::Malformed(format!(
        "chunk size line longer than {MAX_CHUNK_LINE} bytes"
    ))
}

/// The head's status and headers, and how the body is delimited (RFC 9112 §6.3); `None` for
/// an interim 1xx response (the real one follows).
fn parse_head(head: &httparse::Response<'_, '_>) -> Result<Option<(Head, Body)>, HttpError> {
    let status = head.code.unwrap_or(0);
    if (100..200).contains(&status) {
        return Ok(None);
    }
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = head.version == Some(0);
    let mut retry_after = None;
    let mut used_weight = None;
    for h in head.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        let name = h.name;
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<usize>()
                .ok()
                .filter(|_| !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| HttpError::Malformed(format!("bad Content-Length `{value}`")))?;
            if length.is_some_and(|l| l != n) {
                return Err(HttpError::Malformed("conflicting Content-Length".into()));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && head.version == Some(0) {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("retry-after") {
            retry_after = crate::feed::parse_retry_after(value, SystemTime::now());
        } else if name.eq_ignore_ascii_case("x-mbx-used-weight-1m") {
            used_weight = value.parse().ok();
        }
    }
    let body = if status == 204 || status == 304 {
        Body::Done
    } else if chunked {
        Body::ChunkSize
    } else if let Some(n) = length {
        Body::Length(n)
    } else {
        close = true;
        Body::UntilClose
    };
    let head = Head {
        status,
        retry_after,
        used_weight,
        keep_alive: !close,
    };
    Ok(Some((head, body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(chunks: &[&[u8]]) -> Result<ResponseReader, HttpError> {
        let mut r = ResponseReader::new(1 << 20);
        for c in chunks {
            r.feed(c)?;
        }
        Ok(r)
    }

    #[test]
    fn content_length_keep_alive_and_binance_headers() {
        let resp = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nX-MBX-USED-WEIGHT-1M: 6010\r\nContent-Length: 5\r\n\r\nhello";
        // Byte by byte: the same result.
        let chunks: Vec<&[u8]> = resp.chunks(1).collect();
        let r = read_all(&chunks).unwrap();
        assert!(r.is_complete() && !r.has_excess());
        assert_eq!(
            r.head(),
            Some(&Head {
                status: 429,
                retry_after: Some(Duration::from_secs(1)),
                used_weight: Some(6010),
                keep_alive: true,
            })
        );
        assert_eq!(r.body(), b"hello");
        let r = read_all(&[b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"])
            .unwrap();
        assert!(r.is_complete() && !r.head().unwrap().keep_alive);
        let r = read_all(&[b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"]).unwrap();
        assert!(!r.head().unwrap().keep_alive);
    }

    #[test]
    fn chunked_interim_and_until_close() {
        let r = read_all(&[
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n",
        ])
        .unwrap();
        assert!(r.is_complete());
        assert_eq!(
            (r.head().unwrap().status, r.body()),
            (200, &b"wikipedia"[..])
        );
        let mut r = read_all(&[b"HTTP/1.1 200 OK\r\n\r\nuntil the end"]).unwrap();
        assert!(!r.is_complete() && !r.head().unwrap().keep_alive);
        r.end_of_stream().unwrap();
        assert_eq!(r.body(), b"until the end");
        r.reset();
        assert!(r.head().is_none() && !r.received_any());
    }

    /// A chunk-size line without an end (extensions that never stop) is refused at 4 KiB
    /// instead of being buffered and parsed again with every piece; lines split anywhere,
    /// CRLF included, still parse.
    #[test]
    fn chunk_size_lines_are_bounded() {
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut r = ResponseReader::new(1 << 20);
        r.feed(head).unwrap();
        r.feed(b"5;ext=").unwrap();
        let mut fed = 6;
        let mut err = None;
        while err.is_none() && fed < 4 * MAX_CHUNK_LINE {
            match r.feed(b"x") {
                Ok(false) => fed += 1,
                Ok(true) => panic!("complete"),
                Err(e) => err = Some(e),
            }
        }
        assert_eq!(
            err,
            Some(HttpError::Malformed(
                "chunk size line longer than 4096 bytes".into()
            ))
        );
        assert_eq!(fed, MAX_CHUNK_LINE);
        assert!(r.scanned <= MAX_CHUNK_LINE + 1);
        // Ended, but too long.
        let mut r = ResponseReader::new(1 << 20);
        r.feed(head).unwrap();
        let mut long = b"5;".to_vec();
        long.resize(MAX_CHUNK_LINE - 1, b'x');
        long.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        assert_eq!(r.feed(&long), Err(chunk_line_too_long()));
        // Just within the limit, byte by byte (the CRLF split too): the body.
        let mut ok = head.to_vec();
        let mut line = b"5;".to_vec();
        line.resize(MAX_CHUNK_LINE - 2, b'x');
        ok.extend_from_slice(&line);
        ok.extend_from_slice(b"\r\nhello\r\n0\r\nT: 1\r\n\r\n");
        let chunks: Vec<&[u8]> = ok.chunks(1).collect();
        let r = read_all(&chunks).unwrap();
        assert!(r.is_complete() && !r.has_excess());
        assert_eq!(r.body(), b"hello");
    }

    #[test]
    fn hostile_responses_are_errors() {
        let cases: &[(&[u8], HttpError)] = &[
            (
                b"NOT HTTP\r\n\r\n",
                HttpError::Malformed("invalid HTTP version".into()),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                HttpError::Malformed("conflicting Content-Length".into()),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                HttpError::Malformed("bad Content-Length `-1`".into()),
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                HttpError::Malformed("bad chunk size".into()),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\nabc",
                HttpError::TooLarge(16),
            ),
        ];
        for (bytes, want) in cases {
            let mut r = ResponseReader::new(16);
            let got = r.feed(bytes).unwrap_err();
            assert_eq!(&got, want, "{:?}", String::from_utf8_lossy(bytes));
        }
        let mut r = ResponseReader::new(16);
        r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            .unwrap();
        assert_eq!(r.end_of_stream(), Err(HttpError::Truncated));
        let mut r = ResponseReader::new(16);
        let huge = vec![b'a'; MAX_HEAD + 10];
        r.feed(b"HTTP/1.1 200 OK\r\nX: ").unwrap();
        assert_eq!(r.feed(&huge), Err(HttpError::TooLarge(MAX_HEAD)));
        let mut r = ResponseReader::new(16);
        r.feed(b"HTTP/1.1 204 No Content\r\n\r\nextra").unwrap();
        assert!(r.has_excess());
    }
}
