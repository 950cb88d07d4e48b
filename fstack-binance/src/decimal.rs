//! Exact decimal numbers as Binance sends them (`"43250.12000000"`).
//!
//! Prices and quantities are never converted to binary floats. A [`Decimal`] borrows the
//! original text (zero-copy, zero allocation) after validating its syntax, so it can be
//! printed "exactly as received". [`Decimal::value`] converts it exactly to an integer
//! mantissa and a decimal scale ([`DecimalValue`]) when arithmetic is needed.
//!
//! Accepted syntax: `-?[0-9]+(\.[0-9]+)?` (an optional minus sign, at least one integer digit,
//! an optional dot followed by at least one digit). Empty strings, `+` signs, leading or
//! trailing dots, several dots, exponents (`1e5`), whitespace and anything else are rejected
//! with a [`DecimalError`].

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Largest scale (digits after the dot) a [`DecimalValue`] keeps. Longer fractions are
/// accepted only when the extra digits are zeros.
pub const MAX_SCALE: u32 = 18;

/// Why a string is not an acceptable decimal, or why it does not fit a [`DecimalValue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The string is empty (or only a sign).
    #[error("empty decimal")]
    Empty,
    /// A character other than a digit, a leading `-` or one `.` was found at this byte offset.
    #[error("invalid character in decimal at byte {0}")]
    InvalidChar(usize),
    /// More than one `.`.
    #[error("more than one '.' in decimal")]
    MultipleDots,
    /// An exponent form like `1e5` (never sent by Binance).
    #[error("exponent notation is not accepted in decimals")]
    Exponent,
    /// A dot without digits on both sides (`.5`, `5.`).
    #[error("a '.' must have digits on both sides")]
    MisplacedDot,
    /// The mantissa does not fit an `i128` (more than 38 significant digits).
    #[error("decimal overflows a 128-bit mantissa")]
    Overflow,
    /// More than [`MAX_SCALE`] significant fractional digits.
    #[error("decimal has more than {MAX_SCALE} significant fractional digits")]
    ScaleTooLarge,
    /// A conversion to a smaller scale would drop non-zero digits.
    #[error("decimal cannot be represented exactly at the requested scale")]
    Inexact,
}

/// A validated decimal string borrowed from the input: zero-copy and `Copy`.
///
/// Comparison (`==`, `<`, `Ord`, `Hash`) is numeric and exact: `"1.50" == "1.5"`,
/// `"-0" == "0"`, `"9.99" < "10"`; it works directly on the digits (no overflow possible).
/// `Display` prints the text exactly as received.
#[derive(Clone, Copy)]
pub struct Decimal<'a> {
    text: &'a str,
}

impl<'a> Decimal<'a> {
    /// Validates `text` and borrows it.
    pub fn parse(text: &'a str) -> Result<Self, DecimalError> {
        validate(text.as_bytes())?;
        Ok(Decimal { text })
    }

    /// Borrows `text` that the caller has already checked with the same rules as [`parse`](Self::parse).
    pub(crate) fn from_validated(text: &'a str) -> Self {
        debug_assert!(validate(text.as_bytes()).is_ok(), "{text:?}");
        Decimal { text }
    }

    /// The text exactly as received.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// True when the text starts with `-` and the value is not zero.
    pub fn is_negative(&self) -> bool {
        self.text.starts_with('-') && !self.is_zero()
    }

    /// True when every digit is `0` (`"0.00000000"`, `"-0"`).
    pub fn is_zero(&self) -> bool {
        self.text.bytes().all(|b| matches!(b, b'0' | b'.' | b'-'))
    }

    /// Exact conversion to mantissa and scale; the scale is the number of fractional digits
    /// received (`"43250.12000000"` gives mantissa 4325012000000, scale 8). Fractions longer
    /// than [`MAX_SCALE`] are accepted if the extra digits are zeros.
    pub fn value(&self) -> Result<DecimalValue, DecimalError> {
        DecimalValue::parse(self.text)
    }

