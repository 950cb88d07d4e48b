//! HTTP/1.1 clients on kernel sockets for the `http_server` tests (`tests/http_server.rs`, the
//! server in-process, and `tests/http_server_process.rs`, the example as a process): reading a
//! response, one-shot exchanges, two-request keep-alive clients and slowloris trickling.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use fstack_examples::http::PAGE;

/// Reads one response; returns (status line, headers, body).
pub fn read_response(
    r: &mut BufReader<TcpStream>,
) -> Result<(String, Vec<String>, String), String> {
    read_response_to(r, false)
}

/// Like `read_response`; a response to HEAD has a Content-Length but no body.
pub fn read_response_to(
    r: &mut BufReader<TcpStream>,
    head: bool,
) -> Result<(String, Vec<String>, String), String> {
    let mut status = String::new();
    r.read_line(&mut status)
        .map_err(|e| format!("status: {e}"))?;
    let mut headers = Vec::new();
    let mut len = 0;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).map_err(|e| format!("header: {e}"))?;
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            len = v.parse().map_err(|_| format!("bad length {v}"))?;
        }
        headers.push(line);
    }
    let mut body = vec![0; if head { 0 } else { len }];
    r.read_exact(&mut body).map_err(|e| format!("body: {e}"))?;
    Ok((
        status.trim_end().to_string(),
        headers,
        String::from_utf8_lossy(&body).into(),
    ))
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Sends `input` and reads until the server closes: everything it sent. Fails on a read error
/// or timeout (the connection must end with a clean EOF).
pub fn exchange(addr: SocketAddr, input: &[u8]) -> Result<Vec<u8>, String> {
    let mut s = connect(addr);
    s.write_all(input).map_err(|e| format!("write: {e}"))?;
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .map_err(|e| format!("read: {e} after {:?}", String::from_utf8_lossy(&got)))?;
    Ok(got)
}

/// How a trickling ("slowloris") connection ended.
#[derive(Debug)]
pub struct Trickled {
    /// From connect to the server's EOF or reset (or giving up).
    pub lifetime: Duration,
    /// Everything the server sent.
    pub got: Vec<u8>,
    /// The server closed it (EOF or reset) within the time given.
    pub closed: bool,
}

/// Sends the start of a request head, then one more header byte every `every`, until the
/// server closes the connection or `give_up` passes.
pub fn trickle(addr: SocketAddr, every: Duration, give_up: Duration) -> Trickled {
    let start = Instant::now();
    let mut got = Vec::new();
    let ended = |got, closed| Trickled {
        lifetime: start.elapsed(),
        got,
        closed,
    };
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(10)) else {
        return ended(got, false);
    };
    s.set_read_timeout(Some(every)).unwrap();
    let mut buf = [0u8; 1024];
    if s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n").is_err() {
        return ended(got, true);
    }
    while start.elapsed() < give_up {
        match s.read(&mut buf) {
            Ok(0) => return ended(got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                // A never-ending header name, one byte at a time.
                if s.write_all(b"X").is_err() {
                    return ended(got, true);
                }
            }
            Err(_) => return ended(got, true),
        }
    }
    ended(got, false)
}

/// One client of the page: a keep-alive request, then one asking to close; both must be
/// answered with the page and the connection must then end.
pub fn two_requests(addr: SocketAddr) -> Result<(), String> {
    let stream = connect(addr);
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    for last in [false, true] {
        let req: &[u8] = if last {
            b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        } else {
            b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
        };
        w.write_all(req).map_err(|e| format!("write: {e}"))?;
        let (status, _, body) = read_response(&mut r)?;
        if status != "HTTP/1.1 200 OK" || body != PAGE {
            return Err(format!("got {status}"));
        }
    }
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).map_err(|e| format!("eof: {e}"))?;
    if rest.is_empty() {
        Ok(())
    } else {
        Err(format!("extra bytes {rest:?}"))
    }
}
