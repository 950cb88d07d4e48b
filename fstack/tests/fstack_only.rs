//! The real-F-Stack-only calls on the kernel backend: `Kqueue::new`, `set_packet_dispatcher`
//! and `FStackSocket::write_zero_copy` fail with `Error::Unsupported` and these exact messages,
//! before and inside the loop, and the TCP connection used for the write still works after.
//! (On real F-Stack the lab's `kqueue_vs_epoll` and `multi_process` cases run them.)

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use fstack::{Error, FStackSocket, Kqueue, Stack, StackOptions};

const KERNEL_ONLY: &str = "the kernel backend implements F-Stack's epoll API only; build \
     against real F-Stack (FSTACK_SYS_BACKEND=fstack)";

#[track_caller]
fn assert_unsupported<T: std::fmt::Debug>(result: fstack::Result<T>, op: &str, reason: &str) {
    match result {
        Err(e @ Error::Unsupported { .. }) => {
            assert_eq!(e.kind(), ErrorKind::Unsupported);
            assert_eq!(e.to_string(), format!("{op} is not available: {reason}"));
        }
        other => panic!("expected Unsupported for {op}, got {other:?}"),
    }
}

#[test]
fn fstack_only_calls_are_unsupported_on_the_kernel_backend() {
    if common::skip_unless_kernel_backend("fstack_only_calls_are_unsupported_on_the_kernel_backend")
    {
        return;
    }
    assert!(!fstack::zero_copy_send());
    // Before init: the thread check comes first, as for every call.
    assert!(matches!(
        Kqueue::new(),
        Err(Error::NotInitialized { op: "ff_kqueue" })
    ));
    let stack = Stack::init(StackOptions::new(common::config_path())).unwrap();
    assert_unsupported(Kqueue::new(), "ff_kqueue", KERNEL_ONLY);
    assert_unsupported(
        fstack::set_packet_dispatcher(|p| fstack::Dispatch::Queue(p.queue_id())),
        "ff_regist_packet_dispatcher",
        KERNEL_ONLY,
    );

    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = peer.local_addr().unwrap();
    let mut sock: Option<FStackSocket> = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    let result = stack.run(|| {
        if Instant::now() > deadline {
            return ControlFlow::Break(Err("timed out".to_string()));
        }
        let s = match sock.as_mut() {
            Some(s) => s,
            None => sock.insert(FStackSocket::connect(addr).unwrap()),
        };
        match s.finish_connect() {
            Ok(true) => {}
            Ok(false) => return ControlFlow::Continue(()),
            Err(e) => return ControlFlow::Break(Err(e.to_string())),
        }
        assert_unsupported(
            s.write_zero_copy(b"zero-copy"),
            "zero-copy write (ff_zc_mbuf_get + ff_write)",
            "the kernel backend has no mbufs; build against real F-Stack built with \
             FF_ZC_SEND=1",
        );
        assert_unsupported(Kqueue::new(), "ff_kqueue", KERNEL_ONLY);
        s.write_all(b"plain").unwrap();
        ControlFlow::Break(Ok(()))
    });
    result.unwrap().unwrap();
    let (mut conn, _) = peer.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = [0u8; 5];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(
        &got, b"plain",
        "nothing of the refused zero-copy write was sent"
    );
    drop(sock);
}
