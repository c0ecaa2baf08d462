//! Tasks: spawn, JoinHandle, abort, panics, detach, shutdown — on every runtime flavour.

extern crate kiln_runtime as kiln;

use futures::channel::oneshot;
use kiln::runtime::{Builder, Handle};
use kiln::task::{self, JoinHandle};
use kiln_test_support::{drop_flag, runtimes, wait_until};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn spawned_tasks_run_and_return_their_output() {
    for (name, rt) in runtimes() {
        let sum = rt.block_on(async {
            let handles: Vec<JoinHandle<u64>> =
                (0..500u64).map(|i| kiln::spawn(async move { i * 2 })).collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, 499 * 500, "{name}");
    }
}

#[test]
fn abort_drops_the_future_and_its_captures() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let (guard, dropped) = drop_flag();
            let (_tx, rx) = oneshot::channel::<()>();
            let handle = kiln::spawn(async move {
                let _guard = guard;
                let _ = rx.await; // never completes: _tx is kept alive
            });
            kiln::task::yield_now().await;
            handle.abort();
            let err = handle.await.unwrap_err();
            assert!(err.is_cancelled(), "{name}: {err:?}");
            assert!(!err.is_panic());
            assert!(dropped.load(SeqCst), "{name}: abort must drop the captures");
        });
    }
}

#[test]
fn abort_through_an_abort_handle_and_after_completion() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let (_tx, rx) = oneshot::channel::<()>();
            let handle = kiln::spawn(async move {
                let _ = rx.await;
            });
            let abort = handle.abort_handle();
            assert!(!abort.is_finished());
            abort.abort();
            assert!(handle.await.unwrap_err().is_cancelled(), "{name}");
            assert!(abort.is_finished());

            // Aborting a finished task changes nothing: its output is still delivered.
            let done = kiln::spawn(async { 9 });
            while !done.is_finished() {
                kiln::task::yield_now().await;
            }
            done.abort();
            assert_eq!(done.await.unwrap(), 9, "{name}");
        });
    }
}

#[test]
fn a_panic_is_contained_and_reported() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let handle = kiln::spawn(async {
                panic!("boom {}", 42);
            });
            let err = handle.await.unwrap_err();
            assert!(err.is_panic(), "{name}");
            assert!(err.to_string().contains("boom 42"), "{name}: {err}");
            let payload = err.into_panic();
            // A formatted message may be a `String`, or a `&str` if the compiler folded it.
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()));
            assert_eq!(message.as_deref(), Some("boom 42"), "{name}");
            // The worker survived: more tasks still run.
            assert_eq!(kiln::spawn(async { 1 }).await.unwrap(), 1, "{name}");
        });
    }
}

#[test]
fn many_panics_never_kill_a_worker() {
    let rt = Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(async {
        let handles: Vec<_> =
            (0..200).map(|i| kiln::spawn(async move { assert!(i % 2 == 0, "odd") })).collect();
        let mut panics = 0;
        for h in handles {
            if h.await.is_err() {
                panics += 1;
            }
        }
        assert_eq!(panics, 100);
        assert_eq!(kiln::spawn(async { "alive" }).await.unwrap(), "alive");
    });
}

#[test]
fn dropping_a_join_handle_detaches_the_task() {
    for (name, rt) in runtimes() {
        let ran = Arc::new(AtomicBool::new(false));
        let ran2 = ran.clone();
        rt.block_on(async move {
            let (tx, rx) = oneshot::channel();
            drop(kiln::spawn(async move {
                kiln::time::sleep(Duration::from_millis(2)).await;
                ran2.store(true, SeqCst);
                let _ = tx.send(());
            }));
            rx.await.unwrap();
        });
        assert!(ran.load(SeqCst), "{name}: a detached task keeps running");
    }
}

#[test]
fn dropping_the_runtime_drops_every_pending_future() {
    for (name, rt) in runtimes() {
        let mut flags = Vec::new();
        let mut handles = Vec::new();
        let mut senders = Vec::new();
        for _ in 0..20 {
            let (guard, dropped) = drop_flag();
            let (tx, rx) = oneshot::channel::<()>();
            senders.push(tx);
            flags.push(dropped);
            handles.push(rt.spawn(async move {
                let _guard = guard;
                let _ = rx.await;
            }));
        }
        // Let them start and park on their channels.
        rt.block_on(async { kiln::time::sleep(Duration::from_millis(5)).await });
        drop(rt);
        for f in &flags {
            assert!(f.load(SeqCst), "{name}: every pending future must be dropped at shutdown");
        }
        // Their handles report cancellation, outside any runtime.
        for h in handles {
            let err = futures::executor::block_on(h).unwrap_err();
            assert!(err.is_cancelled(), "{name}");
        }
        drop(senders);
    }
}

