//! A small keep-alive HTTP/1.1 server on F-Stack sockets: the logic behind
//! `examples/http_server.rs` (F-Stack's helloworld, done properly).
//!
//! Requests are parsed incrementally from hostile input: a request head larger than
//! [`MAX_HEAD`] gets `431` and the connection closes; a malformed request line gets `400`;
//! methods other than GET/HEAD get `405`. Pipelined requests are answered in order.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;

use fstack::{Events, FStackListener, FStackSocket, Interest, Poll, Token};

/// Largest accepted request head (request line + headers).
pub const MAX_HEAD: usize = 8192;
/// Responses waiting to be written beyond this stop further reading from that connection.
const MAX_PENDING_OUT: usize = 256 * 1024;

const LISTENER: Token = Token(usize::MAX);

/// The page served to every GET.
pub const PAGE: &str = "<!DOCTYPE html>\n<html>\n<head><title>Welcome to F-Stack!</title></head>\n\
<body>\n<h1>Welcome to F-Stack!</h1>\n<p>Served from Rust over F-Stack's user-space TCP/IP stack.</p>\n\
</body>\n</html>\n";

/// What one complete request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// GET or HEAD; `close` when the client asked for (or its version implies) no keep-alive.
    Page {
        /// HEAD: headers only.
        head_only: bool,
        /// Close after answering.
        close: bool,
    },
    /// Another method: `405`, connection kept.
    MethodNotAllowed {
        /// Close after answering.
        close: bool,
    },
    /// Unparseable request: `400`, then close.
    Bad,
    /// Head over [`MAX_HEAD`] bytes: `431`, then close.
    TooLarge,
}

/// Parses one request from the front of `buf`: `Some((request, bytes consumed))`, or `None`
/// while the head is incomplete. Request bodies are not supported (GET/HEAD have none);
/// a request announcing one is answered `400`.
pub fn parse_request(buf: &[u8]) -> Option<(Request, usize)> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return (buf.len() > MAX_HEAD).then_some((Request::TooLarge, buf.len()));
    };
    let used = end + 4;
    if used > MAX_HEAD {
        return Some((Request::TooLarge, used));
    }
    let Ok(head) = std::str::from_utf8(&buf[..end]) else {
        return Some((Request::Bad, used));
    };
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Some((Request::Bad, used));
    };
    if method.is_empty() || !target.starts_with('/') && target != "*" {
        return Some((Request::Bad, used));
    }
    let mut close = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Some((Request::Bad, used)),
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Some((Request::Bad, used));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || (name.eq_ignore_ascii_case("content-length") && value != "0")
        {
            return Some((Request::Bad, used));
        }
    }
    let request = match method {
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
    Some((request, used))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Appends the response for `request` to `out`; returns whether to close afterwards.
pub fn respond(request: &Request, out: &mut Vec<u8>) -> bool {
    let (status, body, head_only, close) = match *request {
        Request::Page { head_only, close } => ("200 OK", PAGE, head_only, close),
        Request::MethodNotAllowed { close } => (
            "405 Method Not Allowed",
            "method not allowed\n",
            false,
            close,
        ),
        Request::Bad => ("400 Bad Request", "bad request\n", false, true),
        Request::TooLarge => (
            "431 Request Header Fields Too Large",
            "request head too large\n",
            false,
            true,
        ),
    };
    let connection = if close { "close" } else { "keep-alive" };
    let allow = if matches!(request, Request::MethodNotAllowed { .. }) {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {status}\r\nServer: fstack-rs\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: {connection}\r\n{allow}\r\n",
            body.len()
        )
        .as_bytes(),
    );
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    close
}

struct Conn {
    sock: FStackSocket,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    /// No more requests are read: close once the output is flushed.
    closing: bool,
    readable: bool,
    writable: bool,
}

/// Counters for the server's lifetime.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted.
    pub accepted: u64,
    /// Requests answered (any status).
    pub requests: u64,
}

/// The server: a listener and its connections, advanced by [`HttpServer::poll_once`] once per
/// F-Stack loop iteration.
pub struct HttpServer {
    listener: FStackListener,
    poll: Poll,
    events: Events,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    stats: Stats,
}

