//! Per-subscriber drop counts outlive the subscriber: the feed's summary at exit still names
//! a strategy that had drops and left first.

use std::time::{Duration, Instant};

use fstack_bus::{BusConfig, BusPublisher, BusSubscriber};

mod common;
use common::{fill, STREAM};

#[test]
fn a_gone_subscribers_drops_are_still_reported() {
    let name = format!("drops-{}", std::process::id());
    let mut feed = BusPublisher::new(BusConfig {
        buffer_size: 4,
        ..BusConfig::new(&name)
    })
    .unwrap();
    feed.open_stream(STREAM).unwrap();
    let mut strategy = BusSubscriber::new(&name, false).unwrap();
    assert_eq!(strategy.scan().unwrap(), 1);
    let id = strategy.port_ids()[0];
    // It never reads: its 4-record buffer fills and the rest is dropped for it.
    for seq in 1..=20 {
        feed.publish(STREAM, |r| fill(r, seq)).unwrap();
    }
    let dropped = feed.drops();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].0, id);
    assert!(dropped[0].1 > 0);
    drop(strategy);
    // The feed's once-a-second upkeep forgets it as a live subscriber...
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now = Instant::now();
    while !feed.drops().is_empty() {
        assert!(Instant::now() < deadline, "still listed as live");
        now += Duration::from_secs(2);
        feed.maintain(now);
        std::thread::sleep(Duration::from_millis(10));
    }
    // ...but the summary's list keeps its count.
    assert_eq!(feed.drops_all(), dropped);
    assert_eq!(feed.counters().dropped, dropped[0].1);
}
