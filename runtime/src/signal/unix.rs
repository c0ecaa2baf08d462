//! Unix signals: `signal(SignalKind::terminate())` and friends.

use super::registry::{self, Slot};
use crate::runtime::context;
use std::future::poll_fn;
use std::io;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

/// A kind of Unix signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// Any signal by number.
    pub const fn from_raw(signum: i32) -> SignalKind {
        SignalKind(signum)
    }
    /// The signal's number.
    pub const fn as_raw_value(&self) -> i32 {
        self.0
    }
    /// SIGINT: Ctrl+C in a terminal.
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }
    /// SIGTERM: the polite "please stop" from `kill`, systemd, Docker.
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }
    /// SIGHUP: the terminal went away; daemons often reload configuration on it.
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }
    /// SIGQUIT.
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }
    /// SIGUSR1.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }
    /// SIGUSR2.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }
    /// SIGCHLD: a child process changed state.
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }
    /// SIGPIPE.
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }
    /// SIGALRM.
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }
    /// SIGWINCH: the terminal was resized.
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }
}

/// A listener for one kind of signal. See [`signal`].
pub struct Signal {
    slot: &'static Slot,
    seen: u64,
}

impl std::fmt::Debug for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signal").field("deliveries_seen", &self.seen).finish()
    }
}

/// Listens for `kind`. Only deliveries after this call are reported; several deliveries
/// between two `recv` calls may be reported as one (signals coalesce, as in the kernel).
///
/// # Errors
/// For signals that cannot be caught (SIGKILL, SIGSTOP) or handled safely (SIGSEGV, SIGILL,
/// SIGFPE), or if the handler cannot be installed.
///
/// # Panics
/// Outside a Kiln runtime.
#[track_caller]
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let slot = registry::install(kind.0)?;
    context::with_handle(|h| h.driver().io.ensure_signal_registered())?;
    Ok(Signal { slot, seen: slot.generation.load(Ordering::Acquire) })
}

impl Signal {
    /// Waits for the next delivery. Always `Some(())`: a signal stream never ends (the
    /// `Option` is there so Tokio code ports unchanged).
    ///
    /// Cancel-safe: a delivery is not lost if this future is dropped.
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        match self.slot.poll(self.seen, cx.waker()) {
            Some(generation) => {
                self.seen = generation;
                Poll::Ready(Some(()))
            }
            None => Poll::Pending,
        }
    }
}
