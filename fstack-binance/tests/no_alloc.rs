//! Proves the decode path (and formatting into a warmed-up buffer, and latency recording)
//! performs no heap allocation, nor does applying a diff to a local order book, with a
//! counting global allocator.
//!
//! Allocations are counted per thread: the test harness's own threads allocate at times while
//! the test runs (a process-wide counter made this test fail now and then).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use fstack_binance::control::RateLimiter;
use fstack_binance::events::{decode, Levels, MarketEvent, Message};
use fstack_binance::output::{Format, Formatter};
use fstack_binance::stats::Stats;
use fstack_binance::stream::{Stream, TimeUnit};

struct Counting;

thread_local! {
    // Const-initialised and without a destructor: touching it never allocates.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator, which upholds
// GlobalAlloc's contract; counting touches only a thread-local and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's guarantees for `layout` are passed on as they are.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as in `dealloc`; the caller guarantees `new_size` for `layout`'s alignment.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by the calling thread so far.
fn allocs() -> u64 {
    ALLOCS.try_with(Cell::get).unwrap_or(0)
}

const TICKER: &str = r#"{"e":"24hrTicker","E":1700000000123,"s":"BTCUSDT","p":"523.45000000","P":"1.226","w":"42987.65432100","x":"42726.67000000","c":"43250.12000000","Q":"0.01234000","b":"43250.11000000","B":"1.50000000","a":"43250.12000000","A":"0.25000000","o":"42726.67000000","h":"43800.00000000","l":"42650.50000000","v":"12345.67800000","q":"530712345.12345678","O":1699913600123,"C":1700000000123,"F":3200000000,"L":3201234567,"n":1234568}"#;
const MINI: &str = r#"{"e":"24hrMiniTicker","E":1700000000456,"s":"ETHUSDT","c":"2250.55000000","o":"2200.00000000","h":"2275.10000000","l":"2190.01000000","v":"345678.12340000","q":"771234567.89000000"}"#;
const BOOK: &str = r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;
const TRADE: &str = r#"{"e":"trade","E":1700000000789,"s":"BTCUSDT","t":3201234568,"p":"43250.13000000","q":"0.00150000","T":1700000000788,"m":true,"M":true}"#;
const AGG: &str = r#"{"e":"aggTrade","E":1700000000790,"s":"BTCUSDT","a":2800000001,"p":"43250.13000000","q":"0.05000000","f":3201234569,"l":3201234571,"T":1700000000789,"m":false,"M":true}"#;
const PARTIAL: &str = r#"{"lastUpdateId":41234567890,"bids":[["43250.11000000","1.50000000"],["43250.10000000","0.02000000"]],"asks":[["43250.12000000","0.25000000"],["43250.50000000","3.00000000"]]}"#;
const DIFF: &str = r#"{"e":"depthUpdate","E":1700000000900,"s":"BTCUSDT","U":41234567891,"u":41234567895,"b":[["43250.11000000","1.40000000"],["43249.00000000","0.00000000"]],"a":[["43250.12000000","0.30000000"]]}"#;

#[test]
fn decode_format_and_record_do_not_allocate() {
    // Inputs and reusable state are prepared before counting.
    let names = [
        ("btcusdt@ticker", TICKER),
        ("ethusdt@miniTicker", MINI),
        ("bnbusdt@bookTicker", BOOK),
        ("btcusdt@trade", TRADE),
        ("btcusdt@aggTrade", AGG),
        ("btcusdt@depth20@100ms", PARTIAL),
        ("btcusdt@depth@100ms", DIFF),
    ];
    let hints: Vec<Stream> = names
        .iter()
        .map(|(n, _)| Stream::parse(n).unwrap())
        .collect();
    let combined: Vec<String> = names
        .iter()
        .map(|(n, d)| format!(r#"{{"stream":"{n}","data":{d}}}"#))
        .collect();
    // Reordered keys exercise the general (probe / envelope) paths too.
    let reordered = [
        format!(r#"{{"data":{TRADE},"stream":"btcusdt@trade"}}"#),
        r#"{"s":"BTCUSDT","e":"trade","E":1,"t":2,"p":"3","q":"4","T":5,"m":true}"#.to_owned(),
    ];
    let controls = [
        r#"{"result":null,"id":1}"#,
        r#"{"result":["btcusdt@ticker"],"id":2}"#,
        r#"{"code":2,"msg":"Invalid request","id":3}"#,
        r#"{"e":"serverShutdown","E":1728000000000}"#,
    ];
    let mut out = String::with_capacity(4096);
    let text = Formatter::new(Format::Text, TimeUnit::Millisecond);
    let json = Formatter::new(Format::Json, TimeUnit::Millisecond);
    let mut stats = Stats::new(TimeUnit::Millisecond);
    let mut limiter = RateLimiter::binance();
    let now = std::time::Instant::now();

    let before = allocs();
    let mut events = 0u64;
    let mut level_sum = 0usize;
    for _ in 0..1000 {
        for ((_, raw), (hint, comb)) in names.iter().zip(hints.iter().zip(&combined)) {
            for m in [
                decode(raw, Some(hint.as_ref())),
                decode(comb, None),
                decode(raw, None),
            ] {
                let Ok(Message::Event(e)) = m else {
                    panic!("decode failed")
                };
                if let MarketEvent::DepthUpdate(d) = &e.event {
                    level_sum += d.bids.iter().count() + d.asks.iter().count();
                }
                if let MarketEvent::PartialDepth(d) = &e.event {
                    level_sum += d.bids.iter().map(|l| l.price.as_str().len()).sum::<usize>();
                }
                out.clear();
                text.write_line(&mut out, &e);
                out.clear();
                json.write_line(&mut out, &e);
                stats.record_event(e.event_time(), 1_700_000_001_000_000);
                events += 1;
            }
        }
        for r in &reordered {
            assert!(matches!(decode(r, None), Ok(Message::Event(_))));
        }
        for c in controls {
            assert!(decode(c, None).is_ok());
        }
        let _ = limiter.try_acquire(now);
    }
    let after = allocs();
    assert_eq!(events, 21_000);
    assert!(level_sum > 0);
    assert_eq!(stats.events, 21_000);
    assert_eq!(
        after - before,
        0,
        "heap allocations on the decode/format/record path"
    );

    // Sanity check that the counter works: an error path allocates (serde_json boxes errors).
    let before = allocs();
    assert!(decode("{\"e\":\"trade\"}", None).is_err());
    assert!(allocs() > before);
}

/// Hands each applied book to the JSON formatter, into a reused buffer.
struct Lines {
    formatter: fstack_binance::book::BookFormatter,
    out: String,
    books: u64,
}

impl fstack_binance::book::SyncSink for Lines {
    fn applied(&mut self, book: &fstack_binance::book::OrderBook, event_time: u64) {
        self.out.clear();
        let update = fstack_binance::book::BookUpdate {
            symbol: "BTCUSDT",
            event_time,
            book,
        };
        self.formatter.write_book(&mut self.out, &update);
        self.books += 1;
    }
    fn resync(&mut self, _: u64, reason: &fstack_binance::book::Resync) {
        panic!("resync: {reason}");
    }
}

/// Applying a diff to a live book (the sync's checks, the levels, the JSON line of the best
/// 10 levels into a warmed buffer) allocates nothing once the book has reached its size:
/// 10,000 of the mock's diff events, decoded, applied and printed, after a warm-up.
#[test]
fn applying_diffs_does_not_allocate() {
    use fstack_binance::book::{BookFormatter, BookSync, SyncConfig};
    use fstack_mock_exchange::{event_json, Kind, MockBook};

    let events: Vec<String> = (1..=11_000u64)
        .map(|seq| {
            let mut s = String::new();
            event_json(
                "BTCUSDT",
                Kind::DiffDepth,
                seq,
                1_700_000_000_000 + seq,
                &mut s,
            );
            s
        })
        .collect();
    // Binance's order: the first event is buffered, then a snapshot that covers it.
    let mut snapshot = String::new();
    MockBook::at_seq("BTCUSDT", 1).snapshot_json(1000, &mut snapshot);
    let snap = fstack_binance::book::Snapshot::parse(snapshot.as_bytes()).unwrap();
    let mut sync = BookSync::new("BTCUSDT", SyncConfig::default());
    let mut lines = Lines {
        formatter: BookFormatter::new(Format::Json, 10, TimeUnit::Millisecond),
        out: String::with_capacity(4096),
        books: 0,
    };
    let now = std::time::Instant::now();
    let apply = |sync: &mut BookSync, lines: &mut Lines, text: &str| {
        let Ok(Message::Event(e)) = decode(text, None) else {
            panic!("decode")
        };
        let MarketEvent::DepthUpdate(d) = &e.event else {
            panic!("not a diff")
        };
        sync.on_diff(now, d, lines);
    };
    sync.snapshot_requested();
    apply(&mut sync, &mut lines, &events[0]);
    sync.on_snapshot(now, snap.last_update_id, snap.bids, snap.asks, &mut lines);
    for text in &events[1..1000] {
        apply(&mut sync, &mut lines, text);
    }
    assert!(sync.is_live());
    let before = allocs();
    for text in &events[1000..] {
        apply(&mut sync, &mut lines, text);
    }
    let after = allocs();
    assert_eq!(lines.books, 10_999);
    assert!(lines
        .out
        .starts_with(r#"{"event":"book","symbol":"BTCUSDT","update_id":"#));
    assert_eq!(
        after - before,
        0,
        "heap allocations while applying 10,000 diffs"
    );

    // The same with a deep book (5,000 levels per side, Binance's deepest snapshot) and
    // diffs inserting and removing levels near the top.
    let level = |i: u64, up: bool| {
        let cents = if up { 4_325_013 + i } else { 4_325_011 - i };
        format!(
            r#"["{}.{:02}000000","1.50000000"]"#,
            cents / 100,
            cents % 100
        )
    };
    let side = |up: bool| -> String {
        let v: Vec<String> = (0..5000).map(|i| level(i, up)).collect();
        format!("[{}]", v.join(","))
    };
    let deep = format!(
        r#"{{"lastUpdateId":100,"bids":{},"asks":{}}}"#,
        side(false),
        side(true)
    );
    let snap = fstack_binance::book::Snapshot::parse(deep.as_bytes()).unwrap();
    let mut book = fstack_binance::book::OrderBook::new(5000);
    book.load_snapshot(snap.last_update_id, snap.bids, snap.asks, 256)
        .unwrap();
    let mut rng = fstack_binance::backoff::XorShift64::new(11);
    let diffs: Vec<String> = (0..20_000)
        .map(|_| {
            let (i, j) = (rng.range(0, 60), rng.range(0, 60));
            let q = |r: u64| if r == 0 { "0.00000000" } else { "2.25000000" };
            format!(
                r#"[["{}.{:02}000000","{}"]]|[["{}.{:02}000000","{}"]]"#,
                (4_325_011 - i) / 100,
                (4_325_011 - i) % 100,
                q(rng.range(0, 2)),
                (4_325_013 + j) / 100,
                (4_325_013 + j) % 100,
                q(rng.range(0, 2))
            )
        })
        .collect();
    let parsed: Vec<(Levels<'_>, Levels<'_>)> = diffs
        .iter()
        .map(|d| {
            let (b, a) = d.split_once('|').unwrap();
            (Levels::parse(b).unwrap(), Levels::parse(a).unwrap())
        })
        .collect();
    for (u, (b, a)) in parsed[..5000].iter().enumerate() {
        book.apply(200 + u as u64, *b, *a).unwrap();
    }
    let before = allocs();
    for (u, (b, a)) in parsed[5000..].iter().enumerate() {
        book.apply(10_000 + u as u64, *b, *a).unwrap();
    }
    assert_eq!(
        allocs() - before,
        0,
        "heap allocations in a 5,000-level book"
    );
    assert!(book.bids().len() > 4900 && book.bids().len() <= 5000);
}
