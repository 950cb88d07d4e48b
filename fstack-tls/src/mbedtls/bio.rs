//! The byte-level adapter between mbedTLS (`mbedtls_ssl_set_bio`) and a non-blocking
//! `Read + Write` stream.

use std::any::Any;
use std::ffi::{c_int, c_uchar, c_void};
use std::io::{self, Read, Write};
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::sync::MutexGuard;

use mbedtls_rs_sys as sys;

use super::platform;

/// mbedTLS's code for a failed transport read (`MBEDTLS_ERR_NET_RECV_FAILED` of
/// `net_sockets.h`, which this build of mbedTLS leaves out).
pub(crate) const NET_RECV_FAILED: c_int = -0x004C;
/// mbedTLS's code for a failed transport write (`MBEDTLS_ERR_NET_SEND_FAILED`).
pub(crate) const NET_SEND_FAILED: c_int = -0x004E;

/// Bytes read from the stream at once. mbedTLS asks for a record's 5-byte header, then for its
/// body: without reading ahead that is two system calls per record; with it, one call fetches
/// every record that has arrived.
const READ_AHEAD: usize = 16 << 10;

/// Owns the stream; mbedTLS calls [`send`] and [`recv`] with a pointer to it.
///
/// The session keeps it at a fixed heap address (mbedTLS holds the pointer) and touches it only
/// between mbedTLS calls; during a call only the callbacks do.
///
/// `WouldBlock` becomes `WANT_READ`/`WANT_WRITE`, `Interrupted` is retried (a signal is not a
/// failure), and every other error is parked so that the caller gets the stream's own
/// [`io::Error`] back instead of mbedTLS's "receive failed". A panic of the stream is parked
/// too (it must not unwind through C) and resumed once mbedTLS has returned.
///
/// Reads go through a read-ahead buffer: ciphertext that arrived but mbedTLS has not asked for
/// yet waits in `ahead[pos..end]` ([`buffered`](Self::buffered) bytes). `WANT_READ` is reported
/// only when that buffer is empty and the stream has nothing, so "read until `WouldBlock`"
/// still drains everything.
pub(crate) struct Bio<S> {
    /// The underlying stream.
    pub(crate) stream: S,
    /// The read-ahead buffer ([`READ_AHEAD`] bytes); `ahead[pos..end]` is not yet consumed.
    ahead: Box<[u8]>,
    pos: usize,
    end: usize,
    /// The stream's error behind the last `NET_RECV_FAILED` / `NET_SEND_FAILED`.
    error: Option<io::Error>,
    /// The payload of a panic of the stream, to resume after the mbedTLS call.
    panic: Option<Box<dyn Any + Send>>,
    /// The stream reported its end (a read of 0 bytes).
    pub(crate) eof: bool,
    /// The shared-state lock while a handshake step runs ([`platform::lock_shared`]). The
    /// callbacks release it around each stream call, so a stream that blocks never holds it.
    pub(crate) shared: Option<MutexGuard<'static, ()>>,
}

impl<S> Bio<S> {
    /// A bio over `stream`, with an empty read-ahead buffer.
    pub(crate) fn new(stream: S) -> Bio<S> {
        Bio {
            stream,
            ahead: vec![0; READ_AHEAD].into_boxed_slice(),
            pos: 0,
            end: 0,
            error: None,
            panic: None,
            eof: false,
            shared: None,
        }
    }

    /// Ciphertext read from the stream and not yet handed to mbedTLS.
    pub(crate) fn buffered(&self) -> usize {
        self.end - self.pos
    }

    /// Takes the stream error parked by the last failed callback.
    pub(crate) fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    /// Re-raises a panic of the stream; call once mbedTLS has returned.
    pub(crate) fn resume_panic(&mut self) {
        if let Some(payload) = self.panic.take() {
            panic::resume_unwind(payload);
        }
    }

    /// Runs one call of the stream without the shared-state lock, catching a panic
    /// (`None`).
    fn call<T>(&mut self, f: impl FnOnce(&mut S) -> T) -> Option<T> {
        let relock = self.shared.take().is_some();
        let result = panic::catch_unwind(AssertUnwindSafe(|| f(&mut self.stream)));
        if relock {
            self.shared = Some(platform::lock_shared());
        }
        result.map_err(|payload| self.panic = Some(payload)).ok()
    }
}

