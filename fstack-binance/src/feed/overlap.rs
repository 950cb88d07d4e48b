//! Deduplication while two connections overlap: when a connection is replaced (age limit,
//! `serverShutdown`), the standby and the old connection carry the same events for a while, and
//! each must be delivered once, in order, without a gap.
//!
//! Per stream, events carry a key that grows with every new event ([`order_key`]). The old
//! connection (the primary) leads: it delivers what is newer than anything delivered. The
//! standby delivers nothing until it has *caught up* on that stream, meaning both connections
//! are known to carry the same events and the standby is not ahead of what was delivered:
//! - the standby sees an event the primary already delivered (the standby is behind or even), or
//! - the primary delivers an event at or past the newest the standby has seen (the standby was
//!   ahead; what it dropped meanwhile has now been delivered by the primary).
//!
//! From then on the standby delivers what is newer than anything delivered. Taking over while
//! the standby is ahead would skip the events in between, which the standby dropped and the
//! primary had not delivered yet. Events without a key come from the primary only.

use std::collections::HashMap;

use crate::events::{MarketEvent, StreamEvent};

/// Per-stream overlap state; empty outside an overlap.
#[derive(Debug, Default)]
pub(super) struct Overlap {
    streams: HashMap<String, StreamState>,
}

#[derive(Debug, Clone, Copy, Default)]
struct StreamState {
    /// Newest key delivered during the overlap.
    delivered: Option<u64>,
    /// Newest key the standby has seen.
    standby_seen: Option<u64>,
    caught: bool,
}

impl Overlap {
    /// Whether `ev` (from the standby or from the primary) is delivered.
    pub(super) fn admit(&mut self, ev: &StreamEvent<'_>, from_standby: bool) -> bool {
        let Some(key) = order_key(ev) else {
            return !from_standby;
        };
        let stream = ev.stream.map_or("", |s| s.name);
        let st = match self.streams.get_mut(stream) {
            Some(st) => st,
            None => self.streams.entry(stream.to_owned()).or_default(),
        };
        let newer = st.delivered.is_none_or(|d| key > d);
        if from_standby {
            st.standby_seen = Some(st.standby_seen.map_or(key, |s| s.max(key)));
            if !newer {
                st.caught = true;
                false
            } else if st.caught {
                st.delivered = Some(key);
                true
            } else {
                false
            }
        } else {
            if newer {
                st.delivered = Some(key);
            }
            if st
                .standby_seen
                .is_some_and(|s| st.delivered.is_some_and(|d| d >= s))
            {
                st.caught = true;
            }
            newer
        }
    }

    /// True once the standby has caught up on every stream seen during the overlap.
    pub(super) fn caught_up(&self) -> bool {
        !self.streams.is_empty() && self.streams.values().all(|st| st.caught)
    }

    /// Forgets everything (the overlap ended).
    pub(super) fn clear(&mut self) {
        self.streams.clear();
    }
}

/// A per-stream key that increases with every new event, for deduplication while two
/// connections overlap (update ids, trade ids; event time where nothing better exists).
pub(super) fn order_key(ev: &StreamEvent<'_>) -> Option<u64> {
    match &ev.event {
        MarketEvent::Ticker(t) => u64::try_from(t.last_trade_id).ok(),
        MarketEvent::MiniTicker(m) => Some(m.event_time),
        MarketEvent::BookTicker(b) => Some(b.update_id),
        MarketEvent::Trade(t) => Some(t.trade_id),
        MarketEvent::AggTrade(a) => Some(a.agg_trade_id),
        MarketEvent::PartialDepth(d) => Some(d.last_update_id),
        MarketEvent::DepthUpdate(d) => Some(d.final_update_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{decode, Message};

    /// A trade event with id `id` on `btcusdt@trade` (combined form, so it names its stream).
    fn trade(id: u64) -> String {
        format!(
            r#"{{"stream":"btcusdt@trade","data":{{"e":"trade","E":1,"s":"BTCUSDT","t":{id},"p":"1.0","q":"1.0","T":1,"m":true,"M":true}}}}"#
        )
    }

    /// Feeds `(from_standby, id)` pairs; returns the ids delivered.
    fn run(o: &mut Overlap, seq: &[(bool, u64)]) -> Vec<u64> {
        let mut out = Vec::new();
        for &(standby, id) in seq {
            let text = trade(id);
            let Ok(Message::Event(ev)) = decode(&text, None) else {
                panic!("decode")
            };
            if o.admit(&ev, standby) {
                out.push(id);
            }
        }
        out
    }

    const P: bool = false;
    const S: bool = true;

    #[test]
    fn standby_behind_catches_up_on_a_delivered_event() {
        let mut o = Overlap::default();
        let got = run(
            &mut o,
            &[
                (P, 10),
                (P, 11),
                (S, 11),
                (S, 12),
                (P, 12),
                (P, 13),
                (S, 13),
            ],
        );
        assert_eq!(got, [10, 11, 12, 13]);
        assert!(o.caught_up());
    }

    #[test]
    fn standby_ahead_waits_for_the_primary_then_takes_over_without_a_gap() {
        let mut o = Overlap::default();
        // The standby runs one event ahead of the primary throughout.
        let got = run(&mut o, &[(P, 10), (S, 11), (P, 11), (S, 12)]);
        // 11 delivered once (by the primary); the standby caught up when the primary reached
        // what it had seen, so its 12 is delivered.
        assert_eq!(got, [10, 11, 12]);
        assert!(o.caught_up());
        // The primary's late 12 is a duplicate.
        assert_eq!(run(&mut o, &[(P, 12), (S, 13), (P, 13)]), [13]);
    }

    #[test]
    fn standby_ahead_never_delivers_past_a_gap() {
        let mut o = Overlap::default();
        // The standby is two ahead: its 12 must not be delivered before the primary's 11.
        assert_eq!(run(&mut o, &[(P, 10), (S, 11), (S, 12)]), [10]);
        assert!(!o.caught_up());
        assert_eq!(run(&mut o, &[(P, 11)]), [11]);
        assert!(!o.caught_up(), "the standby has seen 12, not delivered yet");
        assert_eq!(run(&mut o, &[(P, 12), (S, 13)]), [12, 13]);
        assert!(o.caught_up());
    }

    #[test]
    fn standby_alone_delivers_nothing_until_caught_up() {
        let mut o = Overlap::default();
        assert_eq!(run(&mut o, &[(S, 5), (S, 6)]), Vec::<u64>::new());
        assert!(!o.caught_up());
        assert_eq!(run(&mut o, &[(P, 6), (S, 7)]), [6, 7]);
        o.clear();
        assert!(!o.caught_up());
    }
}
