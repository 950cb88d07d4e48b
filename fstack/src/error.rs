//! The error type of the safe API.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Everything that can go wrong in this crate.
///
/// OS errors keep the failing operation and the underlying [`io::Error`]; use [`Error::kind`]
/// to branch on them (for example [`io::ErrorKind::WouldBlock`] or
/// [`io::ErrorKind::ConnectionRefused`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An `ff_*` call failed.
    #[error("{op} failed: {source}")]
    Io {
        /// The F-Stack call that failed, e.g. `ff_bind`.
        op: &'static str,
        /// The OS error it reported.
        #[source]
        source: io::Error,
    },
    /// A TCP connection could not be established, or a UDP socket could not be connected to
    /// its peer.
    #[error("connecting to {addr} failed: {source}")]
    Connect {
        /// The address that was dialled.
        addr: SocketAddr,
        /// Why, e.g. connection refused.
        #[source]
        source: io::Error,
    },
    /// A datagram was longer than the buffer it was received into: the buffer holds its
    /// first `capacity` bytes and the rest was discarded by the stack (UDP keeps no remainder
    /// for a second read). The next receive returns the next datagram.
    #[error("{op}: a datagram{} did not fit the {capacity}-byte buffer; its first {capacity} bytes were kept and the rest discarded", from_suffix(.from))]
    Truncated {
        /// The F-Stack call that received it (`ff_recvmsg`).
        op: &'static str,
        /// The buffer's length: the bytes of the datagram that were kept.
        capacity: usize,
        /// The sender, when the call asked for it.
        from: Option<SocketAddr>,
    },
    /// Joining or leaving a multicast group failed in the stack (for example the interface
    /// address is not one of the stack's, or the group was not joined).
    #[error("{op} failed for multicast group {group} on interface {interface}: {source}")]
    Multicast {
        /// The socket option, e.g. `ff_setsockopt(IP_ADD_MEMBERSHIP)`.
        op: &'static str,
        /// The group.
        group: IpAddr,
        /// The interface: an IPv4 address, or an IPv6 interface index (`index N`; 0 lets the
        /// stack choose).
        interface: String,
        /// The OS error the stack reported.
        #[source]
        source: io::Error,
    },
    /// The F-Stack config file is missing, unreadable or malformed.
    #[error("F-Stack config {}: {reason}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `ff_init` itself failed.
    #[error("ff_init failed: {source}")]
    Init {
        /// The error it reported.
        #[source]
        source: io::Error,
    },
    /// [`Stack::init`](crate::Stack::init) was called when F-Stack was already initialized.
    #[error("F-Stack is already initialized in this process (ff_init may run only once)")]
    AlreadyInitialized,
    /// A socket or poll call was made outside the thread that initialized F-Stack.
    #[error("{op}: F-Stack is not initialized on this thread (call Stack::init first, and use F-Stack only from that thread)")]
    NotInitialized {
        /// What was attempted.
        op: &'static str,
    },
    /// F-Stack's loop is not running: a connect before [`Stack::run`](crate::Stack::run)
    /// (F-Stack allows them only inside the loop), or any call after `run` returned (real
    /// F-Stack has torn itself down by then; the kernel backend refuses the same calls).
    #[error("{op}: not inside the running F-Stack loop (connects need Stack::run's loop, and no call reaches F-Stack after it returned)")]
    NotRunning {
        /// What was attempted: the F-Stack call, e.g. `ff_getsockname`.
        op: &'static str,
    },
    /// An argument was rejected before reaching F-Stack.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A connect (TCP or UDP) or a UDP send to the stack's own address or to loopback was
    /// refused before reaching the stack: stock F-Stack (built without `FF_LOOPBACK_SUPPORT`)
    /// never completes such a TCP connect, it hangs, and never delivers such a datagram. See [`Loopback`](crate::Loopback) for how to allow it.
    #[error("connecting to {addr}: it is loopback or this stack's own address, which F-Stack reaches only when built with FF_LOOPBACK_SUPPORT=1 (stock builds hang such connects); set FSTACK_LOOPBACK=allow or StackOptions::loopback(Loopback::Allow) if it was ({backend} backend)")]
    Loopback {
        /// The address that was dialled.
        addr: SocketAddr,
        /// The linked backend's name (`fstack` or `kernel`).
        backend: &'static str,
    },
    /// A [`BufferedWriter`](crate::BufferedWriter) had no room for a message: nothing of it
    /// was queued. The peer is not reading fast enough, or the buffer is too small.
    #[error(
        "write buffer full: {pending} of {capacity} bytes still unsent, no room for {len} more"
    )]
    BufferFull {
        /// The buffer's bound in bytes.
        capacity: usize,
        /// Bytes queued and not yet accepted by the socket.
        pending: usize,
        /// The length of the refused message.
        len: usize,
    },
    /// The call does not exist on the linked backend or F-Stack build: real F-Stack's native
    /// calls (`ff_kqueue`, `ff_regist_packet_dispatcher`) on the kernel backend, or zero-copy
    /// send on an F-Stack built without `FF_ZC_SEND=1`.
    #[error("{op} is not available: {reason}")]
    Unsupported {
        /// What was attempted, e.g. `ff_kqueue`.
        op: &'static str,
        /// Why, and what would make it available.
        reason: &'static str,
    },
}

