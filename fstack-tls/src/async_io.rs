//! Async TLS (cargo feature `async`) on any `futures_io` stream, e.g. `fstack::rt::TcpStream`.
//!
//! The engines work on `Read + Write` streams that return `WouldBlock`. A [`Bridge`] gives
//! them one: each call polls the async stream with the waker of the task's current poll, and
//! turns `Pending` into `WouldBlock`, so that the task is woken exactly when the socket is
//! ready again. The handshake resumes through [`MidHandshake`] on that wake-up; verification
//! and its errors are the ones of the blocking-style API.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fstack::rt::TcpStream;
//! use fstack_tls::TlsConnector;
//! use futures_util::{AsyncReadExt, AsyncWriteExt};
//!
//! let connector = TlsConnector::builder().ca_file("ca.pem").build()?;
//! let tcp = TcpStream::connect("10.0.0.2:443".parse()?).await?;
//! let mut tls = connector.connect_async("example.com", tcp).await?;
//! tls.write_all(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n").await?;
//! let mut page = Vec::new();
//! tls.read_to_end(&mut page).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_io::{AsyncRead, AsyncWrite};

use crate::{Error, HandshakeError, MidHandshake, TlsAcceptor, TlsConnector, TlsStream};

/// An async stream seen as a non-blocking `Read + Write` by the TLS engines.
#[derive(Debug)]
pub struct Bridge<S> {
    io: S,
    /// The waker of the poll in progress; `None` outside of one (then I/O reports WouldBlock).
    waker: Option<Waker>,
}

impl<S> Bridge<S> {
    fn set_waker(&mut self, cx: &Context<'_>) {
        match &self.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.waker = Some(cx.waker().clone()),
        }
    }

    fn with_cx<R>(
        &mut self,
        f: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> io::Result<R>
    where
        S: Unpin,
    {
        let Some(waker) = self.waker.as_ref() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let mut cx = Context::from_waker(waker);
        match f(Pin::new(&mut self.io), &mut cx) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<S: AsyncRead + Unpin> Read for Bridge<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.with_cx(|io, cx| io.poll_read(cx, buf))
    }
}

impl<S: AsyncWrite + Unpin> Write for Bridge<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.with_cx(|io, cx| io.poll_write(cx, buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.with_cx(|io, cx| io.poll_flush(cx))
    }
}

/// A TLS session on an async stream: `futures_io::AsyncRead`/`AsyncWrite`, and with the
/// `tokio` feature tokio's traits too. `poll_close` sends `close_notify`, then closes the
/// stream's write side. A connection that ends without `close_notify` reads as an error, as
/// with [`TlsStream`].
///
/// Each call registers the calling task's waker with the stream below, for whichever
/// direction the engine needed. Driving split halves (`futures_util::io::split`,
/// `tokio::io::split`) from one task (`join`/`select`) is always safe. With two tasks, a write
/// that has to read first (a TLS 1.2 renegotiation) would replace the reading task's waker
/// below, and that task would wait for the next event.
pub struct AsyncTlsStream<S> {
    tls: TlsStream<Bridge<S>>,
}

impl<S: fmt::Debug> fmt::Debug for AsyncTlsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncTlsStream")
            .field("tls", &self.tls)
            .finish()
    }
}

impl<S> AsyncTlsStream<S> {
    /// The session (protocol version, cipher suite, engine, host).
    pub fn session(&self) -> &TlsStream<Bridge<S>> {
        &self.tls
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.tls.get_ref().io
    }
}

type Started<S> = Result<TlsStream<Bridge<S>>, HandshakeError<Bridge<S>>>;

/// Runs a handshake: `start` makes the first step (with the waker of the first poll), then
/// every wake-up resumes it.
async fn drive<S>(
    start: impl FnOnce(Bridge<S>) -> Started<S>,
    io: S,
) -> Result<AsyncTlsStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut start = Some((start, io));
    let mut mid: Option<MidHandshake<Bridge<S>>> = None;
    poll_fn(move |cx| {
        let step = if let Some((start, io)) = start.take() {
            start(Bridge {
                io,
                waker: Some(cx.waker().clone()),
            })
        } else {
            let mut m = mid.take().expect("handshake polled after completion");
            m.get_mut().set_waker(cx);
            m.handshake()
        };
        match step {
            Ok(tls) => Poll::Ready(Ok(AsyncTlsStream { tls })),
            Err(HandshakeError::WouldBlock(m)) => {
                mid = Some(m);
                Poll::Pending
            }
            Err(HandshakeError::Failure(e)) => Poll::Ready(Err(e)),
        }
    })
    .await
}

impl TlsConnector {
    /// [`connect`](Self::connect) on an async stream: resolves once the handshake completed,
    /// with the same verification and the same errors.
    pub async fn connect_async<S>(&self, host: &str, stream: S) -> Result<AsyncTlsStream<S>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        drive(|io| self.connect(host, io), stream).await
    }
}

impl TlsAcceptor {
    /// [`accept`](Self::accept) on an async stream.
    pub async fn accept_async<S>(&self, stream: S) -> Result<AsyncTlsStream<S>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        drive(|io| self.accept(io), stream).await
    }
}

/// `WouldBlock` from the session means the bridge saw `Pending` (the waker is registered).
fn pending_on_would_block<R>(r: io::Result<R>) -> Poll<io::Result<R>> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
        other => Poll::Ready(other),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncTlsStream<S> {
    fn read_with(&mut self, cx: &Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.tls.get_mut().set_waker(cx);
        pending_on_would_block(self.tls.read(buf))
    }

    fn write_with(&mut self, cx: &Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.tls.get_mut().set_waker(cx);
        pending_on_would_block(self.tls.write(buf))
    }

    fn flush_with(&mut self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        self.tls.get_mut().set_waker(cx);
        pending_on_would_block(self.tls.flush())
    }

    fn close_with(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tls.get_mut().set_waker(cx);
        // close_notify is queued once by the engine; WouldBlock means it is still leaving.
        std::task::ready!(pending_on_would_block(self.tls.shutdown()))?;
        Pin::new(&mut self.tls.get_mut().io).poll_close(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for AsyncTlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().read_with(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for AsyncTlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write_with(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().flush_with(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().close_with(cx)
    }
}

#[cfg(feature = "tokio")]
impl<S: AsyncRead + AsyncWrite + Unpin> tokio::io::AsyncRead for AsyncTlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = std::task::ready!(self.get_mut().read_with(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio")]
impl<S: AsyncRead + AsyncWrite + Unpin> tokio::io::AsyncWrite for AsyncTlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write_with(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().flush_with(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().close_with(cx)
    }
}
