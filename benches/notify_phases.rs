//! The notify benchmark taken apart: where an iteration's time goes, for Kiln and Tokio.
//!
//! `benches/sync.rs` times each `notify_*` iteration whole: spawn N waiting tasks, notify
//! until they have counted 500 wake-ups, stop them. That total hides two regimes. While the
//! notifier keeps ahead of the tasks, a running task finds a permit already stored and goes
//! round its loop without suspending (cheap); once tasks fall behind into the wait list,
//! every notification pops a waiter and wakes it through the scheduler (dear). Which regime
//! an iteration is in swings with thread placement, so the whole-iteration ratio swings too.
//!
//! This bench shows the parts: the mean time per iteration (what `sync.rs` compares), and
//! the median of each phase (spawn, notify loop, stop). It also runs each shape with the
//! notifier slowed by a few `pause` instructions per turn, which puts nearly every wake-up
//! through the wait list on both runtimes: the wait path compared on its own, whichever
//! regime the unslowed run happened to fall into.
//!
//! Both sides alternate, each on a fresh two-worker runtime per round (as `KILN_BENCH_PAIRED`
//! does in the other benches), so both see the same machine.
//!
//! Run: `cargo bench --bench notify_phases` (about a minute). `KILN_PHASES_ROUNDS` sets the
//! rounds per shape (default 20, 100 iterations each).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAKEUPS: usize = 500;
const ITERATIONS_PER_ROUND: usize = 100;

/// One shape of the benchmark.
#[derive(Clone, Copy)]
struct Shape {
    waiters: usize,
    /// `notify_waiters` instead of `notify_one`.
    all: bool,
    /// `pause`s the notifier spends per turn, to hold both runtimes in the wait-list regime.
    pauses: usize,
}

/// Microseconds spent in each phase of one iteration.
#[derive(Clone, Copy)]
struct Phases {
    spawn: f64,
    notify: f64,
    stop: f64,
}

impl Phases {
    fn total(&self) -> f64 {
        self.spawn + self.notify + self.stop
    }
}

/// One iteration, as in `benches/sync.rs`, with the phase boundaries timed. A macro, not a
/// generic function, because the two runtimes share no trait for `spawn`.
macro_rules! iteration {
    ($rt:expr, $sync:path, $spawn:path, $yield_now:path, $shape:expr) => {{
        use $sync as sync;
        let shape: Shape = $shape;
        $rt.block_on(async {
            let t0 = Instant::now();
            let notify = Arc::new(sync::Notify::new());
            let count = Arc::new(AtomicUsize::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let handles: Vec<_> = (0..shape.waiters)
                .map(|_| {
                    let (notify, count, stop) = (notify.clone(), count.clone(), stop.clone());
                    $spawn(async move {
                        while !stop.load(SeqCst) {
                            notify.notified().await;
                            count.fetch_add(1, SeqCst);
                        }
                    })
                })
                .collect();
            let t1 = Instant::now();
            while count.load(SeqCst) < WAKEUPS {
                if shape.all {
                    notify.notify_waiters();
                } else {
                    notify.notify_one();
                }
                for _ in 0..shape.pauses {
                    std::hint::spin_loop();
                }
                $yield_now().await;
            }
            let t2 = Instant::now();
            stop.store(true, SeqCst);
            for h in handles {
                while !h.is_finished() {
                    notify.notify_waiters();
                    $yield_now().await;
                }
            }
            let t3 = Instant::now();
            let us = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e6;
            Phases { spawn: us(t0, t1), notify: us(t1, t2), stop: us(t2, t3) }
        })
    }};
}

fn kiln_round(shape: Shape, out: &mut Vec<Phases>) {
    let rt = kiln::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    std::thread::sleep(Duration::from_millis(2)); // let the workers start and park
    for _ in 0..ITERATIONS_PER_ROUND {
        out.push(iteration!(rt, kiln::sync, kiln::spawn, kiln::task::yield_now, shape));
    }
}

fn tokio_round(shape: Shape, out: &mut Vec<Phases>) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    std::thread::sleep(Duration::from_millis(2));
    for _ in 0..ITERATIONS_PER_ROUND {
        out.push(iteration!(rt, tokio::sync, tokio::spawn, tokio::task::yield_now, shape));
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// `mean µs | spawn / notify / stop medians`, for one side.
fn describe(p: &[Phases]) -> String {
    let total: Vec<f64> = p.iter().map(Phases::total).collect();
    format!(
        "{:6.1} µs | {:4.0} / {:4.0} / {:4.0}",
        mean(&total),
        median(p.iter().map(|x| x.spawn).collect()),
        median(p.iter().map(|x| x.notify).collect()),
        median(p.iter().map(|x| x.stop).collect()),
    )
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too, briefly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds: usize = std::env::var("KILN_PHASES_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2 } else { 20 });
    println!(
        "notify phases: {rounds} rounds x {ITERATIONS_PER_ROUND} iterations per side and shape, 2 workers"
    );
    println!("mean per iteration | median spawn / notify loop / stop (µs); ratio = kiln mean / tokio mean");
    for waiters in [10, 100] {
        for all in [false, true] {
            for pauses in [0, 3] {
                let shape = Shape { waiters, all, pauses };
                let (mut k, mut t) = (Vec::new(), Vec::new());
                for round in 0..rounds {
                    // Alternate who goes first, so neither always runs in the other's wake.
                    if round % 2 == 0 {
                        kiln_round(shape, &mut k);
                        tokio_round(shape, &mut t);
                    } else {
                        tokio_round(shape, &mut t);
                        kiln_round(shape, &mut k);
                    }
                }
                let kt: Vec<f64> = k.iter().map(Phases::total).collect();
                let tt: Vec<f64> = t.iter().map(Phases::total).collect();
                let name = format!(
                    "{}_{waiters}_waiters{}",
                    if all { "notify_waiters" } else { "notify_one" },
                    if pauses > 0 { " (slowed notifier)" } else { "" }
                );
                println!(
                    "{name:<45} kiln {}   tokio {}   ratio {:.2}",
                    describe(&k),
                    describe(&t),
                    mean(&kt) / mean(&tt)
                );
            }
        }
    }
}
