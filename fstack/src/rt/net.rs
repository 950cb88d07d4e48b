//! Async TCP and UDP on F-Stack sockets: readiness from the runtime's reactor, reads straight
//! from the socket into the caller's buffer.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::{try_current, Dir, Inner};
use crate::{FStackListener, FStackSocket, FStackUdpSocket, Source};

/// A socket registered with the runtime's reactor. Its owners deregister it in their `Drop`
/// (which runs before their fields drop, so before the socket closes).
struct Registration {
    rt: Rc<Inner>,
    key: usize,
}

impl Registration {
    fn new(source: &impl Source) -> io::Result<Registration> {
        let rt = try_current().ok_or_else(|| {
            io::Error::other("no fstack::rt::Runtime on this thread (create one first)")
        })?;
        let key = rt.register(source)?;
        Ok(Registration { rt, key })
    }

    fn poll_io<R>(
        &self,
        dir: Dir,
        cx: &mut Context<'_>,
        op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.rt.poll_io(self.key, dir, cx, op)
    }
}

/// An async TCP stream on an F-Stack socket. `!Send`: it belongs to the F-Stack thread.
///
/// Implements `futures_io::AsyncRead`/`AsyncWrite`, and with the `tokio` feature tokio's
/// `AsyncRead`/`AsyncWrite` (for `tokio-util`, `tokio-tungstenite`, hyper through
/// `hyper-util`'s `TokioIo`). `poll_close` / `poll_shutdown` shut the write half down (FIN);
/// dropping the stream closes it. Creating one fails on a thread without a
/// [`Runtime`](super::Runtime). One task reads and one writes at a time: each direction keeps
/// the waker of its last waiter only.
pub struct TcpStream {
    reg: Registration,
    sock: FStackSocket,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("sock", &self.sock)
            .finish()
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        self.reg.rt.deregister(&self.sock, self.reg.key);
    }
}

impl TcpStream {
    /// Connects to `addr`; completes once the connection is established or failed
    /// ([`crate::Error::Connect`] as an `io::Error`).
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let mut sock = FStackSocket::connect(addr)?;
        let reg = Registration::new(&sock)?;
        poll_fn(|cx| {
            reg.poll_io(Dir::Write, cx, || match sock.finish_connect() {
                Ok(true) => Ok(()),
                Ok(false) => Err(io::ErrorKind::WouldBlock.into()),
                Err(e) => Err(e.into()),
            })
        })
        .await?;
        Ok(TcpStream { reg, sock })
    }

    /// Wraps a connected (or accepted) socket.
    pub fn from_socket(sock: FStackSocket) -> io::Result<TcpStream> {
        let reg = Registration::new(&sock)?;
        Ok(TcpStream { reg, sock })
    }

    /// The underlying socket (options, addresses).
    pub fn socket(&self) -> &FStackSocket {
        &self.sock
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.sock.peer_addr()?)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.sock.local_addr()?)
    }

    /// Disables (`true`) or enables Nagle's algorithm.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        Ok(self.sock.set_nodelay(nodelay)?)
    }

    /// Shuts down the read, write or both halves at once.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        Ok(self.sock.shutdown(how)?)
    }

    /// Reads into `buf`; 0 at end of stream.
    pub fn poll_read_buf(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.reg.poll_io(Dir::Read, cx, || (&self.sock).read(buf))
    }

    /// Writes from `buf`; the count written.
    pub fn poll_write_buf(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.reg.poll_io(Dir::Write, cx, || (&self.sock).write(buf))
    }

    fn poll_write_vectored_buf(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.reg
            .poll_io(Dir::Write, cx, || (&self.sock).write_vectored(bufs))
    }

    /// Waits until the socket may be readable: completes at once unless a read since the last
    /// readiness event found no data. Waiting never clears the readiness itself (only a read's
    /// WouldBlock does): after a short read the rest of the data is still there, and with
    /// edge-triggered events no new event would announce it.
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.reg.rt.poll_ready(self.reg.key, Dir::Read, cx)).await
    }

    /// Waits until the socket may be writable; like [`readable`](Self::readable), only a
    /// write's WouldBlock clears the readiness.
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| self.reg.rt.poll_ready(self.reg.key, Dir::Write, cx)).await
    }
}

