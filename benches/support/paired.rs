//! Interleaved, paired measurement of Kiln against its baseline.
//!
//! Criterion measures one benchmark for a few seconds, then the next. On a small shared VM
//! the machine itself changes speed for seconds at a time (where the hypervisor places the
//! threads, what the neighbours do), so the two sides of a group can be measured in
//! different "weather" and a single run's ratio can be off by 2× in either direction.
//!
//! This module keeps criterion as the default and adds a second mode: with
//! `KILN_BENCH_PAIRED=<rounds>` each group runs its two sides in **alternating short slices**
//! (~20 ms each, the order flipped every round), so both see the same weather, and the ratio
//! of each round's pair is a fair comparison. It reports the median of those per-round
//! ratios with its interquartile range, and writes each side's median time in criterion's
//! layout under `target/paired/<bench>/`, so `scripts/bench-report` tabulates it like any run.
//!
//! `KILN_BENCH_ONLY=kiln` (or `tokio`) runs one side alone, for a profiler. Runtimes held in
//! a [`PerSlice`] are built afresh for every paired slice and dropped after it (see there for
//! why).
//!
//! The benchmark bodies do not change: they call `b.iter(..)` / `b.iter_custom(..)` on this
//! module's [`Bencher`], which forwards to criterion's in the default mode.

// Each bench file includes this module and uses part of it.
#![allow(dead_code)]

use criterion::{BenchmarkId, Criterion};
use std::time::{Duration, Instant};

/// How long one side runs per round, in paired mode.
const SLICE: Duration = Duration::from_millis(20);

/// Passed to a benchmark body; forwards to criterion or measures one paired slice.
pub enum Bencher<'a, 'b> {
    Criterion(&'a mut criterion::Bencher<'b>),
    Slice { iters: u64, elapsed: Duration },
}

impl Bencher<'_, '_> {
    /// Times `f`, called once per iteration.
    pub fn iter<O>(&mut self, mut f: impl FnMut() -> O) {
        match self {
            Bencher::Criterion(b) => b.iter(f),
            Bencher::Slice { iters, elapsed, .. } => {
                let start = Instant::now();
                for _ in 0..*iters {
                    std::hint::black_box(f());
                }
                *elapsed = start.elapsed();
            }
        }
    }

    /// `f(iters)` runs that many iterations and returns the time they took.
    pub fn iter_custom(&mut self, mut f: impl FnMut(u64) -> Duration) {
        match self {
            Bencher::Criterion(b) => b.iter_custom(f),
            Bencher::Slice { iters, elapsed, .. } => *elapsed = f(*iters),
        }
    }
}

/// A value (a runtime) built afresh for every paired slice, outside the timed part, and
/// dropped as soon as the slice ends.
///
/// Built afresh: a multi-thread runtime's threads stay on the CPUs where the kernel first put
/// them (with more busy threads than CPUs it has no reason to move them), and on two vCPUs
/// the placement decides a contended benchmark more than the code does: one process measured
/// `notify_one` at 0.07 (IQR 0.06-0.10), the next at 1.40 (1.20-1.43). Built once per
/// process, each side keeps one draw of that lottery for the whole run; built per slice,
/// both sides draw anew every round and the median over rounds compares like with like.
///
/// Dropped at once: a runtime left alive, idle and parked, beside the other side's slice
/// slowed that slice down, up to threefold in the notify groups (BENCHMARKS.md), though its
/// threads used no CPU. So only the runtime being measured exists while a slice runs, as in
/// a real process. Under criterion the value is built once and kept.
pub struct PerSlice<T, F: FnMut() -> T> {
    build: F,
    current: Option<T>,
}

impl<T, F: FnMut() -> T> PerSlice<T, F> {
    pub fn new(build: F) -> PerSlice<T, F> {
        PerSlice { build, current: None }
    }

    /// The value for this slice, building it if there is none.
    pub fn get(&mut self) -> &T {
        if self.current.is_none() {
            let value = (self.build)();
            // Let the new threads start and park before anything is timed.
            std::thread::sleep(Duration::from_millis(2));
            self.current = Some(value);
        }
        self.current.as_ref().expect("just built")
    }

    /// Called when a slice ends: in paired mode drops the value (joining a runtime's
    /// threads), so that it is not alive beside the other side's next slice.
    pub fn release(&mut self, b: &Bencher) {
        if matches!(b, Bencher::Slice { .. }) {
            self.current = None;
        }
    }
}

/// One side of a comparison: its name (`kiln`, `tokio`, …) and its body.
pub type Side<'f> = (&'static str, &'f mut dyn FnMut(&mut Bencher));

/// Whether this run is in paired mode (`KILN_BENCH_PAIRED` set).
pub fn enabled() -> bool {
    std::env::var_os("KILN_BENCH_PAIRED").is_some()
}

/// Rounds to run in paired mode, or `None` for criterion's mode.
fn paired_rounds() -> Option<usize> {
    std::env::var("KILN_BENCH_PAIRED").ok().map(|v| {
        v.parse().ok().filter(|&n: &usize| n >= 3).unwrap_or_else(|| {
            eprintln!("KILN_BENCH_PAIRED must be a number of rounds, at least 3 (got {v:?})");
            std::process::exit(2)
        })
    })
}

/// Whether the command line's filter (`cargo bench --bench sync -- 'notify|rwlock'`) selects
/// `group`: a substring match on any of its `|`-separated alternatives (criterion takes a
/// regex; plain words and `|` are all these benches need).
fn selected(group: &str) -> bool {
    match std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        None => true,
        Some(filter) => filter.split('|').any(|alt| group.contains(alt)),
    }
}

