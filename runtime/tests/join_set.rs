//! `JoinSet`.

extern crate kiln_runtime as kiln;

use kiln::task::JoinSet;
use kiln_test_support::{drop_flag, runtimes};
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

#[test]
fn join_next_returns_results_in_completion_order() {
    for (name, rt) in runtimes() {
        let order = rt.block_on(async {
            // Fixed deadlines, far enough out that all three are registered before the first
            // is due; 40 ms apart so no two are handled in the same driver turn.
            let start = kiln::time::Instant::now() + Duration::from_millis(300);
            let mut set = JoinSet::new();
            for ms in [80u64, 0, 40] {
                set.spawn(async move {
                    kiln::time::sleep_until(start + Duration::from_millis(ms)).await;
                    ms
                });
            }
            assert_eq!(set.len(), 3);
            let mut order = Vec::new();
            while let Some(r) = set.join_next().await {
                order.push(r.unwrap());
            }
            assert!(set.is_empty());
            assert!(set.join_next().await.is_none());
            order
        });
        assert_eq!(order, vec![0, 40, 80], "{name}");
    }
}

#[test]
fn try_join_next_does_not_wait() {
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let mut set = JoinSet::new();
        set.spawn(async { 1 });
        set.spawn(std::future::pending::<i32>());
        assert!(set.try_join_next().is_none(), "nothing has run yet");
        kiln::task::yield_now().await;
        assert_eq!(set.try_join_next().unwrap().unwrap(), 1);
        assert!(set.try_join_next().is_none());
        assert_eq!(set.len(), 1);
    });
}

#[test]
fn dropping_a_join_set_aborts_its_tasks() {
    for (name, rt) in runtimes() {
        let (guard, dropped) = drop_flag();
        rt.block_on(async move {
            let mut set = JoinSet::new();
            set.spawn(async move {
                let _g = guard;
                std::future::pending::<()>().await
            });
            kiln::task::yield_now().await;
            drop(set);
            // The abort is processed by the scheduler.
            for _ in 0..100 {
                if dropped.load(SeqCst) {
                    break;
                }
                kiln::time::sleep(Duration::from_millis(1)).await;
            }
            assert!(dropped.load(SeqCst), "{name}: dropping the set must abort its tasks");
        });
    }
}

#[test]
fn abort_all_and_shutdown_and_join_all() {
    let rt = kiln::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(async {
        let mut set = JoinSet::new();
        for _ in 0..10 {
            set.spawn(std::future::pending::<()>());
        }
        set.abort_all();
        let mut cancelled = 0;
        while let Some(r) = set.join_next().await {
            assert!(r.unwrap_err().is_cancelled());
            cancelled += 1;
        }
        assert_eq!(cancelled, 10);

        let mut set = JoinSet::new();
        for _ in 0..5 {
            set.spawn(std::future::pending::<()>());
        }
        set.shutdown().await;
        assert!(set.is_empty());

        let mut set = JoinSet::new();
        for i in 0..100u32 {
            set.spawn(async move { i });
        }
        let mut all = set.join_all().await;
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    });
}

#[test]
fn detach_all_lets_tasks_run_on() {
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let (tx, rx) = futures::channel::oneshot::channel();
        let mut set = JoinSet::new();
        set.spawn(async move {
            kiln::time::sleep(Duration::from_millis(2)).await;
            tx.send(5).unwrap();
        });
        set.detach_all();
        drop(set);
        assert_eq!(rx.await.unwrap(), 5);
    });
}

#[test]
fn a_large_set_completes_with_ids() {
    let rt = kiln::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(async {
        let mut set = JoinSet::new();
        let mut ids = std::collections::HashMap::new();
        for i in 0..2000u32 {
            let abort = set.spawn(async move {
                kiln::task::yield_now().await;
                i
            });
            ids.insert(abort.id(), i);
        }
        let mut n = 0;
        while let Some(r) = set.join_next_with_id().await {
            let (id, v) = r.unwrap();
            assert_eq!(ids[&id], v);
            n += 1;
        }
        assert_eq!(n, 2000);
    });
}
