//! Checks a client's printed books against the mock's: every `{"event":"book",...}` line
//! (as `binance_ticker --book --format json` prints it) must show exactly the best levels of
//! the mock's book for that symbol at that update id, or fewer of them (a client prints only
//! the levels it is sure of), never a wrong one.

use std::collections::BTreeMap;

use crate::book::{seq_of_update_id, MockBook};

/// What [`check_book_lines`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookCheck {
    /// Book lines checked, per symbol.
    pub books: BTreeMap<String, u64>,
    /// `book_resync` lines, per symbol.
    pub resyncs: BTreeMap<String, u64>,
    /// Book lines with fewer levels on a side than the mock's best `levels` (all of them
    /// exact), over all symbols.
    pub short: u64,
}

/// The pairs of a JSON `[["p","q"],...]` array.
fn pairs(v: &serde_json::Value) -> Option<Vec<(String, String)>> {
    v.as_array()?
        .iter()
        .map(|l| {
            let l = l.as_array().filter(|l| l.len() == 2)?;
            Some((l[0].as_str()?.to_owned(), l[1].as_str()?.to_owned()))
        })
        .collect()
}

/// Checks every line of `text`: book lines must equal the mock's best `levels` levels per
/// side (exact strings) at their `update_id`, or the best few of them (counted in
/// [`BookCheck::short`]); `book_resync` lines are counted; anything else
/// is an error. The error names the first line that differs and how.
pub fn check_book_lines(text: &str, levels: usize) -> Result<BookCheck, String> {
    let mut books: BTreeMap<String, MockBook> = BTreeMap::new();
    let mut check = BookCheck::default();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {n}: not JSON ({e}): {line}"))?;
        let symbol = v["symbol"]
            .as_str()
            .ok_or_else(|| format!("line {n}: no symbol: {line}"))?
            .to_owned();
        match v["event"].as_str() {
            Some("book") => {}
            Some("book_resync") => {
                *check.resyncs.entry(symbol).or_default() += 1;
                continue;
            }
            _ => return Err(format!("line {n}: not a book line: {line}")),
        }
        let u = v["update_id"]
            .as_u64()
            .ok_or_else(|| format!("line {n}: no update_id: {line}"))?;
        let seq = seq_of_update_id(u).ok_or_else(|| {
            format!("line {n}: {symbol}: no event of the mock ends at update {u}")
        })?;
        let book = books
            .entry(symbol.clone())
            .or_insert_with(|| MockBook::new(&symbol));
        book.advance_to(seq);
        let mut short = false;
        for (side, want) in [("bids", book.bids(levels)), ("asks", book.asks(levels))] {
            let got = pairs(&v[side]).ok_or_else(|| format!("line {n}: bad {side}: {line}"))?;
            short |= got.len() < want.len();
            if got.len() > want.len() || got[..] != want[..got.len()] {
                return Err(format!(
                    "line {n}: {symbol} at update {u}: {side} differ\n got  {got:?}\n want {want:?}"
                ));
            }
        }
        check.short += u64::from(short);
        *check.books.entry(symbol).or_default() += 1;
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(symbol: &str, seq: u64, levels: usize) -> String {
        let b = MockBook::at_seq(symbol, seq);
        let side = |l: Vec<(String, String)>| {
            let v: Vec<[String; 2]> = l.into_iter().map(|(p, q)| [p, q]).collect();
            serde_json::to_string(&v).unwrap()
        };
        format!(
            r#"{{"event":"book","symbol":"{symbol}","update_id":{},"event_time":1,"bids":{},"asks":{}}}"#,
            b.update_id(),
            side(b.bids(levels)),
            side(b.asks(levels))
        )
    }

    #[test]
    fn exact_books_pass_and_others_fail() {
        let good = [
            line("BTCUSDT", 3, 5),
            line("ETHUSDT", 1, 5),
            r#"{"event":"book_resync","symbol":"BTCUSDT","reason":"gap"}"#.to_owned(),
            line("BTCUSDT", 9, 5),
        ]
        .join("\n");
        let c = check_book_lines(&good, 5).unwrap();
        assert_eq!(c.books.get("BTCUSDT"), Some(&2));
        assert_eq!(c.resyncs.get("BTCUSDT"), Some(&1));
        assert_eq!(c.short, 0);
        // Fewer levels, all exact: passes, counted as short.
        let c = check_book_lines(&line("BTCUSDT", 3, 4), 5).unwrap();
        assert_eq!((c.books.get("BTCUSDT"), c.short), (Some(&1), 1));
        // More levels, a level changed, an update id inside an event.
        assert!(check_book_lines(&line("BTCUSDT", 3, 5), 4).is_err());
        let wrong_deep = line("BTCUSDT", 3, 4).replace("]],\"asks\"", "],[\"1\",\"1\"]],\"asks\"");
        assert!(check_book_lines(&wrong_deep, 5)
            .unwrap_err()
            .contains("differ"));
        let changed = line("BTCUSDT", 3, 5).replacen("\"],[\"", "1\"],[\"", 1);
        let e = check_book_lines(&changed, 5).unwrap_err();
        assert!(e.contains("differ"), "{e}");
        let inside = line("BTCUSDT", 3, 5).replace(
            &crate::final_update_id(3).to_string(),
            &(crate::final_update_id(3) - 1).to_string(),
        );
        assert!(check_book_lines(&inside, 5)
            .unwrap_err()
            .contains("no event"));
        assert!(check_book_lines("{\"event\":\"trade\",\"symbol\":\"X\"}", 5).is_err());
    }
}
