//! Cooperative scheduling: a per-poll budget so one task cannot starve the others.
//!
//! A future that is always ready (a socket with data always waiting, a channel that is never
//! empty) never returns `Pending` on its own, so the task awaiting it in a loop would keep its
//! worker forever. Each task poll therefore starts with a budget of [`BUDGET`] units; every
//! resource Kiln provides (IO readiness, timers, `JoinHandle`, channels) spends one unit per
//! ready result, and once the budget is gone it answers `Pending` and wakes the task at once,
//! so the task goes to the back of the run queue and the others run.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Units per task poll. Tokio measured 128 as a good trade between throughput (few forced
/// yields) and latency (a yield at least every few hundred microseconds of ready IO).
pub const BUDGET: u8 = 128;

thread_local! {
    /// `None` outside a task poll: unconstrained.
    static CURRENT: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Runs `f` (one task poll) with a fresh budget, restoring the previous one after.
#[inline]
pub(crate) fn with_budget<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(Option<u8>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = CURRENT.try_with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(CURRENT.with(|c| c.replace(Some(BUDGET))));
    f()
}

/// Spends one unit. Returns `Pending` (after waking the task) when the budget is gone.
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let exhausted = CURRENT.with(|c| match c.get() {
        Some(0) => true,
        Some(n) => {
            c.set(Some(n - 1));
            false
        }
        None => false,
    });
    if exhausted {
        cx.waker().wake_by_ref();
        Poll::Pending
    } else {
        Poll::Ready(())
    }
}

/// True if the current task still has budget left (always true outside a task).
pub fn has_budget_remaining() -> bool {
    CURRENT.with(|c| c.get() != Some(0))
}

/// Spends one unit of the current task's budget, yielding to the scheduler if it is gone.
///
/// Call it in a loop that does CPU work or awaits things that are always ready, so that the
/// loop gives other tasks a turn now and then without yielding on every iteration.
pub async fn consume_budget() {
    let mut spent = false;
    std::future::poll_fn(move |cx| {
        if spent {
            return Poll::Ready(());
        }
        std::task::ready!(poll_proceed(cx));
        spent = true;
        Poll::Ready(())
    })
    .await
}

/// Runs `future` without a budget: the resources it awaits never force it to yield.
pub fn unconstrained<F: Future>(future: F) -> Unconstrained<F> {
    Unconstrained { future }
}

/// The future returned by [`unconstrained`].
#[must_use = "futures do nothing unless polled"]
pub struct Unconstrained<F> {
    future: F,
}

impl<F: Future> Future for Unconstrained<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of `self`.
        let future = unsafe { self.map_unchecked_mut(|s| &mut s.future) };
        let prev = CURRENT.with(|c| c.replace(None));
        let out = future.poll(cx);
        CURRENT.with(|c| c.set(prev));
        out
    }
}

/// Runs `f` with one unit of budget when the current task's budget is spent, then puts the
/// spent budget back (whatever `f` did with the unit).
///
/// This is how a combinator keeps a *deadline* observable next to a future that spends the
/// whole budget: `select!` polls the branches after the one that spent it with this grant,
/// so a timer branch that is due still completes (one unit is all a ready timer needs),
/// while a branch that would spend more gets one step, not an unbounded run. Outside a task,
/// or with budget left, `f` runs as it is.
pub fn with_one_unit<R>(f: impl FnOnce() -> R) -> R {
    if CURRENT.with(|c| c.get()) != Some(0) {
        return f();
    }
    CURRENT.with(|c| c.set(Some(1)));
    let out = f();
    CURRENT.with(|c| c.set(Some(0)));
    out
}

/// Runs `f` with no budget (for blocking closures, and for polling a timer whose deadline
/// must be observed even though the future next to it spent the budget).
pub(crate) fn run_unconstrained<R>(f: impl FnOnce() -> R) -> R {
    let prev = CURRENT.with(|c| c.replace(None));
    let out = f();
    CURRENT.with(|c| c.set(prev));
    out
}
