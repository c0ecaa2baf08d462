//! Mutex, RwLock, Semaphore, Notify, Barrier, OnceCell — fairness and cancellation.

extern crate kiln_runtime as kiln;

use kiln::sync::{Barrier, Mutex, Notify, OnceCell, RwLock, Semaphore};
use kiln::time::timeout;
use kiln_test_support::runtimes;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

fn assert_send<T: Send>(_: &T) {}

#[test]
fn mutex_is_exclusive_across_awaits() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let m = Arc::new(Mutex::new(0u64));
            let handles: Vec<_> = (0..50)
                .map(|_| {
                    let m = m.clone();
                    kiln::spawn(async move {
                        for _ in 0..20 {
                            let mut g = m.lock().await;
                            let v = *g;
                            kiln::task::yield_now().await; // held across an await
                            *g = v + 1;
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
            assert_eq!(*m.lock().await, 1000, "{name}");
        });
    }
}

#[test]
fn mutex_wakes_waiters_in_fifo_order() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let m = Arc::new(Mutex::new(Vec::new()));
            let guard = m.clone().lock_owned().await;
            assert_send(&guard);
            let mut handles = Vec::new();
            for i in 0..5 {
                let m = m.clone();
                handles.push(kiln::spawn(async move { m.lock().await.push(i) }));
                // Let each queue up before the next.
                kiln::time::sleep(Duration::from_millis(2)).await;
            }
            drop(guard);
            for h in handles {
                h.await.unwrap();
            }
            assert_eq!(*m.lock().await, vec![0, 1, 2, 3, 4], "{name}");
        });
    }
}

#[test]
fn a_lock_cancelled_by_timeout_leaves_the_mutex_usable() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let m = Arc::new(Mutex::new(()));
            let held = m.lock().await;
            assert!(timeout(Duration::from_millis(5), m.lock()).await.is_err(), "{name}");
            drop(held);
            assert!(m.try_lock().is_ok(), "{name}: the cancelled waiter did not keep the lock");
            // Cancel a waiter that was already handed the lock: it must pass it on.
            let held = m.lock().await;
            let waiter = {
                let m = m.clone();
                kiln::spawn(async move {
                    let _ = m.lock().await;
                })
            };
            kiln::task::yield_now().await;
            drop(held); // the lock goes to `waiter`...
            waiter.abort(); // ...which is cancelled, maybe before it ran
            let _ = waiter.await;
            let _guard = timeout(Duration::from_secs(5), m.lock()).await.expect("the lock was not lost");
        });
    }
}

#[test]
fn rwlock_readers_share_and_writers_are_preferred() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let l = Arc::new(RwLock::new(0));
            let r1 = l.read().await;
            let r2 = l.read().await;
            assert_eq!(*r1 + *r2, 0);
            assert!(l.try_write().is_err());
            let writer = {
                let l = l.clone();
                kiln::spawn(async move {
                    *l.write().await += 1;
                })
            };
            kiln::time::sleep(Duration::from_millis(2)).await;
            // A writer is queued: a new reader must wait behind it (write preference).
            assert!(l.try_read().is_err(), "{name}: readers must not overtake a queued writer");
            drop((r1, r2));
            writer.await.unwrap();
            assert_eq!(*l.read().await, 1, "{name}");
        });
    }
}

#[test]
fn semaphore_basics_close_and_forget() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let s = Semaphore::new(3);
            let a = s.acquire_many(2).await.unwrap();
            assert_eq!(s.available_permits(), 1);
            assert!(s.try_acquire_many(2).is_err());
            let b = s.try_acquire().unwrap();
            assert_eq!(s.available_permits(), 0);
            drop(a);
            assert_eq!(s.available_permits(), 2);
            b.forget();
            assert_eq!(s.available_permits(), 2, "{name}: a forgotten permit is gone");
            s.add_permits(3);
            assert_eq!(s.available_permits(), 5);
            assert_eq!(s.forget_permits(4), 4);
            s.close();
            assert!(s.acquire().await.is_err());
            assert_eq!(s.try_acquire().unwrap_err(), kiln::sync::TryAcquireError::Closed);
        });
    }
}

#[test]
fn close_fails_queued_acquires() {
    let rt = kiln::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(async {
        let s = Arc::new(Semaphore::new(0));
        let waiters: Vec<_> = (0..3).map(|_| kiln::spawn(s.clone().acquire_owned())).collect();
        kiln::time::sleep(Duration::from_millis(5)).await;
        s.close();
        for w in waiters {
            assert!(w.await.unwrap().is_err());
        }
    });
}

