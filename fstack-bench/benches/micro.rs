//! Micro benchmarks (divan): event decoding per kind, decimal parsing, the WebSocket read path
//! on an in-memory stream, TLS record decryption over an in-memory pipe, the whole client
//! path (TLS record -> WebSocket frame -> decoded event) in memory, and one diff applied to a
//! local order book.
//!
//! Run: `cargo bench -p fstack-bench --bench micro` (add a filter, e.g. `-- decode`, to run a
//! part). Divan prints fastest/slowest/median/mean per benchmark; the allocation columns come
//! from its counting allocator.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::rc::Rc;

use divan::counter::BytesCount;
use divan::{AllocProfiler, Bencher};
use fstack_binance::decimal::{Decimal, DecimalValue};
use fstack_binance::events::{decode, Message};
use fstack_binance::stream::StreamRef;
use fstack_mock_exchange::{event_json, parse_stream};
use fstack_tls::{HandshakeError, TlsAcceptor, TlsConnector, TlsStream};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::WebSocket;

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

fn main() {
    divan::main();
}

/// The mock exchange's payload for a stream, e.g. `btcusdt@ticker`.
fn payload(stream: &str) -> String {
    let (symbol, kind) = parse_stream(stream).expect("stream");
    let mut s = String::new();
    event_json(&symbol, kind, 123_456, 1_700_000_000_123_456, &mut s);
    s
}

const KINDS: [&str; 7] = [
    "btcusdt@ticker",
    "btcusdt@miniTicker",
    "btcusdt@bookTicker",
    "btcusdt@trade",
    "btcusdt@aggTrade",
    "btcusdt@depth20",
    "btcusdt@depth",
];

/// `fstack_binance::events::decode` of one raw payload per stream kind.
mod decode_raw {
    use super::*;

    #[divan::bench(args = KINDS)]
    fn ours(bencher: Bencher, stream: &str) {
        let text = payload(stream);
        let hint = StreamRef::parse(stream).unwrap();
        bencher.counter(BytesCount::of_str(&text)).bench(|| {
            match decode(black_box(&text), Some(hint)) {
                Ok(Message::Event(e)) => black_box(e.event_time()),
                other => panic!("{other:?}"),
            }
        });
    }
}

/// A combined-stream ticker (`{"stream":...,"data":{...}}`): ours and the baseline's typed
/// serde struct with owned `String`s (as in the e2e benchmark).
mod decode_combined_ticker {
    use super::*;

    fn text() -> String {
        format!(
            r#"{{"stream":"btcusdt@ticker","data":{}}}"#,
            payload("btcusdt@ticker")
        )
    }

