//! Process-wide F-Stack initialisation and the `ff_run` event loop.

use std::ffi::CString;
use std::io;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::config;
use crate::error::{Error, Result};
use crate::ffi;
use crate::loopback::{self, Loopback};

/// After the body breaks out, the loop keeps turning (without calling it) for at least this
/// long and [`DRAIN_MIN_ITERATIONS`] iterations before `ff_stop_run`. Real F-Stack transmits
/// the packets queued by an iteration at the start of the next one (after `pkt_tx_delay`, at
/// most 100 us) and checks its stop flag before that: stopping at once would drop the FINs of
/// sockets closed in the last iteration.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_millis(2);
const DRAIN_MIN_ITERATIONS: u32 = 2;

/// Which `ff_*` implementation this build is linked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The real F-Stack: FreeBSD's TCP/IP stack on DPDK.
    FStack,
    /// Kernel sockets behind the same API, for development and CI without DPDK.
    Kernel,
}

impl Backend {
    /// `"fstack"` or `"kernel"`, as `FSTACK_SYS_BACKEND` spells them.
    pub fn name(self) -> &'static str {
        match self {
            Backend::FStack => "fstack",
            Backend::Kernel => "kernel",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The backend linked into this program.
pub fn backend() -> Backend {
    if fstack_sys::BACKEND == "fstack" {
        Backend::FStack
    } else {
        Backend::Kernel
    }
}

/// F-Stack's multi-process role (`--proc-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcType {
    /// Owns the DPDK resources; must start first.
    Primary,
    /// Attaches to a running primary.
    Secondary,
    /// Primary if none runs yet, else secondary (F-Stack's default).
    Auto,
}

impl ProcType {
    fn as_arg(self) -> &'static str {
        match self {
            ProcType::Primary => "primary",
            ProcType::Secondary => "secondary",
            ProcType::Auto => "auto",
        }
    }
}

/// Options for [`Stack::init`]; start from [`StackOptions::new`].
#[derive(Debug, Clone)]
pub struct StackOptions {
    config: PathBuf,
    proc_type: Option<ProcType>,
    proc_id: Option<u32>,
    loopback: Option<Loopback>,
}

impl StackOptions {
    /// Options for the F-Stack config file at `config`.
    pub fn new(config: impl AsRef<Path>) -> StackOptions {
        StackOptions {
            config: config.as_ref().to_path_buf(),
            proc_type: None,
            proc_id: None,
            loopback: None,
        }
    }

    /// Sets `--proc-type`.
    pub fn proc_type(mut self, proc_type: ProcType) -> StackOptions {
        self.proc_type = Some(proc_type);
        self
    }

    /// Sets `--proc-id` (the lcore index of this process among F-Stack processes).
    pub fn proc_id(mut self, proc_id: u32) -> StackOptions {
        self.proc_id = Some(proc_id);
        self
    }

    /// Whether TCP connects to loopback or the stack's own address are made (see
    /// [`Loopback`]); overrides `FSTACK_LOOPBACK`.
    pub fn loopback(mut self, policy: Loopback) -> StackOptions {
        self.loopback = Some(policy);
        self
    }

    /// The `argv` passed to `ff_init`.
    fn args(&self) -> Result<Vec<CString>> {
        let conf = self.config.to_str().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "config path {} is not valid UTF-8",
                self.config.display()
            ))
        })?;
        let mut args = vec!["fstack".to_string(), format!("--conf={conf}")];
        if let Some(t) = self.proc_type {
            args.push(format!("--proc-type={}", t.as_arg()));
        }
        if let Some(id) = self.proc_id {
            args.push(format!("--proc-id={id}"));
        }
        args.into_iter()
            .map(|a| {
                CString::new(a)
                    .map_err(|_| Error::InvalidArgument("config path contains a NUL byte".into()))
            })
            .collect()
    }
}

/// The initialised F-Stack of this process.
///
/// Created once per process by [`Stack::init`]; [`Stack::run`] then drives the event loop on
/// the same thread. All sockets and polls must be created and used on that thread, inside the
/// loop, which is why they (and this handle) are neither `Send` nor `Sync`.
///
/// ```no_run
/// use std::ops::ControlFlow;
/// use fstack::{Stack, StackOptions};
///
/// let stack = Stack::init(StackOptions::new("f-stack.conf"))?;
/// let mut iterations = 0u64;
/// let done = stack.run(|| {
///     iterations += 1;
///     if iterations == 1_000 {
///         ControlFlow::Break("done")
///     } else {
///         ControlFlow::Continue(())
///     }
/// });
/// assert_eq!(done, Some("done"));
/// # Ok::<(), fstack::Error>(())
/// ```
#[derive(Debug)]
pub struct Stack {
    _not_send: PhantomData<*const ()>,
}

