//! What the bus tests publish: trades whose values follow from their sequence number, so a
//! reader can check every field exactly.
#![allow(dead_code)]

use fstack_bus::record::{kind, MarketRecord};

pub const STREAM: &str = "btcusdt@trade";

/// The values record `seq` carries: a trade whose price and quantity follow from `seq`.
pub fn fill(r: &mut MarketRecord, seq: u64) {
    r.kind = kind::TRADE;
    r.set_symbol("BTCUSDT");
    r.ints[0] = seq;
    r.ints[1] = 1_700_000_000_000 + seq;
    r.n_values = 2;
    r.mantissa[0] = 4_325_000_000_000 + seq as i64;
    r.scale[0] = 8;
    r.mantissa[1] = 1_000_000 + (seq % 1000) as i64;
    r.scale[1] = 8;
}

pub fn check(r: &MarketRecord) {
    let mut want = MarketRecord::ZERO;
    fill(&mut want, r.seq);
    want.set_stream(STREAM);
    want.seq = r.seq;
    want.publish_ns = r.publish_ns;
    assert_eq!(*r, want, "record {}", r.seq);
}
