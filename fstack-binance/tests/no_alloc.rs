//! Proves the decode path (and formatting into a warmed-up buffer, and latency recording)
//! performs no heap allocation, with a counting global allocator.
//!
//! Allocations are counted per thread: the test harness's own threads allocate at times while
//! the test runs (a process-wide counter made this test fail now and then).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use fstack_binance::control::RateLimiter;
use fstack_binance::events::{decode, MarketEvent, Message};
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
