//! The decoder behind [`decode`]: dispatch on the first key, the combined-stream envelope,
//! the hand parsers of [`super::fast`] with serde_json as the fallback, control replies.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::levels::skip_ws;
use super::scan;
use super::{
    fast, DecodeError, ErrorReply, MarketEvent, Message, PartialDepth, Response, StreamEvent,
};
use crate::stream::{StreamKind, StreamRef};

#[derive(Deserialize)]
struct Control<'a> {
    #[serde(default, borrow, deserialize_with = "some_raw")]
    result: Option<&'a RawValue>,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, borrow, deserialize_with = "opt_cow")]
    msg: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    error: Option<NestedError<'a>>,
}

#[derive(Deserialize)]
struct NestedError<'a> {
    code: i64,
    #[serde(borrow)]
    msg: Cow<'a, str>,
}

/// `Option<Cow<str>>` that borrows when the string has no escapes (serde's own impl for
/// `Option<Cow<str>>` always copies).
fn opt_cow<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// Keeps `null` as a raw value so that presence can be told from absence.
fn some_raw<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(default, borrow)]
    e: Option<&'a str>,
    #[serde(default, borrow)]
    stream: Option<&'a str>,
    #[serde(default, borrow, deserialize_with = "some_raw")]
    data: Option<&'a RawValue>,
    #[serde(rename = "lastUpdateId", default, deserialize_with = "present")]
    last_update_id: bool,
    #[serde(default, deserialize_with = "present")]
    u: bool,
    #[serde(default, deserialize_with = "present")]
    result: bool,
    #[serde(default, deserialize_with = "present")]
    code: bool,
    #[serde(default, deserialize_with = "present")]
    error: bool,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    stream: &'a str,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Decodes one text frame.
///
/// `hint` names the stream of a raw (`/ws/...`) connection. It is used only when consistent
/// with the payload (same kind and, when the payload has one, same symbol): then it becomes
/// [`StreamEvent::stream`] and gives partial-depth events their symbol. Combined payloads
/// name their stream themselves and the hint is ignored.
pub fn decode<'a>(text: &'a str, hint: Option<StreamRef<'a>>) -> Result<Message<'a>, DecodeError> {
    // Binance's exact layouts first (see `fast::exact`): a raw event, or one in the combined
    // envelope. What they decline goes through the general dispatch below.
    let (data, src) = match combined_exact(text) {
        Some((stream, data)) => (data, Source::Combined(stream)),
        None => (text, Source::Raw(hint)),
    };
    if let Some(ev) = fast::exact(data) {
        return event(ev, src);
    }
    let b = text.as_bytes();
    let Some((key, after)) = first_key(b) else {
        let start = skip_ws(b, 0);
        return if b.get(start) == Some(&b'{') {
            probe(text, hint)
        } else {
            Err(DecodeError::NotAnObject)
        };
    };
    match key {
        "stream" => decode_combined(text, b, after),
        "e" | "u" | "lastUpdateId" | "result" | "id" | "code" | "error" => {
            decode_payload(text, key, after, Source::Raw(hint))
        }
        _ => probe(text, hint),
    }
}

#[derive(Clone, Copy)]
enum Source<'a> {
    /// Raw payload with the caller's hint.
    Raw(Option<StreamRef<'a>>),
    /// `data` of a combined message.
    Combined(StreamRef<'a>),
}

fn decode_payload<'a>(
    text: &'a str,
    key: &'a str,
    after: usize,
    src: Source<'a>,
) -> Result<Message<'a>, DecodeError> {
    match key {
        "e" => match string_value(text, after) {
            Some(tag) => decode_tagged(text, tag, src),
            None => probe_payload(text, src),
        },
        "u" => event(
            MarketEvent::BookTicker(fast_or_serde(text, fast::book_ticker)?),
            src,
        ),
        "lastUpdateId" => partial_depth(text, src),
        "result" | "id" | "code" | "error" => control(text),
        _ => probe_payload(text, src),
    }
}

