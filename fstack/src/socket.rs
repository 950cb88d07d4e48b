//! TCP streams and listeners on F-Stack sockets.

use std::ffi::c_int;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::marker::PhantomData;
use std::net::{Shutdown, SocketAddr};

use crate::addr::{domain_of, RawAddr};
use crate::error::{errno_from_freebsd, Error, Result};
use crate::ffi::{self, End, Need};

/// Default `listen` backlog.
const BACKLOG: c_int = 1024;

/// An owned F-Stack descriptor, closed on drop (abandoned once real F-Stack is torn down). Not
/// `Send`: F-Stack descriptors belong to the thread that initialised it.
#[derive(Debug)]
pub(crate) struct Fd {
    pub(crate) fd: c_int,
    _not_send: PhantomData<*const ()>,
}

impl Fd {
    /// A new non-blocking socket of `domain` and `ty` (`SOCK_STREAM`, `SOCK_DGRAM`); F-Stack
    /// has no blocking mode.
    pub(crate) fn new(domain: c_int, ty: c_int) -> Result<Fd> {
        let fd = Fd::from_raw(ffi::socket(domain, ty)?);
        ffi::set_nonblocking(fd.fd)?;
        Ok(fd)
    }

    /// A new non-blocking TCP socket.
    fn tcp(domain: c_int) -> Result<Fd> {
        Fd::new(domain, libc::SOCK_STREAM)
    }

    fn from_raw(fd: c_int) -> Fd {
        Fd {
            fd,
            _not_send: PhantomData,
        }
    }

    pub(crate) fn addr(&self, end: End) -> Result<SocketAddr> {
        let (raw, len) = ffi::name(self.fd, end)?;
        raw.to_std(len).ok_or_else(|| Error::Io {
            op: end.op(),
            source: io::Error::new(io::ErrorKind::InvalidData, "unknown address family"),
        })
    }

    pub(crate) fn take_error(&self) -> Result<Option<io::Error>> {
        let code = ffi::getsockopt_int(
            self.fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            "ff_getsockopt(SO_ERROR)",
        )?;
        // Real F-Stack returns the SO_ERROR value in FreeBSD numbering (only errno is
        // translated); the kernel backend's is already Linux's.
        let code = match crate::stack::backend() {
            crate::stack::Backend::FStack => errno_from_freebsd(code),
            crate::stack::Backend::Kernel => code,
        };
        Ok((code != 0).then(|| io::Error::from_raw_os_error(code)))
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        ffi::close(self.fd);
    }
}

/// Anything that can be registered with a [`Poll`](crate::Poll): it exposes its F-Stack
/// descriptor number.
pub trait Source {
    /// The F-Stack descriptor.
    fn raw_fd(&self) -> c_int;
}

/// A non-blocking TCP stream on an F-Stack socket.
///
/// Reads and writes return [`io::ErrorKind::WouldBlock`] instead of blocking; register the
/// socket with a [`Poll`](crate::Poll) and retry on readiness. Readiness is edge-style: read
/// until `WouldBlock` after every readable event. Dropping the socket closes it.
///
/// After [`Stack::run`](crate::Stack::run) has returned, every method that returns a result
/// fails with [`Error::NotRunning`] (`Read`/`Write`: an [`io::Error`] of kind
/// [`NotConnected`](io::ErrorKind::NotConnected) carrying it) without reaching F-Stack.
#[derive(Debug)]
pub struct FStackSocket {
    fd: Fd,
    /// The address being connected to, until the connection is known to be established.
    connecting: Option<SocketAddr>,
}

