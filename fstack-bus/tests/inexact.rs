//! A value that does not fit the record is published as 0 with `INEXACT`: the rendering says
//! so, so a strategy does not take the 0 for the exchange's value.

use fstack_bus::record::{flags, parse_decimal, write_json, write_text, MarketRecord};

mod common;
use common::{fill, STREAM};

fn rendered(r: &MarketRecord) -> (String, String) {
    let (mut json, mut text) = (String::new(), String::new());
    write_json(&mut json, r);
    write_text(&mut text, r);
    (json, text)
}

#[test]
fn inexact_records_say_so_in_json_and_text() {
    let mut r = MarketRecord::ZERO;
    fill(&mut r, 7);
    r.set_stream(STREAM);
    r.seq = 7;
    let (json, text) = rendered(&r);
    assert!(!json.contains("inexact"), "{json}");
    assert!(!text.contains("inexact"), "{text}");

    // A quantity that did not fit: slot 1 reads 0, scale 0.
    r.flags |= flags::INEXACT;
    r.mantissa[1] = 0;
    r.scale[1] = 0;
    let (json, text) = rendered(&r);
    assert!(
        json.ends_with(r#","q":"0","m":false,"inexact":true}"#),
        "{json}"
    );
    assert_eq!(text, "7 btcusdt@trade last=43250.00000007 qty=0 inexact");
}

/// A negative zero (Binance's `priceChange` could send `"-0.00"`) cannot be carried with its
/// sign by an i64 mantissa: it is published as inexact (see `flags::INEXACT`), not silently
/// as `"0.00"`.
#[test]
fn negative_zero_is_inexact() {
    assert_eq!(parse_decimal("-0.00"), None);
    assert_eq!(parse_decimal("-0"), None);
    assert_eq!(parse_decimal("0.00"), Some((0, 2)));
    assert_eq!(parse_decimal("-0.01"), Some((-1, 2)));
}