impl Error {
    /// The [`io::ErrorKind`] of the underlying OS error, or [`io::ErrorKind::Other`].
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Error::Io { source, .. }
            | Error::Connect { source, .. }
            | Error::Multicast { source, .. }
            | Error::Init { source } => source.kind(),
            Error::InvalidArgument(_) => io::ErrorKind::InvalidInput,
            Error::Loopback { .. } => io::ErrorKind::AddrNotAvailable,
            Error::Truncated { .. } => io::ErrorKind::InvalidData,
            Error::Unsupported { .. } => io::ErrorKind::Unsupported,
            _ => io::ErrorKind::Other,
        }
    }

    /// True when the operation would have blocked and should be retried on readiness.
    pub fn is_would_block(&self) -> bool {
        self.kind() == io::ErrorKind::WouldBlock
    }

    /// True for [`Error::Truncated`]: a datagram was cut to fit the buffer.
    pub fn is_truncated(&self) -> bool {
        matches!(self, Error::Truncated { .. })
    }

    /// The OS error behind this error, if there is one.
    pub fn os_error(&self) -> Option<&io::Error> {
        match self {
            Error::Io { source, .. }
            | Error::Connect { source, .. }
            | Error::Multicast { source, .. }
            | Error::Init { source } => Some(source),
            _ => None,
        }
    }

    /// An [`io::Error`] from `op` (a `Read`/`Write` call, say) as an [`Error`]: one that
    /// carries an [`Error`] (as `Read`/`Write` on F-Stack sockets return after
    /// [`Stack::run`](crate::Stack::run), or one converted with `From<Error>`) gives that
    /// error back; any other becomes [`Error::Io`] naming `op`.
    pub fn io(op: &'static str, source: io::Error) -> Error {
        if source.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            let kind = source.kind();
            return match source.into_inner().map(|inner| inner.downcast::<Error>()) {
                Some(Ok(inner)) => *inner,
                // Not reached: checked just above.
                _ => Error::Io {
                    op,
                    source: kind.into(),
                },
            };
        }
        Error::Io { op, source }
    }

    pub(crate) fn last_os(op: &'static str) -> Error {
        Error::Io {
            op,
            source: io::Error::last_os_error(),
        }
    }
}

/// The name `From<io::Error>` gives the operation of an [`Error::Io`] made from a bare
/// [`io::Error`], whose call is not known.
const IO_OP: &str = "I/O";

/// An [`Error::Io`] whose OS error has an error number becomes that OS error itself, so that
/// [`io::Error::raw_os_error`] and [`io::Error::kind`] answer as for any OS error (the failing
/// call's name is dropped); so does any WouldBlock. Every other error is wrapped in an
/// [`io::Error`] of the same [`kind`](Error::kind) whose inner error is the [`Error`]
/// (`get_ref()?.downcast_ref::<Error>()`, and [`Error::os_error`] on it for the OS error of an
/// [`Error::Connect`] or [`Error::Multicast`]); [`Error::io`] gives it back.
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            // Bare: generic Read/Write consumers recognise WouldBlock cheaply, and the OS
            // error number stays readable.
            Error::Io { source, .. }
                if source.kind() == io::ErrorKind::WouldBlock
                    || source.raw_os_error().is_some() =>
            {
                source
            }
            other => io::Error::new(other.kind(), other),
        }
    }
}

