//! Service names, derived from the bus name (`--publish NAME`) and the stream:
//! * `NAME/md/<stream>`: the records of one stream (`feed/md/btcusdt@ticker`);
//! * `NAME/cmd`: the command service (request-response).
//!
//! A strategy attaches to every service under `NAME/md/` ([`crate::BusSubscriber`] lists
//! them), so a stream the feed subscribes later shows up without a restart.
//!
//! iceoryx2 service names are ASCII, while Binance symbols need not be (`币安人生usdt`): the
//! stream part is percent-encoded ([`encode_stream`]): every byte outside printable ASCII, and
//! `%` itself, becomes `%XX` (upper-case hex), so `币安人生usdt@trade` is served as
//! `NAME/md/%E5%B8%81...usdt@trade`. ASCII stream names are unchanged. Subscribers decode it
//! ([`decode_stream`]); the record's own `stream` field holds the UTF-8 name.

use crate::BusError;

/// The prefix of every stream service of bus `name`.
pub fn stream_prefix(name: &str) -> String {
    format!("{name}/md/")
}

/// The service carrying `stream`'s records (the stream part [`encode_stream`]d).
pub fn stream(name: &str, stream: &str) -> String {
    format!("{name}/md/{}", encode_stream(stream))
}

/// `stream` with every byte outside `!`..=`~`, and `%`, written as `%XX`: a valid part of an
/// iceoryx2 service name, reversible by [`decode_stream`].
pub fn encode_stream(stream: &str) -> String {
    let mut out = String::with_capacity(stream.len());
    for b in stream.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The stream name of an [`encode_stream`]d service name part. A `%` not followed by two hex
/// digits stays as it is; bytes that are not UTF-8 become U+FFFD.
pub fn decode_stream(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|&c| char::from(c).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                // Two hex digits: at most 0xFF, so the cast is exact.
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The command service.
pub fn commands(name: &str) -> String {
    format!("{name}/cmd")
}

/// Checks a bus name: 1 to 64 characters of `[A-Za-z0-9_.-]` (it becomes part of file names
/// in iceoryx2's shared-memory directory).
pub fn check(name: &str) -> Result<(), BusError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(BusError::msg(
            "bus name must be 1 to 64 characters of letters, digits, '_', '.', '-'",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_round_trip_and_ascii_ones_are_unchanged() {
        assert_eq!(stream("feed", "btcusdt@trade"), "feed/md/btcusdt@trade");
        let uni = "币安人生usdt@trade";
        let enc = encode_stream(uni);
        assert_eq!(enc, "%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9Fusdt@trade");
        assert!(enc.bytes().all(|b| b.is_ascii_graphic()));
        assert_eq!(decode_stream(&enc), uni);
        for s in ["a%b", "100%", "x y", "%41", "é@trade"] {
            assert_eq!(decode_stream(&encode_stream(s)), s, "{s}");
        }
        assert_eq!(decode_stream("a%zz"), "a%zz");
    }
}