impl HttpServer {
    /// Binds `addr` and starts listening.
    pub fn bind(addr: SocketAddr) -> fstack::Result<HttpServer> {
        let listener = FStackListener::bind(addr)?;
        let mut poll = Poll::new()?;
        poll.register(&listener, LISTENER, Interest::READABLE)?;
        Ok(HttpServer {
            listener,
            poll,
            events: Events::with_capacity(256),
            conns: Vec::new(),
            free: Vec::new(),
            stats: Stats::default(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> fstack::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.conns.len() - self.free.len()
    }

    /// Closes every open connection (for a clean shutdown: call it inside the loop, before
    /// breaking out of it). Returns how many were closed.
    pub fn close_all(&mut self) -> usize {
        let mut closed = 0;
        for (id, slot) in self.conns.iter_mut().enumerate() {
            if let Some(conn) = slot.take() {
                let _ = self.poll.deregister(&conn.sock);
                drop(conn); // ff_close: FIN to the peer
                self.free.push(id);
                closed += 1;
            }
        }
        closed
    }

    /// Accepts, reads, answers and writes whatever is ready, without blocking.
    pub fn poll_once(&mut self) -> fstack::Result<()> {
        self.poll.poll(&mut self.events)?;
        let mut accept = false;
        for ev in &self.events {
            if ev.token() == LISTENER {
                accept = true;
            } else if let Some(Some(conn)) = self.conns.get_mut(ev.token().0) {
                conn.readable |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
                conn.writable |= ev.is_writable() || ev.is_error();
            }
        }
        if accept {
            self.accept_all()?;
        }
        for id in 0..self.conns.len() {
            let Some(conn) = self.conns[id].as_mut() else {
                continue;
            };
            if !(conn.readable || conn.writable) {
                continue;
            }
            if !drive(conn, &mut self.stats) {
                let conn = self.conns[id].take().expect("present");
                let _ = self.poll.deregister(&conn.sock);
                self.free.push(id);
            }
        }
        Ok(())
    }

    fn accept_all(&mut self) -> fstack::Result<()> {
        loop {
            let (sock, _peer) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.is_would_block() => return Ok(()),
                // A connection reset before accept, or out of descriptors: keep serving the
                // others; the listener reports readable again for what is still queued.
                Err(e) => {
                    eprintln!("http_server: accept: {e}");
                    return Ok(());
                }
            };
            self.stats.accepted += 1;
            let id = self.free.pop().unwrap_or_else(|| {
                self.conns.push(None);
                self.conns.len() - 1
            });
            let _ = sock.set_nodelay(true);
            self.poll
                .register(&sock, Token(id), Interest::READABLE.add(Interest::WRITABLE))?;
            self.conns[id] = Some(Conn {
                sock,
                input: Vec::new(),
                output: Vec::new(),
                written: 0,
                closing: false,
                // Data may already be queued: try reading at once.
                readable: true,
                writable: true,
            });
        }
    }
}

/// Advances one connection; false when it should be closed.
fn drive(conn: &mut Conn, stats: &mut Stats) -> bool {
    let mut buf = [0u8; 4096];
    while conn.readable && !conn.closing && conn.output.len() - conn.written < MAX_PENDING_OUT {
        match conn.sock.read(&mut buf) {
            Ok(0) => {
                conn.closing = true;
                conn.readable = false;
            }
            Ok(n) => {
                conn.input.extend_from_slice(&buf[..n]);
                let mut used = 0;
                while let Some((req, n)) = parse_request(&conn.input[used..]) {
                    used += n;
                    stats.requests += 1;
                    if respond(&req, &mut conn.output) {
                        conn.closing = true;
                        break;
                    }
                }
                conn.input.drain(..used);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => conn.readable = false,
            Err(_) => return false,
        }
    }
    while conn.writable && conn.written < conn.output.len() {
        match conn.sock.write(&conn.output[conn.written..]) {
            Ok(n) => conn.written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => conn.writable = false,
            Err(_) => return false,
        }
    }
    if conn.written == conn.output.len() {
        conn.output.clear();
        conn.written = 0;
        if conn.closing {
            return false;
        }
    }
    true
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
        let (r, _) = parse_request(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
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
    }

    #[test]
    fn incomplete_waits_and_oversize_is_rejected() {
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        let big = vec![b'a'; MAX_HEAD + 1];
        assert_eq!(parse_request(&big).unwrap().0, Request::TooLarge);
    }

    #[test]
    fn rejects_garbage_and_other_methods() {
        for bad in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET noslash HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            b"GET /\xff HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(
                parse_request(bad).unwrap().0,
                Request::Bad,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let (r, _) = parse_request(b"POST / HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(r, Request::MethodNotAllowed { close: false });
    }

    #[test]
    fn responses_have_exact_lengths() {
        let mut out = Vec::new();
        assert!(!respond(
            &Request::Page {
                head_only: false,
                close: false
            },
            &mut out
        ));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains(&format!("Content-Length: {}\r\n", PAGE.len())));
        assert!(text.ends_with(PAGE));
        let mut out = Vec::new();
        assert!(respond(&Request::Bad, &mut out));
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("Connection: close"));
    }
}