/// Decodes a payload by its `e` value. The table is a `match` on the hot path; the test
/// `every_stream_kind_decodes` checks that it knows every [`StreamKind::event_type`].
fn decode_tagged<'a>(
    text: &'a str,
    tag: &str,
    src: Source<'a>,
) -> Result<Message<'a>, DecodeError> {
    let ev = match tag {
        "24hrTicker" => MarketEvent::Ticker(fast_or_serde(text, fast::ticker)?),
        "24hrMiniTicker" => MarketEvent::MiniTicker(fast_or_serde(text, fast::mini_ticker)?),
        "trade" => MarketEvent::Trade(fast_or_serde(text, fast::trade)?),
        "aggTrade" => MarketEvent::AggTrade(fast_or_serde(text, fast::agg_trade)?),
        "depthUpdate" => MarketEvent::DepthUpdate(fast_or_serde(text, fast::depth_update)?),
        "bookTicker" => MarketEvent::BookTicker(serde_json::from_str(text)?),
        "serverShutdown" => return Ok(Message::ServerShutdown(serde_json::from_str(text)?)),
        other => return Err(DecodeError::UnknownEvent(other.to_owned())),
    };
    event(ev, src)
}

/// The hand parser's result, or serde's for the layouts it declines (reordered keys, escapes,
/// extra fields): one place for the fallback every fast-parsed kind uses.
#[inline]
fn fast_or_serde<'a, T: Deserialize<'a>>(
    text: &'a str,
    fast: fn(&'a str) -> Option<T>,
) -> Result<T, DecodeError> {
    match fast(text) {
        Some(v) => Ok(v),
        None => Ok(serde_json::from_str(text)?),
    }
}

fn partial_depth<'a>(text: &'a str, src: Source<'a>) -> Result<Message<'a>, DecodeError> {
    let d: PartialDepth<'a> = fast_or_serde(text, fast::partial_depth)?;
    event(MarketEvent::PartialDepth(d), src)
}

/// The decoded event with its stream: the combined stream's name (which must carry this
/// kind), or the raw connection's hint when consistent. Partial depth, whose payload has no
/// symbol, takes it from that stream.
#[inline(always)]
fn event<'a>(mut ev: MarketEvent<'a>, src: Source<'a>) -> Result<Message<'a>, DecodeError> {
    if let MarketEvent::PartialDepth(d) = &mut ev {
        let stream = match src {
            Source::Combined(s) => Some(s),
            Source::Raw(h) => h,
        };
        if let Some(s) = stream {
            if matches!(s.kind, StreamKind::PartialDepth { .. }) {
                d.symbol = s.symbol;
            }
        }
    }
    let stream = match src {
        Source::Combined(s) => {
            if !ev.matches_kind(s.kind) {
                return Err(DecodeError::StreamMismatch {
                    stream: s.name.to_owned(),
                    event: ev.event_name(),
                });
            }
            Some(s)
        }
        Source::Raw(Some(h)) => {
            let sym = ev.symbol();
            let same_symbol = match ev {
                MarketEvent::PartialDepth(_) => true,
                _ => crate::stream::same_symbol(sym, h.symbol),
            };
            (ev.matches_kind(h.kind) && same_symbol).then_some(h)
        }
        Source::Raw(None) => None,
    };
    Ok(Message::Event(StreamEvent { stream, event: ev }))
}

fn control(text: &str) -> Result<Message<'_>, DecodeError> {
    let c: Control = serde_json::from_str(text)?;
    if let Some(e) = c.error {
        return Ok(Message::Error(ErrorReply {
            code: e.code,
            msg: e.msg,
            id: c.id,
        }));
    }
    if let Some(code) = c.code {
        return Ok(Message::Error(ErrorReply {
            code,
            msg: c.msg.unwrap_or(Cow::Borrowed("")),
            id: c.id,
        }));
    }
    match c.result {
        Some(r) => Ok(Message::Response(Response {
            id: c.id,
            result: (r.get() != "null").then_some(r),
        })),
        None => Err(DecodeError::Unrecognized),
    }
}

fn decode_combined<'a>(text: &'a str, b: &[u8], after: usize) -> Result<Message<'a>, DecodeError> {
    // Fast path for Binance's exact layout: {"stream":"NAME","data":DATA}
    if let Some((name, data_start)) = combined_prefix(text, b, after) {
        let end = text.trim_end_matches(|c: char| c.is_ascii_whitespace());
        if let Some(data) = end.strip_suffix('}').and_then(|s| s.get(data_start..)) {
            let stream =
                StreamRef::parse(name).map_err(|_| DecodeError::UnknownStream(name.to_owned()))?;
            match decode_data(data, stream) {
                // The slice may not be exactly the data value (e.g. more keys follow it):
                // only a JSON error can come from that; retry the general way.
                Err(DecodeError::Json(_)) => {}
                other => return other,
            }
        }
    }
    let env: Envelope = serde_json::from_str(text)?;
    let stream = StreamRef::parse(env.stream)
        .map_err(|_| DecodeError::UnknownStream(env.stream.to_owned()))?;
    decode_data(env.data.get(), stream)
}

