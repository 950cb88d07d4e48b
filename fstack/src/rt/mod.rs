//! An async runtime driven from [`Stack::run`]: tasks, readiness-driven sockets and timers on
//! the F-Stack thread, with no relay thread and no extra copy (cargo feature `async`).
//!
//! One [`Runtime`] per F-Stack thread. Every loop iteration ([`Runtime::turn`]) it
//!
//! 1. polls one [`Poll`](crate::Poll::poll) (never blocking) and wakes the tasks waiting for the
//!    sockets that became ready,
//! 2. wakes the tasks whose timers are due,
//! 3. polls at most [`DEFAULT_BUDGET`] tasks ([`Builder::budget`] changes it), then returns to
//!    F-Stack, so that a busy task never starves packet processing. Inside one task poll, at
//!    most [`OPS_PER_POLL`] socket operations complete before the task is made to yield.
//!
//! Tasks are `!Send` futures ([`spawn`], [`Runtime::spawn`]); the sockets ([`TcpStream`],
//! [`TcpListener`], [`UdpSocket`]) are `!Send` too, bound to the F-Stack thread. Wakers follow
//! std's contract (`Send + Sync`): waking from another thread is sound and queues the task for
//! the next iteration. Real F-Stack's loop never sleeps; the kernel backend's idle wait (at
//! most 1 ms, or `idle_sleep`) is skipped after an iteration that left tasks queued (the budget
//! ran out, or a wake arrived from another thread before the iteration ended); a wake from
//! another thread during that wait does not interrupt it: the task runs at the latest after it.
//!
//! A task that panics is reported on stderr and its [`JoinHandle`] yields
//! [`JoinError::Panicked`]; the loop and the other tasks go on. When the future given to
//! [`run`] / [`Runtime::block_on`] completes, or a [`ShutdownSignal`] given to
//! [`Builder::shutdown`] is raised, every remaining task is dropped inside the loop, so their
//! sockets are closed while F-Stack still runs (the peers see FIN).
//!
//! ```no_run
//! use fstack::rt::{self, TcpListener};
//! use fstack::{Stack, StackOptions};
//! use futures_util::{AsyncReadExt, AsyncWriteExt};
//!
//! let stack = Stack::init(StackOptions::new("f-stack.conf"))?;
//! let served = rt::run(stack, async {
//!     let listener = TcpListener::bind("0.0.0.0:7".parse().unwrap())?;
//!     loop {
//!         let (mut conn, _peer) = listener.accept().await?;
//!         rt::spawn(async move {
//!             let mut buf = [0u8; 4096];
//!             while let Ok(n @ 1..) = conn.read(&mut buf).await {
//!                 if conn.write_all(&buf[..n]).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         });
//!     }
//!     #[allow(unreachable_code)]
//!     Ok::<(), std::io::Error>(())
//! });
//! # let _ = served;
//! # Ok::<(), fstack::Error>(())
//! ```

mod net;
mod task;
mod time;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::ops::ControlFlow;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};

use slab::Slab;

use crate::{Events, Interest, Poll, ShutdownSignal, Source, Stack, Token};

pub use net::{TcpListener, TcpStream, UdpSocket};
pub use task::{yield_now, JoinError, JoinHandle};
pub use time::{
    interval, sleep, sleep_until, timeout, Elapsed, Interval, Sleep, SyncSleep, Timeout,
};

use task::TaskSlot;

/// Task polls per loop iteration unless [`Builder::budget`] says otherwise.
pub const DEFAULT_BUDGET: usize = 128;

/// Socket operations that may complete inside one task poll before the task is made to yield
/// (it is woken again at once): an echo loop on a socket that is always ready would otherwise
/// never return to the executor.
pub const OPS_PER_POLL: u32 = 64;

/// Events collected per reactor poll.
const EVENTS: usize = 1024;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Inner>>> = const { RefCell::new(None) };
    /// Operations left in the current task poll (see [`OPS_PER_POLL`]).
    static OPS_LEFT: Cell<u32> = const { Cell::new(u32::MAX) };
}

/// Why [`Runtime::block_on`] or [`run`] returned without the future's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The [`ShutdownSignal`] was raised: every task was dropped inside the loop.
    Shutdown,
    /// The loop was stopped from elsewhere ([`crate::stop`]).
    Stopped,
    /// The future panicked (the message).
    Panicked(String),
    /// The reactor could not be created (e.g. the thread has a runtime already) or failed
    /// (F-Stack's epoll): the message. The loop cannot go on.
    Reactor(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Shutdown => f.write_str("shutdown requested"),
            RunError::Stopped => f.write_str("the F-Stack loop was stopped"),
            RunError::Panicked(msg) => write!(f, "the main task panicked: {msg}"),
            RunError::Reactor(msg) => write!(f, "the async runtime's reactor failed: {msg}"),
        }
    }
}

