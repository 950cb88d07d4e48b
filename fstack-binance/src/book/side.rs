//! One side of an order book: price levels kept sorted, prices and quantities stored as the
//! exchange wrote them, inline (no allocation per level).
//!
//! Levels live in a [`VecDeque`] sorted from the worst price to the best, so the best is at the
//! back. Most updates land near the top of the book: inserting or removing there moves the
//! few levels between the change and the back, and [`VecDeque`] moves whichever part is
//! shorter, so dropping the worst level when the side is full is cheap too. A level is found
//! by binary search on an exact integer key (the price in units of 10^-18), never a float.
//!
//! Memory is bounded: a side holds at most `max_levels` levels. When it is full, a new level
//! better than the worst replaces the worst one, and a new level worse than all of them is
//! not kept (both counted in [`Side::dropped`]). The storage grows only while the side holds
//! more levels than ever before (up to `max_levels`); clearing it keeps the allocation.
//!
//! A side also knows how far down it is exact ([`Side::known`]). A diff depth event reports
//! only the levels that changed, so a level below the snapshot's deepest price that has not
//! changed since is missing from the book, and removing the levels above it would otherwise
//! show a wrong book (Binance: a diff updates any level, including ones the snapshot did not
//! reach). The side keeps a boundary price: the snapshot's deepest level when the snapshot
//! may have been cut short, raised to just better than any level not kept because the side
//! was full. Levels at or better than the boundary are exact; levels worse than it (added by
//! diffs) are real but may have unknown levels between them and the boundary, so they are
//! held and updated but not shown by [`Side::known`].

use std::collections::VecDeque;
use std::fmt;

use crate::decimal::Decimal;
use crate::events::Level;

/// Longest price or quantity text a level stores (bytes). Binance writes at most about 20
/// (`"92233720368.54775807"`); anything longer is refused ([`LevelError::TooLong`]).
pub const MAX_TEXT: usize = 31;

/// Digits after the point in a price key: prices are compared as integers in units of
/// 10^-[`KEY_SCALE`], exactly.
pub const KEY_SCALE: u32 = 18;

/// Digits a price may have before the point: 10^20 x 10^18 still fits an `i128`.
const MAX_INT_DIGITS: usize = 20;

/// Why a level cannot be kept. The book that met it is no longer exact and is discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LevelError {
    /// A price or quantity text longer than [`MAX_TEXT`] bytes.
    #[error("a price or quantity is longer than {MAX_TEXT} characters")]
    TooLong,
    /// A price with more than 20 digits before the point, or more than 18 significant
    /// digits after it.
    #[error("a price is out of range (more than 20 integer or 18 fraction digits)")]
    OutOfRange,
    /// A negative price or quantity.
    #[error("a negative price or quantity")]
    Negative,
}

/// The exact key of a price: the value in units of 10^-18 (`"43250.12"` gives
/// 43_250_120_000_000_000_000_000). Numerically equal texts (`"1.5"`, `"1.50"`) give the
/// same key. `price` must be a validated [`Decimal`].
pub fn price_key(price: Decimal<'_>) -> Result<i128, LevelError> {
    let text = price.as_str().as_bytes();
    if price.is_negative() {
        return Err(LevelError::Negative);
    }
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let (int, frac) = match digits.iter().position(|&b| b == b'.') {
        Some(dot) => (&digits[..dot], &digits[dot + 1..]),
        None => (digits, &digits[..0]),
    };
    let int = &int[int.iter().position(|&b| b != b'0').unwrap_or(int.len())..];
    let frac = &frac[..frac.iter().rposition(|&b| b != b'0').map_or(0, |p| p + 1)];
    if int.len() > MAX_INT_DIGITS || frac.len() > KEY_SCALE as usize {
        return Err(LevelError::OutOfRange);
    }
    // Up to 19 integer digits fit a u64 (and 18 fraction digits always do): two u64 sums
    // and one scaling instead of an i128 multiplication per digit.
    if int.len() <= 19 {
        let int_part = int.iter().fold(0u64, |v, &b| v * 10 + u64::from(b - b'0'));
        let frac_part = frac.iter().fold(0u64, |v, &b| v * 10 + u64::from(b - b'0'));
        return Ok(i128::from(int_part) * POW10[KEY_SCALE as usize]
            + i128::from(frac_part) * POW10[KEY_SCALE as usize - frac.len()]);
    }
    let mut key: i128 = 0;
    for &b in int.iter().chain(frac) {
        key = key * 10 + i128::from(b - b'0');
    }
    for _ in frac.len()..KEY_SCALE as usize {
        key *= 10;
    }
    Ok(key)
}

