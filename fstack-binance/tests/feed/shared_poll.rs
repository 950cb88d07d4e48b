//! One poll for a program's own socket and a feed: `Feed::with_tokens` registers the feed's
//! connections on the caller's `Poll`, the scenario polls once per iteration and hands the
//! events to `Feed::poll_on`, while an echo listener of its own on the same `Poll` serves a
//! kernel-side client byte-exact. A feed with the caller's poll refuses `Feed::poll`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::ops::Range;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use fstack::{Events, FStackListener, FStackSocket, Interest, Poll, Ready, Token};
use fstack_binance::feed::{handler_fn, Feed, FeedConfig};
use fstack_binance::stream::Stream;
use fstack_mock_exchange::MockExchange;

use crate::common::{Pattern, Scenario};
use crate::harness::{check_exact, connector, fast, seq_of};

const FEED_TOKENS: Range<usize> = 1_000..2_000;
const LISTENER: Token = Token(1);
const CONN: Token = Token(2);
const ECHO_BYTES: usize = 256 << 10;

pub fn add(s: &mut Vec<Box<dyn Scenario>>) {
    s.push(Box::new(SharedPoll::new()));
}

struct SharedPoll {
    _mock: MockExchange,
    feed: Feed,
    poll: Poll,
    events: Events,
    listener: FStackListener,
    conn: Option<FStackSocket>,
    /// Bytes read from the client and not yet echoed.
    backlog: Vec<u8>,
    client: Option<JoinHandle<Vec<u8>>>,
    sent: Vec<u8>,
    seen: Vec<u64>,
    error: Option<String>,
    deadline: Instant,
}

impl SharedPoll {
    fn new() -> SharedPoll {
        let mock = MockExchange::start(fast()).expect("mock");
        let streams = vec![Stream::parse("btcusdt@trade").unwrap()];
        let mut config = FeedConfig::new("localhost", mock.local_addr().port(), streams);
        config.resolve = Some(mock.local_addr());
        let mut feed = Feed::with_tokens(config.clone(), connector(&mock), FEED_TOKENS)
            .expect("feed on the caller's poll");
        // No poll of its own.
        let err = feed
            .poll(Instant::now(), &mut handler_fn(|_, _| {}, |_| {}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid argument: this feed registers on the caller's Poll: \
             call Feed::poll_on"
        );
        let small = Feed::with_tokens(config, connector(&mock), 10..13).unwrap_err();
        assert_eq!(
            small.to_string(),
            "invalid argument: feed token range 10..13 holds fewer than 4 \
             tokens"
        );
        assert!(feed.owns(Token(1_000)) && feed.owns(Token(1_999)));
        assert!(!feed.owns(LISTENER) && !feed.owns(Token(2_000)));

        let listener = FStackListener::bind("127.0.0.1:0".parse().unwrap()).expect("bind");
        let addr = listener.local_addr().unwrap();
        let mut poll = Poll::new().expect("poll");
        poll.register(&listener, LISTENER, Interest::READABLE)
            .expect("register");
        let mut sent = vec![0u8; ECHO_BYTES];
        Pattern::new(11).fill(&mut sent);
        let to_send = sent.clone();
        let client = thread::spawn(move || {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(&to_send).expect("write");
            let mut got = vec![0u8; ECHO_BYTES];
            s.read_exact(&mut got).expect("read echo");
            got
        });
        SharedPoll {
            _mock: mock,
            feed,
            poll,
            events: Events::with_capacity(16),
            listener,
            conn: None,
            backlog: Vec::new(),
            client: Some(client),
            sent,
            seen: Vec::new(),
            error: None,
            deadline: Instant::now() + Duration::from_secs(60),
        }
    }

    /// The scenario's own socket: accept, then echo everything back.
    fn own_events(&mut self) -> Result<(), String> {
        let fail = |e: fstack::Error| e.to_string();
        for ev in self.events.iter().filter(|ev| !self.feed.owns(ev.token())) {
            match ev.token() {
                LISTENER => {
                    let (sock, _) = self.listener.accept().map_err(fail)?;
                    self.poll
                        .register(&sock, CONN, Interest::READABLE | Interest::WRITABLE)
                        .map_err(fail)?;
                    self.conn = Some(sock);
                }
                CONN => {}
                other => return Err(format!("event for unknown token {other:?}")),
            }
        }
        let Some(sock) = self.conn.as_mut() else {
            return Ok(());
        };
        // Drain and echo on every iteration (a write may have stopped on WouldBlock).
        let mut buf = [0u8; 16 << 10];
        while let Some(n) = sock.read(&mut buf).ready().map_err(|e| e.to_string())? {
            if n == 0 {
                break;
            }
            self.backlog.extend_from_slice(&buf[..n]);
        }
        while !self.backlog.is_empty() {
            match sock
                .write(&self.backlog)
                .ready()
                .map_err(|e| e.to_string())?
            {
                Some(n) => drop(self.backlog.drain(..n)),
                None => break,
            }
        }
        Ok(())
    }
}

impl Scenario for SharedPoll {
    fn name(&self) -> &'static str {
        "own socket and feed on one poll"
    }

    fn step(&mut self) -> Option<Result<(), String>> {
        let now = Instant::now();
        // The one ff_epoll_wait of this iteration, for both.
        if let Err(e) = self.poll.poll(&mut self.events) {
            return Some(Err(e.to_string()));
        }
        let (seen, error) = (&mut self.seen, &mut self.error);
        let polled = self.feed.poll_on(
            now,
            &mut self.poll,
            &self.events,
            &mut handler_fn(
                |ev, _| {
                    let stream = ev.stream.map(|s| s.name.to_string()).unwrap_or_default();
                    if let Err(e) = check_exact(&stream, ev) {
                        error.get_or_insert(e);
                    }
                    seen.push(seq_of(&ev.event));
                },
                |_| {},
            ),
        );
        if let Err(e) = polled {
            return Some(Err(format!("feed: {e}")));
        }
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        if let Err(e) = self.own_events() {
            return Some(Err(format!("own socket: {e}")));
        }
        let echoed = self.client.as_ref().is_some_and(|c| c.is_finished());
        if echoed && self.seen.len() >= 50 {
            let got = self.client.take().unwrap().join().expect("client");
            if got != self.sent {
                return Some(Err("the echo differs".into()));
            }
            let first = self.seen[0];
            let want: Vec<u64> = (first..first + self.seen.len() as u64).collect();
            if self.seen != want {
                return Some(Err(format!("feed sequence has gaps: {:?}", self.seen)));
            }
            self.conn = None;
            return Some(Ok(()));
        }
        if now > self.deadline {
            return Some(Err(format!(
                "timed out: {} feed events, echo done {echoed}",
                self.seen.len()
            )));
        }
        None
    }
}
