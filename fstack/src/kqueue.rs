//! [`Kqueue`]: F-Stack's native event API (`ff_kqueue`, `ff_kevent`; `ff_api.h`,
//! `ff_event.h`), on which F-Stack emulates epoll (`lib/ff_epoll.c`).
//!
//! Real F-Stack only. On the kernel backend [`Kqueue::new`] fails with
//! [`Error::Unsupported`](crate::Error::Unsupported): Linux has no kqueue, and an emulation over epoll would measure and
//! prove nothing about F-Stack; portable programs use [`Poll`](crate::Poll), which works on
//! both.
//!
//! Differences from [`Poll`](crate::Poll), all FreeBSD kqueue semantics:
//! - one event per *filter*: read and write readiness are separate registrations and arrive
//!   as separate events (F-Stack's epoll does the same after translating);
//! - the token travels in the event itself (`udata`), so there is no lookup per event;
//! - [`KEvent::data`] carries the filter's count: bytes readable, or space writable, or the
//!   backlog of a listener;
//! - end of file is [`KEvent::is_eof`] on the read filter (FreeBSD `EV_EOF`), with the socket
//!   error, if any, in [`KEvent::fflags`] (FreeBSD numbering); [`KEvent::error`] gives it (or
//!   an `EV_ERROR`'s) as an [`io::Error`] in Linux numbering.

use std::ffi::{c_int, c_void};
use std::io;
use std::marker::PhantomData;

use crate::error::{errno_from_freebsd, Result};
use crate::ffi;
use crate::poll::{Interest, Token};
use crate::socket::Source;

/// `EVFILT_READ` (`ff_event.h`).
pub const EVFILT_READ: i16 = -1;
/// `EVFILT_WRITE` (`ff_event.h`).
pub const EVFILT_WRITE: i16 = -2;
/// `EV_ADD`: add the event, enabled (`ff_event.h`).
pub const EV_ADD: u16 = 0x0001;
/// `EV_DELETE`: remove the event (`ff_event.h`).
pub const EV_DELETE: u16 = 0x0002;
/// `EV_ENABLE` (`ff_event.h`).
pub const EV_ENABLE: u16 = 0x0004;
/// `EV_DISABLE`: keep the registration, report nothing (`ff_event.h`).
pub const EV_DISABLE: u16 = 0x0008;
/// `EV_ONESHOT`: report once, then delete (`ff_event.h`; epoll's `EPOLLONESHOT`).
pub const EV_ONESHOT: u16 = 0x0010;
/// `EV_CLEAR`: reset the state after reporting: edge-triggered (`ff_event.h`; `EPOLLET`).
pub const EV_CLEAR: u16 = 0x0020;
/// `EV_EOF`: the peer closed, or the socket has an error (`ff_event.h`).
pub const EV_EOF: u16 = 0x8000;
/// `EV_ERROR`: a change could not be applied; `data` holds the error (`ff_event.h`).
pub const EV_ERROR: u16 = 0x4000;

#[cfg(fstack_backend = "fstack")]
const _: () = {
    // The values above are the header's (bindgen generated them from ff_event.h).
    assert!(fstack_sys::EVFILT_READ == EVFILT_READ as i32);
    assert!(fstack_sys::EVFILT_WRITE == EVFILT_WRITE as i32);
    assert!(fstack_sys::EV_ADD == EV_ADD as u32);
    assert!(fstack_sys::EV_DELETE == EV_DELETE as u32);
    assert!(fstack_sys::EV_ENABLE == EV_ENABLE as u32);
    assert!(fstack_sys::EV_DISABLE == EV_DISABLE as u32);
    assert!(fstack_sys::EV_ONESHOT == EV_ONESHOT as u32);
    assert!(fstack_sys::EV_CLEAR == EV_CLEAR as u32);
    assert!(fstack_sys::EV_EOF == EV_EOF as u32);
    assert!(fstack_sys::EV_ERROR == EV_ERROR as u32);
};

/// F-Stack's `struct kevent` (`ff_event.h`), field for field; `ffi` asserts the layout
/// against bindgen's on real F-Stack.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct RawKevent {
    ident: usize,
    filter: i16,
    flags: u16,
    fflags: u32,
    data: i64,
    udata: *mut c_void,
    ext: [u64; 4],
}

