//! The mock's order books: per symbol, a market whose every diff depth event is a function of
//! the symbol and the event's sequence number ([`depth_diff`]), and the book those events
//! build ([`MockBook`]), which the REST snapshot serves and tests compare clients' books with.
//!
//! Event number `n` (from 1) carries the update ids `U = `[`final_update_id`]`(n - 1) + 1` to
//! `u = `[`final_update_id`]`(n)`: contiguous, one or three ids per event. The book before
//! any event has every one of [`PRICE_POINTS`] prices on both sides; each event sets one to
//! three levels per side (a third of them to quantity 0, removing the level). Bids are below
//! the symbol's mid price and asks above it, so the book never crosses. Prices and
//! quantities are written with 8 decimals, as Binance writes them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// `lastUpdateId` of every symbol's book before its first event.
pub const BASE_UPDATE_ID: u64 = 1_000_000_000;

/// Prices per side: the book never holds more levels than this.
pub const PRICE_POINTS: u64 = 40;

/// The tick: 0.01 in units of 1e-8.
const TICK_E8: u64 = 1_000_000;

/// The final update id `u` of event number `seq` (and the book's id after it; `seq` 0 is the
/// book before any event).
pub fn final_update_id(seq: u64) -> u64 {
    BASE_UPDATE_ID + 2 * seq + (seq & 1)
}

/// The event number whose final update id is `u`, if one is.
pub fn seq_of_update_id(u: u64) -> Option<u64> {
    let n = u.checked_sub(BASE_UPDATE_ID)? / 2;
    (final_update_id(n) == u).then_some(n)
}

/// `v` units of 1e-8 as Binance writes a price or quantity: `"43250.12000000"`.
pub fn e8(v: u64) -> String {
    format!("{}.{:08}", v / 100_000_000, v % 100_000_000)
}

/// One diff depth event of the mock's market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthDiff {
    /// `U`
    pub first_update_id: u64,
    /// `u`
    pub final_update_id: u64,
    /// Bid levels set, as (price, quantity) in units of 1e-8; quantity 0 removes.
    pub bids: Vec<(u64, u64)>,
    /// Ask levels set, likewise.
    pub asks: Vec<(u64, u64)>,
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn mix(a: u64, b: u64) -> u64 {
    splitmix(a ^ splitmix(b))
}

/// The symbol's seed (FNV-1a of its uppercase name): different symbols, different markets.
fn seed(symbol: &str) -> u64 {
    symbol
        .to_uppercase()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
}

fn mid_e8(seed: u64) -> u64 {
    (1_000 + seed % 60_000) * 100_000_000
}

fn bid_price(seed: u64, i: u64) -> u64 {
    mid_e8(seed) - (i + 1) * TICK_E8
}

fn ask_price(seed: u64, i: u64) -> u64 {
    mid_e8(seed) + (i + 1) * TICK_E8
}

/// A quantity from 0.01 to 50.00.
fn qty(h: u64) -> u64 {
    TICK_E8 * (1 + h % 5000)
}

/// Diff depth event number `seq` (from 1) of `symbol`.
pub fn depth_diff(symbol: &str, seq: u64) -> DepthDiff {
    let seq = seq.max(1);
    let s = seed(symbol);
    let h = mix(s, seq);
    let (mut nb, na) = (h % 4, (h >> 8) % 4);
    if nb + na == 0 {
        nb = 1;
    }
    // Seven is prime to PRICE_POINTS: the up to four indices of a side differ.
    let side = |n: u64, start: u64, salt: u64, price: &dyn Fn(u64) -> u64| -> Vec<(u64, u64)> {
        (0..n)
            .map(|j| {
                let hj = mix(h, salt + j);
                let q = if hj.is_multiple_of(3) {
                    0
                } else {
                    qty(hj >> 8)
                };
                (price((start + j * 7) % PRICE_POINTS), q)
            })
            .collect()
    };
    DepthDiff {
        first_update_id: final_update_id(seq - 1) + 1,
        final_update_id: final_update_id(seq),
        bids: side(nb, h >> 16, 1, &|i| bid_price(s, i)),
        asks: side(na, h >> 32, 101, &|i| ask_price(s, i)),
    }
}

/// Appends `[["p","q"],...]`.
fn levels_json(out: &mut String, levels: impl Iterator<Item = (u64, u64)>) {
    out.push('[');
    for (i, (p, q)) in levels.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, r#"["{}","{}"]"#, e8(p), e8(q));
    }
    out.push(']');
}

/// The `depthUpdate` payload of event `seq` of `symbol` (uppercase), event time `time`.
pub(crate) fn depth_update_json(symbol: &str, seq: u64, time: u64, out: &mut String) {
    let d = depth_diff(symbol, seq);
    let _ = write!(
        out,
        r#"{{"e":"depthUpdate","E":{time},"s":"{symbol}","U":{},"u":{},"b":"#,
        d.first_update_id, d.final_update_id
    );
    levels_json(out, d.bids.into_iter());
    out.push_str(r#","a":"#);
    levels_json(out, d.asks.into_iter());
    out.push('}');
}

/// One symbol's book as the mock's market builds it; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockBook {
    symbol: String,
    seq: u64,
    /// Price -> quantity, units of 1e-8.
    bids: BTreeMap<u64, u64>,
    asks: BTreeMap<u64, u64>,
}

