//! A curl-like HTTPS GET over F-Stack and TLS (mbedTLS): a smoke test of the whole client path.
//!
//! ```text
//! cargo run --example tls_get -- [--ca-file PEM] [--resolve HOST:PORT:ADDR] \
//!     [--config f-stack.conf] [--timeout SECS] [--insecure] https://HOST[:PORT]/PATH
//! ```
//!
//! Resolves HOST with the kernel's resolver (F-Stack has none) unless `--resolve` names the
//! address, connects an `FStackSocket` inside `Stack::run`, verifies the server certificate
//! against `--ca-file` (default: the system CA bundle, honouring `SSL_CERT_FILE`), sends
//! `GET PATH HTTP/1.1` with `Connection: close`, and prints the response body (chunked,
//! content-length or read-to-close) to stdout. Exits 0 on a 1xx-3xx response; otherwise prints
//! one line naming the cause to stderr and exits 1. `--insecure` (`-k`) skips certificate
//! verification, like curl's; `--timeout` (default 30 s) bounds the whole request. `--help`
//! lists the options; a bad command line (unknown option, bad value, no URL) exits 2 with one
//! line.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use fstack::{Events, FStackSocket, Interest, Poll, ShutdownSignal, Stack, StackOptions, Token};
use fstack_binance::cli::Resolve;
use fstack_examples::args;
use fstack_tls::{HandshakeError, MidHandshake, TlsConnector, TlsStream};

fn main() -> ExitCode {
    let args = match args::parse::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    match run(args) {
        Ok(body) => {
            let mut out = io::stdout().lock();
            match out.write_all(&body).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("writing the body to stdout: {e}")),
            }
        }
        Err(e) => fail(&e),
    }
}

fn fail(msg: &str) -> ExitCode {
    // One line, whatever the message contains.
    eprintln!("tls_get: {}", msg.replace('\n', " "));
    ExitCode::FAILURE
}

/// The command line (`--help` prints it).
#[derive(Parser, Debug)]
#[command(
    name = "tls_get",
    about = "A curl-like HTTPS GET over F-Stack and TLS (mbedTLS): prints the response body to \
             stdout; exits 0 on a 1xx-3xx response, otherwise 1 with one line naming the cause.",
    args_override_self = true
)]
struct Args {
    /// Trust anchors (PEM) instead of the system CA bundle (which honours SSL_CERT_FILE)
    #[arg(long, value_name = "PEM", value_parser = args::path)]
    ca_file: Option<PathBuf>,
    /// Connect to ADDR when the URL's HOST:PORT is this one, instead of resolving HOST (like
    /// curl's --resolve)
    #[arg(long, value_name = "HOST:PORT:ADDR", value_parser = resolve_arg)]
    resolve: Option<Resolve>,
    /// F-Stack configuration file
    #[arg(long, value_name = "FILE", default_value = "f-stack.conf", value_parser = args::path)]
    config: PathBuf,
    /// Give up after SECS seconds in all (decimals allowed)
    #[arg(long, value_name = "SECS", default_value = "30", allow_negative_numbers = true, value_parser = args::seconds)]
    timeout: Duration,
    /// Skip certificate verification (like curl's -k)
    #[arg(short = 'k', long)]
    insecure: bool,
    /// What to get: https://HOST[:PORT]/PATH
    #[arg(value_name = "URL", value_parser = parse_url)]
    url: Url,
}

#[derive(Debug, Clone)]
struct Url {
    host: String,
    port: u16,
    path: String,
}

fn resolve_arg(v: &str) -> Result<Resolve, String> {
    Resolve::parse(v).map_err(|e| e.0)
}

fn parse_url(s: &str) -> Result<Url, String> {
    let rest = s.strip_prefix("https://").ok_or("not an https:// URL")?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    let path = path.split('#').next().unwrap_or("/").to_string();
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, tail) = v6.split_once(']').ok_or("bad host")?;
        (h, tail.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || authority.contains('@') {
        return Err("bad host".into());
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| format!("bad port `{p}`"))?,
        None => 443,
    };
    Ok(Url {
        host: host.to_ascii_lowercase(),
        port,
        path,
    })
}