    #[divan::bench]
    fn ours(bencher: Bencher) {
        let text = text();
        bencher
            .counter(BytesCount::of_str(&text))
            .bench(|| match decode(black_box(&text), None) {
                Ok(Message::Event(e)) => black_box(e.event_time()),
                other => panic!("{other:?}"),
            });
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Ticker {
        e: String,
        #[serde(rename = "E")]
        event_time: u64,
        s: String,
        p: String,
        #[serde(rename = "P")]
        pp: String,
        w: String,
        x: String,
        c: String,
        #[serde(rename = "Q")]
        qq: String,
        b: String,
        #[serde(rename = "B")]
        bb: String,
        a: String,
        #[serde(rename = "A")]
        aa: String,
        o: String,
        h: String,
        l: String,
        v: String,
        q: String,
        #[serde(rename = "O")]
        open_time: u64,
        #[serde(rename = "C")]
        close_time: u64,
        #[serde(rename = "F")]
        first: i64,
        #[serde(rename = "L")]
        last: i64,
        n: u64,
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Combined {
        stream: String,
        data: Ticker,
    }

    #[divan::bench]
    fn baseline_owned_strings(bencher: Bencher) {
        let text = text();
        bencher.counter(BytesCount::of_str(&text)).bench(|| {
            let c: Combined = serde_json::from_str(black_box(&text)).unwrap();
            black_box(c.data.event_time)
        });
    }
}

mod decimal {
    use super::*;

    const PRICES: [&str; 3] = ["43250.12000000", "0.00001234", "101234567890.12345678"];

    /// Validation only (what decoding does for every price and quantity).
    #[divan::bench(args = PRICES)]
    fn parse(text: &str) -> bool {
        Decimal::parse(black_box(text)).is_ok()
    }

    /// Conversion to an exact mantissa/scale value.
    #[divan::bench(args = PRICES)]
    fn value(text: &str) -> i128 {
        DecimalValue::parse(black_box(text)).unwrap().mantissa()
    }
}

/// An in-memory stream serving the same bytes forever, at most `chunk` bytes per read (a TLS
/// stream hands out one record's plaintext per read); writes are discarded.
struct Replay {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos = (self.pos + n) % self.data.len();
        Ok(n)
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A server-to-client (unmasked) text frame.
fn text_frame(text: &str) -> Vec<u8> {
    let frame = Frame::message(text.as_bytes().to_vec(), OpCode::Data(Data::Text), true);
    let mut out = Vec::new();
    frame.format(&mut out).unwrap();
    out
}

/// `tungstenite::WebSocket::read` of ticker text frames from memory (no TLS, no decode).
mod websocket_read {
    use super::*;

    /// tungstenite's default 128 KiB read buffer, and smaller ones (the feed's is
    /// `fstack_binance::feed::websocket_config`'s).
    const READ_BUFFERS: [usize; 5] = [128 << 10, 16 << 10, 4 << 10, 2 << 10, 1 << 10];

    /// Frames of `per_read` ticker events, `per_read` frames handed out per read of the stream
    /// (a TLS stream hands out one record's plaintext per read; the mock exchange puts what it
    /// generated in one loop iteration into one record).
    fn bench(bencher: Bencher, read_buffer: usize, per_read: usize) {
        let frame = text_frame(&payload("btcusdt@ticker"));
        let frame_len = frame.len();
        let data: Vec<u8> = frame.iter().copied().cycle().take(frame_len * 60).collect();
        let stream = Replay {
            data,
            pos: 0,
            chunk: frame_len * per_read,
        };
        let config = WebSocketConfig::default().read_buffer_size(read_buffer);
        let mut ws = WebSocket::from_raw_socket(stream, Role::Client, Some(config));
        bencher.counter(BytesCount::new(frame_len)).bench_local(|| {
            let msg = ws.read().unwrap();
            black_box(msg.len())
        });
    }

    /// One frame per read: one event per TLS record.
    #[divan::bench(args = READ_BUFFERS)]
    fn ticker_frame_per_read(bencher: Bencher, read_buffer: usize) {
        bench(bencher, read_buffer, 1);
    }

    /// Ten frames per read: ten events per TLS record (a combined connection at full rate).
    #[divan::bench(args = READ_BUFFERS)]
    fn ten_ticker_frames_per_read(bencher: Bencher, read_buffer: usize) {
        bench(bencher, read_buffer, 10);
    }
}

/// One end of an in-memory duplex pipe: reads `WouldBlock` when empty, like a non-blocking
/// socket.
#[derive(Clone)]
struct PipeEnd {
    rx: Rc<RefCell<VecDeque<u8>>>,
    tx: Rc<RefCell<VecDeque<u8>>>,
}

impl Read for PipeEnd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut rx = self.rx.borrow_mut();
        if rx.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        rx.read(buf)
    }
}

impl Write for PipeEnd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx.borrow_mut().extend(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn pipe() -> (PipeEnd, PipeEnd) {
    let (a, b) = (Rc::default(), Rc::default());
    (
        PipeEnd {
            rx: Rc::clone(&a),
            tx: Rc::clone(&b),
        },
        PipeEnd { rx: b, tx: a },
    )
}

/// A connected fstack-tls client/server pair over an in-memory pipe (client first).
fn tls_pair() -> (TlsStream<PipeEnd>, TlsStream<PipeEnd>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let acceptor =
        TlsAcceptor::new(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).expect("acceptor");
    // Verification is not what is measured here.
    let connector = TlsConnector::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("connector");
    let (c, s) = pipe();
    let mut client = connector.connect("localhost", c);
    let mut server = acceptor.accept(s);
    for _ in 0..100 {
        client = match client {
            Err(HandshakeError::WouldBlock(mid)) => mid.handshake(),
            done => done,
        };
        server = match server {
            Err(HandshakeError::WouldBlock(mid)) => mid.handshake(),
            done => done,
        };
        if let (Ok(_), Ok(_)) = (&client, &server) {
            break;
        }
    }
    let (client, server) = (client.expect("client"), server.expect("server"));
    eprintln!(
        "micro: fstack-tls pair negotiated cipher suite {:#06x}",
        client.cipher_suite().unwrap_or(0)
    );
    (client, server)
}

/// fstack-tls decryption (default engine, rustls) on the client side; the server's encryption
/// happens in the untimed input step.
mod tls_decrypt {
    use super::*;

    const SIZES: [usize; 2] = [452, 16 << 10];

    #[divan::bench(args = SIZES)]
    fn record(bencher: Bencher, size: usize) {
        let (mut client, mut server) = tls_pair();
        let plain = vec![b'x'; size];
        let mut buf = vec![0u8; 32 << 10];
        bencher
            .counter(BytesCount::new(size))
            .with_inputs(|| {
                server.write_all(&plain).unwrap();
            })
            .bench_local_values(|()| {
                let n = client.read(&mut buf).unwrap();
                assert_eq!(n, size);
                n
            });
    }
}

/// Opening one record per engine and cipher suite: fstack-tls clients of each engine against a
/// rustls server that imposes the suite (its own order, one suite offered), as exchanges
/// impose theirs; the server's encryption happens in the untimed input step. The record
/// carries 460 bytes, a combined ticker event.
mod tls_record_open {
    use super::*;
    use fstack_tls::{Engine, Protocol};
    use rustls::crypto::ring::cipher_suite as suites;

    const CASES: [&str; 8] = [
        "rustls TLSv1.3 AES_128_GCM",
        "rustls TLSv1.2 AES_128_GCM",
        "rustls TLSv1.3 CHACHA20_POLY1305",
        "rustls TLSv1.2 CHACHA20_POLY1305",
        "mbedtls TLSv1.3 AES_128_GCM",
        "mbedtls TLSv1.2 AES_128_GCM",
        "mbedtls TLSv1.3 CHACHA20_POLY1305",
        "mbedtls TLSv1.2 CHACHA20_POLY1305",
    ];

    /// Our client and the imposing server (a raw rustls connection and its pipe end).
    fn pair(case: &str) -> (TlsStream<PipeEnd>, rustls::ServerConnection, PipeEnd) {
        let mut words = case.split(' ');
        let engine: Engine = words.next().unwrap().parse().unwrap();
        let tls13 = words.next() == Some("TLSv1.3");
        let aes = words.next() == Some("AES_128_GCM");
        let suite = match (tls13, aes) {
            (true, true) => suites::TLS13_AES_128_GCM_SHA256,
            (true, false) => suites::TLS13_CHACHA20_POLY1305_SHA256,
            // rcgen's default key is ECDSA P-256.
            (false, true) => suites::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            (false, false) => suites::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        };
        let version = if tls13 {
            Protocol::Tls13
        } else {
            Protocol::Tls12
        };
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let mut provider = rustls::crypto::ring::default_provider();
        provider.cipher_suites = vec![suite];
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(provider))
            .with_protocol_versions(&[if tls13 {
                &rustls::version::TLS13
            } else {
                &rustls::version::TLS12
            }])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let mut server = rustls::ServerConnection::new(std::sync::Arc::new(config)).unwrap();
        // Verification is not what is measured here.
        let connector = TlsConnector::builder()
            .engine(engine)
            .min_protocol_version(Some(version))
            .max_protocol_version(Some(version))
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let (c, mut s) = pipe();
        let mut client = connector.connect("localhost", c);
        for _ in 0..100 {
            client = match client {
                Err(HandshakeError::WouldBlock(mid)) => mid.handshake(),
                done => done,
            };
            while server.read_tls(&mut s).is_ok_and(|n| n > 0) {}
            server.process_new_packets().unwrap();
            while server.wants_write() {
                server.write_tls(&mut s).unwrap();
            }
            if client.is_ok() && !server.is_handshaking() {
                break;
            }
        }
        let client = client.expect("handshake");
        assert_eq!(
            client.cipher_suite(),
            Some(u16::from(suite.suite())),
            "{case}"
        );
        (client, server, s)
    }

    /// One record per sample (divan would otherwise queue a batch of inputs, and rustls
    /// decrypts every queued record on the first read).
    #[divan::bench(args = CASES, sample_size = 1, sample_count = 20000)]
    fn record(bencher: Bencher, case: &str) {
        let (mut client, mut server, mut pipe_end) = pair(case);
        let plain = vec![b'x'; 460];
        let mut buf = vec![0u8; 32 << 10];
        bencher
            .with_inputs(|| {
                server.writer().write_all(&plain).unwrap();
                server.write_tls(&mut pipe_end).unwrap();
            })
            .bench_local_values(|()| {
                let n = client.read(&mut buf).unwrap();
                assert_eq!(n, plain.len());
                n
            });
    }
}

/// The whole client path per ticker event, in memory: TLS record decryption (default engine) ->
/// WebSocket frame (tungstenite, with the feed's settings) -> `decode`. What the e2e
/// benchmark adds on top is the socket (system calls) and the event loop.
mod client_path {
    use super::*;

