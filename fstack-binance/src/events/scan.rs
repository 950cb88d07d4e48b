//! Byte-level scanning shared by the hand parsers (`fast`) and the depth levels (`levels`):
//! digits are skipped and converted eight at a time (SWAR: eight bytes in one `u64`), and a
//! quoted decimal is found and validated in one pass over a 16-byte window.
//!
//! Why windows: a payload is read field after field, and where a field starts depends on
//! where the previous one ended. Walking a value byte by byte (or word by word) puts every
//! step on that chain of dependent loads; finding the closing quote in one 16-byte word and
//! checking the bytes before it at once keeps the chain to one load and a few operations per
//! field.
//!
//! Everything here works on bytes and returns offsets; callers slice the `&str` only at the
//! ASCII quotes these offsets point at, so no UTF-8 check is repeated. Every read is
//! bounds-checked: a truncated or hostile input ends the scan, it never panics.

/// `b'0'` in every byte.
const ZEROS: u64 = 0x3030_3030_3030_3030;
/// The high bit of every byte.
const HIGH: u64 = 0x8080_8080_8080_8080;
/// The low seven bits of every byte.
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
/// Added to a byte of at most 0x7f, sets its high bit exactly when the byte is 10 or more.
const TEN_UP: u64 = 0x7676_7676_7676_7676;

/// `10^k` for `k` in `0..=8`.
const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// The eight bytes at `i` as a little-endian word (the byte at `i` is the lowest), if there
/// are eight.
#[inline(always)]
fn word(b: &[u8], i: usize) -> Option<u64> {
    b.get(i..)?
        .first_chunk::<8>()
        .map(|c| u64::from_le_bytes(*c))
}

/// The high bit set in every byte of `w` that is not an ASCII digit, clear in every digit.
#[inline(always)]
fn non_digits(w: u64) -> u64 {
    // Digits become 0..=9; adding 0x76 to the low seven bits carries into the high bit from
    // 10 up, and cannot carry into the next byte (0x7f + 0x76 < 0x100). Bytes that had their
    // high bit set (0x80 and up after the XOR) are caught by `x` itself.
    let x = w ^ ZEROS;
    (x | ((x & LOW7) + TEN_UP)) & HIGH
}

