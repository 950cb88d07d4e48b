//! Timers: [`sleep`], [`timeout`] and [`interval`], fired by the loop (F-Stack has none).
//!
//! A binary heap keyed by deadline; each iteration pops the due entries. Dropped timers leave
//! their entries behind until they are due or the heap is compacted, so that cancelling
//! stays O(1) while the heap stays bounded (at most twice the live timers, plus 64).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::Inner;

#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    /// Live timers that were polled: their wakers.
    wakers: HashMap<u64, Waker>,
    next_id: u64,
}

impl TimerHeap {
    fn insert(&mut self, deadline: Instant, waker: Waker) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.heap.push(Reverse((deadline, id)));
        self.wakers.insert(id, waker);
        id
    }

    fn cancel(&mut self, id: u64) {
        self.wakers.remove(&id);
        if self.heap.len() > 2 * self.wakers.len() + 64 {
            let wakers = &self.wakers;
            self.heap.retain(|Reverse((_, id))| wakers.contains_key(id));
        }
    }

    /// Whether no timer is live.
    pub(crate) fn is_empty(&self) -> bool {
        self.wakers.is_empty()
    }

    /// Removes and returns the wakers of the timers due at `now`.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<Waker> {
        let mut due = Vec::new();
        while let Some(Reverse((deadline, id))) = self.heap.peek().copied() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            due.extend(self.wakers.remove(&id));
        }
        due
    }
}

/// A future that completes at a deadline; see [`sleep`].
pub struct Sleep {
    deadline: Instant,
    /// The registered heap entry, once polled.
    id: Option<u64>,
    rt: Rc<Inner>,
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Sleep {
    /// When it completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline (the next poll registers the new one).
    pub fn reset(&mut self, deadline: Instant) {
        if let Some(id) = self.id.take() {
            self.rt.timers.borrow_mut().cancel(id);
        }
        self.deadline = deadline;
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            if let Some(id) = self.id.take() {
                self.rt.timers.borrow_mut().cancel(id);
            }
            return Poll::Ready(());
        }
        let this = &mut *self;
        let mut timers = this.rt.timers.borrow_mut();
        match this.id {
            Some(id) if timers.wakers.contains_key(&id) => {
                let w = timers.wakers.get_mut(&id).expect("checked");
                if !w.will_wake(cx.waker()) {
                    *w = cx.waker().clone();
                }
            }
            // Never registered, or fired early by a coarse clock: register (again).
            _ => this.id = Some(timers.insert(this.deadline, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            if let Ok(mut t) = self.rt.timers.try_borrow_mut() {
                t.cancel(id);
            }
        }
    }
}

/// Completes after `duration`, measured from now (a duration too long for `Instant`, such as
/// `Duration::MAX`, waits about 30 years: in practice forever). Fires within about one loop iteration after
/// the deadline (on the kernel backend an idle loop sleeps at most 1 ms, or `idle_sleep`).
///
/// # Panics
/// When the thread has no [`Runtime`](super::Runtime).
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(deadline_after(Instant::now(), duration))
}

/// About 30 years: what a deadline too far to represent becomes (like tokio's), so that
/// `Duration::MAX` means "never" instead of overflowing `Instant`.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `from + duration`, or a far-future deadline when that does not fit in an `Instant`.
fn deadline_after(from: Instant, duration: Duration) -> Instant {
    from.checked_add(duration)
        .or_else(|| from.checked_add(FAR_FUTURE))
        .unwrap_or(from)
}

/// Completes at `deadline`.
///
/// # Panics
/// When the thread has no [`Runtime`](super::Runtime).
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        id: None,
        rt: super::current(),
    }
}

