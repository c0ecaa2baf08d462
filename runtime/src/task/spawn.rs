//! `kiln::spawn`: start a task on the current runtime.

use super::JoinHandle;
use crate::runtime::context;
use std::panic::Location;

/// Spawns a future as a new task on the current runtime and returns its [`JoinHandle`].
///
/// The task starts running in the background at once; awaiting the handle is only needed to
/// get its output. The spawn location is recorded for [`Handle::dump`](crate::runtime::Handle::dump).
///
/// # Panics
/// If called outside a Kiln runtime (no `block_on`, worker thread or `Handle::enter` guard on
/// this thread).
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let location = Location::caller();
    context::with_handle(|handle| handle.spawn(future, location))
}
