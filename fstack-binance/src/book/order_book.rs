//! [`OrderBook`]: the two sides of one symbol's book and the update id they are exact at.

use crate::decimal::DecimalValue;
use crate::events::{Level, Levels};

use super::side::{Change, LevelError, Side, SideKind, KEY_SCALE};

/// A local order book: bids and asks with exact decimals, and the id of the last update it
/// reflects. Filled from a REST snapshot ([`OrderBook::load_snapshot`]) and kept current with
/// diff depth events ([`OrderBook::apply`]); [`super::BookSync`] decides which events apply.
///
/// Each side keeps at most `max_levels` levels (see [`Side`] for what happens beyond).
/// Applying a diff allocates nothing unless a side grows beyond every size it had before.
#[derive(Debug, Clone)]
pub struct OrderBook {
    bids: Side,
    asks: Side,
    update_id: u64,
    snapshot_limit: Option<usize>,
}

/// Levels changed by one [`OrderBook::apply`], by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// New levels.
    pub inserted: u32,
    /// Levels whose quantity changed.
    pub updated: u32,
    /// Levels removed (quantity zero).
    pub removed: u32,
    /// Quantity zero for a price the book does not hold.
    pub absent: u32,
    /// New levels not kept because their side was full and they were the worst.
    pub dropped: u32,
}

impl Applied {
    fn count(&mut self, change: Change) {
        match change {
            Change::Inserted => self.inserted += 1,
            Change::Updated => self.updated += 1,
            Change::Removed => self.removed += 1,
            Change::Absent => self.absent += 1,
            Change::Dropped => self.dropped += 1,
        }
    }
}

impl OrderBook {
    /// An empty book keeping at most `max_levels` levels per side.
    pub fn new(max_levels: usize) -> OrderBook {
        OrderBook {
            bids: Side::new(SideKind::Bids, max_levels),
            asks: Side::new(SideKind::Asks, max_levels),
            update_id: 0,
            snapshot_limit: None,
        }
    }

    /// The `limit` the snapshots are requested with: a snapshot side with fewer levels
    /// than that holds every level the exchange had, so the side knows every price. Without
    /// it (the default), every snapshot side is taken as cut short at its deepest level.
    pub fn set_snapshot_limit(&mut self, limit: usize) {
        self.snapshot_limit = Some(limit);
    }

    /// The id of the last update the book reflects: the snapshot's `lastUpdateId`, then each
    /// applied event's `u`.
    pub fn update_id(&self) -> u64 {
        self.update_id
    }

    /// The bid side (best, i.e. highest, first when iterated).
    pub fn bids(&self) -> &Side {
        &self.bids
    }

    /// The ask side (best, i.e. lowest, first when iterated).
    pub fn asks(&self) -> &Side {
        &self.asks
    }