impl futures_io::AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_buf(cx, buf)
    }
}

impl futures_io::AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_buf(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored_buf(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered above the socket.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_write())
    }
}

impl TcpStream {
    /// Sends FIN; a socket the peer already reset counts as shut down.
    fn shutdown_write(&self) -> io::Result<()> {
        match self.sock.shutdown(Shutdown::Write) {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = io::Error::from(e);
                if e.kind() == io::ErrorKind::NotConnected {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Zeroed once per buffer (ReadBuf remembers what is initialised), then read into
        // directly: no copy.
        let n = std::task::ready!(self.poll_read_buf(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_buf(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored_buf(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_write())
    }
}

/// An async TCP listener on an F-Stack socket. `!Send`. Binding fails on a thread without a
/// [`Runtime`](super::Runtime).
pub struct TcpListener {
    reg: Registration,
    listener: FStackListener,
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("listener", &self.listener)
            .finish()
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.reg.rt.deregister(&self.listener, self.reg.key);
    }
}

impl TcpListener {
    /// Binds and listens (see [`FStackListener::bind`]).
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let listener = FStackListener::bind(addr)?;
        let reg = Registration::new(&listener)?;
        Ok(TcpListener { reg, listener })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Accepts one connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// [`accept`](Self::accept) as a poll function.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (sock, peer) = std::task::ready!(self
            .reg
            .poll_io(Dir::Read, cx, || Ok(self.listener.accept()?)))?;
        Poll::Ready(TcpStream::from_socket(sock).map(|s| (s, peer)))
    }
}

/// An async UDP socket on F-Stack. `!Send`. Binding fails on a thread without a
/// [`Runtime`](super::Runtime).
pub struct UdpSocket {
    reg: Registration,
    sock: FStackUdpSocket,
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("sock", &self.sock)
            .finish()
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        self.reg.rt.deregister(&self.sock, self.reg.key);
    }
}

impl UdpSocket {
    /// Binds to `addr` (see [`FStackUdpSocket::bind`]).
    pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        UdpSocket::from_socket(FStackUdpSocket::bind(addr)?)
    }

    /// Wraps a bound socket (set its options first, e.g. multicast).
    pub fn from_socket(sock: FStackUdpSocket) -> io::Result<UdpSocket> {
        let reg = Registration::new(&sock)?;
        Ok(UdpSocket { reg, sock })
    }

    /// The underlying socket (options, multicast).
    pub fn socket(&self) -> &FStackUdpSocket {
        &self.sock
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.sock.local_addr()?)
    }

    /// Sets the default peer of [`send`](Self::send) and filters [`recv`](Self::recv).
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        Ok(self.sock.connect(addr)?)
    }

    /// Sends one datagram to `target`.
    pub async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send_to(cx, buf, target)).await
    }

    /// [`send_to`](Self::send_to) as a poll function.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.reg
            .poll_io(Dir::Write, cx, || Ok(self.sock.send_to(buf, target)?))
    }

    /// Sends one datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| {
            self.reg
                .poll_io(Dir::Write, cx, || Ok(self.sock.send(buf)?))
        })
        .await
    }

    /// Receives one datagram into `buf` (see [`FStackUdpSocket::recv_from`] for truncation).
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// [`recv_from`](Self::recv_from) as a poll function.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.reg
            .poll_io(Dir::Read, cx, || Ok(self.sock.recv_from(buf)?))
    }

    /// Receives one datagram from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.reg.poll_io(Dir::Read, cx, || Ok(self.sock.recv(buf)?))).await
    }
}
