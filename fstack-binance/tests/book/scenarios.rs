//! The book scenarios (see `main.rs`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use fstack_binance::book::Resync;
use fstack_mock_exchange::{final_update_id, seq_of_update_id, Faults, MockConfig};

use crate::common::Scenario;
use crate::harness::{run, Run};

fn mock(rate: f64, faults: Faults) -> MockConfig {
    MockConfig {
        rate,
        faults,
        ..MockConfig::default()
    }
}

/// No book was discarded, no symbol failed, and nothing ended the feed.
fn clean(r: &Run) -> Result<(), String> {
    if let Some(e) = &r.fatal {
        return Err(format!("fatal: {e}"));
    }
    if !r.seen.resyncs.is_empty() || !r.seen.failed.is_empty() {
        return Err(format!(
            "resyncs {:?}, failed {:?}",
            r.seen.resyncs, r.seen.failed
        ));
    }
    Ok(())
}

/// Every printed update id of `symbol` follows the one before (no update missed or repeated)
/// from `from` on.
fn contiguous(r: &Run, symbol: &str, from: usize) -> Result<(), String> {
    let ids = r.seen.update_ids.get(symbol).map_or(&[][..], |v| &v[..]);
    for w in ids[from.min(ids.len())..].windows(2) {
        let (a, b) = (seq_of_update_id(w[0]), seq_of_update_id(w[1]));
        if b != a.map(|a| a + 1) {
            return Err(format!("{symbol}: update {} after {}", w[1], w[0]));
        }
    }
    Ok(())
}