impl std::error::Error for RunError {}

/// State of one registered socket: readiness seen and the tasks waiting for it.
#[derive(Debug)]
pub(crate) struct IoSlot {
    readable: bool,
    writable: bool,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

/// Wake-ups queued by [`Waker`]s, possibly from other threads.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    queue: Mutex<Vec<(usize, u64)>>,
    /// Raised after a push to `queue`, so that an iteration with nothing woken takes no lock.
    pending: AtomicBool,
}

pub(crate) struct Inner {
    poll: RefCell<Poll>,
    events: RefCell<Events>,
    /// Wakers collected from one reactor poll (kept to reuse its allocation).
    woken: RefCell<Vec<Waker>>,
    io: RefCell<Slab<IoSlot>>,
    tasks: RefCell<Slab<TaskSlot>>,
    next_generation: Cell<u64>,
    shared: Arc<Shared>,
    run_queue: RefCell<VecDeque<(usize, u64)>>,
    timers: RefCell<time::TimerHeap>,
    budget: usize,
    shutdown: Option<ShutdownSignal>,
    /// This runtime's number in the process (see [`SyncSleep`]).
    serial: u64,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("tasks", &self.tasks.borrow().len())
            .field("sockets", &self.io.borrow().len())
            .field("budget", &self.budget)
            .finish()
    }
}

/// Options for a [`Runtime`].
#[derive(Debug, Clone)]
pub struct Builder {
    budget: usize,
    shutdown: Option<ShutdownSignal>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: [`DEFAULT_BUDGET`], no shutdown signal.
    pub fn new() -> Builder {
        Builder {
            budget: DEFAULT_BUDGET,
            shutdown: None,
        }
    }

    /// Task polls per loop iteration (at least 1).
    pub fn budget(mut self, polls: usize) -> Builder {
        self.budget = polls.max(1);
        self
    }

    /// Ends [`Runtime::block_on`] with [`RunError::Shutdown`] once `signal` is raised, after
    /// dropping every task inside the loop.
    pub fn shutdown(mut self, signal: ShutdownSignal) -> Builder {
        self.shutdown = Some(signal);
        self
    }

    /// Creates the runtime of this thread. Needs F-Stack initialised on this thread; fails
    /// with [`io::ErrorKind::AlreadyExists`] when the thread has a runtime already.
    pub fn build(self) -> io::Result<Runtime> {
        if CURRENT.with(|c| c.borrow().is_some()) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "this thread has an fstack::rt::Runtime already",
            ));
        }
        let inner = Rc::new(Inner {
            poll: RefCell::new(Poll::new()?),
            events: RefCell::new(Events::with_capacity(EVENTS)),
            woken: RefCell::new(Vec::new()),
            io: RefCell::new(Slab::new()),
            tasks: RefCell::new(Slab::new()),
            next_generation: Cell::new(1),
            shared: Arc::default(),
            run_queue: RefCell::new(VecDeque::new()),
            timers: RefCell::new(time::TimerHeap::default()),
            budget: self.budget,
            shutdown: self.shutdown,
            serial: time::runtime_serial(),
        });
        CURRENT.with(|c| *c.borrow_mut() = Some(inner.clone()));
        Ok(Runtime { inner })
    }
}

/// The executor and reactor of this F-Stack thread. `!Send`: tasks and sockets live here.
///
/// Drive it with [`block_on`](Self::block_on) (which runs the F-Stack loop), or call
/// [`turn`](Self::turn) once per iteration from your own [`Stack::run`] body, beside
/// `Poll`-driven code.
#[derive(Debug)]
pub struct Runtime {
    inner: Rc<Inner>,
}

/// What one [`Runtime::turn`] left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    /// Tasks polled in this iteration.
    pub polled: usize,
    /// Tasks still queued (the budget ran out): call `turn` again next iteration.
    pub queued: usize,
}

