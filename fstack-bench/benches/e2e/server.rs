//! The event source: a Binance-like `wss://` server made for this benchmark, fast enough that
//! the client under test, not the source, limits the rate.
//!
//! What it sends is what an exchange sends: **one WebSocket text frame per TLS record**, each
//! the mock exchange's ticker JSON (raw or combined form, ~430/~470 bytes), encrypted with the
//! server's preferred AES-GCM suite (see [`server_config`]), over TLS 1.2 or TLS 1.3 as chosen
//! per listener. What makes it fast is that nothing is generated per event: each stream's
//! frame is built once, and per event only the event time `E` (µs, 16 digits) and the
//! connection's sequence number (in `n`, 10 digits) are written over the old digits in place
//! before rustls encrypts the frame as a record of its own. Records are gathered in a buffer
//! and handed to the kernel in large writes (one system call per ~250 records at max rate).
//!
//! `E` is stamped right before the frame is encrypted, so receive latency is measured from
//! that instant (encryption, the kernel, the client). `n` counts the connection's events from
//! [`FIRST_SEQ`] up, across its streams, so a client that checks it sees any loss,
//! duplication or reordering.
//!
//! Two paces: max (frames are produced whenever the socket takes more, so the client's
//! reading sets the rate) and a fixed rate (events are sent when due, each in its own record;
//! the thread sleeps in between with a 1 µs timer slack).
//!
//! The WebSocket side is as small as a tungstenite client allows: the upgrade (GET with
//! `Sec-WebSocket-Key`, answered with `101` and `Sec-WebSocket-Accept`), then the client's
//! close frame is answered with a close frame and `close_notify`; pings are answered with
//! pongs. Request targets are Binance's: `/ws/<stream>` or `/stream?streams=a/b`, with
//! `timeUnit=MICROSECOND` (required: the latency needs µs).
//!
//! Each connection is served by its own thread, which measures its own CPU time while
//! streaming and reports it with the negotiated version and suite when the connection ends
//! ([`ConnReport`]): the source's cost per event, whichever client reads.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fstack_bench::thread_cpu_ns;
use rustls::crypto::ring::cipher_suite as suites;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::TlsVersion;

/// The first sequence number of a connection: ten digits, so that every number up to
/// 9,999,999,999 has the same width and can be written over the previous one in place.
pub const FIRST_SEQ: u64 = 1_000_000_000;

/// Frames produced at max rate before the buffer goes to the kernel: large writes keep the
/// source's system calls per event low (loopback copies the whole write in one call).
const MAX_RATE_WRITE: usize = 128 << 10;

/// rustls's AES-GCM keys are good for 2^24 records; after that a TLS 1.2 connection is closed
/// (TLS 1.3 updates its keys). A run never comes near it; a connection that would is ended.
const RECORD_LIMIT: u64 = (1 << 24) - 1024;

/// How the source sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// As fast as the socket takes frames.
    Max,
    /// This many events per second, each sent when due.
    Rate(f64),
}

/// What one connection did, reported when it ends.
#[derive(Debug, Clone)]
pub struct ConnReport {
    /// `TLSv1_2` or `TLSv1_3`, as negotiated.
    pub protocol: String,
    /// The negotiated cipher suite's IANA name, e.g. `TLS_AES_128_GCM_SHA256`.
    pub suite: String,
    /// Its IANA number, e.g. `0x1301`.
    pub suite_id: u16,
    /// Events sent (encrypted and handed to the socket buffer).
    pub events: u64,
    /// CPU time of the serving thread from the first event to the end.
    pub cpu_ns: u64,
    /// `write` system calls that carried records.
    pub writes: u64,
    /// Bytes of the WebSocket frames of the events, and of the TLS records carrying them:
    /// the difference per event is one record's overhead (29 bytes with AES-GCM in TLS 1.2,
    /// 22 in TLS 1.3) when each frame has a record of its own.
    pub frame_bytes: u64,
    pub record_bytes: u64,
    /// How it ended, when not with the client's close frame.
    pub problem: Option<String>,
}

