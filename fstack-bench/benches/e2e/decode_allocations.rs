//! Allocations of the decode path alone, ours and the baseline's.

use fstack_bench::thread_allocs;
use fstack_binance::events::{decode, Message};
use fstack_binance::stats::unix_micros_now;

use crate::baseline;

/// Allocations per decode of captured-shape payloads, on this thread: ours and the baseline's.
pub fn decode_allocations() -> (f64, f64) {
    let mut raw = String::new();
    fstack_mock_exchange::event_json(
        "BTCUSDT",
        fstack_mock_exchange::Kind::Ticker,
        12345,
        unix_micros_now(),
        &mut raw,
    );
    let combined = format!(r#"{{"stream":"btcusdt@ticker","data":{raw}}}"#);
    let n = 10_000u64;
    let hint = fstack_binance::stream::StreamRef::parse("btcusdt@ticker").unwrap();
    let (a0, _) = thread_allocs();
    for i in 0..n {
        let text = if i % 2 == 0 { &raw } else { &combined };
        let m = decode(std::hint::black_box(text), Some(hint)).expect("decode");
        assert!(matches!(m, Message::Event(_)));
        std::hint::black_box(&m);
    }
    let (a1, _) = thread_allocs();
    for i in 0..n {
        let (text, c) = if i % 2 == 0 {
            (&raw, false)
        } else {
            (&combined, true)
        };
        std::hint::black_box(baseline::decode_text(std::hint::black_box(text), c));
    }
    let (a2, _) = thread_allocs();
    ((a1 - a0) as f64 / n as f64, (a2 - a1) as f64 / n as f64)
}
