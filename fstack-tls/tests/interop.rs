//! Interoperability with TLS implementations not written here: Python's `ssl` module (OpenSSL)
//! and the `openssl` command line tool, as client and as server, with each engine over TLS 1.3
//! and TLS 1.2. Each peer is skipped with a printed reason when it is not installed.

mod support;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fstack_tls::{Protocol, TlsAcceptor, TlsConnector, TlsStream};
use support::certs::{self, TestCa, Validity};
use support::{combos, write_all_nb, Combo, Side, DEADLINE};

fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Kills the child when the test ends, however it ends.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for the child to exit within the deadline; returns its stdout.
fn finish(mut child: Reaper) -> String {
    let start = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            let mut out = String::new();
            if let Some(mut o) = child.0.stdout.take() {
                o.read_to_string(&mut out).unwrap();
            }
            let mut err = String::new();
            if let Some(mut e) = child.0.stderr.take() {
                e.read_to_string(&mut err).unwrap();
            }
            assert!(status.success(), "peer failed: {status}\n{out}\n{err}");
            return out;
        }
        assert!(start.elapsed() < DEADLINE, "peer did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn client_handshake(connector: &TlsConnector, host: &str, port: u16) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_nonblocking(true).unwrap();
    let mut side = Side::from(connector.connect(host, tcp));
    let start = Instant::now();
    while side.step() {
        assert!(start.elapsed() < DEADLINE, "handshake did not finish");
        std::thread::sleep(Duration::from_millis(1));
    }
    side.into_result().unwrap()
}

/// Reads to the end of the stream; `Err` carries what was read before an error.
fn read_to_end(tls: &mut TlsStream<TcpStream>) -> Result<Vec<u8>, (Vec<u8>, io::Error)> {
    let mut out = Vec::new();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(start.elapsed() < DEADLINE, "read did not finish");
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err((out, e)),
        }
    }
}

/// Each engine against the external peer, over each version: (engine on our side, version).
fn our_sides() -> Vec<Combo> {
    combos()
        .into_iter()
        .filter(|c| c.client == c.server)
        .collect()
}

/// An acceptor speaking only `combo.version`, so the external client negotiates it.
fn our_acceptor(combo: Combo, ca: &TestCa, leaf: &certs::CertKey) -> TlsAcceptor {
    TlsAcceptor::builder(ca.chain(leaf).as_bytes(), leaf.key_pem.as_bytes())
        .unwrap()
        .engine(combo.server)
        .min_protocol_version(Some(combo.version))
        .max_protocol_version(Some(combo.version))
        .build()
        .unwrap()
}

/// How Python's `ssl` and OpenSSL name a version.
fn openssl_name(v: Protocol) -> &'static str {
    match v {
        Protocol::Tls12 => "TLSv1.2",
        _ => "TLSv1.3",
    }
}

const PY_SERVER: &str = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
print("PORT", ls.getsockname()[1], flush=True)
conn, _ = ls.accept()
conn.settimeout(30)
tls = ctx.wrap_socket(conn, server_side=True)
data = b""
while not data.endswith(b"\n"):
    chunk = tls.recv(4096)
    if not chunk:
        break
    data += chunk
tls.sendall(b"python got: " + data + b"x" * 100000)
print("VERSION", tls.version(), flush=True)
tls.unwrap()  # sends close_notify, then waits for the peer's
"#;

const PY_CLIENT: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=30)
tls = ctx.wrap_socket(s, server_hostname="localhost")
tls.sendall(b"hello from python\n")
data = b""
while True:
    chunk = tls.recv(65536)
    if not chunk:
        break  # close_notify received
    data += chunk
print("GOT", len(data), data[:20].decode(), flush=True)
print("CIPHER", tls.cipher()[0], flush=True)
print("VERSION", tls.version(), flush=True)
"#;

