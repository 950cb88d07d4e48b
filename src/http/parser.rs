//! The request parser: heads through [`httparse`] with the checks of RFC 9112 that it leaves to
//! its caller, bodies framed by `Content-Length` or chunked (see the [module docs](crate::http)
//! for what is refused).

use super::{MAX_BODY, MAX_HEAD, MAX_HEADERS};

/// Longest chunk-size line (size and extensions) of a chunked body.
const MAX_CHUNK_LINE: usize = 1024;

/// What one complete request asks for, or why it is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// GET or HEAD; `close` when the client asked for (or its version implies) no keep-alive.
    Page {
        /// HEAD: headers only.
        head_only: bool,
        /// Close after answering.
        close: bool,
    },
    /// Another method: `405` (after its body was read), connection kept.
    MethodNotAllowed {
        /// Close after answering.
        close: bool,
    },
    /// Unparseable or ambiguous request: `400`, then close.
    Bad,
    /// Head (or trailer section) over [`MAX_HEAD`] bytes or [`MAX_HEADERS`] fields: `431`,
    /// then close.
    TooLarge,
    /// Body over [`MAX_BODY`] bytes: `413`, then close.
    ContentTooLarge,
    /// A transfer coding other than `chunked`: `501`, then close.
    NotImplemented,
    /// The head was not complete within the header timeout: `408`, then close.
    Timeout,
}

/// How the body of a request is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked,
}

/// Where a [`RequestParser`] is inside a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: expecting the trailer section and its final CRLF.
    Trailers,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Head,
    /// Reading (and dropping) a body; `request` is answered once it is complete.
    Length {
        request: Request,
        left: u64,
    },
    Chunked {
        request: Request,
        chunk: Chunk,
        total: u64,
    },
}

/// Incremental parser of the requests on one connection: heads through [`httparse`], bodies
/// framed by `Content-Length` or chunked and dropped. See the [module docs](crate::http) for
/// what is refused.
#[derive(Debug)]
pub struct RequestParser {
    state: State,
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser::new()
    }
}

impl RequestParser {
    /// A parser expecting a request head.
    pub fn new() -> RequestParser {
        RequestParser { state: State::Head }
    }

    /// True between requests or inside a request head (not inside a body).
    pub fn in_head(&self) -> bool {
        self.state == State::Head
    }

    /// Consumes bytes from the front of `buf` (the connection's unconsumed input): returns how
    /// many, and the request to answer once one is complete (or refused). `(0, None)` means it
    /// needs more input. After a request that closes the connection ([`respond`](super::respond)
    /// returns true)
    /// the parser must not be used again.
    pub fn advance(&mut self, buf: &[u8]) -> (usize, Option<Request>) {
        match std::mem::replace(&mut self.state, State::Head) {
            State::Head => self.head(buf),
            State::Length { request, left } => {
                let take = left.min(buf.len() as u64);
                let left = left - take;
                if left == 0 {
                    (take as usize, Some(request))
                } else {
                    self.state = State::Length { request, left };
                    (take as usize, None)
                }
            }
            State::Chunked {
                request,
                chunk,
                total,
            } => self.chunked(buf, request, chunk, total),
        }
    }

