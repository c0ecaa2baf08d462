//! Shared test helpers: run a test body on each runtime flavour, under a watchdog.
#![allow(dead_code)]

use kiln_runtime::runtime::{Builder, Runtime};
use std::future::Future;
use std::time::Duration;

/// The flavours every networking behaviour is checked on.
pub fn runtimes() -> Vec<(&'static str, Runtime)> {
    vec![
        ("current_thread", Builder::new_current_thread().build().unwrap()),
        ("multi_thread(2)", Builder::new_multi_thread().worker_threads(2).build().unwrap()),
    ]
}

/// Runs `body` on each flavour; a body that takes longer than 30 s fails instead of hanging.
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
