//! End-to-end test of `examples/tls_get.rs`: fetch pages from a local HTTPS server (Python's
//! `ssl` module, certificates from a test CA made here with rcgen) over F-Stack's kernel backend,
//! and fail with one clean line on a hostname mismatch, an untrusted CA and a refused
//! connection.
//!
//! The example binary is built by cargo for this test (`support::example_bin`), never a guessed
//! or stale one.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

const DEADLINE: Duration = Duration::from_secs(120);

/// A local HTTPS server answering GET /hello (Content-Length), /chunked and /close (body
/// delimited by close_notify), /missing (404). Prints its port first.
const SERVER: &str = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(8)
print(ls.getsockname()[1], flush=True)
ls.settimeout(60)
while True:
    try:
        conn, _ = ls.accept()
    except OSError:
        break
    conn.settimeout(30)
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
        req = b""
        while b"\r\n\r\n" not in req:
            chunk = tls.recv(4096)
            if not chunk:
                break
            req += chunk
        line = req.split(b"\r\n")[0].decode()
        path = line.split(" ")[1] if " " in line else "/"
        assert b"\r\nConnection: close\r\n" in req, req
        if path == "/hello":
            body = b"hello over F-Stack and TLS\n"
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        elif path == "/chunked":
            tls.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"6\r\nchunk \r\n11;ext=1\r\nencoded response\n\r\n0\r\nX-T: 1\r\n\r\n")
        elif path == "/close":
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"y" * 200000 + b"\n")
            tls.unwrap()
        else:
            tls.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n")
    except Exception as e:
        print("connection:", e, file=sys.stderr, flush=True)
    finally:
        conn.close()
