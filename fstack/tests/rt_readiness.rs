//! `fstack::rt` on the kernel backend: `readable()` after a short read completes at once (the
//! rest of the data is still queued and no new event will announce it), timers accept
//! durations too long for `Instant` and a zero interval, and tasks left queued when the budget
//! ran out run in the next iteration without the kernel backend's idle wait.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use fstack::rt::{self, TcpListener};
use fstack::{Loopback, Stack, StackOptions};
use futures_util::{AsyncReadExt, AsyncWriteExt};

/// Voluntary context switches of this thread (it blocked in the kernel: sleeps, waits).
fn voluntary_switches() -> i64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut u);
        u
    };
    usage.ru_nvcsw
}

#[test]
fn readiness_and_limits() {
    if common::skip_unless_kernel_backend("rt_readiness") {
        return;
    }
    let stack = Stack::init(StackOptions::new(common::config_path()).loopback(Loopback::Allow))
        .expect("ff_init");
    let out = rt::run(stack, async {
        // A peer sends 100 bytes at once, then waits for our answer.
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let peer = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            s.write_all(&[7u8; 100])?;
            let mut ok = [0u8; 2];
            s.read_exact(&mut ok)?;
            Ok::<_, std::io::Error>(ok)
        });
        let (mut conn, _) = listener.accept().await.expect("accept");
        let mut head = [0u8; 10];
        conn.read_exact(&mut head).await.expect("first 10 bytes");
        // Let the whole 100 bytes arrive: the remaining 90 are queued with no event pending.
        rt::sleep(Duration::from_millis(50)).await;
        rt::timeout(Duration::from_secs(10), conn.readable())
            .await
            .expect("readable() after a short read completes at once")
            .expect("readable");
        // Waiting did not consume the readiness: the next read gets the rest.
        let mut rest = [0u8; 200];
        let n = rt::timeout(Duration::from_secs(10), conn.read(&mut rest))
            .await
            .expect("the rest is read without new data from the peer")
            .expect("read");
        assert_eq!(n, 90);
        assert!(rest[..n].iter().all(|&b| b == 7));
        rt::timeout(Duration::from_secs(10), conn.writable())
            .await
            .expect("writable() completes")
            .expect("writable");
        conn.write_all(b"ok").await.expect("write");
        assert_eq!(&peer.join().expect("peer thread").expect("peer"), b"ok");

        // Durations too long for `Instant` mean "never", not a panic.
        let r = rt::timeout(Duration::from_millis(20), rt::sleep(Duration::MAX)).await;
        assert_eq!(r, Err(rt::Elapsed), "sleep(Duration::MAX) stays pending");
        assert_eq!(rt::timeout(Duration::MAX, async { 7 }).await, Ok(7));
        let r = rt::timeout(Duration::MAX, rt::sleep(Duration::from_millis(1))).await;
        assert_eq!(
            r,
            Ok(()),
            "timeout(Duration::MAX, ..) lets the future finish"
        );
        let mut never = rt::interval(Duration::MAX);
        never.tick().await;
        let r = rt::timeout(Duration::from_millis(20), never.tick()).await;
        assert!(
            r.is_err(),
            "interval(Duration::MAX) ticks once, then not again"
        );

        // A zero period is taken as the smallest one: it ticks, it does not panic.
        let mut fast = rt::interval(Duration::ZERO);
        assert_eq!(fast.period(), Duration::from_micros(1));
        for _ in 0..3 {
            fast.tick().await;
        }

        // SyncSleep: never early; dropped on another thread after registering, its timer is
        // left behind and fires later, waking this task for nothing.
        let t = std::time::Instant::now();
        rt::SyncSleep::after(Duration::from_millis(20)).await;
        assert!(t.elapsed() >= Duration::from_millis(20));
        let mut elsewhere = rt::SyncSleep::after(Duration::from_millis(10));
        let r = rt::timeout(Duration::from_millis(1), &mut elsewhere).await;
        assert!(r.is_err(), "registered, not due yet");
        std::thread::spawn(move || drop(elsewhere))
            .join()
            .expect("dropped on another thread");
        rt::sleep(Duration::from_millis(30)).await;
        let r = rt::timeout(
            Duration::from_millis(20),
            rt::SyncSleep::after(Duration::MAX),
        )
        .await;
        assert!(r.is_err(), "SyncSleep::after(Duration::MAX) stays pending");
        let mut moved = rt::SyncSleep::after(Duration::from_secs(3600));
        let r = rt::timeout(Duration::from_millis(1), &mut moved).await;
        assert!(r.is_err());
        moved.reset(std::time::Instant::now());
        rt::timeout(Duration::from_secs(10), moved)
            .await
            .expect("reset to now: completes");

        // 1000 tasks yielding 100 times each: 100,000 polls, 128 per iteration. With tasks
        // still queued the loop must not wait for readiness between iterations; each such
        // wait would be a voluntary context switch of this thread (about 780 of them).
        let before = voluntary_switches();
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                rt::spawn(async {
                    for _ in 0..100 {
                        rt::yield_now().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        let waits = voluntary_switches() - before;
        assert!(
            waits < 100,
            "{waits} voluntary context switches while tasks were queued (idle waits?)"
        );
    });
    out.expect("run");
}
