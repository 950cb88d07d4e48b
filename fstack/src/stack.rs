//! Process-wide F-Stack initialisation and the `ff_run` event loop.

use std::cell::Cell;
use std::ffi::{c_int, c_void, CString};
use std::io;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::config;
use crate::error::{Error, Result};

static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// After the body breaks out, the loop keeps turning (without calling it) for at least this
/// long and [`DRAIN_MIN_ITERATIONS`] iterations before `ff_stop_run`. Real F-Stack transmits
/// the packets queued by an iteration at the start of the next one (after `pkt_tx_delay`, at
/// most 100 us) and checks its stop flag before that: stopping at once would drop the FINs of
/// sockets closed in the last iteration.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_millis(2);
const DRAIN_MIN_ITERATIONS: u32 = 2;
/// Set when real F-Stack's `ff_run` has returned: it ran `rte_eal_cleanup`, so DPDK's memory
/// and ports are gone and no `ff_*` call may follow (not even `ff_close`).
static TORN_DOWN: AtomicBool = AtomicBool::new(false);

/// True once real F-Stack has been torn down by the end of [`Stack::run`]; descriptors are then
/// abandoned instead of closed (the process is about to exit, and closing would touch freed
/// DPDK memory). Always false on the kernel backend, which stays usable.
pub(crate) fn torn_down() -> bool {
    TORN_DOWN.load(Ordering::Relaxed)
}

thread_local! {
    /// True on the thread that initialised F-Stack: the only one allowed to make `ff_*` calls.
    static STACK_THREAD: Cell<bool> = const { Cell::new(false) };
    /// True while that thread is inside `ff_run`.
    static IN_LOOP: Cell<bool> = const { Cell::new(false) };
}

/// Fails unless the caller is on the F-Stack thread.
pub(crate) fn ensure_stack_thread(op: &'static str) -> Result<()> {
    if torn_down() {
        return Err(Error::NotRunning { op });
    }
    if STACK_THREAD.with(Cell::get) {
        Ok(())
    } else {
        Err(Error::NotInitialized { op })
    }
}

/// Fails unless the caller is inside the running loop.
pub(crate) fn ensure_in_loop(op: &'static str) -> Result<()> {
    ensure_stack_thread(op)?;
    if IN_LOOP.with(Cell::get) {
        Ok(())
    } else {
        Err(Error::NotRunning { op })
    }
}

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
}

impl StackOptions {
    /// Options for the F-Stack config file at `config`.
    pub fn new(config: impl AsRef<Path>) -> StackOptions {
        StackOptions {
            config: config.as_ref().to_path_buf(),
            proc_type: None,
            proc_id: None,
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
    /// Errors: [`Error::Config`] for a missing, unreadable or malformed config file,
    /// [`Error::AlreadyInitialized`] on a second call in the process, [`Error::Init`] when
    /// `ff_init` itself fails.
    pub fn init(options: StackOptions) -> Result<Stack> {
        let args = options.args()?;
        config::validate(&options.config)?;
        if INITIALIZED.swap(true, Ordering::AcqRel) {
            return Err(Error::AlreadyInitialized);
        }
        let mut argv: Vec<*mut libc::c_char> = args
            .iter()
            .map(|a| a.as_ptr() as *mut libc::c_char)
            .collect();
        argv.push(std::ptr::null_mut());
        // SAFETY: argv holds argc valid NUL-terminated strings (kept alive by `args` for the
        // call) followed by a null pointer, as `main`'s argv would; ff_init runs once per
        // process, guarded by INITIALIZED.
        let rc = unsafe { fstack_sys::ff_init(args.len() as c_int, argv.as_ptr()) };
        if rc != 0 {
            let source = io::Error::last_os_error();
            INITIALIZED.store(false, Ordering::Release);
            return Err(Error::Init { source });
        }
        STACK_THREAD.with(|t| t.set(true));
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
    /// *inside* the loop before breaking out of it: afterwards, on real F-Stack, sockets and
    /// polls still alive are abandoned on drop (no FIN is sent) and every call on them fails
    /// with [`Error::NotRunning`].
    ///
    /// A panic in `body` never unwinds through F-Stack's C frames: it is caught, the loop is
    /// stopped, and the panic resumes from `run` once `ff_run` has returned.
    ///
    /// After `body` breaks out (or panics), the loop keeps turning for about 2 ms without
    /// calling it, so that packets queued by the last iteration (the FINs of sockets it closed)
    /// leave before `ff_run` returns.
    pub fn run<T, F>(self, body: F) -> Option<T>
    where
        F: FnMut() -> ControlFlow<T>,
    {
        struct LoopState<F, T> {
            body: F,
            result: Option<T>,
            panic: Option<Box<dyn std::any::Any + Send>>,
            /// Set once the body broke out or panicked: when to stop, and the iterations
            /// run since.
            draining: Option<(Instant, u32)>,
        }

        extern "C" fn iteration<F, T>(arg: *mut c_void) -> c_int
        where
            F: FnMut() -> ControlFlow<T>,
        {
            // SAFETY: `arg` is the `LoopState` that `run` passed to ff_run; it outlives the
            // loop, and ff_run calls back only on this thread, never reentrantly.
            let state = unsafe { &mut *(arg as *mut LoopState<F, T>) };
            if let Some((deadline, iterations)) = state.draining.as_mut() {
                // The body is done; let F-Stack transmit what the last iteration queued.
                *iterations += 1;
                if *iterations >= DRAIN_MIN_ITERATIONS && Instant::now() >= *deadline {
                    stop();
                }
                return 0;
            }
            match panic::catch_unwind(AssertUnwindSafe(|| (state.body)())) {
                Ok(ControlFlow::Continue(())) => return 0,
                Ok(ControlFlow::Break(value)) => state.result = Some(value),
                Err(payload) => state.panic = Some(payload),
            }
            state.draining = Some((Instant::now() + DRAIN_TIME, 0));
            0
        }

        let mut state = LoopState {
            body,
            result: None,
            panic: None,
            draining: None,
        };
        IN_LOOP.with(|l| l.set(true));
        // SAFETY: `iteration::<F, T>` matches loop_func_t and casts `arg` back to the
        // `LoopState<F, T>` it points to, which lives on this frame until ff_run returns.
        unsafe {
            fstack_sys::ff_run(
                Some(iteration::<F, T>),
                &mut state as *mut LoopState<F, T> as *mut c_void,
            )
        };
        IN_LOOP.with(|l| l.set(false));
        if backend() == Backend::FStack {
            TORN_DOWN.store(true, Ordering::Relaxed);
        }
        if let Some(payload) = state.panic {
            panic::resume_unwind(payload);
        }
        state.result
    }
}

/// Asks the running loop to stop after the current iteration (`ff_stop_run`).
///
/// Async-signal-safe: it only sets a flag, so a signal handler may call it.
pub fn stop() {
    // SAFETY: ff_stop_run only sets the loop's stop flag; it is valid at any time.
    unsafe { fstack_sys::ff_stop_run() }
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
