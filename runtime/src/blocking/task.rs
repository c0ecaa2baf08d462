//! A closure dressed as a future, so the blocking pool can reuse the task cell.

use super::BlockingPool;
use crate::task::cell::{Notified, Schedule};
use crate::task::Header;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Runs its closure on the first poll; never returns `Pending`.
pub(crate) struct BlockingTask<F>(Option<F>);

impl<F> BlockingTask<F> {
    pub(crate) fn new(f: F) -> BlockingTask<F> {
        BlockingTask(Some(f))
    }
}

impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingTask<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let f = self.0.take().expect("blocking task polled after completion");
        // A blocking closure has no awaits, so the cooperative budget means nothing to it.
        Poll::Ready(crate::task::coop::run_unconstrained(f))
    }
}

/// The "scheduler" of a blocking task: the pool's queue.
#[derive(Clone)]
pub(crate) struct BlockingSchedule(pub(crate) Arc<BlockingPool>);

impl Schedule for BlockingSchedule {
    fn schedule(&self, task: Notified, _is_yield: bool) {
        // Only reached when an aborted, still-queued blocking task needs a thread to drop it.
        self.0.push(task);
    }

    fn release(&self, _header: &Header) {}
}