#[test]
fn our_client_against_python_ssl_server() {
    if !have("python3", "--version") {
        eprintln!("SKIPPED our_client_against_python_ssl_server: python3 is not installed");
        return;
    }
    for combo in our_sides() {
        eprintln!("{combo}");
        let ca = TestCa::new("Interop CA");
        let leaf = ca.leaf(&["localhost"], Validity::Current);
        let chain = certs::temp_file("py-server-chain.pem", &ca.chain(&leaf));
        let key = certs::temp_file("py-server-key.pem", &leaf.key_pem);
        let mut child = Reaper(
            Command::new("python3")
                .args(["-c", PY_SERVER])
                .arg(&chain)
                .arg(&key)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut line = String::new();
        BufReader::new(child.0.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().strip_prefix("PORT ").unwrap().parse().unwrap();

        let connector = combo
            .connector()
            .ca_pem(ca.ca.cert_pem.as_bytes())
            .build()
            .unwrap();
        let mut tls = client_handshake(&connector, "localhost", port);
        assert_eq!(tls.protocol_version(), Some(combo.version));
        write_all_nb(&mut tls, b"hi from fstack-tls\n", || {
            std::thread::sleep(Duration::from_millis(1))
        });
        let got = read_to_end(&mut tls).unwrap_or_else(|(_, e)| panic!("read: {e}"));
        assert!(got.starts_with(b"python got: hi from fstack-tls\n"));
        assert_eq!(
            got.len(),
            "python got: hi from fstack-tls\n".len() + 100_000
        );
        assert!(tls.peer_closed(), "Python's unwrap() sent close_notify");
        // unwrap() waits for our close_notify in return.
        let start = Instant::now();
        loop {
            match tls.shutdown() {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(start.elapsed() < DEADLINE);
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("shutdown: {e}"),
            }
        }
        drop(tls);
        let out = finish(child);
        assert!(
            out.contains(&format!("VERSION {}", openssl_name(combo.version))),
            "{out}"
        );
    }
}

#[test]
fn python_ssl_client_against_our_acceptor() {
    if !have("python3", "--version") {
        eprintln!("SKIPPED python_ssl_client_against_our_acceptor: python3 is not installed");
        return;
    }
    for combo in our_sides() {
        eprintln!("{combo}");
        let ca = TestCa::new("Interop CA");
        let leaf = ca.leaf(&["localhost"], Validity::Current);
        let ca_file = certs::temp_file("py-client-ca.pem", &ca.ca.cert_pem);
        let acceptor = our_acceptor(combo, &ca, &leaf);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let child = Reaper(
            Command::new("python3")
                .args(["-c", PY_CLIENT])
                .arg(&ca_file)
                .arg(port.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_nonblocking(true).unwrap();
        let mut side = Side::from(acceptor.accept(tcp));
        let start = Instant::now();
        while side.step() {
            assert!(start.elapsed() < DEADLINE, "handshake did not finish");
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut tls = side.into_result().unwrap();
        assert_eq!(tls.protocol_version(), Some(combo.version));
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !got.ends_with(b"\n") {
            match tls.read(&mut buf) {
                Ok(0) => panic!("EOF before the request line"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(start.elapsed() < DEADLINE);
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("read: {e}"),
            }
        }
        assert_eq!(got, b"hello from python\n");
        let reply = vec![b'z'; 300_000];
        write_all_nb(&mut tls, &reply, || {
            std::thread::sleep(Duration::from_millis(1))
        });
        loop {
            match tls.shutdown() {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(start.elapsed() < DEADLINE);
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("shutdown: {e}"),
            }
        }
        let out = finish(child);
        assert!(out.contains("GOT 300000 zzzz"), "{out}");
        assert!(
            out.contains(&format!("VERSION {}", openssl_name(combo.version))),
            "{out}"
        );
    }
}

/// Starts `openssl s_server` for one connection on a free port, in `dir`, presenting `leaf`
/// with `ca`'s certificate; `args` add to the command line.
fn s_server(
    ca: &TestCa,
    leaf: &certs::CertKey,
    dir: &std::path::Path,
    args: &[&str],
) -> (Reaper, u16) {
    // Tests run in parallel in one process: each server gets its own files.
    static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let cert = certs::temp_file(&format!("ossl-cert-{n}.pem"), &leaf.cert_pem);
    let chain = certs::temp_file(&format!("ossl-chain-{n}.pem"), &ca.ca.cert_pem);
    let key = certs::temp_file(&format!("ossl-key-{n}.pem"), &leaf.key_pem);
    // A free port: bind, note, release (s_server cannot report an ephemeral port).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Reaper(
        Command::new("openssl")
            .args(["s_server", "-quiet", "-naccept", "1", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&cert)
            .arg("-cert_chain")
            .arg(&chain)
            .arg("-key")
            .arg(&key)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    (child, port)
}

/// Connects to `port` once something listens there, and completes the handshake.
fn connect_when_listening(connector: &TlsConnector, port: u16) -> TlsStream<TcpStream> {
    let start = Instant::now();
    let tcp = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(t) => break t,
            Err(_) => {
                assert!(start.elapsed() < DEADLINE, "s_server never listened");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    tcp.set_nonblocking(true).unwrap();
    let mut side = Side::from(connector.connect("localhost", tcp));
    while side.step() {
        assert!(start.elapsed() < DEADLINE);
        std::thread::sleep(Duration::from_millis(1));
    }
    side.into_result().unwrap()
}

/// Sends an HTTP/1.0 GET and reads the response to the server's close.
fn http_get(tls: &mut TlsStream<TcpStream>, path: &str) -> Vec<u8> {
    let request = format!("GET {path} HTTP/1.0\r\n\r\n");
    write_all_nb(tls, request.as_bytes(), || {
        std::thread::sleep(Duration::from_millis(1))
    });
    // s_server closes with close_notify after the response.
    match read_to_end(tls) {
        Ok(page) => page,
        Err((page, e)) if e.kind() == io::ErrorKind::UnexpectedEof => page,
        Err((_, e)) => panic!("read: {e}"),
    }
}

#[test]
fn our_client_against_openssl_s_server() {
    if !have("openssl", "version") {
        eprintln!("SKIPPED our_client_against_openssl_s_server: openssl is not installed");
        return;
    }
    for combo in our_sides() {
        eprintln!("{combo}");
        let ca = TestCa::new("Interop CA");
        let leaf = ca.leaf(&["localhost"], Validity::Current);
        let (child, port) = s_server(&ca, &leaf, &std::env::temp_dir(), &["-www"]);
        let connector = combo
            .connector()
            .ca_pem(ca.ca.cert_pem.as_bytes())
            .build()
            .unwrap();
        let mut tls = connect_when_listening(&connector, port);
        let page = http_get(&mut tls, "/");
        let page = String::from_utf8_lossy(&page);
        assert!(page.starts_with("HTTP/1.0 200 ok"), "{page}");
        assert!(page.contains(openssl_name(combo.version)), "{page}");
        assert_eq!(tls.protocol_version(), Some(combo.version));
        drop(tls);
        drop(child);
    }
}

/// A server that imposes its cipher suite (as Binance imposes AES-GCM) gets it, and a
/// megabyte comes through intact, with each AEAD suite of each version.
#[test]
fn our_client_takes_the_suite_an_openssl_server_imposes() {
    if !have("openssl", "version") {
        eprintln!("SKIPPED our_client_takes_the_suite_an_openssl_server_imposes: no openssl");
        return;
    }
    let dir = std::env::temp_dir().join(format!("fstack-tls-suites-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body = support::Pattern::new(11).bytes(1 << 20);
    std::fs::write(dir.join("body.bin"), &body).unwrap();
    for combo in our_sides() {
        let suites: &[(&str, u16)] = match combo.version {
            Protocol::Tls12 => &[
                ("ECDHE-ECDSA-AES128-GCM-SHA256", 0xC02B),
                ("ECDHE-ECDSA-AES256-GCM-SHA384", 0xC02C),
                ("ECDHE-ECDSA-CHACHA20-POLY1305", 0xCCA9),
            ],
            _ => &[
                ("TLS_AES_128_GCM_SHA256", 0x1301),
                ("TLS_AES_256_GCM_SHA384", 0x1302),
                ("TLS_CHACHA20_POLY1305_SHA256", 0x1303),
            ],
        };
        for &(name, id) in suites {
            eprintln!("{combo}, {name}");
            let ca = TestCa::new("Interop CA");
            let leaf = ca.leaf(&["localhost"], Validity::Current);
            let option = match combo.version {
                Protocol::Tls12 => "-cipher",
                _ => "-ciphersuites",
            };
            let (child, port) = s_server(&ca, &leaf, &dir, &["-WWW", option, name]);
            let connector = combo
                .connector()
                .ca_pem(ca.ca.cert_pem.as_bytes())
                .build()
                .unwrap();
            let mut tls = connect_when_listening(&connector, port);
            assert_eq!(tls.cipher_suite(), Some(id), "{name}");
            let response = http_get(&mut tls, "/body.bin");
            let start = response
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("an HTTP response")
                + 4;
            assert!(response.starts_with(b"HTTP/1.0 200 ok"), "{name}");
            assert!(response[start..] == body[..], "{name}: the body differs");
            drop(tls);
            drop(child);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn openssl_s_client_against_our_acceptor() {
    if !have("openssl", "version") {
        eprintln!("SKIPPED openssl_s_client_against_our_acceptor: openssl is not installed");
        return;
    }
    for combo in our_sides() {
        eprintln!("{combo}");
        let ca = TestCa::new("Interop CA");
        let leaf = ca.leaf(&["localhost"], Validity::Current);
        let ca_file = certs::temp_file("ossl-client-ca.pem", &ca.ca.cert_pem);
        let acceptor = our_acceptor(combo, &ca, &leaf);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut child = Reaper(
            Command::new("openssl")
                .args([
                    "s_client",
                    "-quiet",
                    "-verify_return_error",
                    "-verify_hostname",
                ])
                .arg("localhost")
                .arg("-servername")
                .arg("localhost")
                .arg("-CAfile")
                .arg(&ca_file)
                .arg("-connect")
                .arg(format!("127.0.0.1:{port}"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_nonblocking(true).unwrap();
        let mut side = Side::from(acceptor.accept(tcp));
        let start = Instant::now();
        while side.step() {
            assert!(start.elapsed() < DEADLINE, "handshake did not finish");
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut tls = side.into_result().unwrap();
        child
            .0
            .stdin
            .take()
            .unwrap()
            .write_all(b"from s_client\n")
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !got.ends_with(b"\n") {
            match tls.read(&mut buf) {
                Ok(0) => panic!("EOF before the line"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(start.elapsed() < DEADLINE);
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("read: {e}"),
            }
        }
        assert_eq!(got, b"from s_client\n");
        write_all_nb(&mut tls, b"from fstack-tls\n", || {
            std::thread::sleep(Duration::from_millis(1))
        });
        loop {
            match tls.shutdown() {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("shutdown: {e}"),
            }
        }
        let out = finish(child);
        assert!(out.contains("from fstack-tls"), "{out}");
    }
}
