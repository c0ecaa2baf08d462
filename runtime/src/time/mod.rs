//! Time: sleeping, timeouts, intervals, and a clock that tests can pause.
//!
//! Every timer lives in the runtime's hierarchical timer wheel (`driver/time/wheel.rs`) at
//! 1 ms resolution. Deadlines are rounded *up* to the next millisecond, so a timer never fires
//! early; it fires at the first driver turn after its deadline.
//!
//! # Testing with a paused clock
//! On a current-thread runtime, [`pause`] freezes the clock. Time then moves only through
//! [`advance`], or automatically: when every task is waiting and no IO is ready, the runtime
//! jumps the clock straight to the next timer. A test of a 30-second timeout then runs in
//! microseconds, and deterministically. `#[kiln::test(start_paused = true)]` starts that way.

mod error;
mod instant;
mod interval;
mod sleep;
mod timeout;

pub use error::Elapsed;
pub use instant::Instant;
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, timeout_at, Timeout};

/// Errors of this module, where Tokio keeps them.
pub mod error_types {
    pub use super::error::Elapsed;
}

use crate::runtime::context;
use crate::scheduler;
use std::time::Duration;

/// Freezes the clock of the current (current-thread) runtime.
///
/// # Panics
/// Outside a runtime, on a multi-thread runtime, or if the clock is already paused.
#[track_caller]
pub fn pause() {
    context::with_handle(|h| {
        assert!(
            matches!(h, scheduler::Handle::CurrentThread(_)),
            "time::pause() requires the current_thread runtime flavour"
        );
        h.driver().time.clock.pause();
    })
}

/// Lets the clock of the current runtime run again.
///
/// # Panics
/// Outside a runtime, or if the clock is not paused.
#[track_caller]
pub fn resume() {
    context::with_handle(|h| h.driver().time.clock.resume())
}

/// Moves the paused clock forward by `duration`, fires every timer that became due, and
/// yields so the woken tasks run before this returns.
///
/// # Panics
/// Outside a runtime, or if the clock is not paused.
pub async fn advance(duration: Duration) {
    context::with_handle(|h| {
        let time = &h.driver().time;
        time.clock.advance(duration);
        time.process();
    });
    crate::task::yield_now().await;
}
