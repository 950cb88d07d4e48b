//! The `udp_echo` example as a process (kernel backend): the client against a kernel-side
//! peer that echoes faithfully or drops, delays or corrupts a chosen datagram (exact output
//! lines and exit statuses; losses during the warm-up apart), against nobody (refused), over
//! IPv6; the server echoing every
//! datagram byte-exact to a kernel-side client until SIGTERM; and the command line contract.

#[path = "../fstack/tests/common/mod.rs"]
mod common;
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use support::process::Running;

fn config() -> String {
    common::config_path().display().to_string()
}

/// What the kernel-side echo peer does to the datagram with a given sequence number.
#[derive(Clone, Copy)]
enum Fault {
    None,
    /// Never echo it.
    Drop(u64),
    /// Echo it after sleeping this long (the peer is one thread: later echoes wait too).
    Delay(u64, Duration),
    /// Echo it with byte `at` changed.
    Corrupt(u64, usize),
    /// Echo nothing at all.
    Silent,
}

/// A kernel-side UDP echo peer on `ip` until dropped.
struct Peer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Peer {
    fn start(ip: &str, fault: Fault) -> Peer {
        let socket = UdpSocket::bind(format!("{ip}:0")).expect("peer bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let seq = buf[..n]
                    .get(..8)
                    .map(|b| u64::from_be_bytes(b.try_into().unwrap()));
                match (fault, seq) {
                    (Fault::Silent, _) => continue,
                    (Fault::Drop(s), Some(q)) if s == q => continue,
                    (Fault::Delay(s, d), Some(q)) if s == q => std::thread::sleep(d),
                    (Fault::Corrupt(s, at), Some(q)) if s == q => buf[at] ^= 0xff,
                    _ => {}
                }
                let _ = socket.send_to(&buf[..n], from);
            }
        });
        Peer {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs the client against `addr` with `extra` arguments: exit code, stdout, stderr.
fn client(addr: SocketAddr, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(support::example_bin("udp_echo"))
        .args(["--config", &config(), "--connect", &addr.to_string()])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run udp_echo");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The client's result line: `udp_echo: backend kernel echo SIZE B: n=N lost=L min=… us`
/// with numbers where the round trips go; returns (n, lost).
#[track_caller]
fn result_line(stdout: &str, size: usize) -> (u64, u64) {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout: {stdout:?}");
    let prefix = format!("udp_echo: backend kernel echo {size} B: ");
    let rest = lines[0]
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{:?} does not start with {prefix:?}", lines[0]));
    let fields: Vec<&str> = rest.split(' ').collect();
    assert_eq!(fields.len(), 7, "{rest:?}");
    assert_eq!(fields[6], "us", "{rest:?}");
    let value = |i: usize, key: &str| {
        fields[i]
            .strip_prefix(&format!("{key}="))
            .unwrap_or_else(|| panic!("field {i} of {rest:?} is not {key}="))
    };
    let n: u64 = value(0, "n").parse().unwrap();
    let lost: u64 = value(1, "lost").parse().unwrap();
    for (i, key) in [(2, "min"), (3, "p50"), (4, "p99"), (5, "max")] {
        let v = value(i, key);
        if n == 0 {
            assert_eq!(v, "-", "{rest:?}");
        } else {
            let us: f64 = v
                .parse()
                .unwrap_or_else(|_| panic!("{key}={v} in {rest:?}"));
            assert!(
                us > 0.0 && v.split_once('.').unwrap().1.len() == 1,
                "{rest:?}"
            );
        }
    }
    (n, lost)
}

#[test]
fn client_against_kernel_peers() {
    if common::skip_unless_kernel_backend("client_against_kernel_peers") {
        return;
    }

    // Faithful peer: every echo back, exact.
    let peer = Peer::start("127.0.0.1", Fault::None);
    let (code, out, err) = client(peer.addr, &["--count", "200", "--size", "100"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(result_line(&out, 100), (200, 0));
    assert_eq!(
        err,
        format!(
            "udp_echo: backend kernel, 10+200 datagrams of 100 bytes to {}, one at a time, 1 s \
             for each echo\n",
            peer.addr
        )
    );
    // The largest IPv4 datagram, and the smallest the client sends.
    for size in ["65507", "8"] {
        let (code, out, err) = client(peer.addr, &["--count", "3", "--size", size]);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(result_line(&out, size.parse().unwrap()), (3, 0));
    }
    drop(peer);
    // The largest IPv6 datagram, 20 bytes more than IPv4's, over IPv6 loopback.
    if UdpSocket::bind("[::1]:0").is_ok() {
        let peer = Peer::start("[::1]", Fault::None);
        let (code, out, err) = client(peer.addr, &["--count", "3", "--size", "65527"]);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(result_line(&out, 65527), (3, 0));
        drop(peer);
    } else {
        eprintln!("SKIPPED the IPv6 65527-byte echo: no IPv6 loopback here");
    }

    // A lost datagram costs one timeout, is counted, and the run goes on.
    let peer = Peer::start("127.0.0.1", Fault::Drop(3));
    let quick = ["--count", "10", "--timeout", "0.2", "--warmup", "0"];
    let (code, out, err) = client(peer.addr, &quick);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(result_line(&out, 64), (9, 1));
    assert!(!err.contains("warm-up"), "{err}");
    // Lost during the warm-up (datagrams 0-9 by default): said, but not measured.
    let (code, out, err) = client(peer.addr, &["--count", "10", "--timeout", "0.2"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(result_line(&out, 64), (10, 0));
    assert!(
        err.contains("udp_echo: 1 of 10 warm-up datagrams lost (not measured)\n"),
        "{err}"
    );
    drop(peer);

    // A late echo (after its timeout) is lost for the measurement, recognised by its sequence
    // number, and not taken for the next datagram's echo.
    let peer = Peer::start("127.0.0.1", Fault::Delay(2, Duration::from_millis(300)));
    let (code, out, err) = client(peer.addr, &quick);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(result_line(&out, 64), (9, 1));
    assert!(
        err.contains("udp_echo: 1 echoes came back after their timeout (or twice)\n"),
        "{err}"
    );
    drop(peer);

    // An echo that differs ends the run: exit 1, one line saying where.
    let peer = Peer::start("127.0.0.1", Fault::Corrupt(5, 20));
    let (code, out, err) = client(peer.addr, &["--count", "10", "--warmup", "0"]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(out, "");
    assert_eq!(
        err.lines().last().unwrap(),
        "udp_echo: the echo of datagram 5 differs from what was sent (64 bytes sent, 64 came \
         back, first difference at byte 20)"
    );
    drop(peer);

    // Nothing comes back at all: every datagram lost, exit 1.
    let peer = Peer::start("127.0.0.1", Fault::Silent);
    let (code, out, err) = client(
        peer.addr,
        &["--count", "2", "--timeout", "0.1", "--warmup", "0"],
    );
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(result_line(&out, 64), (0, 2));
    assert_eq!(
        err.lines().last().unwrap(),
        format!(
            "udp_echo: no echo came back from {} (2 datagrams lost)",
            peer.addr
        )
    );
    drop(peer);

    // Nobody listens: the ICMP port unreachable ends the run at once.
    let free = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap();
    let (code, out, err) = client(free, &["--count", "5"]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(out, "");
    assert_eq!(
        err.lines().last().unwrap(),
        format!(
            "udp_echo: {free} refused the datagrams (ICMP port unreachable): no echo server \
             there"
        )
    );

    // IPv6.
    if UdpSocket::bind("[::1]:0").is_ok() {
        let peer = Peer::start("[::1]", Fault::None);
        let (code, out, err) = client(peer.addr, &["--count", "20", "--size", "1200"]);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(result_line(&out, 1200), (20, 0));
    } else {
        eprintln!("SKIPPED udp_echo over IPv6: no IPv6 loopback here");
    }
}

#[test]
fn server_echoes_every_datagram_until_sigterm() {
    if common::skip_unless_kernel_backend("server_echoes_every_datagram_until_sigterm") {
        return;
    }
    let mut server = Running::spawn(
        "udp_echo",
        &["--config", &config(), "--listen", "127.0.0.1:0"],
    );
    let line = server.wait_for_stderr("echoing datagrams on ", Duration::from_secs(30));
    let addr: SocketAddr = line
        .split_once("echoing datagrams on ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    assert_eq!(
        line,
        format!("udp_echo: backend kernel, echoing datagrams on {addr} (Ctrl-C stops)")
    );

    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.connect(addr).unwrap();
    let sizes = [0usize, 1, 8, 100, 1472, 9000, 65507];
    let mut total = 0;
    let mut buf = vec![0u8; 65536];
    for (i, &size) in sizes.iter().enumerate() {
        let d: Vec<u8> = (0..size).map(|j| (i * 7 + j * 13) as u8).collect();
        client.send(&d).unwrap();
        let n = client.recv(&mut buf).expect("echo");
        assert_eq!(&buf[..n], &d[..], "echo of {size} bytes");
        total += size;
    }
    // A burst: every datagram comes back whole and in order (loopback keeps order).
    for i in 0..100u32 {
        client.send(&i.to_be_bytes()).unwrap();
    }
    for i in 0..100u32 {
        let n = client.recv(&mut buf).expect("burst echo");
        assert_eq!(&buf[..n], &i.to_be_bytes());
    }
    total += 400;

    server.signal(libc::SIGTERM);
    let (status, out, err) = server.finish(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{err:?}");
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(
        err.last().unwrap(),
        &format!(
            "udp_echo: stopped; {} datagrams echoed ({total} bytes), 0 truncated, 0 echoes \
             refused by the stack",
            sizes.len() + 100
        )
    );
}

/// `udp_echo args` exits 2 with nothing on stdout and exactly `udp_echo: want` on stderr.
#[track_caller]
fn assert_usage_error(args: &[&str], want: &str) {
    let out = Command::new(support::example_bin("udp_echo"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}");
    assert_eq!(stderr, format!("udp_echo: {want}\n"), "{args:?}");
}

#[test]
fn command_line() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "the following required arguments were not provided: <--listen <ADDR:PORT>|--connect <ADDR:PORT>> (see --help)"),
        (&["--bogus"], "unexpected argument '--bogus' found (see --help)"),
        (&["--listen", "0.0.0.0:7", "--connect", "1.2.3.4:7"], "the argument '--listen <ADDR:PORT>' cannot be used with '--connect <ADDR:PORT>' (see --help)"),
        (&["--listen", "0.0.0.0:7", "--count", "5"], "the argument '--listen <ADDR:PORT>' cannot be used with '--count <N>' (see --help)"),
        (&["--listen", "0.0.0.0:7", "--size", "100"], "the argument '--listen <ADDR:PORT>' cannot be used with '--size <BYTES>' (see --help)"),
        (&["--listen", "0.0.0.0:7", "--warmup", "0"], "the argument '--listen <ADDR:PORT>' cannot be used with '--warmup <W>' (see --help)"),
        (&["--connect", "1.2.3.4:7", "--warmup", "-1"], "invalid value '-1' for '--warmup <W>': expected a whole number (see --help)"),
        (&["--listen", "0.0.0.0:7", "--timeout", "1"], "the argument '--listen <ADDR:PORT>' cannot be used with '--timeout <SECS>' (see --help)"),
        (&["--listen", "localhost:7"], "invalid value 'localhost:7' for '--listen <ADDR:PORT>': expected ADDR:PORT (IPv6 as [ADDR]:PORT) (see --help)"),
        (&["--connect", "1.2.3.4"], "invalid value '1.2.3.4' for '--connect <ADDR:PORT>': expected ADDR:PORT (IPv6 as [ADDR]:PORT) (see --help)"),
        (&["--connect", "1.2.3.4:7", "--count", "0"], "invalid value '0' for '--count <N>': must be at least 1 (see --help)"),
        (&["--connect", "1.2.3.4:7", "--count", "-3"], "invalid value '-3' for '--count <N>': expected a whole number (see --help)"),
        (&["--connect", "1.2.3.4:7", "--size", "7"], "invalid value '7' for '--size <BYTES>': must be at least 8 (see --help)"),
        (&["--connect", "1.2.3.4:7", "--size", "65508"], "invalid value '65508' for '--size <BYTES>': must be at most 65507 to an IPv4 server (see --help)"),
        (&["--connect", "[fd00::1]:7", "--size", "65528"], "invalid value '65528' for '--size <BYTES>': must be at most 65527 (see --help)"),
        (&["--connect", "1.2.3.4:0"], "invalid value '1.2.3.4:0' for '--connect <ADDR:PORT>': port 0 is not a destination (see --help)"),
        (&["--connect", "[::1]:0"], "invalid value '[::1]:0' for '--connect <ADDR:PORT>': port 0 is not a destination (see --help)"),
        (&["--connect", "1.2.3.4:7", "--timeout", "0"], "invalid value '0' for '--timeout <SECS>': expected a positive number of seconds (see --help)"),
        (&["--connect", "1.2.3.4:7", "--config", "/nonexistent/f-stack.conf"], "invalid value '/nonexistent/f-stack.conf' for '--config <FILE>': cannot read it: No such file or directory (os error 2) (see --help)"),
    ];
    for (args, want) in cases {
        assert_usage_error(args, want);
    }
    for flag in ["--help", "-h"] {
        let out = Command::new(support::example_bin("udp_echo"))
            .arg(flag)
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0));
        assert!(out.stderr.is_empty());
        for word in [
            "\nUsage: udp_echo ",
            "--listen <ADDR:PORT>",
            "--connect <ADDR:PORT>",
            "--config <FILE>",
            "[default: f-stack.conf]",
            "--count <N>",
            "[default: 1000]",
            "--warmup <W>",
            "[default: 10]",
            "--size <BYTES>",
            "[default: 64]",
            "--timeout <SECS>",
            "[default: 1]",
            "-h, --help",
        ] {
            assert!(help.contains(word), "{word:?} missing from\n{help}");
        }
    }
}
