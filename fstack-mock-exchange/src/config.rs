//! What the mock serves ([`MockConfig`]) and the faults it injects ([`Faults`]).

use std::net::SocketAddr;
use std::time::Duration;

/// What to serve and how.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Listen address (port 0 picks one).
    pub listen: SocketAddr,
    /// DNS names in the server certificate.
    pub hostnames: Vec<String>,
    /// Events per second per stream; 0 sends as fast as the client takes them.
    pub rate: f64,
    /// Interval between server pings (Binance: 20 s).
    pub ping_interval: Duration,
    /// Faults applied to every connection.
    pub faults: Faults,
    /// Offer TLS 1.2 only (default: TLS 1.3 and 1.2, as Binance does).
    pub tls12_only: bool,
    /// Symbols the mock does not list (any case): like Binance, their streams send nothing
    /// at all and the REST API answers HTTP 400 `{"code":-1121,"msg":"Invalid symbol."}`.
    pub unlisted: Vec<String>,
}

impl MockConfig {
    /// Whether `symbol` (any case) is one the mock lists.
    pub fn lists(&self, symbol: &str) -> bool {
        !self
            .unlisted
            .iter()
            .any(|u| u.to_uppercase() == symbol.to_uppercase())
    }
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            listen: "127.0.0.1:0".parse().expect("valid"),
            hostnames: vec!["localhost".into(), "stream.binance.com".into()],
            rate: 10.0,
            ping_interval: Duration::from_secs(20),
            faults: Faults::default(),
            tls12_only: false,
            unlisted: Vec::new(),
        }
    }
}

/// Faults counted in market events sent on a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Close the TCP connection abruptly (no close frame) after this many events.
    pub drop_after: Option<u64>,
    /// Send a malformed JSON text frame after every N events.
    pub malformed_every: Option<u64>,
    /// Send an oversize (2 MiB) text frame after every N events.
    pub oversize_every: Option<u64>,
    /// Stop responding (no events, pings or replies; the connection stays open) after this
    /// many events.
    pub stall_after: Option<u64>,
    /// Send a `serverShutdown` event after this many events, then keep streaming for a while.
    pub shutdown_notice_after: Option<u64>,
    /// Answer WebSocket upgrades with this HTTP status instead of 101.
    pub reject_upgrade: Option<u16>,
    /// With `reject_upgrade`: reject only the first N upgrade attempts the mock receives
    /// (counted across connections); later ones succeed.
    pub reject_first: Option<u64>,
    /// With `reject_upgrade`: send `Retry-After: SECS` with each rejection.
    pub retry_after: Option<u64>,
    /// Stop sending market events after this many (pings and control replies go on), like a
    /// server whose data feed died behind a live connection.
    pub data_stall_after: Option<u64>,
    /// Leave out the Nth diff depth event of each connection (the market moves on: a gap).
    pub skip_diff: Option<u64>,
    /// Answer the first N depth snapshot requests (counted across connections) with the book
    /// before any event: older than anything a stream has sent.
    pub stale_snapshots: Option<u64>,
    /// Answer depth snapshot requests with this HTTP status (429 and 418 with `retry_after`
    /// as `Retry-After`).
    pub rest_status: Option<u16>,
    /// With `rest_status`: only the first N depth snapshot requests (counted across
    /// connections); later ones are answered normally.
    pub rest_status_first: Option<u64>,
}

