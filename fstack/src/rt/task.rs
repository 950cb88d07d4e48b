//! Tasks: storage, wakers, join handles and panic isolation.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::{Rc, Weak as RcWeak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};

use super::{Inner, Shared, OPS_LEFT, OPS_PER_POLL};

/// Why a task gave no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// The task panicked; the panic's message.
    Panicked(String),
    /// The task was dropped before it finished (the runtime shut down).
    Cancelled,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(msg) => write!(f, "task panicked: {msg}"),
            JoinError::Cancelled => f.write_str("task cancelled"),
        }
    }
}

impl std::error::Error for JoinError {}

struct JoinState<T> {
    result: Option<Result<T, JoinError>>,
    waker: Option<Waker>,
    /// Set once the task is gone, with or without a result.
    done: bool,
}

/// Awaits a task's output; dropping it detaches the task.
pub struct JoinHandle<T> {
    state: Rc<RefCell<JoinState<T>>>,
    /// The task's slot, for [`abort`](JoinHandle::abort).
    key: usize,
    generation: u64,
    rt: RcWeak<Inner>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("done", &self.state.borrow().done)
            .finish()
    }
}

impl<T> JoinHandle<T> {
    /// Whether the task has finished (completed, panicked or was cancelled).
    pub fn is_finished(&self) -> bool {
        self.state.borrow().done
    }

    /// Cancels the task: its future is dropped now (closing its sockets) and awaiting this
    /// handle yields [`JoinError::Cancelled`]. Nothing happens if it has finished. A task may
    /// abort itself: it is dropped when its current poll returns.
    pub fn abort(&self) {
        let Some(rt) = self.rt.upgrade() else {
            return;
        };
        let slot = {
            let mut tasks = rt.tasks.borrow_mut();
            match tasks.get(self.key) {
                Some(s) if s.generation == self.generation => Some(tasks.remove(self.key)),
                _ => None,
            }
        };
        match slot {
            // Dropped outside the borrow: the future's drop may touch the runtime.
            Some(slot) => slot.cancel(),
            None => return,
        }
        // Polled right now (its future is out of the slot): tell the handle here.
        let waker = {
            let mut st = self.state.borrow_mut();
            if st.done {
                None
            } else {
                st.done = true;
                st.result = Some(Err(JoinError::Cancelled));
                st.waker.take()
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    pub(super) fn take_result(&self) -> Option<Result<T, JoinError>> {
        self.state.borrow_mut().result.take()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.state.borrow_mut();
        if let Some(r) = st.result.take() {
            return Poll::Ready(r);
        }
        if st.done {
            return Poll::Ready(Err(JoinError::Cancelled));
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

fn finish<T>(state: &RefCell<JoinState<T>>, result: Result<T, JoinError>) {
    let waker = {
        let mut st = state.borrow_mut();
        st.result = Some(result);
        st.done = true;
        st.waker.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

/// A spawned future with its join state, type-erased.
trait RawTask {
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
    fn fail(&self, err: JoinError);
}

struct Cell<F: Future> {
    future: F,
    state: Rc<RefCell<JoinState<F::Output>>>,
}

impl<F: Future> RawTask for Cell<F> {
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `future` is structurally pinned: it is never moved out of the pinned cell,
        // and `state` (an `Rc`) is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `this` comes from a pinned reference and stays in place.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        match future.poll(cx) {
            Poll::Ready(v) => {
                finish(&this.state, Ok(v));
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn fail(&self, err: JoinError) {
        if !self.state.borrow().done {
            finish(&self.state, Err(err));
        }
    }
}

/// Wakes one task by queueing its key; sound from any thread.
#[derive(Debug)]
pub(crate) struct TaskWaker {
    key: usize,
    generation: u64,
    /// Set while queued, so that repeated wakes queue the task once.
    scheduled: AtomicBool,
    shared: Weak<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        // The runtime may be gone (a waker kept by another thread): nothing to do then.
        if let Some(shared) = self.shared.upgrade() {
            if let Ok(mut q) = shared.queue.lock() {
                q.push((self.key, self.generation));
                // Raised while the lock is held: the drain that clears it sees this push.
                shared.pending.store(true, Ordering::Release);
            }
        }
    }
}

pub(crate) struct TaskSlot {
    generation: u64,
    /// Taken out while the task is polled, so that it may spawn (borrowing the slab).
    task: Option<Pin<Box<dyn RawTask>>>,
    waker: Arc<TaskWaker>,
}

impl TaskSlot {
    /// Drops the future (its sockets close) and tells the join handle.
    pub(crate) fn cancel(self) {
        if let Some(task) = self.task {
            task.fail(JoinError::Cancelled);
            drop(task);
        }
    }
}

pub(super) fn spawn_on<F>(inner: &Rc<Inner>, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let state = Rc::new(RefCell::new(JoinState {
        result: None,
        waker: None,
        done: false,
    }));
    let task: Pin<Box<dyn RawTask>> = Box::pin(Cell {
        future,
        state: state.clone(),
    });
    let generation = inner.generation();
    let mut tasks = inner.tasks.borrow_mut();
    let entry = tasks.vacant_entry();
    let entry_key = entry.key();
    let waker = Arc::new(TaskWaker {
        key: entry_key,
        generation,
        scheduled: AtomicBool::new(false),
        shared: Arc::downgrade(&inner.shared),
    });
    waker.wake_by_ref();
    entry.insert(TaskSlot {
        generation,
        task: Some(task),
        waker,
    });
    JoinHandle {
        state,
        key: entry_key,
        generation,
        rt: Rc::downgrade(inner),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

/// Polls task `key` if it still is the one of `generation`; false when it was gone.
pub(super) fn poll_task(inner: &Inner, key: usize, generation: u64) -> bool {
    let (mut task, waker) = {
        let mut tasks = inner.tasks.borrow_mut();
        let Some(slot) = tasks.get_mut(key) else {
            return false;
        };
        if slot.generation != generation {
            return false;
        }
        let Some(task) = slot.task.take() else {
            return false;
        };
        (task, slot.waker.clone())
    };
    waker.scheduled.store(false, Ordering::Release);
    let std_waker = Waker::from(waker);
    let mut cx = Context::from_waker(&std_waker);
    OPS_LEFT.with(|o| o.set(OPS_PER_POLL));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(&mut cx)));
    OPS_LEFT.with(|o| o.set(u32::MAX));
    match outcome {
        Ok(Poll::Pending) => {
            if let Some(slot) = inner.tasks.borrow_mut().get_mut(key) {
                if slot.generation == generation {
                    slot.task = Some(task);
                    return true;
                }
            }
            // Removed while it ran (the runtime was cancelled from inside): drop it here.
            drop(task);
        }
        Ok(Poll::Ready(())) => {
            remove(inner, key, generation);
            drop(task);
        }
        Err(payload) => {
            let msg = panic_message(payload.as_ref());
            eprintln!("fstack::rt: task {key} panicked: {msg}");
            remove(inner, key, generation);
            task.fail(JoinError::Panicked(msg));
            // The future's own drop may panic again: that one is reported too, not spread.
            if panic::catch_unwind(AssertUnwindSafe(move || drop(task))).is_err() {
                eprintln!("fstack::rt: task {key} panicked while being dropped");
            }
        }
    }
    true
}

fn remove(inner: &Inner, key: usize, generation: u64) {
    let mut tasks = inner.tasks.borrow_mut();
    if tasks.get(key).is_some_and(|s| s.generation == generation) {
        tasks.remove(key);
    }
}

/// Yields once: the task is queued again behind the others.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
