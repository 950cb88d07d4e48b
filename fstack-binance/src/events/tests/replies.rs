//! Replies to control requests, error replies and `serverShutdown`.

use super::*;

#[test]
fn control_replies() {
    assert_eq!(
        decode(r#"{"result":null,"id":1}"#, None).unwrap(),
        Message::Response(Response {
            id: Some(1),
            result: None
        })
    );
    assert_eq!(
        decode(r#"{"id":7,"result":null}"#, None).unwrap(),
        Message::Response(Response {
            id: Some(7),
            result: None
        })
    );
    let Message::Response(r) = decode(
        r#"{"result":["btcusdt@aggTrade","btcusdt@depth"],"id":3}"#,
        None,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(r.id, Some(3));
    assert_eq!(
        r.result.unwrap().get(),
        r#"["btcusdt@aggTrade","btcusdt@depth"]"#
    );
    assert_eq!(r.streams().unwrap(), ["btcusdt@aggTrade", "btcusdt@depth"]);
    let Message::Response(r) = decode(r#"{"result":null,"id":1}"#, None).unwrap() else {
        panic!()
    };
    assert!(r.streams().unwrap().is_empty());
    assert_eq!(
        decode(
            r#"{"code": 2, "msg": "Invalid request: property name must be a string", "id": 5}"#,
            None
        )
        .unwrap(),
        Message::Error(ErrorReply {
            code: 2,
            msg: Cow::Borrowed("Invalid request: property name must be a string"),
            id: Some(5),
        })
    );
    let Message::Error(e) = decode(r#"{"code":0,"msg":"Unknown \"property\""}"#, None).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (e.code, e.msg.as_ref(), e.id),
        (0, "Unknown \"property\"", None)
    );
    assert!(matches!(e.msg, Cow::Owned(_)));
    let Message::Error(e) = decode(
        r#"{"id":9,"status":400,"error":{"code":-1121,"msg":"Invalid symbol."}}"#,
        None,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        (e.code, e.msg.as_ref(), e.id),
        (-1121, "Invalid symbol.", Some(9))
    );
    // An id alone is not a reply.
    assert!(matches!(
        decode(r#"{"id":1}"#, None),
        Err(DecodeError::Unrecognized)
    ));
}

#[test]
fn server_shutdown() {
    assert_eq!(
        decode(r#"{"e":"serverShutdown","E":1728000000000}"#, None).unwrap(),
        Message::ServerShutdown(ServerShutdown {
            event_time: Some(1_728_000_000_000)
        })
    );
    assert_eq!(
        decode(r#"{"E":5,"e":"serverShutdown"}"#, None).unwrap(),
        Message::ServerShutdown(ServerShutdown {
            event_time: Some(5)
        })
    );
    let text = combined("btcusdt@ticker", r#"{"e":"serverShutdown"}"#);
    assert_eq!(
        decode(&text, None).unwrap(),
        Message::ServerShutdown(ServerShutdown { event_time: None })
    );
}