/// Measures `sides` as one group: criterion's way, or interleaved (see the module docs).
/// The first side is Kiln; the rest are baselines.
pub fn compare(c: &mut Criterion, bench: &str, group: &str, sides: &mut [Side]) {
    compare_with_samples(c, bench, group, None, sides)
}

/// [`compare`], with criterion's sample count set for this group (slow workloads).
pub fn compare_with_samples(
    c: &mut Criterion,
    bench: &str,
    group: &str,
    samples: Option<usize>,
    sides: &mut [Side],
) {
    let Some(rounds) = paired_rounds() else {
        let mut g = c.benchmark_group(group);
        if let Some(n) = samples {
            g.sample_size(n);
        }
        for (id, body) in sides.iter_mut() {
            g.bench_function(BenchmarkId::from_parameter(*id), |b| body(&mut Bencher::Criterion(b)));
        }
        g.finish();
        return;
    };
    if !selected(group) {
        return;
    }
    if let Ok(only) = std::env::var("KILN_BENCH_ONLY") {
        // For profilers (`perf`, `strace -c`): run one side alone for the same rounds.
        let names: Vec<&str> = sides.iter().map(|(id, _)| *id).collect();
        let Some((_, body)) = sides.iter_mut().find(|(id, _)| *id == only) else {
            eprintln!("KILN_BENCH_ONLY must name a side of the group, one of {names:?} (got {only:?})");
            std::process::exit(2)
        };
        let iters = calibrate(*body);
        let mut times: Vec<f64> = (0..rounds).map(|_| slice(*body, iters)).collect();
        println!("{group}: {only} alone {:.1} µs per iteration", median(&mut times) / 1e3);
        return;
    }
    let iters: Vec<u64> = sides.iter_mut().map(|(_, body)| calibrate(body)).collect();
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); sides.len()];
    for round in 0..rounds {
        // Alternate the order, so neither side always runs right after the other.
        let order: Vec<usize> =
            if round % 2 == 0 { (0..sides.len()).collect() } else { (0..sides.len()).rev().collect() };
        for i in order {
            let ns = slice(sides[i].1, iters[i]);
            times[i].push(ns);
        }
    }
    let mut line = format!("{group}:");
    for (i, (id, _)) in sides.iter().enumerate().skip(1) {
        let mut ratios: Vec<f64> = times[0].iter().zip(&times[i]).map(|(k, b)| k / b).collect();
        // Kiln runs first in even rounds and last in odd ones. A side can measure differently
        // right after the other side than right after itself (BENCHMARKS.md, the notify
        // groups), so the medians by order are shown too: far apart, they say the overall
        // median mixes two regimes.
        let (mut first, mut last): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
        for (round, &r) in ratios.iter().enumerate() {
            if round % 2 == 0 {
                first.push(r)
            } else {
                last.push(r)
            }
        }
        ratios.sort_by(f64::total_cmp);
        let q = |p: f64| ratios[((ratios.len() - 1) as f64 * p).round() as usize];
        line += &format!(
            " kiln/{id} {:.2} (IQR {:.2}-{:.2}; kiln first {:.2}, last {:.2})",
            q(0.5),
            q(0.25),
            q(0.75),
            median(&mut first),
            median(&mut last)
        );
    }
    println!("{line}");
    for (i, (id, _)) in sides.iter().enumerate() {
        write_estimate(bench, group, id, median(&mut times[i]), &times[i]);
    }
}

/// Iterations that fill about one slice.
fn calibrate(body: &mut dyn FnMut(&mut Bencher)) -> u64 {
    let mut iters = 1u64;
    slice(body, 1); // warm-up: first-use allocations, connections, caches
    loop {
        let per_iter = slice(body, iters);
        let total = Duration::from_nanos((per_iter * iters as f64) as u64);
        if total >= SLICE / 4 || iters >= 1 << 30 {
            let wanted = SLICE.as_nanos() as f64 / per_iter.max(1.0);
            return (wanted as u64).max(1);
        }
        iters *= 4;
    }
}

/// Runs one slice of `iters` iterations; nanoseconds per iteration.
fn slice(body: &mut dyn FnMut(&mut Bencher), iters: u64) -> f64 {
    let mut b = Bencher::Slice { iters, elapsed: Duration::ZERO };
    body(&mut b);
    let Bencher::Slice { elapsed, .. } = b else { unreachable!() };
    elapsed.as_nanos() as f64 / iters as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Writes `<target>/paired/<bench>/<group>/<id>/new/{benchmark,estimates}.json` in the shape
/// `scripts/bench-report` reads from criterion, plus every round's time.
fn write_estimate(bench: &str, group: &str, id: &str, median_ns: f64, rounds: &[f64]) {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let dir_name: String = group.chars().map(|c| if c == '/' || c == ':' { '_' } else { c }).collect();
    let dir = std::path::Path::new(&target).join("paired").join(bench).join(dir_name).join(id).join("new");
    std::fs::create_dir_all(&dir).expect("create target/paired");
    let meta = serde_json::json!({ "group_id": group, "function_id": null, "value_str": id });
    let est = serde_json::json!({ "median": { "point_estimate": median_ns }, "rounds_ns": rounds });
    std::fs::write(dir.join("benchmark.json"), meta.to_string()).expect("write benchmark.json");
    std::fs::write(dir.join("estimates.json"), est.to_string()).expect("write estimates.json");
}
