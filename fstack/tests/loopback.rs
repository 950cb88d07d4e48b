//! The safe API end to end on the kernel backend, all inside one running F-Stack loop: echo over
//! IPv4 and IPv6, a 64 MiB byte-exact transfer, 1,000 concurrent connections, refused connects,
//! bad addresses, and vectored reads and writes.

mod common;

use std::collections::HashMap;
use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use common::{Pattern, Scenario};
use fstack::{Error, Events, FStackListener, FStackSocket, Interest, Poll, Token};

const BOTH: Interest = Interest::READABLE.add(Interest::WRITABLE);

/// Edge-triggered readiness remembered until an operation reports WouldBlock.
#[derive(Default, Clone, Copy)]
struct Ready {
    read: bool,
    write: bool,
}

impl Ready {
    fn update(&mut self, ev: &fstack::Event) {
        self.read |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
        self.write |= ev.is_writable() || ev.is_error();
    }
}

fn fail<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

// ---------------------------------------------------------------------------------------------

/// Client and server echo messages of many sizes, then close in order.
struct Echo {
    name: &'static str,
    poll: Poll,
    events: Events,
    listener: FStackListener,
    client: FStackSocket,
    client_ready: Ready,
    server: Option<(FStackSocket, Ready)>,
    to_send: Vec<u8>,
    sent: usize,
    echoed: Vec<u8>,
    server_buf: Vec<u8>,
    server_eof: bool,
}

const LISTENER: Token = Token(0);
const CLIENT: Token = Token(usize::MAX);
const SERVER: Token = Token(1);

impl Echo {
    fn new(name: &'static str, bind: SocketAddr) -> Result<Echo, Error> {
        let mut poll = Poll::new()?;
        let listener = FStackListener::bind(bind)?;
        let client = FStackSocket::connect(listener.local_addr()?)?;
        client.set_nodelay(true)?;
        assert!(client.nodelay()?);
        poll.register(&listener, LISTENER, Interest::READABLE)?;
        poll.register(&client, CLIENT, BOTH)?;
        let mut to_send = Vec::new();
        let mut pattern = Pattern::new(7);
        for size in [1usize, 2, 17, 100, 1000, 4096, 65_537, 3] {
            let mut chunk = vec![0; size];
            pattern.fill(&mut chunk);
            to_send.extend_from_slice(&chunk);
        }
        Ok(Echo {
            name,
            poll,
            events: Events::with_capacity(16),
            listener,
            client,
            client_ready: Ready::default(),
            server: None,
            to_send,
            sent: 0,
            echoed: Vec::new(),
            server_buf: Vec::new(),
            server_eof: false,
        })
    }