/// Which runtime a [`SyncSleep`] registered with: runtimes are numbered per process, so that
/// a timer key is never taken for another runtime's (on another thread, or a later runtime of
/// the same thread).
static NEXT_RUNTIME: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A new runtime's number (see [`SyncSleep`]).
pub(crate) fn runtime_serial() -> u64 {
    NEXT_RUNTIME.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A [`Sleep`] that is `Send + Sync`, for libraries that require it of their timers (hyper's
/// `rt::Timer`). It holds plain data only, a deadline and the key of its timer: polled (on
/// the runtime's thread), it registers with that thread's runtime; dropped on that thread, it
/// cancels its timer. Dropped on another thread, it leaves the timer to fire later, which
/// only wakes its last task for nothing.
///
/// # Panics
/// Polling it on a thread without a [`Runtime`](super::Runtime).
#[derive(Debug)]
pub struct SyncSleep {
    deadline: Instant,
    /// The runtime it registered with (its number) and the timer's key there.
    registered: Option<(u64, u64)>,
}

impl SyncSleep {
    /// Completes at `deadline`. Needs no runtime until polled.
    pub fn until(deadline: Instant) -> SyncSleep {
        SyncSleep {
            deadline,
            registered: None,
        }
    }

    /// Completes after `duration` from now (too long for `Instant`: about 30 years).
    pub fn after(duration: Duration) -> SyncSleep {
        SyncSleep::until(deadline_after(Instant::now(), duration))
    }

    /// When it completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline (the next poll registers the new one).
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = deadline;
    }

    /// Cancels the registered timer when this thread's runtime is the one it registered with.
    fn cancel(&mut self) {
        let Some((serial, id)) = self.registered.take() else {
            return;
        };
        if let Some(rt) = super::try_current() {
            if rt.serial == serial {
                if let Ok(mut t) = rt.timers.try_borrow_mut() {
                    t.cancel(id);
                }
            }
        }
    }
}

impl Future for SyncSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            self.cancel();
            return Poll::Ready(());
        }
        let rt = super::current();
        let this = &mut *self;
        let mut timers = rt.timers.borrow_mut();
        match this.registered {
            Some((serial, id)) if serial == rt.serial && timers.wakers.contains_key(&id) => {
                let w = timers.wakers.get_mut(&id).expect("checked");
                if !w.will_wake(cx.waker()) {
                    *w = cx.waker().clone();
                }
            }
            // Never registered, fired early by a coarse clock, or registered with another
            // runtime (whose timer, left behind, fires harmlessly): register here.
            _ => {
                let id = timers.insert(this.deadline, cx.waker().clone());
                this.registered = Some((rt.serial, id));
            }
        }
        Poll::Pending
    }
}

impl Drop for SyncSleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The error of a [`timeout`] whose duration elapsed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// A future with a deadline; see [`timeout`].
#[derive(Debug)]
pub struct Timeout<F> {
    future: Pin<Box<F>>,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut self.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Runs `future` for at most `duration`: its output, or [`Elapsed`] (the future is dropped).
/// `Duration::MAX` means no deadline in practice (see [`sleep`]).
///
/// # Panics
/// When the thread has no [`Runtime`](super::Runtime).
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future: Box::pin(future),
        sleep: sleep(duration),
    }
}

/// Ticks every `period`; see [`interval`].
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    sleep: Sleep,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant. The first tick is
    /// immediate. Ticks missed while the task was busy are skipped (the schedule restarts
    /// from now), not fired in a burst.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// [`tick`](Self::tick) as a poll function.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        match Pin::new(&mut self.sleep).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                let at = self.sleep.deadline();
                let now = Instant::now();
                let mut next = deadline_after(at, self.period);
                if next <= now {
                    next = deadline_after(now, self.period);
                }
                self.sleep.reset(next);
                Poll::Ready(at)
            }
        }
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

/// A ticker every `period`; the first tick completes at once. `Duration::ZERO` (or anything
/// below 1 µs) is taken as 1 µs rather than a panic: such a ticker is due at almost every
/// poll, so a task looping on it should await something else too. A period too long for `Instant`
/// (`Duration::MAX`) ticks once, then in about 30 years (see [`sleep`]).
///
/// # Panics
/// When the thread has no [`Runtime`](super::Runtime).
pub fn interval(period: Duration) -> Interval {
    Interval {
        period: period.max(Duration::from_micros(1)),
        sleep: sleep_until(Instant::now()),
    }
}