impl RawKevent {
    const ZERO: RawKevent = RawKevent {
        ident: 0,
        filter: 0,
        flags: 0,
        fflags: 0,
        data: 0,
        udata: std::ptr::null_mut(),
        ext: [0; 4],
    };
}

/// One change for [`Kqueue::apply`], like C's `EV_SET(kev, ident, filter, flags, 0, 0, udata)`.
#[derive(Clone, Copy)]
pub struct KChange(RawKevent);

impl KChange {
    /// A change of `filter` ([`EVFILT_READ`], [`EVFILT_WRITE`]) on `source` with `flags`
    /// ([`EV_ADD`], [`EV_DELETE`], [`EV_CLEAR`], ...), reporting `token` in its events.
    pub fn new(source: &impl Source, filter: i16, flags: u16, token: Token) -> KChange {
        KChange(RawKevent {
            ident: source.raw_fd() as usize,
            filter,
            flags,
            udata: token.0 as *mut c_void,
            ..RawKevent::ZERO
        })
    }
}

impl std::fmt::Debug for KChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KChange")
            .field("ident", &self.0.ident)
            .field("filter", &self.0.filter)
            .field("flags", &format_args!("{:#x}", self.0.flags))
            .field("token", &(self.0.udata as usize))
            .finish()
    }
}

/// One event reported by [`Kqueue::poll`].
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct KEvent(RawKevent);

impl KEvent {
    /// The token given at registration (kqueue's `udata`).
    pub fn token(&self) -> Token {
        Token(self.0.udata as usize)
    }

    /// The descriptor (`ident`).
    pub fn fd(&self) -> c_int {
        self.0.ident as c_int
    }

    /// The filter: [`EVFILT_READ`] or [`EVFILT_WRITE`] for sockets.
    pub fn filter(&self) -> i16 {
        self.0.filter
    }

    /// Read readiness (bytes, a connection to accept, or end of file).
    pub fn is_readable(&self) -> bool {
        self.0.filter == EVFILT_READ
    }

    /// Write readiness (send space, or a connect that completed).
    pub fn is_writable(&self) -> bool {
        self.0.filter == EVFILT_WRITE
    }

    /// `EV_EOF`: the peer shut its side (read filter) or the connection is gone.
    pub fn is_eof(&self) -> bool {
        self.0.flags & EV_EOF != 0
    }

    /// `EV_ERROR`: a change failed; [`data`](Self::data) holds the error number.
    pub fn is_error(&self) -> bool {
        self.0.flags & EV_ERROR != 0
    }

    /// The flags (`EV_*`).
    pub fn flags(&self) -> u16 {
        self.0.flags
    }

    /// Filter flags: with `EV_EOF`, the socket error in FreeBSD numbering (0 if none; see
    /// [`error`](Self::error) for it as an [`io::Error`]).
    pub fn fflags(&self) -> u32 {
        self.0.fflags
    }

    /// The filter's data: bytes readable, send space, pending connections, or (with
    /// `EV_ERROR`) an error number in FreeBSD numbering (see [`error`](Self::error)).
    pub fn data(&self) -> i64 {
        self.0.data
    }

    /// The error this event reports, as an [`io::Error`] in this system's (Linux) numbering:
    /// with `EV_ERROR`, the failed change's error from [`data`](Self::data); with `EV_EOF`,
    /// the socket error from [`fflags`](Self::fflags) (e.g. connection reset). `None` when
    /// there is none: no such flag, or a zero number (an `EV_EOF` that is a plain end of
    /// file).
    ///
    /// `ff_kevent` copies FreeBSD's events out unchanged, so the raw numbers are FreeBSD's
    /// (`ECONNRESET` is 54 there, 104 on Linux); this translates them like F-Stack's own
    /// `ff_*` calls translate `errno` (numbers 1-34 agree between the two systems).
    pub fn error(&self) -> Option<io::Error> {
        let code = if self.is_error() {
            self.0.data
        } else if self.is_eof() {
            i64::from(self.0.fflags)
        } else {
            0
        };
        let code = c_int::try_from(code).ok().filter(|&c| c != 0)?;
        Some(io::Error::from_raw_os_error(errno_from_freebsd(code)))
    }
}

