//! The runtime's clock: real time, or a paused clock that only moves when told to (tests).
//!
//! All timer deadlines are kept as whole milliseconds since `start`. When the clock is paused
//! it is aligned to a millisecond boundary, so a paused test that sleeps whole milliseconds
//! sees `Instant`s that are exact, and auto-advance lands exactly on deadlines.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::loom::sync::lock;

/// How many clocks in the process are paused. `kiln::time::Instant::now()` reads the context's
/// clock only when this is non-zero, so unpaused programs pay nothing for the feature.
pub(crate) static PAUSED_CLOCKS: AtomicUsize = AtomicUsize::new(0);

pub(crate) struct Clock {
    start: Instant,
    paused: AtomicBool,
    /// The frozen "now" while paused.
    frozen: Mutex<Instant>,
    /// Work that may wake a task without a timer firing (blocking tasks in flight); while
    /// non-zero, the paused clock does not auto-advance.
    inhibitors: AtomicUsize,
}

impl Clock {
    pub(crate) fn new(start_paused: bool) -> Clock {
        let start = Instant::now();
        let clock = Clock {
            start,
            paused: AtomicBool::new(false),
            frozen: Mutex::new(start),
            inhibitors: AtomicUsize::new(0),
        };
        if start_paused {
            clock.pause();
        }
        clock
    }

    pub(crate) fn now(&self) -> Instant {
        if self.paused.load(Acquire) {
            *lock(&self.frozen)
        } else {
            Instant::now()
        }
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Acquire)
    }

    #[track_caller]
    pub(crate) fn pause(&self) {
        let mut frozen = lock(&self.frozen);
        if self.paused.load(Acquire) {
            panic!("time is already paused");
        }
        // Round up to the next whole millisecond since `start` (see the module doc).
        *frozen = self.start + Duration::from_millis(self.ms_ceil(Instant::now()));
        self.paused.store(true, Release);
        PAUSED_CLOCKS.fetch_add(1, AcqRel);
    }

    #[track_caller]
    pub(crate) fn resume(&self) {
        let _frozen = lock(&self.frozen);
        if !self.paused.swap(false, AcqRel) {
            panic!("time is not paused");
        }
        PAUSED_CLOCKS.fetch_sub(1, AcqRel);
    }

    #[track_caller]
    pub(crate) fn advance(&self, by: Duration) {
        let mut frozen = lock(&self.frozen);
        if !self.paused.load(Acquire) {
            panic!("time is not paused; call kiln::time::pause() first");
        }
        *frozen += by;
    }

    /// Moves a paused clock forward to `ms` since start (never backwards).
    pub(crate) fn advance_to_ms(&self, ms: u64) {
        let mut frozen = lock(&self.frozen);
        let target = self.start + Duration::from_millis(ms);
        if target > *frozen {
            *frozen = target;
        }
    }

    pub(crate) fn inhibit_auto_advance(&self) {
        self.inhibitors.fetch_add(1, AcqRel);
    }

    pub(crate) fn allow_auto_advance(&self) {
        self.inhibitors.fetch_sub(1, AcqRel);
    }

    pub(crate) fn can_auto_advance(&self) -> bool {
        self.inhibitors.load(Acquire) == 0
    }

    /// Whole milliseconds from start to `t`, rounded up: a timer for `t` fires at or after it.
    pub(crate) fn ms_ceil(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.start);
        let ms = d.as_millis() as u64;
        if d > Duration::from_millis(ms) {
            ms + 1
        } else {
            ms
        }
    }

    /// Whole milliseconds from start to now, rounded down: everything due by then has passed.
    pub(crate) fn now_ms(&self) -> u64 {
        self.now().saturating_duration_since(self.start).as_millis() as u64
    }

    pub(crate) fn instant_of_ms(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }
}

impl Drop for Clock {
    fn drop(&mut self) {
        if *self.paused.get_mut() {
            PAUSED_CLOCKS.fetch_sub(1, AcqRel);
        }
    }
}