    /// The text with trailing fractional zeros removed, keeping at least `min_frac` fractional
    /// digits when the text has a fraction (`"43250.12000000"` with 2 gives `"43250.12"`,
    /// `"43250.00000000"` gives `"43250.00"`, `"0.00001000"` gives `"0.00001"`). Borrowed, no
    /// allocation. Numerically equal to the original.
    pub fn trimmed(&self, min_frac: usize) -> &'a str {
        let t = self.text;
        let Some(dot) = t.find('.') else { return t };
        let bytes = t.as_bytes();
        let mut end = t.len();
        let keep = (dot + 1 + min_frac).min(t.len());
        while end > keep && bytes[end - 1] == b'0' {
            end -= 1;
        }
        if end == dot + 1 {
            end = dot; // "5." -> "5"
        }
        &t[..end]
    }

    /// Splits into (negative, integer digits without leading zeros, fraction digits without
    /// trailing zeros). Zero yields `(false, "", "")`.
    fn normal_parts(&self) -> (bool, &'a str, &'a str) {
        let (neg, rest) = match self.text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, self.text),
        };
        let (int, frac) = match rest.find('.') {
            Some(d) => (&rest[..d], &rest[d + 1..]),
            None => (rest, ""),
        };
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        if int.is_empty() && frac.is_empty() {
            (false, "", "")
        } else {
            (neg, int, frac)
        }
    }
}

fn validate(b: &[u8]) -> Result<(), DecimalError> {
    let digits = match b.first() {
        None => return Err(DecimalError::Empty),
        Some(b'-') => 1,
        Some(_) => 0,
    };
    if b.len() == digits {
        return Err(DecimalError::Empty);
    }
    let mut dot: Option<usize> = None;
    for (i, &c) in b.iter().enumerate().skip(digits) {
        match c {
            b'0'..=b'9' => {}
            b'.' => {
                if dot.is_some() {
                    return Err(DecimalError::MultipleDots);
                }
                dot = Some(i);
            }
            b'e' | b'E' => return Err(DecimalError::Exponent),
            _ => return Err(DecimalError::InvalidChar(i)),
        }
    }
    if let Some(d) = dot {
        if d == digits || d + 1 == b.len() {
            return Err(DecimalError::MisplacedDot);
        }
    }
    Ok(())
}

impl fmt::Display for Decimal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.text)
    }
}

impl fmt::Debug for Decimal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({:?})", self.text)
    }
}

impl PartialEq for Decimal<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.normal_parts() == other.normal_parts()
    }
}

impl Eq for Decimal<'_> {}

impl Hash for Decimal<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.normal_parts().hash(state);
    }
}

impl PartialOrd for Decimal<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        let (an, ai, af) = self.normal_parts();
        let (bn, bi, bf) = other.normal_parts();
        let magnitude = ai
            .len()
            .cmp(&bi.len())
            .then_with(|| ai.cmp(bi))
            .then_with(|| af.cmp(bf));
        match (an, bn) {
            (false, false) => magnitude,
            (true, true) => magnitude.reverse(),
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
        }
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Decimal<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Decimal<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal number in a JSON string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Decimal::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// An exact decimal: `mantissa * 10^-scale`, with `scale <= MAX_SCALE`.
///
/// Equality and ordering are numeric (`1.50 == 1.5`). `Display` prints all `scale` digits.
#[derive(Debug, Clone, Copy)]
pub struct DecimalValue {
    mantissa: i128,
    scale: u32,
}

const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

impl DecimalValue {
    /// Builds a value from its parts; fails with [`DecimalError::ScaleTooLarge`] when
    /// `scale > MAX_SCALE`.
    pub fn new(mantissa: i128, scale: u32) -> Result<Self, DecimalError> {
        if scale > MAX_SCALE {
            return Err(DecimalError::ScaleTooLarge);
        }
        Ok(DecimalValue { mantissa, scale })
    }

