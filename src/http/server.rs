//! The server: the listener, the table of connections, the deadline sweep and shedding at the
//! connection limit.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fstack::{Events, FStackListener, Interest, Poll, Token};

use super::connection::{drive, Conn};
use super::shed_log::ShedLog;
use super::timers::{ConnTimer, Expiry};
use super::{respond, Request, RequestParser, ServerConfig, Stats};

/// How often deadlines are checked: connections close at most this late.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

const LISTENER: Token = Token(usize::MAX);

/// The server: a listener and its connections, advanced by [`HttpServer::poll_at`] (or
/// [`HttpServer::poll_once`]) once per F-Stack loop iteration.
pub struct HttpServer {
    listener: FStackListener,
    poll: Poll,
    events: Events,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    stats: Stats,
    config: ServerConfig,
    next_sweep: Option<Instant>,
    shed_log: ShedLog,
}

impl HttpServer {
    /// Binds `addr` and starts listening, with the default [`ServerConfig`].
    pub fn bind(addr: SocketAddr) -> fstack::Result<HttpServer> {
        HttpServer::bind_with(addr, ServerConfig::default())
    }

    /// Binds `addr` and starts listening, with `config`'s timeouts and limit.
    pub fn bind_with(addr: SocketAddr, config: ServerConfig) -> fstack::Result<HttpServer> {
        if config.max_connections == 0 {
            return Err(fstack::Error::InvalidArgument(
                "max_connections must be at least 1".into(),
            ));
        }
        let listener = FStackListener::bind(addr)?;
        let mut poll = Poll::new()?;
        poll.register(&listener, LISTENER, Interest::READABLE)?;
        Ok(HttpServer {
            listener,
            poll,
            events: Events::with_capacity(256),
            conns: Vec::new(),
            free: Vec::new(),
            stats: Stats::default(),
            config,
            next_sweep: None,
            shed_log: ShedLog::new(config.max_connections),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> fstack::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The timeouts and limit in force.
    pub fn config(&self) -> ServerConfig {
        self.config
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.conns.len() - self.free.len()
    }

    /// Closes every open connection (for a clean shutdown: call it inside the loop, before
    /// breaking out of it). Returns how many were closed.
    pub fn close_all(&mut self) -> usize {
        let mut closed = 0;
        for id in 0..self.conns.len() {
            if self.conns[id].is_some() {
                self.remove(id);
                closed += 1;
            }
        }
        closed
    }

    /// [`HttpServer::poll_at`] with `Instant::now()`.
    pub fn poll_once(&mut self) -> fstack::Result<()> {
        self.poll_at(Instant::now())
    }

    /// Accepts, reads, answers and writes whatever is ready, without blocking, and closes the
    /// connections whose deadline passed by `now` (checked every 100 ms).
    pub fn poll_at(&mut self, now: Instant) -> fstack::Result<()> {
        self.poll.poll(&mut self.events)?;
        let mut accept = false;
        for ev in &self.events {
            if ev.token() == LISTENER {
                accept = true;
            } else if let Some(Some(conn)) = self.conns.get_mut(ev.token().0) {
                conn.readable |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
                conn.writable |= ev.is_writable() || ev.is_error();
            }
        }
        if accept {
            self.accept_all(now)?;
        }
        for id in 0..self.conns.len() {
            let Some(conn) = self.conns[id].as_mut() else {
                continue;
            };
            if !(conn.readable || conn.writable) {
                continue;
            }
            if !drive(conn, now, &mut self.stats) {
                self.remove(id);
            }
        }
        if self.next_sweep.is_none_or(|at| now >= at) {
            self.next_sweep = Some(now + SWEEP_EVERY);
            self.sweep(now);
        }
        Ok(())
    }

    /// Handles the connections whose deadline passed.
    fn sweep(&mut self, now: Instant) {
        for id in 0..self.conns.len() {
            let Some(conn) = self.conns[id].as_mut() else {
                continue;
            };
            let Some(expiry) = conn.timer.expired(now, &self.config) else {
                continue;
            };
            if expiry != Expiry::Linger {
                self.stats.timed_out += 1;
            }
            if expiry == Expiry::Header && !conn.closing && !conn.input.is_empty() {
                // Part of a request arrived: say why before closing. The flush then has the
                // idle timeout to complete, and the connection lingers as after any last
                // response.
                respond(&Request::Timeout, &mut conn.output);
                conn.closing = true;
                conn.timer.head_done();
                conn.timer.progress(now);
                conn.writable = true;
                if drive(conn, now, &mut self.stats) {
                    continue;
                }
            }
            self.remove(id);
        }
        if let Some(line) = self.shed_log.due(now) {
            eprintln!("{line}");
        }
    }

    fn remove(&mut self, id: usize) {
        if let Some(conn) = self.conns[id].take() {
            let _ = self.poll.deregister(&conn.sock);
            drop(conn); // ff_close: FIN to the peer
            self.free.push(id);
        }
    }

    /// Closes the connection that [`Conn::shed_rank`] puts first; false if none may go.
    fn shed_one(&mut self) -> bool {
        let victim = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(id, c)| Some((c.as_ref()?.shed_rank()?, id)))
            .min();
        match victim {
            Some((_, id)) => {
                self.remove(id);
                true
            }
            None => false,
        }
    }

    fn accept_all(&mut self, now: Instant) -> fstack::Result<()> {
        loop {
            let (sock, _peer) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.is_would_block() => return Ok(()),
                // A connection reset before accept, or out of descriptors: keep serving the
                // others; the listener reports readable again for what is still queued.
                Err(e) => {
                    eprintln!("http_server: accept: {e}");
                    return Ok(());
                }
            };
            self.stats.accepted += 1;
            if self.connections() >= self.config.max_connections {
                let refused = !self.shed_one();
                self.stats.shed += 1;
                if let Some(line) = self.shed_log.record(now, refused) {
                    eprintln!("{line}");
                }
                if refused {
                    drop(sock); // every other connection is being answered
                    continue;
                }
            }
            let id = self.free.pop().unwrap_or_else(|| {
                self.conns.push(None);
                self.conns.len() - 1
            });
            let _ = sock.set_nodelay(true);
            self.poll
                .register(&sock, Token(id), Interest::READABLE.add(Interest::WRITABLE))?;
            let mut conn = Conn {
                sock,
                parser: RequestParser::new(),
                input: Vec::new(),
                output: Vec::new(),
                written: 0,
                requests: 0,
                closing: false,
                peer_closed: false,
                lingering: false,
                lingered_bytes: 0,
                // Data may already be queued: read at once, so that the connection's place
                // in the shedding order is known before the next accept.
                readable: true,
                writable: true,
                timer: ConnTimer::new(now),
            };
            let keep = drive(&mut conn, now, &mut self.stats);
            self.conns[id] = Some(conn);
            if !keep {
                self.remove(id);
            }
            self.stats.peak_connections = self.stats.peak_connections.max(self.connections());
        }
    }
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}