impl std::fmt::Debug for KEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KEvent")
            .field("token", &self.token())
            .field("fd", &self.fd())
            .field("filter", &self.0.filter)
            .field("flags", &format_args!("{:#x}", self.0.flags))
            .field("fflags", &self.0.fflags)
            .field("data", &self.0.data)
            .finish()
    }
}

/// Storage for the events one [`Kqueue::poll`] returns.
pub struct KEvents {
    raw: Vec<RawKevent>,
    len: usize,
}

impl KEvents {
    /// Room for `capacity` events per poll (at least 1).
    pub fn with_capacity(capacity: usize) -> KEvents {
        KEvents {
            raw: vec![RawKevent::ZERO; capacity.max(1)],
            len: 0,
        }
    }

    /// The events of the last poll.
    pub fn iter(&self) -> std::slice::Iter<'_, KEvent> {
        self.as_slice().iter()
    }

    fn as_slice(&self) -> &[KEvent] {
        let raw = &self.raw[..self.len];
        // SAFETY: KEvent is a repr(transparent) RawKevent, so the slices have one layout.
        unsafe { std::slice::from_raw_parts(raw.as_ptr().cast::<KEvent>(), raw.len()) }
    }

    /// How many events the last poll returned.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the last poll returned none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for KEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a KEvents {
    type Item = &'a KEvent;
    type IntoIter = std::slice::Iter<'a, KEvent>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// An F-Stack kqueue (`ff_kqueue`). Like [`Poll`](crate::Poll), it never blocks: every
/// `ff_kevent` passes a zero timeout, since F-Stack's loop must return to process packets.
///
/// Closing a descriptor removes its registrations (FreeBSD semantics).
#[derive(Debug)]
pub struct Kqueue {
    kq: c_int,
    _not_send: PhantomData<*const ()>,
}

impl Kqueue {
    /// `ff_kqueue`. On the kernel backend: [`Error::Unsupported`](crate::Error::Unsupported).
    pub fn new() -> Result<Kqueue> {
        Ok(Kqueue {
            kq: ffi::kqueue()?,
            _not_send: PhantomData,
        })
    }

    /// Applies `changes` at once (one `ff_kevent` call, no events collected). A change that
    /// fails fails the call with its error (`ff_kevent` reports the first).
    pub fn apply(&mut self, changes: &[KChange]) -> Result<()> {
        let raw: Vec<RawKevent> = changes.iter().map(|c| c.0).collect();
        ffi::kevent(self.kq, &raw, &mut [])?;
        Ok(())
    }

    /// Registers `source` edge-triggered (`EV_ADD | EV_CLEAR`) for `interest`, one filter per
    /// direction, reporting `token`: like [`Poll::register`](crate::Poll::register).
    pub fn register(
        &mut self,
        source: &impl Source,
        token: Token,
        interest: Interest,
    ) -> Result<()> {
        self.apply(&changes(source, token, interest, EV_ADD | EV_CLEAR))
    }

    /// Removes the filters of `interest` for `source` (`EV_DELETE`).
    pub fn deregister(&mut self, source: &impl Source, interest: Interest) -> Result<()> {
        self.apply(&changes(source, Token(0), interest, EV_DELETE))
    }

    /// Collects ready events without blocking (`ff_kevent` with no changes and a zero
    /// timeout). Call it once per loop iteration.
    pub fn poll(&mut self, events: &mut KEvents) -> Result<()> {
        events.len = 0;
        events.len = match ffi::kevent(self.kq, &[], &mut events.raw) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        Ok(())
    }
}

/// The changes for `interest` (read first, then write) with `flags`.
fn changes(source: &impl Source, token: Token, interest: Interest, flags: u16) -> Vec<KChange> {
    let mut out = Vec::with_capacity(2);
    if interest.is_readable() {
        out.push(KChange::new(source, EVFILT_READ, flags, token));
    }
    if interest.is_writable() {
        out.push(KChange::new(source, EVFILT_WRITE, flags, token));
    }
    out
}

