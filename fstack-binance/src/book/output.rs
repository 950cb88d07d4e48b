//! One line per book update and per discarded book, as text or JSON, into a caller-owned
//! reusable `String` (no allocation once it has grown to a line's size); and the summary of
//! a book at exit.
//!
//! JSON (`--format json`), one object per line:
//! ```text
//! {"event":"book","symbol":"BTCUSDT","update_id":1027024,"event_time":1700000000900,"bids":[["43250.11000000","1.40000000"],...],"asks":[["43250.12000000","0.30000000"],...]}
//! {"event":"book_resync","symbol":"BTCUSDT","update_id":1027024,"reason":"gap","detail":"event 1027030..1027032 does not follow update 1027024 (missed 5 update ids)"}
//! ```
//! `update_id` is the id the book is exact at (the applied event's `u`; for a resync, the
//! discarded book's), `event_time` the event's `E` in milliseconds (`event_time_us` is added
//! when the connection uses microseconds); `bids` (highest first) and `asks` (lowest first)
//! hold the best N levels the book is sure of ([`Side::known`]: fewer near the snapshot's
//! depth) as `["price","quantity"]`, the decimal strings exactly as the
//! exchange wrote them. `reason` is one of `gap`, `reconnect`, `invalid_event`,
//! `invalid_level`.
//!
//! Text (`--format text`):
//! ```text
//! BTCUSDT  book 1027024  bid 43250.11 x 1.4  ask 43250.12 x 0.3  spread 0.01  depth 27/31
//! BTCUSDT  book resync at 1027024 (gap): event 1027030..1027032 does not follow update 1027024 (missed 5 update ids)
//! ```
//! Prices drop trailing zeros but keep two decimals, quantities keep two; the best levels and
//! the spread are the known ones (`-` when a side has none), the spread is exact; `depth`
//! counts the levels each side holds.

use std::fmt::Write as _;

use super::driver::BookUpdate;
use super::report::{BookCounters, Resync};
use super::side::Side;
use super::BookSync;
use crate::output::{push_json_str, Format};
use crate::stream::TimeUnit;

/// Formats book lines in one [`Format`] with the best `levels` levels per side (JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookFormatter {
    /// Output format ([`Format::None`] writes nothing).
    pub format: Format,
    /// Levels per side in JSON lines.
    pub levels: usize,
    /// Unit of the events' timestamps.
    pub time_unit: TimeUnit,
}

impl BookFormatter {
    /// A formatter.
    pub fn new(format: Format, levels: usize, time_unit: TimeUnit) -> BookFormatter {
        BookFormatter {
            format,
            levels,
            time_unit,
        }
    }

