//! The one funnel to F-Stack: every `fstack_sys::ff_*` call of this crate is made here, and
//! nowhere else (`grep -rn 'fstack_sys::ff_' fstack/src` lists only this file).
//!
//! Each function checks the process's F-Stack state before anything reaches F-Stack, like mio's
//! `syscall!` wraps every system call:
//!
//! - [`Error::NotRunning`] once [`Stack::run`](crate::Stack::run) has returned, on both
//!   backends: real F-Stack's `ff_run` ends with `rte_eal_cleanup`, after which no `ff_*` call
//!   of any kind may follow, and the kernel backend refuses them as well so that a program
//!   behaves the same on both;
//! - [`Error::NotInitialized`] on a thread that did not initialise F-Stack (its state is
//!   per-thread);
//! - [`Error::NotRunning`] for calls that need the running loop (`ff_connect`) outside it.
//!
//! Descriptors are released through [`close`], which abandons them instead once real F-Stack is
//! torn down. [`init`] and the end of [`run`] keep F-Stack's own `printf` output off stdout.

use std::cell::Cell;
use std::ffi::{c_int, c_void, CString};
use std::io::{self, IoSlice, IoSliceMut, Write};
use std::mem;
use std::sync::atomic::{AtomicU8, Ordering};

use fstack_sys::epoll_event;

use crate::addr::RawAddr;
use crate::error::{Error, Result};

/// No `ff_init` yet (or it failed).
const UNINITIALIZED: u8 = 0;
/// `ff_init` is running.
const INITIALIZING: u8 = 1;
/// `ff_init` succeeded; the loop has not started.
const READY: u8 = 2;
/// Inside `ff_run`.
const RUNNING: u8 = 3;
/// `ff_run` returned: on real F-Stack, DPDK is gone. Final.
const FINISHED: u8 = 4;

/// Where the process is in F-Stack's life: one of the constants above.
static PHASE: AtomicU8 = AtomicU8::new(UNINITIALIZED);

thread_local! {
    /// True on the thread that initialised F-Stack: the only one allowed to make `ff_*` calls.
    static STACK_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// What a call needs besides a live F-Stack on the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Initialised on this thread, before or inside the loop.
    Thread,
    /// Inside the running loop (F-Stack refuses connects before `ff_run`).
    Loop,
}

/// The guard in front of every call: fails unless `op` may reach F-Stack now.
#[inline]
pub(crate) fn ensure(op: &'static str, need: Need) -> Result<()> {
    let phase = PHASE.load(Ordering::Acquire);
    if phase == FINISHED {
        return Err(Error::NotRunning { op });
    }
    if !STACK_THREAD.with(Cell::get) {
        return Err(Error::NotInitialized { op });
    }
    if need == Need::Loop && phase != RUNNING {
        return Err(Error::NotRunning { op });
    }
    Ok(())
}

/// [`ensure`] for `Read`/`Write`: a refusal is an [`io::Error`] of kind
/// [`NotConnected`](io::ErrorKind::NotConnected) carrying the [`Error`].
#[inline]
pub(crate) fn ensure_io(op: &'static str) -> io::Result<()> {
    ensure(op, Need::Thread).map_err(|e| io::Error::new(io::ErrorKind::NotConnected, e))
}

fn check(rc: c_int, op: &'static str) -> Result<c_int> {
    if rc < 0 {
        Err(Error::last_os(op))
    } else {
        Ok(rc)
    }
}

fn check_io(n: isize) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

// --- Process lifecycle -------------------------------------------------------------------------

/// `ff_init` with `args` (the first one plays `argv[0]`), once per process; this thread becomes
/// the F-Stack thread. F-Stack prints its config to stdout: it is sent to stderr instead.
pub(crate) fn init(args: &[CString]) -> Result<()> {
    if PHASE
        .compare_exchange(
            UNINITIALIZED,
            INITIALIZING,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        return Err(Error::AlreadyInitialized);
    }
    let mut argv: Vec<*mut libc::c_char> = args
        .iter()
        .map(|a| a.as_ptr() as *mut libc::c_char)
        .collect();
    argv.push(std::ptr::null_mut());
    let (rc, errno) = with_stdout_on_stderr(Buffered::Program, || {
        // SAFETY: argv holds args.len() valid NUL-terminated strings (kept alive by `args`
        // for the call) followed by a null pointer, as `main`'s argv would; ff_init runs once
        // per process, guarded by PHASE.
        let rc = unsafe { fstack_sys::ff_init(args.len() as c_int, argv.as_ptr()) };
        (rc, io::Error::last_os_error())
    });
    if rc != 0 {
        PHASE.store(UNINITIALIZED, Ordering::Release);
        return Err(Error::Init { source: errno });
    }
    STACK_THREAD.with(|t| t.set(true));
    PHASE.store(READY, Ordering::Release);
    Ok(())
}