/// The address to dial: `--resolve` if it matches, else the kernel's resolver.
fn resolve(args: &Args) -> Result<SocketAddr, String> {
    let Url { host, port, .. } = &args.url;
    if let Some(r) = &args.resolve {
        if r.host == *host && r.port == *port {
            return Ok(SocketAddr::new(r.addr, *port));
        }
    }
    let addrs: Vec<SocketAddr> = (host.as_str(), *port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    // Prefer IPv4: F-Stack deployments are usually configured for it.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or(format!("cannot resolve {host}: no addresses"))
}

fn run(args: Args) -> Result<Vec<u8>, String> {
    let addr = resolve(&args)?;
    let mut builder = TlsConnector::builder().danger_accept_invalid_certs(args.insecure);
    if let Some(ca) = &args.ca_file {
        builder = builder.ca_file(ca);
    }
    let connector = builder.build().map_err(|e| e.to_string())?;
    let signal = ShutdownSignal::install().map_err(|e| format!("signal handlers: {e}"))?;
    let stack = Stack::init(StackOptions::new(&args.config)).map_err(|e| e.to_string())?;
    let mut client = Client {
        state: State::Start,
        ready: true,
        host: args.url.host.clone(),
        request: format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: fstack-tls-get/0.1\r\n\
             Accept: */*\r\nConnection: close\r\n\r\n",
            args.url.path,
            host_header(&args.url)
        )
        .into_bytes(),
        response: Response::default(),
    };
    let mut poll = None;
    let mut events = Events::with_capacity(4);
    // A timeout too long to add to the clock never expires.
    let deadline = Instant::now().checked_add(args.timeout);
    let outcome = stack.run(|| {
        if signal.requested() {
            return ControlFlow::Break(Err("interrupted".to_string()));
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            return ControlFlow::Break(Err(format!(
                "timed out after {:?} while {} {}",
                args.timeout,
                client.state.doing(),
                addr
            )));
        }
        match client.step(&connector, addr, &mut poll, &mut events) {
            Ok(true) => ControlFlow::Break(Ok(())),
            Ok(false) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(Err(e)),
        }
    });
    outcome.unwrap_or_else(|| Err("the F-Stack loop was stopped".into()))?;
    let r = client.response;
    if r.status >= 400 {
        return Err(format!("server answered HTTP {} {}", r.status, r.reason));
    }
    Ok(r.body)
}

fn host_header(url: &Url) -> String {
    let host = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    if url.port == 443 {
        host
    } else {
        format!("{host}:{}", url.port)
    }
}

enum State {
    Start,
    Connecting(FStackSocket),
    Handshaking(MidHandshake<FStackSocket>),
    Sending(TlsStream<FStackSocket>, usize),
    Receiving(TlsStream<FStackSocket>),
    Done,
}

impl State {
    fn doing(&self) -> &'static str {
        match self {
            State::Start | State::Connecting(_) => "connecting to",
            State::Handshaking(_) => "in the TLS handshake with",
            State::Sending(..) => "sending the request to",
            State::Receiving(_) => "waiting for the response from",
            State::Done => "finishing with",
        }
    }
}

struct Client {
    state: State,
    /// An event arrived since the last `WouldBlock` (readiness is edge-triggered).
    ready: bool,
    host: String,
    request: Vec<u8>,
    response: Response,
}

impl Client {
    /// One loop iteration; `Ok(true)` once the response is complete.
    fn step(
        &mut self,
        connector: &TlsConnector,
        addr: SocketAddr,
        poll: &mut Option<Poll>,
        events: &mut Events,
    ) -> Result<bool, String> {
        let poll = match poll {
            Some(p) => p,
            None => poll.insert(Poll::new().map_err(|e| e.to_string())?),
        };
        if let State::Start = self.state {
            let sock = FStackSocket::connect(addr).map_err(|e| e.to_string())?;
            poll.register(&sock, Token(0), Interest::READABLE | Interest::WRITABLE)
                .map_err(|e| e.to_string())?;
            self.state = State::Connecting(sock);
        }
        poll.poll(events).map_err(|e| e.to_string())?;
        if events.iter().next().is_some() {
            self.ready = true;
        }
        while self.ready {
            self.state = match std::mem::replace(&mut self.state, State::Done) {
                State::Start | State::Done => return Ok(true),
                State::Connecting(mut sock) => match sock.finish_connect() {
                    Ok(true) => match connector.connect(&self.host, sock) {
                        Ok(tls) => State::Sending(tls, 0),
                        Err(HandshakeError::WouldBlock(mid)) => {
                            self.ready = false;
                            State::Handshaking(mid)
                        }
                        Err(HandshakeError::Failure(e)) => return Err(e.to_string()),
                    },
                    Ok(false) => {
                        self.ready = false;
                        State::Connecting(sock)
                    }
                    Err(e) => return Err(e.to_string()),
                },
                State::Handshaking(mid) => match mid.handshake() {
                    Ok(tls) => State::Sending(tls, 0),
                    Err(HandshakeError::WouldBlock(mid)) => {
                        self.ready = false;
                        State::Handshaking(mid)
                    }
                    Err(HandshakeError::Failure(e)) => return Err(e.to_string()),
                },
                State::Sending(mut tls, off) if off == self.request.len() => match tls.flush() {
                    Ok(()) => State::Receiving(tls),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.ready = false;
                        State::Sending(tls, off)
                    }
                    Err(e) => return Err(format!("sending the request: {e}")),
                },
                State::Sending(mut tls, off) => match tls.write(&self.request[off..]) {
                    Ok(n) => State::Sending(tls, off + n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.ready = false;
                        State::Sending(tls, off)
                    }
                    Err(e) => return Err(format!("sending the request: {e}")),
                },
                State::Receiving(mut tls) => {
                    let mut buf = [0u8; 16384];
                    match tls.read(&mut buf) {
                        Ok(0) => {
                            self.response.end_of_stream()?;
                            return Ok(true);
                        }
                        Ok(n) => {
                            self.response.feed(&buf[..n])?;
                            if self.response.complete() {
                                return Ok(true);
                            }
                            State::Receiving(tls)
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            self.ready = false;
                            State::Receiving(tls)
                        }
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                            return Err(format!("{}: {e}", self.response.eof_context()))
                        }
                        Err(e) => return Err(format!("reading the response: {e}")),
                    }
                }
            };
        }
        Ok(false)
    }
}

/// An HTTP/1.1 response parsed incrementally.
#[derive(Default)]
struct Response {
    /// Bytes received but not consumed yet.
    pending: Vec<u8>,
    status: u16,
    reason: String,
    body: Vec<u8>,
    body_state: Body,
}

#[derive(Default, Debug, PartialEq)]
enum Body {
    #[default]
    Head,
    Length(usize),
    ChunkSize,
    ChunkData(usize),
    ChunkEnd,
    Trailers,
    UntilClose,
    Done,
}

const MAX_HEAD: usize = 64 << 10;

impl Response {
    fn complete(&self) -> bool {
        self.body_state == Body::Done
    }

    fn eof_context(&self) -> &'static str {
        match self.body_state {
            Body::Head => "the server closed the connection before a complete response",
            Body::UntilClose => "reading a body delimited by the end of the connection",
            _ => "the server closed the connection before the body was complete",
        }
    }

    /// A clean end of stream (close_notify).
    fn end_of_stream(&mut self) -> Result<(), String> {
        match self.body_state {
            Body::UntilClose | Body::Done => {
                self.body_state = Body::Done;
                Ok(())
            }
            Body::Head => Err("the server closed the connection without a response".into()),
            _ => Err("the server closed the connection before the body was complete".into()),
        }
    }

    fn feed(&mut self, data: &[u8]) -> Result<(), String> {
        self.pending.extend_from_slice(data);
        let mut pos = 0;
        loop {
            let rest = &self.pending[pos..];
            match self.body_state {
                Body::Head => {
                    let Some(end) = find(rest, b"\r\n\r\n") else {
                        if rest.len() > MAX_HEAD {
                            return Err("response header larger than 64 KiB".into());
                        }
                        break;
                    };
                    let head = String::from_utf8_lossy(&rest[..end]).into_owned();
                    pos += end + 4;
                    self.body_state = self.parse_head(&head)?;
                }
                Body::Length(0) => self.body_state = Body::Done,
                Body::Length(n) => {
                    let take = n.min(rest.len());
                    if take == 0 {
                        break;
                    }
                    self.body.extend_from_slice(&rest[..take]);
                    pos += take;
                    self.body_state = Body::Length(n - take);
                }
                Body::UntilClose => {
                    self.body.extend_from_slice(rest);
                    pos += rest.len();
                    break;
                }
                Body::ChunkSize => {
                    let Some(end) = find(rest, b"\r\n") else {
                        break;
                    };
                    let line = String::from_utf8_lossy(&rest[..end]);
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = usize::from_str_radix(size, 16)
                        .map_err(|_| format!("bad chunk size `{size}` in a chunked body"))?;
                    pos += end + 2;
                    self.body_state = if size == 0 {
                        Body::Trailers
                    } else {
                        Body::ChunkData(size)
                    };
                }
                Body::ChunkData(n) => {
                    let take = n.min(rest.len());
                    if take == 0 {
                        break;
                    }
                    self.body.extend_from_slice(&rest[..take]);
                    pos += take;
                    self.body_state = if take == n {
                        Body::ChunkEnd
                    } else {
                        Body::ChunkData(n - take)
                    };
                }
                Body::ChunkEnd => {
                    if rest.len() < 2 {
                        break;
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err("malformed chunked body (missing CRLF after a chunk)".into());
                    }
                    pos += 2;
                    self.body_state = Body::ChunkSize;
                }
                Body::Trailers => {
                    let Some(end) = find(rest, b"\r\n") else {
                        break;
                    };
                    pos += end + 2;
                    if end == 0 {
                        self.body_state = Body::Done;
                    }
                }
                Body::Done => break,
            }
        }
        self.pending.drain(..pos);
        Ok(())
    }

    /// Parses the status line and headers; returns how the body is delimited.
    fn parse_head(&mut self, head: &str) -> Result<Body, String> {
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if !version.starts_with("HTTP/1.") {
            return Err(format!("not an HTTP/1.x response: `{status_line}`"));
        }
        self.status = code
            .parse()
            .map_err(|_| format!("bad status line `{status_line}`"))?;
        self.reason = parts.next().unwrap_or("").to_string();
        if (100..200).contains(&self.status) {
            return Ok(Body::Head); // interim response: the real one follows
        }
        let mut length = None;
        let mut chunked = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| format!("bad Content-Length `{value}`"))?,
                );
            }
        }
        Ok(if self.status == 204 || self.status == 304 {
            Body::Done
        } else if chunked {
            Body::ChunkSize
        } else if let Some(n) = length {
            Body::Length(n)
        } else {
            Body::UntilClose
        })
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