    /// Parses decimal text exactly (same syntax as [`Decimal::parse`]).
    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        let b = text.as_bytes();
        validate(b)?;
        let (neg, digits) = match b[0] {
            b'-' => (true, &b[1..]),
            _ => (false, b),
        };
        let (int, mut frac) = match digits.iter().position(|&c| c == b'.') {
            Some(d) => (&digits[..d], &digits[d + 1..]),
            None => (digits, &digits[..0]),
        };
        while frac.len() > MAX_SCALE as usize && frac.last() == Some(&b'0') {
            frac = &frac[..frac.len() - 1];
        }
        if frac.len() > MAX_SCALE as usize {
            return Err(DecimalError::ScaleTooLarge);
        }
        let mut m: i128 = 0;
        for &c in int.iter().chain(frac) {
            m = m
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(c - b'0')))
                .ok_or(DecimalError::Overflow)?;
        }
        Ok(DecimalValue {
            mantissa: if neg { -m } else { m },
            scale: frac.len() as u32,
        })
    }

    /// The integer mantissa.
    pub fn mantissa(&self) -> i128 {
        self.mantissa
    }

    /// Number of fractional digits.
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// The same number with trailing fractional zeros removed (smallest scale).
    pub fn normalized(&self) -> Self {
        let mut v = *self;
        while v.scale > 0 && v.mantissa % 10 == 0 {
            v.mantissa /= 10;
            v.scale -= 1;
        }
        v
    }

    /// The mantissa of this number at exactly `scale` fractional digits, as an `i64`
    /// (fixed-point). Fails with [`DecimalError::Inexact`] if non-zero digits would be lost and
    /// with [`DecimalError::Overflow`] if the result does not fit.
    /// `"43250.12000000"` at scale 2 gives `4325012`.
    pub fn to_fixed_i64(&self, scale: u32) -> Result<i64, DecimalError> {
        let m = self.rescale(scale)?;
        i64::try_from(m).map_err(|_| DecimalError::Overflow)
    }

    /// The mantissa at exactly `scale` fractional digits (see [`Self::to_fixed_i64`]).
    pub fn rescale(&self, scale: u32) -> Result<i128, DecimalError> {
        if scale > MAX_SCALE {
            return Err(DecimalError::ScaleTooLarge);
        }
        if scale >= self.scale {
            self.mantissa
                .checked_mul(POW10[(scale - self.scale) as usize])
                .ok_or(DecimalError::Overflow)
        } else {
            let p = POW10[(self.scale - scale) as usize];
            if self.mantissa % p != 0 {
                return Err(DecimalError::Inexact);
            }
            Ok(self.mantissa / p)
        }
    }

    /// Rounds half away from zero to `places` fractional digits (no-op if already shorter).
    pub fn round(&self, places: u32) -> Self {
        if places >= self.scale {
            return *self;
        }
        let p = POW10[(self.scale - places) as usize];
        let q = self.mantissa / p;
        let r = self.mantissa % p;
        let q = if r.abs() * 2 >= p {
            q + self.mantissa.signum()
        } else {
            q
        };
        DecimalValue {
            mantissa: q,
            scale: places,
        }
    }

    /// Approximate value as `f64`, for display or statistics only (never the data path).
    pub fn to_f64_lossy(&self) -> f64 {
        self.mantissa as f64 / 10f64.powi(self.scale as i32)
    }
}