impl Stack {
    /// Validates the config and calls `ff_init`.
    ///
    /// F-Stack prints its config and interfaces with `printf`; those lines go to stderr, not
    /// stdout, so that stdout carries only the program's own output (see [`Stack::run`] for
    /// the end of the loop): descriptor 1 points at stderr while `ff_init` runs, and C's
    /// stdout buffer is flushed before it is restored. Output the program buffered in Rust's
    /// or C's stdout before is flushed to stdout first, and Rust's stdout stays locked
    /// meanwhile (another thread's `print!` waits for `ff_init` instead of landing on stderr).
    ///
    /// Errors: [`Error::Config`] for a missing, unreadable or malformed config file,
    /// [`Error::AlreadyInitialized`] on a second call in the process, [`Error::Init`] when
    /// `ff_init` itself fails, [`Error::InvalidArgument`] for a `FSTACK_LOOPBACK` other than
    /// `allow` or `refuse` (see [`Loopback`]).
    pub fn init(options: StackOptions) -> Result<Stack> {
        let args = options.args()?;
        config::validate(&options.config)?;
        let policy = loopback::resolve(options.loopback)?;
        ffi::init(&args)?;
        loopback::configure(policy, &options.config);
        Ok(Stack {
            _not_send: PhantomData,
        })
    }

    /// Runs F-Stack's loop, calling `body` once per iteration (after received packets were
    /// processed) until it returns [`ControlFlow::Break`]; returns that value.
    ///
    /// Returns `None` when the loop was stopped from elsewhere, by [`stop`] (for example from
    /// a signal handler). On real F-Stack the loop can run only once per process: DPDK is torn
    /// down when it returns (`rte_eal_cleanup`), hence `self` is consumed. Close connections
    /// *inside* the loop before breaking out of it.
    ///
    /// Once `run` has returned, on both backends, every call that would reach F-Stack fails
    /// with [`Error::NotRunning`] naming the F-Stack call (socket reads and writes: an
    /// [`io::Error`] of kind [`NotConnected`](io::ErrorKind::NotConnected) carrying it), and
    /// so do the other fallible methods of sockets, listeners and polls. Dropping them then
    /// abandons their descriptors on real F-Stack (no FIN is sent: closing would touch freed
    /// DPDK memory); the kernel backend still closes its kernel sockets.
    ///
    /// Whatever C code printed to stdout while the loop ran and C's stdio still buffers
    /// (F-Stack's and DPDK's messages; stdout that is not a terminal is block-buffered) is
    /// flushed to stderr when `ff_run` returns, so that it never follows the program's own
    /// output on stdout. That includes a program's own C `printf` output of that time, which
    /// cannot be told apart; output written through Rust's `std::io` is not affected.
    ///
    /// A panic in `body` never unwinds through F-Stack's C frames: it is caught, the loop is
    /// stopped, and the panic resumes from `run` once `ff_run` has returned.
    ///
    /// After `body` breaks out (or panics), the loop keeps turning for about 2 ms without
    /// calling it, so that packets queued by the last iteration (the FINs of sockets it closed)
    /// leave before `ff_run` returns.
    pub fn run<T, F>(self, mut body: F) -> Option<T>
    where
        F: FnMut() -> ControlFlow<T>,
    {
        let mut result = None;
        let mut panicked = None;
        // Set once the body broke out or panicked: when to stop, and the iterations run since.
        let mut draining: Option<(Instant, u32)> = None;
        ffi::run(&mut || {
            if let Some((deadline, iterations)) = draining.as_mut() {
                // The body is done; let F-Stack transmit what the last iteration queued.
                *iterations += 1;
                if *iterations >= DRAIN_MIN_ITERATIONS && Instant::now() >= *deadline {
                    stop();
                }
                return;
            }
            match panic::catch_unwind(AssertUnwindSafe(&mut body)) {
                Ok(ControlFlow::Continue(())) => return,
                Ok(ControlFlow::Break(value)) => result = Some(value),
                Err(payload) => panicked = Some(payload),
            }
            draining = Some((Instant::now() + DRAIN_TIME, 0));
        });
        if let Some(payload) = panicked {
            panic::resume_unwind(payload);
        }
        result
    }
}

