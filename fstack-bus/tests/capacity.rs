//! Capacity: as many strategies as a stream admits (`max_subscribers`, 24 by default) attach
//! to it and each gets the records; iceoryx2's own per-service node limit (20 unless set)
//! must not stop them first.

use std::time::{Duration, Instant};

use fstack_bus::{BusConfig, BusPublisher, BusSubscriber};

mod common;
use common::{check, fill, STREAM};

#[test]
fn every_admitted_strategy_attaches_to_one_stream() {
    let name = format!("cap-{}", std::process::id());
    let config = BusConfig::new(&name);
    let admitted = config.max_subscribers;
    assert_eq!(admitted, 24, "the documented default");
    let mut feed = BusPublisher::new(config).unwrap();
    feed.open_stream(STREAM).unwrap();
    // One node per strategy, as with strategy processes.
    let mut strategies: Vec<BusSubscriber> = (0..admitted)
        .map(|_| BusSubscriber::new(&name, false).unwrap())
        .collect();
    for (i, s) in strategies.iter_mut().enumerate() {
        assert_eq!(s.scan().unwrap(), 1, "strategy {i} did not attach");
        assert!(s.take_attach_errors().is_empty());
    }
    assert_eq!(feed.subscribers(STREAM), admitted);
    feed.publish(STREAM, |r| fill(r, 1)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    for (i, s) in strategies.iter_mut().enumerate() {
        while s.received == 0 {
            assert!(Instant::now() < deadline, "strategy {i} got nothing");
            s.poll(|got| check(got.record)).unwrap();
        }
    }
}

/// A service that exists but cannot be opened is reported once, not skipped silently and
/// not on every scan.
#[test]
fn an_attach_failure_is_reported_once() {
    let name = format!("capfail-{}", std::process::id());
    let mut feed = BusPublisher::new(BusConfig {
        max_subscribers: 1,
        ..BusConfig::new(&name)
    })
    .unwrap();
    feed.open_stream(STREAM).unwrap();
    let mut first = BusSubscriber::new(&name, false).unwrap();
    assert_eq!(first.scan().unwrap(), 1);
    let mut second = BusSubscriber::new(&name, false).unwrap();
    assert_eq!(second.scan().unwrap(), 0);
    let errors = second.take_attach_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with(STREAM), "{errors:?}");
    assert_eq!(second.scan().unwrap(), 0);
    assert!(second.take_attach_errors().is_empty(), "reported once");
}
