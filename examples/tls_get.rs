//! A curl-like HTTPS GET over F-Stack and TLS (rustls or mbedTLS): a smoke test of the whole
//! client path.
//!
//! ```text
//! cargo run --example tls_get -- [--ca-file PEM] [--resolve HOST:PORT:ADDR] \
//!     [--config f-stack.conf] [--timeout SECS] [--tls rustls|mbedtls] [--verbose] \
//!     [--insecure] https://HOST[:PORT]/PATH
//! ```
//!
//! Resolves HOST with the kernel's resolver (F-Stack has none) unless `--resolve` names the
//! address, connects an `FStackSocket` inside `Stack::run`, verifies the server certificate
//! against `--ca-file` (default: the system CA bundle, honouring `SSL_CERT_FILE`), sends
//! `GET PATH HTTP/1.1` with `Connection: close`, and prints the response body (chunked,
//! content-length or read-to-close) to stdout. Exits 0 on a 1xx-3xx response; otherwise prints
//! one line naming the cause to stderr and exits 1. `--insecure` (`-k`) skips certificate
//! verification, like curl's; `--timeout` (default 30 s) bounds the whole request; `--tls`
//! picks the TLS engine (default rustls); `--verbose` (`-v`) prints one stderr line at connect
//! with the address, protocol version, cipher suite and engine. `--help`
//! lists the options; a bad command line (unknown option, bad value, no URL) exits 2 with one
//! line.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use fstack::{Events, FStackSocket, Poll, ShutdownSignal, Stack, StackOptions, Token};
use fstack_binance::cli::Resolve;
use fstack_examples::args;
use fstack_tls::dial::Dial;
use fstack_tls::{Engine, TlsConnector, TlsStream};

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
    about = "A curl-like HTTPS GET over F-Stack and TLS (rustls or mbedTLS): prints the response body to \
             stdout; exits 0 on a 1xx-3xx response, otherwise 1 with one line naming the cause.",
    args_override_self = true
)]
struct Args {
    /// Trust anchors (PEM) instead of the system CA bundle (which honours SSL_CERT_FILE)
    #[arg(long, value_name = "PEM", value_parser = args::existing_file)]
    ca_file: Option<PathBuf>,
    /// Connect to ADDR when the URL's HOST:PORT is this one, instead of resolving HOST (like
    /// curl's --resolve)
    #[arg(long, value_name = "HOST:PORT:ADDR", value_parser = args::resolve)]
    resolve: Option<Resolve>,
    /// F-Stack configuration file
    #[arg(long, value_name = "FILE", default_value = "f-stack.conf", value_parser = args::existing_file)]
    config: PathBuf,
    /// Give up after SECS seconds in all (decimals allowed)
    #[arg(long, value_name = "SECS", default_value = "30", allow_negative_numbers = true, value_parser = args::seconds)]
    timeout: Duration,
    /// TLS engine: rustls (default) or mbedtls
    #[arg(long, value_name = "ENGINE", value_parser = tls_engine)]
    tls: Option<Engine>,
    /// Print the address, TLS version, cipher suite and engine to stderr at connect
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Skip certificate verification (like curl's -k)
    #[arg(short = 'k', long)]
    insecure: bool,
    /// What to get: https://HOST[:PORT]/PATH
    #[arg(value_name = "URL", value_parser = parse_url)]
    url: Url,
}

/// The parts of the URL the request needs.
#[derive(Debug, Clone)]
struct Url {
    /// Host name (lowercase) or IP literal (IPv6 without brackets): dialed and verified.
    host: String,
    port: u16,
    /// `HOST[:PORT]` as the `Host` header carries it (port omitted when 443).
    authority: String,
    /// Path and query: the request target.
    target: String,
}

/// `https://HOST[:PORT]/PATH[?QUERY]`, parsed by the `url` crate (WHATWG rules); a fragment is
/// dropped as curl does, user info is refused.
fn tls_engine(v: &str) -> Result<Engine, String> {
    v.parse::<Engine>().map_err(|e| e.to_string())
}

fn parse_url(s: &str) -> Result<Url, String> {
    let (url, host, port) = args::tls_url(s, "https")?;
    Ok(Url {
        host,
        port,
        authority: url[url::Position::BeforeHost..url::Position::AfterPort].to_owned(),
        target: url[url::Position::BeforePath..url::Position::AfterQuery].to_owned(),
    })
}

fn run(args: Args) -> Result<Vec<u8>, String> {
    let Url { host, port, .. } = &args.url;
    let resolve = args
        .resolve
        .as_ref()
        .filter(|r| r.host == *host && r.port == *port)
        .map(|r| r.addr);
    let mut builder = TlsConnector::builder()
        .engine(args.tls.unwrap_or_default())
        .danger_accept_invalid_certs(args.insecure);
    if let Some(ca) = &args.ca_file {
        builder = builder.ca_file(ca);
    }
    let connector = builder.build().map_err(|e| e.to_string())?;
    let signal = ShutdownSignal::install().map_err(|e| format!("signal handlers: {e}"))?;
    let stack = Stack::init(StackOptions::new(&args.config)).map_err(|e| e.to_string())?;
    let mut client = Client {
        state: State::Start,
        ready: true,
        peer: None,
        verbose: args.verbose,
        request: format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: fstack-tls-get/0.1\r\n\
             Accept: */*\r\nConnection: close\r\n\r\n",
            args.url.target, args.url.authority
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
            let peer = client.peer.map_or(host.clone(), |a| a.to_string());
            return ControlFlow::Break(Err(format!(
                "timed out after {:?} {} {peer}",
                args.timeout,
                client.state.doing(),
            )));
        }
        match client.step(&connector, (host, *port, resolve), &mut poll, &mut events) {
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

enum State {
    Start,
    /// DNS, TCP connect, TLS handshake.
    Dialing(Box<Dial>),
    Sending(TlsStream<FStackSocket>, usize),
    Receiving(TlsStream<FStackSocket>),
    Done,
}

impl State {
    fn doing(&self) -> &'static str {
        match self {
            State::Start => "while connecting to",
            State::Dialing(dial) => match dial.step() {
                "DNS lookup" => "in the DNS lookup of",
                "TCP connect" => "in the TCP connect to",
                _ => "in the TLS handshake with",
            },
            State::Sending(..) => "while sending the request to",
            State::Receiving(_) => "while waiting for the response from",
            State::Done => "while finishing with",
        }
    }
}

struct Client {
    state: State,
    /// An event arrived since the last `WouldBlock` (readiness is edge-triggered).
    ready: bool,
    /// The address dialed, once resolved.
    peer: Option<SocketAddr>,
    verbose: bool,
    request: Vec<u8>,
    response: Response,
}

impl Client {
    /// One loop iteration; `Ok(true)` once the response is complete.
    fn step(
        &mut self,
        connector: &TlsConnector,
        (host, port, resolve): (&str, u16, Option<IpAddr>),
        poll: &mut Option<Poll>,
        events: &mut Events,
    ) -> Result<bool, String> {
        let poll = match poll {
            Some(p) => p,
            None => poll.insert(Poll::new().map_err(|e| e.to_string())?),
        };
        if let State::Start = self.state {
            self.state = State::Dialing(Box::new(Dial::start(connector, host, port, resolve)));
        }
        poll.poll(events).map_err(|e| e.to_string())?;
        if events.iter().next().is_some() {
            self.ready = true;
        }
        // The dial is advanced on every iteration: its DNS lookup answers from a helper
        // thread, which raises no socket event.
        if let State::Dialing(dial) = &mut self.state {
            let dialed = dial.advance(std::mem::take(&mut self.ready), poll, Token(0));
            self.peer = dial.peer_addr();
            match dialed.map_err(|e| e.to_string())? {
                Some(tls) => {
                    if self.verbose {
                        eprintln!(
                            "tls_get: connected to {} over {} {} ({})",
                            self.peer.map_or_else(|| "?".into(), |a| a.to_string()),
                            tls.protocol_version()
                                .map_or_else(|| "TLS".into(), |p| p.to_string()),
                            tls.cipher_suite_name().unwrap_or("(unknown cipher suite)"),
                            tls.engine()
                        );
                    }
                    self.state = State::Sending(tls, 0);
                    self.ready = true;
                }
                None => return Ok(false),
            }
        }
        while self.ready {
            self.state = match std::mem::replace(&mut self.state, State::Done) {
                State::Start | State::Done => return Ok(true),
                dialing @ State::Dialing(_) => {
                    self.ready = false; // advanced above, once per iteration
                    dialing
                }
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
/// Headers accepted in a response head.
const MAX_HEADERS: usize = 100;

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
                    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    let mut head = httparse::Response::new(&mut headers);
                    match head.parse(rest) {
                        Ok(httparse::Status::Complete(n)) => {
                            pos += n;
                            let (status, reason, body) = parse_head(&head)?;
                            (self.status, self.reason, self.body_state) = (status, reason, body);
                        }
                        Ok(httparse::Status::Partial) if rest.len() > MAX_HEAD => {
                            return Err("response header larger than 64 KiB".into())
                        }
                        Ok(httparse::Status::Partial) => break,
                        Err(e) => return Err(format!("malformed response head: {e}")),
                    }
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
                Body::ChunkSize => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        pos += n;
                        self.body_state = match usize::try_from(size) {
                            Ok(0) => Body::Trailers,
                            Ok(size) => Body::ChunkData(size),
                            Err(_) => return Err("chunk size out of range".into()),
                        };
                    }
                    Ok(httparse::Status::Partial) => break,
                    Err(_) => return Err("bad chunk size in a chunked body".into()),
                },
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
}

/// The status, the reason and how the body is delimited (RFC 9112 §6.3).
fn parse_head(head: &httparse::Response<'_, '_>) -> Result<(u16, String, Body), String> {
    let status = head.code.unwrap_or(0);
    let reason = head.reason.unwrap_or("").to_owned();
    if (100..200).contains(&status) {
        return Ok((status, reason, Body::Head)); // interim response: the real one follows
    }
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for h in head.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        let value = value.trim();
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<usize>()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("bad Content-Length `{value}`"))?;
            if length.is_some_and(|l| l != n) {
                return Err("conflicting Content-Length headers".into());
            }
            length = Some(n);
        }
    }
    let body = if status == 204 || status == 304 {
        Body::Done
    } else if chunked {
        Body::ChunkSize
    } else if let Some(n) = length {
        Body::Length(n)
    } else {
        Body::UntilClose
    };
    Ok((status, reason, body))
}

/// Where `needle` starts in `haystack` (trailer lines of a chunked body).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
