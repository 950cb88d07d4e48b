//! UDP sockets on F-Stack: datagrams, broadcast, TTL and multicast.
//!
//! Sources: UDP is RFC 768; IPv4 multicast RFC 1112 (host extensions) and RFC 5771 (the
//! 224.0.0.0/4 block); IPv6 multicast addresses RFC 4291 section 2.7 (ff00::/8) and the IPv6
//! socket options RFC 3493 section 5.2. The calls are F-Stack 1.25's `ff_socket`, `ff_bind`,
//! `ff_connect`, `ff_sendto`, `ff_send`, `ff_recvmsg`, `ff_setsockopt` and `ff_getsockopt`
//! (`lib/ff_api.h`), which take Linux constants and translate them for FreeBSD's stack in
//! `lib/ff_syscall_wrapper.c` — except where noted below.

use std::ffi::c_int;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::addr::{domain_of, RawAddr};
use crate::error::{Error, Result};
use crate::ffi::{self, End, Need};
use crate::socket::{Fd, Source};
use crate::stack::{backend, Backend};

/// An IPv6 socket option name as `ff_setsockopt`/`ff_getsockopt` must receive it.
///
/// At level `IPPROTO_IPV6`, F-Stack 1.25 translates only `IPV6_V6ONLY`, `IPV6_RECVPKTINFO` and
/// `IPV6_TRANSPARENT` (`ip6_opt_convert` in `lib/ff_syscall_wrapper.c`) and hands every other
/// name to FreeBSD unchanged, so on the real stack these must be FreeBSD's numbers
/// (`netinet6/in6.h`); the kernel backend takes Linux's (`linux/in6.h`). None of FreeBSD's
/// numbers used here collides with a Linux name F-Stack would translate (26, 49, 75).
#[derive(Debug, Clone, Copy)]
struct Ipv6Opt {
    linux: c_int,
    freebsd: c_int,
    /// The `ff_*` call and option, for errors.
    set_op: &'static str,
    get_op: &'static str,
}

impl Ipv6Opt {
    fn name(self) -> c_int {
        match backend() {
            Backend::FStack => self.freebsd,
            Backend::Kernel => self.linux,
        }
    }
}

const IPV6_UNICAST_HOPS: Ipv6Opt = Ipv6Opt {
    linux: libc::IPV6_UNICAST_HOPS,
    freebsd: 4,
    set_op: "ff_setsockopt(IPV6_UNICAST_HOPS)",
    get_op: "ff_getsockopt(IPV6_UNICAST_HOPS)",
};
const IPV6_MULTICAST_IF: Ipv6Opt = Ipv6Opt {
    linux: libc::IPV6_MULTICAST_IF,
    freebsd: 9,
    set_op: "ff_setsockopt(IPV6_MULTICAST_IF)",
    get_op: "ff_getsockopt(IPV6_MULTICAST_IF)",
};
const IPV6_MULTICAST_HOPS: Ipv6Opt = Ipv6Opt {
    linux: libc::IPV6_MULTICAST_HOPS,
    freebsd: 10,
    set_op: "ff_setsockopt(IPV6_MULTICAST_HOPS)",
    get_op: "ff_getsockopt(IPV6_MULTICAST_HOPS)",
};
const IPV6_MULTICAST_LOOP: Ipv6Opt = Ipv6Opt {
    linux: libc::IPV6_MULTICAST_LOOP,
    freebsd: 11,
    set_op: "ff_setsockopt(IPV6_MULTICAST_LOOP)",
    get_op: "ff_getsockopt(IPV6_MULTICAST_LOOP)",
};
/// `IPV6_JOIN_GROUP` (RFC 3493); Linux calls it `IPV6_ADD_MEMBERSHIP`.
const IPV6_JOIN_GROUP: Ipv6Opt = Ipv6Opt {
    linux: libc::IPV6_ADD_MEMBERSHIP,
    freebsd: 12,
    set_op: "ff_setsockopt(IPV6_JOIN_GROUP)",
    get_op: "",
};
/// `IPV6_LEAVE_GROUP` (RFC 3493); Linux calls it `IPV6_DROP_MEMBERSHIP`.
const IPV6_LEAVE_GROUP: Ipv6Opt = Ipv6Opt {
    linux: libc::IPV6_DROP_MEMBERSHIP,
    freebsd: 13,
    set_op: "ff_setsockopt(IPV6_LEAVE_GROUP)",
    get_op: "",
};

/// The largest UDP payload over IPv4: 65,535 bytes of IP datagram minus the 20-byte IPv4 and
/// 8-byte UDP headers (RFC 791, RFC 768). A buffer this long never truncates an IPv4
/// datagram.
pub const MAX_DATAGRAM_V4: usize = 65_507;
/// The largest UDP payload over IPv6 without jumbograms: a 65,535-byte payload length minus
/// the 8-byte UDP header (RFC 8200, RFC 768).
pub const MAX_DATAGRAM_V6: usize = 65_527;