/// `?` on an [`io::Error`] (from `Read`/`Write`) inside a function returning [`Result`]:
/// see [`Error::io`]; the operation is named `I/O`, and the [`io::Error`] is kept
/// as it is (its [`raw_os_error`](io::Error::raw_os_error) too).
impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::io(IO_OP, e)
    }
}

/// One WouldBlock test for [`Error`] and [`io::Error`] alike.
///
/// ```
/// use fstack::WouldBlock;
/// let io_err = std::io::Error::from(std::io::ErrorKind::WouldBlock);
/// assert!(io_err.is_would_block());
/// let err = fstack::Error::from(io_err);
/// assert!(WouldBlock::is_would_block(&err));
/// ```
pub trait WouldBlock {
    /// True when the operation would have blocked: retry it on the next readiness event.
    fn is_would_block(&self) -> bool;
}

impl WouldBlock for io::Error {
    fn is_would_block(&self) -> bool {
        self.kind() == io::ErrorKind::WouldBlock
    }
}

impl WouldBlock for Error {
    fn is_would_block(&self) -> bool {
        self.kind() == io::ErrorKind::WouldBlock
    }
}

/// Turns WouldBlock into `Ok(None)`, so that `?` handles the real errors of a non-blocking
/// call and a drain loop reads as one `while let`:
///
/// ```no_run
/// # fn f(sock: &mut fstack::FStackSocket) -> fstack::Result<()> {
/// use std::io::Read;
/// use fstack::Ready;
/// let mut buf = [0u8; 4096];
/// while let Some(n) = sock.read(&mut buf).ready()? {
///     if n == 0 {
///         break; // end of stream
///     }
///     // use buf[..n]
/// }
/// # Ok(()) }
/// ```
pub trait Ready<T, E> {
    /// `Ok(Some(value))` when the call completed, `Ok(None)` when it would block, the error
    /// otherwise.
    fn ready(self) -> std::result::Result<Option<T>, E>;
}