/// `ff_run`: calls `iteration` once per loop iteration until [`stop`]. Afterwards every call
/// fails with [`Error::NotRunning`]; what C code printed to stdout meanwhile (F-Stack's and
/// DPDK's messages, buffered by C's stdio) is flushed to stderr.
///
/// `iteration` must not unwind: a panic escaping it aborts the process (it would cross
/// F-Stack's C frames). Panics if F-Stack is not initialised and idle on this thread, which
/// [`Stack`](crate::Stack) rules out (it is created once, by `init`, and consumed by `run`).
pub(crate) fn run<F: FnMut()>(iteration: &mut F) {
    extern "C" fn trampoline<F: FnMut()>(arg: *mut c_void) -> c_int {
        // SAFETY: `arg` is the `&mut F` that `run` passed to ff_run; it outlives the loop, and
        // ff_run calls back only on this thread and never reentrantly.
        let iteration = unsafe { &mut *(arg as *mut F) };
        iteration();
        0
    }

    assert!(
        STACK_THREAD.with(Cell::get)
            && PHASE
                .compare_exchange(READY, RUNNING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok(),
        "ff_run needs F-Stack initialised and idle on this thread"
    );
    // SAFETY: `trampoline::<F>` matches loop_func_t and casts `arg` back to the `F` it points
    // to, which lives on the caller's frame until ff_run returns.
    unsafe { fstack_sys::ff_run(Some(trampoline::<F>), iteration as *mut F as *mut c_void) };
    PHASE.store(FINISHED, Ordering::Release);
    // What C code printed while the loop ran is still in C's stdout buffer (unless stdout is
    // a terminal): F-Stack's runtime messages and DPDK's teardown. Send it to stderr now,
    // before the program's own output follows, rather than to stdout at exit.
    with_stdout_on_stderr(Buffered::FStack, || ());
}

/// `ff_stop_run`: asks the loop to stop after the current iteration. No guard: it only sets
/// a flag (on real F-Stack too), valid at any time and from a signal handler.
pub(crate) fn stop() {
    // SAFETY: ff_stop_run only stores to F-Stack's stop flag; it is async-signal-safe and
    // valid before, during and after the loop.
    unsafe { fstack_sys::ff_stop_run() }
}

/// True when a descriptor must be abandoned rather than closed: real F-Stack was torn down
/// (closing would touch freed DPDK memory), or this is not the F-Stack thread.
fn must_abandon() -> bool {
    let finished = PHASE.load(Ordering::Acquire) == FINISHED;
    (finished && crate::stack::backend() == crate::stack::Backend::FStack)
        || !STACK_THREAD.with(Cell::get)
}

/// Closes an owned descriptor, or abandons it when [`must_abandon`]. On the kernel backend
/// the kernel socket is still closed after the loop ended (no F-Stack state is involved, and it
/// ends the connection cleanly).
pub(crate) fn close(fd: c_int) {
    if must_abandon() {
        return;
    }
    // SAFETY: the caller owns `fd` and gives it up; F-Stack is alive on this thread (or it is
    // the kernel backend, whose ff_close is close(2)).
    unsafe { fstack_sys::ff_close(fd) };
}

// --- Sockets -----------------------------------------------------------------------------------

/// `ff_socket` for a socket of `domain` and `ty` (`SOCK_STREAM` or `SOCK_DGRAM`).
pub(crate) fn socket(domain: c_int, ty: c_int) -> Result<c_int> {
    ensure("ff_socket", Need::Thread)?;
    // SAFETY: plain FFI call with integer arguments on the F-Stack thread.
    let rc = unsafe { fstack_sys::ff_socket(domain, ty, 0) };
    check(rc, "ff_socket")
}

/// `ff_ioctl(FIONBIO)`: F-Stack has no blocking mode; every socket is switched right away.
pub(crate) fn set_nonblocking(fd: c_int) -> Result<()> {
    const OP: &str = "ff_ioctl(FIONBIO)";
    ensure(OP, Need::Thread)?;
    let mut on: c_int = 1;
    // SAFETY: FIONBIO reads one int through the pointer, which is valid for the call.
    let rc = unsafe { fstack_sys::ff_ioctl(fd, libc::FIONBIO as _, &mut on as *mut c_int) };
    check(rc, OP)?;
    Ok(())
}

/// `ff_setsockopt` with a plain value.
pub(crate) fn setsockopt<T: Copy>(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: T,
    op: &'static str,
) -> Result<()> {
    ensure(op, Need::Thread)?;
    // SAFETY: `value` is a live T and the length passed is its size.
    let rc = unsafe {
        fstack_sys::ff_setsockopt(
            fd,
            level,
            name,
            &value as *const T as *const c_void,
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    check(rc, op)?;
    Ok(())
}

/// `ff_getsockopt` of an int option.
pub(crate) fn getsockopt_int(
    fd: c_int,
    level: c_int,
    name: c_int,
    op: &'static str,
) -> Result<c_int> {
    getsockopt(fd, level, name, 0 as c_int, op)
}

/// `ff_getsockopt` of a plain value, starting from `value` (what is left where the stack
/// writes fewer bytes).
pub(crate) fn getsockopt<T: Copy>(
    fd: c_int,
    level: c_int,
    name: c_int,
    mut value: T,
    op: &'static str,
) -> Result<T> {
    ensure(op, Need::Thread)?;
    let mut len = mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: value/len point to a live T and its size; the stack writes at most len bytes.
    let rc = unsafe {
        fstack_sys::ff_getsockopt(
            fd,
            level,
            name,
            &mut value as *mut T as *mut c_void,
            &mut len,
        )
    };
    check(rc, op)?;
    Ok(value)
}

/// Which end of a socket [`name`] asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum End {
    /// `ff_getsockname`.
    Local,
    /// `ff_getpeername`.
    Peer,
}

impl End {
    pub(crate) fn op(self) -> &'static str {
        match self {
            End::Local => "ff_getsockname",
            End::Peer => "ff_getpeername",
        }
    }
}

/// `ff_getsockname` or `ff_getpeername`: the raw address and its length.
pub(crate) fn name(fd: c_int, end: End) -> Result<(RawAddr, libc::socklen_t)> {
    let op = end.op();
    ensure(op, Need::Thread)?;
    let mut raw = RawAddr::zeroed();
    let mut len = RawAddr::capacity();
    let rc = match end {
        // SAFETY: raw/len describe writable storage of `len` bytes.
        End::Local => unsafe { fstack_sys::ff_getsockname(fd, raw.as_mut_ptr(), &mut len) },
        // SAFETY: as above.
        End::Peer => unsafe { fstack_sys::ff_getpeername(fd, raw.as_mut_ptr(), &mut len) },
    };
    check(rc, op)?;
    Ok((raw, len))
}

/// `ff_connect` (inside the loop only). In progress is an [`Error::Io`] with `EINPROGRESS`.
pub(crate) fn connect(fd: c_int, raw: &RawAddr, len: libc::socklen_t) -> Result<()> {
    ensure("ff_connect", Need::Loop)?;
    // SAFETY: raw/len describe a valid socket address of that length.
    let rc = unsafe { fstack_sys::ff_connect(fd, raw.as_ptr(), len) };
    check(rc, "ff_connect")?;
    Ok(())
}

/// `ff_bind`.
pub(crate) fn bind(fd: c_int, raw: &RawAddr, len: libc::socklen_t) -> Result<()> {
    ensure("ff_bind", Need::Thread)?;
    // SAFETY: raw/len describe a valid socket address of that length.
    let rc = unsafe { fstack_sys::ff_bind(fd, raw.as_ptr(), len) };
    check(rc, "ff_bind")?;
    Ok(())
}

/// `ff_listen`.
pub(crate) fn listen(fd: c_int, backlog: c_int) -> Result<()> {
    ensure("ff_listen", Need::Thread)?;
    // SAFETY: plain FFI call with integer arguments on the F-Stack thread.
    check(unsafe { fstack_sys::ff_listen(fd, backlog) }, "ff_listen")?;
    Ok(())
}

/// `ff_accept`: the new descriptor (owned by the caller) and the peer's raw address.
pub(crate) fn accept(fd: c_int) -> Result<(c_int, RawAddr, libc::socklen_t)> {
    ensure("ff_accept", Need::Thread)?;
    let mut raw = RawAddr::zeroed();
    let mut len = RawAddr::capacity();
    // SAFETY: raw/len describe writable storage of `len` bytes.
    let new = check(
        unsafe { fstack_sys::ff_accept(fd, raw.as_mut_ptr(), &mut len) },
        "ff_accept",
    )?;
    Ok((new, raw, len))
}

/// `ff_shutdown`.
pub(crate) fn shutdown(fd: c_int, how: c_int) -> Result<()> {
    ensure("ff_shutdown", Need::Thread)?;
    // SAFETY: plain FFI call with integer arguments on the F-Stack thread.
    check(unsafe { fstack_sys::ff_shutdown(fd, how) }, "ff_shutdown")?;
    Ok(())
}

/// `ff_sendto` of one datagram to `to`, or `ff_send` on a connected socket when `to` is
/// `None`. Returns the bytes sent (a datagram goes whole or not at all).
pub(crate) fn send_to(
    fd: c_int,
    buf: &[u8],
    to: Option<(&RawAddr, libc::socklen_t)>,
) -> Result<usize> {
    let op = if to.is_some() { "ff_sendto" } else { "ff_send" };
    ensure(op, Need::Thread)?;
    let n = match to {
        // SAFETY: buf is valid for reads of buf.len() bytes; raw/len describe a valid socket
        // address of that length.
        Some((raw, len)) => unsafe {
            fstack_sys::ff_sendto(fd, buf.as_ptr().cast(), buf.len(), 0, raw.as_ptr(), len)
        },
        // SAFETY: buf is valid for reads of buf.len() bytes.
        None => unsafe { fstack_sys::ff_send(fd, buf.as_ptr().cast(), buf.len(), 0) },
    };
    if n < 0 {
        Err(Error::last_os(op))
    } else {
        Ok(n as usize)
    }
}

/// One datagram taken by [`recvmsg`].
pub(crate) struct Received {
    /// Bytes written to the buffer.
    pub(crate) len: usize,
    /// The sender's raw address and its length, when asked for.
    pub(crate) from: Option<(RawAddr, libc::socklen_t)>,
    /// The datagram was longer than the buffer: the rest of it is gone.
    pub(crate) truncated: bool,
}

/// `MSG_TRUNC` as `ff_recvmsg` reports it in `msg_flags`. Real F-Stack copies FreeBSD's
/// `msg_flags` back untranslated (F-Stack 1.25 `lib/ff_syscall_wrapper.c`,
/// `freebsd2linux_msghdr`), and FreeBSD's `MSG_TRUNC` is `0x10` (`sys/socket.h`; Linux's `0x20`
/// is FreeBSD's `MSG_CTRUNC`). The kernel backend hands back Linux's.
fn msg_trunc() -> c_int {
    match crate::stack::backend() {
        crate::stack::Backend::FStack => 0x10,
        crate::stack::Backend::Kernel => libc::MSG_TRUNC,
    }
}

/// `ff_recvmsg` of one datagram into `buf`, with the sender's address when `want_from`.
///
/// `ff_recvmsg` rather than `ff_recvfrom`: F-Stack's `ff_recvfrom` drops the flags that say a
/// datagram was cut to fit the buffer, so only `ff_recvmsg` can report truncation.
pub(crate) fn recvmsg(fd: c_int, buf: &mut [u8], want_from: bool) -> Result<Received> {
    const OP: &str = "ff_recvmsg";
    ensure(OP, Need::Thread)?;
    let mut from = RawAddr::zeroed();
    let mut iov = fstack_sys::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut msg = fstack_sys::msghdr {
        msg_iov: &mut iov,
        msg_iovlen: 1,
        ..Default::default()
    };
    if want_from {
        msg.msg_name = from.as_mut_ptr().cast();
        msg.msg_namelen = RawAddr::capacity();
    }
    // SAFETY: msg points to one iovec describing `buf` (valid for writes of its length), and,
    // when set, to `from`, writable storage of msg_namelen bytes; no control buffer. All of
    // them outlive the call.
    let n = unsafe { fstack_sys::ff_recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(Error::last_os(OP));
    }
    Ok(Received {
        len: n as usize,
        from: want_from.then_some((from, msg.msg_namelen)),
        truncated: msg.msg_flags & msg_trunc() != 0,
    })
}

/// `ff_read`; an empty buffer reads nothing without calling F-Stack (after the guard).
pub(crate) fn read(fd: c_int, buf: &mut [u8]) -> io::Result<usize> {
    ensure_io("ff_read")?;
    if buf.is_empty() {
        return Ok(0);
    }
    // SAFETY: buf is valid for writes of buf.len() bytes.
    check_io(unsafe { fstack_sys::ff_read(fd, buf.as_mut_ptr().cast(), buf.len()) } as isize)
}

/// `ff_write`; an empty buffer writes nothing without calling F-Stack (after the guard).
pub(crate) fn write(fd: c_int, buf: &[u8]) -> io::Result<usize> {
    ensure_io("ff_write")?;
    if buf.is_empty() {
        return Ok(0);
    }
    // With FF_ZC_SEND, ff_write and ff_writev take their buffer as an mbuf chain (their uio is
    // UIO_SYSSPACE, which m_uiotombuf then treats as a chain): a byte buffer there crashes the
    // stack (measured: SIGSEGV in m_tag_delete_chain). ff_send goes through sendit with
    // UIO_USERSPACE and still copies, so plain writes use it in such builds.
    #[cfg(fstack_zc_send)]
    // SAFETY: buf is valid for reads of buf.len() bytes.
    let n = unsafe { fstack_sys::ff_send(fd, buf.as_ptr().cast(), buf.len(), 0) };
    #[cfg(not(fstack_zc_send))]
    // SAFETY: buf is valid for reads of buf.len() bytes.
    let n = unsafe { fstack_sys::ff_write(fd, buf.as_ptr().cast(), buf.len()) };
    check_io(n as isize)
}

/// Buffers passed to one `ff_readv`/`ff_writev`; a vectored read or write may use fewer
/// buffers than it was given.
const IOV_MAX_COPY: usize = 64;

/// A copy of `bufs`' first [`IOV_MAX_COPY`] (pointer, length) pairs as `struct iovec`s.
///
/// F-Stack's `ff_readv` and `ff_writev` hand the caller's iovec array to FreeBSD's
/// `uiomove`, which consumes it while copying (advances `iov_base`, decreases `iov_len`)
/// despite the `const` in `ff_writev`'s signature (`ff_syscall_wrapper.c` casts it away).
/// Passing the caller's `IoSlice`s directly would change them behind a shared reference: the
/// caller (rustls, for one) would then see zero-length buffers. So the array is always a copy.
fn iovecs(
    bufs: impl Iterator<Item = (*mut libc::c_void, usize)>,
) -> ([libc::iovec; IOV_MAX_COPY], usize) {
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; IOV_MAX_COPY];
    let mut n = 0;
    for (slot, (base, len)) in iov.iter_mut().zip(bufs) {
        *slot = libc::iovec {
            iov_base: base,
            iov_len: len,
        };
        n += 1;
    }
    (iov, n)
}