#[test]
fn a_large_request_is_not_overtaken_and_cancel_returns_partial_permits() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let s = Arc::new(Semaphore::new(2));
            let held = s.clone().acquire_many_owned(2).await.unwrap();
            let big = {
                let s = s.clone();
                kiln::spawn(async move { s.acquire_many_owned(3).await.unwrap() })
            };
            kiln::time::sleep(Duration::from_millis(2)).await;
            drop(held); // 2 permits go to `big`, which needs 3
            assert_eq!(s.available_permits(), 0, "{name}: handed to the queued big request");
            assert!(s.try_acquire().is_err(), "{name}: a small request cannot overtake it");
            big.abort();
            assert!(big.await.is_err());
            assert_eq!(s.available_permits(), 2, "{name}: the cancelled request gave its permits back");
        });
    }
}

#[test]
fn stress_1000_tasks_on_5_permits() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let s = Arc::new(Semaphore::new(5));
            let inside = Arc::new(AtomicUsize::new(0));
            let peak = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..1000)
                .map(|i| {
                    let (s, inside, peak) = (s.clone(), inside.clone(), peak.clone());
                    kiln::spawn(async move {
                        let wait = s.acquire();
                        // A tenth of the waits are cancelled by a short timeout.
                        let permit = if i % 10 == 0 {
                            match timeout(Duration::from_micros(50), wait).await {
                                Ok(p) => p.unwrap(),
                                Err(_) => return,
                            }
                        } else {
                            wait.await.unwrap()
                        };
                        let now = inside.fetch_add(1, SeqCst) + 1;
                        peak.fetch_max(now, SeqCst);
                        kiln::task::yield_now().await;
                        inside.fetch_sub(1, SeqCst);
                        drop(permit);
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
            assert!(peak.load(SeqCst) <= 5, "{name}: never more than 5 inside");
            assert_eq!(s.available_permits(), 5, "{name}: exactly 5 permits free at the end");
        });
    }
}

/// Polls `f` once with a waker that does nothing.
fn poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    f.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

/// Many waits cancelled between the ones that stay (timeouts around `acquire` in a busy
/// service): the wait list leaves holes and compacts them, and the waiters that stay must
/// still be served in the order they came, one by one. The futures are polled by hand, outside
/// any runtime, so the order they queue in is exact (and no cooperative budget runs out).
#[test]
fn waiters_that_stay_are_served_in_order_across_thousands_of_cancelled_waits() {
    let s = Semaphore::new(0);
    let n = Notify::new();
    let mut acquires = Vec::new();
    let mut notifieds = Vec::new();
    for _ in 0..20 {
        // A hundred waits queue, then one that stays, then the hundred give up: holes in the
        // middle of the list, between this one and the one before.
        let mut gone_acquires: Vec<_> = (0..100).map(|_| Box::pin(s.acquire())).collect();
        let mut gone_notifieds: Vec<_> = (0..100).map(|_| Box::pin(n.notified())).collect();
        for f in &mut gone_acquires {
            assert!(poll_once(f.as_mut()).is_pending());
        }
        for f in &mut gone_notifieds {
            assert!(poll_once(f.as_mut()).is_pending());
        }
        let mut stay = Box::pin(s.acquire());
        assert!(poll_once(stay.as_mut()).is_pending());
        acquires.push(stay);
        let mut stay = Box::pin(n.notified());
        assert!(poll_once(stay.as_mut()).is_pending());
        notifieds.push(stay);
        drop(gone_acquires);
        drop(gone_notifieds);
    }
    for i in 0..acquires.len() {
        s.add_permits(1);
        n.notify_one();
        match poll_once(acquires[i].as_mut()) {
            std::task::Poll::Ready(permit) => permit.unwrap().forget(),
            std::task::Poll::Pending => panic!("acquire {i} should be served next"),
        }
        assert!(poll_once(notifieds[i].as_mut()).is_ready(), "notified {i} should be woken next");
        if let Some(next) = acquires.get_mut(i + 1) {
            assert!(poll_once(next.as_mut()).is_pending(), "one permit serves one waiter");
        }
        if let Some(next) = notifieds.get_mut(i + 1) {
            assert!(poll_once(next.as_mut()).is_pending(), "one notify_one wakes one waiter");
        }
    }
    assert_eq!(s.available_permits(), 0, "every permit went to a waiter that stayed");
}

