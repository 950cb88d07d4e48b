//! Safe Rust API for [F-Stack](https://github.com/F-Stack/f-stack), Tencent's DPDK-based
//! user-space TCP/IP stack.
//!
//! - [`Stack`]: `ff_init` once per process, then [`Stack::run`] drives F-Stack's loop and calls
//!   your closure once per iteration.
//! - [`FStackSocket`] / [`FStackListener`]: non-blocking TCP on F-Stack sockets, implementing
//!   [`std::io::Read`] and [`std::io::Write`] with `WouldBlock` semantics.
//! - [`FStackUdpSocket`]: non-blocking UDP with datagram boundaries kept and truncation
//!   reported, broadcast, TTL, and IPv4/IPv6 multicast (join/leave on an interface, loopback,
//!   TTL).
//! - [`Poll`]: mio-style readiness with [`Token`] and [`Interest`], hiding F-Stack's epoll
//!   quirks.
//! - [`Kqueue`]: F-Stack's native event API (real F-Stack only), see [`kqueue`].
//! - [`set_packet_dispatcher`]: multi-process F-Stack, one process per queue, see [`dispatch`].
//! - [`FStackSocket::write_zero_copy`]: zero-copy send where F-Stack was built with
//!   `FF_ZC_SEND=1`, see [`zc`].
//!
//! Everything bound to the F-Stack thread is `!Send` and `!Sync`: F-Stack's state is
//! per-thread and its descriptors cannot move.
//!
//! Every call into F-Stack is checked first: on another thread it fails with
//! [`Error::NotInitialized`], and once [`Stack::run`] has returned (real F-Stack has torn
//! itself down by then) with [`Error::NotRunning`], on both backends.
//!
//! The linked backend (real F-Stack or the kernel-socket implementation used for development)
//! is reported by [`backend`].
//!
//! - The loop's helpers: [`Stack::try_run`] (a body returning `Result`, so `?` works inside
//!   it), one error story ([`Error`] converts from and into [`std::io::Error`]; [`WouldBlock`]
//!   and [`Ready`] test WouldBlock the same way on both), [`Timers`] (deadlines checked with
//!   the `now` the caller passes) and [`BufferedWriter`] (keeps what the socket refused,
//!   bounded).
//! - [`rt`] (cargo feature `async`): async/await inside the F-Stack loop: tasks, async TCP
//!   and UDP, timers; with feature `tokio` the sockets implement tokio's io traits too.
//! - [`Loopback`]: connects to loopback or the stack's own address behave the same on both
//!   backends (refused at once with [`Error::Loopback`], or allowed).
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::ops::ControlFlow;
//! use std::time::{Duration, Instant};
//! use fstack::{Events, FStackSocket, Interest, Poll, Ready, Stack, StackOptions, Token};
//!
//! let stack = Stack::init(StackOptions::new("f-stack.conf"))?;
//! let mut poll = Poll::new()?;
//! let mut events = Events::with_capacity(64);
//! let mut conn: Option<FStackSocket> = None;
//! let mut received = Vec::new();
//! let deadline = Instant::now() + Duration::from_secs(5);
//! let reply = stack.try_run(|| {
//!     let sock = match conn.as_mut() {
//!         Some(s) => s,
//!         None => {
//!             let s = FStackSocket::connect("10.0.0.2:80".parse().unwrap())?;
//!             poll.register(&s, Token(0), Interest::READABLE | Interest::WRITABLE)?;
//!             conn.insert(s)
//!         }
//!     };
//!     if Instant::now() > deadline {
//!         return Err(fstack::Error::InvalidArgument("no reply within 5 s".into()));
//!     }
//!     poll.poll(&mut events)?;
//!     for ev in &events {
//!         if ev.is_writable() && sock.is_connecting() && sock.finish_connect()? {
//!             sock.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
//!         }
//!         if ev.is_readable() {
//!             let mut buf = [0u8; 4096];
//!             // Edge-triggered: read until WouldBlock (`ready()` turns it into None).
//!             while let Some(n) = sock.read(&mut buf).ready()? {
//!                 if n == 0 {
//!                     return Ok(ControlFlow::Break(std::mem::take(&mut received)));
//!                 }
//!                 received.extend_from_slice(&buf[..n]);
//!             }
//!         }
//!     }
//!     Ok(ControlFlow::Continue(()))
//! })?;
//! # Ok::<(), fstack::Error>(())
//! ```
//!
//! # Edge-triggered readiness: pitfalls
//!
//! [`Poll`] reports a change of readiness once (F-Stack maps `EPOLLET` to kqueue's
//! `EV_CLEAR`); nothing repeats an event the program did not act on. What goes wrong:
//!
//! - **Not draining.** After a readable event, read (or accept) until WouldBlock. Stopping
//!   early leaves bytes that no new event will announce until more arrive.
//! - **Bytes buffered above the socket.** A TLS or WebSocket layer may read a whole record,
//!   or several, into its own buffer: the socket is then empty and silent while messages wait
//!   in the layer. Keep reading from the layer until it reports WouldBlock, not until the
//!   socket does.
//! - **After a handshake, no writable event.** A TLS handshake (or a non-blocking connect)
//!   completes while the socket is writable; the writable edge was consumed by the handshake
//!   itself, and no new one arrives until the send buffer fills and drains. Write the first
//!   request right after the handshake returns, instead of waiting for an event.
//! - **Writes that would block.** A write that returns WouldBlock is announced again (a
//!   writable event) when room appears, once. Keep the unsent bytes and send them then:
//!   [`BufferedWriter`] does that, bounded, and must be flushed on every writable event.
//! - **Nothing happens, nothing wakes you.** `ff_epoll_wait` never blocks and timers do not
//!   exist in F-Stack: check deadlines ([`Timers`]) on every iteration, events or not.
//! - **Reused descriptors.** F-Stack hands a closed descriptor's number to the next socket at
//!   once: tokens (not descriptor numbers) must identify connections, and never be reused
//!   while a late event of the old socket could arrive.
#![warn(missing_docs)]

mod addr;
mod buffered;
mod config;
pub mod dispatch;
mod error;
mod ffi;
pub mod kqueue;
mod loopback;
mod poll;
mod port0;
#[cfg(feature = "async")]
pub mod rt;
mod socket;
mod stack;
mod timer;
mod udp;
pub mod zc;

pub use buffered::BufferedWriter;
pub use error::{Error, Ready, Result, WouldBlock};
pub use loopback::{loopback_policy, Loopback, LOOPBACK_ENV};
pub use poll::{Event, Events, Interest, Poll, Token};
pub use socket::{FStackListener, FStackSocket, Source};
pub use stack::{backend, stop, Backend, ProcType, ShutdownSignal, Stack, StackOptions};
pub use timer::{TimerId, Timers};
pub use udp::{
    FStackUdpSocket, UdpBindOptions, DEFAULT_HOP_LIMIT_V6, MAX_DATAGRAM_V4, MAX_DATAGRAM_V6,
};

pub use dispatch::{set_packet_dispatcher, Dispatch, Packet};
pub use kqueue::{KChange, KEvent, KEvents, Kqueue};
pub use zc::zero_copy_send;