impl FStackSocket {
    /// Starts a non-blocking connect to `addr`. Must be called inside the running loop
    /// (F-Stack refuses connects before `ff_run`).
    ///
    /// The connection is usually still in progress when this returns: register the socket for
    /// [`Interest::WRITABLE`](crate::Interest::WRITABLE) and call
    /// [`finish_connect`](Self::finish_connect) when it becomes writable.
    ///
    /// A connect to loopback or to the stack's own address fails at once with
    /// [`Error::Loopback`] when the [`Loopback`](crate::Loopback) policy refuses it (the
    /// default on real F-Stack, whose stock builds would hang).
    pub fn connect(addr: SocketAddr) -> Result<FStackSocket> {
        // Checked before a socket is created, so that the error names the connect.
        ffi::ensure("ff_connect", Need::Loop)?;
        crate::loopback::check_connect(&addr)?;
        let fd = Fd::tcp(domain_of(&addr))?;
        let (raw, len) = RawAddr::from_std(&addr);
        match ffi::connect(fd.fd, &raw, len) {
            Ok(()) => {}
            Err(Error::Io { source, .. }) if source.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(Error::Io { source, .. }) => return Err(Error::Connect { addr, source }),
            Err(e) => return Err(e),
        }
        Ok(FStackSocket {
            fd,
            connecting: Some(addr),
        })
    }

    fn accepted(fd: Fd) -> FStackSocket {
        FStackSocket {
            fd,
            connecting: None,
        }
    }

    /// Checks a connect started by [`connect`](Self::connect): `Ok(true)` once established,
    /// `Ok(false)` while still in progress, [`Error::Connect`] if it failed (refused,
    /// unreachable, timed out). Call it when the socket reports writable (or an error).
    ///
    /// It checks `SO_ERROR`, so after [`Stack::run`](crate::Stack::run) it fails with
    /// [`Error::NotRunning`] naming `ff_getsockopt(SO_ERROR)`, even for a socket that was
    /// already established.
    pub fn finish_connect(&mut self) -> Result<bool> {
        ffi::ensure("ff_getsockopt(SO_ERROR)", Need::Thread)?;
        let Some(addr) = self.connecting else {
            return Ok(true);
        };
        if let Some(source) = self.fd.take_error()? {
            return Err(Error::Connect { addr, source });
        }
        match self.fd.addr(End::Peer) {
            Ok(_) => {
                self.connecting = None;
                Ok(true)
            }
            Err(e) if e.os_error().and_then(io::Error::raw_os_error) == Some(libc::ENOTCONN) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// True until [`finish_connect`](Self::finish_connect) has seen the connection established.
    pub fn is_connecting(&self) -> bool {
        self.connecting.is_some()
    }

    /// Disables (`true`) or enables Nagle's algorithm (`TCP_NODELAY`).
    pub fn set_nodelay(&self, nodelay: bool) -> Result<()> {
        ffi::setsockopt(
            self.fd.fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            c_int::from(nodelay),
            "ff_setsockopt(TCP_NODELAY)",
        )
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> Result<bool> {
        Ok(ffi::getsockopt_int(
            self.fd.fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            "ff_getsockopt(TCP_NODELAY)",
        )? != 0)
    }

    /// Sets the kernel/F-Stack send buffer size (`SO_SNDBUF`).
    pub fn set_send_buffer_size(&self, bytes: usize) -> Result<()> {
        const OP: &str = "ff_setsockopt(SO_SNDBUF)";
        ffi::ensure(OP, Need::Thread)?;
        let v = c_int::try_from(bytes).map_err(|_| Error::InvalidArgument("buffer size".into()))?;
        ffi::setsockopt(self.fd.fd, libc::SOL_SOCKET, libc::SO_SNDBUF, v, OP)
    }

    /// Sets the receive buffer size (`SO_RCVBUF`).
    pub fn set_recv_buffer_size(&self, bytes: usize) -> Result<()> {
        const OP: &str = "ff_setsockopt(SO_RCVBUF)";
        ffi::ensure(OP, Need::Thread)?;
        let v = c_int::try_from(bytes).map_err(|_| Error::InvalidArgument("buffer size".into()))?;
        ffi::setsockopt(self.fd.fd, libc::SOL_SOCKET, libc::SO_RCVBUF, v, OP)
    }

    /// The local address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.fd.addr(End::Local)
    }

    /// The peer's address; fails with `ENOTCONN` while connecting.
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        self.fd.addr(End::Peer)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> Result<Option<io::Error>> {
        self.fd.take_error()
    }

    /// Shuts down the read, write or both halves.
    pub fn shutdown(&self, how: Shutdown) -> Result<()> {
        let how = match how {
            Shutdown::Read => libc::SHUT_RD,
            Shutdown::Write => libc::SHUT_WR,
            Shutdown::Both => libc::SHUT_RDWR,
        };
        ffi::shutdown(self.fd.fd, how)
    }

    fn read_raw(&self, buf: &mut [u8]) -> io::Result<usize> {
        ffi::read(self.fd.fd, buf)
    }

    fn write_raw(&self, buf: &[u8]) -> io::Result<usize> {
        ffi::write(self.fd.fd, buf)
    }

    fn readv_raw(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        ffi::readv(self.fd.fd, bufs)
    }

    fn writev_raw(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        ffi::writev(self.fd.fd, bufs)
    }

    /// Nothing is buffered here; after [`Stack::run`](crate::Stack::run) it fails like the
    /// other calls.
    fn flush_raw(&self) -> io::Result<()> {
        ffi::ensure_io("flush")
    }
}

impl Source for FStackSocket {
    fn raw_fd(&self) -> c_int {
        self.fd.fd
    }
}

impl Read for FStackSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_raw(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.readv_raw(bufs)
    }
}

impl Read for &FStackSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_raw(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.readv_raw(bufs)
    }
}