/// The unicast hop limit of IPv6 sockets unless configured otherwise: 64 on both stacks
/// (FreeBSD's `net.inet6.ip6.hlim`, Linux's `net.ipv6.conf.*.hop_limit`; RFC 8200 leaves the
/// value to the node). What [`FStackUdpSocket::ttl`] reports on IPv6 when the stack says
/// "default" (-1).
pub const DEFAULT_HOP_LIMIT_V6: u32 = 64;

/// Socket options applied between `ff_socket` and `ff_bind` by
/// [`FStackUdpSocket::bind_with`]: the ones that decide whether, and for which traffic, the
/// bind succeeds. All are left at the stack's defaults unless set.
///
/// ```
/// let opts = fstack::UdpBindOptions::new().reuse_address(true).reuse_port(true).only_v6(true);
/// assert_eq!(opts, fstack::UdpBindOptions { reuse_address: true, reuse_port: true, only_v6: Some(true) });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpBindOptions {
    /// `SO_REUSEADDR`: bind even when another socket is bound to the same port on a
    /// different local address (on FreeBSD, with a multicast address bound, also the same
    /// address and port, so that several sockets receive a group).
    pub reuse_address: bool,
    /// `SO_REUSEPORT`: several sockets that all set it may bind the very same address and
    /// port (each receives multicast and broadcast datagrams; unicast ones go to one of them).
    pub reuse_port: bool,
    /// `IPV6_V6ONLY` on an IPv6 socket (ignored on IPv4): `Some(true)` receives only IPv6
    /// datagrams, `Some(false)` IPv4 ones too (as `::ffff:a.b.c.d`), `None` the stack's
    /// default — which differs: real F-Stack's is `true` (FreeBSD's `net.inet6.ip6.v6only`,
    /// `ip6_v6only = 1` in `netinet6/in6_proto.c`), the kernel backend's is Linux's
    /// `net.ipv6.bindv6only`, usually `false`. Set it to get the same socket on both.
    pub only_v6: Option<bool>,
}

impl UdpBindOptions {
    /// No option set: the stack's defaults.
    pub fn new() -> UdpBindOptions {
        UdpBindOptions::default()
    }

    /// Sets [`reuse_address`](Self#structfield.reuse_address).
    pub fn reuse_address(mut self, on: bool) -> UdpBindOptions {
        self.reuse_address = on;
        self
    }

    /// Sets [`reuse_port`](Self#structfield.reuse_port).
    pub fn reuse_port(mut self, on: bool) -> UdpBindOptions {
        self.reuse_port = on;
        self
    }

    /// Sets [`only_v6`](Self#structfield.only_v6).
    pub fn only_v6(mut self, on: bool) -> UdpBindOptions {
        self.only_v6 = Some(on);
        self
    }
}

/// A non-blocking UDP socket on F-Stack.
///
/// Datagram boundaries are kept: each [`send_to`](Self::send_to) or [`send`](Self::send) is
/// one datagram, each [`recv_from`](Self::recv_from) or [`recv`](Self::recv) returns one. A
/// datagram longer than the receive buffer is never cut silently: the receive fails with
/// [`Error::Truncated`] (the buffer holds the datagram's first bytes; the rest is gone).
/// A zero-length datagram is received as `Ok(0)`, which for UDP is not an end of stream.
///
/// Everything is non-blocking: sends and receives fail with [`Error::is_would_block`] instead
/// of waiting. Register the socket with a [`Poll`](crate::Poll) and, after each readable
/// event, receive until `WouldBlock` (readiness is edge-triggered). The stack drops datagrams
/// that arrive while its receive buffer is full (size it with
/// [`set_recv_buffer_size`](Self::set_recv_buffer_size)); UDP does not retransmit, so
/// programs count what they miss (sequence numbers) rather than expect it.
///
/// The socket's family is fixed by [`bind`](Self::bind): an IPv4 socket sends only to IPv4
/// addresses and joins IPv4 groups, an IPv6 socket only IPv6 ones (refused with
/// [`Error::InvalidArgument`] before reaching the stack, since Linux and FreeBSD disagree on
/// mixing them).
///
/// Like the TCP types it is `!Send` and `!Sync` (F-Stack's state belongs to the thread that
/// initialised it), and after [`Stack::run`](crate::Stack::run) has returned every method
/// fails with [`Error::NotRunning`] without reaching F-Stack.
///
/// ```no_run
/// use std::ops::ControlFlow;
/// use fstack::{Events, FStackUdpSocket, Interest, Poll, Stack, StackOptions, Token};
///
/// let stack = Stack::init(StackOptions::new("f-stack.conf"))?;
/// let socket = FStackUdpSocket::bind("0.0.0.0:7".parse().unwrap())?;
/// let mut poll = Poll::new()?;
/// poll.register(&socket, Token(0), Interest::READABLE)?;
/// let mut events = Events::with_capacity(8);
/// let mut buf = vec![0u8; fstack::MAX_DATAGRAM_V4];
/// let outcome: Option<fstack::Result<()>> = stack.run(|| {
///     poll.poll(&mut events).expect("poll");
///     if !events.is_empty() {
///         loop {
///             match socket.recv_from(&mut buf) {
///                 Ok((n, from)) => { let _ = socket.send_to(&buf[..n], from); } // echo
///                 Err(e) if e.is_would_block() => break,
///                 Err(e) if e.is_truncated() => continue, // cannot happen with this buffer
///                 Err(e) => return ControlFlow::Break(Err(e)),
///             }
///         }
///     }
///     ControlFlow::Continue(())
/// });
/// # Ok::<(), fstack::Error>(())
/// ```
#[derive(Debug)]
pub struct FStackUdpSocket {
    fd: Fd,
    v6: bool,
}

