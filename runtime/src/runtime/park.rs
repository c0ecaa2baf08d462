//! Blocking a plain thread until a future completes (the multi-thread `block_on`).
//!
//! The future's waker sets a flag and unparks the thread; the thread polls, and sleeps in
//! `std::thread::park` until the flag is set. The flag matters because `park` may return
//! spuriously, and an `unpark` that arrives before `park` must not be lost.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

struct ThreadNotify {
    thread: Thread,
    notified: AtomicBool,
}

impl Wake for ThreadNotify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.notified.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let notify = Arc::new(ThreadNotify { thread: std::thread::current(), notified: AtomicBool::new(false) });
    let waker = Waker::from(notify.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = crate::task::coop::with_budget(|| future.as_mut().poll(&mut cx)) {
            return out;
        }
        while !notify.notified.swap(false, Ordering::Acquire) {
            std::thread::park();
        }
    }
}