impl Runtime {
    /// A runtime with the default options ([`Builder::new`]).
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// Options for a runtime.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Spawns a task; it starts on the next turn. Dropping the handle detaches the task.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        task::spawn_on(&self.inner, future)
    }

    /// One iteration: reactor poll, due timers, at most the budget of task polls.
    pub fn turn(&self) -> io::Result<Turn> {
        self.inner.turn()
    }

    /// Tasks alive (spawned and not finished).
    pub fn tasks(&self) -> usize {
        self.inner.tasks.borrow().len()
    }

    /// Runs F-Stack's loop ([`Stack::run`]) until `future` completes, driving every task.
    ///
    /// When it returns, every task left has been dropped inside the loop (their sockets are
    /// closed while F-Stack still runs). Errors: [`RunError::Shutdown`] when the builder's
    /// [`ShutdownSignal`] was raised, [`RunError::Stopped`] when [`crate::stop`] ended the
    /// loop, [`RunError::Panicked`] when `future` panicked, [`RunError::Reactor`] when the
    /// reactor itself failed (F-Stack's epoll): the loop cannot go on.
    pub fn block_on<F>(self, stack: Stack, future: F) -> Result<F::Output, RunError>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let handle = self.spawn(future);
        let inner = self.inner.clone();
        let out = stack.run(|| {
            if inner
                .shutdown
                .as_ref()
                .is_some_and(ShutdownSignal::requested)
            {
                inner.cancel_all();
                return ControlFlow::Break(Err(RunError::Shutdown));
            }
            if let Err(e) = inner.turn() {
                inner.cancel_all();
                return ControlFlow::Break(Err(RunError::Reactor(e.to_string())));
            }
            match handle.take_result() {
                None => ControlFlow::Continue(()),
                Some(result) => {
                    inner.cancel_all();
                    ControlFlow::Break(result.map_err(|e| match e {
                        JoinError::Panicked(msg) => RunError::Panicked(msg),
                        JoinError::Cancelled => RunError::Shutdown,
                    }))
                }
            }
        });
        out.unwrap_or(Err(RunError::Stopped))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Tasks own sockets that own `Rc<Inner>`: drop them to break the cycle.
        self.inner.cancel_all();
        CURRENT.with(|c| {
            let mut c = c.borrow_mut();
            if c.as_ref().is_some_and(|cur| Rc::ptr_eq(cur, &self.inner)) {
                *c = None;
            }
        });
    }
}

/// Creates a runtime ([`Runtime::new`]) and runs `future` to completion in F-Stack's loop
/// ([`Runtime::block_on`]). A runtime that cannot be created is reported as
/// [`RunError::Reactor`] with its message.
pub fn run<F>(stack: Stack, future: F) -> Result<F::Output, RunError>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let rt = Runtime::new().map_err(|e| RunError::Reactor(e.to_string()))?;
    rt.block_on(stack, future)
}

/// Spawns a task on this thread's runtime.
///
/// # Panics
/// When the thread has no [`Runtime`].
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    task::spawn_on(&current(), future)
}

/// This thread's runtime, for the sockets and timers.
pub(crate) fn current() -> Rc<Inner> {
    try_current().expect("no fstack::rt::Runtime on this thread (create one first)")
}

pub(crate) fn try_current() -> Option<Rc<Inner>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Whether the current task poll may perform one more socket operation; when not, the task is
/// woken again and the operation reports `Pending`.
pub(crate) fn consume_op(cx: &Context<'_>) -> bool {
    OPS_LEFT.with(|left| {
        let n = left.get();
        if n == 0 {
            cx.waker().wake_by_ref();
            false
        } else {
            left.set(n - 1);
            true
        }
    })
}

/// Which readiness a socket operation waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

impl Inner {
    fn turn(&self) -> io::Result<Turn> {
        self.poll_reactor()?;
        // No clock read while no timer is set.
        let due = {
            let mut timers = self.timers.borrow_mut();
            if timers.is_empty() {
                Vec::new()
            } else {
                timers.take_due(std::time::Instant::now())
            }
        };
        for waker in due {
            waker.wake();
        }
        let turn = self.run_tasks();
        if turn.queued > 0 {
            // No event will announce these tasks: the kernel backend's idle wait would delay
            // them by up to 1 ms per budget of polls.
            crate::ffi::stay_busy();
        }
        Ok(turn)
    }

    fn poll_reactor(&self) -> io::Result<()> {
        if self.io.borrow().is_empty() {
            return Ok(());
        }
        let mut events = self.events.borrow_mut();
        self.poll.borrow_mut().poll(&mut events)?;
        let mut io = self.io.borrow_mut();
        let mut wake = std::mem::take(&mut *self.woken.borrow_mut());
        for ev in events.iter() {
            // A late event of a closed socket may reach a reused slot: spurious readiness is
            // harmless (the operation gets WouldBlock and waits again).
            let Some(slot) = io.get_mut(ev.token().0) else {
                continue;
            };
            let closed = ev.is_read_closed() || ev.is_error();
            if ev.is_readable() || closed {
                slot.readable = true;
                wake.extend(slot.read_waker.take());
            }
            if ev.is_writable() || closed {
                slot.writable = true;
                wake.extend(slot.write_waker.take());
            }
        }
        drop(io);
        drop(events);
        // Woken after the borrows end: a waker may belong to another runtime's code.
        for w in wake.drain(..) {
            w.wake();
        }
        *self.woken.borrow_mut() = wake;
        Ok(())
    }

