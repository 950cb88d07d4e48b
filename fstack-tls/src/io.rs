//! The byte-level adapter between mbedTLS and a non-blocking `Read + Write` stream.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use mbedtls::error::codes;
use mbedtls::ssl::io::Io;

/// The last I/O error of the underlying stream.
///
/// mbedTLS only sees "receive failed" / "send failed"; the real [`io::Error`] (connection reset,
/// broken pipe, ...) is parked here so the caller gets it back. It is shared because mbedTLS
/// drops the adapter when a handshake fails, before the error can be reported.
#[derive(Debug, Clone, Default)]
pub(crate) struct ErrorSlot(Arc<Mutex<Option<io::Error>>>);

impl ErrorSlot {
    fn put(&self, e: io::Error) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }

    /// Takes the parked error, if any.
    pub(crate) fn take(&self) -> Option<io::Error> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Bytes read from the stream at once. mbedTLS asks for a record's 5-byte header, then for its
/// body: without reading ahead that is two system calls per record (measured in
/// BENCHMARKS.md); with it, one call fetches every record that has arrived.
const READ_AHEAD: usize = 16 << 10;

/// Owns the stream; mbedTLS calls it through `mbedtls::ssl::io::Io`.
///
/// `WouldBlock` becomes `WANT_READ`/`WANT_WRITE`, `Interrupted` is retried (mbedTLS's own
/// adapter treats it as fatal), and every other error is parked in the [`ErrorSlot`].
///
/// Reads go through a read-ahead buffer: ciphertext that arrived but mbedTLS has not asked for
/// yet waits in `ahead[pos..end]` ([`buffered`](Self::buffered) bytes). `WouldBlock` is
/// reported only when that buffer is empty and the stream has nothing, so "read until
/// `WouldBlock`" still drains everything.
pub(crate) struct IoAdapter<S> {
    pub(crate) stream: S,
    errors: ErrorSlot,
    ahead: Box<[u8]>,
    pos: usize,
    end: usize,
}

impl<S> IoAdapter<S> {
    pub(crate) fn new(stream: S, errors: ErrorSlot) -> IoAdapter<S> {
        IoAdapter {
            stream,
            errors,
            ahead: vec![0; READ_AHEAD].into_boxed_slice(),
            pos: 0,
            end: 0,
        }
    }

    /// Ciphertext read from the stream and not yet handed to mbedTLS.
    pub(crate) fn buffered(&self) -> usize {
        self.end - self.pos
    }
}

impl<S: Read + Write> Io for IoAdapter<S> {
    fn recv(&mut self, buf: &mut [u8]) -> mbedtls::Result<usize> {
        if self.pos == self.end && !buf.is_empty() {
            if buf.len() >= self.ahead.len() {
                return read_stream(&mut self.stream, &self.errors, buf);
            }
            self.end = read_stream(&mut self.stream, &self.errors, &mut self.ahead)?;
            self.pos = 0;
        }
        let n = buf.len().min(self.end - self.pos);
        buf[..n].copy_from_slice(&self.ahead[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }

    fn send(&mut self, buf: &[u8]) -> mbedtls::Result<usize> {
        loop {
            return match self.stream.write(buf) {
                // mbedTLS would take 0 for "nothing left to send" and stall; report it.
                Ok(0) if !buf.is_empty() => {
                    self.errors.put(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the connection accepted no bytes",
                    ));
                    Err(codes::NetSendFailed.into())
                }
                Ok(n) => Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(codes::SslWantWrite.into()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.errors.put(e);
                    Err(codes::NetSendFailed.into())
                }
            };
        }
    }
}

/// One read of `stream` into `buf`, with `WouldBlock` and errors mapped for mbedTLS.
fn read_stream<S: Read>(
    stream: &mut S,
    errors: &ErrorSlot,
    buf: &mut [u8],
) -> mbedtls::Result<usize> {
    loop {
        return match stream.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(codes::SslWantRead.into()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                errors.put(e);
                Err(codes::NetRecvFailed.into())
            }
        };
    }
}