impl PartialEq for DecimalValue {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for DecimalValue {}

impl PartialOrd for DecimalValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DecimalValue {
    fn cmp(&self, other: &Self) -> Ordering {
        let s = self.scale.max(other.scale);
        match (self.rescale(s), other.rescale(s)) {
            (Ok(a), Ok(b)) => a.cmp(&b),
            // Scaling up overflowed: that side's magnitude exceeds anything the other holds.
            (Err(_), Ok(_)) => self.mantissa.signum().cmp(&0),
            (Ok(_), Err(_)) => 0.cmp(&other.mantissa.signum()),
            // Cannot happen: one side already has scale `s` and needs no scaling.
            (Err(_), Err(_)) => self.mantissa.cmp(&other.mantissa),
        }
    }
}

impl fmt::Display for DecimalValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.mantissa < 0;
        let abs = self.mantissa.unsigned_abs();
        if self.scale == 0 {
            return write!(f, "{}{}", if neg { "-" } else { "" }, abs);
        }
        let p = 10u128.pow(self.scale);
        write!(
            f,
            "{}{}.{:0width$}",
            if neg { "-" } else { "" },
            abs / p,
            abs % p,
            width = self.scale as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal<'_> {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn parses_binance_strings() {
        let v = d("43250.12000000").value().unwrap();
        assert_eq!((v.mantissa(), v.scale()), (4_325_012_000_000, 8));
        let v = d("-12.5").value().unwrap();
        assert_eq!((v.mantissa(), v.scale()), (-125, 1));
        let v = d("0").value().unwrap();
        assert_eq!((v.mantissa(), v.scale()), (0, 0));
        let v = d("0.00000001").value().unwrap();
        assert_eq!((v.mantissa(), v.scale()), (1, 8));
        let v = d("007.10").value().unwrap();
        assert_eq!((v.mantissa(), v.scale()), (710, 2));
        assert_eq!(d("43250.12000000").as_str(), "43250.12000000");
    }

    #[test]
    fn rejects_garbage() {
        use DecimalError::*;
        let cases: &[(&str, DecimalError)] = &[
            ("", Empty),
            ("-", Empty),
            ("1.2.3", MultipleDots),
            ("1e5", Exponent),
            ("1.5E-3", Exponent),
            (".5", MisplacedDot),
            ("5.", MisplacedDot),
            ("-.5", MisplacedDot),
            ("+1", InvalidChar(0)),
            (" 1", InvalidChar(0)),
            ("1 ", InvalidChar(1)),
            ("12a", InvalidChar(2)),
            ("--1", InvalidChar(1)),
            ("1-", InvalidChar(1)),
            ("NaN", InvalidChar(0)),
            ("inf", InvalidChar(0)),
            ("1,5", InvalidChar(1)),
            ("\"1\"", InvalidChar(0)),
        ];
        for (s, e) in cases {
            assert_eq!(Decimal::parse(s).unwrap_err(), *e, "{s:?}");
            assert_eq!(DecimalValue::parse(s).unwrap_err(), *e, "{s:?}");
        }
    }

    #[test]
    fn overflow_and_scale_limits() {
        // 38 digits fit in i128, 40 do not.
        let max38 = "99999999999999999999999999999999999999";
        assert_eq!(
            DecimalValue::parse(max38).unwrap().mantissa(),
            10i128.pow(38) - 1
        );
        assert_eq!(
            DecimalValue::parse("9999999999999999999999999999999999999999").unwrap_err(),
            DecimalError::Overflow
        );
        assert_eq!(
            DecimalValue::parse("170141183460469231731687303715884105728").unwrap_err(),
            DecimalError::Overflow
        );
        // Text still validates (the decimal itself is well formed).
        assert!(Decimal::parse("9999999999999999999999999999999999999999").is_ok());
        let v = DecimalValue::parse("0.123456789012345678").unwrap();
        assert_eq!((v.mantissa(), v.scale()), (123_456_789_012_345_678, 18));
        assert_eq!(
            DecimalValue::parse("0.1234567890123456789").unwrap_err(),
            DecimalError::ScaleTooLarge
        );
        // Extra zeros beyond 18 digits are dropped exactly.
        let v = DecimalValue::parse("1.10000000000000000000000").unwrap();
        assert_eq!((v.mantissa(), v.scale()), (11 * 10i128.pow(17), 18));
        assert_eq!(
            DecimalValue::new(1, 19).unwrap_err(),
            DecimalError::ScaleTooLarge
        );
    }

    #[test]
    fn numeric_comparison_on_text() {
        assert_eq!(d("1.50"), d("1.5"));
        assert_eq!(d("-0"), d("0.000"));
        assert_eq!(d("007"), d("7.0"));
        assert!(d("9.99") < d("10"));
        assert!(d("-10") < d("-9.99"));
        assert!(d("-0.1") < d("0"));
        assert!(d("0.00000002") > d("0.00000001"));
        assert!(d("43250.12") < d("43250.13000000"));
        let mut v = [d("3"), d("-1"), d("2.5"), d("0"), d("-1.5")];
        v.sort();
        let s: Vec<&str> = v.iter().map(|x| x.as_str()).collect();
        assert_eq!(s, ["-1.5", "-1", "0", "2.5", "3"]);
        use std::collections::hash_map::DefaultHasher;
        let h = |x: Decimal| {
            let mut s = DefaultHasher::new();
            x.hash(&mut s);
            s.finish()
        };
        assert_eq!(h(d("1.50")), h(d("1.5")));
        assert_eq!(h(d("-0.0")), h(d("0")));
    }

