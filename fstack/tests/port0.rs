//! Port 0 picks a port that `local_addr` names and peers reach, for a listener and a UDP socket
//! bound to `0.0.0.0:0`, on the kernel backend (where the kernel picks it). Real F-Stack leaves
//! IPv4 port 0 unassigned and the crate picks the port; `lab/e2e tcp_listen_port0
//! udp_bind_port0` checks that over the real stack.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use fstack::{FStackListener, FStackUdpSocket, Stack, StackOptions};

/// Retries `f` while it would block, for up to 5 s.
fn retry<T>(what: &str, mut f: impl FnMut() -> fstack::Result<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if e.is_would_block() && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

#[test]
fn port_zero_picks_a_reachable_port() {
    if common::skip_unless_kernel_backend("port_zero_picks_a_reachable_port") {
        return;
    }
    let _stack = Stack::init(StackOptions::new(common::config_path())).expect("ff_init");
    let any: SocketAddr = "0.0.0.0:0".parse().unwrap();

    let listener = FStackListener::bind(any).expect("listener bind");
    let port = listener.local_addr().expect("listener local_addr").port();
    assert_ne!(port, 0, "listener bound to port 0 reports port 0");
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect to the picked port");
    client.write_all(b"x").expect("write");
    let (_sock, peer) = retry("accept", || listener.accept());
    assert_eq!(peer, client.local_addr().unwrap());

    let udp = FStackUdpSocket::bind(any).expect("udp bind");
    let port = udp.local_addr().expect("udp local_addr").port();
    assert_ne!(port, 0, "UDP socket bound to port 0 reports port 0");
    let sender = UdpSocket::bind("127.0.0.1:0").expect("kernel udp bind");
    sender
        .send_to(b"port0", ("127.0.0.1", port))
        .expect("send_to");
    let mut buf = [0u8; 16];
    let (n, from) = retry("recv_from", || udp.recv_from(&mut buf));
    assert_eq!(
        (&buf[..n], from),
        (&b"port0"[..], sender.local_addr().unwrap())
    );
}