/// `ff_readv` into at most [`IOV_MAX_COPY`] buffers.
pub(crate) fn readv(fd: c_int, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
    ensure_io("ff_readv")?;
    let (mut iov, n) = iovecs(bufs.iter_mut().map(|b| (b.as_mut_ptr().cast(), b.len())));
    // SAFETY: each of the first n iovecs describes a live buffer of `bufs`, valid for writes of
    // its length; F-Stack may rewrite the array itself, which is this function's copy.
    check_io(unsafe { fstack_sys::ff_readv(fd, iov.as_mut_ptr().cast(), n as c_int) } as isize)
}

/// `ff_writev` of at most [`IOV_MAX_COPY`] buffers.
pub(crate) fn writev(fd: c_int, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    ensure_io("ff_writev")?;
    // With FF_ZC_SEND, ff_writev takes mbuf chains (see `write`): send the first non-empty
    // buffer with ff_send instead (a vectored write may take fewer buffers than given).
    #[cfg(fstack_zc_send)]
    {
        match bufs.iter().find(|b| !b.is_empty()) {
            Some(b) => write(fd, b),
            None => Ok(0),
        }
    }
    #[cfg(not(fstack_zc_send))]
    {
        let (mut iov, n) = iovecs(bufs.iter().map(|b| (b.as_ptr().cast_mut().cast(), b.len())));
        // SAFETY: each of the first n iovecs describes a live buffer of `bufs`, valid for reads of
        // its length (F-Stack only reads through iov_base); F-Stack may rewrite the array itself,
        // which is this function's copy.
        check_io(unsafe { fstack_sys::ff_writev(fd, iov.as_mut_ptr().cast(), n as c_int) } as isize)
    }
}