pub fn add(s: &mut Vec<Box<dyn Scenario>>) {
    // Thousands of updates of two symbols, as fast as the client reads: each book exact.
    s.push(run(
        "two_symbols_exact",
        mock(0.0, Faults::default()),
        &["btcusdt", "ethusdt"],
        |r| {
            clean(r)?;
            let n = 3000;
            if r.seen.count("BTCUSDT") < n || r.seen.count("ETHUSDT") < n {
                return Ok(false);
            }
            for sym in ["BTCUSDT", "ETHUSDT"] {
                contiguous(r, sym, 0)?;
                let c = r.counters(sym);
                if c.syncs != 1 || c.gaps != 0 || c.applied < n {
                    return Err(format!("{sym}: {c:?}"));
                }
            }
            // Two different markets.
            let (b, e) = (r.book("BTCUSDT").unwrap(), r.book("ETHUSDT").unwrap());
            if b.best_bid() == e.best_bid() {
                return Err("both symbols have the same book".into());
            }
            Ok(true)
        },
    ));

    // The 150th diff of the connection never comes: the next event is a gap; that symbol's
    // book is discarded and synced again, exact afterwards; the other one goes on.
    s.push(run(
        "skipped_diff_is_a_gap",
        mock(
            1000.0,
            Faults {
                skip_diff: Some(150),
                ..Faults::default()
            },
        ),
        &["btcusdt", "ethusdt"],
        |r| {
            if let Some(e) = &r.fatal {
                return Err(e.clone());
            }
            let [(symbol, book_id, reason)] = &r.seen.resyncs[..] else {
                return if r.seen.resyncs.len() > 1 {
                    Err(format!("resyncs {:?}", r.seen.resyncs))
                } else {
                    Ok(false)
                };
            };
            // Found at the very next event: the one after the skipped one.
            let skipped = seq_of_update_id(*book_id).ok_or("book id")? + 1;
            let want = Resync::Gap {
                book_id: *book_id,
                first: final_update_id(skipped) + 1,
                last: final_update_id(skipped + 1),
            };
            if *reason != want {
                return Err(format!("{symbol}: {reason:?}, want {want:?}"));
            }
            let other = if symbol == "BTCUSDT" {
                "ETHUSDT"
            } else {
                "BTCUSDT"
            };
            let ids = &r.seen.update_ids[symbol.as_str()];
            let before = ids.iter().position(|&u| u > *book_id).unwrap_or(ids.len());
            if ids.len() < before + 500 || r.seen.count(other) < 700 {
                return Ok(false);
            }
            contiguous(r, symbol, before)?;
            contiguous(r, other, 0)?;
            let (c, o) = (r.counters(symbol), r.counters(other));
            if (c.gaps, c.resyncs, c.syncs) != (1, 1, 2)
                || (o.gaps, o.resyncs, o.syncs) != (0, 0, 1)
            {
                return Err(format!("{symbol}: {c:?}; {other}: {o:?}"));
            }
            if r.mock.stats().skipped_diffs.load(Ordering::Relaxed) != 1 {
                return Err("the mock skipped not one diff".into());
            }
            Ok(true)
        },
    ));

    // The first two snapshots lag behind the stream: both fetched again, then in sync.
    s.push(run(
        "stale_snapshots_are_fetched_again",
        mock(
            200.0,
            Faults {
                stale_snapshots: Some(2),
                ..Faults::default()
            },
        ),
        &["btcusdt"],
        |r| {
            clean(r)?;
            if r.seen.count("BTCUSDT") < 100 {
                return Ok(false);
            }
            let c = r.counters("BTCUSDT");
            let log = r.mock.stats().depth_requests.lock().unwrap().clone();
            let base = Some(final_update_id(0));
            let stale = log.iter().filter(|d| d.last_update_id == base).count();
            if c.stale_snapshots < 2 || stale != 2 || c.snapshots < 3 || c.syncs != 1 {
                return Err(format!("{c:?}; mock {log:?}"));
            }
            Ok(true)
        },
    ));

    // HTTP 429 with Retry-After: 1 for the first snapshot: the next request comes about a
    // second later (seen at the mock), then the book syncs.
    s.push(run(
        "rate_limited_snapshot_waits_for_retry_after",
        mock(
            200.0,
            Faults {
                rest_status: Some(429),
                rest_status_first: Some(1),
                retry_after: Some(1),
                ..Faults::default()
            },
        ),
        &["btcusdt"],
        |r| {
            clean(r)?;
            if r.seen.count("BTCUSDT") < 50 {
                return Ok(false);
            }
            let log = r.mock.stats().depth_requests.lock().unwrap().clone();
            let wait = log[1].at - log[0].at;
            if log[0].status != 429
                || log[1].status != 200
                || wait < Duration::from_secs(1)
                || wait > Duration::from_millis(2500)
            {
                return Err(format!("mock saw {log:?}, wait {wait:?}"));
            }
            let retry = "retry BTCUSDT in 1s: HTTP 429 from localhost (Retry-After 1 s)";
            if !r.seen.notices.iter().any(|n| n == retry) {
                return Err(format!("no notice {retry:?}"));
            }
            let rest = r.books.rest_counters();
            if rest.rate_limited != 1 || rest.server_weight.is_none() {
                return Err(format!("{rest:?}"));
            }
            Ok(true)
        },
    ));

    // HTTP 500 for the first two snapshots: retried with backoff, then in sync.
    s.push(run(
        "server_errors_are_retried",
        mock(
            200.0,
            Faults {
                rest_status: Some(500),
                rest_status_first: Some(2),
                ..Faults::default()
            },
        ),
        &["btcusdt"],
        |r| {
            clean(r)?;
            if r.seen.count("BTCUSDT") < 50 {
                return Ok(false);
            }
            let statuses: Vec<u16> = r
                .mock
                .stats()
                .depth_requests
                .lock()
                .unwrap()
                .iter()
                .map(|d| d.status)
                .collect();
            let rest = r.books.rest_counters();
            if statuses[..3] != [500, 500, 200] || rest.server_errors != 2 || rest.retries < 2 {
                return Err(format!("{statuses:?} {rest:?}"));
            }
            Ok(true)
        },
    ));

    // The WebSocket drops after 400 events: every live book is discarded (reconnect), the
    // syncs start over on the new connection, exact again; the snapshots share one
    // keep-alive REST connection.
    s.push(run(
        "dropped_connection_restarts_the_sync",
        mock(
            500.0,
            Faults {
                drop_after: Some(400),
                ..Faults::default()
            },
        ),
        &["btcusdt", "ethusdt"],
        |r| {
            if let Some(e) = &r.fatal {
                return Err(e.clone());
            }
            let reconnects: Vec<&str> = r
                .seen
                .resyncs
                .iter()
                .filter(|(_, _, why)| *why == Resync::Reconnect)
                .map(|(s, _, _)| s.as_str())
                .collect();
            if reconnects.len() < 2 {
                return Ok(false);
            }
            let synced = |sym: &str| r.counters(sym).syncs >= 2 && r.counters(sym).applied > 0;
            if !synced("BTCUSDT") || !synced("ETHUSDT") {
                return Ok(false);
            }
            if r.seen
                .resyncs
                .iter()
                .any(|(_, _, why)| *why != Resync::Reconnect)
            {
                return Err(format!("{:?}", r.seen.resyncs));
            }
            let stats = r.mock.stats();
            let rest = r.books.rest_counters();
            if rest.connections != 1 || stats.rest_connections.load(Ordering::Relaxed) != 1 {
                return Err(format!("REST connections: {rest:?}"));
            }
            Ok(rest.requests >= 4)
        },
    ));

    // A symbol the exchange does not list: its stream sends nothing, the REST API says
    // "Invalid symbol." at start; that symbol fails with the answer, the other goes on.
    s.push(run(
        "unknown_symbol_fails_alone",
        MockConfig {
            rate: 200.0,
            unlisted: vec!["NOSUCHCOIN".into()],
            ..MockConfig::default()
        },
        &["nosuchcoin", "btcusdt"],
        |r| {
            if let Some(e) = &r.fatal {
                return Err(e.clone());
            }
            if r.seen.count("BTCUSDT") < 100 {
                return Ok(false);
            }
            let want = (
                "NOSUCHCOIN".to_owned(),
                "HTTP 400 from localhost: Invalid symbol. (code -1121)".to_owned(),
            );
            if r.seen.failed != [want] {
                return Err(format!("failed: {:?}", r.seen.failed));
            }
            let at = r.seen.notices.iter().position(|n| n.starts_with("failed"));
            let after = at.map(|i| r.seen.notice_times[i] - r.started);
            if after.is_none_or(|d| d > Duration::from_secs(3)) {
                return Err(format!("found out after {after:?}"));
            }
            if !r.seen.resyncs.is_empty() || r.counters("BTCUSDT").syncs != 1 {
                return Err(format!("{:?}", r.seen.resyncs));
            }
            Ok(true)
        },
    ));

    // Every symbol unknown: the feed ends with an error.
    s.push(run(
        "no_book_left_is_an_error",
        MockConfig {
            unlisted: vec!["NOSUCHCOIN".into()],
            ..MockConfig::default()
        },
        &["nosuchcoin"],
        |r| match &r.fatal {
            Some(e) if e == "no books" => Ok(true),
            Some(e) => Err(e.clone()),
            None => Ok(false),
        },
    ));
}