    fn run_tasks(&self) -> Turn {
        let mut polled = 0;
        while polled < self.budget {
            let next = self.run_queue.borrow_mut().pop_front();
            let (key, generation) = match next {
                Some(t) => t,
                None => {
                    if !self.shared.pending.swap(false, Ordering::Acquire) {
                        break;
                    }
                    // Drained in place: both queues keep their allocations.
                    let mut woken = self.shared.queue.lock().expect("run queue");
                    self.run_queue.borrow_mut().extend(woken.drain(..));
                    continue;
                }
            };
            if task::poll_task(self, key, generation) {
                polled += 1;
            }
        }
        let mut queued = self.run_queue.borrow().len();
        if self.shared.pending.load(Ordering::Acquire) {
            queued += self.shared.queue.lock().expect("run queue").len();
        }
        Turn { polled, queued }
    }

    fn generation(&self) -> u64 {
        let g = self.next_generation.get();
        self.next_generation.set(g + 1);
        g
    }

    /// Drops every task (and so their sockets), outside of any borrow.
    fn cancel_all(&self) {
        loop {
            let drained: Vec<TaskSlot> = self.tasks.borrow_mut().drain().collect();
            if drained.is_empty() {
                break;
            }
            // Dropping a task may spawn or drop others: loop until none is left.
            for t in drained {
                t.cancel();
            }
        }
        self.run_queue.borrow_mut().clear();
        self.shared.queue.lock().expect("run queue").clear();
    }

    pub(crate) fn register(&self, source: &impl Source) -> io::Result<usize> {
        let key = self.io.borrow_mut().insert(IoSlot {
            readable: true,
            writable: true,
            read_waker: None,
            write_waker: None,
        });
        let res = self.poll.borrow_mut().register(
            source,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        );
        if let Err(e) = res {
            self.io.borrow_mut().remove(key);
            return Err(e.into());
        }
        Ok(key)
    }

    pub(crate) fn deregister(&self, source: &impl Source, key: usize) {
        // Closing the descriptor removes it from the epoll set anyway: best effort.
        if let Ok(mut poll) = self.poll.try_borrow_mut() {
            let _ = poll.deregister(source);
        }
        let slot = self.io.borrow_mut().try_remove(key);
        drop(slot);
    }

    /// Completes while `key` looks ready for `dir`, else keeps the waker for the next event.
    /// Never clears the readiness: only a real operation's WouldBlock proves there is nothing
    /// left, and clearing it here would lose data already queued (no new edge announces it).
    pub(crate) fn poll_ready(
        &self,
        key: usize,
        dir: Dir,
        cx: &mut Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        use std::task::Poll::{Pending, Ready};
        let mut io = self.io.borrow_mut();
        let Some(slot) = io.get_mut(key) else {
            return Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "socket no longer registered",
            )));
        };
        let (ready, waker) = match dir {
            Dir::Read => (slot.readable, &mut slot.read_waker),
            Dir::Write => (slot.writable, &mut slot.write_waker),
        };
        if ready {
            return Ready(Ok(()));
        }
        match waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waker = Some(cx.waker().clone()),
        }
        Pending
    }

    /// Runs `op` while `key` looks ready for `dir`; on WouldBlock, clears that readiness and
    /// keeps the waker for the next event (edge-triggered: an event after the WouldBlock is
    /// always reported, so none is missed).
    pub(crate) fn poll_io<R>(
        &self,
        key: usize,
        dir: Dir,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> std::task::Poll<io::Result<R>> {
        use std::task::Poll::{Pending, Ready};
        loop {
            {
                let mut io = self.io.borrow_mut();
                let Some(slot) = io.get_mut(key) else {
                    return Ready(Err(io::Error::new(
                        io::ErrorKind::NotConnected,
                        "socket no longer registered",
                    )));
                };
                let (ready, waker) = match dir {
                    Dir::Read => (slot.readable, &mut slot.read_waker),
                    Dir::Write => (slot.writable, &mut slot.write_waker),
                };
                if !ready {
                    match waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => *waker = Some(cx.waker().clone()),
                    }
                    return Pending;
                }
            }
            if !consume_op(cx) {
                return Pending;
            }
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(slot) = self.io.borrow_mut().get_mut(key) {
                        match dir {
                            Dir::Read => slot.readable = false,
                            Dir::Write => slot.writable = false,
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return Ready(other),
            }
        }
    }
}