// --- epoll -------------------------------------------------------------------------------------

/// `ff_epoll_create`.
pub(crate) fn epoll_create() -> Result<c_int> {
    ensure("ff_epoll_create", Need::Thread)?;
    // SAFETY: plain FFI call with an integer argument on the F-Stack thread.
    let rc = unsafe { fstack_sys::ff_epoll_create(1024) };
    check(rc, "ff_epoll_create")
}

/// `ff_epoll_ctl`; `op` names the operation in errors (`ff_epoll_ctl(ADD)`, ...).
pub(crate) fn epoll_ctl(
    epfd: c_int,
    ctl: c_int,
    fd: c_int,
    event: &mut epoll_event,
    op: &'static str,
) -> Result<()> {
    ensure(op, Need::Thread)?;
    // SAFETY: `event` is a valid epoll_event for the duration of the call.
    let rc = unsafe { fstack_sys::ff_epoll_ctl(epfd, ctl, fd, event) };
    check(rc, op)?;
    Ok(())
}

/// `ff_epoll_wait` into `events` (F-Stack ignores the timeout: it never blocks). Returns how
/// many entries were filled.
pub(crate) fn epoll_wait(epfd: c_int, events: &mut [epoll_event]) -> Result<usize> {
    ensure("ff_epoll_wait", Need::Thread)?;
    let max = c_int::try_from(events.len()).unwrap_or(c_int::MAX);
    // SAFETY: `events` has room for `max` entries.
    let n = check(
        unsafe { fstack_sys::ff_epoll_wait(epfd, events.as_mut_ptr(), max, 0) },
        "ff_epoll_wait",
    )?;
    Ok(n as usize)
}

