//! The graceful-shutdown signal: listeners hear the trigger, `wait` returns when they are all
//! gone (or at the deadline), and SIGTERM completes `terminate_signal`.

use kiln_net::shutdown::{terminate_signal, Shutdown};
use kiln_test_support::on_each;
use std::time::Duration;

#[test]
fn listeners_hear_the_trigger_and_wait_sees_them_finish() {
    on_each(|| async {
        let mut shutdown = Shutdown::new();
        let mut tasks = Vec::new();
        for i in 0..5u64 {
            let mut listener = shutdown.listener();
            tasks.push(kiln_runtime::spawn(async move {
                listener.recv().await;
                assert!(listener.is_triggered());
                kiln_runtime::time::sleep(Duration::from_millis(10 * i)).await; // winding down
            }));
        }
        assert!(!shutdown.is_triggered());
        assert!(shutdown.wait(Duration::from_secs(5)).await, "all five finished in time");
        for t in tasks {
            assert!(t.is_finished());
        }

        let mut late = Shutdown::new();
        let stuck = late.listener();
        assert!(!late.wait(Duration::from_millis(50)).await, "a listener still held means not done");
        drop(stuck);
    });
}

#[test]
fn sigterm_completes_terminate_signal() {
    let rt = kiln_runtime::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let waiting = kiln_runtime::spawn(terminate_signal());
        // Let the task install its handlers before the signal is raised.
        kiln_runtime::time::sleep(Duration::from_millis(50)).await;
        // `kill -TERM <our pid>`: the crate forbids unsafe code, so no `libc::raise`.
        let pid = std::process::id().to_string();
        let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        kiln_runtime::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("SIGTERM seen")
            .unwrap()
            .unwrap();
    });
}
