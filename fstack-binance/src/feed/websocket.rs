//! The WebSocket layer of a feed connection: tungstenite over the TLS stream. The only module
//! of the feed that names tungstenite; the rest sees typed frames and [`FeedError`]s.

use std::fmt;
use std::io::ErrorKind;
use std::time::Duration;

use fstack::FStackSocket;
use fstack_tls::TlsStream;
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::MidHandshake;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, Utf8Bytes, WebSocket};

use super::error::parse_retry_after;
use super::FeedError;

type Tls = TlsStream<FStackSocket>;

/// A WebSocket error from tungstenite, kept whole as the source of a [`FeedError`].
#[derive(Debug)]
pub struct WebSocketError(tungstenite::Error);

impl fmt::Display for WebSocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for WebSocketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// The WebSocket settings of every connection: `max_message_size` for messages and frames, and
/// a small read buffer. tungstenite zero-fills the free part of its read buffer (up to the
/// buffer's size) before every read of the stream, and the TLS stream hands out one record
/// per read, so its default 128 KiB buffer cost a large `memset` per event (BENCHMARKS.md).
pub fn websocket_config(max_message_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
        .read_buffer_size(WS_READ_BUFFER)
}

/// Bytes tungstenite reads from the TLS stream at once (see [`websocket_config`]). Every read
/// zero-fills this much first, and a TLS read hands out at most one record: a ticker event is
/// one ~450-byte record, a depth20 one about 1.3 KB, ten combined tickers one ~4.6 KB record.
/// 2 KiB costs 13 ns less per single-event record than 4 KiB (micro `websocket_read`) and
/// nothing measurable with ten events per record, where it takes one more read of the TLS
/// stream (micro `client_path::records_of`).
const WS_READ_BUFFER: usize = 2 << 10;

/// An upgrade waiting for the socket.
pub(super) struct Handshake(Box<MidHandshake<ClientHandshake<Tls>>>);

/// An open WebSocket.
pub(super) struct Ws(Box<WebSocket<Tls>>);

impl Ws {
    /// What the connection's TLS handshake negotiated.
    pub(super) fn tls_info(&self) -> super::TlsInfo {
        let tls = self.0.get_ref();
        super::TlsInfo {
            engine: tls.engine(),
            protocol: tls.protocol_version(),
            cipher_suite: tls.cipher_suite(),
        }
    }
}

/// Where an upgrade stands.
pub(super) enum Upgrade {
    Open(Ws),
    Pending(Handshake),
}

/// A text frame's payload, valid UTF-8.
pub(super) struct Text(Utf8Bytes);

impl Text {
    pub(super) fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// A frame the feed acts on.
pub(super) enum Frame {
    Text(Text),
    /// A ping of this many payload bytes; tungstenite queued the pong (flush to send it).
    Ping(usize),
    /// A binary frame of this many bytes (Binance sends none).
    Binary(usize),
    /// The server's close frame, as `CODE REASON`; the reply is queued.
    Close(String),
    /// A pong or a raw frame: nothing to do.
    Other,
}

/// Sends the upgrade request for `url` over `tls`. `host` names the server in errors.
pub(super) fn start(
    tls: Tls,
    url: &str,
    max_message_size: usize,
    host: &str,
) -> Result<Upgrade, FeedError> {
    let request = url
        .into_client_request()
        .map_err(|e| FeedError::Handshake(WebSocketError(e)))?;
    let config = websocket_config(max_message_size);
    upgrade(
        tungstenite::client::client_with_config(request, tls, Some(config)),
        host,
    )
}

impl Handshake {
    /// Continues the upgrade once the socket is ready.
    pub(super) fn resume(self, host: &str) -> Result<Upgrade, FeedError> {
        upgrade(self.0.handshake(), host)
    }
}

fn upgrade<R>(
    result: Result<(WebSocket<Tls>, R), tungstenite::HandshakeError<ClientHandshake<Tls>>>,
    host: &str,
) -> Result<Upgrade, FeedError> {
    use tungstenite::HandshakeError as H;
    match result {
        Ok((ws, _)) => Ok(Upgrade::Open(Ws(Box::new(ws)))),
        Err(H::Interrupted(mid)) => Ok(Upgrade::Pending(Handshake(Box::new(mid)))),
        Err(H::Failure(tungstenite::Error::Http(resp))) => {
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
            Err(FeedError::UpgradeRejected {
                host: host.to_owned(),
                status: resp.status().as_u16(),
                retry_after,
            })
        }
        Err(H::Failure(tungstenite::Error::Io(e))) => Err(FeedError::Io(e)),
        Err(H::Failure(e)) => Err(FeedError::Handshake(WebSocketError(e))),
    }
}

impl Ws {
    /// The next frame, or `Ok(None)` when the socket has nothing more now.
    pub(super) fn read(&mut self) -> Result<Option<Frame>, FeedError> {
        match self.0.read() {
            Ok(Message::Text(t)) => Ok(Some(Frame::Text(Text(t)))),
            Ok(Message::Ping(p)) => Ok(Some(Frame::Ping(p.len()))),
            Ok(Message::Binary(b)) => Ok(Some(Frame::Binary(b.len()))),
            Ok(Message::Close(frame)) => {
                let reason = frame
                    .map(|f| format!("{} {}", u16::from(f.code), f.reason))
                    .unwrap_or_else(|| "no reason".into());
                // tungstenite queued the close reply; send it before reporting.
                let _ = self.0.flush();
                Ok(Some(Frame::Close(reason)))
            }
            Ok(Message::Pong(_) | Message::Frame(_)) => Ok(Some(Frame::Other)),
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => Ok(None),
            Err(tungstenite::Error::Capacity(e)) => Err(FeedError::Oversize(e.to_string())),
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                Err(FeedError::ClosedByServer("connection closed".into()))
            }
            Err(tungstenite::Error::Io(e)) => Err(FeedError::Io(e)),
            Err(e) => Err(FeedError::Protocol(WebSocketError(e))),
        }
    }

    /// Queues a text message; a full socket leaves it queued for [`Self::flush`].
    pub(super) fn send_text(&mut self, text: String) -> Result<(), FeedError> {
        match self.0.write(Message::text(text)) {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(FeedError::Protocol(WebSocketError(e))),
        }
    }

    /// Writes what is queued; `Ok(false)` when the socket could not take all of it.
    pub(super) fn flush(&mut self) -> Result<bool, FeedError> {
        match self.0.flush() {
            Ok(()) => Ok(true),
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => Ok(false),
            Err(tungstenite::Error::Io(e)) => Err(FeedError::Io(e)),
            Err(e) => Err(FeedError::Protocol(WebSocketError(e))),
        }
    }

    /// Sends a close frame (best effort); [`Self::finish_close`] completes the handshake.
    pub(super) fn start_close(&mut self) {
        let _ = self.0.close(None);
        let _ = self.0.flush();
    }

    /// Reads until the server's close reply; then sends TLS close_notify and returns true.
    /// False while the reply has not arrived (the socket would block).
    pub(super) fn finish_close(&mut self) -> bool {
        loop {
            match self.0.read() {
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    let _ = self.0.flush();
                    return false;
                }
                Err(_) => {
                    // Close handshake done (or the peer is gone): send close_notify.
                    let _ = self.0.get_mut().shutdown();
                    return true;
                }
            }
        }
    }
}

/// How long a close handshake (close frame, then TLS close_notify) may take.
pub(super) const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