/// Keeps the kernel backend's loop from waiting for readiness after this iteration: work is
/// queued that no event will announce. Nothing to do on real F-Stack, whose loop never waits.
pub(crate) fn stay_busy() {
    #[cfg(not(fstack_backend = "fstack"))]
    // SAFETY: sets a flag of the kernel backend's loop; no arguments, no other state touched.
    unsafe {
        fstack_sys::fstack_kernel_stay_busy()
    };
}

// --- kqueue, packet dispatcher, zero-copy send (real F-Stack only) ----------------------------

/// Why the F-Stack-only calls fail on the kernel backend.
#[cfg(not(fstack_backend = "fstack"))]
const KERNEL_ONLY: &str = "the kernel backend implements F-Stack's epoll API only; build \
     against real F-Stack (FSTACK_SYS_BACKEND=fstack)";

/// `ff_kqueue`.
pub(crate) fn kqueue() -> Result<c_int> {
    ensure("ff_kqueue", Need::Thread)?;
    #[cfg(fstack_backend = "fstack")]
    {
        // SAFETY: plain FFI call without arguments on the F-Stack thread.
        check(unsafe { fstack_sys::ff_kqueue() }, "ff_kqueue")
    }
    #[cfg(not(fstack_backend = "fstack"))]
    Err(Error::Unsupported {
        op: "ff_kqueue",
        reason: KERNEL_ONLY,
    })
}

