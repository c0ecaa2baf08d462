//! Runtime benchmarks: Tokio's own benchmark shapes, each a criterion group with `kiln` and
//! `tokio` side by side, on the same number of worker threads.
//!
//! Run: `cargo bench --bench runtime` (HTML report in `target/criterion/report/index.html`).
//! `KILN_BENCH_WORKERS` sets the worker count for the multi-thread groups (default 2, the
//! CI machine's cores). `BENCHMARKS.md` records the results and the command.

// `criterion_group!` generates a public function without docs.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures::channel::oneshot;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::Duration;

const NUM_SPAWN: usize = 10_000;
const PING_PONGS: usize = 1_000;
const YIELD_TASKS: usize = 200;
const YIELDS: usize = 1_000;
const CHAIN_DEPTH: usize = 1_000;
const TIMERS: usize = 1_000;
const BLOCKING: usize = 1_000;

fn workers() -> usize {
    std::env::var("KILN_BENCH_WORKERS").ok().and_then(|s| s.parse().ok()).unwrap_or(2)
}

fn kiln_multi() -> kiln::runtime::Runtime {
    kiln::runtime::Builder::new_multi_thread().worker_threads(workers()).enable_all().build().unwrap()
}

fn tokio_multi() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers()).enable_all().build().unwrap()
}

