//! `spawn_blocking` and the blocking pool.

extern crate kiln_runtime as kiln;

use kiln::runtime::Builder;
use kiln_test_support::{runtimes, wait_until};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::time::Duration;

#[test]
fn spawn_blocking_returns_the_closure_result_and_panics_as_join_errors() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let v = kiln::task::spawn_blocking(|| std::thread::current().name().map(str::to_string))
                .await
                .unwrap();
            assert!(v.is_some_and(|n| n.contains("kiln")), "{name}: runs on a named pool thread");
            let err = kiln::task::spawn_blocking(|| panic!("blocked")).await.unwrap_err();
            assert!(err.is_panic(), "{name}");
        });
    }
}

#[test]
fn the_thread_cap_is_respected() {
    let rt = Builder::new_multi_thread().worker_threads(1).max_blocking_threads(2).build().unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (running, peak) = (running.clone(), peak.clone());
                kiln::task::spawn_blocking(move || {
                    let now = running.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    running.fetch_sub(1, SeqCst);
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(peak.load(SeqCst), 2, "at most max_blocking_threads run at once, and the cap is used");
    assert!(rt.handle().metrics().num_blocking_threads() <= 2);
}

#[test]
fn idle_blocking_threads_exit_after_keep_alive() {
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .thread_keep_alive(Duration::from_millis(20))
        .build()
        .unwrap();
    let barrier = Arc::new(Barrier::new(4));
    rt.block_on(async {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let b = barrier.clone();
                kiln::task::spawn_blocking(move || {
                    b.wait();
                })
            })
            .collect();
        barrier.wait(); // all three ran at once, on three threads
        for h in handles {
            h.await.unwrap();
        }
    });
    let metrics = rt.handle().metrics();
    wait_until("idle blocking threads exit", || metrics.num_blocking_threads() == 0);
}

#[test]
fn aborting_a_queued_blocking_task_stops_it_from_starting() {
    let rt = Builder::new_multi_thread().worker_threads(1).max_blocking_threads(1).build().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let first = kiln::task::spawn_blocking(move || {
            let _ = rx.recv();
        });
        let r = ran.clone();
        let queued = kiln::task::spawn_blocking(move || {
            r.fetch_add(1, SeqCst);
        });
        queued.abort();
        tx.send(()).unwrap();
        first.await.unwrap();
        assert!(queued.await.unwrap_err().is_cancelled());
    });
    assert_eq!(ran.load(SeqCst), 0);
}

#[test]
fn blocking_closures_see_the_runtime() {
    let rt = Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let inner = kiln::task::spawn_blocking(|| {
            let handle = kiln::runtime::Handle::current();
            handle.spawn(async { 11 })
        })
        .await
        .unwrap();
        assert_eq!(inner.await.unwrap(), 11);
    });
}

#[kiln::test(start_paused = true)]
async fn a_paused_clock_waits_for_blocking_work_instead_of_jumping() {
    let start = kiln::time::Instant::now();
    let work = kiln::task::spawn_blocking(|| {
        std::thread::sleep(Duration::from_millis(30));
        "done"
    });
    let r = kiln::time::timeout(Duration::from_secs(10), work).await;
    assert_eq!(
        r.unwrap().unwrap(),
        "done",
        "auto-advance must not fire the timeout while blocking work runs"
    );
    assert!(kiln::time::Instant::now() - start < Duration::from_secs(10));
}
