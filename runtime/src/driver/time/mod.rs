//! The time driver: the timer wheel behind a lock, the clock, and the handshake with the
//! thread that parks in the reactor.
//!
//! A `Sleep` registers a [`TimerShared`] in the wheel the first time it is polled (a `Sleep`
//! that is never polled, like the one inside a `timeout` whose future is ready at once, costs
//! no lock at all). Whoever parks on the driver asks the wheel for the next deadline and sleeps
//! in `epoll_wait` at most until then. If a timer earlier than that is inserted meanwhile, the
//! inserter must wake the parked thread: `next_wake` records what the parker is sleeping until,
//! and both sides read and write it under the wheel lock, so no insert can slip between the
//! parker's look at the wheel and its sleep.

pub(crate) mod clock;
pub(crate) mod wheel;

use crate::loom::sync::lock;
use clock::Clock;
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::{Duration, Instant};
use wheel::{Key, Wheel};

/// What a timer and the wheel share.
pub(crate) struct TimerShared {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl TimerShared {
    pub(crate) fn new(waker: &Waker) -> Arc<TimerShared> {
        Arc::new(TimerShared { fired: AtomicBool::new(false), waker: Mutex::new(Some(waker.clone())) })
    }

    pub(crate) fn has_fired(&self) -> bool {
        self.fired.load(Acquire)
    }

    /// Stores the waker to wake when the timer fires. Returns true if it has already fired.
    pub(crate) fn register_waker(&self, waker: &Waker) -> bool {
        {
            let mut slot = lock(&self.waker);
            match &*slot {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        // `fire` sets the flag before it takes the waker, so if we stored ours too late for it
        // to be taken, we see the flag here.
        self.has_fired()
    }

    fn fire(&self) {
        self.fired.store(true, Release);
        let waker = lock(&self.waker).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn rearm(&self) {
        self.fired.store(false, Release);
    }
}

pub(crate) struct TimeHandle {
    pub(crate) clock: Clock,
    wheel: Mutex<WheelState>,
}

struct WheelState {
    wheel: Wheel<Arc<TimerShared>>,
    /// The ms deadline the parked driver sleeps until; `None` when nobody sleeps in it.
    next_wake: Option<u64>,
}

/// Result of inserting a timer.
pub(crate) enum Inserted {
    /// In the wheel. `unpark` is true if the driver must be woken to honour it.
    Armed { key: Key, unpark: bool },
    /// The deadline has passed already.
    Expired,
}

impl TimeHandle {
    pub(crate) fn new(start_paused: bool) -> TimeHandle {
        TimeHandle {
            clock: Clock::new(start_paused),
            wheel: Mutex::new(WheelState { wheel: Wheel::new(), next_wake: None }),
        }
    }

    pub(crate) fn insert(&self, deadline: Instant, shared: Arc<TimerShared>) -> Inserted {
        let ms = self.clock.ms_ceil(deadline);
        let mut state = lock(&self.wheel);
        match state.wheel.insert(ms, shared) {
            Ok(key) => {
                let unpark = state.next_wake.is_some_and(|w| ms < w);
                if unpark {
                    // Only the first earlier insert needs to wake the parker.
                    state.next_wake = Some(ms);
                }
                Inserted::Armed { key, unpark }
            }
            Err(_) => Inserted::Expired,
        }
    }

    pub(crate) fn remove(&self, key: Key) {
        let removed = lock(&self.wheel).wheel.remove(key);
        drop(removed);
    }

    /// Moves a registered timer to a new deadline, keeping its waker.
    pub(crate) fn reset(&self, key: Key, deadline: Instant) -> Inserted {
        let shared = lock(&self.wheel).wheel.remove(key);
        match shared {
            Some(shared) => {
                shared.rearm();
                self.insert(deadline, shared)
            }
            None => Inserted::Expired,
        }
    }

    /// Fires every timer due by the clock's now.
    pub(crate) fn process(&self) {
        let now = self.clock.now_ms();
        let mut fired = Vec::new();
        lock(&self.wheel).wheel.advance(now, |t| fired.push(t));
        // Wake outside the lock: a woken task may insert a timer at once.
        for timer in fired {
            timer.fire();
        }
    }

    pub(crate) fn active_timers(&self) -> usize {
        lock(&self.wheel).wheel.len()
    }

    pub(crate) fn next_expiration_ms(&self) -> Option<u64> {
        lock(&self.wheel).wheel.next_expiration()
    }

    /// The parker is about to sleep at most `limit`: records until when, and returns the
    /// timeout to sleep with.
    pub(crate) fn prepare_park(&self, limit: Option<Duration>) -> Option<Duration> {
        let mut state = lock(&self.wheel);
        let next = state.wheel.next_expiration();
        state.next_wake = Some(next.unwrap_or(u64::MAX));
        let until_timer =
            next.map(|ms| self.clock.instant_of_ms(ms).saturating_duration_since(self.clock.now()));
        match (limit, until_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn finish_park(&self) {
        lock(&self.wheel).next_wake = None;
    }
}
