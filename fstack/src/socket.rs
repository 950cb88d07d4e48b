//! TCP streams and listeners on F-Stack sockets.

use std::ffi::c_int;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::marker::PhantomData;
use std::mem;
use std::net::{Shutdown, SocketAddr};

use crate::addr::{domain_of, RawAddr};
use crate::error::{errno_from_freebsd, Error, Result};
use crate::stack::{ensure_in_loop, ensure_stack_thread, torn_down};

/// Default `listen` backlog.
const BACKLOG: c_int = 1024;

/// An owned F-Stack descriptor, closed on drop. Not `Send`: F-Stack descriptors belong to the
/// thread that initialised it.
#[derive(Debug)]
struct Fd {
    fd: c_int,
    _not_send: PhantomData<*const ()>,
}

impl Fd {
    /// A new non-blocking TCP socket (F-Stack has no blocking mode).
    fn tcp(domain: c_int) -> Result<Fd> {
        ensure_stack_thread("ff_socket")?;
        // SAFETY: plain FFI call with constant arguments on the F-Stack thread.
        let fd = unsafe { fstack_sys::ff_socket(domain, libc::SOCK_STREAM, 0) };
        if fd < 0 {
            return Err(Error::last_os("ff_socket"));
        }
        let fd = Fd::from_raw(fd);
        fd.set_nonblocking()?;
        Ok(fd)
    }

    fn from_raw(fd: c_int) -> Fd {
        Fd {
            fd,
            _not_send: PhantomData,
        }
    }

    fn set_nonblocking(&self) -> Result<()> {
        let mut on: c_int = 1;
        // SAFETY: FIONBIO reads one int through the pointer, which is valid for the call.
        let rc =
            unsafe { fstack_sys::ff_ioctl(self.fd, libc::FIONBIO as _, &mut on as *mut c_int) };
        check(rc, "ff_ioctl(FIONBIO)")
    }

    fn setsockopt<T: Copy>(
        &self,
        level: c_int,
        name: c_int,
        value: T,
        op: &'static str,
    ) -> Result<()> {
        // SAFETY: `value` is a live T and the length passed is its size.
        let rc = unsafe {
            fstack_sys::ff_setsockopt(
                self.fd,
                level,
                name,
                &value as *const T as *const libc::c_void,
                mem::size_of::<T>() as libc::socklen_t,
            )
        };
        check(rc, op)
    }

    fn getsockopt_int(&self, level: c_int, name: c_int, op: &'static str) -> Result<c_int> {
        let mut value: c_int = 0;
        let mut len = mem::size_of::<c_int>() as libc::socklen_t;
        // SAFETY: value/len point to a live int and its size.
        let rc = unsafe {
            fstack_sys::ff_getsockopt(
                self.fd,
                level,
                name,
                &mut value as *mut c_int as *mut libc::c_void,
                &mut len,
            )
        };
        check(rc, op)?;
        Ok(value)
    }

    fn addr(&self, peer: bool) -> Result<SocketAddr> {
        let mut raw = RawAddr::zeroed();
        let mut len = RawAddr::capacity();
        let (rc, op) = if peer {
            // SAFETY: raw/len describe writable storage of `len` bytes.
            (
                unsafe { fstack_sys::ff_getpeername(self.fd, raw.as_mut_ptr(), &mut len) },
                "ff_getpeername",
            )
        } else {
            // SAFETY: as above.
            (
                unsafe { fstack_sys::ff_getsockname(self.fd, raw.as_mut_ptr(), &mut len) },
                "ff_getsockname",
            )
        };
        check(rc, op)?;
        raw.to_std(len).ok_or_else(|| Error::Io {
            op,
            source: io::Error::new(io::ErrorKind::InvalidData, "unknown address family"),
        })
    }

    fn take_error(&self) -> Result<Option<io::Error>> {
        let code =
            self.getsockopt_int(libc::SOL_SOCKET, libc::SO_ERROR, "ff_getsockopt(SO_ERROR)")?;
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
        if torn_down() {
            return; // DPDK is gone: closing would touch freed memory (see Stack::run)
        }
        // SAFETY: this Fd owns the descriptor; it is closed exactly once.
        unsafe { fstack_sys::ff_close(self.fd) };
    }
}

/// Fails once real F-Stack has been torn down (see [`Stack::run`](crate::Stack::run)).
fn ensure_alive() -> io::Result<()> {
    if torn_down() {
        Err(io::Error::new(
            io::ErrorKind::NotConnected,
            Error::NotRunning { op: "socket I/O" },
        ))
    } else {
        Ok(())
    }
}

fn check(rc: c_int, op: &'static str) -> Result<()> {
    if rc < 0 {
        Err(Error::last_os(op))
    } else {
        Ok(())
    }
}