impl MockBook {
    /// `symbol`'s book before its first event (update id [`BASE_UPDATE_ID`]).
    pub fn new(symbol: &str) -> MockBook {
        let s = seed(symbol);
        MockBook {
            symbol: symbol.to_uppercase(),
            seq: 0,
            bids: (0..PRICE_POINTS)
                .map(|i| (bid_price(s, i), qty(mix(s, 1_000_000 + i))))
                .collect(),
            asks: (0..PRICE_POINTS)
                .map(|i| (ask_price(s, i), qty(mix(s, 2_000_000 + i))))
                .collect(),
        }
    }

    /// The book after event `seq`.
    pub fn at_seq(symbol: &str, seq: u64) -> MockBook {
        let mut b = MockBook::new(symbol);
        b.advance_to(seq);
        b
    }

    /// The book at update id `u`, if an event ends there.
    pub fn at_update_id(symbol: &str, u: u64) -> Option<MockBook> {
        seq_of_update_id(u).map(|n| MockBook::at_seq(symbol, n))
    }

    /// The symbol, uppercase.
    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    /// The number of the last event applied (0 before any).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The update id the book is at.
    pub fn update_id(&self) -> u64 {
        final_update_id(self.seq)
    }

    /// Applies the events after the current one up to `seq`; an earlier `seq` rebuilds the
    /// book from the start.
    pub fn advance_to(&mut self, seq: u64) {
        if seq < self.seq {
            *self = MockBook::new(&self.symbol);
        }
        while self.seq < seq {
            self.seq += 1;
            let d = depth_diff(&self.symbol, self.seq);
            for (side, levels) in [(&mut self.bids, d.bids), (&mut self.asks, d.asks)] {
                for (p, q) in levels {
                    if q == 0 {
                        side.remove(&p);
                    } else {
                        side.insert(p, q);
                    }
                }
            }
        }
    }

    /// The best `n` bids (highest first) as Binance writes them.
    pub fn bids(&self, n: usize) -> Vec<(String, String)> {
        self.bids
            .iter()
            .rev()
            .take(n)
            .map(|(&p, &q)| (e8(p), e8(q)))
            .collect()
    }

    /// The best `n` asks (lowest first).
    pub fn asks(&self, n: usize) -> Vec<(String, String)> {
        self.asks
            .iter()
            .take(n)
            .map(|(&p, &q)| (e8(p), e8(q)))
            .collect()
    }

    /// Levels per side (bids, asks).
    pub fn depth(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// The REST snapshot body for `limit` levels per side:
    /// `{"lastUpdateId":N,"bids":[...],"asks":[...]}`.
    pub fn snapshot_json(&self, limit: usize, out: &mut String) {
        let _ = write!(out, r#"{{"lastUpdateId":{},"bids":"#, self.update_id());
        levels_json(
            out,
            self.bids.iter().rev().take(limit).map(|(&p, &q)| (p, q)),
        );
        out.push_str(r#","asks":"#);
        levels_json(out, self.asks.iter().take(limit).map(|(&p, &q)| (p, q)));
        out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_ids_are_contiguous() {
        let mut prev = BASE_UPDATE_ID;
        for n in 1..1000 {
            let d = depth_diff("BTCUSDT", n);
            assert_eq!(d.first_update_id, prev + 1, "#{n}");
            assert!(d.final_update_id >= d.first_update_id);
            assert_eq!(seq_of_update_id(d.final_update_id), Some(n));
            prev = d.final_update_id;
        }
        assert_eq!(seq_of_update_id(BASE_UPDATE_ID), Some(0));
        assert_eq!(seq_of_update_id(BASE_UPDATE_ID + 2), None, "inside event 1");
        assert_eq!(seq_of_update_id(5), None);
    }

    #[test]
    fn books_follow_their_events_and_never_cross() {
        let mut b = MockBook::new("btcusdt");
        assert_eq!((b.depth(), b.update_id()), ((40, 40), BASE_UPDATE_ID));
        let mut removed = 0;
        for n in 1..=2000 {
            let d = depth_diff("BTCUSDT", n);
            removed += d.bids.iter().chain(&d.asks).filter(|l| l.1 == 0).count();
            assert!(!d.bids.is_empty() || !d.asks.is_empty());
            b.advance_to(n);
            let (bid, ask) = (&b.bids(1)[0].0, &b.asks(1)[0].0);
            let v = |s: &str| s.replace('.', "").parse::<u64>().unwrap();
            assert!(v(bid) < v(ask), "#{n}: {bid} >= {ask}");
        }
        assert!(removed > 500, "{removed} removals");
        assert_eq!(b, MockBook::at_seq("BTCUSDT", 2000));
        let (nb, na) = b.depth();
        assert!(
            (15..=40).contains(&nb) && (15..=40).contains(&na),
            "{nb} {na}"
        );
        // Another symbol, another market.
        assert_ne!(MockBook::at_seq("ETHUSDT", 10).bids(1), b.bids(1));
        // Going back rebuilds.
        b.advance_to(3);
        assert_eq!(b, MockBook::at_seq("BTCUSDT", 3));
    }

    #[test]
    fn json() {
        let b = MockBook::at_seq("BTCUSDT", 5);
        let mut s = String::new();
        b.snapshot_json(2, &mut s);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["lastUpdateId"], final_update_id(5));
        assert_eq!(v["bids"][0][0], b.bids(1)[0].0.as_str());
        assert_eq!(v["asks"].as_array().unwrap().len(), 2);
        let mut s = String::new();
        depth_update_json("BTCUSDT", 7, 1_700_000_000_000, &mut s);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["U"], final_update_id(6) + 1);
        assert_eq!(v["u"], final_update_id(7));
        assert_eq!(e8(4_325_012_000_000), "43250.12000000");
    }
}
