//! Sync benchmarks: Tokio's `sync_*` benchmark shapes, each a criterion group with `kiln` and
//! `tokio` doing the same work with the same worker count.
//!
//! Run: `cargo bench --bench sync`; `scripts/bench-report` tabulates the ratios.

// `criterion_group!` generates a public function without docs.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

fn workers() -> usize {
    std::env::var("KILN_BENCH_WORKERS").ok().and_then(|s| s.parse().ok()).unwrap_or(2)
}

fn kiln_multi() -> kiln::runtime::Runtime {
    kiln::runtime::Builder::new_multi_thread().worker_threads(workers()).build().unwrap()
}
fn tokio_multi() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers()).enable_all().build().unwrap()
}
fn kiln_current() -> kiln::runtime::Runtime {
    kiln::runtime::Builder::new_current_thread().build().unwrap()
}
fn tokio_current() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn multi(name: &str) -> String {
    format!("{name} [multi_thread, {} workers]", workers())
}

#[path = "support/paired.rs"]
mod paired;
use paired::Bencher;

/// One benchmark per runtime in one group; `$sync`, `$spawn` and `$yield_now` name the
/// runtime's module and functions, so the body is the same code for both. Both runtimes live
/// side by side, so `KILN_BENCH_PAIRED` can interleave them (see `support/paired.rs`); with it
/// they are built afresh for every slice and dropped after it (`paired::PerSlice`).
macro_rules! both {
    ($c:expr, $group:expr, |$b:ident, $rt:ident, $sync:ident, $spawn:ident, $yield_now:ident| $body:block, $kiln_rt:expr, $tokio_rt:expr) => {{
        // A fresh runtime for every paired slice, dropped after it: see `paired::PerSlice`.
        let mut kiln_rt = paired::PerSlice::new(|| $kiln_rt);
        let mut tokio_rt = paired::PerSlice::new(|| $tokio_rt);
        #[allow(unused_imports, unused_variables)]
        let mut kiln = {
            use kiln::spawn as $spawn;
            use kiln::sync as $sync;
            use kiln::task::yield_now as $yield_now;
            move |$b: &mut Bencher| {
                {
                    let $rt = kiln_rt.get();
                    $body
                }
                kiln_rt.release($b);
            }
        };
        #[allow(unused_imports, unused_variables)]
        let mut tokio = {
            use tokio::spawn as $spawn;
            use tokio::sync as $sync;
            use tokio::task::yield_now as $yield_now;
            move |$b: &mut Bencher| {
                {
                    let $rt = tokio_rt.get();
                    $body
                }
                tokio_rt.release($b);
            }
        };
        paired::compare($c, "sync", &$group, &mut [("kiln", &mut kiln), ("tokio", &mut tokio)]);
    }};
}

fn mpsc_create(c: &mut Criterion) {
    both!(
        c,
        "mpsc_create_cap100",
        |b, rt, sync, spawn, y| { b.iter(|| black_box(sync::mpsc::channel::<usize>(100))) },
        (),
        ()
    );
}

fn mpsc_send(c: &mut Criterion) {
    both!(
        c,
        "mpsc_send_recv_512B_x1000 [current_thread]",
        |b, rt, sync, spawn, y| {
            b.iter(|| {
                rt.block_on(async {
                    let (tx, mut rx) = sync::mpsc::channel::<[u8; 512]>(1000);
                    for i in 0..1000 {
                        tx.send([i as u8; 512]).await.unwrap();
                    }
                    for _ in 0..1000 {
                        black_box(rx.recv().await.unwrap());
                    }
                })
            })
        },
        kiln_current(),
        tokio_current()
    );
    both!(
        c,
        "mpsc_send_recv_32KiB_x100 [current_thread]",
        |b, rt, sync, spawn, y| {
            b.iter(|| {
                rt.block_on(async {
                    let (tx, mut rx) = sync::mpsc::channel::<Box<[u8; 32768]>>(100);
                    for i in 0..100 {
                        tx.send(Box::new([i as u8; 32768])).await.unwrap();
                    }
                    for _ in 0..100 {
                        black_box(rx.recv().await.unwrap());
                    }
                })
            })
        },
        kiln_current(),
        tokio_current()
    );
}

/// Five producers × 1,000 messages into one consumer; `$make` builds the channel, `$send`
/// sends one message, `$many` picks `recv_many` over `recv`.
macro_rules! contention {
    ($c:expr, $name:expr, |$sync:ident| $make:expr, |$tx:ident, $i:ident| $send:expr, $many:expr) => {
        both!(
            $c,
            multi($name),
            |b, rt, $sync, spawn, y| {
                b.iter(|| {
                    rt.block_on(async {
                        let (tx, mut rx) = $make;
                        for _ in 0..5 {
                            let $tx = tx.clone();
                            spawn(async move {
                                for $i in 0..1000usize {
                                    $send;
                                }
                            });
                        }
                        drop(tx);
                        let mut n = 0;
                        if $many {
                            let mut buf = Vec::with_capacity(64);
                            while rx.recv_many(&mut buf, 64).await > 0 {
                                n += buf.len();
                                buf.clear();
                            }
                        } else {
                            while rx.recv().await.is_some() {
                                n += 1;
                            }
                        }
                        assert_eq!(n, 5000);
                    })
                })
            },
            kiln_multi(),
            tokio_multi()
        );
    };
}

