//! The async examples as processes on the kernel backend: `async_http_server` answers curl
//! with `http_server`'s page and 200 concurrent keep-alive clients (5 requests each), then
//! stops cleanly on SIGINT; `async_wss_client` prints exactly the messages `mock_exchange`
//! sent, in order, answers its pings, closes cleanly, and fails with one line naming the
//! failed check when the certificate does not match.

#[path = "../fstack/tests/common/mod.rs"]
mod common;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fstack_examples::http::PAGE;
use fstack_mock_exchange::{event_json, parse_stream, MockConfig, MockExchange};
use support::process::Running;

const CLIENTS: usize = 200;
const REQUESTS: usize = 5;

fn config() -> String {
    common::config_path().to_str().unwrap().to_string()
}

/// Starts `async_http_server` on a free loopback port with `extra` options: the process and
/// the address it printed.
fn start_http_server(extra: &[&str]) -> (Running, SocketAddr) {
    let config = config();
    let mut args = vec!["--listen", "127.0.0.1:0", "--config", &config];
    args.extend_from_slice(extra);
    let mut server = Running::spawn("async_http_server", &args);
    let line = server.wait_for_stderr("listening on http://", Duration::from_secs(120));
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (server, addr)
}

/// Reads one response: the status line, lowercased header lines, the body (Content-Length).
fn response(r: &mut impl BufRead) -> Result<(String, Vec<String>, Vec<u8>), String> {
    let mut status = String::new();
    r.read_line(&mut status)
        .map_err(|e| format!("status: {e}"))?;
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).map_err(|e| format!("header: {e}"))?;
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("content-length: ") {
            length = v.parse().map_err(|_| format!("bad length {v}"))?;
        }
        headers.push(line);
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).map_err(|e| format!("body: {e}"))?;
    Ok((status.trim_end().to_string(), headers, body))
}

fn keep_alive_client(addr: SocketAddr) -> Result<(), String> {
    let s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    for i in 0..REQUESTS {
        w.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let (status, headers, body) = response(&mut r)?;
        if status != "HTTP/1.1 200 OK" || body != PAGE.as_bytes() {
            return Err(format!("request {i}: {status} {headers:?}"));
        }
        if !headers.contains(&"content-type: text/html; charset=utf-8".to_string()) {
            return Err(format!("request {i}: headers {headers:?}"));
        }
    }
    Ok(())
}

#[test]
fn async_http_server_serves_curl_and_200_keep_alive_clients() {
    if common::skip_unless_kernel_backend("async_http_server") {
        return;
    }
    let (server, addr) = start_http_server(&[]);

    // curl, when installed: the page byte for byte.
    match Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .arg(format!("http://{addr}/"))
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "curl: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8(out.stdout).unwrap(), PAGE);
        }
        Err(e) => eprintln!("curl not run ({e}); the Rust clients below still are"),
    }

    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| std::thread::spawn(move || keep_alive_client(addr)))
        .collect();
    let errors: Vec<String> = clients
        .into_iter()
        .filter_map(|c| c.join().unwrap().err())
        .collect();
    assert!(
        errors.is_empty(),
        "{} clients failed: {errors:?}",
        errors.len()
    );

    server.signal(libc::SIGINT);
    let (status, _, stderr) = server.finish(Duration::from_secs(30));
    assert!(status.success(), "exit {status}: {stderr:?}");
    let summary = stderr
        .iter()
        .find(|l| l.starts_with("async_http_server: stopped;"))
        .unwrap_or_else(|| panic!("no summary: {stderr:?}"));
    let curl = usize::from(Command::new("curl").arg("--version").output().is_ok());
    assert!(
        summary.contains(&format!(
            "{} connections, {} requests",
            CLIENTS + curl,
            CLIENTS * REQUESTS + curl
        )),
        "{summary}"
    );
    assert!(!stderr.iter().any(|l| l.contains("panicked")), "{stderr:?}");
}

fn run_client(args: &[&str]) -> std::process::Output {
    Command::new(support::example_bin("async_wss_client"))
        .args(["--config", &config()])
        .args(args)
        .output()
        .expect("run async_wss_client")
}

