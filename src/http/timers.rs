//! The deadlines of one connection (header, idle, linger), as state advanced with the loop's
//! `now`: F-Stack's sockets have no timeouts.

use std::time::Instant;

use super::{ServerConfig, LINGER};

/// Which deadline of a connection passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiry {
    /// The request head was not complete in time.
    Header,
    /// No request in progress, or no progress, for the idle timeout.
    Idle,
    /// Lingering after the last response is over.
    Linger,
}

/// The deadlines of one connection, as state advanced with the caller's `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ConnTimer {
    /// When the current request began (its first byte, or the accept for the first request),
    /// while its head or body is still arriving; `None` when idle or answered.
    pub(super) head_since: Option<Instant>,
    /// When the current (or last) request began: its head's first byte, or the accept.
    pub(super) request_since: Instant,
    /// Last byte read or written.
    pub(super) progress: Instant,
    /// When lingering began.
    pub(super) linger_since: Option<Instant>,
}

impl ConnTimer {
    /// A connection accepted at `now`: its first request head is due within the header
    /// timeout.
    pub(super) fn new(now: Instant) -> ConnTimer {
        ConnTimer {
            head_since: Some(now),
            request_since: now,
            progress: now,
            linger_since: None,
        }
    }

    /// Bytes were read or written.
    pub(super) fn progress(&mut self, now: Instant) {
        self.progress = now;
    }

    /// A request's head is complete (answered, or its body follows).
    pub(super) fn head_done(&mut self) {
        self.head_since = None;
    }

    /// After parsing: whether part of a next head is waiting. Starts its clock at `now` if it
    /// was not running; stops it if nothing waits.
    pub(super) fn head_pending(&mut self, now: Instant, pending: bool) {
        if !pending {
            self.head_since = None;
        } else if self.head_since.is_none() {
            self.head_since = Some(now);
            self.request_since = now;
        }
    }

    /// The last response went out: linger from `now`.
    pub(super) fn linger(&mut self, now: Instant) {
        self.linger_since = Some(now);
    }

    /// The next deadline and what passes then; `None` if a timeout is too large to fall
    /// within the clock's range (never).
    pub(super) fn deadline(&self, config: &ServerConfig) -> Option<(Instant, Expiry)> {
        let (since, timeout, what) = match (self.linger_since, self.head_since) {
            (Some(since), _) => (since, LINGER, Expiry::Linger),
            (None, Some(since)) => (since, config.header_timeout, Expiry::Header),
            (None, None) => (self.progress, config.idle_timeout, Expiry::Idle),
        };
        Some((since.checked_add(timeout)?, what))
    }

    /// The deadline that has passed at `now`, if any.
    pub(super) fn expired(&self, now: Instant, config: &ServerConfig) -> Option<Expiry> {
        let (at, what) = self.deadline(config)?;
        (now >= at).then_some(what)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn config() -> ServerConfig {
        ServerConfig {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 20,
        }
    }

    #[test]
    fn header_deadline_runs_from_accept_and_is_not_extended_by_trickling() {
        let cfg = config();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut timer = ConnTimer::new(t0);
        assert_eq!(timer.expired(t0 + s(9), &cfg), None);
        // A byte every second: still due 10 s after the accept.
        for i in 1..10 {
            timer.progress(t0 + s(i));
            timer.head_pending(t0 + s(i), true);
        }
        assert_eq!(timer.deadline(&cfg), Some((t0 + s(10), Expiry::Header)));
        assert_eq!(timer.expired(t0 + s(10), &cfg), Some(Expiry::Header));
    }

    #[test]
    fn idle_deadline_after_a_response_and_a_new_head_clock_per_request() {
        let cfg = config();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut timer = ConnTimer::new(t0);
        // Request complete at 1 s, response written at 2 s: idle until 62 s.
        timer.progress(t0 + s(1));
        timer.head_done();
        timer.head_pending(t0 + s(1), false);
        timer.progress(t0 + s(2));
        assert_eq!(timer.deadline(&cfg), Some((t0 + s(62), Expiry::Idle)));
        assert_eq!(timer.expired(t0 + s(61), &cfg), None);
        // The next request's first byte at 30 s: its head is due at 40 s, more bytes or not.
        timer.progress(t0 + s(30));
        timer.head_pending(t0 + s(30), true);
        timer.progress(t0 + s(35));
        timer.head_pending(t0 + s(35), true);
        assert_eq!(timer.deadline(&cfg), Some((t0 + s(40), Expiry::Header)));
        // Inside a body (or writing), progress moves the idle deadline.
        timer.head_done();
        timer.progress(t0 + s(39));
        assert_eq!(timer.deadline(&cfg), Some((t0 + s(99), Expiry::Idle)));
        // The request began at 30 s, whatever progress its body makes (shedding order).
        assert_eq!(timer.request_since, t0 + s(30));
        // Lingering overrides both.
        timer.linger(t0 + s(50));
        assert_eq!(
            timer.deadline(&cfg),
            Some((t0 + s(50) + LINGER, Expiry::Linger))
        );
    }

    #[test]
    fn huge_timeouts_never_expire_instead_of_overflowing() {
        let cfg = ServerConfig {
            header_timeout: Duration::MAX,
            idle_timeout: Duration::MAX,
            max_connections: 1,
        };
        let t0 = Instant::now();
        let mut timer = ConnTimer::new(t0);
        assert_eq!(timer.deadline(&cfg), None);
        assert_eq!(timer.expired(t0 + Duration::from_secs(1 << 40), &cfg), None);
        timer.head_done();
        assert_eq!(timer.expired(t0 + Duration::from_secs(1 << 40), &cfg), None);
    }
}
