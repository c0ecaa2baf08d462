//! `Handle::metrics()` and `Handle::dump()`.

extern crate kiln_runtime as kiln;

use kiln::runtime::{Builder, Handle, TaskState};
use kiln_test_support::{runtimes, wait_until};
use std::time::Duration;

#[test]
fn metrics_count_tasks_polls_and_workers() {
    for (name, rt) in runtimes() {
        let m = rt.block_on(async {
            let m = Handle::current().metrics();
            let spawned_before = m.spawned_tasks_count();
            let handles: Vec<_> = (0..100)
                .map(|_| {
                    kiln::spawn(async {
                        kiln::task::yield_now().await;
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
            assert_eq!(m.spawned_tasks_count() - spawned_before, 100, "{name}");
            m
        });
        // A JoinHandle resolves as soon as its task's output is stored; the worker releases
        // the task and adds its polls to the counters a moment later (metrics are snapshots).
        wait_until(&format!("{name}: completed tasks leave the owned list"), || m.num_alive_tasks() == 0);
        wait_until(&format!("{name}: two polls per task counted"), || m.total_polls() >= 200);
    }
}

#[test]
fn timed_polls_fill_the_histogram_by_duration_and_untimed_runtimes_leave_it_empty() {
    for mut builder in [Builder::new_current_thread(), Builder::new_multi_thread()] {
        let rt = builder.worker_threads(1).enable_metrics_poll_time_histogram().build().unwrap();
        let m = rt.block_on(async {
            // One poll that blocks its worker for at least 3 ms; fifty that return at once.
            kiln::spawn(async { std::thread::sleep(Duration::from_millis(3)) }).await.unwrap();
            for _ in 0..50 {
                kiln::spawn(async {}).await.unwrap();
            }
            Handle::current().metrics()
        });
        assert!(m.poll_time_histogram_enabled());
        let buckets = m.poll_time_histogram_num_buckets();
        let count = |b| m.poll_time_histogram_bucket_count(0, b);
        wait_until("51 timed polls", || (0..buckets).map(count).sum::<u64>() >= 51);
        // The slow poll is in a bucket that starts at 2.5 ms or later.
        let slow: u64 = (0..buckets)
            .filter(|&b| m.poll_time_histogram_bucket_range(b).start >= Duration::from_micros(2500))
            .map(count)
            .sum();
        assert!(slow >= 1, "{m:?}");
        assert!(m.worker_total_poll_time(0) >= Duration::from_millis(3));
        assert_eq!(m.poll_time_histogram_bucket_range(buckets - 1).end, Duration::MAX);
    }
    let rt = Builder::new_current_thread().build().unwrap();
    let m = rt.block_on(async {
        kiln::spawn(async {}).await.unwrap();
        Handle::current().metrics()
    });
    assert!(!m.poll_time_histogram_enabled());
    assert_eq!(
        (0..m.poll_time_histogram_num_buckets())
            .map(|b| m.poll_time_histogram_bucket_count(0, b))
            .sum::<u64>(),
        0
    );
}

#[test]
fn metrics_on_a_busy_multi_thread_runtime_show_steals_and_parks() {
    let rt = Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(async {
        // A task spawns children into its own worker's queue, then keeps that worker busy
        // until one child has run. The only way a child can run meanwhile is for the other
        // worker to steal it.
        kiln::spawn(async {
            let ran = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let ran = ran.clone();
                    kiln::spawn(async move {
                        ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    })
                })
                .collect();
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while ran.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                assert!(std::time::Instant::now() < deadline, "no worker stole the queued children");
                std::thread::yield_now();
            }
            for h in handles {
                h.await.unwrap();
            }
        })
        .await
        .unwrap();
    });
    let m = rt.handle().metrics();
    assert_eq!(m.num_workers(), 2);
    assert!(m.total_steals() > 0, "the idle worker stole work: {m:?}");
    assert!(m.total_parks() > 0, "{m:?}");
    assert_eq!(m.global_queue_depth(), 0);
}

#[test]
fn dump_lists_live_tasks_with_location_age_and_state() {
    let rt = Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let (_tx, rx) = futures::channel::oneshot::channel::<()>();
        let line = line!() + 1;
        let idle = kiln::spawn(async move {
            let _ = rx.await;
        });
        kiln::task::yield_now().await; // it runs once and waits
        let scheduled = kiln::spawn(async {});
        let dump = Handle::current().dump();
        let tasks = dump.tasks();
        assert_eq!(tasks.len(), 2);
        let waiting = tasks.iter().find(|t| t.id == idle.id()).unwrap();
        assert_eq!(waiting.state, TaskState::Idle);
        assert_eq!(waiting.location.line(), line);
        assert!(waiting.location.file().ends_with("introspection.rs"));
        let queued = tasks.iter().find(|t| t.id == scheduled.id()).unwrap();
        assert_eq!(queued.state, TaskState::Scheduled);
        let text = dump.to_string();
        assert!(text.starts_with("2 live task(s)"), "{text}");
        assert!(text.contains("introspection.rs"), "{text}");
        idle.abort();
    });
}