fn kiln_current() -> kiln::runtime::Runtime {
    kiln::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn tokio_current() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn group_name(name: &str) -> String {
    format!("{name} [multi_thread, {} workers]", workers())
}

#[path = "support/paired.rs"]
mod paired;
use paired::Bencher;

/// Writes one benchmark per runtime into a group. `$rt` is the runtime (built once under
/// criterion, once per slice with `KILN_BENCH_PAIRED`: see `paired::PerSlice`); `$spawn`
/// names the runtime's spawn, `$yield_now` its yield; the body is the same code for both.
/// Both runtimes live side by side, so `KILN_BENCH_PAIRED` can interleave them (see
/// `support/paired.rs`).
macro_rules! side_by_side {
    ($c:expr, $group:expr, |$b:ident, $rt:ident, $spawn:ident, $yield_now:ident, $sleep:ident, $timeout:ident, $spawn_blocking:ident| $body:block, $kiln_rt:expr, $tokio_rt:expr) => {{
        // A fresh runtime for every paired slice, dropped after it: see `paired::PerSlice`.
        let mut kiln_rt = paired::PerSlice::new(|| $kiln_rt);
        let mut tokio_rt = paired::PerSlice::new(|| $tokio_rt);
        #[allow(unused_imports)]
        let mut kiln = {
            use kiln::spawn as $spawn;
            use kiln::task::spawn_blocking as $spawn_blocking;
            use kiln::task::yield_now as $yield_now;
            use kiln::time::sleep as $sleep;
            use kiln::time::timeout as $timeout;
            move |$b: &mut Bencher| {
                {
                    let $rt = kiln_rt.get();
                    $body
                }
                kiln_rt.release($b);
            }
        };
        #[allow(unused_imports)]
        let mut tokio = {
            use tokio::spawn as $spawn;
            use tokio::task::spawn_blocking as $spawn_blocking;
            use tokio::task::yield_now as $yield_now;
            use tokio::time::sleep as $sleep;
            use tokio::time::timeout as $timeout;
            move |$b: &mut Bencher| {
                {
                    let $rt = tokio_rt.get();
                    $body
                }
                tokio_rt.release($b);
            }
        };
        paired::compare($c, "runtime", &$group, &mut [("kiln", &mut kiln), ("tokio", &mut tokio)]);
    }};
}

fn spawn_many_local(c: &mut Criterion) {
    side_by_side!(
        c,
        group_name("spawn_many_local"),
        |b, rt, spawn, _y, _s, _t, _sb| {
            let (tx, rx) = mpsc::sync_channel(1);
            let rem = Arc::new(AtomicUsize::new(0));
            b.iter(|| {
                rem.store(NUM_SPAWN, Relaxed);
                let (tx, rem) = (tx.clone(), rem.clone());
                rt.block_on(async move {
                    spawn(async move {
                        for _ in 0..NUM_SPAWN {
                            let (tx, rem) = (tx.clone(), rem.clone());
                            spawn(async move {
                                if rem.fetch_sub(1, Relaxed) == 1 {
                                    tx.send(()).unwrap();
                                }
                            });
                        }
                    });
                });
                rx.recv().unwrap();
            })
        },
        kiln_multi(),
        tokio_multi()
    );
}

fn spawn_many_remote_idle(c: &mut Criterion) {
    side_by_side!(
        c,
        group_name("spawn_many_remote_idle"),
        |b, rt, _spawn, _y, _s, _t, _sb| {
            let mut handles = Vec::with_capacity(NUM_SPAWN);
            b.iter(|| {
                for _ in 0..NUM_SPAWN {
                    handles.push(rt.spawn(async {}));
                }
                rt.block_on(async {
                    for h in handles.drain(..) {
                        h.await.unwrap();
                    }
                });
            })
        },
        kiln_multi(),
        tokio_multi()
    );
}

fn spawn_many_remote_busy(c: &mut Criterion) {
    side_by_side!(
        c,
        group_name("spawn_many_remote_busy"),
        |b, rt, _spawn, yield_now, _s, _t, _sb| {
            // Keep every worker busy with a task that yields forever.
            let stop = Arc::new(AtomicBool::new(false));
            for _ in 0..workers() {
                let stop = stop.clone();
                rt.spawn(async move {
                    while !stop.load(Relaxed) {
                        yield_now().await;
                    }
                });
            }
            let mut handles = Vec::with_capacity(NUM_SPAWN);
            b.iter(|| {
                for _ in 0..NUM_SPAWN {
                    handles.push(rt.spawn(async {}));
                }
                rt.block_on(async {
                    for h in handles.drain(..) {
                        h.await.unwrap();
                    }
                });
            });
            stop.store(true, Relaxed);
        },
        kiln_multi(),
        tokio_multi()
    );
}

fn ping_pong(c: &mut Criterion) {
    side_by_side!(
        c,
        group_name("ping_pong"),
        |b, rt, spawn, _y, _s, _t, _sb| {
            let (done_tx, done_rx) = mpsc::sync_channel(1000);
            let rem = Arc::new(AtomicUsize::new(0));
            b.iter(|| {
                let done_tx = done_tx.clone();
                let rem = rem.clone();
                rem.store(PING_PONGS, Relaxed);
                rt.block_on(async {
                    spawn(async move {
                        for _ in 0..PING_PONGS {
                            let rem = rem.clone();
                            let done_tx = done_tx.clone();
                            spawn(async move {
                                let (tx1, rx1) = oneshot::channel();
                                let (tx2, rx2) = oneshot::channel();
                                spawn(async move {
                                    rx1.await.unwrap();
                                    tx2.send(()).unwrap();
                                });
                                tx1.send(()).unwrap();
                                rx2.await.unwrap();
                                if rem.fetch_sub(1, Relaxed) == 1 {
                                    done_tx.send(()).unwrap();
                                }
                            });
                        }
                    });
                });
                done_rx.recv().unwrap();
            })
        },
        kiln_multi(),
        tokio_multi()
    );
}

fn yield_many(c: &mut Criterion) {
    side_by_side!(
        c,
        group_name("yield_many"),
        |b, rt, _spawn, yield_now, _s, _t, _sb| {
            let (tx, rx) = mpsc::sync_channel(YIELD_TASKS);
            b.iter(|| {
                for _ in 0..YIELD_TASKS {
                    let tx = tx.clone();
                    rt.spawn(async move {
                        for _ in 0..YIELDS {
                            yield_now().await;
                        }
                        tx.send(()).unwrap();
                    });
                }
                for _ in 0..YIELD_TASKS {
                    rx.recv().unwrap();
                }
            });
        },
        kiln_multi(),
        tokio_multi()
    );
}

fn chained_spawn(c: &mut Criterion) {
    side_by_side!(
        c,
        group_name("chained_spawn"),
        |b, rt, spawn, _y, _s, _t, _sb| {
            fn iter(
                done_tx: mpsc::SyncSender<()>,
                n: usize,
                spawn: fn(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>),
            ) {
                if n == 0 {
                    done_tx.send(()).unwrap();
                } else {
                    spawn(Box::pin(async move { iter(done_tx, n - 1, spawn) }));
                }
            }
            let spawner: fn(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) = |f| {
                spawn(f);
            };
            let (done_tx, done_rx) = mpsc::sync_channel(1000);
            b.iter(|| {
                let done_tx = done_tx.clone();
                rt.block_on(async {
                    spawn(async move { iter(done_tx, CHAIN_DEPTH, spawner) });
                });
                done_rx.recv().unwrap();
            })
        },
        kiln_multi(),
        tokio_multi()
    );
}

fn block_on_overhead(c: &mut Criterion) {
    side_by_side!(
        c,
        "block_on [current_thread]",
        |b, rt, _spawn, _y, _s, _t, _sb| { b.iter(|| rt.block_on(async { black_box(1) })) },
        kiln_current(),
        tokio_current()
    );
    side_by_side!(
        c,
        group_name("block_on"),
        |b, rt, _spawn, _y, _s, _t, _sb| { b.iter(|| rt.block_on(async { black_box(1) })) },
        kiln_multi(),
        tokio_multi()
    );
}

fn timers(c: &mut Criterion) {
    side_by_side!(
        c,
        "timeout_ready_x1000 [current_thread]",
        |b, rt, _spawn, _y, _s, timeout, _sb| {
            b.iter(|| {
                rt.block_on(async {
                    for i in 0..TIMERS {
                        black_box(timeout(Duration::from_millis(1), async { i }).await.unwrap());
                    }
                })
            })
        },
        kiln_current(),
        tokio_current()
    );
    side_by_side!(
        c,
        "sleep_register_cancel_x1000 [current_thread]",
        |b, rt, _spawn, _y, sleep, _t, _sb| {
            // Each sleep is polled once (inserted in the wheel) and dropped (removed).
            b.iter(|| {
                rt.block_on(async {
                    let mut sleeps: Vec<_> =
                        (0..TIMERS).map(|i| Box::pin(sleep(Duration::from_millis(10 + i as u64)))).collect();
                    for s in sleeps.iter_mut() {
                        assert!(futures::poll!(s.as_mut()).is_pending());
                    }
                    drop(sleeps);
                })
            })
        },
        kiln_current(),
        tokio_current()
    );
    side_by_side!(
        c,
        group_name("sleep_register_cancel_x1000"),
        |b, rt, spawn, _y, sleep, _t, _sb| {
            b.iter(|| {
                rt.block_on(async {
                    spawn(async {
                        let mut sleeps: Vec<_> = (0..TIMERS)
                            .map(|i| Box::pin(sleep(Duration::from_millis(10 + i as u64))))
                            .collect();
                        for s in sleeps.iter_mut() {
                            assert!(futures::poll!(s.as_mut()).is_pending());
                        }
                    })
                    .await
                    .unwrap();
                })
            })
        },
        kiln_multi(),
        tokio_multi()
    );
}

fn spawn_blocking(c: &mut Criterion) {
    side_by_side!(
        c,
        group_name("spawn_blocking_x1000"),
        |b, rt, _spawn, _y, _s, _t, spawn_blocking| {
            b.iter(|| {
                rt.block_on(async {
                    let handles: Vec<_> =
                        (0..BLOCKING).map(|i| spawn_blocking(move || black_box(i))).collect();
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

fn current_thread_spawn(c: &mut Criterion) {
    side_by_side!(
        c,
        "spawn_and_await_x10 [current_thread]",
        |b, rt, spawn, yield_now, _s, _t, _sb| {
            b.iter(|| {
                rt.block_on(async {
                    let handles: Vec<_> = (0..10)
                        .map(|i| {
                            spawn(async move {
                                yield_now().await;
                                i
                            })
                        })
                        .collect();
                    for h in handles {
                        black_box(h.await.unwrap());
                    }
                })
            })
        },
        kiln_current(),
        tokio_current()
    );
    side_by_side!(
        c,
        "spawn_many_local [current_thread]",
        |b, rt, spawn, _y, _s, _t, _sb| {
            b.iter(|| {
                rt.block_on(async {
                    let handles: Vec<_> = (0..NUM_SPAWN).map(|_| spawn(async {})).collect();
                    for h in handles {
                        h.await.unwrap();
                    }
                })
            })
        },
        kiln_current(),
        tokio_current()
    );
}

/// Week 1: ten simulated downloads of 1–10 ms, awaited one after another, then concurrently.
/// Uses criterion's `to_async`, which Kiln supports through `AsyncExecutor`.
fn week1_sequential_vs_concurrent(c: &mut Criterion) {
    if paired::enabled() {
        return; // timer-bound: both runtimes take the sum of the sleeps; nothing to pair
    }
    let mut group = c.benchmark_group("week1_downloads [current_thread]");
    group.sample_size(10);
    let kiln_rt = kiln_current();
    let tokio_rt = tokio_current();
    group.bench_function(BenchmarkId::new("kiln", "sequential"), |b| {
        b.to_async(&kiln_rt).iter(|| async {
            for ms in 1..=10u64 {
                kiln::time::sleep(Duration::from_millis(ms)).await;
            }
        })
    });
    group.bench_function(BenchmarkId::new("kiln", "concurrent"), |b| {
        b.to_async(&kiln_rt).iter(|| async {
            let handles: Vec<_> =
                (1..=10u64).map(|ms| kiln::spawn(kiln::time::sleep(Duration::from_millis(ms)))).collect();
            for h in handles {
                h.await.unwrap();
            }
        })
    });
    group.bench_function(BenchmarkId::new("tokio", "sequential"), |b| {
        b.to_async(&tokio_rt).iter(|| async {
            for ms in 1..=10u64 {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        })
    });
    group.bench_function(BenchmarkId::new("tokio", "concurrent"), |b| {
        b.to_async(&tokio_rt).iter(|| async {
            let handles: Vec<_> =
                (1..=10u64).map(|ms| tokio::spawn(tokio::time::sleep(Duration::from_millis(ms)))).collect();
            for h in handles {
                h.await.unwrap();
            }
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = spawn_many_local, spawn_many_remote_idle, spawn_many_remote_busy, ping_pong, yield_many,
        chained_spawn, block_on_overhead, timers, spawn_blocking, current_thread_spawn,
        week1_sequential_vs_concurrent
}
criterion_main!(benches);
