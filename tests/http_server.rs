//! The http_server logic on the kernel backend: 200 concurrent keep-alive clients (kernel
//! sockets on other threads) all get the page, several times each; hostile requests get errors.
//! Then the `http_server` example as a process (built by `cargo test`; a targeted
//! `cargo test --test http_server` needs `cargo build --example http_server` first): request
//! smuggling attempts get exactly one 400 and a close, slow request heads a 408 after the
//! header deadline, idle keep-alive connections close, a slowloris flood beyond
//! `--max-connections` does not keep clients from being served, and the command line contract.

#[path = "../fstack/tests/common/mod.rs"]
mod common;
mod support;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use fstack::{Stack, StackOptions};
use fstack_examples::http::{respond, HttpServer, Request, PAGE};

const CLIENTS: usize = 200;
const REQUESTS_PER_CLIENT: usize = 5;

/// Reads one response; returns (status line, headers, body).
fn read_response(r: &mut BufReader<TcpStream>) -> Result<(String, Vec<String>, String), String> {
    read_response_to(r, false)
}

/// Like `read_response`; a response to HEAD has a Content-Length but no body.
fn read_response_to(
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

fn client(addr: SocketAddr) -> Result<(), String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    for _ in 0..REQUESTS_PER_CLIENT {
        w.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let (status, headers, body) = read_response(&mut r)?;
        if status != "HTTP/1.1 200 OK"
            || body != PAGE
            || !headers.contains(&"Connection: keep-alive".to_string())
        {
            return Err(format!("unexpected response {status} {headers:?}"));
        }
    }
    Ok(())
}

fn hostile(addr: SocketAddr) -> Result<(), String> {
    // Two pipelined requests in one write, the second asking to close.
    let s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    (&s).write_all(b"GET / HTTP/1.1\r\n\r\nHEAD / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let (st, _, body) = read_response(&mut r)?;
    if st != "HTTP/1.1 200 OK" || body != PAGE {
        return Err(format!("pipelined 1: {st}"));
    }
    let (st, h, _) = read_response_to(&mut r, true)?;
    if st != "HTTP/1.1 200 OK" || !h.contains(&"Connection: close".to_string()) {
        return Err(format!("pipelined 2: {st} {h:?}"));
    }
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err("HEAD response had a body or the connection stayed open".into());
    }

    // Garbage gets 400 and a close; an endless head gets 431 and a close.
    for (req, want) in [
        (b"HELLO\r\n\r\n".to_vec(), "HTTP/1.1 400 Bad Request"),
        (
            vec![b'x'; 64 * 1024],
            "HTTP/1.1 431 Request Header Fields Too Large",
        ),
    ] {
        let s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let _ = (&s).write_all(&req);
        let mut r = BufReader::new(s);
        let (st, _, _) = read_response(&mut r)?;
        if st != want {
            return Err(format!("expected {want}, got {st}"));
        }
    }
    Ok(())
}

#[test]
fn serves_200_concurrent_keep_alive_clients() {
    if common::skip_unless_kernel_backend("serves_200_concurrent_keep_alive_clients") {
        return;
    }
    let stack = Stack::init(StackOptions::new(common::config_path())).expect("init");
    let (tx, rx) = mpsc::channel::<Result<(), String>>();
    let finished = Arc::new(AtomicUsize::new(0));
    let mut server: Option<HttpServer> = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    let outcome = stack.run(|| {
        let srv = match server.as_mut() {
            Some(s) => s,
            None => {
                let s = HttpServer::bind("127.0.0.1:0".parse().unwrap()).expect("bind");
                let addr = s.local_addr().unwrap();
                for i in 0..=CLIENTS {
                    let (tx, finished) = (tx.clone(), finished.clone());
                    std::thread::spawn(move || {
                        let r = if i == CLIENTS {
                            hostile(addr)
                        } else {
                            client(addr)
                        };
                        let _ = tx.send(r);
                        finished.fetch_add(1, Ordering::SeqCst);
                    });
                }
                server.insert(s)
            }
        };
        if let Err(e) = srv.poll_once() {
            return ControlFlow::Break(Err(e.to_string()));
        }
        if finished.load(Ordering::SeqCst) == CLIENTS + 1 {
            return ControlFlow::Break(Ok(srv.stats()));
        }
        if Instant::now() > deadline {
            return ControlFlow::Break(Err(format!(
                "only {} of {} clients finished",
                finished.load(Ordering::SeqCst),
                CLIENTS + 1
            )));
        }
        ControlFlow::Continue(())
    });
    let stats = outcome.expect("loop ended by Break").expect("server ok");
    let errors: Vec<String> = rx.try_iter().filter_map(Result::err).collect();
    assert!(errors.is_empty(), "client errors: {errors:?}");
    assert_eq!(stats.accepted as usize, CLIENTS + 3);
    assert_eq!(stats.requests as usize, CLIENTS * REQUESTS_PER_CLIENT + 4);
}

