//! Readiness polling in the style of mio, on F-Stack's epoll emulation.
//!
//! F-Stack's `ff_epoll_wait` never blocks, reports the read and write readiness of one socket
//! as two separate events, and replaces a zero `data` with the descriptor number. [`Poll`]
//! hides all three: call [`Poll::poll`] once per loop iteration, get at most one [`Event`] per
//! registered source carrying its [`Token`] (any value, including 0), with readiness merged.

use std::ffi::c_int;
use std::marker::PhantomData;
use std::ops::BitOr;

use fstack_sys::{epoll_data, epoll_event};

use crate::error::{Error, Result};
use crate::ffi;
use crate::socket::Source;

/// Identifies a registered source in the events it produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub usize);

/// Which readiness a registration asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest(u8);

impl Interest {
    /// Readable: data, a pending connection, or end of stream.
    pub const READABLE: Interest = Interest(1);
    /// Writable: send buffer space, or a completed (or failed) connect.
    pub const WRITABLE: Interest = Interest(2);

    /// Both interests together; usable in constants, unlike `|`.
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }

    /// Whether this includes [`Interest::READABLE`].
    pub fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    /// Whether this includes [`Interest::WRITABLE`].
    pub fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }

    fn epoll_bits(self) -> u32 {
        let mut bits = libc::EPOLLET as u32;
        if self.is_readable() {
            bits |= libc::EPOLLIN as u32;
        }
        if self.is_writable() {
            bits |= libc::EPOLLOUT as u32;
        }
        bits
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

/// Readiness of one registered source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    token: Token,
    bits: u32,
}

impl Event {
    /// The token given at registration.
    pub fn token(&self) -> Token {
        self.token
    }

    /// Data (or end of stream, or a pending connection) can be read.
    pub fn is_readable(&self) -> bool {
        self.bits & libc::EPOLLIN as u32 != 0
    }

    /// Data can be written, or a connect completed (check it with
    /// [`FStackSocket::finish_connect`](crate::FStackSocket::finish_connect)).
    pub fn is_writable(&self) -> bool {
        self.bits & libc::EPOLLOUT as u32 != 0
    }

    /// The peer closed its side or the connection ended: reads will return 0 once buffered
    /// data is drained.
    pub fn is_read_closed(&self) -> bool {
        self.bits & libc::EPOLLHUP as u32 != 0
    }

    /// The socket has an error pending (take it with
    /// [`FStackSocket::take_error`](crate::FStackSocket::take_error), or see it on the next
    /// read or write).
    pub fn is_error(&self) -> bool {
        self.bits & libc::EPOLLERR as u32 != 0
    }
}

/// A reusable buffer of events filled by [`Poll::poll`].
pub struct Events {
    raw: Vec<epoll_event>,
    merged: Vec<Event>,
}

impl Events {
    /// Room for `capacity` sources per poll (the raw buffer holds twice that, since F-Stack
    /// reports read and write readiness separately).
    pub fn with_capacity(capacity: usize) -> Events {
        let capacity = capacity.max(1);
        Events {
            raw: vec![epoll_event::default(); capacity * 2],
            merged: Vec::with_capacity(capacity * 2),
        }
    }

    /// The events of the last poll.
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.merged.iter()
    }

    /// Number of events of the last poll.
    pub fn len(&self) -> usize {
        self.merged.len()
    }

    /// True when the last poll found nothing ready.
    pub fn is_empty(&self) -> bool {
        self.merged.is_empty()
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("capacity", &(self.raw.len() / 2))
            .field("events", &self.merged)
            .finish()
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    token: Token,
    /// Poll round in which this fd last produced an event, and that event's index.
    round: u64,
    index: usize,
}

/// An F-Stack epoll instance with token bookkeeping.
///
/// Registrations are edge-triggered: after an event, read (or write, or accept) until
/// `WouldBlock`, because F-Stack reports a readiness change once. Bytes buffered in layers
/// above the socket (TLS, WebSocket) never produce events: drain those too.
///
/// After [`Stack::run`](crate::Stack::run) has returned, every method fails with
/// [`Error::NotRunning`] without reaching F-Stack.
#[derive(Debug)]
pub struct Poll {
    epfd: c_int,
    /// Indexed by descriptor: F-Stack's and the kernel's descriptors are small integers.
    slots: Vec<Option<Slot>>,
    round: u64,
    _not_send: PhantomData<*const ()>,
}