#[test]
fn async_wss_client_prints_the_mock_messages_in_order() {
    if common::skip_unless_kernel_backend("async_wss_client") {
        return;
    }
    let mock = MockExchange::start(MockConfig {
        rate: 50.0,
        // Several pings during the run: each must be answered.
        ping_interval: Duration::from_millis(40),
        ..MockConfig::default()
    })
    .unwrap();
    let dir = std::env::temp_dir().join(format!("async-wss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca: PathBuf = dir.join("ca.pem");
    std::fs::write(&ca, mock.ca_pem()).unwrap();
    let port = mock.local_addr().port();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let stream = "btcusdt@bookTicker";
    let url = format!("wss://localhost:{port}/ws/{stream}");
    let count = 20u64;
    let out = run_client(&[
        "--ca-file",
        ca.to_str().unwrap(),
        "--resolve",
        &resolve,
        "--count",
        &count.to_string(),
        &url,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    // bookTicker events carry no time: every byte is a function of the sequence number,
    // which starts at 1 for the mock's first connection to a stream.
    let (symbol, kind) = parse_stream(stream).unwrap();
    let want: String = (1..=count)
        .map(|seq| {
            let mut line = String::new();
            event_json(&symbol, kind, seq, 0, &mut line);
            line + "\n"
        })
        .collect();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
    let stats = mock.stats();
    assert!(stats.pings.load(Ordering::Relaxed) >= 1, "no ping was sent");
    assert_eq!(
        stats.pongs.load(Ordering::Relaxed),
        stats.pings.load(Ordering::Relaxed),
        "every ping answered"
    );
    assert_eq!(
        stats.client_closes.load(Ordering::Relaxed),
        1,
        "close frame"
    );

    // Without --count, until SIGINT: a close frame, exit 0, and the messages printed are the
    // stream's next ones (the mock numbers a stream's events across connections).
    let mut client = Running::spawn(
        "async_wss_client",
        &[
            "--config",
            &config(),
            "--ca-file",
            ca.to_str().unwrap(),
            "--resolve",
            &resolve,
            &url,
        ],
    );
    client.wait_for_stdout_lines(3, Duration::from_secs(60));
    client.signal(libc::SIGINT);
    let (status, stdout, stderr) = client.finish(Duration::from_secs(30));
    assert!(status.success(), "exit {status}: {stderr:?}");
    assert!(stdout.len() >= 3, "{stdout:?}");
    for (i, line) in stdout.iter().enumerate() {
        let mut want = String::new();
        event_json(&symbol, kind, count + 1 + i as u64, 0, &mut want);
        assert_eq!(
            line, &want,
            "message {i} after the first connection's {count}"
        );
    }
    assert_eq!(
        stderr,
        [format!(
            "async_wss_client: interrupted; closed after {} messages",
            stdout.len()
        )]
    );
    assert_eq!(
        stats.client_closes.load(Ordering::Relaxed),
        2,
        "close frame on SIGINT"
    );

    // The certificate names localhost, not the IP literal: one line naming the check.
    let out = run_client(&[
        "--ca-file",
        ca.to_str().unwrap(),
        "--count",
        "1",
        &format!("wss://127.0.0.1:{port}/ws/{stream}"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("async_wss_client: TLS handshake with 127.0.0.1")
            && lines[0].contains("hostname mismatch"),
        "{stderr}"
    );
}

#[test]
fn async_http_server_evicts_the_idle_connection_at_the_limit() {
    if common::skip_unless_kernel_backend("async_http_server limit") {
        return;
    }
    let (server, addr) = start_http_server(&["--max-connections", "1"]);
    let first = TcpStream::connect(addr).unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    (&first)
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (status, _, body) = response(&mut BufReader::new(&first)).unwrap();
    assert_eq!(
        (status.as_str(), body.as_slice()),
        ("HTTP/1.1 200 OK", PAGE.as_bytes())
    );
    // At the limit the idle first connection makes room: the second is served, the first
    // closed.
    let second = TcpStream::connect(addr).unwrap();
    second
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    (&second)
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (status, _, body) = response(&mut BufReader::new(&second)).unwrap();
    assert_eq!(
        (status.as_str(), body.as_slice()),
        ("HTTP/1.1 200 OK", PAGE.as_bytes())
    );
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut (&first), &mut rest);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    server.signal(libc::SIGTERM);
    let (status, _, stderr) = server.finish(Duration::from_secs(30));
    assert!(status.success(), "{stderr:?}");
    assert!(
        stderr.iter().any(|l| l
            == "async_http_server: stopped; 2 connections, 2 requests, 1 closed at shutdown, 1 \
                evicted at the connection limit"),
        "{stderr:?}"
    );
}

#[test]
fn async_echo_goes_on_after_running_out_of_descriptors() {
    if common::skip_unless_kernel_backend("async_echo") {
        return;
    }
    // Bad arguments: one line naming the program, exit 2.
    let out = Command::new(support::example_bin("async_echo"))
        .args(["--listen", "nowhere"])
        .output()
        .expect("run async_echo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("async_echo: "), "{stderr}");

    // A descriptor limit far below the connections the test opens: accept fails with EMFILE.
    let mut command = Command::new(support::example_bin("async_echo"));
    command.args(["--listen", "127.0.0.1:0", "--config", &config()]);
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else between fork
    // and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            let limit = libc::rlimit {
                rlim_cur: 24,
                rlim_max: 24,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    let mut server = Running::spawn_command("async_echo", command);
    let line = server.wait_for_stderr("listening on", Duration::from_secs(120));
    let addr: SocketAddr = line
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let crowd: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(addr).expect("connect (the backlog takes it)"))
        .collect();
    server.wait_for_stderr("async_echo: accept: ", Duration::from_secs(60));
    drop(crowd);
    // Descriptors free again: a new client is echoed.
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn.write_all(b"still here").unwrap();
    let mut got = [0u8; 10];
    std::io::Read::read_exact(&mut conn, &mut got).expect("echo after EMFILE");
    assert_eq!(&got, b"still here");
    server.signal(libc::SIGINT);
    let (status, _, stderr) = server.finish(Duration::from_secs(30));
    assert!(status.success(), "{stderr:?}");
}

#[test]
fn async_wss_client_connect_timeout_and_interrupt() {
    if common::skip_unless_kernel_backend("async_wss_client connect") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("async-wss-connect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca: PathBuf = dir.join("ca.pem");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let ca = ca.to_str().unwrap().to_string();

    // A server that accepts and never answers: the TLS handshake stalls.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (accepted_tx, accepted) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming() {
            held.push(conn);
            if accepted_tx.send(()).is_err() {
                break;
            }
        }
    });
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("wss://localhost:{port}/ws");

    let out = run_client(&[
        "--ca-file",
        &ca,
        "--resolve",
        &resolve,
        "--connect-timeout",
        "1",
        &url,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "async_wss_client: TLS handshake with localhost (127.0.0.1:{port}) timed out \
             (--connect-timeout 1)"
        )
    );

    // Ctrl-C while the handshake stalls (the timeout is far away): out at once, one line.
    // The first client's accept is drained before the second starts, so that the wait below
    // can only end with the second client's connection.
    while accepted.try_recv().is_ok() {}
    let client = Running::spawn(
        "async_wss_client",
        &[
            "--config",
            &config(),
            "--ca-file",
            &ca,
            "--resolve",
            &resolve,
            "--connect-timeout",
            "3600",
            &url,
        ],
    );
    if accepted.recv_timeout(Duration::from_secs(120)).is_err() {
        client.signal(libc::SIGKILL);
        let (status, stdout, stderr) = client.finish(Duration::from_secs(10));
        panic!("the client did not connect within 120 s ({status}); stdout {stdout:?}, stderr {stderr:?}");
    }
    client.signal(libc::SIGINT);
    let (status, _, stderr) = client.finish(Duration::from_secs(60));
    assert!(status.success(), "exit {status}: {stderr:?}");
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(
        stderr[0]
            == format!(
                "async_wss_client: interrupted (TLS handshake with localhost (127.0.0.1:{port}))"
            ),
        "{stderr:?}"
    );

    // A refused connection: the address once, not twice.
    let out = run_client(&[
        "--ca-file",
        &ca,
        "--resolve",
        "localhost:1:127.0.0.1",
        "wss://localhost:1/ws",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("async_wss_client: connecting to 127.0.0.1:1")
            && stderr.matches("127.0.0.1:1").count() == 1,
        "{stderr}"
    );
}

#[test]
fn async_http_server_start_failures_are_one_line() {
    if common::skip_unless_kernel_backend("async_http_server start") {
        return;
    }
    let run = |args: &[&str]| {
        let out = Command::new(support::example_bin("async_http_server"))
            .args(args)
            .output()
            .expect("run async_http_server");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stderr)
    };
    // An address that is not this host's: the bind error alone, no summary of nothing.
    let (code, stderr) = run(&["--listen", "192.0.2.1:8080", "--config", &config()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("async_http_server: listening on 192.0.2.1:8080: "),
        "{stderr}"
    );
    let (code, stderr) = run(&["--max-connections", "-1"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "async_http_server: invalid value '-1' for '--max-connections <N>': expected a whole \
         number (see --help)"
    );
}

#[test]
fn async_http_server_closes_a_slow_request_head() {
    if common::skip_unless_kernel_backend("async_http_server header timeout") {
        return;
    }
    let (server, addr) = start_http_server(&["--header-timeout", "2"]);
    // One byte of a never-ending header a second: traffic enough for the idle timeout, but
    // the head is never complete.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nX-Slow: ").unwrap();
    let mut closed_after = None;
    for second in 1..=30 {
        if slow.write_all(b"a").is_err() {
            closed_after = Some(second);
            break;
        }
        let mut buf = [0u8; 512];
        match std::io::Read::read(&mut slow, &mut buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            // End of stream, a reset, or an error response (408): the server gave up.
            _ => {
                closed_after = Some(second);
                break;
            }
        }
    }
    let closed_after = closed_after.expect("the slow head was still accepted after 30 s");
    assert!(
        closed_after >= 2,
        "closed after {closed_after} s, before --header-timeout 2"
    );

    // A keep-alive connection idle after its response waits for the next head under the same
    // timeout (hyper arms it before the first byte): closed after about 2 s, never earlier.
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(idle.try_clone().unwrap());
    let (status_line, _, body) = response(&mut reader).expect("the first response");
    assert!(status_line.starts_with("HTTP/1.1 200"), "{status_line}");
    assert!(!body.is_empty());
    let answered = std::time::Instant::now();
    idle.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut idle, &mut buf).unwrap_or(0);
    let waited = answered.elapsed();
    assert_eq!(n, 0, "the idle connection got bytes: {:?}", &buf[..n]);
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(55),
        "idle keep-alive closed after {waited:?}, expected --header-timeout 2 (not the 60 s idle timer)"
    );
    server.signal(libc::SIGTERM);
    let (status, _, stderr) = server.finish(Duration::from_secs(30));
    assert!(status.success(), "{stderr:?}");
}