fn decode_data<'a>(data: &'a str, stream: StreamRef<'a>) -> Result<Message<'a>, DecodeError> {
    let src = Source::Combined(stream);
    if let Some(ev) = fast::exact(data) {
        return event(ev, src);
    }
    match first_key(data.as_bytes()) {
        Some((key, after)) => decode_payload(data, key, after, src),
        None => probe_payload(data, src),
    }
}

/// `{"stream":"NAME","data":DATA}` with nothing around it: the stream (when its name parses)
/// and DATA.
#[inline(always)]
fn combined_exact(text: &str) -> Option<(StreamRef<'_>, &str)> {
    const PREFIX: &[u8; 11] = br#"{"stream":""#;
    const DATA: &[u8; 9] = br#"","data":"#;
    let b = text.as_bytes();
    if b.first_chunk::<11>() != Some(PREFIX) || b.last() != Some(&b'}') {
        return None;
    }
    let name_end = scan::string_end(b, PREFIX.len())?;
    if b.get(name_end..)?.first_chunk::<9>() != Some(DATA) {
        return None;
    }
    let data = text.get(name_end + DATA.len()..text.len() - 1)?;
    let stream = StreamRef::parse(text.get(PREFIX.len()..name_end)?).ok()?;
    Some((stream, data))
}

/// `{"stream":"` ... `","data":` at the start: returns the name and where data starts.
fn combined_prefix<'a>(text: &'a str, b: &[u8], after: usize) -> Option<(&'a str, usize)> {
    // `after` points just past the closing quote of the "stream" key.
    if b.get(after) != Some(&b':') || b.get(after + 1) != Some(&b'"') {
        return None;
    }
    let start = after + 2;
    let len = b[start..].iter().position(|&c| c == b'"' || c == b'\\')?;
    let end = start + len;
    let rest = b.get(end..end + 9)?;
    (rest == b"\",\"data\":").then(|| (&text[start..end], end + 9))
}

/// First key of a JSON object if it is a plain string without escapes, and the offset
/// just after its closing quote.
fn first_key(b: &[u8]) -> Option<(&str, usize)> {
    let mut pos = skip_ws(b, 0);
    if b.get(pos) != Some(&b'{') {
        return None;
    }
    pos = skip_ws(b, pos + 1);
    if b.get(pos) != Some(&b'"') {
        return None;
    }
    let start = pos + 1;
    let len = b[start..].iter().position(|&c| c == b'"' || c == b'\\')?;
    if b[start + len] != b'"' {
        return None;
    }
    let key = std::str::from_utf8(&b[start..start + len]).ok()?;
    Some((key, start + len + 1))
}

/// The string value after a key (offset just past the key's closing quote), if plain.
fn string_value(text: &str, after: usize) -> Option<&str> {
    let b = text.as_bytes();
    let mut pos = skip_ws(b, after);
    if b.get(pos) != Some(&b':') {
        return None;
    }
    pos = skip_ws(b, pos + 1);
    if b.get(pos) != Some(&b'"') {
        return None;
    }
    let start = pos + 1;
    let len = b[start..].iter().position(|&c| c == b'"' || c == b'\\')?;
    if b[start + len] != b'"' {
        return None;
    }
    text.get(start..start + len)
}

fn probe<'a>(text: &'a str, hint: Option<StreamRef<'a>>) -> Result<Message<'a>, DecodeError> {
    let p: Probe = serde_json::from_str(text)?;
    if let (Some(name), Some(data)) = (p.stream, p.data) {
        let stream =
            StreamRef::parse(name).map_err(|_| DecodeError::UnknownStream(name.to_owned()))?;
        return decode_data(data.get(), stream);
    }
    probe_dispatch(text, p, Source::Raw(hint))
}

fn probe_payload<'a>(text: &'a str, src: Source<'a>) -> Result<Message<'a>, DecodeError> {
    let p: Probe = serde_json::from_str(text)?;
    probe_dispatch(text, p, src)
}

fn probe_dispatch<'a>(
    text: &'a str,
    p: Probe<'a>,
    src: Source<'a>,
) -> Result<Message<'a>, DecodeError> {
    if let Some(tag) = p.e {
        decode_tagged(text, tag, src)
    } else if p.last_update_id {
        partial_depth(text, src)
    } else if p.u {
        event(MarketEvent::BookTicker(serde_json::from_str(text)?), src)
    } else if p.result || p.code || p.error {
        control(text)
    } else {
        Err(DecodeError::Unrecognized)
    }
}