impl<S: Read> Bio<S> {
    /// One read of the stream into `buf` (not the read-ahead buffer), as mbedTLS's return
    /// value: the byte count, 0 at end of stream, or an error code.
    fn read_stream(&mut self, buf: &mut [u8]) -> c_int {
        loop {
            let Some(result) = self.call(|stream| stream.read(buf)) else {
                return NET_RECV_FAILED;
            };
            return match result {
                // mbedTLS never asks for more than its record buffer holds, far below c_int.
                Ok(n) => {
                    if n == 0 && !buf.is_empty() {
                        self.eof = true;
                    }
                    n.min(buf.len()) as c_int
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => sys::MBEDTLS_ERR_SSL_WANT_READ,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.error = Some(e);
                    NET_RECV_FAILED
                }
            };
        }
    }

    /// mbedTLS's read: from the read-ahead buffer, refilled by one stream read when empty
    /// (reads of a buffer's size or more go to the stream directly).
    fn recv(&mut self, buf: &mut [u8]) -> c_int {
        if self.pos == self.end {
            if buf.len() >= self.ahead.len() {
                return self.read_stream(buf);
            }
            let mut ahead = mem::take(&mut self.ahead);
            let rc = self.read_stream(&mut ahead);
            self.ahead = ahead;
            if rc <= 0 {
                return rc;
            }
            self.pos = 0;
            self.end = rc as usize;
        }
        let n = buf.len().min(self.end - self.pos);
        buf[..n].copy_from_slice(&self.ahead[self.pos..self.pos + n]);
        self.pos += n;
        n as c_int
    }
}

impl<S: Write> Bio<S> {
    /// mbedTLS's write: one write of the stream, as mbedTLS's return value.
    fn send(&mut self, buf: &[u8]) -> c_int {
        loop {
            let Some(result) = self.call(|stream| stream.write(buf)) else {
                return NET_SEND_FAILED;
            };
            return match result {
                // mbedTLS would take 0 for "nothing left to send" and stall; report it.
                Ok(0) if !buf.is_empty() => {
                    self.error = Some(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the connection accepted no bytes",
                    ));
                    NET_SEND_FAILED
                }
                // At most one record (about 16 KiB) at a time, far below c_int.
                Ok(n) => n.min(buf.len()) as c_int,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => sys::MBEDTLS_ERR_SSL_WANT_WRITE,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.error = Some(e);
                    NET_SEND_FAILED
                }
            };
        }
    }
}

/// The `f_recv` of `mbedtls_ssl_set_bio` for a [`Bio<S>`].
///
/// # Safety
/// `ctx` is the `Bio<S>` given to `mbedtls_ssl_set_bio`, not borrowed elsewhere during the
/// mbedTLS call, and `buf` is writable for `len` bytes.
pub(crate) unsafe extern "C" fn recv<S: Read>(
    ctx: *mut c_void,
    buf: *mut c_uchar,
    len: usize,
) -> c_int {
    if len == 0 {
        return 0;
    }
    // SAFETY: per this function's contract.
    let (bio, buf) = unsafe {
        (
            &mut *ctx.cast::<Bio<S>>(),
            std::slice::from_raw_parts_mut(buf, len),
        )
    };
    bio.recv(buf)
}

/// The `f_send` of `mbedtls_ssl_set_bio` for a [`Bio<S>`].
///
/// # Safety
/// `ctx` is the `Bio<S>` given to `mbedtls_ssl_set_bio`, not borrowed elsewhere during the
/// mbedTLS call, and `buf` is readable for `len` bytes.
pub(crate) unsafe extern "C" fn send<S: Write>(
    ctx: *mut c_void,
    buf: *const c_uchar,
    len: usize,
) -> c_int {
    if len == 0 {
        return 0;
    }
    // SAFETY: per this function's contract.
    let (bio, buf) = unsafe {
        (
            &mut *ctx.cast::<Bio<S>>(),
            std::slice::from_raw_parts(buf, len),
        )
    };
    bio.send(buf)
}