/// Powers of ten up to 10^18.
const POW10: [i128; 19] = {
    let mut t = [1i128; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// A decimal's text stored inline.
#[derive(Clone, Copy)]
struct Text {
    len: u8,
    bytes: [u8; MAX_TEXT],
}

impl Text {
    fn new(s: &str) -> Result<Text, LevelError> {
        if s.len() > MAX_TEXT {
            return Err(LevelError::TooLong);
        }
        let mut bytes = [0u8; MAX_TEXT];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Ok(Text {
            len: s.len() as u8,
            bytes,
        })
    }

    fn decimal(&self) -> Decimal<'_> {
        // Copied from a validated Decimal, byte for byte (ASCII only).
        let s = std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("0");
        Decimal::from_validated(s)
    }
}

/// One stored level: its rank (the key, negated on the ask side so that better is always
/// larger) and its texts.
#[derive(Clone, Copy)]
struct Slot {
    rank: i128,
    price: Text,
    qty: Text,
}

/// Which way a side is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideKind {
    /// Bids: the highest price is the best.
    Bids,
    /// Asks: the lowest price is the best.
    Asks,
}

/// What [`Side::set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new level.
    Inserted,
    /// An existing level's quantity (and price text) replaced.
    Updated,
    /// A level removed (quantity zero).
    Removed,
    /// Quantity zero for a price the side does not hold: nothing to do (Binance: "can happen
    /// and is normal").
    Absent,
    /// A new level worse than all others while the side is full: not kept.
    Dropped,
}

/// One side of a book; see the [module docs](self).
#[derive(Clone)]
pub struct Side {
    kind: SideKind,
    levels: VecDeque<Slot>,
    max_levels: usize,
    dropped: u64,
    /// The worst rank at which the side is exact: levels ranked lower may be missing.
    /// `i128::MIN` when every level is known.
    floor: i128,
}

impl fmt::Debug for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Side")
            .field("kind", &self.kind)
            .field("len", &self.levels.len())
            .field("best", &self.best())
            .finish()
    }
}

impl Side {
    /// An empty side that keeps at most `max_levels` levels (at least 1).
    pub fn new(kind: SideKind, max_levels: usize) -> Side {
        Side {
            kind,
            levels: VecDeque::new(),
            max_levels: max_levels.max(1),
            dropped: 0,
            floor: i128::MIN,
        }
    }

    /// Levels held.
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// True when the side holds no level.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// The most levels this side keeps.
    pub fn max_levels(&self) -> usize {
        self.max_levels
    }

    /// Levels not kept or pushed out because the side was full, over its lifetime.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Levels the storage holds without growing.
    pub fn capacity(&self) -> usize {
        self.levels.capacity()
    }

    /// Makes room for `n` levels in all (never beyond `max_levels`), so that a book that
    /// stays around that size never allocates.
    pub fn reserve_total(&mut self, n: usize) {
        let n = n.min(self.max_levels);
        if n > self.levels.len() {
            self.levels.reserve(n - self.levels.len());
        }
    }

    /// Removes every level and forgets the boundary (an empty side is exact); keeps the
    /// storage.
    pub fn clear(&mut self) {
        self.levels.clear();
        self.floor = i128::MIN;
    }

