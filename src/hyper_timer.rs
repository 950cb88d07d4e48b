//! hyper's [`Timer`](hyper::rt::Timer) on `fstack::rt`'s timers, so that hyper's own timeouts
//! (`header_read_timeout`) work on the F-Stack thread: without a timer hyper ignores them.
//!
//! hyper wants its sleeps `Send + Sync`; [`fstack::rt::SyncSleep`] is plain data that
//! registers with the runtime of the thread polling it, which for a connection served on
//! `fstack::rt` is always the F-Stack thread.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use fstack::rt::SyncSleep;

/// hyper's timer on `fstack::rt` (`Builder::timer(FstackTimer)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FstackTimer;

/// One of hyper's sleeps.
#[derive(Debug)]
struct HyperSleep(SyncSleep);

impl Future for HyperSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl hyper::rt::Sleep for HyperSleep {}

impl hyper::rt::Timer for FstackTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep(SyncSleep::after(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep(SyncSleep::until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        // Ours: moved in place (no new allocation); another timer's: replaced.
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(mine) => mine.get_mut().0.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}
