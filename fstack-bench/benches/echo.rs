//! TCP echo of 64-byte messages: `fstack::rt` (async) against the `Poll` API, in the same
//! F-Stack loop and the same run (see BENCHMARKS.md, "Async vs Poll").
//!
//! ```sh
//! cargo bench -p fstack-bench --bench echo
//! ```
//!
//! One F-Stack thread runs both echo servers in one `Stack::run` loop: a `Poll`-driven one and
//! an async one (tasks on `fstack::rt`, `Runtime::turn` once per iteration). A kernel-side
//! client thread (blocking std sockets, so it is never the one spinning) alternates rounds of
//! one-at-a-time 64-byte round trips against each, checking every echoed byte. Per round it
//! reads the F-Stack thread's CPU clock (`pthread_getcpuclockid`) before and after: CPU per
//! message is that delta over the round's messages. Round trips are timed one by one.
//!
//! It also sums the wall time spent inside the two servers' turns (`PollEcho::turn` and
//! `Runtime::turn`, both called every iteration whichever API the round uses): "loop body per
//! message". On real F-Stack the loop never sleeps, so thread CPU follows the round-trip time
//! and the loop-body time is the figure that tells the APIs apart.
//!
//! Environment: `ECHO_ROUNDS` (default 7), `ECHO_MESSAGES` (per round and API, default 10000),
//! `ECHO_SERVER_IP` (default 127.0.0.1; another address: the servers listen on 0.0.0.0 ports
//! 7701 and 7702 and the client connects there; in the lab, 10.77.0.2). `--config FILE` (as `lab/run` passes it) picks the
//! F-Stack config (default: the repository's `f-stack.conf`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use fstack::rt::{self, Runtime};
use fstack::{
    Events, FStackListener, FStackSocket, Interest, Loopback, Poll, Stack, StackOptions, Token,
};
use fstack_bench::{median_min_max, quantile};
use futures_util::{AsyncReadExt, AsyncWriteExt};

const MESSAGE: usize = 64;
const LISTENER: Token = Token(usize::MAX);

/// Nanoseconds spent inside the servers' turns, read by the client around each round.
static BODY_NS: AtomicU64 = AtomicU64::new(0);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One `Poll` echo connection: bytes read but not yet written back.
struct PollConn {
    sock: FStackSocket,
    pending: Vec<u8>,
}

/// The `Poll`-driven echo server: accept, read until WouldBlock, write back (keeping what the
/// socket refused until it is writable again).
struct PollEcho {
    poll: Poll,
    events: Events,
    listener: FStackListener,
    conns: Vec<Option<PollConn>>,
}

impl PollEcho {
    fn new(listen: SocketAddr) -> fstack::Result<PollEcho> {
        let listener = FStackListener::bind(listen)?;
        let mut poll = Poll::new()?;
        poll.register(&listener, LISTENER, Interest::READABLE)?;
        Ok(PollEcho {
            poll,
            events: Events::with_capacity(64),
            listener,
            conns: Vec::new(),
        })
    }