    /// The best bid.
    pub fn best_bid(&self) -> Option<Level<'_>> {
        self.bids.best()
    }

    /// The best ask.
    pub fn best_ask(&self) -> Option<Level<'_>> {
        self.asks.best()
    }

    /// Best ask minus best bid, exactly, without trailing zeros (`0.01`); `None` when a side
    /// has no level it is sure of ([`Side::known_best`]).
    pub fn spread(&self) -> Option<DecimalValue> {
        let (bid, ask) = (self.bids.known_best_key()?, self.asks.known_best_key()?);
        // Both keys are below 10^38 and not negative: the difference fits.
        DecimalValue::new(ask - bid, KEY_SCALE)
            .ok()
            .map(|v| v.normalized())
    }

    /// Empties both sides (keeping their storage) and sets the update id to 0.
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.update_id = 0;
    }

    /// Replaces the content with a REST snapshot: `lastUpdateId` and its levels, in any order
    /// (Binance sends each side best first). Reserves room for the snapshot's size plus
    /// `slack` levels per side, so that a book that stays near that size never allocates.
    /// A side with as many levels as the snapshot limit ([`OrderBook::set_snapshot_limit`])
    /// may have been cut short: its deepest price becomes the side's boundary (see
    /// [`Side::known`]). On error the book is left cleared.
    pub fn load_snapshot(
        &mut self,
        last_update_id: u64,
        bids: Levels<'_>,
        asks: Levels<'_>,
        slack: usize,
    ) -> Result<(), LevelError> {
        self.clear();
        self.bids.reserve_total(bids.len().saturating_add(slack));
        self.asks.reserve_total(asks.len().saturating_add(slack));
        let loaded =
            Self::set_all(&mut self.bids, bids).and_then(|_| Self::set_all(&mut self.asks, asks));
        match loaded {
            Ok(_) => {
                for side in [&mut self.bids, &mut self.asks] {
                    if self.snapshot_limit.is_none_or(|limit| side.len() >= limit) {
                        side.bound_at_worst();
                    }
                }
                self.update_id = last_update_id;
                Ok(())
            }
            Err(e) => {
                self.clear();
                Err(e)
            }
        }
    }

    /// Applies one diff depth event's levels (absolute quantities; zero removes) and moves
    /// the update id to `final_update_id`. Whether the event may be applied at all is
    /// [`super::BookSync`]'s decision. On error the book is partly updated and must be
    /// discarded.
    pub fn apply(
        &mut self,
        final_update_id: u64,
        bids: Levels<'_>,
        asks: Levels<'_>,
    ) -> Result<Applied, LevelError> {
        let mut applied = Applied::default();
        for l in bids {
            applied.count(self.bids.set(l.price, l.qty)?);
        }
        for l in asks {
            applied.count(self.asks.set(l.price, l.qty)?);
        }
        self.update_id = final_update_id;
        Ok(applied)
    }

    fn set_all(side: &mut Side, levels: Levels<'_>) -> Result<Applied, LevelError> {
        let mut applied = Applied::default();
        for l in levels {
            applied.count(side.set(l.price, l.qty)?);
        }
        Ok(applied)
    }

    /// Levels not kept or pushed out because a side was full, over the book's lifetime.
    pub fn dropped(&self) -> u64 {
        self.bids.dropped() + self.asks.dropped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(raw: &str) -> Levels<'_> {
        Levels::parse(raw).unwrap()
    }

    fn side(s: &Side) -> Vec<String> {
        s.iter()
            .map(|l| format!("{}x{}", l.price.as_str(), l.qty.as_str()))
            .collect()
    }

    #[test]
    fn snapshot_then_diffs() {
        let mut book = OrderBook::new(100);
        book.load_snapshot(
            100,
            levels(r#"[["10.00","1"],["9.99","2"],["9.98","3"]]"#),
            levels(r#"[["10.01","1"],["10.02","2"]]"#),
            16,
        )
        .unwrap();
        assert_eq!(book.update_id(), 100);
        assert_eq!(side(book.bids()), ["10.00x1", "9.99x2", "9.98x3"]);
        assert_eq!(book.spread().unwrap().to_string(), "0.01");
        assert!(book.bids().capacity() >= 3 + 16);
        let applied = book
            .apply(
                105,
                levels(r#"[["10.00","0.00"],["10.005","4"],["1","0"]]"#),
                levels(r#"[["10.02","2.5"]]"#),
            )
            .unwrap();
        assert_eq!(
            applied,
            Applied {
                inserted: 1,
                updated: 1,
                removed: 1,
                absent: 1,
                dropped: 0
            }
        );
        assert_eq!(book.update_id(), 105);
        assert_eq!(side(book.bids()), ["10.005x4", "9.99x2", "9.98x3"]);
        assert_eq!(side(book.asks()), ["10.01x1", "10.02x2.5"]);
        assert_eq!(book.best_bid().unwrap().price.as_str(), "10.005");
        assert_eq!(book.spread().unwrap().to_string(), "0.005");
        book.apply(
            106,
            levels("[]"),
            levels(r#"[["10.01","0"],["10.02","0"]]"#),
        )
        .unwrap();
        assert_eq!(book.spread(), None);
        assert_eq!(book.best_ask(), None);
    }

    /// `--snapshot-limit 3`: a side that filled the limit is known only down to its
    /// deepest price; a side with fewer levels is whole.
    #[test]
    fn a_full_snapshot_side_bounds_what_the_book_knows() {
        let mut book = OrderBook::new(100);
        book.set_snapshot_limit(3);
        book.load_snapshot(
            100,
            levels(r#"[["10","1"],["9","2"],["8","3"]]"#),
            levels(r#"[["11","1"],["12","2"]]"#),
            0,
        )
        .unwrap();
        book.apply(
            101,
            levels(r#"[["10","0"],["9","0"],["8","0"],["7","5"]]"#),
            levels(r#"[["11","0"],["12","0"],["13","1"]]"#),
        )
        .unwrap();
        // Bid 7 is real, but the exchange may hold bids between 7 and 8 the snapshot cut
        // off; ask 13 is exact since the asks were whole.
        assert_eq!(book.bids().known().count(), 0);
        assert_eq!(side(book.asks()), ["13x1"]);
        assert_eq!(book.asks().known_len(), 1);
        assert_eq!(book.spread(), None);
        book.apply(102, levels(r#"[["8.5","1"]]"#), levels("[]"))
            .unwrap();
        assert_eq!(book.spread().unwrap().to_string(), "4.5");
        // Without a limit every snapshot side is taken as cut short.
        let mut book = OrderBook::new(100);
        book.load_snapshot(1, levels(r#"[["10","1"]]"#), levels(r#"[["11","1"]]"#), 0)
            .unwrap();
        assert_eq!(book.asks().boundary_key(), Some(11 * 10i128.pow(18)));
    }

    #[test]
    fn a_bad_snapshot_leaves_the_book_empty() {
        let mut book = OrderBook::new(10);
        let long = format!(r#"[["1","{}"]]"#, "1".repeat(40));
        assert_eq!(
            book.load_snapshot(7, levels(r#"[["2","1"]]"#), levels(&long), 0),
            Err(LevelError::TooLong)
        );
        assert_eq!((book.update_id(), book.bids().len()), (0, 0));
    }
}
