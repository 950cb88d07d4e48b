//! Streams whose names are not ASCII (Binance lists symbols like `币安人生usdt`) get a
//! service (percent-encoded name) and reach subscribers under their own name.

use std::time::{Duration, Instant};

use fstack_bus::{BusConfig, BusPublisher, BusSubscriber};

mod common;
use common::fill;

#[test]
fn a_unicode_stream_is_published_and_received() {
    let name = format!("uni-{}", std::process::id());
    let stream = "币安人生usdt@trade";
    let mut feed = BusPublisher::new(BusConfig::new(&name)).unwrap();
    feed.open_stream(stream).unwrap();
    let mut strategy = BusSubscriber::new(&name, false).unwrap();
    assert_eq!(strategy.scan().unwrap(), 1);
    assert_eq!(strategy.streams(), [stream]);
    feed.publish(stream, |r| fill(r, 1)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.is_empty() {
        assert!(Instant::now() < deadline, "nothing received");
        strategy
            .poll(|r| got.push(r.record.stream().to_owned()))
            .unwrap();
    }
    assert_eq!(got, [stream]);
}

/// A stream name longer than the record's 56 bytes is refused when its service would be
/// created, instead of reaching strategies cut.
#[test]
fn a_stream_name_longer_than_the_record_holds_is_refused() {
    let name = format!("unilong-{}", std::process::id());
    let mut feed = BusPublisher::new(BusConfig::new(&name)).unwrap();
    // 14 × 3 bytes + "usdt@depth20@100ms" (18) = 60 bytes.
    let long = format!("{}usdt@depth20@100ms", "币".repeat(14));
    let err = feed.open_stream(&long).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("stream name {long} is 60 bytes; a record holds 56")
    );
    let fits = format!("{}usdt@depth20@100ms", "币".repeat(12));
    feed.open_stream(&fits).unwrap();
}
