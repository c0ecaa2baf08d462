//! Parking an idle worker: in the driver if it is free, otherwise on a condition variable.
//!
//! Exactly one idle worker at a time sleeps in the driver (`epoll_wait`), so IO events and
//! timers are handled even when every worker is idle; the others sleep on their own condvar.
//! `unpark` must know which of the two to poke, so each parker has a small state machine:
//!
//! ```text
//!   EMPTY --park--> PARKED_DRIVER | PARKED_CONDVAR --unpark--> NOTIFIED --wake--> EMPTY
//!   EMPTY --unpark--> NOTIFIED   (the next park returns at once: the wake is not lost)
//! ```

use crate::driver::{self, Driver};
use crate::loom::sync::lock;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

const EMPTY: usize = 0;
const PARKED_CONDVAR: usize = 1;
const PARKED_DRIVER: usize = 2;
const NOTIFIED: usize = 3;

// A parking worker does not spin or yield before it sleeps (as Tokio's does not). Yielding
// the CPU while a wake-up may be coming looks cheap, but on a CPU shared with a thread that
// never blocks (a `block_on` thread notifying tasks in a loop), `sched_yield` hands that
// thread the CPU until the next scheduler tick, and the worker, with work waiting, sits out
// a whole tick (4 ms at HZ=250). Yielding would help only where a server's workers share one
// vCPU, a small gain not worth a stall with work waiting. BENCHMARKS.md has the runs.

pub(crate) struct Parker {
    state: AtomicUsize,
    mutex: Mutex<()>,
    condvar: Condvar,
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker { state: AtomicUsize::new(EMPTY), mutex: Mutex::new(()), condvar: Condvar::new() }
    }

    /// Blocks until `unpark` (or, when holding the driver, until an event or timer).
    pub(crate) fn park(&self, driver: &Mutex<Driver>, handle: &driver::Handle) {
        if self.state.compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst).is_ok() {
            return;
        }
        if let Ok(mut driver) = driver.try_lock() {
            if self.state.compare_exchange(EMPTY, PARKED_DRIVER, SeqCst, SeqCst).is_err() {
                self.state.swap(EMPTY, SeqCst); // NOTIFIED meanwhile
                return;
            }
            driver.park(handle, None);
            self.state.swap(EMPTY, SeqCst);
        } else {
            self.park_condvar();
        }
    }

    fn park_condvar(&self) {
        let mut guard = lock(&self.mutex);
        if self.state.compare_exchange(EMPTY, PARKED_CONDVAR, SeqCst, SeqCst).is_err() {
            self.state.swap(EMPTY, SeqCst);
            return;
        }
        loop {
            guard = self.condvar.wait(guard).unwrap_or_else(|e| e.into_inner());
            // Condvars wake spuriously; only NOTIFIED ends the park.
            if self.state.compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst).is_ok() {
                return;
            }
        }
    }

    /// Polls the driver without blocking, if no other worker holds it.
    pub(crate) fn poll_driver(driver: &Mutex<Driver>, handle: &driver::Handle) {
        if let Ok(mut driver) = driver.try_lock() {
            driver.park(handle, Some(Duration::ZERO));
        }
    }

    pub(crate) fn unpark(&self, handle: &driver::Handle) {
        match self.state.swap(NOTIFIED, SeqCst) {
            EMPTY | NOTIFIED => {}
            PARKED_CONDVAR => {
                // Taking the lock orders this notify after the parker's wait began.
                drop(lock(&self.mutex));
                self.condvar.notify_one();
            }
            PARKED_DRIVER => handle.io.unpark(),
            other => unreachable!("invalid parker state {other}"),
        }
    }
}
