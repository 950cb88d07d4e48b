//! Commands from a strategy: each gets exactly one reply; malformed ones an error reply,
//! never a crash; one waiting for the exchange is answered when the ack (or rejection)
//! arrives, or after its deadline.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use fstack_bus::command::{op, status};
use fstack_bus::publisher::COMMAND_DEADLINE;
use fstack_bus::{BusConfig, BusPublisher, Command, CommandClient, CommandDecision, CommandReply};

#[test]
fn replies_to_good_bad_and_pending_commands() {
    let name = format!("cmd-{}", std::process::id());
    let mut bus = BusPublisher::new(BusConfig::new(&name)).unwrap();
    let mut bad_len = Command::new(op::SUBSCRIBE, "btcusdt@trade").unwrap();
    bad_len.stream_len = 255;
    let mut not_utf8 = Command::new(op::SUBSCRIBE, "ab").unwrap();
    not_utf8.stream[0] = 0xc3;
    let commands = vec![
        Command::new(op::SUBSCRIBE, "ethusdt@trade").unwrap(),
        bad_len,
        not_utf8,
        Command::new(9, "ethusdt@trade").unwrap(),
        Command::new(op::UNSUBSCRIBE, "ethusdt@trade").unwrap(),
        Command::new(op::SUBSCRIBE, "xrpusdt@trade").unwrap(),
        Command::new(op::SUBSCRIBE, "solusdt@trade").unwrap(),
    ];
    let (tx, rx) = mpsc::channel();
    let client_name = name.clone();
    let client = std::thread::spawn(move || {
        let client = CommandClient::new(&client_name).unwrap();
        for c in commands {
            let r = client.call(c, Duration::from_secs(20)).unwrap();
            tx.send(r).unwrap();
        }
    });
    let mut seen = Vec::new();
    let mut replies = Vec::new();
    let start = Instant::now();
    // The feed's loop: poll commands; the "exchange" acks request 7, rejects 8, and never
    // answers 9 (its command times out).
    let mut now = start;
    while replies.len() < 7 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "replies so far: {replies:?}"
        );
        bus.poll_commands(now, |c| {
            seen.push((c.op, c.stream().unwrap().to_owned()));
            match (c.op, c.stream().unwrap()) {
                (op::SUBSCRIBE, "ethusdt@trade") => CommandDecision::Await(vec![7]),
                (op::UNSUBSCRIBE, _) => CommandDecision::Await(vec![8]),
                (op::SUBSCRIBE, "xrpusdt@trade") => CommandDecision::Await(vec![9]),
                (op::SUBSCRIBE, _) => CommandDecision::Await(vec![]),
                (other, _) => CommandDecision::Reply(CommandReply::new(
                    status::MALFORMED,
                    0,
                    0,
                    &format!("unknown op {other}"),
                )),
            }
        });
        bus.on_ack(7);
        bus.on_ack(1234); // unknown ids are ignored
        bus.on_rejected(Some(8), -1, "Invalid request");
        if seen.len() >= 4 {
            now += COMMAND_DEADLINE; // time passes for the unanswered one
        }
        replies.extend(rx.try_iter());
        std::thread::sleep(Duration::from_millis(1));
    }
    client.join().unwrap();
    let got: Vec<(u8, u64, i64, &str)> = replies
        .iter()
        .map(|r| (r.status, r.request_id, r.code, r.msg()))
        .collect();
    assert_eq!(
        got,
        [
            (status::OK, 7, 0, "acknowledged"),
            (
                status::MALFORMED,
                0,
                0,
                "stream_len exceeds the stream buffer"
            ),
            (status::MALFORMED, 0, 0, "stream is not UTF-8"),
            (status::MALFORMED, 0, 0, "unknown op 9"),
            (status::REJECTED, 8, -1, "Invalid request"),
            (status::LOST, 9, 0, "no answer from the exchange"),
            (status::OK, 0, 0, "nothing to send"),
        ]
    );
    // The malformed ones never reached the decision.
    assert_eq!(seen.len(), 5);
    let c = bus.counters();
    assert_eq!((c.commands, c.malformed), (7, 3));
}

/// A rejection the exchange could not tie to a request id answers the oldest waiting
/// command, even after a newer one was answered out of order.
#[test]
fn rejection_without_id_answers_the_oldest_waiting_command() {
    let name = format!("cmdorder-{}", std::process::id());
    let mut bus = BusPublisher::new(BusConfig::new(&name)).unwrap();
    let streams = ["aaausdt@trade", "bbbusdt@trade", "cccusdt@trade"];
    let (tx, rx) = mpsc::channel();
    let mut clients = Vec::new();
    let mut seen = 0;
    let start = Instant::now();
    for (i, s) in streams.iter().enumerate() {
        let (tx, client_name, s) = (tx.clone(), name.clone(), s.to_string());
        clients.push(std::thread::spawn(move || {
            let client = CommandClient::new(&client_name).unwrap();
            let c = Command::new(op::SUBSCRIBE, &s).unwrap();
            let r = client.call(c, Duration::from_secs(20)).unwrap();
            tx.send((s, r)).unwrap();
        }));
        // One at a time, so the commands wait in this order (request ids 1, 2, 3).
        while seen <= i {
            assert!(start.elapsed() < Duration::from_secs(20));
            bus.poll_commands(Instant::now(), |_| {
                seen += 1;
                CommandDecision::Await(vec![seen as u64])
            });
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    bus.on_ack(1); // the oldest is answered: "bbb" is now the oldest waiting
    bus.on_rejected(None, -1, "Invalid request");
    bus.on_ack(3);
    drop(tx);
    for c in clients {
        c.join().unwrap();
    }
    let mut got: Vec<(String, u8, u64)> = rx
        .iter()
        .map(|(s, r)| (s, r.status, r.request_id))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("aaausdt@trade".to_owned(), status::OK, 1),
            ("bbbusdt@trade".to_owned(), status::REJECTED, 2),
            ("cccusdt@trade".to_owned(), status::OK, 3),
        ]
    );
}