// ---------------------------------------------------------------------------------------------
// The `http_server` example as a process (F-Stack is initialised once per process, and the test
// above owns this one's): strict parsing, timeouts and the connection limit, seen from clients.

/// The built example (cargo builds examples beside the test binaries' `deps`).
/// The example binary `name`, built by cargo (never a stale or guessed one).
fn example(name: &str) -> PathBuf {
    support::example_bin(name)
}

/// A running `http_server` on 127.0.0.1 with its stderr collected.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl ServerProcess {
    fn start(extra: &[&str]) -> ServerProcess {
        let exe = example("http_server");
        assert!(
            exe.exists(),
            "{} is missing: `cargo test` builds it, or `cargo build --example http_server`",
            exe.display()
        );
        let mut child = Command::new(&exe)
            .arg("--config")
            .arg(common::config_path())
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn http_server");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let lines = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(rest) = line.split_once("listening on http://").map(|(_, r)| r) {
                    let addr = rest.split('/').next().unwrap_or_default().to_string();
                    let _ = tx.send(addr);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let mut server = ServerProcess {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            stderr,
            reader: Some(reader),
        };
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => server.addr = addr.parse().expect("address in the banner"),
            Err(_) => panic!(
                "http_server did not start: {:?}",
                server.stderr.lock().unwrap()
            ),
        }
        server
    }

    /// SIGTERM, then the exit status and everything it printed on stderr.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "http_server ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        self.reader.take().unwrap().join().unwrap();
        let text = self.stderr.lock().unwrap().join("\n");
        (status, text)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Exactly what the server sends for `request`.
