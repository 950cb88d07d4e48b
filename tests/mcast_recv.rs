//! The `mcast_recv` example as a process (kernel backend), joined on the loopback interface,
//! with a kernel-side `std::net::UdpSocket` sending to the group: exact `seq=S len=L` lines and
//! `received=R gaps=G` for gaps, duplicates and reordering; truncation with `--buffer`; short
//! datagrams reported and not counted; Ctrl-C; a join the stack refuses; and the command line
//! contract.

#[path = "../fstack/tests/common/mod.rs"]
mod common;
mod support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::process::Running;

fn config() -> String {
    common::config_path().display().to_string()
}

/// A group in the IPv4 local scope (RFC 2365), distinct per process and per `n`.
fn group(n: u8) -> Ipv4Addr {
    let id = std::process::id();
    Ipv4Addr::new(239, 200 + n, (id >> 8) as u8, id as u8)
}

/// A free UDP port (free a moment ago).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap()
        .port()
}

/// Starts `mcast_recv` on `group:port` joined on loopback, and waits until it has joined.
fn start(group: Ipv4Addr, port: u16, extra: &[&str]) -> Running {
    let mut args = vec![
        "--config".to_string(),
        config(),
        "--group".to_string(),
        format!("{group}:{port}"),
        "--interface".to_string(),
        "127.0.0.1".to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut rx = Running::spawn("mcast_recv", &args);
    let line = rx.wait_for_stderr("joined", Duration::from_secs(30));
    assert_eq!(
        line,
        format!(
            "mcast_recv: backend kernel, joined {group} on 127.0.0.1, receiving on port {port} \
             (Ctrl-C stops)"
        )
    );
    rx
}

/// A kernel socket bound to the loopback address: its multicast leaves through loopback.
fn sender() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// A datagram of `len` bytes starting with `seq`, big-endian.
fn numbered(seq: u64, len: usize) -> Vec<u8> {
    let mut d = vec![0xa5u8; len.max(8)];
    d[..8].copy_from_slice(&seq.to_be_bytes());
    d.truncate(len);
    d
}

#[test]
fn gaps_duplicates_and_reordering_counted() {
    if common::skip_unless_kernel_backend("gaps_duplicates_and_reordering_counted") {
        return;
    }
    let (g, port) = (group(0), free_port());
    let rx = start(g, port, &["--count", "8", "--buffer", "100"]);
    let tx = sender();
    let to = SocketAddr::from((g, port));
    // 1, 2, 4 (3 missing), 4 again (duplicate), 3 (late: fills its gap, and truncated to the
    // 100-byte buffer), a 3-byte one (not counted), 8 (5, 6 and 7 missing; exactly 100 bytes
    // fit), 9 (101 bytes: truncated), 10; --count 8 stops there, before 11.
    let sends: &[(u64, usize)] = &[
        (1, 8),
        (2, 64),
        (4, 64),
        (4, 64),
        (3, 1200),
        (u64::MAX, 3), // short: 3 bytes
        (8, 100),
        (9, 101),
        (10, 16),
        (11, 16), // after --count: not read
    ];
    for &(seq, len) in sends {
        tx.send_to(&numbered(seq, len), to).unwrap();
    }
    let (status, out, err) = rx.finish(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{err:?}");
    assert_eq!(
        out,
        [
            "seq=1 len=8",
            "seq=2 len=64",
            "seq=4 len=64",
            "seq=4 len=64",
            "seq=3 len=100 truncated",
            "seq=8 len=100",
            "seq=9 len=100 truncated",
            "seq=10 len=16",
            "received=8 gaps=3",
        ]
    );
    let me = tx.local_addr().unwrap();
    assert!(
        err.contains(&format!(
            "mcast_recv: ignored a 3-byte datagram from {me}: shorter than its 8-byte sequence \
             number"
        )),
        "{err:?}"
    );
    assert_eq!(
        err.last().unwrap(),
        &format!(
            "mcast_recv: left {g}; 1 duplicates, 1 late (filled a gap), 0 too far behind to \
             place, 0 before the first, 2 truncated, 1 shorter than a sequence number"
        )
    );
}

#[test]
fn ctrl_c_prints_the_summary_and_leaves() {
    if common::skip_unless_kernel_backend("ctrl_c_prints_the_summary_and_leaves") {
        return;
    }
    let (g, port) = (group(1), free_port());
    let mut rx = start(g, port, &[]);
    let tx = sender();
    let to = SocketAddr::from((g, port));
    for seq in [100, 101, 103] {
        tx.send_to(&numbered(seq, 32), to).unwrap();
    }
    // Ctrl-C once all three were printed (the summary must count them).
    rx.wait_for_stdout_lines(3, Duration::from_secs(10));
    rx.signal(libc::SIGINT);
    let (status, out, err) = rx.finish(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{err:?}");
    assert_eq!(
        out,
        [
            "seq=100 len=32",
            "seq=101 len=32",
            "seq=103 len=32",
            "received=3 gaps=1"
        ]
    );
    assert_eq!(
        err.last().unwrap(),
        &format!(
            "mcast_recv: left {g}; 0 duplicates, 0 late (filled a gap), 0 too far behind to \
             place, 0 before the first, 0 truncated, 0 shorter than a sequence number"
        )
    );
}

#[test]
fn a_join_the_stack_refuses_is_one_line_and_exit_1() {
    if common::skip_unless_kernel_backend("a_join_the_stack_refuses_is_one_line_and_exit_1") {
        return;
    }
    let g = group(2);
    let out = Command::new(support::example_bin("mcast_recv"))
        .args(["--config", &config()])
        .args(["--group", &format!("{g}:5000"), "--interface", "192.0.2.99"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap();
    let want = format!(
        "mcast_recv: joining {g}:5000: ff_setsockopt(IP_ADD_MEMBERSHIP) failed for multicast \
         group {g} on interface 192.0.2.99: "
    );
    assert!(last.starts_with(&want), "{last:?}");
}

#[test]
fn a_bind_the_stack_refuses_says_binding_and_exit_1() {
    if common::skip_unless_kernel_backend("a_bind_the_stack_refuses_says_binding_and_exit_1") {
        return;
    }
    // A kernel socket holds the group's address and port (without SO_REUSEADDR), so the
    // receiver's bind fails before any join.
    let g = group(3);
    let holder = UdpSocket::bind((g, 0)).expect("bind the group address");
    let port = holder.local_addr().unwrap().port();
    let out = Command::new(support::example_bin("mcast_recv"))
        .args(["--config", &config()])
        .args([
            "--group",
            &format!("{g}:{port}"),
            "--interface",
            "127.0.0.1",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().last().unwrap(),
        format!(
            "mcast_recv: binding {g}:{port}: ff_bind failed: {}",
            std::io::Error::from_raw_os_error(libc::EADDRINUSE)
        )
    );
    drop(holder);
}

#[track_caller]
fn assert_usage_error(args: &[&str], want: &str) {
    let out = Command::new(support::example_bin("mcast_recv"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}");
    assert_eq!(stderr, format!("mcast_recv: {want}\n"), "{args:?}");
}

#[test]
fn command_line() {
    let i = ["--interface", "10.0.0.2"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec!["--group", "239.1.2.3:5000", "--interface", "10.0.0.2"];
        v.extend(extra);
        v
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "the following required arguments were not provided: --group <ADDR:PORT> --interface <ADDR> (see --help)"),
        (vec!["--group", "239.1.2.3:5000"], "the following required arguments were not provided: --interface <ADDR> (see --help)"),
        (vec!["--group", "10.1.2.3:5000", i[0], i[1]], "invalid value '10.1.2.3:5000' for '--group <ADDR:PORT>': 10.1.2.3 is not an IPv4 multicast group address (224.0.0.0/4) (see --help)"),
        (vec!["--group", "255.255.255.255:5000", i[0], i[1]], "invalid value '255.255.255.255:5000' for '--group <ADDR:PORT>': 255.255.255.255 is not an IPv4 multicast group address (224.0.0.0/4) (see --help)"),
        (vec!["--group", "239.1.2.3:0", i[0], i[1]], "invalid value '239.1.2.3:0' for '--group <ADDR:PORT>': port 0 cannot be received on (see --help)"),
        (vec!["--group", "239.1.2.3", i[0], i[1]], "invalid value '239.1.2.3' for '--group <ADDR:PORT>': expected ADDR:PORT, e.g. 239.1.2.3:5000 (see --help)"),
        (vec!["--group", "[ff02::1]:5000", i[0], i[1]], "invalid value '[ff02::1]:5000' for '--group <ADDR:PORT>': expected an IPv4 group (IPv6 groups are not supported) (see --help)"),
        (vec!["--group", "239.1.2.3:5000", "--interface", "239.1.2.4"], "invalid value '239.1.2.4' for '--interface <ADDR>': 239.1.2.4 is not a unicast address (give the stack's own address on the interface) (see --help)"),
        (vec!["--group", "239.1.2.3:5000", "--interface", "eth0"], "invalid value 'eth0' for '--interface <ADDR>': expected an IPv4 address of the stack's interface (see --help)"),
        (with(&["--count", "0"]), "invalid value '0' for '--count <N>': must be at least 1 (see --help)"),
        (with(&["--buffer", "7"]), "invalid value '7' for '--buffer <BYTES>': must be at least 8 (see --help)"),
        (with(&["--buffer", "65508"]), "invalid value '65508' for '--buffer <BYTES>': must be at most 65507 (see --help)"),
        (with(&["extra"]), "unexpected argument 'extra' found (see --help)"),
    ];
    for (args, want) in &cases {
        assert_usage_error(args, want);
    }
    for flag in ["--help", "-h"] {
        let out = Command::new(support::example_bin("mcast_recv"))
            .arg(flag)
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0));
        assert!(out.stderr.is_empty());
        for word in [
            "\nUsage: mcast_recv ",
            "--group <ADDR:PORT>",
            "--interface <ADDR>",
            "--count <N>",
            "--buffer <BYTES>",
            "[default: 65507]",
            "--config <FILE>",
            "[default: f-stack.conf]",
            "-h, --help",
        ] {
            assert!(help.contains(word), "{word:?} missing from\n{help}");
        }
    }
}
