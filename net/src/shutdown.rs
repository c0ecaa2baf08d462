//! Graceful shutdown: one signal every connection task listens to, and a way to wait until
//! they have all finished.
//!
//! The pattern (mini-redis's): the server holds a [`Shutdown`]; every task it spawns holds a
//! [`ShutdownListener`]. [`Shutdown::trigger`] flips a `watch` channel, so each listener's
//! [`ShutdownListener::recv`] completes (in a `select!` beside the task's real work) and the
//! task winds down in its own way: the echo server finishes the current echo, the chat server
//! sends a notice. Each listener also holds a clone of an `mpsc` sender it never uses; when the
//! last listener is dropped the channel closes, which is how [`Shutdown::wait`] knows every
//! task has finished, with no counting that could go wrong.

use kiln_runtime::sync::{mpsc, watch};
use std::time::Duration;

/// The server's side: triggers shutdown and waits for the listeners to finish.
#[derive(Debug)]
pub struct Shutdown {
    trigger: watch::Sender<bool>,
    done_tx: Option<mpsc::Sender<()>>,
    done_rx: mpsc::Receiver<()>,
}

/// A task's side: learns that shutdown has begun; its drop tells the server it is done.
#[derive(Debug, Clone)]
pub struct ShutdownListener {
    triggered: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
}

impl Shutdown {
    /// A shutdown signal not yet triggered.
    pub fn new() -> Shutdown {
        let (trigger, _) = watch::channel(false);
        let (done_tx, done_rx) = mpsc::channel(1);
        Shutdown { trigger, done_tx: Some(done_tx), done_rx }
    }

    /// A listener for a task about to be spawned.
    ///
    /// # Panics
    /// After [`Shutdown::wait`] has started (no new tasks may join then).
    pub fn listener(&self) -> ShutdownListener {
        let done = self.done_tx.clone().expect("Shutdown::listener called after Shutdown::wait");
        ShutdownListener { triggered: self.trigger.subscribe(), _done: done }
    }

    /// Tells every listener that shutdown has begun. Idempotent.
    pub fn trigger(&self) {
        self.trigger.send_replace(true);
    }

    /// True once [`Shutdown::trigger`] was called.
    pub fn is_triggered(&self) -> bool {
        *self.trigger.borrow()
    }

    /// Triggers shutdown (if not yet) and waits until every listener has been dropped, at
    /// most `deadline`. Returns true if they all finished in time.
    pub async fn wait(&mut self, deadline: Duration) -> bool {
        self.trigger();
        self.done_tx = None;
        kiln_runtime::time::timeout(deadline, self.done_rx.recv()).await.is_ok()
    }
}

impl Default for Shutdown {
    fn default() -> Shutdown {
        Shutdown::new()
    }
}

impl ShutdownListener {
    /// Completes once shutdown has been triggered (at once if it already was). Cancel-safe.
    pub async fn recv(&mut self) {
        // An error means the `Shutdown` was dropped, which is a shutdown too.
        let _ = self.triggered.wait_for(|t| *t).await;
    }

    /// True once shutdown has been triggered.
    pub fn is_triggered(&self) -> bool {
        *self.triggered.borrow()
    }
}

/// Completes on Ctrl+C (SIGINT) or SIGTERM, the two ways a server is asked to stop (by a
/// terminal, and by `kill`, systemd or Docker).
///
/// # Errors
/// If the signal handlers cannot be installed.
pub async fn terminate_signal() -> std::io::Result<()> {
    use kiln_runtime::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    kiln_runtime::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