impl FStackUdpSocket {
    /// Creates a UDP socket bound to `addr` (`ff_socket`, `ff_ioctl(FIONBIO)`, `ff_bind`).
    /// Port 0 picks a free port (see [`local_addr`](Self::local_addr)); binding a multicast
    /// group address receives only that group's datagrams on the port. The address decides
    /// the socket's family (IPv4 or IPv6).
    ///
    /// On real F-Stack an IPv4 bind to port 0 gets no port from the stack (F-Stack 1.25 would
    /// pick one only at the first send, or at `connect`, with its RSS check), so the crate
    /// picks it at once: a random free port of FreeBSD's ephemeral range, 10000–65535. In a
    /// multi-process F-Stack, replies to that port may reach another process's queue.
    ///
    /// Errors: [`Error::Io`] naming the failing call, e.g. `ff_bind` with "address in use" or
    /// "cannot assign requested address" (not one of the stack's addresses).
    pub fn bind(addr: SocketAddr) -> Result<FStackUdpSocket> {
        FStackUdpSocket::bind_with(addr, UdpBindOptions::new())
    }

    /// [`bind`](Self::bind) with `options` set on the socket before `ff_bind`
    /// (`ff_setsockopt` of `SO_REUSEADDR`, `SO_REUSEPORT`, `IPV6_V6ONLY`, which F-Stack 1.25
    /// translates from Linux's numbers in `lib/ff_syscall_wrapper.c`). Errors as for `bind`,
    /// and [`Error::Io`] naming the option that could not be set.
    pub fn bind_with(addr: SocketAddr, options: UdpBindOptions) -> Result<FStackUdpSocket> {
        let mut fd = FStackUdpSocket::bound(addr, options)?;
        if crate::port0::unassigned(&fd, &addr)? {
            drop(fd);
            fd = crate::port0::bind_any(addr, libc::SOCK_DGRAM, |a| {
                FStackUdpSocket::bound(a, options)
            })?;
        }
        Ok(FStackUdpSocket {
            fd,
            v6: addr.is_ipv6(),
        })
    }

    /// A new UDP socket with `options`, bound to `addr`.
    fn bound(addr: SocketAddr, options: UdpBindOptions) -> Result<Fd> {
        let fd = Fd::new(domain_of(&addr), libc::SOCK_DGRAM)?;
        if options.reuse_address {
            ffi::setsockopt(
                fd.fd,
                libc::SOL_SOCKET,
                libc::SO_REUSEADDR,
                1,
                "ff_setsockopt(SO_REUSEADDR)",
            )?;
        }
        if options.reuse_port {
            ffi::setsockopt(
                fd.fd,
                libc::SOL_SOCKET,
                libc::SO_REUSEPORT,
                1,
                "ff_setsockopt(SO_REUSEPORT)",
            )?;
        }
        if let (true, Some(only)) = (addr.is_ipv6(), options.only_v6) {
            ffi::setsockopt(
                fd.fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                c_int::from(only),
                "ff_setsockopt(IPV6_V6ONLY)",
            )?;
        }
        let (raw, len) = RawAddr::from_std(&addr);
        ffi::bind(fd.fd, &raw, len)?;
        Ok(fd)
    }