    /// Marks the worst level held as the boundary of what the side knows: a snapshot cut
    /// short at its limit says nothing about the levels below its last one. An empty side
    /// keeps no boundary.
    pub fn bound_at_worst(&mut self) {
        if let Some(worst) = self.levels.front() {
            self.floor = self.floor.max(worst.rank);
        }
    }

    /// The boundary price's exact key (see [`price_key`]): the side is exact at this price
    /// and every better one. `None` when every level is known.
    pub fn boundary_key(&self) -> Option<i128> {
        (self.floor != i128::MIN).then(|| self.key_of(self.floor))
    }

    /// The levels the side is sure of, from the best down to the boundary (see the
    /// [module docs](self)): no level is missing between them.
    pub fn known(&self) -> impl ExactSizeIterator<Item = Level<'_>> + '_ {
        let first = self.levels.partition_point(|s| s.rank < self.floor);
        self.levels.range(first..).rev().map(Slot::level)
    }

    /// How many levels [`Side::known`] yields.
    pub fn known_len(&self) -> usize {
        self.levels.len() - self.levels.partition_point(|s| s.rank < self.floor)
    }

    /// The best level when the side is sure of it (see [`Side::known`]).
    pub fn known_best(&self) -> Option<Level<'_>> {
        self.levels
            .back()
            .filter(|s| s.rank >= self.floor)
            .map(Slot::level)
    }

    /// The exact key of the best price when the side is sure of it.
    pub fn known_best_key(&self) -> Option<i128> {
        self.levels
            .back()
            .filter(|s| s.rank >= self.floor)
            .map(|s| self.key_of(s.rank))
    }

    /// The best level.
    pub fn best(&self) -> Option<Level<'_>> {
        self.levels.back().map(Slot::level)
    }

    /// The levels from the best to the worst.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Level<'_>> + DoubleEndedIterator + '_ {
        self.levels.iter().rev().map(Slot::level)
    }

    /// The exact key of the best price (see [`price_key`]).
    pub fn best_key(&self) -> Option<i128> {
        self.levels.back().map(|s| self.key_of(s.rank))
    }

    fn key_of(&self, rank: i128) -> i128 {
        match self.kind {
            SideKind::Bids => rank,
            SideKind::Asks => -rank,
        }
    }

    /// Sets the quantity of the level at `price` (absolute, as Binance sends it): zero
    /// removes the level, anything else inserts or replaces it. Never allocates unless the
    /// side grows beyond its storage.
    pub fn set(&mut self, price: Decimal<'_>, qty: Decimal<'_>) -> Result<Change, LevelError> {
        let key = price_key(price)?;
        let rank = self.key_of(key);
        let found = self.find(rank);
        if qty.is_zero() {
            return Ok(match found {
                Ok(i) => {
                    self.levels.remove(i);
                    Change::Removed
                }
                Err(_) => Change::Absent,
            });
        }
        if qty.is_negative() {
            return Err(LevelError::Negative);
        }
        let qty = Text::new(qty.as_str())?;
        let price = Text::new(price.as_str())?;
        match found {
            Ok(i) => {
                let slot = &mut self.levels[i];
                slot.price = price;
                slot.qty = qty;
                Ok(Change::Updated)
            }
            Err(i) => {
                let slot = Slot { rank, price, qty };
                if self.levels.len() < self.max_levels {
                    self.levels.insert(i, slot);
                    Ok(Change::Inserted)
                } else if i == 0 {
                    // Not kept: the side no longer knows this price.
                    self.floor = self.floor.max(rank + 1);
                    self.dropped += 1;
                    Ok(Change::Dropped)
                } else {
                    // Full: the worst level makes room for a better one, and the side no
                    // longer knows its price.
                    if let Some(worst) = self.levels.pop_front() {
                        self.floor = self.floor.max(worst.rank + 1);
                    }
                    self.levels.insert(i - 1, slot);
                    self.dropped += 1;
                    Ok(Change::Inserted)
                }
            }
        }
    }
}

