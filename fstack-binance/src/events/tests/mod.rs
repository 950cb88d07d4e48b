//! Tests of [`crate::events`], by role. The payload constants are Binance's layouts; the
//! output tests use them too.

use super::*;

pub(crate) const TICKER: &str = r#"{"e":"24hrTicker","E":1700000000123,"s":"BTCUSDT","p":"523.45000000","P":"1.226","w":"42987.65432100","x":"42726.67000000","c":"43250.12000000","Q":"0.01234000","b":"43250.11000000","B":"1.50000000","a":"43250.12000000","A":"0.25000000","o":"42726.67000000","h":"43800.00000000","l":"42650.50000000","v":"12345.67800000","q":"530712345.12345678","O":1699913600123,"C":1700000000123,"F":3200000000,"L":3201234567,"n":1234568}"#;
pub(crate) const MINI: &str = r#"{"e":"24hrMiniTicker","E":1700000000456,"s":"ETHUSDT","c":"2250.55000000","o":"2200.00000000","h":"2275.10000000","l":"2190.01000000","v":"345678.12340000","q":"771234567.89000000"}"#;
pub(crate) const BOOK: &str = r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;
pub(crate) const TRADE: &str = r#"{"e":"trade","E":1700000000789,"s":"BTCUSDT","t":3201234568,"p":"43250.13000000","q":"0.00150000","T":1700000000788,"m":true,"M":true}"#;
pub(crate) const AGG: &str = r#"{"e":"aggTrade","E":1700000000790,"s":"BTCUSDT","a":2800000001,"p":"43250.13000000","q":"0.05000000","f":3201234569,"l":3201234571,"T":1700000000789,"m":false,"M":true}"#;
pub(crate) const PARTIAL: &str = r#"{"lastUpdateId":41234567890,"bids":[["43250.11000000","1.50000000"],["43250.10000000","0.02000000"]],"asks":[["43250.12000000","0.25000000"],["43250.50000000","3.00000000"]]}"#;
pub(crate) const DIFF: &str = r#"{"e":"depthUpdate","E":1700000000900,"s":"BTCUSDT","U":41234567891,"u":41234567895,"b":[["43250.11000000","1.40000000"],["43249.00000000","0.00000000"]],"a":[["43250.12000000","0.30000000"]]}"#;

fn combined(stream: &str, data: &str) -> String {
    format!(r#"{{"stream":"{stream}","data":{data}}}"#)
}

fn dec(s: &str) -> Decimal<'_> {
    Decimal::parse(s).unwrap()
}

fn ev<'a>(m: Message<'a>) -> StreamEvent<'a> {
    match m {
        Message::Event(e) => e,
        other => panic!("not an event: {other:?}"),
    }
}

mod fast_path;
mod kinds;
mod malformed;
mod replies;
