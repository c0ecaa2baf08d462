//! What the expansions of `select!`, `join!` and `try_join!` call. Not public API.

pub use crate::task::coop::{has_budget_remaining, with_one_unit};
pub use crate::util::rand::thread_rng_n;
pub use kiln_macros::{join_impl, select_impl, try_join_impl};

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future, then its output once it has completed, then nothing once the output is taken.
pub enum MaybeDone<F: Future> {
    /// Still running.
    Future(F),
    /// Completed; output not yet taken.
    Done(F::Output),
    /// Output taken.
    Gone,
}

impl<F: Future> MaybeDone<F> {
    /// Wraps a future.
    pub fn new(future: F) -> MaybeDone<F> {
        MaybeDone::Future(future)
    }

    /// Polls the future if it is still running. `Ready` once it has completed.
    pub fn poll_done(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the `Future` variant's payload is structurally pinned: it is never moved out;
        // it is only replaced (dropped in place) by `Done` after completing.
        let this = unsafe { self.get_unchecked_mut() };
        if let MaybeDone::Future(f) = this {
            // SAFETY: as above.
            let out = std::task::ready!(unsafe { Pin::new_unchecked(f) }.poll(cx));
            *this = MaybeDone::Done(out);
        }
        Poll::Ready(())
    }

    /// The output, if completed and not taken.
    pub fn output_mut(self: Pin<&mut Self>) -> Option<&mut F::Output> {
        // SAFETY: we hand out the output only, never the pinned future.
        match unsafe { self.get_unchecked_mut() } {
            MaybeDone::Done(out) => Some(out),
            _ => None,
        }
    }

    /// Takes the output, if completed and not taken.
    pub fn take_output(self: Pin<&mut Self>) -> Option<F::Output> {
        // SAFETY: only the `Done` variant, which holds no pinned data, is moved out.
        let this = unsafe { self.get_unchecked_mut() };
        match this {
            MaybeDone::Done(_) => match std::mem::replace(this, MaybeDone::Gone) {
                MaybeDone::Done(out) => Some(out),
                _ => unreachable!(),
            },
            _ => None,
        }
    }
}
