//! The REST depth snapshot, `GET /api/v3/depth?symbol=SYMBOL&limit=LIMIT`: the request
//! target, its request weight, and the answer (`{"lastUpdateId":N,"bids":[...],"asks":[...]}`
//! or Binance's error body `{"code":-1121,"msg":"Invalid symbol."}`).
//!
//! Source: <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints#order-book>
//! (`limit`: default 100, at most 5000; request weight by limit: 1-100: 5, 101-500: 25,
//! 501-1000: 50, 1001-5000: 250) and
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits> (an IP may
//! spend 6,000 request weight per minute; HTTP 429 when exceeded, 418 once banned for
//! ignoring it, both with `Retry-After`).

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

use crate::events::Levels;

/// The largest `limit` Binance accepts.
pub const MAX_LIMIT: u32 = 5000;

/// Request weight per minute Binance allows one IP address (its `REQUEST_WEIGHT` limit).
pub const BINANCE_WEIGHT_PER_MINUTE: u32 = 6000;

/// The request weight of a depth snapshot of `limit` levels per side (Binance's table, see
/// the [module docs](self)).
pub fn request_weight(limit: u32) -> u32 {
    match limit {
        0..=100 => 5,
        101..=500 => 25,
        501..=1000 => 50,
        _ => 250,
    }
}

/// The request target for `symbol`'s snapshot under the REST endpoint's path `prefix`
/// (usually empty): `/api/v3/depth?symbol=BTCUSDT&limit=1000`. The symbol is sent
/// uppercase, percent-encoded when it is not ASCII.
pub fn depth_target(prefix: &str, symbol: &str, limit: u32) -> String {
    let mut upper = String::with_capacity(symbol.len());
    crate::stream::push_uppercase(&mut upper, symbol);
    format!(
        "{prefix}/api/v3/depth?symbol={}&limit={limit}",
        utf8_percent_encode(&upper, NON_ALPHANUMERIC)
    )
}

/// A depth snapshot, borrowing the response body.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Snapshot<'a> {
    /// `lastUpdateId`: the book is exact at this update id.
    #[serde(rename = "lastUpdateId")]
    pub last_update_id: u64,
    /// Bids, best first.
    #[serde(borrow)]
    pub bids: Levels<'a>,
    /// Asks, best first.
    #[serde(borrow)]
    pub asks: Levels<'a>,
}

/// Why a response body is not a snapshot.
#[derive(Debug, thiserror::Error)]
#[error("invalid depth snapshot: {0}")]
pub struct SnapshotError(String);

impl<'a> Snapshot<'a> {
    /// Parses a `200 OK` body. Unknown fields are ignored.
    pub fn parse(body: &'a [u8]) -> Result<Snapshot<'a>, SnapshotError> {
        let text = std::str::from_utf8(body).map_err(|e| SnapshotError(e.to_string()))?;
        serde_json::from_str(text).map_err(|e| SnapshotError(e.to_string()))
    }
}

/// Binance's error body, `{"code":-1121,"msg":"Invalid symbol."}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    /// Binance's error code (negative), e.g. -1121 for an unknown symbol.
    pub code: i64,
    /// Its message.
    pub msg: String,
}

impl ApiError {
    /// The error in a 4xx or 5xx body, if the body is one.
    pub fn parse(body: &[u8]) -> Option<ApiError> {
        serde_json::from_slice(body).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_follow_binance_table() {
        let w: Vec<u32> = [1, 100, 101, 500, 501, 1000, 1001, 5000]
            .iter()
            .map(|&l| request_weight(l))
            .collect();
        assert_eq!(w, [5, 5, 25, 25, 50, 50, 250, 250]);
    }

    #[test]
    fn targets() {
        assert_eq!(
            depth_target("", "btcusdt", 1000),
            "/api/v3/depth?symbol=BTCUSDT&limit=1000"
        );
        assert_eq!(
            depth_target("/proxy", "币安人生usdt", 5),
            "/proxy/api/v3/depth?symbol=%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9FUSDT&limit=5"
        );
    }

    #[test]
    fn bodies() {
        let body = br#"{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}"#;
        let s = Snapshot::parse(body).unwrap();
        assert_eq!(s.last_update_id, 1_027_024);
        assert_eq!(s.bids.first().unwrap().qty.as_str(), "431.00000000");
        assert_eq!(s.asks.len(), 1);
        for bad in [
            &b"{}"[..],
            br#"{"lastUpdateId":-1,"bids":[],"asks":[]}"#,
            br#"{"lastUpdateId":1,"bids":[["x","1"]],"asks":[]}"#,
            b"\xff",
            b"<html>",
        ] {
            assert!(Snapshot::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            ApiError::parse(br#"{"code":-1121,"msg":"Invalid symbol."}"#),
            Some(ApiError {
                code: -1121,
                msg: "Invalid symbol.".into()
            })
        );
        assert_eq!(ApiError::parse(b"Bad Gateway"), None);
    }
}
