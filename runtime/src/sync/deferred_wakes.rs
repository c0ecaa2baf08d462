//! `DeferredWakes`: wakers collected under a lock, to be woken after it is released.
//!
//! Waking under a lock would run the woken task's scheduling (and, for a foreign waker,
//! arbitrary code) while everyone else queues behind the lock; so the fair primitives pop
//! their waiters under the lock, collect the wakers here, drop the guard, then wake. The first
//! few wakers live on the stack, so the common release that wakes one or two waiters
//! allocates nothing; a `notify_waiters` with hundreds of waiters spills into a `Vec`.

use std::task::Waker;

/// Wakers kept inline before spilling to the heap. Small on purpose: the list is built on
/// every release that finds waiters, and a release usually wakes one.
const INLINE: usize = 4;

pub(crate) struct DeferredWakes {
    inline: [Option<Waker>; INLINE],
    len: usize,
    spill: Vec<Waker>,
}

impl DeferredWakes {
    pub(crate) const fn new() -> DeferredWakes {
        DeferredWakes { inline: [const { None }; INLINE], len: 0, spill: Vec::new() }
    }

    /// Adds a waker (or nothing, for a waiter that had none).
    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        let Some(waker) = waker else { return };
        if self.len < INLINE {
            self.inline[self.len] = Some(waker);
            self.len += 1;
        } else {
            self.spill.push(waker);
        }
    }

    /// Wakes everything collected, in the order it was pushed. Call with no lock held.
    pub(crate) fn wake_all(self) {
        let DeferredWakes { inline, len, spill } = self;
        inline.into_iter().take(len).flatten().for_each(Waker::wake);
        spill.into_iter().for_each(Waker::wake);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    struct Record(usize, Arc<Mutex<Vec<usize>>>);
    impl Wake for Record {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    #[test]
    fn wakes_inline_and_spilled_wakers_in_push_order() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut list = DeferredWakes::new();
        for i in 0..INLINE + 5 {
            list.push(Some(Waker::from(Arc::new(Record(i, log.clone())))));
            list.push(None); // a waiter without a waker adds nothing
        }
        assert!(log.lock().unwrap().is_empty(), "nothing is woken before wake_all");
        list.wake_all();
        assert_eq!(*log.lock().unwrap(), (0..INLINE + 5).collect::<Vec<_>>());
    }
}