impl Drop for Kqueue {
    fn drop(&mut self) {
        // Abandoned instead once real F-Stack is torn down (see Stack::run).
        ffi::close(self.kq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fd(c_int);
    impl Source for Fd {
        fn raw_fd(&self) -> c_int {
            self.0
        }
    }

    #[test]
    fn raw_kevent_has_ff_event_h_layout() {
        // uintptr_t, short, u_short, u_int, int64, void *, uint64[4] on x86_64.
        assert_eq!(std::mem::size_of::<RawKevent>(), 64);
        assert_eq!(std::mem::offset_of!(RawKevent, filter), 8);
        assert_eq!(std::mem::offset_of!(RawKevent, flags), 10);
        assert_eq!(std::mem::offset_of!(RawKevent, fflags), 12);
        assert_eq!(std::mem::offset_of!(RawKevent, data), 16);
        assert_eq!(std::mem::offset_of!(RawKevent, udata), 24);
        assert_eq!(std::mem::offset_of!(RawKevent, ext), 32);
    }

    #[test]
    fn register_makes_one_edge_triggered_change_per_direction() {
        let both = changes(
            &Fd(7),
            Token(42),
            Interest::READABLE | Interest::WRITABLE,
            EV_ADD | EV_CLEAR,
        );
        let got: Vec<(usize, i16, u16, usize)> = both
            .iter()
            .map(|c| (c.0.ident, c.0.filter, c.0.flags, c.0.udata as usize))
            .collect();
        assert_eq!(got, [(7, -1, 0x21, 42), (7, -2, 0x21, 42)]);
        let write = changes(&Fd(3), Token(0), Interest::WRITABLE, EV_DELETE);
        assert_eq!(write.len(), 1);
        assert_eq!((write[0].0.filter, write[0].0.flags), (-2, 2));
    }

    #[test]
    fn event_accessors_read_the_raw_fields() {
        let ev = KEvent(RawKevent {
            ident: 5,
            filter: EVFILT_READ,
            flags: EV_CLEAR | EV_EOF,
            fflags: 54,
            data: 1460,
            udata: 9 as *mut c_void,
            ext: [0; 4],
        });
        assert_eq!(ev.token(), Token(9));
        assert_eq!(ev.fd(), 5);
        assert!(ev.is_readable() && !ev.is_writable());
        assert!(ev.is_eof() && !ev.is_error());
        assert_eq!((ev.fflags(), ev.data()), (54, 1460));
    }

    fn event(flags: u16, fflags: u32, data: i64) -> KEvent {
        KEvent(RawKevent {
            ident: 5,
            filter: EVFILT_READ,
            flags,
            fflags,
            data,
            udata: std::ptr::null_mut(),
            ext: [0; 4],
        })
    }

    #[test]
    fn error_translates_freebsd_numbers() {
        // EV_EOF with FreeBSD's ECONNRESET (54) in fflags: Linux's ECONNRESET.
        let reset = event(EV_CLEAR | EV_EOF, 54, 0).error().unwrap();
        assert_eq!(reset.raw_os_error(), Some(libc::ECONNRESET));
        assert_eq!(reset.kind(), io::ErrorKind::ConnectionReset);
        // A plain end of file, and a plain readable event: no error.
        assert!(event(EV_CLEAR | EV_EOF, 0, 0).error().is_none());
        assert!(event(EV_CLEAR, 61, 1460).error().is_none());
        // EV_ERROR: the number is in data (FreeBSD's ECONNREFUSED 61, Linux 111; EBADF 9
        // is the same on both); data 0 is a successful change.
        let refused = event(EV_ERROR, 0, 61).error().unwrap();
        assert_eq!(refused.raw_os_error(), Some(libc::ECONNREFUSED));
        assert_eq!(
            event(EV_ERROR, 0, 9).error().unwrap().raw_os_error(),
            Some(libc::EBADF)
        );
        assert!(event(EV_ERROR, 0, 0).error().is_none());
        // EV_ERROR wins over EV_EOF's fflags.
        let both = event(EV_ERROR | EV_EOF, 54, 48).error().unwrap();
        assert_eq!(both.raw_os_error(), Some(libc::EADDRINUSE));
    }
}