impl Faults {
    /// Every spec [`Faults::apply`] accepts, with what it does (for help texts).
    pub const SPECS: &'static [(&'static str, &'static str)] = &[
        (
            "drop-after=N",
            "close the TCP connection abruptly (no close frame) after N events",
        ),
        (
            "malformed-every=N",
            "send a malformed JSON text frame after every N events",
        ),
        (
            "oversize-every=N",
            "send an oversize (2 MiB) text frame after every N events",
        ),
        (
            "stall-after=N",
            "stop responding (no events, pings or replies; the connection stays open) after N events",
        ),
        (
            "data-stall-after=N",
            "stop sending market events after N (pings and control replies go on)",
        ),
        (
            "shutdown-notice-after=N",
            "send a serverShutdown event after N events, then keep streaming for a while",
        ),
        (
            "reject-upgrade=STATUS",
            "answer WebSocket upgrades with HTTP STATUS (400-599) instead of 101",
        ),
        (
            "reject-first=N",
            "with reject-upgrade: reject only the first N upgrade attempts (counted across connections)",
        ),
        (
            "retry-after=SECS",
            "with reject-upgrade or rest-status: send Retry-After: SECS with each rejection",
        ),
        (
            "skip-diff=N",
            "leave out the Nth diff depth event of each connection (a gap; the book moves on)",
        ),
        (
            "stale-snapshots=N",
            "answer the first N depth snapshot requests with the book before any event (older than the stream)",
        ),
        (
            "rest-status=STATUS",
            "answer depth snapshot requests with HTTP STATUS (400-599; 429/418 with retry-after)",
        ),
        (
            "rest-status-first=N",
            "with rest-status: only the first N depth snapshot requests (counted across connections)",
        ),
    ];

    /// Checks the faults as a whole: `reject-first` qualifies `reject-upgrade`,
    /// `rest-status-first` qualifies `rest-status`, and `retry-after` either of them; they
    /// mean nothing alone.
    pub fn check(&self) -> Result<(), String> {
        if self.reject_upgrade.is_none() && self.reject_first.is_some() {
            return Err("fault reject-first=N needs reject-upgrade=STATUS".into());
        }
        if self.rest_status.is_none() && self.rest_status_first.is_some() {
            return Err("fault rest-status-first=N needs rest-status=STATUS".into());
        }
        if self.reject_upgrade.is_none() && self.rest_status.is_none() && self.retry_after.is_some()
        {
            return Err(
                "fault retry-after=SECS needs reject-upgrade=STATUS or rest-status=STATUS".into(),
            );
        }
        Ok(())
    }

    /// Parses one `--fault` value: `drop-after=N`, `malformed-every=N`, `oversize-every=N`,
    /// `stall-after=N`, `data-stall-after=N`, `shutdown-notice-after=N`,
    /// `reject-upgrade=STATUS`, `reject-first=N`, `retry-after=SECS`, `skip-diff=N`,
    /// `stale-snapshots=N`, `rest-status=STATUS` or `rest-status-first=N` (see
    /// [`Faults::SPECS`]).
    /// Errors are one short line that does not repeat `spec`.
    pub fn apply(&mut self, spec: &str) -> Result<(), String> {
        let (name, n) = spec
            .split_once('=')
            .ok_or_else(|| "expected NAME=N".to_owned())?;
        let slot = match name {
            "drop-after" => &mut self.drop_after,
            "malformed-every" => &mut self.malformed_every,
            "oversize-every" => &mut self.oversize_every,
            "stall-after" => &mut self.stall_after,
            "shutdown-notice-after" => &mut self.shutdown_notice_after,
            "data-stall-after" => &mut self.data_stall_after,
            "reject-first" => &mut self.reject_first,
            "retry-after" => &mut self.retry_after,
            "skip-diff" => &mut self.skip_diff,
            "stale-snapshots" => &mut self.stale_snapshots,
            "rest-status-first" => &mut self.rest_status_first,
            "reject-upgrade" | "rest-status" => {
                let status = n
                    .parse::<u16>()
                    .ok()
                    .filter(|s| (400..600).contains(s))
                    .ok_or_else(|| "STATUS must be 400-599".to_owned())?;
                if name == "rest-status" {
                    self.rest_status = Some(status);
                } else {
                    self.reject_upgrade = Some(status);
                }
                return Ok(());
            }
            _ => {
                let names: Vec<&str> = Faults::SPECS
                    .iter()
                    .filter_map(|(spec, _)| spec.split_once('=').map(|(name, _)| name))
                    .collect();
                return Err(format!(
                    "unknown fault `{name}` (expected {})",
                    names.join(", ")
                ));
            }
        };
        *slot = Some(
            n.parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{name} needs a positive integer"))?,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs() {
        let mut f = Faults::default();
        f.apply("drop-after=5").unwrap();
        f.apply("stall-after=7").unwrap();
        assert_eq!(f.drop_after, Some(5));
        assert_eq!(f.stall_after, Some(7));
        assert!(f.apply("drop-after=0").is_err());
        assert!(f.apply("explode=1").is_err());
        assert!(f.apply("drop-after").is_err());
        f.apply("reject-upgrade=429").unwrap();
        f.apply("reject-first=2").unwrap();
        f.apply("retry-after=3").unwrap();
        f.apply("data-stall-after=9").unwrap();
        assert_eq!(
            (
                f.reject_upgrade,
                f.reject_first,
                f.retry_after,
                f.data_stall_after
            ),
            (Some(429), Some(2), Some(3), Some(9))
        );
        assert_eq!(
            f.apply("reject-upgrade=200"),
            Err("STATUS must be 400-599".into())
        );
        assert_eq!(
            f.apply("reject-upgrade=x"),
            Err("STATUS must be 400-599".into())
        );
        assert_eq!(
            f.apply("drop-after=0"),
            Err("drop-after needs a positive integer".into())
        );
        assert_eq!(
            f.apply("retry-after=-1"),
            Err("retry-after needs a positive integer".into())
        );
        assert_eq!(f.apply("drop-after"), Err("expected NAME=N".into()));
        assert_eq!(
            f.apply("explode=1"),
            Err(
                "unknown fault `explode` (expected drop-after, malformed-every, oversize-every, \
                 stall-after, data-stall-after, shutdown-notice-after, reject-upgrade, \
                 reject-first, retry-after, skip-diff, stale-snapshots, rest-status, \
                 rest-status-first)"
                    .into()
            )
        );
    }

    /// `Faults::SPECS` lists every fault: applying them all sets every field.
    #[test]
    fn fault_specs_are_all_listed() {
        let mut f = Faults::default();
        for (spec, help) in Faults::SPECS {
            let (name, _) = spec.split_once('=').unwrap();
            f.apply(&format!("{name}=429")).unwrap();
            assert!(!help.is_empty() && !help.contains('\n'), "{spec}");
        }
        let every = Some(429);
        assert_eq!(
            f,
            Faults {
                drop_after: every,
                malformed_every: every,
                oversize_every: every,
                stall_after: every,
                shutdown_notice_after: every,
                reject_upgrade: Some(429),
                reject_first: every,
                retry_after: every,
                data_stall_after: every,
                skip_diff: every,
                stale_snapshots: every,
                rest_status: Some(429),
                rest_status_first: every,
            }
        );
    }

    #[test]
    fn qualifying_faults_need_what_they_qualify() {
        let check = |specs: &[&str]| {
            let mut f = Faults::default();
            for s in specs {
                f.apply(s).unwrap();
            }
            f.check()
        };
        assert!(check(&["retry-after=1"])
            .unwrap_err()
            .contains("reject-upgrade"));
        assert!(check(&["rest-status-first=1"])
            .unwrap_err()
            .contains("rest-status"));
        assert!(check(&["reject-first=1"]).is_err());
        assert!(check(&["rest-status=429", "retry-after=1", "rest-status-first=1"]).is_ok());
        assert!(check(&["reject-upgrade=429", "retry-after=1"]).is_ok());
    }
}
