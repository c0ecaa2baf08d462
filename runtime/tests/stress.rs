//! Stress: many tasks waking each other across threads, with aborts and panics mixed in.
//! Run repeatedly; a lost wake-up shows as a hang (caught by the watchdog), a double-run or
//! a use-after-free as a wrong count or a crash.

extern crate kiln_runtime as kiln;

use futures::channel::{mpsc, oneshot};
use futures::{SinkExt, StreamExt};
use kiln::runtime::Builder;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use kiln_test_support::with_watchdog;

#[test]
fn ping_pong_rings_across_workers() {
    with_watchdog("ping-pong rings", || {
        for workers in [2, 3] {
            let rt = Builder::new_multi_thread().worker_threads(workers).build().unwrap();
            rt.block_on(async {
                // 50 rings of 4 tasks passing a token 200 times round each ring.
                let mut rings = Vec::new();
                for _ in 0..50 {
                    let (first_tx, mut prev_rx) = mpsc::channel::<u32>(1);
                    let mut tasks = Vec::new();
                    for _ in 0..3 {
                        let (tx, rx) = mpsc::channel::<u32>(1);
                        let mut inbox = std::mem::replace(&mut prev_rx, rx);
                        let mut out = tx;
                        tasks.push(kiln::spawn(async move {
                            while let Some(v) = inbox.next().await {
                                if out.send(v + 1).await.is_err() {
                                    break;
                                }
                            }
                        }));
                    }
                    let mut first_tx = first_tx;
                    let mut last_rx = prev_rx;
                    rings.push(kiln::spawn(async move {
                        let mut total = 0;
                        for _ in 0..200 {
                            first_tx.send(0).await.unwrap();
                            total += last_rx.next().await.unwrap();
                        }
                        drop(first_tx);
                        for t in tasks {
                            t.await.unwrap();
                        }
                        total
                    }));
                }
                for r in rings {
                    assert_eq!(r.await.unwrap(), 600);
                }
            });
        }
    });
}

#[test]
fn spawn_storm_with_aborts_and_panics() {
    with_watchdog("spawn storm", || {
        let rt = Builder::new_multi_thread().worker_threads(2).build().unwrap();
        let completed = Arc::new(AtomicUsize::new(0));
        let c = completed.clone();
        let (ok, cancelled, panicked) = rt.block_on(async move {
            let mut handles = Vec::new();
            for i in 0..20_000u32 {
                let c = c.clone();
                handles.push(kiln::spawn(async move {
                    if i % 7 == 0 {
                        kiln::task::yield_now().await;
                    }
                    if i % 13 == 0 {
                        panic!("planned");
                    }
                    if i % 11 == 0 {
                        std::future::pending::<()>().await;
                    }
                    c.fetch_add(1, SeqCst);
                }));
            }
            for (i, h) in handles.iter().enumerate() {
                if i % 11 == 0 {
                    h.abort();
                }
            }
            let (mut ok, mut cancelled, mut panicked) = (0, 0, 0);
            for h in handles {
                match h.await {
                    Ok(()) => ok += 1,
                    Err(e) if e.is_cancelled() => cancelled += 1,
                    Err(e) if e.is_panic() => panicked += 1,
                    Err(e) => panic!("{e}"),
                }
            }
            (ok, cancelled, panicked)
        });
        assert_eq!(ok + cancelled + panicked, 20_000);
        assert_eq!(ok, completed.load(SeqCst));
        // Multiples of 13 panic unless aborted first (multiples of 143 may go either way).
        let pure_13 = (0..20_000).filter(|i| i % 13 == 0 && i % 11 != 0).count();
        let pure_11 = (0..20_000).filter(|i| i % 11 == 0 && i % 13 != 0).count();
        assert!(panicked >= pure_13, "{panicked} < {pure_13}");
        assert!(cancelled >= pure_11, "{cancelled} < {pure_11}");
        // A JoinHandle is woken the moment its task completes, just before the worker drops
        // the task from the owned list, so the count settles a moment later.
        let metrics = rt.handle().metrics();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while metrics.num_alive_tasks() != 0 {
            assert!(std::time::Instant::now() < deadline, "tasks leaked: {metrics:?}");
            std::thread::yield_now();
        }
    });
}

#[test]
fn remote_wakes_from_many_threads() {
    with_watchdog("remote wakes", || {
        let rt = Builder::new_multi_thread().worker_threads(2).build().unwrap();
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..2_000 {
            let (tx, rx) = oneshot::channel::<u32>();
            senders.push(tx);
            handles.push(rt.spawn(async move { rx.await.unwrap() }));
        }
        // Four plain threads complete the channels, waking tasks from outside the runtime.
        let chunks: Vec<Vec<_>> = {
            let mut chunks: Vec<Vec<_>> = (0..4).map(|_| Vec::new()).collect();
            for (i, s) in senders.into_iter().enumerate() {
                chunks[i % 4].push((i as u32, s));
            }
            chunks
        };
        let threads: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                std::thread::spawn(move || {
                    for (i, s) in chunk {
                        s.send(i).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let sum: u64 = rt.block_on(async {
            let mut sum = 0u64;
            for h in handles {
                sum += h.await.unwrap() as u64;
            }
            sum
        });
        assert_eq!(sum, (0..2_000u64).sum::<u64>());
    });
}

#[test]
fn repeated_runtime_build_and_drop_with_live_tasks() {
    with_watchdog("build/drop cycles", || {
        for i in 0..50 {
            let rt = if i % 2 == 0 {
                Builder::new_multi_thread().worker_threads(2).build().unwrap()
            } else {
                Builder::new_current_thread().build().unwrap()
            };
            for _ in 0..20 {
                rt.spawn(async {
                    loop {
                        kiln::time::sleep(Duration::from_millis(1)).await;
                    }
                });
            }
            rt.block_on(async { kiln::time::sleep(Duration::from_millis(2)).await });
            drop(rt);
        }
    });
}