impl Side {
    /// Where the level of `rank` is (`Ok`) or would go (`Err`). Most changes are near the
    /// top: the search gallops from the best level down (1, 2, 4, ... levels) and then
    /// bisects only the span it found, which stays in cache even in a deep book.
    fn find(&self, rank: i128) -> Result<usize, usize> {
        let len = self.levels.len();
        let mut hi = len; // levels[hi..] all rank above `rank`
        let mut step = 1;
        loop {
            let probe = hi.saturating_sub(step);
            if hi == 0 {
                return Err(0);
            }
            let r = self.levels[probe].rank;
            if r == rank {
                return Ok(probe);
            }
            if r < rank {
                // The place is within probe+1..hi.
                return self.bisect(probe + 1, hi, rank);
            }
            hi = probe;
            step *= 2;
        }
    }

    /// Binary search for `rank` within `levels[lo..hi]`.
    fn bisect(&self, mut lo: usize, mut hi: usize, rank: i128) -> Result<usize, usize> {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.levels[mid].rank.cmp(&rank) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }
}

impl Slot {
    fn level(&self) -> Level<'_> {
        Level {
            price: self.price.decimal(),
            qty: self.qty.decimal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn d(s: &str) -> Decimal<'_> {
        Decimal::parse(s).unwrap()
    }

    fn texts(side: &Side) -> Vec<(String, String)> {
        side.iter()
            .map(|l| (l.price.as_str().to_owned(), l.qty.as_str().to_owned()))
            .collect()
    }

    #[test]
    fn keys_are_exact() {
        assert_eq!(price_key(d("43250.12")), Ok(43_250_120_000_000_000_000_000));
        assert_eq!(price_key(d("43250.12000000")), price_key(d("43250.12")));
        assert_eq!(price_key(d("0043250.120")), price_key(d("43250.12")));
        assert_eq!(price_key(d("0")), Ok(0));
        assert_eq!(price_key(d("0.000000000000000001")), Ok(1));
        assert_eq!(price_key(d("-0.00")), Ok(0));
        assert_eq!(
            price_key(d("99999999999999999999.999999999999999999")),
            Ok(10i128.pow(38) - 1)
        );
        assert_eq!(
            price_key(d("100000000000000000000")),
            Err(LevelError::OutOfRange)
        );
        assert_eq!(
            price_key(d("0.0000000000000000001")),
            Err(LevelError::OutOfRange)
        );
        // Extra zeros beyond 18 digits are fine.
        assert_eq!(price_key(d("1.0000000000000000000000")), Ok(10i128.pow(18)));
        assert_eq!(price_key(d("-1")), Err(LevelError::Negative));
        // Agrees with DecimalValue on what both accept.
        for s in ["1", "0.1", "123.456", "9.99", "10", "0.00000001"] {
            let v = d(s).value().unwrap().rescale(KEY_SCALE).unwrap();
            assert_eq!(price_key(d(s)), Ok(v), "{s}");
        }
    }