    #[divan::bench(args = [false, true])]
    fn ticker(bencher: Bencher, combined: bool) {
        let (client, mut server) = tls_pair();
        let text = if combined {
            format!(
                r#"{{"stream":"btcusdt@ticker","data":{}}}"#,
                payload("btcusdt@ticker")
            )
        } else {
            payload("btcusdt@ticker")
        };
        let frame = text_frame(&text);
        let hint = StreamRef::parse("btcusdt@ticker").unwrap();
        let config = fstack_binance::feed::websocket_config(1 << 20);
        let mut ws = WebSocket::from_raw_socket(client, Role::Client, Some(config));
        bencher
            .counter(BytesCount::new(frame.len()))
            .with_inputs(|| {
                server.write_all(&frame).unwrap();
            })
            .bench_local_values(|()| {
                let msg = ws.read().unwrap();
                let tungstenite::Message::Text(t) = msg else {
                    panic!("not text");
                };
                match decode(t.as_str(), Some(hint)) {
                    Ok(Message::Event(e)) => black_box(e.event_time()),
                    other => panic!("{other:?}"),
                }
            });
    }

    /// WebSocket frames read from TLS records of `N` combined ticker events each, with tungstenite
    /// reading `read_buffer` bytes at a time (a record larger than that takes several reads of
    /// the TLS stream, a smaller one zero-fills the unused part of the buffer); per event,
    /// decoding included.
    #[divan::bench(consts = [1, 10], args = [1 << 10, 2 << 10, 4 << 10, 16 << 10])]
    fn records_of<const N: usize>(bencher: Bencher, read_buffer: usize) {
        let (client, mut server) = tls_pair();
        let text = format!(
            r#"{{"stream":"btcusdt@ticker","data":{}}}"#,
            payload("btcusdt@ticker")
        );
        let record = text_frame(&text).repeat(N);
        let config = fstack_binance::feed::websocket_config(1 << 20).read_buffer_size(read_buffer);
        let mut ws = WebSocket::from_raw_socket(client, Role::Client, Some(config));
        bencher
            .counter(BytesCount::new(record.len()))
            .with_inputs(|| {
                server.write_all(&record).unwrap();
            })
            .bench_local_values(|()| {
                for _ in 0..N {
                    let msg = ws.read().unwrap();
                    let tungstenite::Message::Text(t) = msg else {
                        panic!("not text");
                    };
                    match decode(t.as_str(), None) {
                        Ok(Message::Event(e)) => black_box(e.event_time()),
                        other => panic!("{other:?}"),
                    };
                }
            });
    }
}

/// Local order books: the cost of one diff depth event applied to a live book.
mod book {
    use super::*;
    use fstack_binance::backoff::XorShift64;
    use fstack_binance::book::{BookFormatter, BookUpdate, OrderBook, Snapshot};
    use fstack_binance::events::{Levels, MarketEvent};
    use fstack_binance::output::Format;
    use fstack_binance::stream::TimeUnit;
    use fstack_mock_exchange::{Kind, MockBook};