    /// Connects the socket to `addr` (`ff_connect`): [`send`](Self::send) then goes there,
    /// and [`recv`](Self::recv)/[`recv_from`](Self::recv_from) return only its datagrams. An
    /// ICMP port unreachable from the peer then fails a later receive or send with
    /// [`io::ErrorKind::ConnectionRefused`]. No packet is sent; it completes at once.
    ///
    /// Inside the running loop only: [`Error::NotRunning`] otherwise. In F-Stack 1.25's source a
    /// UDP connect only records the peer (`ff_connect` → `kern_connectat` → `udp_connect` →
    /// `in_pcbconnect`, which picks the local address and, for an unbound socket, a local
    /// port through F-Stack's RSS check, then `soisconnected`; nothing is sent and nothing
    /// sleeps), so it may well work before `ff_run`. It is still refused there because the
    /// same reading of the TCP path (non-blocking: `EINPROGRESS`, no sleep either) does not
    /// explain why F-Stack fails TCP connects before `ff_run` with `EPERM`, so the cause is
    /// not known to spare UDP, and the kernel backend cannot show the real stack's answer;
    /// one rule for both protocols until a run on real F-Stack settles it. [`Error::Connect`] when the stack refuses (e.g. no
    /// route), [`Error::InvalidArgument`] for an address of the other family,
    /// [`Error::Loopback`] for loopback or the stack's own address when the
    /// [`Loopback`](crate::Loopback) policy refuses them.
    pub fn connect(&self, addr: SocketAddr) -> Result<()> {
        ffi::ensure("ff_connect", Need::Loop)?;
        self.same_family("connect", &addr)?;
        crate::loopback::check_connect(&addr)?;
        let (raw, len) = RawAddr::from_std(&addr);
        ffi::connect(self.fd.fd, &raw, len).map_err(|e| match e {
            Error::Io { source, .. } => Error::Connect { addr, source },
            other => other,
        })
    }

    /// Sends `buf` as one datagram to `target` (`ff_sendto`); returns its length.
    ///
    /// Errors ([`Error::Io`] naming `ff_sendto`): would block when the stack has no room now
    /// ([`Error::is_would_block`]; F-Stack may report running out of buffers as
    /// `ENOBUFS`), "message too long" (`EMSGSIZE`) above [`MAX_DATAGRAM_V4`] /
    /// [`MAX_DATAGRAM_V6`], "permission denied" for a broadcast address without
    /// [`set_broadcast`](Self::set_broadcast). [`Error::InvalidArgument`] for a target of the
    /// other family; [`Error::Loopback`] for loopback or the stack's own address when the
    /// [`Loopback`](crate::Loopback) policy refuses them (stock F-Stack never delivers such a
    /// datagram).
    pub fn send_to(&self, buf: &[u8], target: SocketAddr) -> Result<usize> {
        ffi::ensure("ff_sendto", Need::Thread)?;
        self.same_family("send_to", &target)?;
        crate::loopback::check_connect(&target)?;
        let (raw, len) = RawAddr::from_std(&target);
        ffi::send_to(self.fd.fd, buf, Some((&raw, len)))
    }

    /// Sends `buf` as one datagram to the connected peer (`ff_send`); returns its length.
    /// Fails with "destination address required" (`EDESTADDRREQ`) when not connected; other
    /// errors as for [`send_to`](Self::send_to).
    pub fn send(&self, buf: &[u8]) -> Result<usize> {
        ffi::send_to(self.fd.fd, buf, None)
    }

