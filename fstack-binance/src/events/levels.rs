//! Depth levels: a JSON array of `["price","qty"]` pairs, validated once at decode time and
//! kept as the raw slice of the input, iterated lazily without allocation.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::scan;
use crate::decimal::Decimal;

/// One price level `[price, quantity]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level<'a> {
    /// Price.
    pub price: Decimal<'a>,
    /// Quantity.
    pub qty: Decimal<'a>,
}

/// A JSON array of `["price","qty"]` pairs, validated at decode time and kept as the raw
/// slice of the input: no allocation; [`Levels::iter`] walks it lazily.
#[derive(Clone, Copy)]
pub struct Levels<'a> {
    raw: &'a str,
    len: usize,
}

impl<'a> Levels<'a> {
    /// Validates a JSON array of `["decimal","decimal"]` pairs.
    pub fn parse(raw: &'a str) -> Result<Self, &'static str> {
        let raw = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        let (levels, end) = Self::parse_prefix(raw)?;
        if end != raw.len() {
            return Err("trailing characters after depth levels");
        }
        Ok(levels)
    }

    /// Parses the array at the start of `text` (no leading whitespace) and returns it with
    /// the offset just past its closing `]`.
    pub(super) fn parse_prefix(text: &'a str) -> Result<(Self, usize), &'static str> {
        let b = text.as_bytes();
        if b.first() != Some(&b'[') {
            return Err("depth levels must be an array");
        }
        let mut pos = 1;
        let mut len = 0;
        while let Some(_level) = next_level(text, &mut pos, len == 0)? {
            len += 1;
        }
        Ok((
            Levels {
                raw: &text[..pos],
                len,
            },
            pos,
        ))
    }

    /// Number of levels.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there is no level.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first level (the best one in Binance's order), if any.
    pub fn first(&self) -> Option<Level<'a>> {
        self.iter().next()
    }

    /// The raw JSON array as received, e.g. `[["0.0024","10"]]`.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Iterates the levels in order.
    pub fn iter(&self) -> LevelIter<'a> {
        let b = self.raw.as_bytes();
        LevelIter {
            raw: self.raw,
            pos: skip_ws(b, 0) + 1,
            remaining: self.len,
            first: true,
        }
    }
}

impl std::fmt::Debug for Levels<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Levels<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<'a> IntoIterator for Levels<'a> {
    type Item = Level<'a>;
    type IntoIter = LevelIter<'a>;
    fn into_iter(self) -> LevelIter<'a> {
        self.iter()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Levels<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &'de RawValue = Deserialize::deserialize(d)?;
        Levels::parse(raw.get()).map_err(serde::de::Error::custom)
    }
}

/// Lazy iterator over [`Levels`]; no allocation.
#[derive(Debug, Clone)]
pub struct LevelIter<'a> {
    raw: &'a str,
    pos: usize,
    remaining: usize,
    first: bool,
}

impl<'a> Iterator for LevelIter<'a> {
    type Item = Level<'a>;
    fn next(&mut self) -> Option<Level<'a>> {
        if self.remaining == 0 {
            return None;
        }
        // Validated at decode time: an error here cannot happen; end the iteration if it did.
        let level = next_level(self.raw, &mut self.pos, self.first)
            .ok()
            .flatten()?;
        self.first = false;
        self.remaining -= 1;
        Some(level)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for LevelIter<'_> {}

/// Skips JSON white space from `pos`; returns the first other offset (or the end).
pub(super) fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && matches!(b[pos], b' ' | b'\t' | b'\n' | b'\r') {
        pos += 1;
    }
    pos
}

fn expect(b: &[u8], pos: &mut usize, c: u8, what: &'static str) -> Result<(), &'static str> {
    *pos = skip_ws(b, *pos);
    if b.get(*pos) == Some(&c) {
        *pos += 1;
        Ok(())
    } else {
        Err(what)
    }
}

fn decimal_string<'a>(raw: &'a str, pos: &mut usize) -> Result<Decimal<'a>, &'static str> {
    let b = raw.as_bytes();
    expect(b, pos, b'"', "depth level entries must be strings")?;
    let start = *pos;
    let len = b[start..]
        .iter()
        .position(|&c| c == b'"')
        .ok_or("unterminated string in depth levels")?;
    *pos = start + len + 1;
    Decimal::parse(&raw[start..start + len]).map_err(|_| "invalid decimal in depth levels")
}

/// Parses the next `["p","q"]` after the opening `[` of the array (pos points after it or
/// after the previous level). Returns `Ok(None)` at the closing `]` (pos then points past it).
fn next_level<'a>(
    raw: &'a str,
    pos: &mut usize,
    first: bool,
) -> Result<Option<Level<'a>>, &'static str> {
    let b = raw.as_bytes();
    // Binance's compact layout, `["p","q"]` after a `,` (none before the first), checked as
    // constant bytes around the two decimals; anything else takes the general way below,
    // which accepts the same levels and names what is wrong.
    let at = if first { *pos } else { *pos + 1 };
    if (first || b.get(*pos) == Some(&b',')) && b.get(at..at + 2) == Some(b"[\"") {
        if let Some((level, end)) = compact_level(raw, at + 2) {
            *pos = end;
            return Ok(Some(level));
        }
    }
    *pos = skip_ws(b, *pos);
    match b.get(*pos) {
        Some(b']') => {
            *pos += 1;
            return Ok(None);
        }
        Some(b',') if !first => *pos += 1,
        _ if first => {}
        _ => return Err("expected ',' or ']' in depth levels"),
    }
    expect(
        b,
        pos,
        b'[',
        "each depth level must be a [price, quantity] array",
    )?;
    let price = decimal_string(raw, pos)?;
    expect(b, pos, b',', "depth level must have a quantity")?;
    let qty = decimal_string(raw, pos)?;
    expect(b, pos, b']', "depth level must have exactly two entries")?;
    Ok(Some(Level { price, qty }))
}

/// `p","q"]` with `start` just after the opening quote of `p`: the level and the offset past
/// its `]`, if both decimals are valid and the bytes around them are exactly these.
#[inline]
fn compact_level(raw: &str, start: usize) -> Option<(Level<'_>, usize)> {
    let b = raw.as_bytes();
    let p_end = scan::decimal_end(b, start)?;
    if b.get(p_end..p_end + 3)? != b"\",\"" {
        return None;
    }
    let q_end = scan::decimal_end(b, p_end + 3)?;
    if b.get(q_end..q_end + 2)? != b"\"]" {
        return None;
    }
    let level = Level {
        price: Decimal::from_validated(raw.get(start..p_end)?),
        qty: Decimal::from_validated(raw.get(p_end + 3..q_end)?),
    };
    Some((level, q_end + 2))
}
