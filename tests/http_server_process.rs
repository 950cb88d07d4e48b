//! The `http_server` example as a process (built by the test through cargo): request
//! smuggling attempts get exactly one 400 and a close, slow request heads a 408 after the
//! header deadline, idle keep-alive connections close, a slowloris flood beyond
//! `--max-connections` does not keep clients from being served, and the command line contract.
//! The server logic in-process (200 concurrent keep-alive clients) is `tests/http_server.rs`.

#[path = "../fstack/tests/common/mod.rs"]
mod common;
mod http_client;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use fstack_examples::http::{respond, Request, PAGE};
use http_client::{connect, exchange, read_response, trickle, two_requests, Trickled};

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
        b"\r\n0\r\nX-Trailer: 1\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ]
    .concat();
    let length = [
        &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 36\r\n\r\n"[..],
        SMUGGLED,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
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
    // One sends a complete head, then its body a byte every 200 ms: each byte is progress
    // (the idle timeout never passes), but the whole request is due within the header
    // timeout.
    let slow_body = std::thread::spawn(move || {
        let start = Instant::now();
        let mut s = connect(addr);
        s.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while start.elapsed() < Duration::from_secs(20) {
            match s.read(&mut buf) {
                Ok(0) => return (start.elapsed(), true, got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if s.write_all(b"x").is_err() {
                        return (start.elapsed(), true, got);
                    }
                }
                Err(_) => return (start.elapsed(), true, got),
            }
        }
        (start.elapsed(), false, got)
    });
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
    let (lifetime, closed, got) = slow_body.join().unwrap();
    assert!(closed, "slow body still open after {lifetime:?}: {got:?}");
    assert!(
        lifetime >= Duration::from_millis(900) && lifetime < Duration::from_secs(10),
        "{lifetime:?}"
    );
    assert!(
        got.is_empty() || got == timeout,
        "{:?}",
        String::from_utf8_lossy(&got)
    );
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
    // 5 trickling + 2 silent + 1 slow body (header deadline) + 1 idle; the normal client is
    // not among them.
    assert!(stderr.contains("; 9 timed out,"), "summary: {stderr}");
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
