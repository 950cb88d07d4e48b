//! A bounded write buffer for non-blocking sockets: what the socket does not take now is kept
//! and sent on a later writable event, never lost and never re-sent.

use std::io::{self, Write};

use crate::error::{Error, Result, WouldBlock};

/// Writes messages to a non-blocking writer (an [`FStackSocket`](crate::FStackSocket), a TLS
/// stream over one), keeping what it could not take yet, up to `capacity` bytes.
///
/// - [`send`](Self::send) queues a whole message or nothing: when it does not fit next to
///   what is still unsent, it fails with [`Error::BufferFull`] and nothing of it is queued,
///   so a message is never cut in the middle.
/// - [`flush_pending`](Self::flush_pending) pushes the unsent bytes and flushes the writer;
///   call it on every writable event of the socket, and after `send` when the writer buffers
///   itself (after a WouldBlock, F-Stack reports writability once, when room appears: a
///   program that does not flush then stalls).
/// - `capacity` bounds one message too: a message longer than `capacity` is refused with
///   [`Error::BufferFull`] even when nothing is pending (split it, or size the buffer for the
///   largest message).
///
/// ```no_run
/// # fn f(sock: fstack::FStackSocket, ev: &fstack::Event) -> fstack::Result<()> {
/// use fstack::BufferedWriter;
/// let mut out = BufferedWriter::new(sock, 64 * 1024);
/// out.send(b"hello\n")?; // written now, or kept
/// if ev.is_writable() {
///     out.flush_pending()?; // true once everything went out
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct BufferedWriter<W> {
    inner: W,
    /// Unsent bytes are `buf[start..]`.
    buf: Vec<u8>,
    start: usize,
    capacity: usize,
}

impl<W: Write> BufferedWriter<W> {
    /// Wraps `inner`, keeping at most `capacity` unsent bytes.
    pub fn new(inner: W, capacity: usize) -> BufferedWriter<W> {
        BufferedWriter {
            inner,
            buf: Vec::new(),
            start: 0,
            capacity,
        }
    }

    /// Sends `data`: writes what the writer takes now and keeps the rest for
    /// [`flush_pending`](Self::flush_pending). Bytes queued earlier go first.
    ///
    /// Errors: [`Error::BufferFull`] when `data` does not fit beside the bytes still unsent
    /// (after trying to send those): nothing of `data` was queued, retry later or give up on
    /// the peer. A write error of the writer (not WouldBlock) as [`Error::Io`] naming `write`.
    pub fn send(&mut self, data: &[u8]) -> Result<()> {
        if self.pending() > 0 {
            self.flush_pending()?;
        }
        if self.pending() + data.len() > self.capacity {
            return Err(Error::BufferFull {
                capacity: self.capacity,
                pending: self.pending(),
                len: data.len(),
            });
        }
        let mut sent = 0;
        if self.pending() == 0 {
            sent = write_some(&mut self.inner, data)?;
        }
        if sent < data.len() {
            if self.start > 0 && self.start == self.buf.len() {
                self.buf.clear();
                self.start = 0;
            }
            self.buf.extend_from_slice(&data[sent..]);
        }
        Ok(())
    }

    /// Writes unsent bytes until the writer would block, then flushes the writer (a TLS
    /// stream keeps records inside its session until its `flush` returns `Ok`); `Ok(true)`
    /// when nothing is left, here or in the writer.
    pub fn flush_pending(&mut self) -> Result<bool> {
        let sent = write_some(&mut self.inner, &self.buf[self.start..])?;
        self.start += sent;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            return match self.inner.flush() {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
                Err(e) => Err(Error::io("flush", e)),
            };
        }
        // Keep the buffer from creeping: move the unsent tail to the front once it is less
        // than half of what the vector holds.
        if self.start > self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(false)
    }

    /// Unsent bytes.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// True when nothing waits in this buffer. A writer that buffers itself (a TLS stream)
    /// may still hold bytes: [`flush_pending`](Self::flush_pending) returning `Ok(true)` is
    /// the answer that covers both.
    pub fn is_flushed(&self) -> bool {
        self.pending() == 0
    }

    /// The bound on unsent bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The writer, for reads or options. Writing to it directly would overtake the queued
    /// bytes.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The writer and the unsent bytes.
    pub fn into_parts(mut self) -> (W, Vec<u8>) {
        self.buf.drain(..self.start);
        (self.inner, self.buf)
    }
}