impl Stack {
    /// [`run`](Self::run) for a body that can fail: `body` returns
    /// `Ok(ControlFlow::Continue(()))` to keep going, `Ok(ControlFlow::Break(value))` to end
    /// the loop with `Ok(Some(value))`, or `Err(e)` to end it with `Err(e)`, so `?` works
    /// inside it. `Ok(None)` when the loop was stopped from elsewhere ([`stop`]).
    ///
    /// `E` is the caller's: [`Error`] (with `?` on `Read`/`Write` results too, through
    /// `From<io::Error>`), `String`, `Box<dyn std::error::Error>`... Everything `run` says
    /// (draining after the end, panics, calls after the loop) holds here.
    ///
    /// ```no_run
    /// use std::ops::ControlFlow;
    /// use std::time::{Duration, Instant};
    /// use fstack::{Events, FStackListener, Interest, Poll, Stack, StackOptions, Token};
    ///
    /// let stack = Stack::init(StackOptions::new("f-stack.conf"))?;
    /// let listener = FStackListener::bind("0.0.0.0:8080".parse().unwrap())?;
    /// let mut poll = Poll::new()?;
    /// poll.register(&listener, Token(0), Interest::READABLE)?;
    /// let mut events = Events::with_capacity(16);
    /// let deadline = Instant::now() + Duration::from_secs(10);
    /// let first_peer = stack.try_run(|| {
    ///     poll.poll(&mut events)?;
    ///     if !events.is_empty() {
    ///         let (_sock, peer) = listener.accept()?;
    ///         return Ok(ControlFlow::Break(peer));
    ///     }
    ///     if Instant::now() > deadline {
    ///         return Err(fstack::Error::InvalidArgument("nobody connected".into()));
    ///     }
    ///     Ok(ControlFlow::Continue(()))
    /// })?;
    /// # Ok::<(), fstack::Error>(())
    /// ```
    ///
    /// In a function returning `Result<_, Box<dyn std::error::Error>>`, `?` inside the body
    /// cannot tell which error type to convert to (every `E: From<fstack::Error>` would do), so
    /// name the body's return type: annotate the closure (`|| -> Result<ControlFlow<T>, E>`),
    /// as here, or the variable that receives `try_run`'s result. The `?` after `try_run`
    /// then boxes the error as usual.
    ///
    /// ```no_run
    /// use std::error::Error;
    /// use std::ops::ControlFlow;
    /// use fstack::{Events, Poll, Stack, StackOptions};
    ///
    /// fn main() -> Result<(), Box<dyn Error>> {
    ///     let stack = Stack::init(StackOptions::new("f-stack.conf"))?;
    ///     let mut poll = Poll::new()?;
    ///     let mut events = Events::with_capacity(16);
    ///     let mut iterations = 0u64;
    ///     let done = stack.try_run(|| -> Result<ControlFlow<u64>, Box<dyn Error>> {
    ///         poll.poll(&mut events)?; // fstack::Error, boxed
    ///         iterations += 1;
    ///         if iterations == 1_000 {
    ///             return Err("gave up after 1000 iterations".into()); // a &str, boxed
    ///         }
    ///         Ok(ControlFlow::Continue(()))
    ///     })?;
    ///     println!("{done:?}");
    ///     Ok(())
    /// }
    /// ```
    pub fn try_run<T, E, F>(self, mut body: F) -> std::result::Result<Option<T>, E>
    where
        F: FnMut() -> std::result::Result<ControlFlow<T>, E>,
    {
        self.run(|| match body() {
            Ok(ControlFlow::Continue(())) => ControlFlow::Continue(()),
            Ok(ControlFlow::Break(value)) => ControlFlow::Break(Ok(value)),
            Err(e) => ControlFlow::Break(Err(e)),
        })
        .transpose()
    }
}

/// Asks the running loop to stop after the current iteration (`ff_stop_run`).
///
/// Async-signal-safe: it only sets a flag, so a signal handler may call it.
pub fn stop() {
    ffi::stop()
}

/// A flag raised by SIGINT or SIGTERM, for a graceful shutdown inside the loop.
///
/// F-Stack installs no signal handlers, so without one Ctrl-C kills the process with its TCP
/// connections still open. Check [`ShutdownSignal::requested`] in the loop body, close
/// connections cleanly, then return [`ControlFlow::Break`].
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    flag: std::sync::Arc<AtomicBool>,
}

impl ShutdownSignal {
    /// Installs SIGINT and SIGTERM handlers that raise the flag. A second signal while the flag
    /// is raised terminates the process, so a stuck shutdown can still be interrupted.
    pub fn install() -> io::Result<ShutdownSignal> {
        let flag = std::sync::Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register_conditional_shutdown(sig, 1, flag.clone())?;
            signal_hook::flag::register(sig, flag.clone())?;
        }
        Ok(ShutdownSignal { flag })
    }

    /// True once SIGINT or SIGTERM arrived.
    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}