fn io_result(n: isize) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
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
    pub fn connect(addr: SocketAddr) -> Result<FStackSocket> {
        ensure_in_loop("ff_connect")?;
        let fd = Fd::tcp(domain_of(&addr))?;
        let (raw, len) = RawAddr::from_std(&addr);
        // SAFETY: raw/len describe a valid socket address of that length.
        let rc = unsafe { fstack_sys::ff_connect(fd.fd, raw.as_ptr(), len) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(Error::Connect { addr, source: e });
            }
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
    pub fn finish_connect(&mut self) -> Result<bool> {
        let Some(addr) = self.connecting else {
            return Ok(true);
        };
        if let Some(source) = self.fd.take_error()? {
            return Err(Error::Connect { addr, source });
        }
        match self.fd.addr(true) {
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
        self.fd.setsockopt(
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            c_int::from(nodelay),
            "ff_setsockopt(TCP_NODELAY)",
        )
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> Result<bool> {
        Ok(self.fd.getsockopt_int(
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            "ff_getsockopt(TCP_NODELAY)",
        )? != 0)
    }

    /// Sets the kernel/F-Stack send buffer size (`SO_SNDBUF`).
    pub fn set_send_buffer_size(&self, bytes: usize) -> Result<()> {
        let v = c_int::try_from(bytes).map_err(|_| Error::InvalidArgument("buffer size".into()))?;
        self.fd.setsockopt(
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            v,
            "ff_setsockopt(SO_SNDBUF)",
        )
    }

    /// Sets the receive buffer size (`SO_RCVBUF`).
    pub fn set_recv_buffer_size(&self, bytes: usize) -> Result<()> {
        let v = c_int::try_from(bytes).map_err(|_| Error::InvalidArgument("buffer size".into()))?;
        self.fd.setsockopt(
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            v,
            "ff_setsockopt(SO_RCVBUF)",
        )
    }

    /// The local address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.fd.addr(false)
    }

    /// The peer's address; fails with `ENOTCONN` while connecting.
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        self.fd.addr(true)
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
        // SAFETY: plain FFI call on an owned descriptor.
        check(
            unsafe { fstack_sys::ff_shutdown(self.fd.fd, how) },
            "ff_shutdown",
        )
    }

    fn read_raw(&self, buf: &mut [u8]) -> io::Result<usize> {
        ensure_alive()?;
        if buf.is_empty() {
            return Ok(0);
        }
        // SAFETY: buf is valid for writes of buf.len() bytes.
        io_result(
            unsafe { fstack_sys::ff_read(self.fd.fd, buf.as_mut_ptr().cast(), buf.len()) } as isize,
        )
    }

    fn write_raw(&self, buf: &[u8]) -> io::Result<usize> {
        ensure_alive()?;
        if buf.is_empty() {
            return Ok(0);
        }
        // SAFETY: buf is valid for reads of buf.len() bytes.
        io_result(
            unsafe { fstack_sys::ff_write(self.fd.fd, buf.as_ptr().cast(), buf.len()) } as isize,
        )
    }

    fn readv_raw(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        ensure_alive()?;
        let n = bufs.len().min(libc::UIO_MAXIOV as usize);
        // SAFETY: IoSliceMut is ABI-compatible with struct iovec, and each slice is valid for
        // writes of its length.
        io_result(
            unsafe { fstack_sys::ff_readv(self.fd.fd, bufs.as_mut_ptr().cast(), n as c_int) }
                as isize,
        )
    }

    fn writev_raw(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        ensure_alive()?;
        let n = bufs.len().min(libc::UIO_MAXIOV as usize);
        // SAFETY: IoSlice is ABI-compatible with struct iovec, each slice valid for reads.
        io_result(
            unsafe { fstack_sys::ff_writev(self.fd.fd, bufs.as_ptr().cast(), n as c_int) } as isize,
        )
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
        Ok(())
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
        Ok(())
    }
}

/// A non-blocking TCP listener on an F-Stack socket.
#[derive(Debug)]
pub struct FStackListener {
    fd: Fd,
}

impl FStackListener {
    /// Binds to `addr` (with `SO_REUSEADDR`) and listens. Port 0 picks a free port; see
    /// [`local_addr`](Self::local_addr).
    pub fn bind(addr: SocketAddr) -> Result<FStackListener> {
        let fd = Fd::tcp(domain_of(&addr))?;
        fd.setsockopt(
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            1 as c_int,
            "ff_setsockopt(SO_REUSEADDR)",
        )?;
        let (raw, len) = RawAddr::from_std(&addr);
        // SAFETY: raw/len describe a valid socket address of that length.
        check(
            unsafe { fstack_sys::ff_bind(fd.fd, raw.as_ptr(), len) },
            "ff_bind",
        )?;
        // SAFETY: plain FFI call on an owned descriptor.
        check(
            unsafe { fstack_sys::ff_listen(fd.fd, BACKLOG) },
            "ff_listen",
        )?;
        Ok(FStackListener { fd })
    }

    /// Accepts one pending connection; [`Error::is_would_block`] when none is pending (accept
    /// in a loop until then after each readable event).
    pub fn accept(&self) -> Result<(FStackSocket, SocketAddr)> {
        let mut raw = RawAddr::zeroed();
        let mut len = RawAddr::capacity();
        // SAFETY: raw/len describe writable storage of `len` bytes.
        let fd = unsafe { fstack_sys::ff_accept(self.fd.fd, raw.as_mut_ptr(), &mut len) };
        if fd < 0 {
            return Err(Error::last_os("ff_accept"));
        }
        let fd = Fd::from_raw(fd);
        fd.set_nonblocking()?;
        let peer = raw.to_std(len).ok_or_else(|| Error::Io {
            op: "ff_accept",
            source: io::Error::new(io::ErrorKind::InvalidData, "unknown address family"),
        })?;
        Ok((FStackSocket::accepted(fd), peer))
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.fd.addr(false)
    }
}

impl Source for FStackListener {
    fn raw_fd(&self) -> c_int {
        self.fd.fd
    }
}
