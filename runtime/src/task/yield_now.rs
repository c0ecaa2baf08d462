//! `yield_now`: give the worker to other tasks for one turn.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields once to the scheduler.
///
/// The task wakes itself and returns `Pending`. Because the wake arrives while the task is
/// being polled, the scheduler sees it when the poll ends (rule 3 of the task state protocol)
/// and puts the task at the *back* of its run queue, behind the work that was already
/// waiting, rather than in the LIFO slot.
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