/// The offset of the first byte at or after `i` that is not an ASCII digit (`b.len()` if
/// there is none). `i` must be at most `b.len()`.
#[inline]
pub(super) fn skip_digits(b: &[u8], mut i: usize) -> usize {
    while let Some(w) = word(b, i) {
        let m = non_digits(w);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// The value of eight ASCII digits in a word, the most significant in the lowest byte.
#[inline(always)]
fn eight_digits(w: u64) -> u64 {
    // Pairs, then quadruples, then all eight are combined with three multiplications (each
    // partial value stays within its lane, so the wrapping arithmetic is exact).
    let v = w.wrapping_sub(ZEROS);
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    let mask = 0x0000_00ff_0000_00ff;
    let mul1 = 100 + (1_000_000 << 32);
    let mul2 = 1 + (10_000 << 32);
    ((v & mask)
        .wrapping_mul(mul1)
        .wrapping_add(((v >> 16) & mask).wrapping_mul(mul2)))
        >> 32
}

/// A JSON integer at `start` that serde_json reads as a `u64`: at least one digit, no leading
/// zero, no fraction or exponent after it, at most `u64::MAX`. Returns the value and the
/// offset just past the digits.
#[inline]
pub(super) fn uint(b: &[u8], start: usize) -> Option<(u64, usize)> {
    let end = skip_digits(b, start);
    let n = end - start;
    if n == 0 || (n > 1 && b[start] == b'0') || matches!(b.get(end), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    if n > 19 {
        // Only these can overflow: the checked slow way.
        let mut v: u64 = 0;
        for &d in &b[start..end] {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        return Some((v, end));
    }
    let mut v = 0u64;
    let mut i = start;
    while end - i >= 8 {
        // `end - i >= 8` digits follow `i`: the word exists.
        v = v * POW10[8] + eight_digits(word(b, i)?);
        i += 8;
    }
    let k = end - i;
    if k > 0 {
        match word(b, i) {
            // The k digits moved to the least significant end, '0's shifted in before them.
            Some(w) => {
                let digits = (w << ((8 - k) * 8)) | (ZEROS >> (k * 8));
                v = v * POW10[k] + eight_digits(digits);
            }
            None => {
                for &d in &b[i..end] {
                    v = v * 10 + u64::from(d - b'0');
                }
            }
        }
    }
    Some((v, end))
}

/// Validates the decimal that starts at `start` (just after its opening quote) and returns the
/// offset of its closing quote. The rules of [`crate::decimal::Decimal::parse`]: an optional
/// `-`, digits, optionally a `.` and digits; anything else before the quote (escapes, white
/// space, exponents, a second dot) fails.
#[inline]
pub(super) fn decimal_end(b: &[u8], start: usize) -> Option<usize> {
    match b.get(start..).and_then(<[u8]>::first_chunk::<16>) {
        Some(w) => decimal_in_16(b, start, u128::from_le_bytes(*w)),
        None => decimal_end_serial(b, start),
    }
}

/// The high bit of every byte, in 128 bits.
const HIGH16: u128 = (HIGH as u128) << 64 | HIGH as u128;
/// 1 in every byte, in 128 bits.
const ONES16: u128 = 0x0101_0101_0101_0101_0101_0101_0101_0101;

/// The high bit set in the first byte of `w` equal to `c`; bytes after it may be marked too
/// (a borrow runs on from a match), bytes before it never are.
#[inline(always)]
fn first_equal(w: u128, c: u8) -> u128 {
    let x = w ^ (u128::from(c) * ONES16);
    x.wrapping_sub(ONES16) & !x & HIGH16
}

/// [`first_equal`] over 8 bytes.
#[inline(always)]
fn first_equal64(w: u64, c: u8) -> u64 {
    let x = w ^ (u64::from(c) * 0x0101_0101_0101_0101);
    x.wrapping_sub(0x0101_0101_0101_0101) & !x & HIGH
}

/// [`non_digits`] over 16 bytes.
#[inline(always)]
fn non_digits16(w: u128) -> u128 {
    let x = w ^ (u128::from(b'0') * ONES16);
    (x | ((x & (0x7f * ONES16)) + 0x76 * ONES16)) & HIGH16
}

/// [`decimal_end`] for the 16 bytes `w` read at `start`. When the closing quote is among them
/// (prices and quantities up to 15 characters), it is found first and the bytes before it are
/// checked all at once, so finding where the next field starts does not wait for a
/// word-by-word walk. Longer decimals take that walk.
#[inline(always)]
fn decimal_in_16(b: &[u8], start: usize, w: u128) -> Option<usize> {
    // The quote's offset from each half on its own: the high half's answer is used only when
    // the low half has no quote, and then it is exact. Two independent 64-bit searches and a
    // predictable branch are shorter than one 128-bit search (borrows across the halves).
    let (lo, hi) = (w as u64, (w >> 64) as u64);
    let (q_lo, q_hi) = (first_equal64(lo, b'"'), first_equal64(hi, b'"'));
    let q = if q_lo != 0 {
        q_lo.trailing_zeros() / 8
    } else if q_hi != 0 {
        8 + q_hi.trailing_zeros() / 8
    } else {
        return decimal_end_serial(b, start);
    };
    // q <= 15: the shift stays within 128 bits.
    let before = (1u128 << (q * 8)) - 1;
    let dots = first_equal(w, b'.') & before;
    let dot = dots & dots.wrapping_neg(); // the first dot only
    let minus = u32::from(lo as u8 == b'-');
    // Every byte before the quote is a digit, except a leading minus and the first dot.
    let others = non_digits16(w) & before & !dot & !(u128::from(minus) * 0x80);
    if others != 0 {
        return None;
    }
    let ok = if dot == 0 {
        q > minus
    } else {
        let d = dot.trailing_zeros() / 8;
        d > minus && d + 1 < q
    };
    ok.then_some(start + q as usize)
}

/// [`decimal_end`] word by word, for a decimal near the end of the input or longer than the
/// window.
fn decimal_end_serial(b: &[u8], start: usize) -> Option<usize> {
    let int = start + usize::from(b.get(start) == Some(&b'-'));
    let end = skip_digits(b, int);
    if end == int {
        return None;
    }
    match b.get(end) {
        Some(b'"') => Some(end),
        Some(b'.') => {
            let frac_end = skip_digits(b, end + 1);
            (frac_end > end + 1 && b.get(frac_end) == Some(&b'"')).then_some(frac_end)
        }
        _ => None,
    }
}

/// The offset of the closing quote of a plain JSON string whose content starts at `start`:
/// `None` at an escape, a control character or the end of input (serde decides those).
#[inline]
pub(super) fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let len = b
        .get(start..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    (b[start + len] == b'"').then_some(start + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_digits_finds_the_first_non_digit() {
        for text in [
            "",
            "1",
            "12345678",
            "123456789",
            "1234567x",
            "x",
            "12.5",
            "0123456789012345/",
            "99999999:",
            "1\u{ff}",
        ] {
            let b = text.as_bytes();
            for start in 0..=b.len() {
                let want = start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
                assert_eq!(skip_digits(b, start), want, "{text:?} from {start}");
            }
        }
        // Every byte value next to digits, in every lane.
        for c in 0..=255u8 {
            for lane in 0..8 {
                let mut b = *b"12345678901234567";
                b[lane] = c;
                let want = if c.is_ascii_digit() { b.len() } else { lane };
                assert_eq!(skip_digits(&b, 0), want, "byte {c:#x} at {lane}");
            }
        }
    }

    #[test]
    fn uint_reads_every_length_exactly() {
        let mut n: u64 = 0;
        for len in 1..=20 {
            n = n * 10 + (len % 10);
            for tail in ["", ",", ",\"x\":12345678}"] {
                let text = format!("{n}{tail}");
                assert_eq!(
                    uint(text.as_bytes(), 0),
                    Some((n, n.to_string().len())),
                    "{text}"
                );
            }
        }
        for (text, want) in [
            ("0", Some((0, 1))),
            ("0,", Some((0, 1))),
            ("18446744073709551615}", Some((u64::MAX, 20))),
            ("18446744073709551616}", None),
            ("99999999999999999999}", None),
            ("100000000000000000000}", None),
            ("01", None),
            ("00", None),
            ("1.5", None),
            ("1e5", None),
            ("1E5", None),
            ("-1", None),
            ("", None),
            ("x", None),
            ("10000000", Some((10_000_000, 8))),
            ("1700000000123,", Some((1_700_000_000_123, 13))),
        ] {
            assert_eq!(uint(text.as_bytes(), 0), want, "{text}");
        }
        assert_eq!(uint(b"\"E\":42,", 4), Some((42, 6)));
    }

    #[test]
    fn decimal_end_applies_the_decimal_rules() {
        let ok = [
            "0",
            "-0",
            "1.5",
            "43250.12000000",
            "530712345.12345678",
            "-12.5",
            "007.10",
            "99999999999999999999999999999999999999999",
        ];
        for d in ok {
            for tail in ["\"", "\",\"x\":\"1.0\"}"] {
                let text = format!("{d}{tail}");
                assert_eq!(decimal_end(text.as_bytes(), 0), Some(d.len()), "{text}");
                assert!(crate::decimal::Decimal::parse(d).is_ok());
            }
        }
        let bad = [
            "",
            "-",
            "1.",
            ".5",
            "-.5",
            "1.2.3",
            "1e5",
            "+1",
            " 1",
            "1 ",
            "--1",
            "1-",
            "1\\u0030",
            "1,5",
            "12345678.",
            "12345678.x",
            "1.23456789x",
            "1\u{e9}",
            "\u{ff}1",
        ];
        for d in bad {
            for tail in ["\"", "\",\"x\":\"1.0\"}"] {
                let text = format!("{d}{tail}");
                assert_eq!(decimal_end(text.as_bytes(), 0), None, "{text}");
            }
        }
        // Unterminated: the end of input, long or short.
        assert_eq!(decimal_end(b"1.5", 0), None);
        assert_eq!(decimal_end(b"123456789012.5", 0), None);
    }

    /// Every string of up to six characters from `0 1 - . " x` (and a long tail, so that both
    /// the 16-byte window and the word-by-word walk run): `decimal_end` accepts exactly what
    /// `Decimal::parse` accepts up to the first quote.
    #[test]
    fn decimal_end_agrees_with_decimal_parse() {
        const ALPHABET: &[u8] = b"01-.\"x";
        let mut text = Vec::new();
        for len in 0..=6u32 {
            for n in 0..ALPHABET.len().pow(len) {
                text.clear();
                let mut k = n;
                for _ in 0..len {
                    text.push(ALPHABET[k % ALPHABET.len()]);
                    k /= ALPHABET.len();
                }
                let quote = text.iter().position(|&c| c == b'"');
                let want = quote.filter(|&q| {
                    crate::decimal::Decimal::parse(std::str::from_utf8(&text[..q]).unwrap()).is_ok()
                });
                assert_eq!(
                    decimal_end(&text, 0),
                    want,
                    "{:?}",
                    String::from_utf8_lossy(&text)
                );
                assert_eq!(decimal_end_serial(&text, 0), want);
                let short = text.len();
                text.extend_from_slice(b"12345678901234567890");
                assert_eq!(
                    decimal_end(&text, 0),
                    want,
                    "{:?}",
                    String::from_utf8_lossy(&text[..short])
                );
            }
        }
    }

    #[test]
    fn string_end_stops_at_escapes_and_controls() {
        assert_eq!(string_end(b"BTCUSDT\",", 0), Some(7));
        assert_eq!(string_end("币安人生USDT\"".as_bytes(), 0), Some(16));
        assert_eq!(string_end(b"BTC\\u0055\"", 0), None);
        assert_eq!(string_end(b"BTC\tUSDT\"", 0), None);
        assert_eq!(string_end(b"BTCUSDT", 0), None);
        assert_eq!(string_end(b"\"", 0), Some(0));
        assert_eq!(string_end(b"", 1), None);
    }
}
