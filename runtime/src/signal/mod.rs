//! Asynchronous signal handling: `ctrl_c()` and Unix signals, delivered through the reactor.
//!
//! The first time a program listens for a signal, Kiln installs a handler for it (and from
//! then on that signal no longer has its default effect, such as terminating the process).
//! See `registry.rs` for how a delivery travels from the handler to the waiting task.

pub(crate) mod registry;
pub mod unix;

use std::io;

/// Completes when the process next receives Ctrl+C (SIGINT).
///
/// Only deliveries after the call count. Listening installs a handler, so after the first
/// call Ctrl+C no longer terminates the process by itself: the program decides.
///
/// # Errors
/// If the handler cannot be installed.
///
/// # Panics
/// Outside a Kiln runtime.
pub async fn ctrl_c() -> io::Result<()> {
    let mut signal = unix::signal(unix::SignalKind::interrupt())?;
    signal.recv().await;
    Ok(())
}
