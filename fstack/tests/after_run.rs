//! After `Stack::run` has returned, every fallible method of `FStackSocket`, `FStackListener` and
//! `Poll` fails with `Error::NotRunning` naming the refused F-Stack call, on the kernel backend
//! as on real F-Stack (whose own check is the lab's `after_run` case); dropping the handles then
//! still closes the kernel sockets.

mod common;

use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use fstack::{
    Error, Events, FStackListener, FStackSocket, Interest, Poll, Source, Stack, StackOptions, Token,
};

/// The message of `Error::NotRunning { op }`.
fn not_running(op: &str) -> String {
    format!(
        "{op}: not inside the running F-Stack loop (connects need Stack::run's loop, and no \
         call reaches F-Stack after it returned)"
    )
}

/// `result` is `Err(Error::NotRunning { op })`, with its exact message.
#[track_caller]
fn assert_not_running<T: std::fmt::Debug>(result: fstack::Result<T>, op: &str) {
    match result {
        Err(Error::NotRunning { op: got }) if got == op => {
            assert_eq!(
                Error::NotRunning { op: got }.to_string(),
                not_running(op),
                "message"
            )
        }
        other => panic!("expected NotRunning {{ op: {op:?} }}, got {other:?}"),
    }
}

/// `result` is an io::Error of kind NotConnected carrying `Error::NotRunning { op }`.
#[track_caller]
fn assert_io_not_running<T: std::fmt::Debug>(result: std::io::Result<T>, op: &str) {
    let e = result.expect_err(op);
    assert_eq!(e.kind(), ErrorKind::NotConnected, "{op}: {e:?}");
    match e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
        Some(Error::NotRunning { op: got }) => assert_eq!(*got, op),
        other => panic!("{op}: expected NotRunning inside, got {other:?}"),
    }
    assert_eq!(e.to_string(), not_running(op));
}

#[test]
fn every_call_after_run_fails_with_not_running() {
    if common::skip_unless_kernel_backend("every_call_after_run_fails_with_not_running") {
        return;
    }
    // The peer is a kernel socket outside F-Stack: it sees what the handles do after the loop.
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer_addr = peer.local_addr().unwrap();

    let stack = Stack::init(StackOptions::new(common::config_path())).expect("init");
    let mut handles: Option<(FStackSocket, FStackListener, Poll)> = None;
    let mut events = Events::with_capacity(4);
    let deadline = Instant::now() + Duration::from_secs(10);
    let outcome = stack.run(|| {
        if Instant::now() > deadline {
            return ControlFlow::Break(Err("no connection within 10 s".to_string()));
        }
        let (sock, _, poll) = match handles.as_mut() {
            Some(h) => h,
            None => {
                let listener = FStackListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
                let mut poll = Poll::new().unwrap();
                let sock = FStackSocket::connect(peer_addr).unwrap();
                poll.register(&sock, Token(1), Interest::WRITABLE).unwrap();
                poll.register(&listener, Token(2), Interest::READABLE)
                    .unwrap();
                handles.insert((sock, listener, poll))
            }
        };
        poll.poll(&mut events).unwrap();
        if events.iter().any(|e| e.token() == Token(1)) {
            match sock.finish_connect() {
                Ok(true) => return ControlFlow::Break(Ok(())),
                Ok(false) => {}
                Err(e) => return ControlFlow::Break(Err(e.to_string())),
            }
        }
        ControlFlow::Continue(())
    });
    assert_eq!(outcome, Some(Ok(())));
    let (mut sock, listener, mut poll) = handles.take().unwrap();
    let (mut accepted, _) = peer.accept().unwrap();

    // FStackSocket.
    assert_not_running(FStackSocket::connect(peer_addr), "ff_connect");
    assert_not_running(sock.finish_connect(), "ff_getsockopt(SO_ERROR)");
    assert!(!sock.is_connecting());
    assert_not_running(sock.set_nodelay(true), "ff_setsockopt(TCP_NODELAY)");
    assert_not_running(sock.nodelay(), "ff_getsockopt(TCP_NODELAY)");
    assert_not_running(sock.set_send_buffer_size(65536), "ff_setsockopt(SO_SNDBUF)");
    assert_not_running(
        sock.set_send_buffer_size(usize::MAX),
        "ff_setsockopt(SO_SNDBUF)",
    );
    assert_not_running(sock.set_recv_buffer_size(65536), "ff_setsockopt(SO_RCVBUF)");
    assert_not_running(sock.local_addr(), "ff_getsockname");
    assert_not_running(sock.peer_addr(), "ff_getpeername");
    assert_not_running(sock.take_error(), "ff_getsockopt(SO_ERROR)");
    assert_not_running(sock.shutdown(Shutdown::Both), "ff_shutdown");
    let mut buf = [0u8; 16];
    assert_io_not_running(sock.read(&mut buf), "ff_read");
    assert_io_not_running(sock.read(&mut []), "ff_read");
    assert_io_not_running(
        sock.read_vectored(&mut [IoSliceMut::new(&mut buf)]),
        "ff_readv",
    );
    assert_io_not_running(sock.write(b"late"), "ff_write");
    assert_io_not_running(sock.write(b""), "ff_write");
    assert_io_not_running(sock.write_vectored(&[IoSlice::new(b"late")]), "ff_writev");
    assert_io_not_running(sock.flush(), "flush");
    assert_io_not_running((&sock).read(&mut buf), "ff_read");
    assert_io_not_running((&sock).write(b"late"), "ff_write");
    assert_io_not_running((&sock).flush(), "flush");

    // FStackListener.
    assert_not_running(
        FStackListener::bind("127.0.0.1:0".parse::<SocketAddr>().unwrap()),
        "ff_socket",
    );
    assert_not_running(listener.accept(), "ff_accept");
    assert_not_running(listener.local_addr(), "ff_getsockname");

    // Poll.
    assert_not_running(Poll::new(), "ff_epoll_create");
    assert_not_running(
        poll.register(&listener, Token(3), Interest::READABLE),
        "ff_epoll_ctl(ADD)",
    );
    assert_not_running(
        poll.reregister(&sock, Token(1), Interest::READABLE),
        "ff_epoll_ctl(MOD)",
    );
    assert_not_running(poll.deregister(&sock), "ff_epoll_ctl(DEL)");
    assert_not_running(poll.poll(&mut events), "ff_epoll_wait");
    assert!(events.is_empty());

    // Descriptors are still reported (no call), stopping is harmless, and other threads are
    // told the loop is over rather than that F-Stack is not initialised.
    assert!(sock.raw_fd() >= 0 && listener.raw_fd() >= 0);
    fstack::stop();
    let other = std::thread::spawn(|| Poll::new().map(|_| ()))
        .join()
        .unwrap();
    assert_not_running(other, "ff_epoll_create");
    let again = Stack::init(StackOptions::new(common::config_path()));
    assert!(matches!(again, Err(Error::AlreadyInitialized)), "{again:?}");

    // Dropping closes the kernel socket: the peer reads end of stream, and nothing was sent.
    drop((sock, listener, poll));
    accepted
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rest = Vec::new();
    accepted.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"");
}