// `RawKevent` is declared field for field like F-Stack's `struct kevent` (`ff_event.h`).
#[cfg(fstack_backend = "fstack")]
const _: () = {
    assert!(mem::size_of::<crate::kqueue::RawKevent>() == mem::size_of::<fstack_sys::kevent>());
    assert!(mem::align_of::<crate::kqueue::RawKevent>() == mem::align_of::<fstack_sys::kevent>());
};

/// `ff_kevent`: applies `changes`, then collects up to `events.len()` ready events without
/// blocking (a zero timeout: F-Stack's loop must never wait inside a call). Returns how many
/// entries of `events` were filled.
pub(crate) fn kevent(
    kq: c_int,
    changes: &[crate::kqueue::RawKevent],
    events: &mut [crate::kqueue::RawKevent],
) -> Result<usize> {
    ensure("ff_kevent", Need::Thread)?;
    let nchanges = c_int::try_from(changes.len())
        .map_err(|_| Error::InvalidArgument(format!("{} kevent changes", changes.len())))?;
    let nevents = c_int::try_from(events.len()).unwrap_or(c_int::MAX);
    #[cfg(fstack_backend = "fstack")]
    {
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: RawKevent has struct kevent's layout (asserted above); `changes` is valid
        // for reads of nchanges entries and `events` for writes of nevents; the timespec
        // lives for the call. F-Stack's struct timespec is the C library's.
        let n = unsafe {
            fstack_sys::ff_kevent(
                kq,
                changes.as_ptr().cast(),
                nchanges,
                events.as_mut_ptr().cast(),
                nevents,
                (&zero as *const libc::timespec).cast(),
            )
        };
        Ok(check(n, "ff_kevent")? as usize)
    }
    #[cfg(not(fstack_backend = "fstack"))]
    {
        let _ = (kq, nchanges, nevents);
        Err(Error::Unsupported {
            op: "ff_kevent",
            reason: KERNEL_ONLY,
        })
    }
}