    fn head(&mut self, buf: &[u8]) -> (usize, Option<Request>) {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let used = match req.parse(buf) {
            Ok(httparse::Status::Complete(used)) => used,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return (buf.len(), Some(Request::TooLarge))
            }
            Ok(httparse::Status::Partial) => return (0, None),
            Err(httparse::Error::TooManyHeaders) => return (buf.len(), Some(Request::TooLarge)),
            Err(_) => return (buf.len(), Some(Request::Bad)),
        };
        if used > MAX_HEAD {
            return (buf.len(), Some(Request::TooLarge));
        }
        if has_bare_lf(&buf[..used]) {
            return (buf.len(), Some(Request::Bad));
        }
        match analyse(&req) {
            Err(refusal) => (buf.len(), Some(refusal)),
            Ok((request, None | Some(Body::Length(0)))) => (used, Some(request)),
            Ok((request, Some(Body::Length(left)))) => {
                self.state = State::Length { request, left };
                (used, None)
            }
            Ok((request, Some(Body::Chunked))) => {
                self.state = State::Chunked {
                    request,
                    chunk: Chunk::Size,
                    total: 0,
                };
                (used, None)
            }
        }
    }

    fn chunked(
        &mut self,
        buf: &[u8],
        request: Request,
        chunk: Chunk,
        total: u64,
    ) -> (usize, Option<Request>) {
        let refuse = |why: Request| (buf.len(), Some(why));
        let (used, chunk, total) = match chunk {
            Chunk::Size => match httparse::parse_chunk_size(buf) {
                Ok(httparse::Status::Complete((used, size))) => {
                    // httparse accepts an empty size ("\r\n" or ";ext") as 0 and any byte in
                    // extensions: RFC 9112 §7.1 wants 1*HEXDIG and no control characters.
                    let line = &buf[..used - 2];
                    if !buf[0].is_ascii_hexdigit() || line.iter().any(|&b| is_ctl(b)) {
                        return refuse(Request::Bad);
                    }
                    let total = total.saturating_add(size);
                    if total > MAX_BODY {
                        return refuse(Request::ContentTooLarge);
                    }
                    let next = if size == 0 {
                        Chunk::Trailers
                    } else {
                        Chunk::Data(size)
                    };
                    (used, next, total)
                }
                Ok(httparse::Status::Partial) if buf.len() > MAX_CHUNK_LINE => {
                    return refuse(Request::Bad)
                }
                Ok(httparse::Status::Partial) => (0, Chunk::Size, total),
                Err(_) => return refuse(Request::Bad),
            },
            Chunk::Data(left) => {
                let take = left.min(buf.len() as u64);
                let next = if take == left {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left - take)
                };
                (take as usize, next, total)
            }
            Chunk::DataEnd => match buf {
                [b'\r', b'\n', ..] => (2, Chunk::Size, total),
                [] | [b'\r'] => (0, Chunk::DataEnd, total),
                _ => return refuse(Request::Bad),
            },
            Chunk::Trailers => {
                let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
                match httparse::parse_headers(buf, &mut fields) {
                    Ok(httparse::Status::Complete((used, _))) => {
                        if used > MAX_HEAD {
                            return refuse(Request::TooLarge);
                        }
                        if has_bare_lf(&buf[..used]) {
                            return refuse(Request::Bad);
                        }
                        return (used, Some(request));
                    }
                    Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                        return refuse(Request::TooLarge)
                    }
                    Ok(httparse::Status::Partial) => (0, Chunk::Trailers, total),
                    Err(httparse::Error::TooManyHeaders) => return refuse(Request::TooLarge),
                    Err(_) => return refuse(Request::Bad),
                }
            }
        };
        self.state = State::Chunked {
            request,
            chunk,
            total,
        };
        (used, None)
    }
}

/// Control characters other than HTAB (RFC 5234 CTL).
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// An LF not preceded by CR (httparse accepts bare LF as a line end).
fn has_bare_lf(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
}

/// Splits a field value into its comma-separated list elements, trimmed of optional
/// whitespace, skipping empty ones (RFC 9110 §5.6.1).
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|e| e.trim_ascii())
        .filter(|e| !e.is_empty())
}

/// Decides what a complete, syntactically valid head asks for and how its body is framed.
fn analyse(req: &httparse::Request) -> Result<(Request, Option<Body>), Request> {
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(Request::Bad);
    };
    // origin-form, asterisk-form, and absolute-form, which servers must accept
    // (RFC 9112 §3.2.2); the page is the same for every target.
    let absolute = ["http://", "https://"].iter().any(|scheme| {
        target
            .get(..scheme.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(scheme))
    });
    if !target.is_ascii() || !target.starts_with('/') && target != "*" && !absolute {
        return Err(Request::Bad);
    }
    // Exactly one valid Host in HTTP/1.1, at most one in HTTP/1.0 (RFC 9112 §3.2: 400
    // otherwise).
    let mut hosts = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"));
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => return Err(Request::Bad),
        (None, None) if version == 1 => return Err(Request::Bad),
        (Some(host), None) if !valid_host(host.value) => return Err(Request::Bad),
        _ => {}
    }
    let mut close = version == 0;
    let mut content_length = None;
    let mut codings: Option<Vec<&[u8]>> = None;
    for field in req.headers.iter() {
        let name = field.name;
        if name.eq_ignore_ascii_case("connection") {
            for option in list_elements(field.value) {
                if option.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if option.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            // One field, one plain decimal: duplicates (even equal ones) and lists are refused.
            if content_length.is_some() {
                return Err(Request::Bad);
            }
            content_length = Some(parse_content_length(field.value).ok_or(Request::Bad)?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            codings
                .get_or_insert_with(Vec::new)
                .extend(list_elements(field.value));
        }
    }
    let body = match (codings, content_length) {
        (Some(_), Some(_)) => return Err(Request::Bad),
        (Some(codings), None) => {
            let Some((last, rest)) = codings.split_last() else {
                return Err(Request::Bad);
            };
            let chunked = |c: &&[u8]| c.eq_ignore_ascii_case(b"chunked");
            if version == 0 || !chunked(last) || rest.iter().any(chunked) {
                return Err(Request::Bad);
            }
            if !rest.is_empty() {
                return Err(Request::NotImplemented);
            }
            Some(Body::Chunked)
        }
        (None, Some(len)) if len > MAX_BODY => return Err(Request::ContentTooLarge),
        (None, Some(len)) => Some(Body::Length(len)),
        (None, None) => None,
    };
    let has_body = !matches!(body, None | Some(Body::Length(0)));
    let request = match method {
        "GET" | "HEAD" if has_body => return Err(Request::Bad),
        "GET" => Request::Page {
            head_only: false,
            close,
        },
        "HEAD" => Request::Page {
            head_only: true,
            close,
        },
        _ => Request::MethodNotAllowed { close },
    };
    Ok((request, body))
}

/// A Host value: `uri-host [ ":" port ]` (RFC 9110 §7.2), checked for what cannot be in one:
/// white space, controls, `/`, `@`, `?`, `#`, or anything not ASCII.
fn valid_host(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b.is_ascii_graphic() && !matches!(b, b'/' | b'@' | b'?' | b'#' | b'\\'))
}