impl Write for FStackSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_raw(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.writev_raw(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flush_raw()
    }
}

impl Write for &FStackSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_raw(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.writev_raw(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flush_raw()
    }
}

/// A non-blocking TCP listener on an F-Stack socket.
///
/// After [`Stack::run`](crate::Stack::run) has returned, [`bind`](Self::bind),
/// [`accept`](Self::accept) and [`local_addr`](Self::local_addr) fail with
/// [`Error::NotRunning`] without reaching F-Stack.
#[derive(Debug)]
pub struct FStackListener {
    fd: Fd,
}

impl FStackListener {
    /// Binds to `addr` (with `SO_REUSEADDR`) and listens. Port 0 picks a free port; see
    /// [`local_addr`](Self::local_addr).
    ///
    /// On real F-Stack an IPv4 bind to port 0 gets no port from the stack (F-Stack 1.25 leaves
    /// the choice to `connect`, for RSS), so the crate picks it: a random free port of
    /// FreeBSD's ephemeral range, 10000–65535, that a socket without `SO_REUSEADDR` can bind
    /// (so no other socket holds it). In a multi-process F-Stack, where every process must
    /// listen on the same port, give a port instead.
    pub fn bind(addr: SocketAddr) -> Result<FStackListener> {
        let mut fd = FStackListener::bound(addr)?;
        if crate::port0::unassigned(&fd, &addr)? {
            drop(fd);
            fd = crate::port0::bind_any(addr, libc::SOCK_STREAM, FStackListener::bound)?;
        }
        ffi::listen(fd.fd, BACKLOG)?;
        Ok(FStackListener { fd })
    }

    /// A new TCP socket with `SO_REUSEADDR`, bound to `addr`.
    fn bound(addr: SocketAddr) -> Result<Fd> {
        let fd = Fd::tcp(domain_of(&addr))?;
        ffi::setsockopt(
            fd.fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            1 as c_int,
            "ff_setsockopt(SO_REUSEADDR)",
        )?;
        let (raw, len) = RawAddr::from_std(&addr);
        ffi::bind(fd.fd, &raw, len)?;
        Ok(fd)
    }

    /// Accepts one pending connection; [`Error::is_would_block`] when none is pending (accept
    /// in a loop until then after each readable event).
    pub fn accept(&self) -> Result<(FStackSocket, SocketAddr)> {
        let (fd, raw, len) = ffi::accept(self.fd.fd)?;
        let fd = Fd::from_raw(fd);
        ffi::set_nonblocking(fd.fd)?;
        let peer = raw.to_std(len).ok_or_else(|| Error::Io {
            op: "ff_accept",
            source: io::Error::new(io::ErrorKind::InvalidData, "unknown address family"),
        })?;
        Ok((FStackSocket::accepted(fd), peer))
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.fd.addr(End::Local)
    }
}

impl Source for FStackListener {
    fn raw_fd(&self) -> c_int {
        self.fd.fd
    }
}
