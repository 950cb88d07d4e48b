//! The loop's helpers on the kernel backend, in one process whose [`Loopback`] policy is
//! `Refuse` (as stock F-Stack behaves): connects to 127.0.0.1, `::1` and the config's own
//! address fail at once with `Error::Loopback`, and so do UDP connects and sends to them; `try_run` ends with the body's error; a
//! `BufferedWriter` on an accepted socket delivers 4 MiB byte-exact to a slow kernel-side
//! reader; `Timers` fire during the loop.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::thread;
use std::time::{Duration, Instant};

use common::Pattern;
use fstack::{
    BufferedWriter, Error, Events, FStackListener, FStackSocket, FStackUdpSocket, Interest,
    Loopback, Poll, Stack, StackOptions, Timers, Token,
};

const TOTAL: usize = 4 << 20;
const CHUNK: usize = 16 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tick {
    Fire,
    Never,
}

#[test]
fn loop_helpers() {
    if common::skip_unless_kernel_backend("loop_helpers") {
        return;
    }
    // The variable is read by Stack::init; an unknown value would be refused there, and the
    // option below wins over it.
    std::env::set_var(fstack::LOOPBACK_ENV, "allow");
    let stack = Stack::init(StackOptions::new(common::config_path()).loopback(Loopback::Refuse))
        .expect("ff_init");
    assert_eq!(fstack::loopback_policy(), Loopback::Refuse);

    let mut listener: Option<FStackListener> = None;
    let mut poll: Option<Poll> = None;
    let mut events = Events::with_capacity(8);
    let mut out: Option<BufferedWriter<FStackSocket>> = None;
    let mut reader: Option<thread::JoinHandle<Vec<u8>>> = None;
    let mut want = vec![0u8; TOTAL];
    Pattern::new(7).fill(&mut want);
    let mut queued = 0usize;
    let mut full_seen = 0u32;
    let mut timers = Timers::new();
    let mut fired = 0u32;
    let started = Instant::now();

    let result: Result<Option<()>, Error> = stack.try_run(|| {
        let now = Instant::now();
        if now - started > Duration::from_secs(30) {
            return Err(Error::InvalidArgument("timed out".into()));
        }
        let poll = match poll.as_mut() {
            Some(p) => p,
            None => {
                // First iteration: the refused connects, then a listener and a slow reader.
                for target in ["127.0.0.1:9", "[::1]:9", "192.168.1.2:80", "0.0.0.0:80"] {
                    let addr: SocketAddr = target.parse().unwrap();
                    let err = FStackSocket::connect(addr).unwrap_err();
                    assert!(
                        matches!(err, Error::Loopback { addr: a, backend: "kernel" } if a == addr),
                        "{target}: {err:?}"
                    );
                    assert_eq!(err.kind(), std::io::ErrorKind::AddrNotAvailable);
                }
                let err = FStackSocket::connect("127.0.0.1:9".parse().unwrap()).unwrap_err();
                assert_eq!(
                    err.to_string(),
                    "connecting to 127.0.0.1:9: it is loopback or this stack's own address, \
                     which F-Stack reaches only when built with FF_LOOPBACK_SUPPORT=1 (stock \
                     builds hang such connects); set FSTACK_LOOPBACK=allow or \
                     StackOptions::loopback(Loopback::Allow) if it was (kernel backend)"
                );
                // UDP: the same policy for connect and send_to, on both families.
                let udp4 = FStackUdpSocket::bind("0.0.0.0:0".parse().unwrap())?;
                let udp6 = FStackUdpSocket::bind("[::]:0".parse().unwrap()).ok();
                for target in ["127.0.0.1:9", "192.168.1.2:80", "0.0.0.0:80", "[::1]:9"] {
                    let addr: SocketAddr = target.parse().unwrap();
                    let sock = if addr.is_ipv4() {
                        Some(&udp4)
                    } else {
                        udp6.as_ref()
                    };
                    let Some(sock) = sock else { continue };
                    let err = sock.connect(addr).unwrap_err();
                    assert!(
                        matches!(err, Error::Loopback { addr: a, backend: "kernel" } if a == addr),
                        "udp connect {target}: {err:?}"
                    );
                    let err = sock.send_to(b"x", addr).unwrap_err();
                    assert!(
                        matches!(err, Error::Loopback { addr: a, backend: "kernel" } if a == addr),
                        "udp send_to {target}: {err:?}"
                    );
                }
                assert!(matches!(
                    udp4.peer_addr(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotConnected
                ));
                // Another address is dialled as usual (TEST-NET-1: in progress or unreachable,
                // never refused as loopback).
                match FStackSocket::connect("192.0.2.1:80".parse().unwrap()) {
                    Ok(_) => {}
                    Err(e) => assert!(!matches!(e, Error::Loopback { .. }), "{e:?}"),
                }
                let l = FStackListener::bind("127.0.0.1:0".parse().unwrap())?;
                let addr = l.local_addr()?;
                let mut p = Poll::new()?;
                p.register(&l, Token(0), Interest::READABLE)?;
                listener = Some(l);
                reader = Some(thread::spawn(move || {
                    let mut s = TcpStream::connect(addr).expect("kernel-side connect");
                    // Let the writer's buffers fill first.
                    thread::sleep(Duration::from_millis(200));
                    let mut got = Vec::with_capacity(TOTAL);
                    s.read_to_end(&mut got).expect("read");
                    got
                }));
                timers.insert(now + Duration::from_millis(50), Tick::Fire);
                timers.insert(now + Duration::from_secs(3600), Tick::Never);
                poll.insert(p)
            }
        };
        while let Some(tick) = timers.pop_expired(now) {
            assert_eq!(tick, Tick::Fire);
            fired += 1;
        }
        poll.poll(&mut events)?;
        for ev in &events {
            if ev.token() == Token(0) && out.is_none() {
                let (sock, _) = listener.as_ref().unwrap().accept()?;
                sock.set_send_buffer_size(16 << 10)?;
                poll.register(&sock, Token(1), Interest::WRITABLE)?;
                out = Some(BufferedWriter::new(sock, 64 << 10));
            } else if ev.token() == Token(1) && ev.is_writable() {
                out.as_mut().unwrap().flush_pending()?;
            }
        }
        let Some(w) = out.as_mut() else {
            return Ok(ControlFlow::Continue(()));
        };
        while queued < TOTAL {
            match w.send(&want[queued..queued + CHUNK]) {
                Ok(()) => queued += CHUNK,
                Err(Error::BufferFull { capacity, len, .. }) => {
                    // Nothing of it was queued: the same chunk is offered again later.
                    assert_eq!((capacity, len), (64 << 10, CHUNK));
                    full_seen += 1;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if queued == TOTAL && w.is_flushed() {
            out = None; // closes: the reader sees the end
            return Err(Error::InvalidArgument("done".into()));
        }
        Ok(ControlFlow::Continue(()))
    });
    // The body's error ended the loop and came back from try_run.
    match result {
        Err(Error::InvalidArgument(m)) => assert_eq!(m, "done"),
        other => panic!("try_run returned {other:?}"),
    }
    let got = reader.take().unwrap().join().unwrap();
    assert_eq!(got.len(), TOTAL);
    assert!(got == want, "the bytes differ");
    assert!(full_seen > 0, "the buffer never filled up");
    assert_eq!(fired, 1);
    assert_eq!(timers.len(), 1);
}
