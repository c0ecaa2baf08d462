//! Helpers shared by the runtime's integration tests.
#![allow(dead_code)]

use kiln_runtime::runtime::{Builder, Runtime};
use std::time::{Duration, Instant};

/// Every flavour a behaviour must hold on: current-thread, one worker, two workers.
pub fn runtimes() -> Vec<(&'static str, Runtime)> {
    vec![
        ("current_thread", Builder::new_current_thread().build().unwrap()),
        ("multi_thread(1)", Builder::new_multi_thread().worker_threads(1).build().unwrap()),
        ("multi_thread(2)", Builder::new_multi_thread().worker_threads(2).build().unwrap()),
    ]
}

/// Polls `cond` until it holds, failing the test with `what` after 10 s. For waiting on
/// effects in other threads without asserting anything about timing.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Sets a flag when dropped: proves a future (and what it captured) was dropped.
pub struct DropFlag(pub std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

pub fn drop_flag() -> (DropFlag, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    (DropFlag(flag.clone()), flag)
}

/// Runs `f` on a fresh thread and fails the test if it does not finish in 60 s: turns a hang
/// (a lost wake-up, a timer that never fires) into a failure. The stuck thread is left
/// behind; the test process ends with the harness.
pub fn with_watchdog(what: &'static str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(()) => t.join().unwrap(),
        Err(_) => panic!("{what} hung"),
    }
}