/// The callback type of `ff_regist_packet_dispatcher` (`dispatch_func_t` in `ff_api.h`).
pub(crate) type DispatchFn =
    unsafe extern "C" fn(data: *mut c_void, len: *mut u16, queue_id: u16, nb_queues: u16) -> c_int;

/// `ff_regist_packet_dispatcher(func)`: F-Stack calls `func` for every packet its port
/// receives, on this thread, before the stack sees it.
pub(crate) fn regist_packet_dispatcher(func: DispatchFn) -> Result<()> {
    ensure("ff_regist_packet_dispatcher", Need::Thread)?;
    #[cfg(fstack_backend = "fstack")]
    {
        // SAFETY: `func` matches dispatch_func_t, never unwinds (the dispatch module catches
        // panics) and stays valid forever (a plain fn).
        unsafe { fstack_sys::ff_regist_packet_dispatcher(Some(func)) };
        Ok(())
    }
    #[cfg(not(fstack_backend = "fstack"))]
    {
        let _ = func;
        Err(Error::Unsupported {
            op: "ff_regist_packet_dispatcher",
            reason: KERNEL_ONLY,
        })
    }
}

/// Zero-copy write of `buf` to a TCP or UDP socket: `ff_zc_mbuf_get` allocates an mbuf chain
/// of `buf.len()` bytes inside the stack, `ff_zc_mbuf_write` fills it, and `ff_write` hands the
/// chain itself to the socket (F-Stack's `example/main_zc.c`). Only with `FF_ZC_SEND=1`.
pub(crate) fn write_zc(fd: c_int, buf: &[u8]) -> Result<usize> {
    ensure("ff_zc_mbuf_get", Need::Thread)?;
    let len = c_int::try_from(buf.len())
        .map_err(|_| Error::InvalidArgument(format!("{}-byte zero-copy write", buf.len())))?;
    #[cfg(fstack_zc_send)]
    {
        let mut zm = fstack_sys::ff_zc_mbuf::default();
        // SAFETY: `zm` is a live ff_zc_mbuf that ff_zc_mbuf_get fills in.
        let rc = unsafe { fstack_sys::ff_zc_mbuf_get(&mut zm, len) };
        check(rc, "ff_zc_mbuf_get")?;
        // SAFETY: `zm` was prepared by ff_zc_mbuf_get for `len` bytes; `buf` is valid for
        // reads of `len` bytes.
        let rc = unsafe { fstack_sys::ff_zc_mbuf_write(&mut zm, buf.as_ptr().cast(), len) };
        if rc < 0 {
            let e = Error::last_os("ff_zc_mbuf_write");
            // SAFETY: the chain from ff_zc_mbuf_get was not handed to anyone: freed once here.
            unsafe { fstack_sys::ff_mbuf_free(zm.bsd_mbuf) };
            return Err(e);
        }
        // SAFETY: with FF_ZC_SEND, ff_write takes the mbuf chain prepared above as its
        // buffer (m_uiotombuf, `#ifdef FSTACK_ZC_SEND`), `len` bytes long.
        let n = unsafe { fstack_sys::ff_write(fd, zm.bsd_mbuf, buf.len()) };
        if n < 0 {
            // Not freed here: sosend_generic (freebsd/kern/uipc_socket.c) fails both before
            // m_uiotombuf takes the chain (EAGAIN) and after pru_send took it (tcp_usr_send
            // frees it itself on a dropped connection, or has queued it in so_snd when
            // tcp_output then fails), and the error does not say which. Freeing a chain the
            // stack owns would be a double free; leaving one the stack did not take leaks an
            // mbuf chain on a failed write, the lesser harm.
            return Err(Error::last_os("ff_write(zero-copy)"));
        }
        // With FF_ZC_SEND, m_uiotombuf takes the whole chain whatever the free space, so a
        // successful write took all of it.
        Ok(n as usize)
    }
    #[cfg(not(fstack_zc_send))]
    {
        let _ = (fd, len);
        Err(Error::Unsupported {
            op: "zero-copy write (ff_zc_mbuf_get + ff_write)",
            reason: ZC_REASON,
        })
    }
}