    fn turn(&mut self) -> fstack::Result<()> {
        self.poll.poll(&mut self.events)?;
        let mut buf = [0u8; 4096];
        for ev in self.events.iter() {
            if ev.token() == LISTENER {
                loop {
                    match self.listener.accept() {
                        Ok((sock, _)) => {
                            sock.set_nodelay(true)?;
                            let token = Token(self.conns.len());
                            self.poll.register(
                                &sock,
                                token,
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            self.conns.push(Some(PollConn {
                                sock,
                                pending: Vec::new(),
                            }));
                        }
                        Err(e) if e.is_would_block() => break,
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            let Some(Some(conn)) = self.conns.get_mut(ev.token().0) else {
                continue;
            };
            let mut closed = false;
            loop {
                match conn.sock.read(&mut buf) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => conn.pending.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            while !conn.pending.is_empty() {
                match conn.sock.write(&conn.pending) {
                    Ok(n) => {
                        conn.pending.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            if closed {
                self.conns[ev.token().0] = None;
            }
        }
        Ok(())
    }
}

async fn async_echo(listener: rt::TcpListener) -> io::Result<()> {
    loop {
        let (mut conn, _) = listener.accept().await?;
        conn.set_nodelay(true)?;
        rt::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = conn.read(&mut buf).await {
                if conn.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// CPU time of the thread whose clock is `clock`, in nanoseconds.
fn cpu_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes a valid timespec; `clock` is a live thread's CPU clock.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// This thread's CPU clock id, readable from other threads.
fn own_cpu_clock() -> libc::clockid_t {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: pthread_self is this live thread; the call writes the clock id.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    assert_eq!(rc, 0, "pthread_getcpuclockid");
    clock
}

#[derive(Default)]
struct Results {
    cpu_per_msg_ns: Vec<f64>,
    body_per_msg_ns: Vec<f64>,
    rtt_ns: Vec<u64>,
}

/// One round: `count` one-at-a-time round trips on `conn`, each checked byte for byte.
fn round(conn: &mut TcpStream, count: usize, seed: u8, rtts: &mut Vec<u64>) -> io::Result<()> {
    let mut msg = [0u8; MESSAGE];
    let mut back = [0u8; MESSAGE];
    for i in 0..count {
        for (j, b) in msg.iter_mut().enumerate() {
            *b = seed ^ (i as u8).wrapping_add(j as u8);
        }
        let t = Instant::now();
        conn.write_all(&msg)?;
        conn.read_exact(&mut back)?;
        rtts.push(t.elapsed().as_nanos() as u64);
        assert_eq!(back, msg, "echo differs in message {i}");
    }
    Ok(())
}

/// Connects, retrying for up to 60 s: in the lab the kernel side of the link is configured only
/// after F-Stack has registered its interface.
fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match TcpStream::connect(addr) {
            Ok(c) => return Ok(c),
            Err(_) if Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(e) => return Err(e),
        }
    }
}

fn client(
    poll_addr: SocketAddr,
    async_addr: SocketAddr,
    server_clock: libc::clockid_t,
    done: Arc<AtomicBool>,
) -> io::Result<[Results; 2]> {
    let rounds = env_or("ECHO_ROUNDS", 7);
    let count = env_or("ECHO_MESSAGES", 10_000);
    let mut conns = [connect(poll_addr)?, connect(async_addr)?];
    for c in &conns {
        c.set_nodelay(true)?;
    }
    // Warm-up: connections accepted, caches and branch predictors settled.
    let mut scratch = Vec::new();
    for c in conns.iter_mut() {
        round(c, 1000, 0, &mut scratch)?;
    }
    let mut results = [Results::default(), Results::default()];
    for r in 0..rounds {
        for (api, conn) in conns.iter_mut().enumerate() {
            let (cpu, body) = (cpu_ns(server_clock), BODY_NS.load(Ordering::Relaxed));
            round(conn, count, r as u8, &mut results[api].rtt_ns)?;
            let cpu = cpu_ns(server_clock) - cpu;
            let body = BODY_NS.load(Ordering::Relaxed) - body;
            results[api].cpu_per_msg_ns.push(cpu as f64 / count as f64);
            results[api]
                .body_per_msg_ns
                .push(body as f64 / count as f64);
        }
    }
    done.store(true, Ordering::Release);
    Ok(results)
}

fn report(name: &str, r: &mut Results) -> (f64, f64) {
    let (cpu, lo, hi) = median_min_max(&mut r.cpu_per_msg_ns);
    let (body, body_lo, body_hi) = median_min_max(&mut r.body_per_msg_ns);
    r.rtt_ns.sort_unstable();
    println!(
        "{name:>6}: CPU per message {:.2} µs (rounds {:.2}–{:.2}), loop body per message {:.2} µs ({:.2}–{:.2}), round trip p50 {:.1} µs p99 {:.1} µs ({} round trips)",
        cpu / 1e3,
        lo / 1e3,
        hi / 1e3,
        body / 1e3,
        body_lo / 1e3,
        body_hi / 1e3,
        quantile(&r.rtt_ns, 0.5) as f64 / 1e3,
        quantile(&r.rtt_ns, 0.99) as f64 / 1e3,
        r.rtt_ns.len()
    );
    (cpu, body)
}

fn main() {
    // `cargo bench` passes `--bench`; `lab/run` passes `--config FILE` first.
    let args: Vec<String> = std::env::args().collect();
    let config = args
        .iter()
        .position(|a| a == "--config")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../f-stack.conf"));
    let server_ip: std::net::IpAddr = std::env::var("ECHO_SERVER_IP")
        .unwrap_or_else(|_| "127.0.0.1".into())
        .parse()
        .expect("ECHO_SERVER_IP: an IP address");
    // Loopback: ports picked by the stack. Elsewhere (the lab): fixed ports on all addresses.
    let (poll_listen, async_listen) = if server_ip.is_loopback() {
        (SocketAddr::new(server_ip, 0), SocketAddr::new(server_ip, 0))
    } else {
        let any = std::net::Ipv4Addr::UNSPECIFIED.into();
        (SocketAddr::new(any, 7701), SocketAddr::new(any, 7702))
    };
    let stack = Stack::init(StackOptions::new(&config).loopback(Loopback::Allow)).expect("ff_init");
    let runtime = Runtime::new().expect("runtime");
    let mut poll_echo = PollEcho::new(poll_listen).expect("poll echo");
    let async_listener = rt::TcpListener::bind(async_listen).expect("bind");
    let addrs = (
        SocketAddr::new(server_ip, poll_echo.listener.local_addr().unwrap().port()),
        SocketAddr::new(server_ip, async_listener.local_addr().unwrap().port()),
    );
    let server = runtime.spawn(async_echo(async_listener));
    let done = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    {
        let (clock, done) = (own_cpu_clock(), done.clone());
        std::thread::spawn(move || {
            let _ = tx.send(client(addrs.0, addrs.1, clock, done.clone()));
            done.store(true, Ordering::Release);
        });
    }
    println!(
        "echo: {} B messages, one at a time, backend {}, {} task polls per iteration",
        MESSAGE,
        fstack::backend(),
        rt::DEFAULT_BUDGET
    );
    let out = stack.run(|| {
        if done.load(Ordering::Acquire) {
            return ControlFlow::Break(Ok(()));
        }
        let t = Instant::now();
        if let Err(e) = poll_echo.turn() {
            return ControlFlow::Break(Err(e.to_string()));
        }
        if let Err(e) = runtime.turn() {
            return ControlFlow::Break(Err(e.to_string()));
        }
        BODY_NS.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        ControlFlow::Continue(())
    });
    out.expect("loop ran").expect("servers");
    drop(server);
    let [mut poll_r, mut async_r] = rx.recv().expect("client").expect("client io");
    let p = report("Poll", &mut poll_r);
    let a = report("async", &mut async_r);
    println!(
        "async/Poll: CPU per message {:.3}, loop body per message {:.3}",
        a.0 / p.0,
        a.1 / p.1
    );
}
