//! Commands a strategy sends back to the feed (request-response), and the feed's replies.
//!
//! Both are fixed-layout like the records: a strategy in any language can send one. A request
//! the feed cannot understand (unknown `op`, a length past the buffer, a stream name that is
//! not a Binance stream) gets a reply with [`status::MALFORMED`]; nothing a client writes can
//! make the feed panic.

use iceoryx2::prelude::ZeroCopySend;

/// Bytes of [`Command::stream`].
pub const COMMAND_STREAM_CAP: usize = 56;
/// Bytes of [`CommandReply::msg`].
pub const REPLY_MSG_CAP: usize = 112;

/// [`Command::op`] values.
pub mod op {
    /// Ask the feed to SUBSCRIBE to the stream.
    pub const SUBSCRIBE: u8 = 1;
    /// Ask the feed to UNSUBSCRIBE from the stream.
    pub const UNSUBSCRIBE: u8 = 2;
}

/// [`CommandReply::status`] values.
pub mod status {
    /// The exchange acknowledged the request (`{"result":null,"id":N}`), or nothing had to be
    /// sent (already subscribed / not subscribed).
    pub const OK: u8 = 0;
    /// Accepted while no connection is open: every connection opened from now on subscribes
    /// (or leaves out) the stream.
    pub const QUEUED: u8 = 1;
    /// The exchange answered with an error: `code` and `msg` are Binance's.
    pub const REJECTED: u8 = 2;
    /// The command itself is invalid: unknown op, bad length, not a stream name; `msg` says
    /// which.
    pub const MALFORMED: u8 = 3;
    /// The feed refused: e.g. more than 1,024 streams, or too many commands in flight.
    pub const REFUSED: u8 = 4;
    /// The connection closed before the exchange answered.
    pub const LOST: u8 = 5;
}

/// A strategy's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ZeroCopySend)]
#[type_name("fstack_bus::Command")]
#[repr(C)]
pub struct Command {
    /// One of [`op`].
    pub op: u8,
    /// Bytes used in `stream`.
    pub stream_len: u8,
    /// Zero.
    pub reserved: [u8; 6],
    /// The stream, e.g. `ethusdt@trade` (ASCII).
    pub stream: [u8; COMMAND_STREAM_CAP],
}

impl Command {
    /// A command for `stream`; `None` if the name is longer than [`COMMAND_STREAM_CAP`].
    pub fn new(op: u8, stream: &str) -> Option<Command> {
        let mut c = Command {
            op,
            stream_len: u8::try_from(stream.len()).ok()?,
            reserved: [0; 6],
            stream: [0; COMMAND_STREAM_CAP],
        };
        c.stream
            .get_mut(..stream.len())?
            .copy_from_slice(stream.as_bytes());
        Some(c)
    }

    /// The stream name, or why it cannot be read.
    pub fn stream(&self) -> Result<&str, &'static str> {
        let bytes = self
            .stream
            .get(..usize::from(self.stream_len))
            .ok_or("stream_len exceeds the stream buffer")?;
        std::str::from_utf8(bytes).map_err(|_| "stream is not UTF-8")
    }
}

/// The feed's answer to one [`Command`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ZeroCopySend)]
#[type_name("fstack_bus::CommandReply")]
#[repr(C)]
pub struct CommandReply {
    /// Binance's error code with [`status::REJECTED`], else 0.
    pub code: i64,
    /// The id of the control request the feed sent the exchange (0 when none was sent).
    pub request_id: u64,
    /// One of [`status`].
    pub status: u8,
    /// Bytes used in `msg`.
    pub msg_len: u8,
    /// Zero.
    pub reserved: [u8; 6],
    /// A short explanation (ASCII; Binance's `msg` for [`status::REJECTED`]).
    pub msg: [u8; REPLY_MSG_CAP],
}

impl CommandReply {
    /// A reply with `msg` cut at [`REPLY_MSG_CAP`] bytes on a character boundary.
    pub fn new(status: u8, request_id: u64, code: i64, msg: &str) -> CommandReply {
        let mut n = msg.len().min(REPLY_MSG_CAP);
        while !msg.is_char_boundary(n) {
            n -= 1;
        }
        let mut r = CommandReply {
            code,
            request_id,
            status,
            // n <= REPLY_MSG_CAP (112) fits a u8.
            msg_len: n as u8,
            reserved: [0; 6],
            msg: [0; REPLY_MSG_CAP],
        };
        r.msg[..n].copy_from_slice(&msg.as_bytes()[..n]);
        r
    }

    /// The message (empty if not UTF-8).
    pub fn msg(&self) -> &str {
        let n = usize::from(self.msg_len).min(REPLY_MSG_CAP);
        std::str::from_utf8(&self.msg[..n]).unwrap_or("")
    }

    /// The status's name: `ok`, `queued`, `rejected`, `malformed`, `refused`, `lost`.
    pub fn status_name(&self) -> &'static str {
        match self.status {
            status::OK => "ok",
            status::QUEUED => "queued",
            status::REJECTED => "rejected",
            status::MALFORMED => "malformed",
            status::REFUSED => "refused",
            status::LOST => "lost",
            _ => "unknown",
        }
    }
}