impl Poll {
    /// Creates an epoll instance. Needs F-Stack initialised on this thread.
    pub fn new() -> Result<Poll> {
        let epfd = ffi::epoll_create()?;
        Ok(Poll {
            epfd,
            slots: Vec::new(),
            round: 0,
            _not_send: PhantomData,
        })
    }

    fn ctl(&mut self, op: c_int, fd: c_int, interest: Interest, what: &'static str) -> Result<()> {
        ffi::ensure(what, ffi::Need::Thread)?;
        let index = usize::try_from(fd)
            .map_err(|_| Error::InvalidArgument(format!("negative descriptor {fd}")))?;
        // F-Stack would replace a zero data with the descriptor; fd + 1 is never zero, and
        // the token lives in `slots`.
        let mut ev = epoll_event {
            events: interest.epoll_bits(),
            data: epoll_data {
                u64_: index as u64 + 1,
            },
        };
        ffi::epoll_ctl(self.epfd, op, fd, &mut ev, what)
    }

    /// Registers `source` for `interest`, reporting its events with `token`.
    pub fn register(
        &mut self,
        source: &impl Source,
        token: Token,
        interest: Interest,
    ) -> Result<()> {
        let fd = source.raw_fd();
        self.ctl(libc::EPOLL_CTL_ADD, fd, interest, "ff_epoll_ctl(ADD)")?;
        self.set_slot(fd, Some(token));
        Ok(())
    }

    /// Changes the token or interest of a registered source.
    pub fn reregister(
        &mut self,
        source: &impl Source,
        token: Token,
        interest: Interest,
    ) -> Result<()> {
        let fd = source.raw_fd();
        self.ctl(libc::EPOLL_CTL_MOD, fd, interest, "ff_epoll_ctl(MOD)")?;
        self.set_slot(fd, Some(token));
        Ok(())
    }

    /// Stops reporting events for `source`.
    pub fn deregister(&mut self, source: &impl Source) -> Result<()> {
        let fd = source.raw_fd();
        // F-Stack ignores the event for DEL; old kernels need a valid one.
        let mut ev = epoll_event::default();
        ffi::epoll_ctl(
            self.epfd,
            libc::EPOLL_CTL_DEL,
            fd,
            &mut ev,
            "ff_epoll_ctl(DEL)",
        )?;
        self.set_slot(fd, None);
        Ok(())
    }

    fn set_slot(&mut self, fd: c_int, token: Option<Token>) {
        let index = fd as usize;
        if index >= self.slots.len() {
            if token.is_none() {
                return;
            }
            self.slots.resize(index + 1, None);
        }
        self.slots[index] = token.map(|token| Slot {
            token,
            round: 0,
            index: 0,
        });
    }

    /// Collects ready events without blocking (F-Stack's epoll never blocks; the loop itself
    /// paces the program). Call it once per loop iteration.
    pub fn poll(&mut self, events: &mut Events) -> Result<()> {
        events.merged.clear();
        let n = match ffi::epoll_wait(self.epfd, &mut events.raw) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        };
        self.round += 1;
        for raw in &events.raw[..n] {
            // SAFETY: every registration stores `u64_`, and any bit pattern is a valid u64.
            let (bits, data) = (raw.events, unsafe { raw.data.u64_ });
            let Some(fd) = data.checked_sub(1).map(|fd| fd as usize) else {
                continue;
            };
            let Some(Some(slot)) = self.slots.get_mut(fd) else {
                continue; // deregistered meanwhile
            };
            if slot.round == self.round {
                events.merged[slot.index].bits |= bits;
            } else {
                slot.round = self.round;
                slot.index = events.merged.len();
                events.merged.push(Event {
                    token: slot.token,
                    bits,
                });
            }
        }
        Ok(())
    }
}

impl Drop for Poll {
    fn drop(&mut self) {
        // Abandoned instead once real F-Stack is torn down (see Stack::run).
        ffi::close(self.epfd);
    }
}