    #[test]
    fn value_comparison_and_display() {
        let a = DecimalValue::parse("1.50").unwrap();
        let b = DecimalValue::parse("1.5").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "1.50");
        assert_eq!(a.normalized().to_string(), "1.5");
        assert_eq!(DecimalValue::parse("-0.05").unwrap().to_string(), "-0.05");
        assert_eq!(DecimalValue::parse("-12").unwrap().to_string(), "-12");
        assert!(DecimalValue::parse("9.99").unwrap() < DecimalValue::parse("10").unwrap());
        // Huge mantissa at scale 0 vs small at scale 18: scaling up overflows, still ordered.
        let big = DecimalValue::parse("99999999999999999999999999999999999999").unwrap();
        let small = DecimalValue::parse("0.000000000000000001").unwrap();
        assert!(big > small);
        assert!(small < big);
        let nbig = DecimalValue::parse("-99999999999999999999999999999999999999").unwrap();
        assert!(nbig < small);
        assert!(small > nbig);
    }

    #[test]
    fn fixed_point_and_rounding() {
        let v = DecimalValue::parse("43250.12000000").unwrap();
        assert_eq!(v.to_fixed_i64(2).unwrap(), 4_325_012);
        assert_eq!(v.to_fixed_i64(8).unwrap(), 4_325_012_000_000);
        assert_eq!(v.to_fixed_i64(1).unwrap_err(), DecimalError::Inexact);
        assert_eq!(
            DecimalValue::parse("99999999999999999999")
                .unwrap()
                .to_fixed_i64(0)
                .unwrap_err(),
            DecimalError::Overflow
        );
        let r = |s: &str, p| DecimalValue::parse(s).unwrap().round(p).to_string();
        assert_eq!(r("1.234", 2), "1.23");
        assert_eq!(r("1.235", 2), "1.24");
        assert_eq!(r("-1.235", 2), "-1.24");
        assert_eq!(r("9.999", 2), "10.00");
        assert_eq!(r("-0.004", 2), "0.00");
        assert_eq!(r("1.2", 2), "1.2");
        assert!((DecimalValue::parse("0.5").unwrap().to_f64_lossy() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn trimmed_and_flags() {
        assert_eq!(d("43250.12000000").trimmed(2), "43250.12");
        assert_eq!(d("43250.00000000").trimmed(2), "43250.00");
        assert_eq!(d("43250.00000000").trimmed(0), "43250");
        assert_eq!(d("0.00001000").trimmed(2), "0.00001");
        assert_eq!(d("12").trimmed(2), "12");
        assert_eq!(d("1.5").trimmed(4), "1.5");
        assert!(d("-0.01").is_negative());
        assert!(!d("-0.00").is_negative());
        assert!(d("-0.00").is_zero());
        assert!(!d("0.01").is_zero());
        assert_eq!(format!("[{:>6}]", d("1.5")), "[   1.5]");
        assert_eq!(format!("{:?}", d("1.5")), "Decimal(\"1.5\")");
    }

    #[test]
    fn deserializes_borrowed_only() {
        let v: Decimal = serde_json::from_str("\"1.25\"").unwrap();
        assert_eq!(v.as_str(), "1.25");
        assert!(serde_json::from_str::<Decimal>("1.25").is_err());
        assert!(serde_json::from_str::<Decimal>("\"1.2x\"").is_err());
        assert!(serde_json::from_str::<Decimal>("\"\\u0031\"").is_err());
        assert!(serde_json::from_str::<Decimal>("null").is_err());
    }
}
