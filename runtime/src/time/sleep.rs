//! `Sleep`: a future that completes at a deadline.

use super::Instant;
use crate::driver::time::wheel::Key;
use crate::driver::time::{Inserted, TimerShared};
use crate::runtime::context;
use crate::scheduler;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Waits until `duration` has elapsed.
///
/// The timer is registered in the wheel on the first poll, and removed if the `Sleep` is
/// dropped first. Resolution is 1 ms; the sleep never ends early.
///
/// # Panics
/// If called outside a Kiln runtime.
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    let deadline = Instant::now().checked_add(duration).unwrap_or_else(Instant::far_future);
    Sleep::new(deadline)
}

/// Waits until `deadline`.
///
/// # Panics
/// If called outside a Kiln runtime.
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline)
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// Cancel-safe: dropping it removes its timer. `reset` moves the deadline without
/// allocating a new timer.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    deadline: Instant,
    handle: scheduler::Handle,
    entry: Option<Registered>,
    elapsed: bool,
}

struct Registered {
    key: Key,
    shared: Arc<TimerShared>,
}

impl Sleep {
    #[track_caller]
    pub(crate) fn new(deadline: Instant) -> Sleep {
        let handle = context::with_handle(|h| h.clone());
        Sleep { deadline, handle, entry: None, elapsed: false }
    }

    /// The instant at which this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has been observed to pass.
    pub fn is_elapsed(&self) -> bool {
        self.elapsed
    }

    /// Moves the deadline. Works whether or not the sleep has completed; the task polling it
    /// is woken at the new deadline.
    pub fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        let this = &mut *self;
        this.deadline = deadline;
        this.elapsed = false;
        if let Some(entry) = this.entry.take() {
            let time = &this.handle.driver().time;
            if !entry.shared.has_fired() {
                if let Inserted::Armed { key, unpark } = time.reset(entry.key, deadline.into_std()) {
                    if unpark {
                        this.handle.driver().io.unpark();
                    }
                    this.entry = Some(Registered { key, shared: entry.shared });
                }
            }
        }
    }

    fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.elapsed {
            return Poll::Ready(());
        }
        std::task::ready!(crate::task::coop::poll_proceed(cx));
        match &self.entry {
            Some(entry) => {
                if entry.shared.register_waker(cx.waker()) {
                    self.entry = None;
                    self.elapsed = true;
                    return Poll::Ready(());
                }
                Poll::Pending
            }
            None => {
                let time = &self.handle.driver().time;
                if time.clock.now() >= self.deadline.into_std() {
                    self.elapsed = true;
                    return Poll::Ready(());
                }
                let shared = TimerShared::new(cx.waker());
                match time.insert(self.deadline.into_std(), shared.clone()) {
                    Inserted::Armed { key, unpark } => {
                        if unpark {
                            self.handle.driver().io.unpark();
                        }
                        self.entry = Some(Registered { key, shared });
                        Poll::Pending
                    }
                    Inserted::Expired => {
                        self.elapsed = true;
                        Poll::Ready(())
                    }
                }
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_elapsed(cx)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            if !entry.shared.has_fired() {
                self.handle.driver().time.remove(entry.key);
            }
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).field("elapsed", &self.elapsed).finish()
    }
}