fn response_bytes(request: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    respond(request, &mut out);
    out
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Sends `input` and reads until the server closes: everything it sent. Fails on a read error
/// or timeout (the connection must end with a clean EOF).
fn exchange(addr: SocketAddr, input: &[u8]) -> Result<Vec<u8>, String> {
    let mut s = connect(addr);
    s.write_all(input).map_err(|e| format!("write: {e}"))?;
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .map_err(|e| format!("read: {e} after {:?}", String::from_utf8_lossy(&got)))?;
    Ok(got)
}

/// A request a lenient parser would find inside the body of the one before it (36 bytes).
const SMUGGLED: &[u8] = b"GET /smuggle1 HTTP/1.1\r\nHost: xy\r\n\r\n";

#[test]
fn ambiguous_requests_get_exactly_400_and_close() {
    if common::skip_unless_kernel_backend("ambiguous_requests_get_exactly_400_and_close") {
        return;
    }
    assert_eq!(SMUGGLED.len(), 36);
    let server = ServerProcess::start(&[]);
    let bad = response_bytes(&Request::Bad);
    let cases: &[(&str, &[u8])] = &[
        (
            "space before colon (issue input)",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 36\r\n\r\n",
        ),
        (
            "space before colon, GET",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 36\r\n\r\n",
        ),
        (
            "tab before colon",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length\t: 36\r\n\r\n",
        ),
        (
            "obs-fold",
            b"POST / HTTP/1.1\r\nHost: x\r\nX-Pad: a\r\n Content-Length: 36\r\n\r\n",
        ),
        (
            "obs-fold with tab",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: a\r\n\tb\r\n\r\n",
        ),
        (
            "bad header-name character",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad(name): 1\r\n\r\n",
        ),
        (
            "control character in a name",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent\x00Length: 36\r\n\r\n",
        ),
        (
            "duplicate conflicting Content-Length",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 36\r\n\r\n",
        ),
        (
            "duplicate equal Content-Length",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 36\r\nContent-Length: 36\r\n\r\n",
        ),
        (
            "Content-Length list",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 36, 0\r\n\r\n",
        ),
        (
            "Content-Length with Transfer-Encoding",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "Transfer-Encoding with Content-Length",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
        ),
        (
            "chunked not the final coding",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        ),
        (
            "Transfer-Encoding in HTTP/1.0",
            b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "negative chunk size",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "0x chunk size",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x24\r\n",
        ),
        (
            "empty chunk size",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        ),
        (
            "bare LF in a chunk extension",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "chunk data longer than its size",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n",
        ),
        ("bare LF line ends", b"GET / HTTP/1.1\nHost: x\n\n"),
        (
            "GET with a chunked body",
            b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
    ];
    let mut failures = Vec::new();
    for (name, head) in cases {
        let mut input = head.to_vec();
        input.extend_from_slice(SMUGGLED);
        match exchange(server.addr, &input) {
            // Exactly one 400, then EOF: the smuggled request is never answered.
            Ok(got) if got == bad => {}
            Ok(got) => failures.push(format!("{name}: got {:?}", String::from_utf8_lossy(&got))),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }

    // An unknown transfer coding: 501 (RFC 9112 §6.1), then close.
    let input = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n";
    match exchange(server.addr, input) {
        Ok(got) if got == response_bytes(&Request::NotImplemented) => {}
        other => failures.push(format!("gzip, chunked: {other:?}")),
    }

    // Well-framed bodies holding request-like bytes are read as bodies: 405 (connection kept),
    // then the next request's 200, and nothing else.
    let mut want = response_bytes(&Request::MethodNotAllowed { close: false });
    want.extend(response_bytes(&Request::Page {
        head_only: false,
        close: true,
    }));
    let chunked = [
        &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n24;ext=1\r\n"[..],
        SMUGGLED,
        b"\r\n0\r\nX-Trailer: 1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n",
    ]
    .concat();
    let length = [
        &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 36\r\n\r\n"[..],
        SMUGGLED,
        b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
    ]
    .concat();
    for (name, input) in [("chunked body", chunked), ("Content-Length body", length)] {
        match exchange(server.addr, &input) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!("{name}: got {:?}", String::from_utf8_lossy(&got))),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }

    let (status, stderr) = server.stop();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(status.success(), "exit {status:?}: {stderr}");
    // 21 refused with 400, 1 with 501, 2 x (405 + 200).
    assert!(
        stderr.contains("24 connections, 26 requests"),
        "summary: {stderr}"
    );
}

/// How a trickling ("slowloris") connection ended.
#[derive(Debug)]
struct Trickled {
    /// From connect to the server's EOF or reset (or giving up).
    lifetime: Duration,
    /// Everything the server sent.
    got: Vec<u8>,
    /// The server closed it (EOF or reset) within the time given.
    closed: bool,
}

/// Sends the start of a request head, then one more header byte every `every`, until the
/// server closes the connection or `give_up` passes.
fn trickle(addr: SocketAddr, every: Duration, give_up: Duration) -> Trickled {
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
fn two_requests(addr: SocketAddr) -> Result<(), String> {
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

#[test]
fn slow_heads_get_408_and_idle_keep_alive_closes() {
    if common::skip_unless_kernel_backend("slow_heads_get_408_and_idle_keep_alive_closes") {
        return;
    }
    let server = ServerProcess::start(&["--header-timeout", "1", "--idle-timeout", "1"]);
    let addr = server.addr;
    // Five clients trickle a header byte every 200 ms: each gets exactly a 408, then EOF,
    // no sooner than the 1 s header deadline.
    let slow: Vec<_> = (0..5)
        .map(|_| {
            std::thread::spawn(move || {
                trickle(addr, Duration::from_millis(200), Duration::from_secs(20))
            })
        })
        .collect();
    // Two connect and send nothing: closed at the same deadline, silently.
    let silent: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let start = Instant::now();
                let mut s = connect(addr);
                let mut got = Vec::new();
                let r = s.read_to_end(&mut got).map_err(|e| e.to_string());
                (start.elapsed(), r, got)
            })
        })
        .collect();
    // One keep-alive client is served, then closed after 1 s idle.
    let idle = std::thread::spawn(move || {
        let stream = connect(addr);
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        w.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let response = read_response(&mut r);
        let served = Instant::now();
        let mut rest = Vec::new();
        let eof = r.read_to_end(&mut rest).map_err(|e| e.to_string());
        (response, served.elapsed(), eof, rest)
    });
    // Meanwhile a normal client is served.
    let normal = two_requests(addr);

    let timeout = response_bytes(&Request::Timeout);
    for t in slow {
        let t = t.join().unwrap();
        assert!(t.closed, "{t:?}");
        assert_eq!(
            String::from_utf8_lossy(&t.got),
            String::from_utf8_lossy(&timeout)
        );
        assert!(
            t.lifetime >= Duration::from_millis(900) && t.lifetime < Duration::from_secs(20),
            "{t:?}"
        );
    }
    for s in silent {
        let (lifetime, r, got) = s.join().unwrap();
        assert_eq!(r, Ok(0), "silent connection: {got:?}");
        assert!(
            lifetime >= Duration::from_millis(900) && lifetime < Duration::from_secs(20),
            "{lifetime:?}"
        );
    }
    let (response, idle_for, eof, rest) = idle.join().unwrap();
    let (status, headers, body) = response.expect("idle client served");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains(&"Connection: keep-alive".to_string()));
    assert_eq!(body, PAGE);
    assert_eq!(eof, Ok(0), "idle keep-alive connection closed with EOF");
    assert!(rest.is_empty());
    assert!(
        idle_for >= Duration::from_millis(900) && idle_for < Duration::from_secs(20),
        "{idle_for:?}"
    );
    assert_eq!(normal, Ok(()));

    let (status, stderr) = server.stop();
    assert!(status.success(), "exit {status:?}: {stderr}");
    // 5 trickling + 2 silent (header deadline) + 1 idle; the normal client is not among them.
    assert!(stderr.contains("; 8 timed out,"), "summary: {stderr}");
}

