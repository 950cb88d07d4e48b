//! The Binance feed driver against `mock_exchange`, all in one F-Stack loop (kernel backend):
//! exact values for every stream kind, raw and combined; pings answered; reconnect and
//! resubscribe after a drop; malformed and oversize messages counted, not fatal; a stalled
//! server triggers the read timeout; SUBSCRIBE for streams beyond the URL; `serverShutdown`
//! rotates without a gap; a TLS verification failure is fatal with its reason.
//!
//! One test process, one F-Stack loop (F-Stack initialises once per process): the scenarios of
//! `streams` and `faults` run side by side, each with its own mock exchange, on the harness in
//! `harness`.

#[path = "../../../fstack/tests/common/mod.rs"]
mod common;
mod faults;
mod harness;
mod shared_poll;
mod streams;

use std::time::Duration;

use common::Scenario;

#[test]
fn feed_against_mock_exchange() {
    if common::skip_unless_kernel_backend("feed_against_mock_exchange") {
        return;
    }
    common::run_scenarios(Duration::from_secs(90), || {
        let mut s: Vec<Box<dyn Scenario>> = Vec::new();
        streams::add(&mut s);
        faults::add(&mut s);
        shared_poll::add(&mut s);
        s
    });
}
