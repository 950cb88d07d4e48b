//! Local order books against `mock_exchange`, all in one F-Stack loop (kernel backend): every
//! printed book equals the mock's true book at its update id (all levels, exact strings),
//! over thousands of updates of two symbols; a skipped diff is a gap found at the next event,
//! resynced, exact again afterwards, and the other symbol goes on untouched; stale snapshots
//! are fetched again; HTTP 429 with `Retry-After: 1` waits about a second; HTTP 500 is
//! retried; a dropped WebSocket restarts every sync; an unknown symbol fails alone, without
//! waiting for an event that never comes.
//!
//! One test process, one F-Stack loop: the scenarios run side by side, each with its own
//! mock exchange, on the harness in `harness`.

#[path = "../../../fstack/tests/common/mod.rs"]
mod common;
mod harness;
mod scenarios;

use std::time::Duration;

use common::Scenario;

#[test]
fn books_against_mock_exchange() {
    if common::skip_unless_kernel_backend("books_against_mock_exchange") {
        return;
    }
    common::run_scenarios(Duration::from_secs(90), || {
        let mut s: Vec<Box<dyn Scenario>> = Vec::new();
        scenarios::add(&mut s);
        s
    });
}
