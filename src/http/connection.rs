//! One connection: reading, parsing and answering, writing, lingering after the last response.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::Instant;

use fstack::FStackSocket;

use super::timers::ConnTimer;
use super::{respond, RequestParser, Stats};

/// Responses waiting to be written beyond this stop further reading from that connection.
const MAX_PENDING_OUT: usize = 256 * 1024;
/// At most this much is read and dropped while lingering.
const MAX_LINGER_BYTES: usize = 1 << 20;

/// One accepted connection: its socket, parser, buffers and deadlines.
pub(super) struct Conn {
    pub(super) sock: FStackSocket,
    pub(super) parser: RequestParser,
    pub(super) input: Vec<u8>,
    pub(super) output: Vec<u8>,
    pub(super) written: usize,
    /// Requests answered on this connection.
    pub(super) requests: u64,
    /// No more requests are read: close (or linger) once the output is flushed.
    pub(super) closing: bool,
    /// The peer closed its side: nothing to linger for.
    pub(super) peer_closed: bool,
    /// Write side shut down; reading and dropping until EOF or the linger deadline.
    pub(super) lingering: bool,
    pub(super) lingered_bytes: usize,
    pub(super) readable: bool,
    pub(super) writable: bool,
    pub(super) timer: ConnTimer,
}

impl Conn {
    /// Where this connection stands when one must be closed to make room: lower first,
    /// older first within a class; `None` while its response is being written.
    pub(super) fn shed_rank(&self) -> Option<(u8, Instant)> {
        if self.lingering {
            return Some((0, self.timer.linger_since.unwrap_or(self.timer.progress)));
        }
        if self.written < self.output.len() {
            return None;
        }
        if !self.parser.in_head() || !self.input.is_empty() {
            return Some((1, self.timer.request_since));
        }
        if self.requests > 0 {
            return Some((2, self.timer.progress));
        }
        Some((3, self.timer.request_since))
    }
}

/// Parses and answers what `conn.input` holds.
fn process_input(conn: &mut Conn, now: Instant, stats: &mut Stats) {
    let mut used = 0;
    loop {
        let (n, request) = conn.parser.advance(&conn.input[used..]);
        used += n;
        // A body that follows keeps the request's clock running: the whole request must
        // arrive within the header timeout, or a trickled body would hold the connection.
        let Some(request) = request else {
            if n == 0 {
                break;
            }
            continue;
        };
        stats.requests += 1;
        conn.requests += 1;
        conn.timer.head_done();
        if respond(&request, &mut conn.output) {
            conn.closing = true;
            break;
        }
        // Pipelined bytes of the next request start its header clock now.
        conn.timer.head_pending(now, used < conn.input.len());
    }
    conn.input.drain(..used);
    if conn.closing {
        conn.input.clear();
    } else {
        // A request is under way while a body is arriving or part of a head waits.
        conn.timer
            .head_pending(now, !conn.parser.in_head() || !conn.input.is_empty());
    }
}

/// Advances one connection; false when it should be closed.
pub(super) fn drive(conn: &mut Conn, now: Instant, stats: &mut Stats) -> bool {
    let mut buf = [0u8; 4096];
    while conn.readable && conn.lingering {
        match conn.sock.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                conn.lingered_bytes += n;
                if conn.lingered_bytes > MAX_LINGER_BYTES {
                    return false;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => conn.readable = false,
            Err(_) => return false,
        }
    }
    while conn.readable && !conn.closing && conn.output.len() - conn.written < MAX_PENDING_OUT {
        match conn.sock.read(&mut buf) {
            Ok(0) => {
                conn.closing = true;
                conn.peer_closed = true;
                conn.readable = false;
            }
            Ok(n) => {
                conn.timer.progress(now);
                conn.input.extend_from_slice(&buf[..n]);
                process_input(conn, now, stats);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => conn.readable = false,
            Err(_) => return false,
        }
    }
    while conn.writable && conn.written < conn.output.len() {
        match conn.sock.write(&conn.output[conn.written..]) {
            Ok(n) => {
                conn.written += n;
                conn.timer.progress(now);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => conn.writable = false,
            Err(_) => return false,
        }
    }
    if conn.written == conn.output.len() {
        conn.output.clear();
        conn.written = 0;
        if conn.closing && !conn.lingering {
            if conn.peer_closed || conn.sock.shutdown(Shutdown::Write).is_err() {
                return false;
            }
            // Half-closed: the client reads the response and EOF; what it still sends is
            // drained (a close with unread data would reset the connection).
            conn.lingering = true;
            conn.readable = true;
            conn.timer.linger(now);
            return drive(conn, now, stats);
        }
    }
    true
}