/// Writes from `data` until it is all written or the writer would block; the count written.
fn write_some<W: Write>(w: &mut W, data: &[u8]) -> Result<usize> {
    let mut sent = 0;
    while sent < data.len() {
        match w.write(&data[sent..]) {
            Ok(0) => {
                return Err(Error::io(
                    "write",
                    io::Error::new(io::ErrorKind::WriteZero, "the writer took no bytes"),
                ))
            }
            Ok(n) => sent += n,
            Err(e) if e.is_would_block() => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("write", e)),
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes at most `room` bytes, then WouldBlock until given more room.
    #[derive(Debug, Default)]
    struct Throttled {
        room: usize,
        got: Vec<u8>,
        calls: usize,
    }

    impl Write for Throttled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            // At most 3 bytes per call: partial writes.
            let n = buf.len().min(self.room).min(3);
            self.got.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A writer that takes everything but holds it until flushed, like a TLS session whose
    /// socket is full: its `flush` says WouldBlock `holds` times.
    #[derive(Debug, Default)]
    struct Session {
        holds: usize,
        flushes: usize,
    }

    impl Write for Session {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.flushes += 1;
            if self.holds > 0 {
                self.holds -= 1;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        }
    }

    #[test]
    fn flushed_only_when_the_writer_has_flushed_too() {
        let mut w = BufferedWriter::new(
            Session {
                holds: 2,
                ..Session::default()
            },
            16,
        );
        w.send(b"record").unwrap();
        assert_eq!(w.pending(), 0);
        assert!(!w.flush_pending().unwrap(), "the session still holds bytes");
        assert!(!w.flush_pending().unwrap());
        assert!(w.flush_pending().unwrap());
        assert_eq!(w.get_ref().flushes, 3);
    }

    #[test]
    fn keeps_what_the_socket_refuses_and_flushes_it_in_order() {
        let mut w = BufferedWriter::new(
            Throttled {
                room: 4,
                ..Throttled::default()
            },
            10,
        );
        w.send(b"abcdef").unwrap();
        assert_eq!(w.get_ref().got, b"abcd");
        assert_eq!(w.pending(), 2);
        // Queued behind the unsent bytes, even though nothing could be written.
        w.send(b"ghi").unwrap();
        assert_eq!(w.pending(), 5);
        assert!(!w.flush_pending().unwrap());
        w.get_mut().room = 3;
        assert!(!w.flush_pending().unwrap());
        assert_eq!(w.get_ref().got, b"abcdefg");
        assert_eq!(w.pending(), 2);
        w.get_mut().room = 100;
        assert!(w.flush_pending().unwrap());
        assert!(w.is_flushed());
        assert_eq!(w.get_ref().got, b"abcdefghi");
        // With nothing pending, a send goes straight through.
        w.send(b"jk").unwrap();
        assert_eq!(w.get_ref().got, b"abcdefghijk");
        assert_eq!(w.pending(), 0);
    }

    #[test]
    fn full_buffer_refuses_the_whole_message() {
        let mut w = BufferedWriter::new(Throttled::default(), 8);
        w.send(b"12345").unwrap();
        assert_eq!(w.pending(), 5);
        let err = w.send(b"6789").unwrap_err();
        assert!(matches!(
            err,
            Error::BufferFull {
                capacity: 8,
                pending: 5,
                len: 4
            }
        ));
        assert_eq!(
            err.to_string(),
            "write buffer full: 5 of 8 bytes still unsent, no room for 4 more"
        );
        assert!(!WouldBlock::is_would_block(&err));
        // Exactly filling it is fine.
        w.send(b"678").unwrap();
        assert_eq!(w.pending(), 8);
        // Room made by the socket is used before refusing.
        w.get_mut().room = 3;
        w.send(b"9ab").unwrap();
        assert_eq!(w.get_ref().got, b"123");
        let (inner, unsent) = w.into_parts();
        assert_eq!(inner.got, b"123");
        assert_eq!(unsent, b"456789ab");
    }

    #[test]
    fn writer_errors_are_reported() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::ConnectionReset.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = BufferedWriter::new(Broken, 4).send(b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        assert!(err.to_string().starts_with("write failed: "), "{err}");
    }
}