/// Why zero-copy send is unavailable in this build.
#[cfg(all(not(fstack_zc_send), fstack_backend = "fstack"))]
const ZC_REASON: &str = "the linked F-Stack was not built with FF_ZC_SEND=1 (uncomment it in \
     F-Stack's lib/Makefile and rebuild libfstack.a, or set FSTACK_ZC_SEND=1 when building \
     this crate if it already was)";
/// Why zero-copy send is unavailable in this build.
#[cfg(all(not(fstack_zc_send), not(fstack_backend = "fstack")))]
const ZC_REASON: &str = "the kernel backend has no mbufs; build against real F-Stack built \
     with FF_ZC_SEND=1";

// --- stdout ------------------------------------------------------------------------------------

extern "C" {
    /// C's standard output stream: a variable in glibc and musl (`extern FILE *stdout`).
    #[link_name = "stdout"]
    static mut C_STDOUT: *mut libc::FILE;
}

/// Writes out what C's stdio buffers for stdout, to whatever descriptor 1 is now.
fn flush_c_stdout() {
    // SAFETY: C's runtime initialised `stdout` before main; it is read by value, and fflush
    // locks the stream itself. Only stdout is flushed: fflush(NULL) would lock every stream
    // and could wait forever on one another thread is blocked reading.
    unsafe { libc::fflush(C_STDOUT) };
}

/// What C's stdout buffer holds when [`with_stdout_on_stderr`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Buffered {
    /// The program's own output (before `ff_init`): flushed to stdout first.
    Program,
    /// Printed while F-Stack ran (after `ff_run`): flushed to stderr with the rest.
    FStack,
}

/// Runs `f` with descriptor 1 pointing at stderr, so that what C code prints to stdout
/// meanwhile (F-Stack's `printf` of its config and interfaces) lands on stderr, and flushes
/// C's stdout buffer before descriptor 1 is restored, so that none of it surfaces on stdout
/// later (at exit, after the program's own output).
///
/// Before redirecting, the program's pending Rust output is flushed to the real stdout (and
/// C's too, per `buffered`), and Rust's stdout stays locked throughout, so that other threads'
/// `print!` waits instead of landing on stderr. Without usable descriptors 1 and 2, `f` just
/// runs.
fn with_stdout_on_stderr<T>(buffered: Buffered, f: impl FnOnce() -> T) -> T {
    let mut rust_stdout = io::stdout().lock();
    let _ = rust_stdout.flush();
    if buffered == Buffered::Program {
        flush_c_stdout();
    }
    // SAFETY: duplicates descriptor 1 (close-on-exec) into a new descriptor owned here.
    let saved = unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3) };
    if saved < 0 {
        return f();
    }
    // SAFETY: makes descriptor 1 a copy of 2; the original is restored from `saved` below.
    if unsafe { libc::dup2(2, 1) } < 0 {
        // SAFETY: `saved` is owned here and not used again.
        unsafe { libc::close(saved) };
        return f();
    }
    let out = f();
    flush_c_stdout(); // to descriptor 1, which is stderr now
                      // SAFETY: puts the original stdout back on descriptor 1 and closes the copy owned here.
    unsafe {
        libc::dup2(saved, 1);
        libc::close(saved);
    }
    drop(rust_stdout);
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The funnel is structural: no other source file of the safe crates calls or imports an
    /// `ff_*` function of fstack-sys.
    #[test]
    fn no_ff_call_outside_this_module() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dirs = [
            "fstack/src",
            "fstack-tls/src",
            "fstack-binance/src",
            "fstack-bench/src",
            "fstack-bench/benches",
            "src",
            "examples",
        ];
        let mut offenders = Vec::new();
        let mut scanned = 0;
        let mut stack: Vec<_> = dirs.iter().map(|d| root.join(d)).collect();
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap() {
                    stack.push(entry.unwrap().path());
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("fstack/src/ffi.rs") {
                continue;
            }
            scanned += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                let line = line.trim_start();
                let imports = line.starts_with("use fstack_sys")
                    && (line.contains("ff_") || line.contains('*'));
                if line.contains("fstack_sys::ff_") || imports {
                    offenders.push(format!("{}:{}: {line}", path.display(), n + 1));
                }
            }
        }
        assert!(scanned > 10, "scanned only {scanned} files");
        assert!(
            offenders.is_empty(),
            "ff_* outside fstack/src/ffi.rs:\n{}",
            offenders.join("\n")
        );
    }
}
