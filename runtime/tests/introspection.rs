//! `Handle::metrics()` and `Handle::dump()`.

extern crate kiln_runtime as kiln;

mod common;

use common::runtimes;
use kiln::runtime::{Builder, Handle, TaskState};
use std::time::Duration;

#[test]
fn metrics_count_tasks_polls_and_workers() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
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
            assert_eq!(m.num_alive_tasks(), 0, "{name}: completed tasks leave the owned list");
            assert!(m.total_polls() >= 200, "{name}: two polls per task, got {}", m.total_polls());
        });
    }
}

#[test]
fn metrics_on_a_busy_multi_thread_runtime_show_steals_and_parks() {
    let rt = Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(async {
        // One task spawns many CPU-bound children into its own queue; the idle worker must
        // steal some of them.
        kiln::spawn(async {
            let handles: Vec<_> = (0..64)
                .map(|_| {
                    kiln::spawn(async {
                        let until = std::time::Instant::now() + Duration::from_micros(300);
                        while std::time::Instant::now() < until {}
                    })
                })
                .collect();
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