    /// The mock's diff events 1..=n of BTCUSDT (one to three levels per side, a third of them
    /// removals) and its book before them (40 levels per side).
    fn mock_diffs(n: u64) -> (String, Vec<String>) {
        let mut snapshot = String::new();
        MockBook::new("BTCUSDT").snapshot_json(1000, &mut snapshot);
        let events = (1..=n)
            .map(|seq| {
                let mut s = String::new();
                event_json("BTCUSDT", Kind::DiffDepth, seq, 1_700_000_000_000, &mut s);
                s
            })
            .collect();
        (snapshot, events)
    }

    fn diff(text: &str) -> (u64, Levels<'_>, Levels<'_>) {
        match decode(text, None) {
            Ok(Message::Event(e)) => match e.event {
                MarketEvent::DepthUpdate(d) => (d.final_update_id, d.bids, d.asks),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    fn loaded(snapshot: &str, max_levels: usize) -> OrderBook {
        let snap = Snapshot::parse(snapshot.as_bytes()).unwrap();
        let mut book = OrderBook::new(max_levels);
        book.load_snapshot(snap.last_update_id, snap.bids, snap.asks, 256)
            .unwrap();
        book
    }

    /// `OrderBook::apply` of one already decoded diff of the mock's market (the levels are
    /// walked, keyed and set; ~3.5 levels per diff).
    #[divan::bench]
    fn apply_diff(bencher: Bencher) {
        let (snapshot, events) = mock_diffs(4096);
        let diffs: Vec<_> = events.iter().map(|e| diff(e)).collect();
        let mut book = loaded(&snapshot, 5000);
        let mut i = 0;
        bencher.bench_local(|| {
            let (u, b, a) = diffs[i % diffs.len()];
            i += 1;
            black_box(book.apply(u, b, a).unwrap())
        });
    }

    /// The client's whole work per update, I/O aside: decode the frame's text, apply the
    /// diff, write the JSON book line with the best 10 levels per side.
    #[divan::bench]
    fn decode_apply_print(bencher: Bencher) {
        let (snapshot, events) = mock_diffs(4096);
        let mut book = loaded(&snapshot, 5000);
        let formatter = BookFormatter::new(Format::Json, 10, TimeUnit::Millisecond);
        let mut line = String::with_capacity(4096);
        let mut i = 0;
        bencher.bench_local(|| {
            let text = &events[i % events.len()];
            i += 1;
            let (u, b, a) = diff(black_box(text));
            book.apply(u, b, a).unwrap();
            line.clear();
            let update = BookUpdate {
                symbol: "BTCUSDT",
                event_time: 1_700_000_000_000,
                book: &book,
            };
            formatter.write_book(&mut line, &update);
            black_box(line.len())
        });
    }

    /// `OrderBook::apply` in a deep book (5,000 levels per side, Binance's deepest
    /// snapshot): one level per side within 60 ticks of the top, half of them removals.
    #[divan::bench]
    fn apply_diff_deep_book(bencher: Bencher) {
        let level = |cents: u64| {
            format!(
                r#"["{}.{:02}000000","1.50000000"]"#,
                cents / 100,
                cents % 100
            )
        };
        let side = |f: &dyn Fn(u64) -> u64| -> String {
            let v: Vec<String> = (0..5000).map(|i| level(f(i))).collect();
            format!("[{}]", v.join(","))
        };
        let snapshot = format!(
            r#"{{"lastUpdateId":1,"bids":{},"asks":{}}}"#,
            side(&|i| 4_325_011 - i),
            side(&|i| 4_325_013 + i)
        );
        let mut rng = XorShift64::new(3);
        let texts: Vec<String> = (0..4096)
            .map(|_| {
                let (b, a) = (4_325_011 - rng.range(0, 60), 4_325_013 + rng.range(0, 60));
                let q = |r: u64| if r == 0 { "0.00000000" } else { "2.25000000" };
                format!(
                    r#"{{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":2,"u":2,"b":[["{}.{:02}000000","{}"]],"a":[["{}.{:02}000000","{}"]]}}"#,
                    b / 100,
                    b % 100,
                    q(rng.range(0, 1)),
                    a / 100,
                    a % 100,
                    q(rng.range(0, 1))
                )
            })
            .collect();
        let diffs: Vec<_> = texts.iter().map(|e| diff(e)).collect();
        let mut book = loaded(&snapshot, 5000);
        let mut i = 0;
        bencher.bench_local(|| {
            let (u, b, a) = diffs[i % diffs.len()];
            i += 1;
            black_box(book.apply(u, b, a).unwrap())
        });
    }
}