#[test]
fn notify_one_stores_one_permit_and_notify_waiters_none() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let n = Notify::new();
            n.notify_one();
            n.notify_one(); // still one permit
            n.notified().await;
            assert!(
                timeout(Duration::from_millis(5), n.notified()).await.is_err(),
                "{name}: only one permit"
            );
            n.notify_waiters(); // nobody waits: nothing stored
            assert!(timeout(Duration::from_millis(5), n.notified()).await.is_err(), "{name}");
            // A Notified created before notify_waiters completes even if polled after.
            let early = n.notified();
            n.notify_waiters();
            timeout(Duration::from_secs(5), early).await.expect("created before notify_waiters");
        });
    }
}

#[test]
fn notify_wakes_in_fifo_order_and_a_cancelled_waiter_passes_it_on() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let n = Arc::new(Notify::new());
            let order = Arc::new(std::sync::Mutex::new(Vec::new()));
            let mut handles = Vec::new();
            for i in 0..3 {
                let (n, order) = (n.clone(), order.clone());
                handles.push(kiln::spawn(async move {
                    n.notified().await;
                    order.lock().unwrap().push(i);
                }));
                kiln::time::sleep(Duration::from_millis(2)).await;
            }
            for _ in 0..3 {
                n.notify_one();
                kiln::time::sleep(Duration::from_millis(2)).await;
            }
            for h in handles {
                h.await.unwrap();
            }
            assert_eq!(*order.lock().unwrap(), vec![0, 1, 2], "{name}");

            // A waiter handed a notify_one and then dropped passes it to the next one.
            let first = {
                let n = n.clone();
                kiln::spawn(async move { n.notified().await })
            };
            kiln::time::sleep(Duration::from_millis(2)).await;
            let second = {
                let n = n.clone();
                kiln::spawn(async move { n.notified().await })
            };
            kiln::time::sleep(Duration::from_millis(2)).await;
            n.notify_one(); // goes to `first`...
            first.abort(); // ...which is cancelled, unless (on several workers) it ran already
            match first.await {
                // It consumed the notification before the abort landed: legitimate.
                Ok(()) => {
                    assert_ne!(name, "current_thread", "nothing runs between notify_one and abort here");
                    n.notify_one();
                }
                // Cancelled while holding it: the notification must reach `second`.
                Err(e) => assert!(e.is_cancelled()),
            }
            timeout(Duration::from_secs(5), second).await.expect("the notification was lost").unwrap();
        });
    }
}

#[test]
fn barrier_releases_all_with_one_leader_and_is_reusable() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let b = Arc::new(Barrier::new(3));
            for _round in 0..2 {
                let handles: Vec<_> = (0..3)
                    .map(|_| {
                        let b = b.clone();
                        kiln::spawn(async move { b.wait().await.is_leader() })
                    })
                    .collect();
                let mut leaders = 0;
                for h in handles {
                    leaders += usize::from(h.await.unwrap());
                }
                assert_eq!(leaders, 1, "{name}");
            }
        });
    }
}

#[test]
fn once_cell_initialises_once_and_retries_after_cancellation() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let cell = Arc::new(OnceCell::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..10)
                .map(|_| {
                    let (cell, runs) = (cell.clone(), runs.clone());
                    kiln::spawn(async move {
                        *cell
                            .get_or_init(|| async {
                                runs.fetch_add(1, SeqCst);
                                kiln::time::sleep(Duration::from_millis(2)).await;
                                7
                            })
                            .await
                    })
                })
                .collect();
            for h in handles {
                assert_eq!(h.await.unwrap(), 7);
            }
            assert_eq!(runs.load(SeqCst), 1, "{name}");
            assert!(matches!(cell.set(8), Err(kiln::sync::SetError::AlreadyInitializedError(8))));

            let cell = OnceCell::<u32>::new();
            let cancelled = timeout(Duration::from_millis(2), cell.get_or_init(std::future::pending)).await;
            assert!(cancelled.is_err());
            assert_eq!(
                *cell.get_or_init(|| async { 3 }).await,
                3,
                "{name}: a cancelled init lets the next one run"
            );
            let empty = OnceCell::<u32>::new();
            let failed = empty.get_or_try_init(|| async { Err("no") }).await;
            assert_eq!(failed, Err("no"));
            assert!(!empty.initialized(), "{name}: a failed init leaves the cell empty");
        });
    }
}
