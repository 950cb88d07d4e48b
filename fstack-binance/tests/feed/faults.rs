//! What goes wrong: dropped connections reconnect and resubscribe; malformed and oversize
//! messages are counted, not fatal; a stalled server triggers the read timeout, stalled data
//! behind live pings the stall timeout; `serverShutdown` and the age limit rotate without a
//! gap; rejected upgrades (4xx fatal, 5xx retried, 429/418 after `Retry-After`); a failing
//! replacement keeps the healthy connection; a TLS verification failure is fatal with its reason.

use std::sync::atomic::Ordering;
use std::time::Duration;

use fstack_binance::feed::StallTimeout;
use fstack_mock_exchange::{Faults, MockConfig, MockExchange};
use fstack_tls::TlsConnector;

use crate::common::Scenario;
use crate::harness::{
    at_least, connector, contiguous, exactly_once, fast, fatal_is_none, run_with, upgrade_attempts,
};

/// The fault scenarios, appended to `s`.
pub fn add(s: &mut Vec<Box<dyn Scenario>>) {
    // A dropped connection reconnects; everything after the reconnect arrives.
    s.push(run_with(
        "drop reconnects and resubscribes",
        MockConfig {
            faults: Faults {
                drop_after: Some(30),
                ..Faults::default()
            },
            ..fast()
        },
        &["btcusdt@trade", "ethusdt@trade"],
        // Drops after streaming always reconnect, whatever the retry budget.
        |c| c.connect_retries = 1,
        connector,
        |r, c| {
            fatal_is_none(r)?;
            if c.reconnects < 2 {
                return Ok(false);
            }
            if r.mock.stats().connections.load(Ordering::Relaxed) < 3 || !r.feed.is_connected() {
                return Ok(false);
            }
            // Sequence numbers continue across connections: once connected again, every
            // event the server sent on the new connection was delivered.
            for v in r.seen.values() {
                let after: Vec<u64> = v.iter().copied().filter(|&n| n > 40).collect();
                contiguous(&after)?;
            }
            Ok(at_least(r, 50))
        },
    ));
    // Malformed JSON and oversize frames are counted, not fatal.
    s.push(run_with(
        "malformed and oversize counted",
        MockConfig {
            faults: Faults {
                malformed_every: Some(7),
                oversize_every: Some(40),
                ..Faults::default()
            },
            ..fast()
        },
        &["btcusdt@bookTicker"],
        |_| {},
        connector,
        |r, c| {
            fatal_is_none(r)?;
            Ok(c.malformed >= 3 && c.oversize >= 2 && c.events >= 100)
        },
    ));
    // A stalled server is detected by the read timeout.
    s.push(run_with(
        "stall triggers read timeout",
        MockConfig {
            faults: Faults {
                stall_after: Some(10),
                ..Faults::default()
            },
            ..fast()
        },
        &["btcusdt@ticker"],
        |c| c.read_timeout = Duration::from_millis(300),
        connector,
        |r, c| {
            fatal_is_none(r)?;
            let timed_out = r.notices.iter().any(|n| n.contains("read timeout"));
            Ok(timed_out && c.reconnects >= 1 && c.events >= 15)
        },
    ));
    // serverShutdown: a standby takes over, no gap.
    s.push(run_with(
        "serverShutdown rotates without a gap",
        MockConfig {
            faults: Faults {
                shutdown_notice_after: Some(20),
                ..Faults::default()
            },
            ..fast()
        },
        &["btcusdt@aggTrade"],
        |_| {},
        connector,
        |r, c| {
            fatal_is_none(r)?;
            // The standby took over: the old connection was closed cleanly.
            if c.rotations < 1
                || c.events < 60
                || r.mock.stats().client_closes.load(Ordering::Relaxed) < 1
            {
                return Ok(false);
            }
            exactly_once(r)?;
            Ok(true)
        },
    ));
    // The same at a slow rate, where the standby often runs ahead of the old connection (the
    // mock sends each connection on its own clock): it must still take over, once, without a
    // gap or a duplicate.
    s.push(run_with(
        "serverShutdown rotation with the standby ahead",
        MockConfig {
            rate: 20.0,
            faults: Faults {
                shutdown_notice_after: Some(30),
                ..Faults::default()
            },
            ..MockConfig::default()
        },
        &["btcusdt@trade", "ethusdt@trade"],
        |_| {},
        connector,
        |r, c| {
            fatal_is_none(r)?;
            let stats = r.mock.stats();
            if stats.client_closes.load(Ordering::Relaxed) < 1 || !at_least(r, 45) {
                return Ok(false);
            }
            // Every connection announces serverShutdown after 30 events: each rotation used
            // one standby, which took over (one more may be under way).
            let connections = stats.connections.load(Ordering::Relaxed);
            if c.rotations < 1 {
                return Ok(false);
            }
            if connections > c.rotations + 2 {
                return Err(format!(
                    "{connections} connections for {} rotations; {c:?}",
                    c.rotations
                ));
            }
            exactly_once(r)?;
            Ok(true)
        },
    ));
    // Connections reaching their age limit are replaced, repeatedly, without a gap.
    s.push(run_with(
        "age limit rotates without a gap",
        fast(),
        &["btcusdt@trade", "ethusdt@bookTicker"],
        |c| c.max_connection_age = Duration::from_millis(300),
        connector,
        |r, c| {
            fatal_is_none(r)?;
            if c.rotations < 3 || c.events < 300 {
                return Ok(false);
            }
            for (stream, v) in &r.seen {
                contiguous(v)?;
                let mut unique = v.clone();
                unique.sort_unstable();
                unique.dedup();
                if unique.len() != v.len() {
                    return Err(format!(
                        "{stream}: {} duplicates delivered",
                        v.len() - unique.len()
                    ));
                }
            }
            // Replaced connections closed cleanly: the server saw their close frames.
            if r.mock.stats().client_closes.load(Ordering::Relaxed) < 2 {
                return Ok(false);
            }
            Ok(true)
        },
    ));
    // An HTTP 4xx answer to the upgrade cannot be fixed by retrying: fatal at once.
    s.push(run_with(
        "HTTP 4xx upgrade rejection is fatal",
        MockConfig {
            faults: Faults {
                reject_upgrade: Some(403),
                ..Faults::default()
            },
            ..fast()
        },
        &["btcusdt@ticker"],
        |_| {},
        connector,
        |r, c| match &r.fatal {
            Some(e) if e.contains("HTTP 403") && c.reconnects == 0 => Ok(true),
            Some(e) => Err(format!("wrong fatal error: {e} ({c:?})")),
            None => Ok(false),
        },
    ));
    // A 5xx is retried --connect-retries times, then the feed gives up with the cause.
    s.push(run_with(
        "HTTP 5xx retried then given up",
        MockConfig {
            faults: Faults {
                reject_upgrade: Some(503),
                ..Faults::default()
            },
            ..fast()
        },
        &["btcusdt@ticker"],
        |c| c.connect_retries = 3,
        connector,
        |r, c| match &r.fatal {
            Some(e)
                if e.contains("giving up after 3 failed connection attempts")
                    && e.contains("HTTP 503") =>
            {
                if r.mock.stats().connections.load(Ordering::Relaxed) != 0 || c.reconnects != 2 {
                    return Err(format!(
                        "{c:?}, mock connections {}",
                        r.mock.stats().connections.load(Ordering::Relaxed)
                    ));
                }
                Ok(true)
            }
            Some(e) => Err(format!("wrong fatal error: {e}")),
            None => Ok(false),
        },
    ));
    // HTTP 429 and 418 (Binance's rate limit and IP ban) carry Retry-After: the next
    // attempt waits for it, within the retry budget, then streams.
    for status in [429, 418] {
        s.push(run_with(
            "HTTP 429/418 upgrade rejection waits for Retry-After",
            MockConfig {
                faults: Faults {
                    reject_upgrade: Some(status),
                    reject_first: Some(2),
                    retry_after: Some(1),
                    ..Faults::default()
                },
                ..fast()
            },
            &["btcusdt@trade"],
            |_| {},
            connector,
            |r, c| {
                fatal_is_none(r)?;
                if c.events < 5 {
                    return Ok(false);
                }
                let (attempts, gap) = upgrade_attempts(r);
                let gap = gap.unwrap_or_default();
                if attempts != 3 || gap < Duration::from_secs(1) || c.reconnects != 2 {
                    return Err(format!(
                        "{attempts} upgrade attempts, smallest gap {gap:?} (want 3, >= 1 s); {c:?}"
                    ));
                }
                let want = format!("HTTP {} (Retry-After 1 s)", r.mock_status());
                if !r.notices.iter().any(|n| n.contains(&want)) {
                    return Err(format!("no notice with {want:?}"));
                }
                exactly_once(r)?;
                Ok(true)
            },
        ));
    }
    // A 429 that never ends uses up the retry budget, still waiting Retry-After each time.
    s.push(run_with(
        "HTTP 429 forever gives up after the retry budget",
        MockConfig {
            faults: Faults {
                reject_upgrade: Some(429),
                retry_after: Some(1),
                ..Faults::default()
            },
            ..fast()
        },
        &["btcusdt@trade"],
        |c| c.connect_retries = 2,
        connector,
        |r, _| match &r.fatal {
            Some(e) => {
                let want = "giving up after 2 failed connection attempts; last error: \
                            WebSocket upgrade rejected by localhost: HTTP 429 (Retry-After 1 s)";
                let (attempts, gap) = upgrade_attempts(r);
                if e != want || attempts != 2 || gap < Some(Duration::from_secs(1)) {
                    return Err(format!("{e:?} after {attempts} attempts, gap {gap:?}"));
                }
                Ok(true)
            }
            None => Ok(false),
        },
    ));
    // A 429 without Retry-After waits at least the longest backoff: a rate-limited client must
    // not hurry.
    s.push(run_with(
        "HTTP 429 without Retry-After waits the longest backoff",
        MockConfig {
            faults: Faults {
                reject_upgrade: Some(429),
                ..Faults::default()
            },
            ..fast()
        },
        &["btcusdt@trade"],
        |c| c.connect_retries = 2,
        connector,
        |r, _| match &r.fatal {
            Some(e) => {
                let (attempts, gap) = upgrade_attempts(r);
                // backoff_max is 200 ms in these tests (see run_with).
                if !e.ends_with("HTTP 429")
                    || attempts != 2
                    || gap < Some(Duration::from_millis(200))
                {
                    return Err(format!("{e:?} after {attempts} attempts, gap {gap:?}"));
                }
                Ok(true)
            }
            None => Ok(false),
        },
    ));
    // A server that accepts the upgrade, then closes at once without data: each such
    // connection is a failed attempt, so the retry budget ends it (it used to reset the count
    // and retry forever).
    s.push(run_with(
        "open then closed without data uses up the retry budget",
        fast(),
        &["btcusdt@trade"],
        |c| {
            // The mock refuses the doubled path with a policy close after the upgrade.
            c.endpoint.path = "/ws".into();
            c.connect_retries = 2;
        },
        connector,
        |r, _| match &r.fatal {
            Some(e) => {
                let want = "giving up after 2 failed connection attempts; last error: \
                            server closed the connection (1008 invalid stream ws/btcusdt@trade)";
                if e != want {
                    return Err(format!("{e:?}"));
                }
                Ok(true)
            }
            None => Ok(false),
        },
    ));
    // A replacement (serverShutdown) whose upgrades fail, even with a status that would be
    // fatal for a first connection, never ends the healthy connection: it keeps streaming
    // and the replacement is retried until one takes over, without a gap or a duplicate.
    s.push(run_with(
        "failed replacement keeps the healthy connection",
        MockConfig {
            faults: Faults {
                shutdown_notice_after: Some(20),
                ..Faults::default()
            },
            ..fast()
        },
        &["btcusdt@trade"],
        |_| {},
        connector,
        |r, c| {
            fatal_is_none(r)?;
            let stats = r.mock.stats();
            let rejected = stats.rejected_upgrades.load(Ordering::Relaxed);
            if stats.connections.load(Ordering::Relaxed) == 0 {
                return Ok(false);
            }
            if stats.connections.load(Ordering::Relaxed) == 1 && rejected < 3 {
                // Upgrades after the first are refused until three were.
                r.mock.set_faults(Faults {
                    reject_upgrade: Some(403),
                    ..Faults::default()
                });
                return Ok(false);
            }
            r.mock.set_faults(Faults::default());
            if stats.connections.load(Ordering::Relaxed) < 2 || c.events < 150 {
                return Ok(false);
            }
            let failed = r
                .notices
                .iter()
                .filter(|n| n.starts_with("replacement failed") && n.contains("HTTP 403"))
                .count();
            if failed != 3 || c.reconnects != 0 {
                return Err(format!("{failed} replacement failures; {c:?}"));
            }
            exactly_once(r)?;
            Ok(true)
        },
    ));
    // Pings keep arriving but market data stops: the data watchdog replaces the connection
    // and the sequence goes on without a gap.
    s.push(run_with(
        "stalled data behind live pings is replaced",
        MockConfig {
            ping_interval: Duration::from_millis(100),
            faults: Faults {
                data_stall_after: Some(15),
                ..Faults::default()
            },
            ..fast()
        },
        &["btcusdt@ticker", "btcusdt@trade"],
        |c| c.stall_timeout = StallTimeout::After(Duration::from_millis(700)),
        connector,
        |r, c| {
            fatal_is_none(r)?;
            if c.events < 60 {
                return Ok(false);
            }
            if !r.notices.iter().any(|n| {
                n.contains("no market data for 700ms (stall timeout; pings still arrived)")
            }) {
                return Err(format!("no stall notice; {c:?}"));
            }
            if r.mock.stats().pongs.load(Ordering::Relaxed) < 3 {
                return Err("pings were not answered while stalled".into());
            }
            exactly_once(r)?;
            Ok(true)
        },
    ));
    // Certificate from an unknown CA: fatal, with the reason.
    s.push(run_with(
        "TLS verification failure is fatal",
        fast(),
        &["btcusdt@ticker"],
        |_| {},
        |_| {
            let other = MockExchange::start(MockConfig::default()).expect("other mock");
            TlsConnector::builder()
                .ca_pem(other.ca_pem().as_bytes().to_vec())
                .build()
                .unwrap()
        },
        |r, c| match &r.fatal {
            Some(e) if e.contains("certificate verification failed") && e.contains("untrusted") => {
                if c.events > 0 {
                    Err("events arrived over an unverified connection".into())
                } else {
                    Ok(true)
                }
            }
            Some(e) => Err(format!("wrong fatal error: {e}")),
            None => Ok(false),
        },
    ));
}