#[test]
fn slowloris_flood_over_the_limit_does_not_starve_clients() {
    if common::skip_unless_kernel_backend("slowloris_flood_over_the_limit_does_not_starve_clients")
    {
        return;
    }
    common::raise_fd_limit();
    const ATTACKERS: usize = 80;
    const LIMIT: usize = 20;
    let server = ServerProcess::start(&[
        "--max-connections",
        "20",
        "--header-timeout",
        "1",
        "--idle-timeout",
        "5",
    ]);
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let connected = Arc::new(AtomicUsize::new(0));
    // 80 slowloris clients, each reconnecting 200 ms after the server closes it. When stopped
    // they no longer reconnect, but their last connections trickle on until the server closes
    // them (or 30 s pass: a failure).
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|_| {
            let (stop, connected) = (stop.clone(), connected.clone());
            std::thread::spawn(move || {
                connected.fetch_add(1, Ordering::SeqCst);
                let mut ended = Vec::new();
                loop {
                    let every = Duration::from_millis(250);
                    ended.push(trickle(addr, every, Duration::from_secs(30)));
                    std::thread::sleep(Duration::from_millis(200));
                    if stop.load(Ordering::SeqCst) {
                        return ended;
                    }
                }
            })
        })
        .collect();
    let attack_start = Instant::now();
    while connected.load(Ordering::SeqCst) < ATTACKERS {
        assert!(attack_start.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));

    // During the attack: 20 clients (4 at a time), two requests each, all served.
    let clients: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || (0..5).map(|_| two_requests(addr)).collect::<Vec<_>>()))
        .collect();
    let results: Vec<Result<(), String>> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    // Keep the attack up for a few header deadlines, then stop it.
    while attack_start.elapsed() < Duration::from_secs(4) {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    let ended: Vec<Trickled> = attackers
        .into_iter()
        .flat_map(|a| a.join().unwrap())
        .collect();
    let (status, stderr) = server.stop();
    let with_408 = ended.iter().filter(|t| !t.got.is_empty()).count();
    eprintln!(
        "{} slow connections, {with_408} closed with 408; server:\n{stderr}",
        ended.len()
    );

    let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        errors.is_empty(),
        "clients not served: {errors:?}\n{stderr}"
    );
    assert_eq!(results.len(), 20);
    // Every slow connection was closed by the server: shed at the limit (nothing sent), or, at
    // the end, when no newcomer pushed them out, with a 408 at the 1 s header deadline.
    let timeout = response_bytes(&Request::Timeout);
    assert!(ended.len() > ATTACKERS, "{} slow connections", ended.len());
    for t in &ended {
        assert!(t.closed, "the server left a slow connection open: {t:?}");
        assert!(t.got.is_empty() || t.got == timeout, "{t:?}");
        assert!(t.lifetime < Duration::from_secs(15), "{t:?}");
        if !t.got.is_empty() {
            assert!(
                t.lifetime >= Duration::from_millis(900),
                "408 too early: {t:?}"
            );
        }
    }
    assert!(
        with_408 >= 1,
        "no slow connection reached the header deadline"
    );
    assert!(status.success(), "exit {status:?}: {stderr}");
    assert!(
        stderr.contains("connection limit 20 reached (--max-connections)"),
        "no over-limit line: {stderr}"
    );
    let peak: usize = stderr
        .split("peak ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak in {stderr}"));
    assert!(peak <= LIMIT, "peak {peak} open: {stderr}");
}

#[test]
fn cli_help_and_bad_arguments() {
    let exe = example("http_server");
    assert!(exe.exists(), "{} is missing", exe.display());
    let out = Command::new(&exe).arg("--help").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    for want in [
        "--listen <ADDR:PORT>",
        "[default: 0.0.0.0:80]",
        "--config <FILE>",
        "[default: f-stack.conf]",
        "--header-timeout <SECS>",
        "[default: 10]",
        "--idle-timeout <SECS>",
        "[default: 60]",
        "--max-connections <N>",
        "[default: 1024]",
    ] {
        assert!(help.contains(want), "--help lacks {want:?}:\n{help}");
    }
    // Bad arguments never reach F-Stack: exit 2, nothing on stdout, one line on stderr.
    for args in [
        &["--bogus"][..],
        &["extra"],
        &["--listen"],
        &["--listen", "nope"],
        &["--header-timeout", "0"],
        &["--idle-timeout", "-1"],
        &["--idle-timeout", "soon"],
        &["--max-connections", "0"],
    ] {
        let out = Command::new(&exe).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("http_server: "), "{args:?}: {stderr}");
    }
}
