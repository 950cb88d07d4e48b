//! Decoded events into bus records: every value exact, long depth events continued.

use fstack_bus::record::{flags, kind, write_json, MarketRecord};
use fstack_bus::{BusConfig, BusPublisher, BusSubscriber};

use super::*;
use crate::events::{decode, Message};
use crate::stream::StreamRef;

/// Publishes `frame` (decoded with `hint`) and returns the records a subscriber read.
fn round_trip(tag: &str, frame: &str, hint: &str) -> (Published, Vec<MarketRecord>) {
    let name = format!("unit-{tag}-{}", std::process::id());
    let mut bus = BusPublisher::new(BusConfig::new(&name)).unwrap();
    let hint = StreamRef::parse(hint).unwrap();
    bus.open_stream(hint.name).unwrap();
    let mut sub = BusSubscriber::new(&name, false).unwrap();
    assert_eq!(sub.scan().unwrap(), 1);
    let Message::Event(ev) = decode(frame, Some(hint)).unwrap() else {
        panic!("not an event: {frame}");
    };
    let published = publish_event(
        &mut bus,
        &ev,
        1234,
        TimeUnit::Millisecond,
        &mut String::new(),
    )
    .unwrap();
    let mut got = Vec::new();
    sub.poll(|r| got.push(*r.record)).unwrap();
    (published, got)
}

fn json(r: &MarketRecord) -> String {
    let mut s = String::new();
    write_json(&mut s, r);
    s
}

#[test]
fn ticker_values_exact() {
    let frame = r#"{"e":"24hrTicker","E":1700000000000,"s":"BTCUSDT","p":"-525.12000000","P":"-1.23","w":"43198.76543210","x":"42725.00000000","c":"43250.12000000","Q":"0.12345000","b":"43250.11000000","B":"3.41000000","a":"43250.13000000","A":"1.28000000","o":"42725.00000000","h":"43988.00000000","l":"42011.00000000","v":"23456.78901234","q":"1012345678.90123456","O":1699913600000,"C":1700000000000,"F":-1,"L":-1,"n":0}"#;
    let (p, got) = round_trip("ticker", frame, "btcusdt@ticker");
    assert_eq!(
        p,
        Published {
            records: 1,
            exact: true
        }
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].receive_us, 1234);
    assert_eq!(
        json(&got[0]),
        r#"{"stream":"btcusdt@ticker","kind":"ticker","symbol":"BTCUSDT","seq":1,"event_time":1700000000000,"O":1699913600000,"C":1700000000000,"F":-1,"L":-1,"n":0,"p":"-525.12000000","P":"-1.23","w":"43198.76543210","x":"42725.00000000","c":"43250.12000000","Q":"0.12345000","b":"43250.11000000","B":"3.41000000","a":"43250.13000000","A":"1.28000000","o":"42725.00000000","h":"43988.00000000","l":"42011.00000000","v":"23456.78901234","q":"1012345678.90123456"}"#
    );
}

#[test]
fn long_depth_update_continues() {
    let level = |i: usize| format!(r#"["{}.{:02}","0.{:08}"]"#, 100 + i, i, i + 1);
    let bids: Vec<String> = (0..45).map(level).collect();
    let asks: Vec<String> = (50..60).map(level).collect();
    let frame = format!(
        r#"{{"e":"depthUpdate","E":5,"s":"BNBBTC","U":10,"u":20,"b":[{}],"a":[{}]}}"#,
        bids.join(","),
        asks.join(",")
    );
    let (p, got) = round_trip("depth", &frame, "bnbbtc@depth");
    assert_eq!(
        p,
        Published {
            records: 2,
            exact: true
        }
    );
    assert_eq!(got.len(), 2);
    let (a, b) = (&got[0], &got[1]);
    assert_eq!(
        (a.kind, a.part, a.n_bids, a.n_asks),
        (kind::DEPTH_UPDATE, 0, 40, 0)
    );
    assert_eq!((b.part, b.n_bids, b.n_asks), (1, 5, 10));
    assert_ne!(a.flags & flags::MORE, 0);
    assert_eq!(b.flags & flags::MORE, 0);
    assert_eq!((a.seq, b.seq), (1, 2));
    assert_eq!(&a.ints[..2], &[10, 20]);
    // The levels, in order, exactly as sent.
    let ja = json(a);
    assert!(
        ja.contains(r#""b":[["100.00","0.00000001"],["101.01","0.00000002"]"#),
        "{ja}"
    );
    assert!(
        ja.contains(r#"["139.39","0.00000040"]],"a":[],"part":0,"more":true}"#),
        "{ja}"
    );
    let jb = json(b);
    assert!(
        jb.ends_with(r#""b":[["140.40","0.00000041"],["141.41","0.00000042"],["142.42","0.00000043"],["143.43","0.00000044"],["144.44","0.00000045"]],"a":[["150.50","0.00000051"],["151.51","0.00000052"],["152.52","0.00000053"],["153.53","0.00000054"],["154.54","0.00000055"],["155.55","0.00000056"],["156.56","0.00000057"],["157.57","0.00000058"],["158.58","0.00000059"],["159.59","0.00000060"]],"part":1,"more":false}"#),
        "{jb}"
    );
}

#[test]
fn values_that_do_not_fit_are_flagged() {
    // 20 integer digits: more than an i64 mantissa holds.
    let frame = r#"{"e":"trade","E":1,"s":"BTCUSDT","t":7,"p":"12345678901234567890.5","q":"1.0","T":1,"m":true,"M":true}"#;
    let (p, got) = round_trip("inexact", frame, "btcusdt@trade");
    assert_eq!(
        p,
        Published {
            records: 1,
            exact: false
        }
    );
    assert_ne!(got[0].flags & flags::INEXACT, 0);
    assert_eq!((got[0].mantissa[0], got[0].scale[0]), (0, 0));
    assert_eq!((got[0].mantissa[1], got[0].scale[1]), (10, 1));
    assert_ne!(got[0].flags & flags::BUYER_MAKER, 0);
}