fn mpsc_contention(c: &mut Criterion) {
    for many in [false, true] {
        let suffix = if many { "_recv_many" } else { "" };
        contention!(
            c,
            &format!("mpsc_contention_bounded{suffix}_5x1000"),
            |sync| sync::mpsc::channel::<usize>(1_000_000),
            |tx, i| tx.send(i).await.unwrap(),
            many
        );
        contention!(
            c,
            &format!("mpsc_contention_bounded_full{suffix}_5x1000"),
            |sync| sync::mpsc::channel::<usize>(100),
            |tx, i| tx.send(i).await.unwrap(),
            many
        );
        contention!(
            c,
            &format!("mpsc_contention_unbounded{suffix}_5x1000"),
            |sync| sync::mpsc::unbounded_channel::<usize>(),
            |tx, i| tx.send(i).unwrap(),
            many
        );
    }
}

fn mpsc_uncontended(c: &mut Criterion) {
    both!(
        c,
        "mpsc_uncontended_bounded_5000 [current_thread]",
        |b, rt, sync, spawn, y| {
            b.iter(|| {
                rt.block_on(async {
                    let (tx, mut rx) = sync::mpsc::channel::<usize>(1_000_000);
                    for i in 0..5000 {
                        tx.send(i).await.unwrap();
                    }
                    for _ in 0..5000 {
                        black_box(rx.recv().await.unwrap());
                    }
                })
            })
        },
        kiln_current(),
        tokio_current()
    );
    both!(
        c,
        "mpsc_uncontended_unbounded_5000 [current_thread]",
        |b, rt, sync, spawn, y| {
            b.iter(|| {
                rt.block_on(async {
                    let (tx, mut rx) = sync::mpsc::unbounded_channel::<usize>();
                    for i in 0..5000 {
                        tx.send(i).unwrap();
                    }
                    for _ in 0..5000 {
                        black_box(rx.recv().await.unwrap());
                    }
                })
            })
        },
        kiln_current(),
        tokio_current()
    );
}

fn request_reply(c: &mut Criterion) {
    both!(
        c,
        "oneshot_request_reply_x1000 [current_thread]",
        |b, rt, sync, spawn, y| {
            let (tx, mut rx) = rt.block_on(async { sync::mpsc::channel::<sync::oneshot::Sender<()>>(10) });
            rt.spawn(async move {
                while let Some(reply) = rx.recv().await {
                    let _ = reply.send(());
                }
            });
            b.iter(|| {
                rt.block_on(async {
                    for _ in 0..1000 {
                        let (reply_tx, reply_rx) = sync::oneshot::channel();
                        tx.send(reply_tx).await.unwrap();
                        reply_rx.await.unwrap();
                    }
                })
            })
        },
        kiln_current(),
        tokio_current()
    );
}

fn broadcast(c: &mut Criterion) {
    for receivers in [10usize, 100, 500, 1000] {
        both!(
            c,
            multi(&format!("broadcast_contention_{receivers}rx_x100")),
            |b, rt, sync, spawn, y| {
                b.iter(|| {
                    rt.block_on(async {
                        let (tx, _keep) = sync::broadcast::channel::<usize>(1000);
                        let done = Arc::new(AtomicUsize::new(0));
                        let handles: Vec<_> = (0..receivers)
                            .map(|_| {
                                let mut rx = tx.subscribe();
                                spawn(async move {
                                    for _ in 0..100 {
                                        black_box(rx.recv().await.unwrap());
                                    }
                                })
                            })
                            .collect();
                        for i in 0..100 {
                            tx.send(i).unwrap();
                            y().await;
                        }
                        for h in handles {
                            h.await.unwrap();
                        }
                        done.fetch_add(1, SeqCst);
                    })
                })
            },
            kiln_multi(),
            tokio_multi()
        );
    }
}