    fn step_inner(&mut self) -> Result<bool, String> {
        self.poll.poll(&mut self.events).map_err(fail("poll"))?;
        for ev in &self.events {
            match ev.token() {
                LISTENER => loop {
                    match self.listener.accept() {
                        Ok((sock, peer)) => {
                            if peer != self.client.local_addr().map_err(fail("local_addr"))? {
                                return Err(format!("accepted unexpected peer {peer}"));
                            }
                            self.poll
                                .register(&sock, SERVER, BOTH)
                                .map_err(fail("register"))?;
                            self.server = Some((sock, Ready::default()));
                        }
                        Err(e) if e.is_would_block() => break,
                        Err(e) => return Err(format!("accept: {e}")),
                    }
                },
                CLIENT => self.client_ready.update(ev),
                SERVER => {
                    if let Some((_, ready)) = self.server.as_mut() {
                        ready.update(ev);
                    }
                }
                Token(t) => return Err(format!("event for unknown token {t}")),
            }
        }

        if self.client.is_connecting() && self.client_ready.write {
            if !self
                .client
                .finish_connect()
                .map_err(fail("finish_connect"))?
            {
                return Ok(false);
            }
            let peer = self.client.peer_addr().map_err(fail("peer_addr"))?;
            if peer != self.listener.local_addr().map_err(fail("listener addr"))? {
                return Err(format!("connected to {peer}"));
            }
        }
        if self.client.is_connecting() {
            return Ok(false);
        }

        // Client writes what is left (edge-triggered: until WouldBlock).
        while self.client_ready.write && self.sent < self.to_send.len() {
            match self.client.write(&self.to_send[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.client_ready.write = false,
                Err(e) => return Err(format!("client write: {e}")),
            }
            if self.sent == self.to_send.len() {
                self.client
                    .shutdown(Shutdown::Write)
                    .map_err(fail("shutdown"))?;
            }
        }

        // Server echoes.
        if let Some((sock, ready)) = self.server.as_mut() {
            let mut buf = [0u8; 8192];
            while ready.read && !self.server_eof {
                match sock.read(&mut buf) {
                    Ok(0) => self.server_eof = true,
                    Ok(n) => self.server_buf.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => ready.read = false,
                    Err(e) => return Err(format!("server read: {e}")),
                }
            }
            while !self.server_buf.is_empty() {
                match sock.write(&self.server_buf) {
                    Ok(n) => {
                        self.server_buf.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("server write: {e}")),
                }
            }
            if self.server_eof && self.server_buf.is_empty() {
                // Closing the echo side ends the client's read with EOF.
                self.poll.deregister(sock).map_err(fail("deregister"))?;
                self.server = None;
            }
        }

        // Client reads the echo until EOF.
        let mut buf = [0u8; 8192];
        while self.client_ready.read {
            match self.client.read(&mut buf) {
                Ok(0) => {
                    if self.echoed != self.to_send {
                        return Err(format!(
                            "echo differs: sent {} bytes, got back {}",
                            self.to_send.len(),
                            self.echoed.len()
                        ));
                    }
                    return Ok(true);
                }
                Ok(n) => self.echoed.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.client_ready.read = false,
                Err(e) => return Err(format!("client read: {e}")),
            }
        }
        Ok(false)
    }
}

impl Scenario for Echo {
    fn name(&self) -> &'static str {
        self.name
    }
    fn step(&mut self) -> Option<Result<(), String>> {
        match self.step_inner() {
            Ok(true) => Some(Ok(())),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

// ---------------------------------------------------------------------------------------------

const BULK_BYTES: usize = 64 << 20;

/// 64 MiB through non-blocking writes; the receiver checks every byte.
struct Bulk {
    poll: Poll,
    events: Events,
    listener: FStackListener,
    client: FStackSocket,
    client_ready: Ready,
    server: Option<(FStackSocket, Ready)>,
    out_pattern: Pattern,
    in_pattern: Pattern,
    chunk: Vec<u8>,
    chunk_pos: usize,
    written: usize,
    received: usize,
    would_blocks: usize,
}

impl Bulk {
    fn new() -> Result<Bulk, Error> {
        let mut poll = Poll::new()?;
        let listener = FStackListener::bind("127.0.0.1:0".parse().unwrap())?;
        let client = FStackSocket::connect(listener.local_addr()?)?;
        poll.register(&listener, LISTENER, Interest::READABLE)?;
        poll.register(&client, CLIENT, Interest::WRITABLE)?;
        Ok(Bulk {
            poll,
            events: Events::with_capacity(8),
            listener,
            client,
            client_ready: Ready::default(),
            server: None,
            out_pattern: Pattern::new(64),
            in_pattern: Pattern::new(64),
            chunk: vec![0; 256 << 10],
            chunk_pos: 256 << 10,
            written: 0,
            received: 0,
            would_blocks: 0,
        })
    }

    fn step_inner(&mut self) -> Result<bool, String> {
        self.poll.poll(&mut self.events).map_err(fail("poll"))?;
        for ev in &self.events {
            match ev.token() {
                LISTENER if self.server.is_none() => {
                    if let Ok((sock, _)) = self.listener.accept() {
                        self.poll
                            .register(&sock, SERVER, Interest::READABLE)
                            .map_err(fail("register"))?;
                        // Data may have arrived before registration: read at once.
                        self.server = Some((
                            sock,
                            Ready {
                                read: true,
                                write: false,
                            },
                        ));
                    }
                }
                CLIENT => self.client_ready.update(ev),
                SERVER => {
                    if let Some((_, r)) = self.server.as_mut() {
                        r.update(ev)
                    }
                }
                _ => {}
            }
        }
        if self.client.is_connecting()
            && (!self.client_ready.write
                || !self.client.finish_connect().map_err(fail("connect"))?)
        {
            return Ok(false);
        }
        while self.client_ready.write && self.written < BULK_BYTES {
            if self.chunk_pos == self.chunk.len() {
                self.out_pattern.fill(&mut self.chunk);
                self.chunk_pos = 0;
            }
            let end = self
                .chunk
                .len()
                .min(self.chunk_pos + (BULK_BYTES - self.written));
            match self.client.write(&self.chunk[self.chunk_pos..end]) {
                Ok(n) => {
                    self.chunk_pos += n;
                    self.written += n;
                    if self.written == BULK_BYTES {
                        self.client
                            .shutdown(Shutdown::Write)
                            .map_err(fail("shutdown"))?;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.would_blocks += 1;
                    self.client_ready.write = false;
                }
                Err(e) => return Err(format!("write after {} bytes: {e}", self.written)),
            }
        }
        if let Some((sock, ready)) = self.server.as_mut() {
            let mut buf = [0u8; 65536];
            let mut expect = [0u8; 65536];
            while ready.read {
                match sock.read(&mut buf) {
                    Ok(0) => {
                        if self.received != BULK_BYTES {
                            return Err(format!(
                                "EOF after {} of {BULK_BYTES} bytes",
                                self.received
                            ));
                        }
                        if self.would_blocks == 0 {
                            return Err("the writer never saw WouldBlock".into());
                        }
                        eprintln!(
                            "bulk: {BULK_BYTES} bytes, writer hit WouldBlock {} times",
                            self.would_blocks
                        );
                        return Ok(true);
                    }
                    Ok(n) => {
                        self.in_pattern.fill(&mut expect[..n]);
                        if buf[..n] != expect[..n] {
                            let i = (0..n).find(|&i| buf[i] != expect[i]).unwrap();
                            return Err(format!("byte {} differs", self.received + i));
                        }
                        self.received += n;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => ready.read = false,
                    Err(e) => return Err(format!("read: {e}")),
                }
            }
        }
        Ok(false)
    }
}

impl Scenario for Bulk {
    fn name(&self) -> &'static str {
        "64 MiB non-blocking transfer arrives byte-exact"
    }
    fn step(&mut self) -> Option<Result<(), String>> {
        match self.step_inner() {
            Ok(true) => Some(Ok(())),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

// ---------------------------------------------------------------------------------------------

const CONNS: usize = 1000;
const SERVER_BASE: usize = 1 << 20;

/// 1,000 connections at once; each sends its id and expects `id * 2 + 1` back.
struct Thousand {
    poll: Poll,
    events: Events,
    listener: FStackListener,
    clients: HashMap<usize, (FStackSocket, bool)>,
    servers: HashMap<usize, FStackSocket>,
    next_server: usize,
    done: usize,
}

impl Thousand {
    fn new() -> Result<Thousand, Error> {
        let mut poll = Poll::new()?;
        let listener = FStackListener::bind("127.0.0.1:0".parse().unwrap())?;
        poll.register(&listener, Token(usize::MAX - 1), Interest::READABLE)?;
        let addr = listener.local_addr()?;
        let mut clients = HashMap::new();
        for id in 0..CONNS {
            let sock = FStackSocket::connect(addr)?;
            poll.register(&sock, Token(id), BOTH)?;
            clients.insert(id, (sock, false));
        }
        Ok(Thousand {
            poll,
            events: Events::with_capacity(256),
            listener,
            clients,
            servers: HashMap::new(),
            next_server: SERVER_BASE,
            done: 0,
        })
    }

    fn step_inner(&mut self) -> Result<bool, String> {
        self.poll.poll(&mut self.events).map_err(fail("poll"))?;
        let ready: Vec<fstack::Event> = self.events.iter().copied().collect();
        for ev in ready {
            let Token(t) = ev.token();
            if t == usize::MAX - 1 {
                loop {
                    match self.listener.accept() {
                        Ok((sock, _)) => {
                            let tok = self.next_server;
                            self.next_server += 1;
                            self.poll
                                .register(&sock, Token(tok), Interest::READABLE)
                                .map_err(fail("register"))?;
                            // The id may already be there.
                            self.serve(tok, &sock)?;
                            self.servers.insert(tok, sock);
                        }
                        Err(e) if e.is_would_block() => break,
                        Err(e) => return Err(format!("accept: {e}")),
                    }
                }
            } else if t >= SERVER_BASE {
                if let Some(sock) = self.servers.get(&t) {
                    self.serve(t, sock)?;
                }
            } else if let Some((sock, sent)) = self.clients.get_mut(&t) {
                if sock.is_connecting() && !sock.finish_connect().map_err(fail("connect"))? {
                    continue;
                }
                if !*sent && ev.is_writable() {
                    let n = sock
                        .write(&(t as u64).to_le_bytes())
                        .map_err(fail("client write"))?;
                    if n != 8 {
                        return Err(format!("short write {n}"));
                    }
                    *sent = true;
                }
                if ev.is_readable() {
                    let mut buf = [0u8; 8];
                    match sock.read(&mut buf) {
                        Ok(8) => {
                            let got = u64::from_le_bytes(buf);
                            if got != t as u64 * 2 + 1 {
                                return Err(format!("connection {t} got {got}"));
                            }
                            let (sock, _) = self.clients.remove(&t).unwrap();
                            self.poll.deregister(&sock).map_err(fail("deregister"))?;
                            self.done += 1;
                        }
                        Ok(n) => return Err(format!("connection {t}: {n}-byte reply")),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => return Err(format!("connection {t}: {e}")),
                    }
                }
            }
        }
        Ok(self.done == CONNS)
    }

    fn serve(&self, tok: usize, sock: &FStackSocket) -> Result<(), String> {
        let mut buf = [0u8; 8];
        match (&*sock).read(&mut buf) {
            Ok(8) => {
                let id = u64::from_le_bytes(buf);
                let n = (&*sock)
                    .write(&(id * 2 + 1).to_le_bytes())
                    .map_err(fail("server write"))?;
                if n != 8 {
                    return Err(format!("short reply write {n}"));
                }
                Ok(())
            }
            Ok(0) => Ok(()),
            Ok(n) => Err(format!("server {tok}: {n}-byte request")),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(format!("server {tok}: {e}")),
        }
    }
}

impl Scenario for Thousand {
    fn name(&self) -> &'static str {
        "1,000 concurrent connections all complete"
    }
    fn step(&mut self) -> Option<Result<(), String>> {
        match self.step_inner() {
            Ok(true) => Some(Ok(())),
            Ok(false) => None,
            Err(e) => Some(Err(format!("{e} ({} of {CONNS} done)", self.done))),
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// A connect to a port nobody listens on fails with "connection refused", naming the address.
struct Refused {
    poll: Poll,
    events: Events,
    addr: SocketAddr,
    sock: Option<FStackSocket>,
}

impl Refused {
    fn new() -> Result<Refused, Error> {
        let addr = FStackListener::bind("127.0.0.1:0".parse().unwrap())?.local_addr()?;
        // The listener is closed again: nothing listens on `addr` now.
        Ok(Refused {
            poll: Poll::new()?,
            events: Events::with_capacity(4),
            addr,
            sock: None,
        })
    }

    fn check(&self, e: Error) -> Result<(), String> {
        let msg = e.to_string();
        if e.kind() != ErrorKind::ConnectionRefused {
            return Err(format!(
                "expected connection refused, got {:?}: {msg}",
                e.kind()
            ));
        }
        if !msg.contains(&self.addr.to_string()) || !msg.to_lowercase().contains("refused") {
            return Err(format!("message does not say what failed: {msg}"));
        }
        Ok(())
    }
}

impl Scenario for Refused {
    fn name(&self) -> &'static str {
        "connect to a closed port reports connection refused"
    }
    fn step(&mut self) -> Option<Result<(), String>> {
        let Some(sock) = self.sock.as_mut() else {
            match FStackSocket::connect(self.addr) {
                Ok(sock) => {
                    if let Err(e) = self.poll.register(&sock, Token(3), BOTH) {
                        return Some(Err(e.to_string()));
                    }
                    self.sock = Some(sock);
                    return None;
                }
                Err(e) => return Some(self.check(e)),
            }
        };
        if let Err(e) = self.poll.poll(&mut self.events) {
            return Some(Err(e.to_string()));
        }
        if self.events.is_empty() {
            return None;
        }
        match sock.finish_connect() {
            Ok(true) => Some(Err("connected to a closed port".into())),
            Ok(false) => None,
            Err(e) => Some(self.check(e)),
        }
    }
}

/// Addresses that cannot be used give errors naming the call and the OS reason.
struct BadAddresses;

impl Scenario for BadAddresses {
    fn name(&self) -> &'static str {
        "bad addresses give clear errors"
    }
    fn step(&mut self) -> Option<Result<(), String>> {
        let mut problems = Vec::new();
        // TEST-NET-1 is never assigned to this machine: nothing is sent, bind just fails.
        match FStackListener::bind("192.0.2.1:80".parse().unwrap()) {
            Ok(_) => problems.push("bind to a foreign address succeeded".to_string()),
            Err(e) => {
                if e.kind() != ErrorKind::AddrNotAvailable || !e.to_string().contains("ff_bind") {
                    problems.push(format!("foreign address: {:?} {e}", e.kind()));
                }
            }
        }
        let taken = FStackListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        match FStackListener::bind(taken.local_addr().unwrap()) {
            Ok(_) => problems.push("bind to a taken port succeeded".to_string()),
            Err(e) => {
                if e.kind() != ErrorKind::AddrInUse || !e.to_string().contains("ff_bind") {
                    problems.push(format!("taken port: {:?} {e}", e.kind()));
                }
            }
        }
        Some(if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// `write_vectored` of 100 slices and `read_vectored` into three buffers: exact bytes, and the
/// caller's slices still describe their data afterwards (real F-Stack advances the iovec array
/// it is handed; the crate gives it a copy).
struct Vectored {
    listener: FStackListener,
    client: FStackSocket,
    server: Option<FStackSocket>,
    chunks: Vec<Vec<u8>>,
    /// Chunks fully written, and bytes of the next one.
    written: (usize, usize),
    received: Vec<u8>,
}

impl Vectored {
    fn new() -> Result<Vectored, Error> {
        let listener = FStackListener::bind("127.0.0.1:0".parse().unwrap())?;
        let client = FStackSocket::connect(listener.local_addr()?)?;
        let mut pattern = Pattern::new(99);
        let chunks = (0..100)
            .map(|i| {
                let mut c = vec![0u8; 1 + i * 3];
                pattern.fill(&mut c);
                c
            })
            .collect();
        Ok(Vectored {
            listener,
            client,
            server: None,
            chunks,
            written: (0, 0),
            received: Vec::new(),
        })
    }

    fn step_inner(&mut self) -> Result<bool, String> {
        if self.server.is_none() {
            match self.listener.accept() {
                Ok((sock, _)) => self.server = Some(sock),
                Err(e) if e.is_would_block() => return Ok(false),
                Err(e) => return Err(format!("accept: {e}")),
            }
        }
        if self.client.is_connecting() && !self.client.finish_connect().map_err(fail("connect"))? {
            return Ok(false);
        }
        let (done, offset) = self.written;
        if done < self.chunks.len() {
            let mut slices: Vec<IoSlice<'_>> = vec![IoSlice::new(&self.chunks[done][offset..])];
            slices.extend(self.chunks[done + 1..].iter().map(|c| IoSlice::new(c)));
            let before: Vec<(*const u8, usize)> =
                slices.iter().map(|s| (s.as_ptr(), s.len())).collect();
            match self.client.write_vectored(&slices) {
                Ok(n) => {
                    let after: Vec<(*const u8, usize)> =
                        slices.iter().map(|s| (s.as_ptr(), s.len())).collect();
                    if after != before {
                        return Err("write_vectored changed the caller's slices".into());
                    }
                    let mut n = n;
                    let (mut done, mut offset) = (done, offset);
                    while n > 0 {
                        let left = self.chunks[done].len() - offset;
                        if n >= left {
                            n -= left;
                            done += 1;
                            offset = 0;
                        } else {
                            offset += n;
                            n = 0;
                        }
                    }
                    self.written = (done, offset);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("write_vectored: {e}")),
            }
        }
        let server = self.server.as_mut().expect("accepted above");
        let (mut a, mut b, mut c) = ([0u8; 7], [0u8; 300], [0u8; 5000]);
        loop {
            let mut bufs = [
                IoSliceMut::new(&mut a),
                IoSliceMut::new(&mut b),
                IoSliceMut::new(&mut c),
            ];
            match server.read_vectored(&mut bufs) {
                Ok(0) => return Err("EOF".into()),
                Ok(n) => {
                    let lens: Vec<usize> = bufs.iter().map(|s| s.len()).collect();
                    if lens != [7, 300, 5000] {
                        return Err(format!("read_vectored changed the buffers: {lens:?}"));
                    }
                    let all: Vec<u8> = a.iter().chain(&b).chain(&c).copied().collect();
                    self.received.extend_from_slice(&all[..n]);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("read_vectored: {e}")),
            }
        }
        let total: usize = self.chunks.iter().map(Vec::len).sum();
        if self.received.len() < total {
            return Ok(false);
        }
        if self.received != self.chunks.concat() {
            return Err(format!(
                "{} bytes received, not the ones written",
                self.received.len()
            ));
        }
        Ok(true)
    }
}

impl Scenario for Vectored {
    fn name(&self) -> &'static str {
        "vectored writes and reads: exact bytes, the caller's slices left alone"
    }
    fn step(&mut self) -> Option<Result<(), String>> {
        match self.step_inner() {
            Ok(true) => Some(Ok(())),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

#[test]
fn loopback_scenarios_in_one_loop() {
    if common::skip_unless_kernel_backend("loopback_scenarios_in_one_loop") {
        return;
    }
    common::raise_fd_limit();
    common::run_scenarios(Duration::from_secs(120), || {
        let mut s: Vec<Box<dyn Scenario>> = vec![
            Box::new(Echo::new("echo over IPv4", "127.0.0.1:0".parse().unwrap()).expect("echo v4")),
            Box::new(Bulk::new().expect("bulk")),
            Box::new(Thousand::new().expect("thousand")),
            Box::new(Refused::new().expect("refused")),
            Box::new(BadAddresses),
            Box::new(Vectored::new().expect("vectored")),
        ];
        match Echo::new("echo over IPv6", "[::1]:0".parse().unwrap()) {
            Ok(e) => s.push(Box::new(e)),
            Err(e) => eprintln!("SKIPPED echo over IPv6: no IPv6 loopback here ({e})"),
        }
        s
    });
}
