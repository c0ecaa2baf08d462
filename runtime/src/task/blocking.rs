//! `spawn_blocking`: run blocking code on the blocking pool.

use super::JoinHandle;
use crate::runtime::context;
use std::panic::Location;

/// Runs `f` on the runtime's blocking pool and returns a [`JoinHandle`] for its result.
///
/// Use it for work that would otherwise stall a worker thread: synchronous file or database
/// IO, password hashing, CPU-heavy computation. Threads are started on demand up to the
/// builder's `max_blocking_threads` and exit after `thread_keep_alive` idle.
///
/// `abort` cannot stop a closure that has started (no code can interrupt it); it only stops a
/// queued one from starting. A panic in `f` is returned as a `JoinError`.
///
/// # Panics
/// If called outside a Kiln runtime.
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let location = Location::caller();
    context::with_handle(|handle| handle.spawn_blocking(f, location))
}