fn watch(c: &mut Criterion) {
    for receivers in [10usize, 100] {
        both!(
            c,
            multi(&format!("watch_contention_{receivers}rx_x100")),
            |b, rt, sync, spawn, y| {
                b.iter(|| {
                    rt.block_on(async {
                        let (tx, rx) = sync::watch::channel(0usize);
                        let handles: Vec<_> = (0..receivers)
                            .map(|_| {
                                let mut rx = rx.clone();
                                spawn(async move {
                                    while rx.changed().await.is_ok() {
                                        black_box(*rx.borrow());
                                    }
                                })
                            })
                            .collect();
                        for i in 0..100 {
                            tx.send(i).unwrap();
                            y().await;
                        }
                        drop(tx);
                        for h in handles {
                            h.await.unwrap();
                        }
                    })
                })
            },
            kiln_multi(),
            tokio_multi()
        );
    }
}

fn notify(c: &mut Criterion) {
    for waiters in [10usize, 100] {
        for all in [false, true] {
            let name = if all { "notify_waiters" } else { "notify_one" };
            both!(
                c,
                multi(&format!("{name}_{waiters}_waiters_500_wakeups")),
                |b, rt, sync, spawn, y| {
                    b.iter(|| {
                        rt.block_on(async {
                            let notify = Arc::new(sync::Notify::new());
                            let count = Arc::new(AtomicUsize::new(0));
                            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                            let handles: Vec<_> = (0..waiters)
                                .map(|_| {
                                    let (notify, count, stop) = (notify.clone(), count.clone(), stop.clone());
                                    spawn(async move {
                                        while !stop.load(SeqCst) {
                                            notify.notified().await;
                                            count.fetch_add(1, SeqCst);
                                        }
                                    })
                                })
                                .collect();
                            while count.load(SeqCst) < 500 {
                                if all {
                                    notify.notify_waiters();
                                } else {
                                    notify.notify_one();
                                }
                                y().await;
                            }
                            stop.store(true, SeqCst);
                            for h in handles {
                                // Wake each one that is still waiting until all have exited.
                                while !h.is_finished() {
                                    notify.notify_waiters();
                                    y().await;
                                }
                            }
                        })
                    })
                },
                kiln_multi(),
                tokio_multi()
            );
        }
    }
}

fn semaphore_and_locks(c: &mut Criterion) {
    both!(
        c,
        "semaphore_uncontended_6_acquires [current_thread]",
        |b, rt, sync, spawn, y| {
            let s = sync::Semaphore::new(10);
            b.iter(|| {
                rt.block_on(async {
                    for _ in 0..6 {
                        drop(black_box(s.acquire().await.unwrap()));
                    }
                })
            })
        },
        kiln_current(),
        tokio_current()
    );
    both!(
        c,
        multi("semaphore_contended_6_tasks_5_permits"),
        |b, rt, sync, spawn, y| {
            let s = Arc::new(sync::Semaphore::new(5));
            b.iter(|| {
                rt.block_on(async {
                    let handles: Vec<_> = (0..6)
                        .map(|_| {
                            let s = s.clone();
                            spawn(async move {
                                let _p = s.acquire().await.unwrap();
                                y().await;
                            })
                        })
                        .collect();
                    for h in handles {
                        h.await.unwrap();
                    }
                })
            })
        },
        kiln_multi(),
        tokio_multi()
    );
    both!(
        c,
        "rwlock_uncontended_6_reads [current_thread]",
        |b, rt, sync, spawn, y| {
            let l = sync::RwLock::new(0usize);
            b.iter(|| {
                rt.block_on(async {
                    for _ in 0..6 {
                        black_box(*l.read().await);
                    }
                })
            })
        },
        kiln_current(),
        tokio_current()
    );
    both!(
        c,
        multi("rwlock_contended_writer_and_6_readers"),
        |b, rt, sync, spawn, y| {
            let l = Arc::new(sync::RwLock::new(0usize));
            b.iter(|| {
                rt.block_on(async {
                    let w = l.write().await;
                    let handles: Vec<_> = (0..6)
                        .map(|_| {
                            let l = l.clone();
                            spawn(async move { black_box(*l.read().await) })
                        })
                        .collect();
                    y().await;
                    drop(w);
                    for h in handles {
                        h.await.unwrap();
                    }
                })
            })
        },
        kiln_multi(),
        tokio_multi()
    );
    both!(
        c,
        multi("mutex_contended_6_tasks_x100"),
        |b, rt, sync, spawn, y| {
            let m = Arc::new(sync::Mutex::new(0usize));
            b.iter(|| {
                rt.block_on(async {
                    let handles: Vec<_> = (0..6)
                        .map(|_| {
                            let m = m.clone();
                            spawn(async move {
                                for _ in 0..100 {
                                    *m.lock().await += 1;
                                    y().await;
                                }
                            })
                        })
                        .collect();
                    for h in handles {
                        h.await.unwrap();
                    }
                })
            })
        },
        kiln_multi(),
        tokio_multi()
    );
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = mpsc_create, mpsc_send, mpsc_contention, mpsc_uncontended, request_reply, broadcast, watch,
        notify, semaphore_and_locks
}
criterion_main!(benches);
