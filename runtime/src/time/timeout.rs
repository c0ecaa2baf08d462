//! `timeout`: bound how long a future may take.

use super::{Elapsed, Instant, Sleep};
use crate::task::coop;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Runs `future`, giving up with `Err(Elapsed)` if it takes longer than `duration`.
///
/// The future is polled first on every wake-up, so one that is ready at once never touches
/// the timer wheel. When the timeout fires, the future is dropped (cancelled) with the
/// `Timeout`.
///
/// The deadline is observed even when the future spends the task's whole cooperative budget
/// on every poll (a loop over a channel that is never empty, say): the timer is then checked
/// outside the budget, so the timeout still fires instead of yielding forever.
///
/// # Panics
/// If called outside a Kiln runtime.
#[track_caller]
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    let deadline = Instant::now().checked_add(duration).unwrap_or_else(Instant::far_future);
    Timeout { value: future, delay: Sleep::new(deadline) }
}

/// Like [`timeout`], with an absolute deadline.
#[track_caller]
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout { value: future, delay: Sleep::new(deadline) }
}

/// The future returned by [`timeout`] and [`timeout_at`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct Timeout<F> {
    value: F,
    delay: Sleep,
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.value
    }

    /// The wrapped future, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.value
    }

    /// Consumes the timeout, returning the wrapped future.
    pub fn into_inner(self) -> F {
        self.value
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `value` is structurally pinned (never moved out while pinned); `delay` is
        // `Unpin` and only ever used through `&mut`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let value = unsafe { Pin::new_unchecked(&mut this.value) };
        let had_budget = coop::has_budget_remaining();
        if let Poll::Ready(out) = value.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        let mut poll_delay = || match Pin::new(&mut this.delay).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed::new())),
            Poll::Pending => Poll::Pending,
        };
        if had_budget && !coop::has_budget_remaining() {
            // The future spent the budget: checking the deadline must not need any, or a
            // future that always spends it would never time out.
            coop::run_unconstrained(poll_delay)
        } else {
            poll_delay()
        }
    }
}
