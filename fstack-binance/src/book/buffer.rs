//! The events a [`super::BookSync`] buffers while it waits for a snapshot: copies of each
//! event's ids, time and level arrays, in one text arena (cleared, not freed, once applied).
//!
//! Bounded: at most `max_bytes` of level text and `max_events` events; a push beyond either
//! is refused and the caller starts buffering over (see [`super::BookSync`]). Each event
//! takes 56 bytes in the queue besides its text.

use std::collections::VecDeque;
use std::ops::Range;

use crate::events::{DepthUpdate, Levels};

/// A buffered diff depth event.
#[derive(Debug, Clone)]
pub(super) struct Buffered {
    /// `U`
    pub(super) first: u64,
    /// `u`
    pub(super) last: u64,
    /// `E`
    pub(super) event_time: u64,
    bids: Range<usize>,
    asks: Range<usize>,
}

/// See the [module docs](self).
#[derive(Debug)]
pub(super) struct DiffBuffer {
    text: String,
    events: VecDeque<Buffered>,
    max_bytes: usize,
    max_events: usize,
}

/// The buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Full;

impl DiffBuffer {
    pub(super) fn new(max_bytes: usize, max_events: usize) -> DiffBuffer {
        DiffBuffer {
            text: String::new(),
            events: VecDeque::new(),
            max_bytes,
            max_events,
        }
    }

    /// Copies `diff` to the back.
    pub(super) fn push(&mut self, diff: &DepthUpdate<'_>) -> Result<(), Full> {
        let (b, a) = (diff.bids.raw(), diff.asks.raw());
        if self.events.len() >= self.max_events
            || self.text.len() + b.len() + a.len() > self.max_bytes
        {
            return Err(Full);
        }
        let start = self.text.len();
        self.text.push_str(b);
        self.text.push_str(a);
        self.events.push_back(Buffered {
            first: diff.first_update_id,
            last: diff.final_update_id,
            event_time: diff.event_time,
            bids: start..start + b.len(),
            asks: start + b.len()..self.text.len(),
        });
        Ok(())
    }

    pub(super) fn front(&self) -> Option<&Buffered> {
        self.events.front()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.events.len()
    }

    /// Removes the front event.
    pub(super) fn pop(&mut self) {
        self.events.pop_front();
        if self.events.is_empty() {
            self.text.clear();
        }
    }

    /// Forgets every event (keeps the storage).
    pub(super) fn clear(&mut self) {
        self.events.clear();
        self.text.clear();
    }

    /// The level arrays of `e`, validated again (they were valid when buffered).
    pub(super) fn levels(&self, e: &Buffered) -> (Levels<'_>, Levels<'_>) {
        let parse = |r: &Range<usize>| {
            self.text
                .get(r.clone())
                .and_then(|t| Levels::parse(t).ok())
                .unwrap_or_else(|| Levels::parse("[]").expect("an empty array is valid"))
        };
        (parse(&e.bids), parse(&e.asks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// README's memory figure: 56 bytes per buffered event besides its level text.
    #[test]
    fn an_entry_takes_56_bytes() {
        assert_eq!(std::mem::size_of::<Buffered>(), 56);
    }
    use crate::events::{decode, MarketEvent, Message};

    fn diff(text: &str) -> DepthUpdate<'_> {
        match decode(text, None) {
            Ok(Message::Event(e)) => match e.event {
                MarketEvent::DepthUpdate(d) => d,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keeps_events_in_order_within_bounds() {
        let one = r#"{"e":"depthUpdate","E":5,"s":"X","U":1,"u":2,"b":[["1","2"]],"a":[]}"#;
        let two = r#"{"e":"depthUpdate","E":6,"s":"X","U":3,"u":3,"b":[],"a":[["4","5"]]}"#;
        let mut buf = DiffBuffer::new(55, 3);
        buf.push(&diff(one)).unwrap();
        buf.push(&diff(two)).unwrap();
        assert_eq!(buf.len(), 2);
        let front = buf.front().unwrap().clone();
        assert_eq!((front.first, front.last, front.event_time), (1, 2, 5));
        let (b, a) = buf.levels(&front);
        assert_eq!((b.raw(), a.raw()), (r#"[["1","2"]]"#, "[]"));
        buf.pop();
        let (b, a) = buf.levels(&buf.front().unwrap().clone());
        assert_eq!((b.len(), a.raw()), (0, r#"[["4","5"]]"#));
        // Too many bytes (57 > 55), then too many events (3).
        let big = r#"{"e":"depthUpdate","E":7,"s":"X","U":4,"u":4,"b":[["1111111111","2222222222"]],"a":[]}"#;
        assert_eq!(buf.push(&diff(big)), Err(Full));
        buf.push(&diff(one)).unwrap();
        buf.push(&diff(one)).unwrap();
        assert_eq!(buf.push(&diff(one)), Err(Full));
        buf.clear();
        assert!(buf.len() == 0 && buf.front().is_none());
    }
}