impl ConnReport {
    /// Server CPU per event sent, in ns.
    pub fn cpu_ns_per_event(&self) -> f64 {
        self.cpu_ns as f64 / self.events.max(1) as f64
    }
}

#[derive(Default)]
struct Reports {
    list: Mutex<Vec<ConnReport>>,
    added: Condvar,
}

/// One listener: one TLS version, one pace. Stops (and ends its connections) when dropped.
pub struct Server {
    addr: SocketAddr,
    ca_pem: String,
    version: TlsVersion,
    stop: Arc<AtomicBool>,
    reports: Arc<Reports>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens on 127.0.0.1 (a free port) with its own CA and certificate for `localhost`.
    pub fn start(version: TlsVersion, pace: Pace) -> io::Result<Server> {
        let (ca_pem, config) = server_config(version)?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let reports = Arc::new(Reports::default());
        let accept = {
            let (stop, reports) = (stop.clone(), reports.clone());
            std::thread::Builder::new()
                .name(format!("source-{}", version.name()))
                .spawn(move || accept_loop(listener, config, pace, stop, reports))?
        };
        Ok(Server {
            addr,
            ca_pem,
            version,
            stop,
            reports,
            accept: Some(accept),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn version(&self) -> TlsVersion {
        self.version
    }

    /// Reports of the connections that ended so far.
    pub fn report_count(&self) -> usize {
        self.reports.list.lock().expect("reports").len()
    }

    /// The report of connection number `index` (in the order they ended), waiting up to
    /// `timeout` for it.
    pub fn wait_report(&self, index: usize, timeout: Duration) -> Option<ConnReport> {
        let deadline = Instant::now() + timeout;
        let mut list = self.reports.list.lock().expect("reports");
        while list.len() <= index {
            let left = deadline.checked_duration_since(Instant::now())?;
            list = self
                .reports
                .added
                .wait_timeout(list, left)
                .expect("reports")
                .0;
        }
        Some(list[index].clone())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// A CA and a `localhost` certificate signed by it (ECDSA P-256), and the server's TLS
/// configuration: the one `version`, and the server's own preference order, AES-128-GCM
/// first. Binance's endpoints (on AWS load balancers, whose default TLS policies order suites
/// this way) negotiate `TLS13_AES_128_GCM_SHA256`, or `ECDHE-*-AES128-GCM-SHA256` in TLS 1.2,
/// with any client offering them; a client that offers none still gets AES-256-GCM or
/// ChaCha20-Poly1305, and the report shows what each connection negotiated.
fn server_config(version: TlsVersion) -> io::Result<(String, Arc<rustls::ServerConfig>)> {
    let err = |e: rcgen::Error| io::Error::other(format!("certificate generation: {e}"));
    let ca_key = rcgen::KeyPair::generate().map_err(err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fstack-bench source CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = ca_params.self_signed(&ca_key).map_err(err)?;
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).map_err(err)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let cert = params.signed_by(&key, &issuer).map_err(err)?;

    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![
        suites::TLS13_AES_128_GCM_SHA256,
        suites::TLS13_AES_256_GCM_SHA384,
        suites::TLS13_CHACHA20_POLY1305_SHA256,
        suites::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        suites::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        suites::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    let versions: &[&rustls::SupportedProtocolVersion] = match version {
        TlsVersion::Tls12 => &[&rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .map_err(|e| io::Error::other(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(
            vec![
                CertificateDer::from(cert.der().to_vec()),
                CertificateDer::from(ca.der().to_vec()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(|e| io::Error::other(e.to_string()))?;
    config.ignore_client_order = true;
    // No resumption: every run starts with a full handshake, like a fresh client.
    config.send_tls13_tickets = 0;
    Ok((ca.pem(), Arc::new(config)))
}

fn accept_loop(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    pace: Pace,
    stop: Arc<AtomicBool>,
    reports: Arc<Reports>,
) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        // Wakes up now and then to see `stop`; an idle listener costs nothing else.
        if !wait_fd(
            listener.as_raw_fd(),
            libc::POLLIN,
            Duration::from_millis(50),
        ) {
            continue;
        }
        let Ok((sock, _)) = listener.accept() else {
            continue;
        };
        let (config, stop, reports) = (config.clone(), stop.clone(), reports.clone());
        let spawned = std::thread::Builder::new()
            .name("source-conn".into())
            .spawn(move || {
                let report = serve(sock, config, pace, &stop);
                if let Some(report) = report {
                    reports.list.lock().expect("reports").push(report);
                    reports.added.notify_all();
                }
            });
        match spawned {
            Ok(t) => conns.push(t),
            Err(e) => eprintln!("e2e: source: cannot start a connection thread: {e}"),
        }
        conns.retain(|t| !t.is_finished());
    }
    for t in conns {
        let _ = t.join();
    }
}

/// `poll` for `events` on `fd`, with a µs-precise timeout; true if any is ready.
fn wait_fd(fd: i32, events: libc::c_short, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd, a valid timespec, no signal mask.
    let n = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
    n > 0 && pfd.revents != 0
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Writes `value` as exactly `digits.len()` decimal digits (the caller keeps it in range).
fn put_digits(digits: &mut [u8], mut value: u64) {
    for d in digits.iter_mut().rev() {
        *d = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// One pre-built WebSocket text frame (header and payload) per stream, and where in each the
/// event time and the sequence number are.
struct Frames {
    frames: Vec<Vec<u8>>,
    time_at: Vec<usize>,
    seq_at: Vec<usize>,
    next: usize,
}

const TIME_DIGITS: usize = 16;
const SEQ_DIGITS: usize = 10;

impl Frames {
    /// The ticker frames for `streams`, combined form (`{"stream":..,"data":..}`) if
    /// `combined`.
    fn new(streams: &[String], combined: bool) -> Result<Frames, String> {
        let now = unix_micros();
        let mut frames = Frames {
            frames: Vec::new(),
            time_at: Vec::new(),
            seq_at: Vec::new(),
            next: 0,
        };
        for name in streams {
            let (symbol, kind) = fstack_mock_exchange::parse_stream(name)
                .ok_or_else(|| format!("unknown stream {name}"))?;
            if kind != fstack_mock_exchange::Kind::Ticker {
                return Err(format!("{name}: this source sends tickers only"));
            }
            let mut raw = String::new();
            fstack_mock_exchange::event_json(&symbol, kind, FIRST_SEQ, now, &mut raw);
            let payload = if combined {
                format!(r#"{{"stream":"{name}","data":{raw}}}"#)
            } else {
                raw
            };
            let mut frame = vec![0x81]; // FIN, text
            if payload.len() < 126 {
                frame.push(payload.len() as u8);
            } else {
                frame.push(126);
                frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            }
            let header = frame.len();
            frame.extend_from_slice(payload.as_bytes());
            let time_at = header + payload.find(r#""E":"#).ok_or("no E")? + 4;
            let seq_at = header + payload.rfind(r#""n":"#).ok_or("no n")? + 4;
            let is_number = |at: usize, len: usize| {
                frame[at..at + len].iter().all(u8::is_ascii_digit)
                    && !frame[at + len].is_ascii_digit()
            };
            if !is_number(time_at, TIME_DIGITS) || !is_number(seq_at, SEQ_DIGITS) {
                return Err("unexpected ticker layout".into());
            }
            frames.frames.push(frame);
            frames.time_at.push(time_at);
            frames.seq_at.push(seq_at);
        }
        if frames.frames.is_empty() {
            return Err("no streams".into());
        }
        Ok(frames)
    }

    /// The next stream's frame (round robin), stamped with `time` and `seq`.
    fn next(&mut self, time: u64, seq: u64) -> &[u8] {
        let i = self.next;
        self.next = (i + 1) % self.frames.len();
        let frame = &mut self.frames[i];
        put_digits(&mut frame[self.time_at[i]..][..TIME_DIGITS], time);
        put_digits(&mut frame[self.seq_at[i]..][..SEQ_DIGITS], seq);
        frame
    }
}

/// The streams named by a Binance request target, and whether it is the combined form.
fn parse_target(target: &str) -> Result<(Vec<String>, bool), String> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: Vec<(&str, &str)> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let micros = params
        .iter()
        .any(|&(k, v)| k == "timeUnit" && v.eq_ignore_ascii_case("microsecond"));
    if !micros {
        return Err("timeUnit=MICROSECOND is required".into());
    }
    if let Some(stream) = path.strip_prefix("/ws/") {
        return Ok((vec![stream.to_owned()], false));
    }
    if path == "/stream" {
        let streams = params
            .iter()
            .filter(|(k, _)| *k == "streams")
            .flat_map(|(_, v)| v.split('/'))
            .map(str::to_owned)
            .collect();
        return Ok((streams, true));
    }
    Err(format!("unknown path {path}"))
}

type Tls = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// The TLS handshake and the WebSocket upgrade, blocking (bounded by a read timeout); the
/// streams asked for.
fn upgrade(tls: &mut Tls) -> Result<(Vec<String>, bool), String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tls.read(&mut buf).map_err(|e| format!("upgrade: {e}"))?;
        if n == 0 || head.len() > 16 << 10 {
            return Err("upgrade: no request".into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    let target = lines
        .next()
        .and_then(|l| l.strip_prefix("GET "))
        .and_then(|l| l.strip_suffix(" HTTP/1.1"))
        .ok_or("upgrade: not a GET")?
        .to_owned();
    let key = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("sec-websocket-key"))
        .map(|(_, v)| v.trim().to_owned())
        .ok_or("upgrade: no Sec-WebSocket-Key")?;
    let parsed = parse_target(&target);
    let response = match &parsed {
        Ok(_) => format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            tungstenite::handshake::derive_accept_key(key.as_bytes())
        ),
        Err(_) => "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_owned(),
    };
    tls.write_all(response.as_bytes())
        .and_then(|()| tls.flush())
        .map_err(|e| format!("upgrade: {e}"))?;
    parsed
}

/// Serves one connection until the client closes it; `None` if it never got to streaming.
fn serve(
    sock: TcpStream,
    config: Arc<rustls::ServerConfig>,
    pace: Pace,
    stop: &AtomicBool,
) -> Option<ConnReport> {
    // Pacing sleeps end within ~1 µs of the due time instead of the default 50 µs slack.
    // SAFETY: prctl with an integer argument, for the calling thread only.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong) };
    let setup = || -> Result<(Tls, Vec<String>, bool), String> {
        sock.set_nodelay(true).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let conn = rustls::ServerConnection::new(config).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let (streams, combined) = upgrade(&mut tls)?;
        tls.sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok((tls, streams, combined))
    };
    let (tls, streams, combined) = match setup() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("e2e: source: {e}");
            return None;
        }
    };
    let frames = match Frames::new(&streams, combined) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("e2e: source: {e}");
            return None;
        }
    };
    let rustls::StreamOwned { conn, sock } = tls;
    let mut s = Streaming {
        protocol: format!("{:?}", conn.protocol_version()?),
        suite_id: u16::from(conn.negotiated_cipher_suite()?.suite()),
        conn,
        sock,
        frames,
        out: Vec::with_capacity(MAX_RATE_WRITE + (64 << 10)),
        sent_out: 0,
        input: Vec::new(),
        seq: FIRST_SEQ,
        writes: 0,
        frame_bytes: 0,
        record_bytes: 0,
        closing: false,
    };
    // No cap on rustls's queue of outgoing records: `produce` moves them into `out` after
    // every batch, so it never holds more than one batch.
    s.conn.set_buffer_limit(None);
    let cpu0 = thread_cpu_ns();
    let problem = s.stream(pace, stop).err();
    Some(ConnReport {
        protocol: s.protocol,
        suite: fstack_tls::cipher_suite_name(s.suite_id)
            .map_or_else(|| format!("{:#06x}", s.suite_id), str::to_owned),
        suite_id: s.suite_id,
        events: s.seq - FIRST_SEQ,
        cpu_ns: thread_cpu_ns() - cpu0,
        writes: s.writes,
        frame_bytes: s.frame_bytes,
        record_bytes: s.record_bytes,
        problem,
    })
}

struct Streaming {
    protocol: String,
    suite_id: u16,
    conn: rustls::ServerConnection,
    sock: TcpStream,
    frames: Frames,
    /// Encrypted records not yet taken by the kernel: `out[sent_out..]`.
    out: Vec<u8>,
    sent_out: usize,
    /// The client's decrypted bytes not yet parsed as frames.
    input: Vec<u8>,
    /// Next sequence number.
    seq: u64,
    writes: u64,
    frame_bytes: u64,
    record_bytes: u64,
    /// The client's close frame arrived: no more events, and the reply is queued.
    closing: bool,
}

impl Streaming {
    /// Sends events at `pace` until the client's close frame (answered) or the end of the
    /// connection. `Err` says why it ended otherwise.
    fn stream(&mut self, pace: Pace, stop: &AtomicBool) -> Result<(), String> {
        let started = Instant::now();
        let fd = self.sock.as_raw_fd();
        let mut idle_checks = 0u32;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Err("source stopped".into());
            }
            if self.closing {
                return self.finish_close();
            }
            // Produce what is due.
            let due_at = match pace {
                Pace::Max => {
                    if self.sent_out == self.out.len() {
                        self.out.clear();
                        self.sent_out = 0;
                        while self.out.len() < MAX_RATE_WRITE {
                            self.produce(64)?;
                        }
                    }
                    None
                }
                Pace::Rate(rate) => {
                    let sent = self.seq - FIRST_SEQ;
                    let due = (started.elapsed().as_secs_f64() * rate) as u64;
                    if due > sent {
                        // A late wake-up sends what fell due meanwhile, each event its own
                        // record, as an exchange catching up would.
                        self.produce((due - sent).min(1_000) as usize)?;
                    }
                    // Event number k (counting from 1) is due k / rate after the start.
                    let next = self.seq - FIRST_SEQ + 1;
                    Some(started + Duration::from_secs_f64(next as f64 / rate))
                }
            };
            // Hand records to the kernel until it takes no more.
            let mut blocked = false;
            while self.sent_out < self.out.len() {
                match self.sock.write(&self.out[self.sent_out..]) {
                    Ok(n) => {
                        self.sent_out += n;
                        self.writes += 1;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        blocked = true;
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("write: {e}")),
                }
            }
            // Wait for the socket (max rate) or the next event (paced), waking up for the
            // client's input either way.
            let readable = match (due_at, blocked) {
                (_, true) => {
                    let mut pfd = libc::pollfd {
                        fd,
                        events: libc::POLLIN | libc::POLLOUT,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut pfd, 1, 100) };
                    pfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
                }
                (Some(at), false) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    wait_fd(fd, libc::POLLIN, wait)
                }
                (None, false) => {
                    // A client that keeps up never blocks the writes: look for its input
                    // every 64 rounds (~16k events) instead.
                    idle_checks += 1;
                    idle_checks.is_multiple_of(64) && wait_fd(fd, libc::POLLIN, Duration::ZERO)
                }
            };
            if readable {
                self.read_input()?;
            }
        }
    }

    /// Encrypts `n` events, one record each, into `out`.
    fn produce(&mut self, n: usize) -> Result<(), String> {
        if self.seq - FIRST_SEQ + n as u64 >= RECORD_LIMIT {
            return Err("record limit of the connection's keys reached".into());
        }
        for _ in 0..n {
            let frame = self.frames.next(unix_micros(), self.seq);
            self.seq += 1;
            self.frame_bytes += frame.len() as u64;
            // One `write` of a whole frame is one TLS record.
            self.conn
                .writer()
                .write_all(frame)
                .map_err(|e| format!("encrypt: {e}"))?;
        }
        self.record_bytes += self
            .conn
            .write_tls(&mut self.out)
            .map_err(|e| format!("encrypt: {e}"))? as u64;
        Ok(())
    }

    /// Reads and handles what the client sent: close (answered, then the connection ends),
    /// ping (answered), anything else ignored.
    fn read_input(&mut self) -> Result<(), String> {
        loop {
            match self.conn.read_tls(&mut self.sock) {
                Ok(0) => return Err("client closed the connection".into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
            self.conn
                .process_new_packets()
                .map_err(|e| format!("TLS: {e}"))?;
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.conn.reader().read(&mut buf) {
                Ok(0) => return Err("client sent close_notify before a close frame".into()),
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        while let Some((opcode, payload, used)) = client_frame(&self.input) {
            match opcode {
                0x8 => {
                    // Close: echo the status code, as tungstenite expects a reply.
                    let code = payload.get(..2).unwrap_or(&[0x03, 0xe8]).to_vec();
                    let mut reply = vec![0x88, code.len() as u8];
                    reply.extend_from_slice(&code);
                    self.queue_record(&reply)?;
                    self.conn.send_close_notify();
                    self.flush_tls()?;
                    self.closing = true;
                }
                0x9 => {
                    let mut pong = vec![0x8a, payload.len() as u8];
                    pong.extend_from_slice(&payload);
                    self.queue_record(&pong)?;
                }
                _ => {}
            }
            self.input.drain(..used);
            if self.closing {
                break;
            }
        }
        Ok(())
    }

    fn queue_record(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.conn
            .writer()
            .write_all(bytes)
            .map_err(|e| format!("encrypt: {e}"))?;
        self.flush_tls()
    }

    fn flush_tls(&mut self) -> Result<(), String> {
        self.conn
            .write_tls(&mut self.out)
            .map(drop)
            .map_err(|e| format!("encrypt: {e}"))
    }

    /// After the client's close frame: everything queued (events, the close reply,
    /// `close_notify`) goes out, then FIN, then the client's end of the connection is awaited,
    /// so no reset can cut what the client has not read yet.
    fn finish_close(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let fd = self.sock.as_raw_fd();
        while self.sent_out < self.out.len() {
            match self.sock.write(&self.out[self.sent_out..]) {
                Ok(n) => self.sent_out += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err("client stopped reading after its close".into());
                    }
                    wait_fd(fd, libc::POLLOUT, Duration::from_millis(100));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        let _ = self.sock.shutdown(std::net::Shutdown::Write);
        let mut sink = [0u8; 4096];
        while Instant::now() < deadline {
            match self.sock.read(&mut sink) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    wait_fd(fd, libc::POLLIN, Duration::from_millis(100));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // A reset after our FIN: the client is gone, which is all we wait for.
                Err(_) => return Ok(()),
            }
        }
        Err("client did not close after the close handshake".into())
    }
}

/// The first complete (masked) client frame in `buf`: opcode, unmasked payload, bytes used.
fn client_frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let (b0, b1) = (*buf.first()?, *buf.get(1)?);
    let (mut at, len) = match b1 & 0x7f {
        126 => (
            4,
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
        ),
        127 => (
            10,
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
        ),
        n => (2, n as usize),
    };
    let mask = if b1 & 0x80 != 0 {
        let m: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(m)
    } else {
        None
    };
    let mut payload = buf.get(at..at + len)?.to_vec();
    if let Some(m) = mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= m[i % 4];
        }
    }
    Some((b0 & 0x0f, payload, at + len))
}
