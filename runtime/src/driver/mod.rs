//! The driver: what a thread blocks on when it has nothing to run.
//!
//! One driver per runtime, combining the IO reactor (`io.rs`, on `mio`) and the timer wheel
//! (`time/`). Parking means: sleep in `epoll_wait` until an IO event, an unpark (a
//! `mio::Waker`, i.e. an eventfd write) or the next timer deadline; then wake the tasks whose
//! IO became ready and fire the timers that are due.
//!
//! The driver itself (`Driver`) is owned by one thread at a time: the current-thread
//! runtime's core, or whichever multi-thread worker won the `try_lock` when it went idle. The
//! [`Handle`] is shared by everything that registers IO or timers.

pub(crate) mod io;
pub(crate) mod time;

use std::time::Duration;

pub(crate) struct Driver {
    io: io::IoDriver,
}

/// The shared side of the driver.
pub(crate) struct Handle {
    pub(crate) io: io::IoHandle,
    pub(crate) time: time::TimeHandle,
}

pub(crate) fn new(start_paused: bool) -> std::io::Result<(Driver, Handle)> {
    let (io_driver, io_handle) = io::new()?;
    Ok((Driver { io: io_driver }, Handle { io: io_handle, time: time::TimeHandle::new(start_paused) }))
}

impl Driver {
    /// Blocks for at most `limit` (`None`: until something happens), then dispatches IO events
    /// and fires due timers.
    pub(crate) fn park(&mut self, handle: &Handle, limit: Option<Duration>) {
        let clock = &handle.time.clock;
        if clock.is_paused() {
            self.park_paused(handle, limit);
        } else {
            let timeout = handle.time.prepare_park(limit);
            self.io.turn(&handle.io, timeout);
            handle.time.finish_park();
        }
        handle.time.process();
    }

    /// With the clock paused, time moves only when the runtime is idle: if no IO is ready,
    /// jump the clock straight to the next timer instead of sleeping.
    fn park_paused(&mut self, handle: &Handle, limit: Option<Duration>) {
        let events = self.io.turn(&handle.io, Some(Duration::ZERO));
        if events > 0 || limit == Some(Duration::ZERO) {
            return;
        }
        match handle.time.next_expiration_ms() {
            Some(ms) if handle.time.clock.can_auto_advance() => handle.time.clock.advance_to_ms(ms),
            // No timer to jump to, or a blocking task will wake us: wait for real events.
            _ => {
                self.io.turn(&handle.io, limit);
            }
        }
    }
}