"#;

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(chain: &Path, key: &Path) -> Server {
    let mut child = Command::new("python3")
        .args(["-c", SERVER])
        .arg(chain)
        .arg(key)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the server printed its port");
    Server { child, port }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tls_get example binary, built by cargo.
fn tls_get_binary() -> PathBuf {
    support::example_bin("tls_get")
}

fn config() -> PathBuf {
    let conf = repo().join("f-stack.conf");
    if conf.exists() {
        return conf;
    }
    let p = temp_dir().join("f-stack.conf");
    std::fs::write(&p, "[dpdk]\nlcore_mask=1\n").unwrap();
    p
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("tls_get-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs tls_get with a deadline (the example has its own `--timeout` as well), collecting its
/// output concurrently so a large body cannot fill the pipe.
fn tls_get(args: &[&str]) -> Output {
    let mut child = Command::new(tls_get_binary())
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).unwrap();
            v
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("tls_get did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Asserts a clean failure: exit 1, one stderr line containing `words`, no panic.
fn assert_clean_failure(out: &Output, words: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line expected: {stderr:?}");
    assert!(lines[0].starts_with("tls_get: "), "{stderr}");
    assert!(
        lines[0].contains(words),
        "{words:?} missing from {stderr:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn tls_get_fetches_pages_and_fails_cleanly() {
    if fstack::backend() != fstack::Backend::Kernel {
        eprintln!("SKIPPED tls_get test: needs the kernel backend on loopback");
        return;
    }
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIPPED tls_get test: python3 (the HTTPS server) is not installed");
        return;
    }
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tls_get test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();

    let dir = temp_dir();
    let chain = dir.join("chain.pem");
    let key = dir.join("key.pem");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&chain, format!("{}{}", leaf.pem(), ca.pem())).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let server = start_server(&chain, &key);
    let port = server.port.to_string();
    let conf = config();
    let conf = conf.to_str().unwrap();
    let ca_file = ca_file.to_str().unwrap();
    let resolve = format!("localhost:{port}:127.0.0.1");

    let get = |path: &str| {
        tls_get(&[
            "--ca-file",
            ca_file,
            "--resolve",
            &resolve,
            "--config",
            conf,
            "--timeout",
            "60",
            &format!("https://localhost:{port}{path}"),
        ])
    };

    // Each engine, asked to say what it negotiated (Python's server offers TLS 1.3).
    for engine in fstack_tls::Engine::available() {
        let out = tls_get(&[
            "--ca-file",
            ca_file,
            "--resolve",
            &resolve,
            "--config",
            conf,
            "--tls",
            engine.name(),
            "--verbose",
            &format!("https://localhost:{port}/hello"),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{engine}: {stderr}");
        assert_eq!(out.stdout, b"hello over F-Stack and TLS\n", "{engine}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with("tls_get: connected to 127.0.0.1:"))
            .unwrap_or_else(|| panic!("{engine}: no connect line: {stderr}"));
        assert!(
            line.contains(" over TLSv1.3 TLS_") && line.ends_with(&format!("({engine})")),
            "{line}"
        );
    }

    // Content-Length body.
    let out = get("/hello");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"hello over F-Stack and TLS\n");

    // Without --resolve the kernel resolves localhost (on a helper thread: the loop must keep
    // checking the lookup, which raises no socket event).
    let out = tls_get(&[
        "--ca-file",
        ca_file,
        "--config",
        conf,
        "--timeout",
        "20",
        &format!("https://localhost:{port}/hello"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"hello over F-Stack and TLS\n");

    // Chunked body (with a chunk extension and a trailer).
    let out = get("/chunked");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"chunk encoded response\n");

    // Body delimited by the end of the connection (close_notify).
    let out = get("/close");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), 200_001);

    // HTTP error status.
    assert_clean_failure(&get("/missing"), "HTTP 404 Not Found");

    // Hostname mismatch: the certificate names localhost only.
    let out = tls_get(&[
        "--ca-file",
        ca_file,
        "--resolve",
        &format!("wrong.test:{port}:127.0.0.1"),
        "--config",
        conf,
        &format!("https://wrong.test:{port}/hello"),
    ]);
    assert_clean_failure(&out, "hostname mismatch");
    assert_clean_failure(&out, "wrong.test");

    // Untrusted issuer: without --ca-file the system bundle does not know the test CA.
    let out = tls_get(&[
        "--resolve",
        &resolve,
        "--config",
        conf,
        &format!("https://localhost:{port}/hello"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("no trusted CA certificates") {
        assert_clean_failure(&out, "no trusted CA certificates");
    } else {
        assert_clean_failure(&out, "untrusted issuer");
    }

    // --insecure accepts it anyway.
    let out = tls_get(&[
        "--insecure",
        "--resolve",
        &format!("wrong.test:{port}:127.0.0.1"),
        "--config",
        conf,
        &format!("https://wrong.test:{port}/hello"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(server);

    // Nothing listens any more: connection refused.
    let out = tls_get(&[
        "--ca-file",
        ca_file,
        "--resolve",
        &resolve,
        "--config",
        conf,
        &format!("https://localhost:{port}/hello"),
    ]);
    assert_clean_failure(&out, "refused");

    // A bad command line exits 2 with one line.
    let out = tls_get(&["http://localhost/"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "tls_get: invalid value 'http://localhost/' for '<URL>': not an https:// URL (see --help)\n"
    );
    // A config file that does not exist is a bad command line: exit 2, one line.
    let out = tls_get(&[
        "--config",
        "/nonexistent/f-stack.conf",
        "https://localhost:1/",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "tls_get: invalid value '/nonexistent/f-stack.conf' for '--config <FILE>': cannot read it: \
         No such file or directory (os error 2) (see --help)\n"
    );
    // One that exists but F-Stack cannot use is a failed run: exit 1, one line naming it.
    let bad = std::env::temp_dir().join(format!("tls-get-bad-{}.conf", std::process::id()));
    std::fs::write(&bad, "[dpdk]\nlcore_mask=zz\n").unwrap();
    let out = tls_get(&["--config", bad.to_str().unwrap(), "https://localhost:1/"]);
    let _ = std::fs::remove_file(&bad);
    assert_clean_failure(&out, "lcore_mask");
}