#[test]
fn spawning_on_a_shut_down_runtime_cancels_at_once() {
    let rt = Builder::new_multi_thread().worker_threads(1).build().unwrap();
    let handle = rt.handle().clone();
    drop(rt);
    let (guard, dropped) = drop_flag();
    let join = handle.spawn(async move {
        let _guard = guard;
    });
    assert!(dropped.load(SeqCst));
    assert!(futures::executor::block_on(join).unwrap_err().is_cancelled());
}

#[test]
fn spawning_from_a_thread_outside_the_runtime() {
    for (name, rt) in runtimes() {
        let handle = rt.handle().clone();
        let results: Vec<u32> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4u32)
                .map(|i| {
                    let handle = handle.clone();
                    s.spawn(move || handle.spawn(async move { i + 100 }))
                })
                .collect();
            let joins: Vec<_> = workers.into_iter().map(|t| t.join().unwrap()).collect();
            rt.block_on(async {
                futures::future::join_all(joins).await.into_iter().map(|r| r.unwrap()).collect()
            })
        });
        assert_eq!(results, vec![100, 101, 102, 103], "{name}");
    }
}

#[test]
fn block_on_progresses_while_other_tasks_spin() {
    for (name, rt) in runtimes() {
        let stop = Arc::new(AtomicBool::new(false));
        for _ in 0..3 {
            let stop = stop.clone();
            rt.spawn(async move {
                while !stop.load(SeqCst) {
                    task::yield_now().await;
                }
            });
        }
        let v = rt.block_on(async {
            kiln::time::sleep(Duration::from_millis(5)).await;
            7
        });
        stop.store(true, SeqCst);
        assert_eq!(v, 7, "{name}");
    }
}

#[test]
#[should_panic(expected = "must be called from the context of a Kiln runtime")]
fn spawn_outside_a_runtime_panics_with_a_clear_message() {
    drop(kiln::spawn(async {}));
}

#[test]
#[should_panic(expected = "Cannot start a runtime from within a runtime")]
fn nested_block_on_panics_with_a_clear_message() {
    let rt = Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let inner = Builder::new_current_thread().build().unwrap();
        inner.block_on(async {});
    });
}

#[test]
fn handle_current_and_enter() {
    let rt = Builder::new_multi_thread().worker_threads(1).build().unwrap();
    assert!(Handle::try_current().is_err());
    {
        let _guard = rt.enter();
        let h = Handle::current();
        assert_eq!(h.runtime_flavor(), kiln::runtime::RuntimeFlavor::MultiThread);
        let join = kiln::spawn(async { 3 });
        assert_eq!(rt.block_on(join).unwrap(), 3);
    }
    assert!(Handle::try_current().is_err(), "the guard restores the previous context");
}

