//! The line on stderr about connections shed at the connection limit, at most once a second.

use std::time::{Duration, Instant};

/// The connection-limit line is printed at most this often.
const SHED_LOG_EVERY: Duration = Duration::from_secs(1);

/// Rate-limited reporting of connections shed at the connection limit.
#[derive(Debug)]
pub(super) struct ShedLog {
    limit: usize,
    closed: u64,
    refused: u64,
    last: Option<Instant>,
}

impl ShedLog {
    pub(super) fn new(limit: usize) -> ShedLog {
        ShedLog {
            limit,
            closed: 0,
            refused: 0,
            last: None,
        }
    }

    /// Counts one shed connection (`refused`: the newcomer itself); returns the line to print
    /// if one is due.
    pub(super) fn record(&mut self, now: Instant, refused: bool) -> Option<String> {
        if refused {
            self.refused += 1;
        } else {
            self.closed += 1;
        }
        self.due(now)
    }

    /// The line summarising what was shed since the last one, at most once per
    /// [`SHED_LOG_EVERY`] (the first at once).
    pub(super) fn due(&mut self, now: Instant) -> Option<String> {
        if self.closed + self.refused == 0
            || self.last.is_some_and(|last| now < last + SHED_LOG_EVERY)
        {
            return None;
        }
        let line = format!(
            "http_server: connection limit {} reached (--max-connections): closed {} waiting \
             connection(s) (lingering, incomplete request, idle, silent; oldest first) and \
             refused {} new one(s)",
            self.limit, self.closed, self.refused
        );
        self.closed = 0;
        self.refused = 0;
        self.last = Some(now);
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shed_log_is_rate_limited_and_counts() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut log = ShedLog::new(20);
        assert_eq!(log.due(t0), None);
        let first = log.record(t0, false).unwrap();
        assert!(first.contains("connection limit 20 reached"), "{first}");
        assert!(first.contains("closed 1 waiting"), "{first}");
        assert_eq!(log.record(t0 + ms(10), false), None);
        assert_eq!(log.record(t0 + ms(20), true), None);
        assert_eq!(log.due(t0 + ms(999)), None);
        let second = log.due(t0 + ms(1000)).unwrap();
        assert!(
            second.contains("closed 1 waiting") && second.contains("refused 1 new"),
            "{second}"
        );
        assert_eq!(log.due(t0 + ms(5000)), None, "nothing new to report");
    }
}