impl<T, E: WouldBlock> Ready<T, E> for std::result::Result<T, E> {
    fn ready(self) -> std::result::Result<Option<T>, E> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_would_block() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// ` from ADDR` when the sender is known.
fn from_suffix(from: &Option<SocketAddr>) -> String {
    from.map(|a| format!(" from {a}")).unwrap_or_default()
}

/// Translates an error number F-Stack hands back *as data* into Linux numbering.
///
/// `ff_*` calls translate the `errno` they set, but values returned through memory are
/// FreeBSD's: `getsockopt(SO_ERROR)` yields e.g. 61 for a refused connect (Linux: 111, while 61
/// is Linux's `ENODATA`). Numbers 1-34 agree between the two systems.
pub(crate) fn errno_from_freebsd(code: i32) -> i32 {
    match code {
        35 => libc::EAGAIN,
        36 => libc::EINPROGRESS,
        37 => libc::EALREADY,
        38 => libc::ENOTSOCK,
        39 => libc::EDESTADDRREQ,
        40 => libc::EMSGSIZE,
        41 => libc::EPROTOTYPE,
        42 => libc::ENOPROTOOPT,
        43 => libc::EPROTONOSUPPORT,
        44 => libc::ESOCKTNOSUPPORT,
        45 => libc::EOPNOTSUPP,
        46 => libc::EPFNOSUPPORT,
        47 => libc::EAFNOSUPPORT,
        48 => libc::EADDRINUSE,
        49 => libc::EADDRNOTAVAIL,
        50 => libc::ENETDOWN,
        51 => libc::ENETUNREACH,
        52 => libc::ENETRESET,
        53 => libc::ECONNABORTED,
        54 => libc::ECONNRESET,
        55 => libc::ENOBUFS,
        56 => libc::EISCONN,
        57 => libc::ENOTCONN,
        58 => libc::ESHUTDOWN,
        59 => libc::ETOOMANYREFS,
        60 => libc::ETIMEDOUT,
        61 => libc::ECONNREFUSED,
        62 => libc::ELOOP,
        63 => libc::ENAMETOOLONG,
        64 => libc::EHOSTDOWN,
        65 => libc::EHOSTUNREACH,
        66 => libc::ENOTEMPTY,
        84 => libc::EOVERFLOW,
        85 => libc::ECANCELED,
        92 => libc::EPROTO,
        other => other,
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_convert_both_ways() {
        // A bare io::Error becomes Error::Io and keeps its kind.
        let e = Error::from(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(matches!(e, Error::Io { op: IO_OP, .. }));
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(
            Error::io("ff_read", io::ErrorKind::BrokenPipe.into()).to_string(),
            "ff_read failed: broken pipe"
        );
        // An Error that went through io::Error comes back as itself.
        let original = Error::NotRunning { op: "ff_write" };
        let wrapped = io::Error::new(io::ErrorKind::NotConnected, original);
        let back = Error::from(wrapped);
        assert!(matches!(back, Error::NotRunning { op: "ff_write" }));
        let round = Error::from(io::Error::from(Error::InvalidArgument("x".into())));
        assert_eq!(round.to_string(), "invalid argument: x");
        // WouldBlock stays bare on the way to io::Error and is recognised on both sides.
        let wb = Error::Io {
            op: "ff_read",
            source: io::ErrorKind::WouldBlock.into(),
        };
        assert!(WouldBlock::is_would_block(&wb));
        let io_wb = io::Error::from(wb);
        assert!(io_wb.get_ref().is_none());
        assert!(io_wb.is_would_block());
        assert!(!io::Error::from(io::ErrorKind::Interrupted).is_would_block());
    }

    #[test]
    fn os_error_numbers_survive_both_conversions() {
        // fstack::Error -> io::Error keeps the number of an OS error.
        let e = Error::Io {
            op: "ff_connect",
            source: io::Error::from_raw_os_error(libc::ECONNREFUSED),
        };
        let io_err = io::Error::from(e);
        assert_eq!(io_err.raw_os_error(), Some(libc::ECONNREFUSED));
        assert_eq!(io_err.kind(), io::ErrorKind::ConnectionRefused);
        // ... and back: Error::Io named I/O, the same number.
        let back = Error::from(io_err);
        assert_eq!(
            back.os_error().unwrap().raw_os_error(),
            Some(libc::ECONNREFUSED)
        );
        assert!(matches!(back, Error::Io { op: "I/O", .. }));
        assert_eq!(
            Error::from(io::Error::from_raw_os_error(libc::EPIPE)).to_string(),
            format!("I/O failed: {}", io::Error::from_raw_os_error(libc::EPIPE))
        );
        // A WouldBlock with a number stays bare and keeps it.
        let wb = io::Error::from(Error::Io {
            op: "ff_read",
            source: io::Error::from_raw_os_error(libc::EAGAIN),
        });
        assert_eq!(wb.raw_os_error(), Some(libc::EAGAIN));
        // A connect error stays wrapped (it names the address); its number is one step away.
        let addr: SocketAddr = "192.0.2.1:80".parse().unwrap();
        let c = io::Error::from(Error::Connect {
            addr,
            source: io::Error::from_raw_os_error(libc::ETIMEDOUT),
        });
        assert_eq!(c.kind(), io::ErrorKind::TimedOut);
        let inner = c.get_ref().unwrap().downcast_ref::<Error>().unwrap();
        assert_eq!(
            inner.os_error().unwrap().raw_os_error(),
            Some(libc::ETIMEDOUT)
        );
        assert_eq!(
            c.to_string(),
            format!(
                "connecting to 192.0.2.1:80 failed: {}",
                io::Error::from_raw_os_error(libc::ETIMEDOUT)
            )
        );
    }

    #[test]
    fn ready_splits_would_block_from_errors() {
        let ok: io::Result<usize> = Ok(7);
        assert_eq!(ok.ready().unwrap(), Some(7));
        let wb: io::Result<usize> = Err(io::ErrorKind::WouldBlock.into());
        assert_eq!(wb.ready().unwrap(), None);
        let reset: Result<usize> = Err(Error::io("ff_read", io::ErrorKind::ConnectionReset.into()));
        assert_eq!(
            reset.ready().unwrap_err().kind(),
            io::ErrorKind::ConnectionReset
        );
    }

    #[test]
    fn freebsd_socket_errors_become_linux_ones() {
        let refused = io::Error::from_raw_os_error(errno_from_freebsd(61));
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        let reset = io::Error::from_raw_os_error(errno_from_freebsd(54));
        assert_eq!(reset.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(errno_from_freebsd(60), libc::ETIMEDOUT);
        assert_eq!(errno_from_freebsd(65), libc::EHOSTUNREACH);
        // 1-34 are the same on both systems.
        for code in 1..=34 {
            assert_eq!(errno_from_freebsd(code), code);
        }
    }
}
