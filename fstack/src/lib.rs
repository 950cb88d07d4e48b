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
//! ```no_run
//! use std::io::{Read, Write};
//! use std::ops::ControlFlow;
//! use fstack::{Events, FStackSocket, Interest, Poll, Stack, StackOptions, Token};
//!
//! let stack = Stack::init(StackOptions::new("f-stack.conf"))?;
//! let mut poll = Poll::new()?;
//! let mut events = Events::with_capacity(64);
//! let mut conn: Option<FStackSocket> = None;
//! let mut reply = Vec::new();
//! let result = stack.run(|| {
//!     let sock = match conn.as_mut() {
//!         Some(s) => s,
//!         None => {
//!             let s = match FStackSocket::connect("10.0.0.2:80".parse().unwrap()) {
//!                 Ok(s) => s,
//!                 Err(e) => return ControlFlow::Break(Err(e)),
//!             };
//!             poll.register(&s, Token(0), Interest::READABLE | Interest::WRITABLE).unwrap();
//!             conn.insert(s)
//!         }
//!     };
//!     poll.poll(&mut events).unwrap();
//!     for ev in &events {
//!         if ev.is_writable() && sock.is_connecting() {
//!             match sock.finish_connect() {
//!                 Ok(true) => { sock.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap(); }
//!                 Ok(false) => {}
//!                 Err(e) => return ControlFlow::Break(Err(e)),
//!             }
//!         }
//!         if ev.is_readable() {
//!             let mut buf = [0u8; 4096];
//!             loop {
//!                 match sock.read(&mut buf) {
//!                     Ok(0) => return ControlFlow::Break(Ok(())),
//!                     Ok(n) => reply.extend_from_slice(&buf[..n]),
//!                     Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
//!                     Err(e) => return ControlFlow::Break(Err(fstack::Error::Io { op: "ff_read", source: e })),
//!                 }
//!             }
//!         }
//!     }
//!     ControlFlow::Continue(())
//! });
//! # Ok::<(), fstack::Error>(())
//! ```
#![warn(missing_docs)]

mod addr;
mod config;
pub mod dispatch;
mod error;
mod ffi;
pub mod kqueue;
mod poll;
mod socket;
mod stack;
mod udp;
pub mod zc;

pub use error::{Error, Result};
pub use poll::{Event, Events, Interest, Poll, Token};
pub use socket::{FStackListener, FStackSocket, Source};
pub use stack::{backend, stop, Backend, ProcType, ShutdownSignal, Stack, StackOptions};
pub use udp::{FStackUdpSocket, DEFAULT_HOP_LIMIT_V6, MAX_DATAGRAM_V4, MAX_DATAGRAM_V6};

pub use dispatch::{set_packet_dispatcher, Dispatch, Packet};
pub use kqueue::{KChange, KEvent, KEvents, Kqueue};
pub use zc::zero_copy_send;