    #[test]
    fn bids_and_asks_keep_their_order() {
        let mut bids = Side::new(SideKind::Bids, 10);
        let mut asks = Side::new(SideKind::Asks, 10);
        for p in ["10.5", "9", "11", "10.25"] {
            assert_eq!(bids.set(d(p), d("1")), Ok(Change::Inserted));
            assert_eq!(asks.set(d(p), d("2")), Ok(Change::Inserted));
        }
        let prices =
            |s: &Side| -> Vec<String> { s.iter().map(|l| l.price.as_str().to_owned()).collect() };
        assert_eq!(prices(&bids), ["11", "10.5", "10.25", "9"]);
        assert_eq!(prices(&asks), ["9", "10.25", "10.5", "11"]);
        assert_eq!(bids.best().unwrap().price.as_str(), "11");
        assert_eq!(asks.best_key(), Some(9 * 10i128.pow(18)));
        // Same price written differently: one level, the text as last written.
        assert_eq!(bids.set(d("10.50"), d("3.0")), Ok(Change::Updated));
        assert_eq!(bids.len(), 4);
        assert_eq!(texts(&bids)[1], ("10.50".to_owned(), "3.0".to_owned()));
        // Zero removes; zero for an absent price is harmless.
        assert_eq!(bids.set(d("11"), d("0.00000000")), Ok(Change::Removed));
        assert_eq!(bids.set(d("11"), d("0")), Ok(Change::Absent));
        assert_eq!(prices(&bids), ["10.50", "10.25", "9"]);
        assert_eq!(bids.set(d("-1"), d("1")), Err(LevelError::Negative));
        assert_eq!(bids.set(d("1"), d("-1")), Err(LevelError::Negative));
        let long = "1.".to_owned() + &"0".repeat(40);
        assert_eq!(bids.set(d("1"), d(&long)), Err(LevelError::TooLong));
        assert_eq!(bids.len(), 3, "a refused level changes nothing");
        bids.clear();
        assert!(bids.is_empty() && bids.best().is_none());
    }

    #[test]
    fn a_full_side_keeps_the_best_levels() {
        let mut bids = Side::new(SideKind::Bids, 3);
        for p in ["1", "2", "3"] {
            bids.set(d(p), d("1")).unwrap();
        }
        // Worse than all while full: not kept.
        assert_eq!(bids.set(d("0.5"), d("1")), Ok(Change::Dropped));
        // Better than the worst: the worst goes.
        assert_eq!(bids.set(d("2.5"), d("1")), Ok(Change::Inserted));
        assert_eq!(bids.set(d("4"), d("1")), Ok(Change::Inserted));
        let prices: Vec<&str> = bids.iter().map(|l| l.price.as_str()).collect();
        assert_eq!(prices, ["4", "3", "2.5"]);
        assert_eq!(bids.dropped(), 3);
        assert_eq!(bids.len(), bids.max_levels());
    }

    /// A snapshot cut short at its limit: after removals, levels a diff added below its
    /// deepest price are held but not shown, since unchanged levels between may be missing.
    #[test]
    fn known_levels_stop_at_the_snapshot_boundary() {
        let mut bids = Side::new(SideKind::Bids, 100);
        for p in ["10", "9", "8"] {
            bids.set(d(p), d("1")).unwrap();
        }
        bids.bound_at_worst();
        assert_eq!(bids.boundary_key(), Some(8 * 10i128.pow(18)));
        // A diff adds a level below the boundary and removes the two best.
        bids.set(d("5"), d("2")).unwrap();
        bids.set(d("10"), d("0")).unwrap();
        bids.set(d("9"), d("0")).unwrap();
        let prices =
            |s: &Side| -> Vec<String> { s.known().map(|l| l.price.as_str().to_owned()).collect() };
        assert_eq!(prices(&bids), ["8"]);
        assert_eq!(bids.known_len(), 1);
        assert_eq!(bids.len(), 2);
        // Removing the boundary level leaves nothing known; the boundary stays.
        bids.set(d("8"), d("0")).unwrap();
        assert_eq!(prices(&bids), Vec::<String>::new());
        assert_eq!(bids.known_best(), None);
        assert_eq!(bids.best().unwrap().price.as_str(), "5");
        // A level at or better than the boundary is known again.
        bids.set(d("8.5"), d("1")).unwrap();
        bids.set(d("8"), d("3")).unwrap();
        assert_eq!(prices(&bids), ["8.5", "8"]);
        assert_eq!(bids.known_best_key(), Some(85 * 10i128.pow(17)));

        // Asks: the boundary is the highest snapshot price.
        let mut asks = Side::new(SideKind::Asks, 100);
        for p in ["11", "12"] {
            asks.set(d(p), d("1")).unwrap();
        }
        asks.bound_at_worst();
        asks.set(d("13"), d("1")).unwrap();
        asks.set(d("11"), d("0")).unwrap();
        assert_eq!(prices(&asks), ["12"]);
        assert_eq!(asks.boundary_key(), Some(12 * 10i128.pow(18)));
        asks.clear();
        assert_eq!(asks.boundary_key(), None);
    }