    /// Appends the line (with `\n`) for a book update; nothing for [`Format::None`].
    pub fn write_book(&self, out: &mut String, u: &BookUpdate<'_>) {
        match self.format {
            Format::Json => {
                out.push_str(r#"{"event":"book","symbol":"#);
                push_json_str(out, u.symbol);
                let _ = write!(
                    out,
                    r#","update_id":{},"event_time":{}"#,
                    u.book.update_id(),
                    self.time_unit.to_millis(u.event_time)
                );
                if self.time_unit == TimeUnit::Microsecond {
                    let _ = write!(out, r#","event_time_us":{}"#, u.event_time);
                }
                out.push_str(r#","bids":"#);
                self.json_side(out, u.book.bids());
                out.push_str(r#","asks":"#);
                self.json_side(out, u.book.asks());
                out.push_str("}\n");
            }
            Format::Text => {
                let book = u.book;
                out.push_str(u.symbol);
                let _ = write!(out, "  book {}", book.update_id());
                text_best(out, "  bid ", book.bids());
                text_best(out, "  ask ", book.asks());
                out.push_str("  spread ");
                match book.spread() {
                    Some(s) => {
                        let _ = write!(out, "{s}");
                    }
                    None => out.push('-'),
                }
                let _ = writeln!(out, "  depth {}/{}", book.bids().len(), book.asks().len());
            }
            Format::None => {}
        }
    }

    /// Appends the line (with `\n`) for a discarded book; nothing for [`Format::None`].
    pub fn write_resync(&self, out: &mut String, symbol: &str, book_id: u64, reason: &Resync) {
        match self.format {
            Format::Json => {
                out.push_str(r#"{"event":"book_resync","symbol":"#);
                push_json_str(out, symbol);
                let _ = write!(
                    out,
                    r#","update_id":{book_id},"reason":"{}","detail":"#,
                    reason.code()
                );
                push_json_str(out, &reason.to_string());
                out.push_str("}\n");
            }
            Format::Text => {
                let _ = writeln!(
                    out,
                    "{symbol}  book resync at {book_id} ({}): {reason}",
                    reason.code()
                );
            }
            Format::None => {}
        }
    }

    fn json_side(&self, out: &mut String, side: &Side) {
        out.push('[');
        for (i, l) in side.known().take(self.levels).enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Validated decimals hold only digits, '-' and '.': nothing to escape.
            out.push_str("[\"");
            out.push_str(l.price.as_str());
            out.push_str("\",\"");
            out.push_str(l.qty.as_str());
            out.push_str("\"]");
        }
        out.push(']');
    }
}

fn text_best(out: &mut String, label: &str, side: &Side) {
    out.push_str(label);
    match side.known_best() {
        Some(l) => {
            out.push_str(l.price.trimmed(2));
            out.push_str(" x ");
            out.push_str(l.qty.trimmed(2));
        }
        None => out.push('-'),
    }
}

/// One line summing up a symbol's book for stderr at exit, e.g.
/// `book BTCUSDT: live at 1027024 (depth 27/31); applied 5230, snapshots 3 (stale 1),
/// gaps 1, resyncs 2, ignored 0, dropped 3, requests 3`; a failed symbol says why.
pub fn summary_line(sync: &BookSync, failure: Option<&str>) -> String {
    let mut s = format!("book {}: ", sync.symbol());
    if let Some(f) = failure {
        let _ = write!(s, "failed: {f}");
        return s;
    }
    let book = sync.book();
    if sync.is_live() {
        let _ = write!(
            s,
            "live at {} (depth {}/{})",
            book.update_id(),
            book.bids().len(),
            book.asks().len()
        );
    } else {
        s.push_str("not in sync");
    }
    let BookCounters {
        applied,
        dropped,
        ignored,
        requests,
        snapshots,
        stale_snapshots,
        gaps,
        resyncs,
        overflows,
        ..
    } = sync.counters();
    let _ = write!(
        s,
        "; applied {applied}, snapshots {snapshots} (stale {stale_snapshots}), gaps {gaps}, \
         resyncs {resyncs}, ignored {ignored}, dropped {dropped}, requests {requests}"
    );
    if overflows > 0 {
        let _ = write!(s, ", buffer overflows {overflows}");
    }
    if book.dropped() > 0 {
        let _ = write!(s, ", levels beyond the cap {}", book.dropped());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::{OrderBook, SyncConfig};
    use crate::events::Levels;

    fn book() -> OrderBook {
        let mut b = OrderBook::new(100);
        b.load_snapshot(
            1027024,
            Levels::parse(r#"[["43250.11000000","1.40000000"],["43250.10000000","2.00000000"]]"#)
                .unwrap(),
            Levels::parse(r#"[["43250.12000000","0.30000000"]]"#).unwrap(),
            0,
        )
        .unwrap();
        b
    }

    #[test]
    fn lines() {
        let b = book();
        let u = BookUpdate {
            symbol: "BTCUSDT",
            event_time: 1_700_000_000_900,
            book: &b,
        };
        let mut out = String::new();
        BookFormatter::new(Format::Json, 1, TimeUnit::Millisecond).write_book(&mut out, &u);
        assert_eq!(
            out,
            r#"{"event":"book","symbol":"BTCUSDT","update_id":1027024,"event_time":1700000000900,"bids":[["43250.11000000","1.40000000"]],"asks":[["43250.12000000","0.30000000"]]}"#.to_owned() + "\n"
        );
        let _: serde_json::Value = serde_json::from_str(&out).unwrap();
        out.clear();
        BookFormatter::new(Format::Text, 10, TimeUnit::Millisecond).write_book(&mut out, &u);
        assert_eq!(
            out,
            "BTCUSDT  book 1027024  bid 43250.11 x 1.40  ask 43250.12 x 0.30  spread 0.01  depth 2/1\n"
        );
        out.clear();
        let us = BookUpdate {
            event_time: 1_700_000_000_900_123,
            ..u
        };
        BookFormatter::new(Format::Json, 0, TimeUnit::Microsecond).write_book(&mut out, &us);
        assert!(
            out.contains(r#""event_time":1700000000900,"event_time_us":1700000000900123,"bids":[],"asks":[]}"#),
            "{out}"
        );
        out.clear();
        BookFormatter::new(Format::None, 10, TimeUnit::Millisecond).write_book(&mut out, &u);
        assert!(out.is_empty());
        let gap = Resync::Gap {
            book_id: 1027024,
            first: 1027030,
            last: 1027032,
        };
        BookFormatter::new(Format::Json, 10, TimeUnit::Millisecond)
            .write_resync(&mut out, "BTCUSDT", 1027024, &gap);
        assert_eq!(
            out,
            r#"{"event":"book_resync","symbol":"BTCUSDT","update_id":1027024,"reason":"gap","detail":"event 1027030..1027032 does not follow update 1027024 (missed 5 update ids)"}"#.to_owned() + "\n"
        );
        out.clear();
        BookFormatter::new(Format::Text, 10, TimeUnit::Millisecond).write_resync(
            &mut out,
            "BTCUSDT",
            7,
            &Resync::Reconnect,
        );
        assert_eq!(
            out,
            "BTCUSDT  book resync at 7 (reconnect): the stream's connection was lost\n"
        );
    }

    #[test]
    fn summaries() {
        let s = BookSync::new("BTCUSDT", SyncConfig::default());
        assert_eq!(
            summary_line(&s, None),
            "book BTCUSDT: not in sync; applied 0, snapshots 0 (stale 0), gaps 0, resyncs 0, \
             ignored 0, dropped 0, requests 0"
        );
        assert_eq!(
            summary_line(&s, Some("HTTP 400 from h: Invalid symbol. (code -1121)")),
            "book BTCUSDT: failed: HTTP 400 from h: Invalid symbol. (code -1121)"
        );
    }
}
