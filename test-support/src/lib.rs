//! Helpers Kiln's integration tests share, written once for every crate of the workspace.
//!
//! A behaviour of an async stack must hold on every way the executor can run it, so most
//! tests loop over [`runtimes`]: the current-thread scheduler (one thread, no stealing), a
//! multi-thread runtime with one worker (wake-ups cross from other threads into a single
//! queue) and one with two workers (stealing, and tasks that really run in parallel).
//!
//! The other helpers turn a hang into a failure ([`on_each`], [`with_watchdog`],
//! [`wait_until`]) and prove a drop happened ([`drop_flag`]). With the `http` feature,
//! the `http` module starts a server on a free loopback port and reads responses off a raw socket,
//! byte for byte, for tests that check the wire format itself. With the `redis` feature,
//! the `redis` module runs a private `redis-server` on a free port; with `postgres`, the
//! `postgres` module a private PostgreSQL cluster.
//!
//! Under `--cfg loom` the runtime swaps its primitives for loom's and the loom models need
//! none of this, so the crate is empty there.

#![cfg(not(loom))]
#![forbid(unsafe_code)]

use kiln_runtime::runtime::{Builder, Runtime};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;

/// Every flavour a behaviour must hold on, each with its name for failure messages.
pub fn runtimes() -> Vec<(&'static str, Runtime)> {
    vec![
        ("current_thread", Builder::new_current_thread().build().unwrap()),
        ("multi_thread(1)", Builder::new_multi_thread().worker_threads(1).build().unwrap()),
        ("multi_thread(2)", Builder::new_multi_thread().worker_threads(2).build().unwrap()),
    ]
}

/// One multi-thread runtime with two workers, for tests whose subject is not the scheduler
/// (a service's routes, a client's requests).
pub fn rt() -> Runtime {
    Builder::new_multi_thread().worker_threads(2).build().unwrap()
}

/// Runs `body` as a task on each flavour; a body that has not finished within 30 s fails
/// the test (naming the flavour) instead of hanging it, and a panic inside it is re-raised.
pub fn on_each<F, Fut>(body: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    for (name, rt) in runtimes() {
        let fut = body();
        let result = rt.block_on(async move {
            let handle = kiln_runtime::spawn(fut);
            kiln_runtime::time::timeout(Duration::from_secs(30), handle).await
        });
        match result {
            Err(_) => panic!("[{name}] test body did not finish within 30 s"),
            Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Ok(Err(e)) => panic!("[{name}] test task failed: {e}"),
            Ok(Ok(())) => {}
        }
    }
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

/// Polls `cond` until it holds, failing the test with `what` after 10 s. For waiting on
/// effects in other threads without asserting anything about timing.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Starts `command` with its stdout and stderr piped and reads its first line, which must
/// start with `prefix` (`"kiln: listening on http://"`): returns the child, the word after
/// the prefix (its address), and its stdout to read on.
pub fn spawn_announcing(
    command: &mut std::process::Command,
    prefix: &str,
) -> (std::process::Child, String, std::io::BufReader<std::process::ChildStdout>) {
    use std::io::BufRead;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let mut out = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix(prefix)
        .and_then(|rest| rest.split([' ', ',']).next())
        .unwrap_or_else(|| panic!("expected {prefix:?} first, got {first:?}"))
        .to_owned();
    (child, addr, out)
}

/// Sends SIGTERM to `child` and waits (up to 20 s) for it to exit successfully; `what`
/// names it in the failure.
pub fn terminate(child: &mut std::process::Child, what: &str) {
    let term = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(term.is_ok_and(|s| s.success()), "cannot signal {what}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "{what} did not stop within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{what} exited with {status}");
}

/// Sets its flag when dropped: captured by a future, it proves the future was dropped.
pub struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A [`DropFlag`] and the flag it sets.
pub fn drop_flag() -> (DropFlag, Arc<AtomicBool>) {
    let flag = Arc::new(AtomicBool::new(false));
    (DropFlag(flag.clone()), flag)
}