    /// A full side forgets the levels it pushes out or does not keep: the boundary moves
    /// to just better than them.
    #[test]
    fn a_full_side_knows_only_down_to_what_it_kept() {
        let mut bids = Side::new(SideKind::Bids, 3);
        for p in ["1", "2", "3"] {
            bids.set(d(p), d("1")).unwrap();
        }
        assert_eq!(bids.boundary_key(), None);
        assert_eq!(bids.set(d("4"), d("1")), Ok(Change::Inserted)); // pushes out 1
        bids.set(d("4"), d("0")).unwrap();
        bids.set(d("3"), d("0")).unwrap();
        // 1 may still be on the exchange, so 2 is known but nothing below it.
        bids.set(d("0.5"), d("1")).unwrap();
        let prices: Vec<&str> = bids.known().map(|l| l.price.as_str()).collect();
        assert_eq!(prices, ["2"]);
        assert_eq!(bids.boundary_key(), Some(10i128.pow(18) + 1));
        // A level worse than all while full is not kept: known only above it.
        let mut asks = Side::new(SideKind::Asks, 2);
        asks.set(d("1"), d("1")).unwrap();
        asks.set(d("2"), d("1")).unwrap();
        assert_eq!(asks.set(d("3"), d("1")), Ok(Change::Dropped));
        asks.set(d("2"), d("0")).unwrap();
        asks.set(d("4"), d("1")).unwrap();
        let prices: Vec<&str> = asks.known().map(|l| l.price.as_str()).collect();
        assert_eq!(prices, ["1"]);
    }

    /// Random updates against a `BTreeMap` model: same levels, same order, same texts; with
    /// room for all, and full (the worst level pushed out, the ring wrapping around).
    #[test]
    fn agrees_with_a_sorted_map() {
        let mut rng = crate::backoff::XorShift64::new(7);
        for (kind, cap) in [
            (SideKind::Bids, 1000),
            (SideKind::Asks, 1000),
            (SideKind::Bids, 50),
            (SideKind::Asks, 50),
        ] {
            let mut side = Side::new(kind, cap);
            let mut model: BTreeMap<i128, (String, String)> = BTreeMap::new();
            for _ in 0..20_000 {
                let cents = rng.range(1, 300);
                let price = format!("{}.{:02}", 100 + cents / 100, cents % 100);
                let qty = if rng.range(0, 3) == 0 {
                    "0.000".to_owned()
                } else {
                    format!("{}.{}", rng.range(0, 9), rng.range(1, 999))
                };
                side.set(d(&price), d(&qty)).unwrap();
                let key = price_key(d(&price)).unwrap();
                if d(&qty).is_zero() {
                    model.remove(&key);
                } else {
                    model.insert(key, (price, qty));
                    if model.len() > cap {
                        // The worst goes: the lowest bid, the highest ask.
                        let worst = match kind {
                            SideKind::Bids => *model.keys().next().unwrap(),
                            SideKind::Asks => *model.keys().next_back().unwrap(),
                        };
                        model.remove(&worst);
                    }
                }
                assert_eq!(side.len(), model.len());
            }
            let want: Vec<(String, String)> = match kind {
                SideKind::Bids => model.values().rev().cloned().collect(),
                SideKind::Asks => model.values().cloned().collect(),
            };
            assert_eq!(texts(&side), want, "{kind:?} {cap}");
        }
    }
}
