//! `fstack::rt` on the kernel backend, in one loop: timers never fire early (and do fire), an
//! idle runtime with a ticking interval uses almost no CPU, a panicking task is reported through
//! its `JoinHandle` while the other tasks and sockets go on, `JoinHandle::abort` closes the
//! task's socket at once, and a `ShutdownSignal` drops every
//! task inside the loop so that the peer of a socket sees FIN.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fstack::rt::{self, JoinError, RunError, TcpListener, TcpStream};
use fstack::{Loopback, ShutdownSignal, Stack, StackOptions};
use futures_util::{AsyncReadExt, AsyncWriteExt};

/// CPU time (user + system) of this process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Timers never fire early (exact lower bound); the upper bound only catches a timer that
/// never fires, since a loaded machine may delay any wake-up by a lot.
fn assert_window(what: &str, elapsed: Duration, at_least_ms: u64) {
    let late = Duration::from_secs(5);
    assert!(
        elapsed >= Duration::from_millis(at_least_ms)
            && elapsed < Duration::from_millis(at_least_ms) + late,
        "{what}: {elapsed:?}, expected at least {at_least_ms} ms and less than {late:?} more"
    );
}

#[test]
fn timers_panics_and_shutdown() {
    if common::skip_unless_kernel_backend("rt_lifecycle") {
        return;
    }
    let signal = ShutdownSignal::install().expect("signal handlers");
    let stack = Stack::init(StackOptions::new(common::config_path()).loopback(Loopback::Allow))
        .expect("ff_init");
    let runtime = rt::Runtime::builder()
        .shutdown(signal)
        .build()
        .expect("runtime");
    let (peer_tx, peer_rx) = std::sync::mpsc::channel::<std::io::Result<usize>>();
    let out = runtime.block_on(stack, async move {
        // Timers.
        let t = Instant::now();
        rt::sleep(Duration::from_millis(50)).await;
        assert_window("sleep(50 ms)", t.elapsed(), 50);
        let t = Instant::now();
        let mut ticker = rt::interval(Duration::from_millis(20));
        for _ in 0..5 {
            ticker.tick().await;
        }
        assert_window("5 ticks of 20 ms (the first at once)", t.elapsed(), 80);
        let t = Instant::now();
        let r = rt::timeout(Duration::from_millis(10), std::future::pending::<()>()).await;
        assert_eq!(r, Err(rt::Elapsed));
        assert_window("timeout(10 ms)", t.elapsed(), 10);
        let r = rt::timeout(Duration::from_secs(5), async { 7 }).await;
        assert_eq!(r, Ok(7));

        // A task that never stops (it yields after every step) does not starve the loop:
        // timers still fire (never early) and other tasks still run.
        let busy = rt::spawn(async {
            loop {
                rt::yield_now().await;
            }
        });
        let t = Instant::now();
        rt::sleep(Duration::from_millis(30)).await;
        assert_window("sleep(30 ms) beside a busy task", t.elapsed(), 30);
        assert_eq!(rt::spawn(async { 5 }).await, Ok(5));
        busy.abort();

        // Idle: a listener registered, a ticker every 100 ms, 1 s of wall time.
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let cpu = cpu_time();
        let wall = Instant::now();
        let mut slow = rt::interval(Duration::from_millis(100));
        for _ in 0..11 {
            slow.tick().await;
        }
        let (cpu, wall) = (cpu_time() - cpu, wall.elapsed());
        eprintln!("idle: {cpu:?} CPU in {wall:?}");
        assert!(
            cpu < wall / 10,
            "idle runtime used {cpu:?} CPU in {wall:?} (a busy loop?)"
        );

        // A panicking task, beside a task that keeps ticking.
        let ticks = rt::spawn(async {
            let mut n = 0u32;
            let mut i = rt::interval(Duration::from_millis(5));
            while n < 10 {
                i.tick().await;
                n += 1;
            }
            n
        });
        let bad = rt::spawn(async {
            rt::sleep(Duration::from_millis(10)).await;
            panic!("boom from a task");
        });
        assert_eq!(
            bad.await,
            Err(JoinError::Panicked("boom from a task".to_string()))
        );
        assert_eq!(ticks.await, Ok(10));

        // abort(): the task's future is dropped at once, closing its socket (the peer reads
        // end of stream), and its handle yields Cancelled.
        let connecting = rt::spawn(TcpStream::connect(addr));
        let (mut accepted, _) = listener.accept().await.expect("accept");
        let conn = connecting.await.expect("task").expect("connect");
        let holder = rt::spawn(async move {
            let _conn = conn;
            rt::sleep(Duration::from_secs(3600)).await;
        });
        rt::sleep(Duration::from_millis(5)).await;
        assert!(!holder.is_finished());
        holder.abort();
        assert!(holder.is_finished());
        let mut byte = [0u8; 1];
        let n = rt::timeout(Duration::from_secs(5), accepted.read(&mut byte))
            .await
            .expect("FIN within 5 s")
            .expect("read");
        assert_eq!(n, 0, "the aborted task's socket was closed");
        assert_eq!(holder.await, Err(JoinError::Cancelled));

        // Sockets still work after the panic: a kernel-thread peer sends, we echo, then the
        // shutdown signal must close our side (the peer reads end of stream).
        std::thread::spawn(move || {
            let r = (|| {
                let mut s = std::net::TcpStream::connect(addr)?;
                s.set_read_timeout(Some(Duration::from_secs(10)))?;
                std::io::Write::write_all(&mut s, b"ping")?;
                let mut buf = [0u8; 4];
                s.read_exact(&mut buf)?;
                assert_eq!(&buf, b"ping");
                // Blocks until the runtime's shutdown closes the socket: FIN reads as 0.
                s.read(&mut buf)
            })();
            peer_tx.send(r).expect("report");
        });
        let (mut conn, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).await.expect("read");
        conn.write_all(&buf).await.expect("write");
        rt::spawn(async move {
            // Holds the connection open forever: only cancellation closes it.
            let mut more = [0u8; 1];
            let _ = conn.read(&mut more).await;
            unreachable!("the peer sends nothing more");
        });
        rt::sleep(Duration::from_millis(20)).await;
        // SAFETY: raise only delivers a signal to this process; the handler sets a flag.
        unsafe { libc::raise(libc::SIGTERM) };
        std::future::pending::<()>().await
    });
    assert_eq!(out, Err(RunError::Shutdown));
    let peer = peer_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("peer thread reports");
    assert_eq!(peer.expect("peer read"), 0, "peer sees FIN");
}