#[test]
fn tasks_spawned_by_tasks_spread_over_workers() {
    let rt = Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let seen2 = seen.clone();
    rt.block_on(async move {
        let handles: Vec<_> = (0..200)
            .map(|_| {
                let seen = seen2.clone();
                kiln::spawn(async move {
                    // Busy for a moment so one worker cannot drain them all alone.
                    let until = std::time::Instant::now() + Duration::from_micros(200);
                    while std::time::Instant::now() < until {}
                    seen.lock().unwrap().insert(std::thread::current().id());
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(seen.lock().unwrap().len(), 2, "both workers ran tasks");
}

#[test]
fn two_tasks_that_only_yield_still_spread_over_workers() {
    // A task spawns a child (it goes to the spawner's LIFO slot: nobody is woken) and both
    // compute in slices, yielding in between. A yield wakes no other worker by itself; the
    // worker's periodic maintenance must still hand the queued one to the idle worker, or
    // both would run on one thread forever.
    let rt = Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (seen2, done2) = (seen.clone(), done.clone());
    let parent = rt.spawn(async move {
        let work = |seen: Arc<std::sync::Mutex<std::collections::HashSet<std::thread::ThreadId>>>,
                    done: Arc<std::sync::atomic::AtomicBool>| async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while !done.load(std::sync::atomic::Ordering::SeqCst) && std::time::Instant::now() < deadline {
                let slice = std::time::Instant::now() + Duration::from_micros(50);
                while std::time::Instant::now() < slice {}
                let both = {
                    let mut s = seen.lock().unwrap();
                    s.insert(std::thread::current().id());
                    s.len() == 2
                };
                if both {
                    done.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                kiln::task::yield_now().await;
            }
        };
        let child = kiln::spawn(work(seen2.clone(), done2.clone()));
        work(seen2, done2).await;
        child.await.unwrap();
    });
    rt.block_on(parent).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2, "the second worker took one of the yielding tasks");
}

#[test]
fn a_budget_exhausting_task_does_not_starve_others() {
    // A task that loops on an always-ready resource never returns Pending on its own; the
    // cooperative budget must preempt it so the flag-setting task gets to run.
    for (name, rt) in [
        ("current_thread", Builder::new_current_thread().build().unwrap()),
        ("multi_thread(1)", Builder::new_multi_thread().worker_threads(1).build().unwrap()),
    ] {
        let polls = rt.block_on(async {
            let flag = Arc::new(AtomicBool::new(false));
            let f2 = flag.clone();
            let spinner = kiln::spawn(async move {
                let mut n = 0u64;
                while !f2.load(SeqCst) {
                    kiln::task::consume_budget().await;
                    n += 1;
                }
                n
            });
            let setter = kiln::spawn(async move { flag.store(true, SeqCst) });
            setter.await.unwrap();
            spinner.await.unwrap()
        });
        assert!(polls >= 1, "{name}");
    }
}

#[test]
fn a_ready_join_handle_loop_is_preempted_too() {
    // Awaiting already-finished JoinHandles spends budget as well.
    let rt = Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let flag = Arc::new(AtomicBool::new(false));
        let f2 = flag.clone();
        let spinner = kiln::spawn(async move {
            let done = kiln::spawn(async {});
            kiln::task::yield_now().await;
            let mut done = done;
            while !f2.load(SeqCst) {
                let _ = (&mut done).await;
                done = kiln::spawn(async {});
                task::yield_now().await;
            }
        });
        kiln::spawn(async move { flag.store(true, SeqCst) }).await.unwrap();
        spinner.await.unwrap();
    });
}

#[test]
fn yield_now_lets_queued_tasks_run_first() {
    let rt = Builder::new_current_thread().build().unwrap();
    let order = rt.block_on(async {
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (o1, o2) = (order.clone(), order.clone());
        let a = kiln::spawn(async move {
            o1.lock().unwrap().push("a1");
            task::yield_now().await;
            o1.lock().unwrap().push("a2");
        });
        let b = kiln::spawn(async move {
            o2.lock().unwrap().push("b");
        });
        a.await.unwrap();
        b.await.unwrap();
        let v = order.lock().unwrap().clone();
        v
    });
    assert_eq!(order, vec!["a1", "b", "a2"]);
}

#[test]
fn runtime_drop_waits_for_blocking_tasks_and_shutdown_timeout_does_not() {
    let rt = Builder::new_multi_thread().worker_threads(1).build().unwrap();
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    rt.spawn_blocking(move || {
        s.store(true, SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        f.fetch_add(1, SeqCst);
    });
    wait_until("the blocking task started", || started.load(SeqCst));
    drop(rt);
    assert_eq!(finished.load(SeqCst), 1, "drop waits for running blocking tasks");

    let rt = Builder::new_multi_thread().worker_threads(1).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    rt.spawn_blocking(move || {
        s.store(true, SeqCst);
        let _ = rx.recv(); // blocks until the test releases it
    });
    wait_until("the blocking task started", || started.load(SeqCst));
    rt.shutdown_timeout(Duration::from_millis(10)); // returns although the task still blocks
    tx.send(()).unwrap();
}

/// Reads, when dropped, the value it borrows from its own future's frame.
struct ReadsOnDrop<'a> {
    value: &'a u64,
    seen: Arc<std::sync::atomic::AtomicU64>,
}

impl Drop for ReadsOnDrop<'_> {
    fn drop(&mut self) {
        self.seen.store(*self.value, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_cancelled_future_is_dropped_where_it_was_pinned() {
    // The future borrows its own local: dropping it anywhere but in place would leave the
    // borrow pointing at memory the task reused (and the guard reading garbage).
    const MAGIC: u64 = 0x6b69_6c6e_6b69_6c6e;
    for (name, rt) in runtimes() {
        let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
        rt.block_on(async {
            let (started, started_rx) = oneshot::channel();
            let guard_seen = seen.clone();
            let task = kiln::spawn(async move {
                let value = MAGIC;
                let _guard = ReadsOnDrop { value: &value, seen: guard_seen };
                let _ = started.send(());
                std::future::pending::<()>().await;
            });
            started_rx.await.unwrap();
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled(), "{name}");
        });
        assert_eq!(seen.load(SeqCst), MAGIC, "{name}: the guard read its own frame");
    }
}