    /// Receives one datagram into `buf` (`ff_recvmsg`): its length and sender.
    ///
    /// Errors: [`Error::is_would_block`] when none is queued; [`Error::Truncated`] (with the
    /// sender) when it was longer than `buf`, whose bytes then hold its beginning; on a
    /// connected socket, [`io::ErrorKind::ConnectionRefused`] after the peer's ICMP port
    /// unreachable.
    pub fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr)> {
        let got = ffi::recvmsg(self.fd.fd, buf, true)?;
        let from = got.from.and_then(|(raw, len)| raw.to_std(len));
        if got.truncated {
            return Err(Error::Truncated {
                op: "ff_recvmsg",
                capacity: buf.len(),
                from,
            });
        }
        let from = from.ok_or_else(|| Error::Io {
            op: "ff_recvmsg",
            source: io::Error::new(
                io::ErrorKind::InvalidData,
                "the datagram's sender has an unknown address family",
            ),
        })?;
        Ok((got.len, from))
    }

    /// Receives one datagram into `buf` (`ff_recvmsg`, without the sender); returns its
    /// length. Errors as for [`recv_from`](Self::recv_from).
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        let got = ffi::recvmsg(self.fd.fd, buf, false)?;
        if got.truncated {
            return Err(Error::Truncated {
                op: "ff_recvmsg",
                capacity: buf.len(),
                from: None,
            });
        }
        Ok(got.len)
    }

    /// The bound address (`ff_getsockname`).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.fd.addr(End::Local)
    }

    /// The connected peer (`ff_getpeername`); fails with `ENOTCONN` when not connected.
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        self.fd.addr(End::Peer)
    }

    /// Whether `SO_REUSEADDR` is set (see [`UdpBindOptions::reuse_address`]).
    pub fn reuse_address(&self) -> Result<bool> {
        let v = ffi::getsockopt_int(
            self.fd.fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            "ff_getsockopt(SO_REUSEADDR)",
        )?;
        // FreeBSD reports the option's bit, Linux 1.
        Ok(v != 0)
    }

    /// Whether `SO_REUSEPORT` is set (see [`UdpBindOptions::reuse_port`]).
    pub fn reuse_port(&self) -> Result<bool> {
        let v = ffi::getsockopt_int(
            self.fd.fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            "ff_getsockopt(SO_REUSEPORT)",
        )?;
        Ok(v != 0)
    }

    /// Whether an IPv6 socket receives only IPv6 datagrams (`IPV6_V6ONLY`; see
    /// [`UdpBindOptions::only_v6`] for the stacks' different defaults). `false` on an IPv4
    /// socket, without asking the stack.
    pub fn only_v6(&self) -> Result<bool> {
        ffi::ensure("ff_getsockopt(IPV6_V6ONLY)", Need::Thread)?;
        if !self.v6 {
            return Ok(false);
        }
        let v = ffi::getsockopt_int(
            self.fd.fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            "ff_getsockopt(IPV6_V6ONLY)",
        )?;
        Ok(v != 0)
    }

    /// Allows (`true`) sending to broadcast addresses (`SO_BROADCAST`); off by default.
    pub fn set_broadcast(&self, on: bool) -> Result<()> {
        ffi::setsockopt(
            self.fd.fd,
            libc::SOL_SOCKET,
            libc::SO_BROADCAST,
            c_int::from(on),
            "ff_setsockopt(SO_BROADCAST)",
        )
    }

    /// Whether `SO_BROADCAST` is set.
    pub fn broadcast(&self) -> Result<bool> {
        let v = ffi::getsockopt_int(
            self.fd.fd,
            libc::SOL_SOCKET,
            libc::SO_BROADCAST,
            "ff_getsockopt(SO_BROADCAST)",
        )?;
        Ok(v != 0)
    }

    /// Sets the hop limit of unicast datagrams, 0-255: `IP_TTL` on an IPv4 socket,
    /// `IPV6_UNICAST_HOPS` on an IPv6 one. [`Error::InvalidArgument`] above 255.
    pub fn set_ttl(&self, ttl: u32) -> Result<()> {
        let op = if self.v6 {
            IPV6_UNICAST_HOPS.set_op
        } else {
            "ff_setsockopt(IP_TTL)"
        };
        ffi::ensure(op, Need::Thread)?;
        let ttl = hops("set_ttl", ttl)?;
        if self.v6 {
            self.set_v6(IPV6_UNICAST_HOPS, ttl)
        } else {
            ffi::setsockopt(self.fd.fd, libc::IPPROTO_IP, libc::IP_TTL, ttl, op)
        }
    }

    /// The unicast hop limit (`IP_TTL` or `IPV6_UNICAST_HOPS`, see [`set_ttl`](Self::set_ttl)).
    ///
    /// An IPv6 socket whose hop limit was never set reports -1 on real F-Stack ("the stack's
    /// default", FreeBSD's `net.inet6.ip6.hlim`), where Linux reports the default itself: this
    /// returns [`DEFAULT_HOP_LIMIT_V6`] then.
    pub fn ttl(&self) -> Result<u32> {
        let v = if self.v6 {
            let v = self.get_v6(IPV6_UNICAST_HOPS)?;
            if v < 0 {
                return Ok(DEFAULT_HOP_LIMIT_V6);
            }
            v
        } else {
            ffi::getsockopt_int(
                self.fd.fd,
                libc::IPPROTO_IP,
                libc::IP_TTL,
                "ff_getsockopt(IP_TTL)",
            )?
        };
        Ok(v as u32)
    }

    /// Joins the IPv4 multicast group `multiaddr` on the stack's interface that has the
    /// address `interface` (`IP_ADD_MEMBERSHIP` with a `struct ip_mreq`, RFC 1112);
    /// `0.0.0.0` lets the stack pick the interface by its route to the group. Datagrams to
    /// the group and this socket's port are then received.
    ///
    /// On a DPDK port the NIC must also pass the group's frames: F-Stack does not program
    /// the NIC's multicast filter when a group is joined, so the port needs `promiscuous=1`
    /// in `f-stack.conf` (F-Stack's default) or all-multicast (see the README).
    ///
    /// Errors: [`Error::InvalidArgument`] when `multiaddr` is not a multicast address
    /// (224.0.0.0/4, RFC 5771), when `interface` is a multicast or the broadcast address, or
    /// on an IPv6 socket; [`Error::Multicast`] when the stack refuses (e.g. `interface` is
    /// not one of its addresses, or the group is already joined there).
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> Result<()> {
        self.membership_v4("join_multicast_v4", multiaddr, interface, true)
    }

    /// Leaves a group joined with [`join_multicast_v4`](Self::join_multicast_v4)
    /// (`IP_DROP_MEMBERSHIP`, same arguments). Errors as for joining; [`Error::Multicast`]
    /// ("cannot assign requested address") when the group was not joined on that interface.
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> Result<()> {
        self.membership_v4("leave_multicast_v4", multiaddr, interface, false)
    }

    /// Whether this socket's multicast datagrams are looped back to the sending host's own
    /// members of the group (`IP_MULTICAST_LOOP`; on by default). IPv4 sockets only.
    pub fn set_multicast_loop_v4(&self, on: bool) -> Result<()> {
        self.v4_only("set_multicast_loop_v4", "ff_setsockopt(IP_MULTICAST_LOOP)")?;
        ffi::setsockopt(
            self.fd.fd,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_LOOP,
            c_int::from(on),
            "ff_setsockopt(IP_MULTICAST_LOOP)",
        )
    }

    /// Whether `IP_MULTICAST_LOOP` is on.
    pub fn multicast_loop_v4(&self) -> Result<bool> {
        self.v4_only("multicast_loop_v4", "ff_getsockopt(IP_MULTICAST_LOOP)")?;
        Ok(ffi::getsockopt_int(
            self.fd.fd,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_LOOP,
            "ff_getsockopt(IP_MULTICAST_LOOP)",
        )? != 0)
    }

    /// The TTL of this socket's multicast datagrams, 0-255 (`IP_MULTICAST_TTL`; default 1:
    /// they do not leave the local network). [`Error::InvalidArgument`] above 255 or on an
    /// IPv6 socket.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> Result<()> {
        self.v4_only("set_multicast_ttl_v4", "ff_setsockopt(IP_MULTICAST_TTL)")?;
        let ttl = hops("set_multicast_ttl_v4", ttl)?;
        ffi::setsockopt(
            self.fd.fd,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_TTL,
            ttl,
            "ff_setsockopt(IP_MULTICAST_TTL)",
        )
    }

    /// The `IP_MULTICAST_TTL`.
    pub fn multicast_ttl_v4(&self) -> Result<u32> {
        self.v4_only("multicast_ttl_v4", "ff_getsockopt(IP_MULTICAST_TTL)")?;
        Ok(ffi::getsockopt_int(
            self.fd.fd,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_TTL,
            "ff_getsockopt(IP_MULTICAST_TTL)",
        )? as u32)
    }

    /// The interface this socket's IPv4 multicast datagrams leave from, by its address
    /// (`IP_MULTICAST_IF` with a `struct in_addr`); `0.0.0.0` (the default) lets the route to
    /// the group decide. [`Error::InvalidArgument`] for a multicast address or on an IPv6
    /// socket; the stack refuses an address that is not one of its own.
    pub fn set_multicast_if_v4(&self, interface: &Ipv4Addr) -> Result<()> {
        self.v4_only("set_multicast_if_v4", "ff_setsockopt(IP_MULTICAST_IF)")?;
        unicast_interface("set_multicast_if_v4", interface)?;
        ffi::setsockopt(
            self.fd.fd,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            in_addr(interface),
            "ff_setsockopt(IP_MULTICAST_IF)",
        )
    }

    /// The `IP_MULTICAST_IF` address.
    pub fn multicast_if_v4(&self) -> Result<Ipv4Addr> {
        self.v4_only("multicast_if_v4", "ff_getsockopt(IP_MULTICAST_IF)")?;
        let a = ffi::getsockopt(
            self.fd.fd,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            in_addr(&Ipv4Addr::UNSPECIFIED),
            "ff_getsockopt(IP_MULTICAST_IF)",
        )?;
        Ok(Ipv4Addr::from(a.s_addr.to_ne_bytes()))
    }

    /// Joins the IPv6 multicast group `multiaddr` on the interface with index `interface`
    /// (`IPV6_JOIN_GROUP` with a `struct ipv6_mreq`, RFC 3493 section 5.2); 0 lets the stack
    /// choose. The stack's IPv6 support must be built in and configured (on F-Stack:
    /// `INET6` and an IPv6 address on the port).
    ///
    /// Errors: [`Error::InvalidArgument`] when `multiaddr` is not a multicast address
    /// (ff00::/8, RFC 4291 section 2.7) or on an IPv4 socket; [`Error::Multicast`] when the
    /// stack refuses (no such interface, no route to the group, already joined).
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> Result<()> {
        self.membership_v6("join_multicast_v6", multiaddr, interface, IPV6_JOIN_GROUP)
    }

    /// Leaves a group joined with [`join_multicast_v6`](Self::join_multicast_v6)
    /// (`IPV6_LEAVE_GROUP`, same arguments and errors).
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> Result<()> {
        self.membership_v6("leave_multicast_v6", multiaddr, interface, IPV6_LEAVE_GROUP)
    }

    /// Whether this socket's IPv6 multicast datagrams are looped back to the sending host's
    /// own members (`IPV6_MULTICAST_LOOP`; on by default). IPv6 sockets only.
    pub fn set_multicast_loop_v6(&self, on: bool) -> Result<()> {
        self.v6_only("set_multicast_loop_v6", IPV6_MULTICAST_LOOP.set_op)?;
        self.set_v6(IPV6_MULTICAST_LOOP, c_int::from(on))
    }

    /// Whether `IPV6_MULTICAST_LOOP` is on.
    pub fn multicast_loop_v6(&self) -> Result<bool> {
        self.v6_only("multicast_loop_v6", IPV6_MULTICAST_LOOP.get_op)?;
        Ok(self.get_v6(IPV6_MULTICAST_LOOP)? != 0)
    }

    /// The hop limit of this socket's IPv6 multicast datagrams, 0-255
    /// (`IPV6_MULTICAST_HOPS`; default 1). [`Error::InvalidArgument`] above 255 or on an IPv4
    /// socket.
    pub fn set_multicast_hops_v6(&self, hops_: u32) -> Result<()> {
        self.v6_only("set_multicast_hops_v6", IPV6_MULTICAST_HOPS.set_op)?;
        let hops_ = hops("set_multicast_hops_v6", hops_)?;
        self.set_v6(IPV6_MULTICAST_HOPS, hops_)
    }

    /// The `IPV6_MULTICAST_HOPS`.
    pub fn multicast_hops_v6(&self) -> Result<u32> {
        self.v6_only("multicast_hops_v6", IPV6_MULTICAST_HOPS.get_op)?;
        Ok(self.get_v6(IPV6_MULTICAST_HOPS)? as u32)
    }

    /// The interface (by index) this socket's IPv6 multicast datagrams leave from
    /// (`IPV6_MULTICAST_IF`); 0 lets the route decide. IPv6 sockets only.
    pub fn set_multicast_if_v6(&self, interface: u32) -> Result<()> {
        self.v6_only("set_multicast_if_v6", IPV6_MULTICAST_IF.set_op)?;
        self.set_v6(IPV6_MULTICAST_IF, interface)
    }

    /// The `IPV6_MULTICAST_IF` index.
    pub fn multicast_if_v6(&self) -> Result<u32> {
        self.v6_only("multicast_if_v6", IPV6_MULTICAST_IF.get_op)?;
        Ok(self.get_v6(IPV6_MULTICAST_IF)? as u32)
    }

    /// Sets the send buffer size in bytes (`SO_SNDBUF`).
    pub fn set_send_buffer_size(&self, bytes: usize) -> Result<()> {
        const OP: &str = "ff_setsockopt(SO_SNDBUF)";
        ffi::ensure(OP, Need::Thread)?;
        let v = c_int::try_from(bytes).map_err(|_| Error::InvalidArgument("buffer size".into()))?;
        ffi::setsockopt(self.fd.fd, libc::SOL_SOCKET, libc::SO_SNDBUF, v, OP)
    }

    /// Sets the receive buffer size in bytes (`SO_RCVBUF`): how much the stack queues for
    /// this socket before it drops arriving datagrams. Linux doubles the value for its
    /// bookkeeping and counts each datagram's overhead against it; FreeBSD counts payload
    /// bytes.
    pub fn set_recv_buffer_size(&self, bytes: usize) -> Result<()> {
        const OP: &str = "ff_setsockopt(SO_RCVBUF)";
        ffi::ensure(OP, Need::Thread)?;
        let v = c_int::try_from(bytes).map_err(|_| Error::InvalidArgument("buffer size".into()))?;
        ffi::setsockopt(self.fd.fd, libc::SOL_SOCKET, libc::SO_RCVBUF, v, OP)
    }

    /// Takes the pending socket error (`SO_ERROR`), e.g. a refusal reported by ICMP.
    pub fn take_error(&self) -> Result<Option<io::Error>> {
        self.fd.take_error()
    }

    // --- helpers ---------------------------------------------------------------------------

    fn same_family(&self, what: &str, addr: &SocketAddr) -> Result<()> {
        if addr.is_ipv6() == self.v6 {
            return Ok(());
        }
        Err(Error::InvalidArgument(format!(
            "{what} {addr}: this socket is {}, the address is not",
            if self.v6 { "IPv6" } else { "IPv4" }
        )))
    }

    /// The guard for `op`, then: refused on an IPv6 socket.
    fn v4_only(&self, what: &str, op: &'static str) -> Result<()> {
        ffi::ensure(op, Need::Thread)?;
        if self.v6 {
            return Err(Error::InvalidArgument(format!(
                "{what} on an IPv6 socket (use the _v6 method)"
            )));
        }
        Ok(())
    }

    /// The guard for `op`, then: refused on an IPv4 socket.
    fn v6_only(&self, what: &str, op: &'static str) -> Result<()> {
        ffi::ensure(op, Need::Thread)?;
        if !self.v6 {
            return Err(Error::InvalidArgument(format!(
                "{what} on an IPv4 socket (use the _v4 method)"
            )));
        }
        Ok(())
    }

    fn set_v6<T: Copy>(&self, opt: Ipv6Opt, value: T) -> Result<()> {
        ffi::setsockopt(
            self.fd.fd,
            libc::IPPROTO_IPV6,
            opt.name(),
            value,
            opt.set_op,
        )
    }

    fn get_v6(&self, opt: Ipv6Opt) -> Result<c_int> {
        ffi::getsockopt_int(self.fd.fd, libc::IPPROTO_IPV6, opt.name(), opt.get_op)
    }

    fn membership_v4(
        &self,
        what: &str,
        group: &Ipv4Addr,
        interface: &Ipv4Addr,
        join: bool,
    ) -> Result<()> {
        let (name, op) = if join {
            (libc::IP_ADD_MEMBERSHIP, "ff_setsockopt(IP_ADD_MEMBERSHIP)")
        } else {
            (
                libc::IP_DROP_MEMBERSHIP,
                "ff_setsockopt(IP_DROP_MEMBERSHIP)",
            )
        };
        self.v4_only(what, op)?;
        if !group.is_multicast() {
            return Err(Error::InvalidArgument(format!(
                "{what}: {group} is not an IPv4 multicast group address (224.0.0.0/4, RFC 5771)"
            )));
        }
        unicast_interface(what, interface)?;
        let mreq = libc::ip_mreq {
            imr_multiaddr: in_addr(group),
            imr_interface: in_addr(interface),
        };
        ffi::setsockopt(self.fd.fd, libc::IPPROTO_IP, name, mreq, op).map_err(|e| match e {
            Error::Io { source, .. } => Error::Multicast {
                op,
                group: (*group).into(),
                interface: interface.to_string(),
                source,
            },
            other => other,
        })
    }

    fn membership_v6(
        &self,
        what: &str,
        group: &Ipv6Addr,
        interface: u32,
        opt: Ipv6Opt,
    ) -> Result<()> {
        self.v6_only(what, opt.set_op)?;
        if !group.is_multicast() {
            return Err(Error::InvalidArgument(format!(
                "{what}: {group} is not an IPv6 multicast group address (ff00::/8, RFC 4291 \
                 section 2.7)"
            )));
        }
        let mreq = libc::ipv6_mreq {
            ipv6mr_multiaddr: libc::in6_addr {
                s6_addr: group.octets(),
            },
            ipv6mr_interface: interface,
        };
        self.set_v6(opt, mreq).map_err(|e| match e {
            Error::Io { source, .. } => Error::Multicast {
                op: opt.set_op,
                group: (*group).into(),
                interface: format!("index {interface}"),
                source,
            },
            other => other,
        })
    }
}

impl Source for FStackUdpSocket {
    fn raw_fd(&self) -> c_int {
        self.fd.fd
    }
}

/// `ttl` as the int the stack takes, or an error above 255 (an 8-bit field on the wire).
fn hops(what: &str, ttl: u32) -> Result<c_int> {
    if ttl > 255 {
        return Err(Error::InvalidArgument(format!(
            "{what}: {ttl} is not a hop limit (0-255)"
        )));
    }
    Ok(ttl as c_int)
}

/// An interface given by address must be a unicast address of the stack, or unspecified.
fn unicast_interface(what: &str, interface: &Ipv4Addr) -> Result<()> {
    if interface.is_multicast() || interface.is_broadcast() {
        return Err(Error::InvalidArgument(format!(
            "{what}: the interface {interface} must be one of the stack's unicast addresses \
             (or 0.0.0.0 to let the stack choose)"
        )));
    }
    Ok(())
}

fn in_addr(a: &Ipv4Addr) -> libc::in_addr {
    libc::in_addr {
        s_addr: u32::from_ne_bytes(a.octets()),
    }
}