/// `1*DIGIT`, within u64.
fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Parses one request (head and body) from the front of `buf`: `Some((request, bytes
/// consumed))`, or `None` while it is incomplete. A convenience over [`RequestParser`].
pub fn parse_request(buf: &[u8]) -> Option<(Request, usize)> {
    let mut parser = RequestParser::new();
    let mut used = 0;
    loop {
        let (n, request) = parser.advance(&buf[used..]);
        used += n;
        if let Some(request) = request {
            return Some((request, used));
        }
        if n == 0 {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keep_alive_and_close() {
        let (r, n) = parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET").unwrap();
        assert_eq!(
            r,
            Request::Page {
                head_only: false,
                close: false
            }
        );
        assert_eq!(n, 27);
        let (r, _) =
            parse_request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        assert_eq!(
            r,
            Request::Page {
                head_only: false,
                close: true
            }
        );
        let (r, _) = parse_request(b"HEAD /x HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(
            r,
            Request::Page {
                head_only: true,
                close: true
            }
        );
        let (r, _) = parse_request(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
        assert_eq!(
            r,
            Request::Page {
                head_only: false,
                close: false
            }
        );
        let (r, _) = parse_request(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            r,
            Request::Page {
                head_only: false,
                close: true
            }
        );
    }

    #[test]
    fn incomplete_waits_and_oversize_is_rejected() {
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(parse_request(b""), None);
        let big = vec![b'a'; MAX_HEAD + 1];
        assert_eq!(parse_request(&big).unwrap().0, Request::TooLarge);
        let mut many = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        assert_eq!(parse_request(&many).unwrap().0, Request::TooLarge);
    }

    #[test]
    fn rejects_garbage_and_other_methods() {
        for bad in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET noslash HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            assert_eq!(
                parse_request(bad).unwrap().0,
                Request::Bad,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let (r, _) = parse_request(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(r, Request::MethodNotAllowed { close: false });
    }

    /// Every way of making the head ambiguous is refused as a whole with 400.
    #[test]
    fn strict_heads_per_rfc_9112() {
        let smuggled = b"GET /smuggle1 HTTP/1.1\r\nHost: xy\r\n\r\n";
        assert_eq!(smuggled.len(), 36);
        for head in [
            // Whitespace between the field name and the colon (§5.1).
            &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 36\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 36\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length\t: 36\r\n\r\n",
            // obs-fold (§5.2), also as the first field and with an empty value before it.
            b"POST / HTTP/1.1\r\nHost: x\r\nX-Pad: a\r\n Content-Length: 36\r\n\r\n",
            b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad:\r\n\tb\r\n\r\n",
            // Characters outside token in the name; control characters in the value.
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad(name): 1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n[Content-Length]: 36\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent\x00Length: 36\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n",
            // Bare CR and bare LF.
            b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
            b"GET / HTTP/1.1\nHost: x\n\n",
            b"GET / HTTP/1.1\r\nHost: x\n\r\n",
            // Content-Length: duplicates, conflicts, lists, signs, garbage, overflow.
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 36\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 36\r\nContent-Length: 36\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 36, 36\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +36\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x24\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            // Content-Length with Transfer-Encoding (§6.3), in either order.
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 36\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
            // Transfer-Encoding whose length cannot be determined, or in HTTP/1.0.
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;a=b\r\n\r\n",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            // GET and HEAD with a body.
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx",
            // Request line: extra spaces, absolute-form, non-ASCII target.
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 \r\n\r\n",
            // absolute-form is accepted (RFC 9112 §3.2.2), but HTTP/1.1 still needs Host.
            b"GET http://x/ HTTP/1.1\r\n\r\n",
            // Host: missing in HTTP/1.1, twice, or not a host (RFC 9112 §3.2).
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
            b"GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            let mut input = head.to_vec();
            input.extend_from_slice(smuggled);
            let (r, used) = parse_request(&input).unwrap();
            assert_eq!(r, Request::Bad, "{:?}", String::from_utf8_lossy(head));
            // Everything is consumed: the connection closes, nothing more is parsed.
            assert_eq!(used, input.len(), "{:?}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn chunked_bodies_are_framed_exactly() {
        let body = b"5;name=value\r\nGET /\r\n1C\r\nGET /smuggled HTTP/1.1\r\n\r\nxx\r\n0\r\n\
                     Trailer: yes\r\n\r\n";
        let mut input =
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n".to_vec();
        let head = input.len();
        input.extend_from_slice(body);
        let next = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        input.extend_from_slice(next);
        let (r, used) = parse_request(&input).unwrap();
        assert_eq!(r, Request::MethodNotAllowed { close: false });
        assert_eq!(used, head + body.len());
        assert_eq!(&input[used..], next);
        // Byte by byte: the same result, and nothing before the body's end.
        let mut parser = RequestParser::new();
        let mut pos = 0;
        let mut got = None;
        for end in 1..=input.len() {
            loop {
                let (n, r) = parser.advance(&input[pos..end]);
                pos += n;
                if r.is_some() {
                    got = r;
                    break;
                }
                if n == 0 {
                    break;
                }
            }
            if got.is_some() {
                assert_eq!(end, head + body.len());
                break;
            }
        }
        assert_eq!(got, Some(Request::MethodNotAllowed { close: false }));
        // Content-Length bodies too, in pieces.
        let mut parser = RequestParser::new();
        let input = b"DELETE /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789";
        let (n, r) = parser.advance(&input[..56]);
        assert_eq!((n, r), (51, None));
        assert!(!parser.in_head());
        assert_eq!(parser.advance(&input[51..56]), (5, None));
        assert_eq!(
            parser.advance(&input[56..]),
            (5, Some(Request::MethodNotAllowed { close: false }))
        );
        assert!(parser.in_head());
    }

    #[test]
    fn malformed_chunks_are_refused() {
        for body in [
            &b"-5\r\nhello\r\n0\r\n\r\n"[..],
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"\r\n0\r\n\r\n",
            b";ext\r\n0\r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"5 junk\r\nhello\r\n0\r\n\r\n",
            b"5;a\nb\r\nhello\r\n0\r\n\r\n",
            b"5;a\x00\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello\r\n0\r\nX-Bad : y\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\n",
            b"11111111111111111\r\n",
        ] {
            let mut input =
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            input.extend_from_slice(body);
            input.extend_from_slice(b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
            let (r, used) = parse_request(&input).unwrap();
            assert_eq!(r, Request::Bad, "{:?}", String::from_utf8_lossy(body));
            assert_eq!(used, input.len());
        }
        // An endless chunk-size line.
        let mut input =
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;".to_vec();
        input.resize(input.len() + MAX_CHUNK_LINE, b'a');
        assert_eq!(parse_request(&input).unwrap().0, Request::Bad);
    }

    #[test]
    fn limits_and_unknown_codings() {
        let (r, _) = parse_request(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r, Request::NotImplemented);
        let too_long = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert_eq!(
            parse_request(too_long.as_bytes()).unwrap().0,
            Request::ContentTooLarge
        );
        let chunks = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            MAX_BODY + 1
        );
        assert_eq!(
            parse_request(chunks.as_bytes()).unwrap().0,
            Request::ContentTooLarge
        );
        // Exactly MAX_BODY is fine (and waits for its bytes).
        let at_limit = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY}\r\n\r\n");
        assert_eq!(parse_request(at_limit.as_bytes()), None);
        // A leading empty line is skipped (RFC 9112 §2.2).
        let (r, used) = parse_request(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert!(matches!(r, Request::Page { .. }));
        assert_eq!(used, 29);
        // absolute-form targets are accepted (RFC 9112 §3.2.2), with their Host.
        let (r, _) = parse_request(b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert!(matches!(r, Request::Page { .. }));
        // HTTP/1.0 needs no Host.
        let (r, _) = parse_request(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(matches!(r, Request::Page { close: true, .. }));
    }
}
