//! The job queue on its two backends in one run: SQLite (a file in a temporary directory,
//! WAL) and Redis (a private `redis-server`, no persistence), on one 2-worker runtime.
//!
//! - `queue_enqueue`: one enqueue (one write transaction; one Lua script).
//! - `queue_claim_complete`: one claim and its completion, the queue kept full.
//! - then, not through criterion: **enqueue → start latency** at 1 000 jobs/s, 4 workers,
//!   2 000 jobs per backend — the time from the enqueue call to the handler starting,
//!   printed as p50 / p99 / max.
//!
//! There is no Tokio baseline: no queue in the Tokio ecosystem has both backends, and the
//! figures that matter are the backends against each other and the latency under a steady
//! rate.
//!
//! ```text
//! cargo bench --bench queue
//! ```

// `criterion_group!` generates a public function without docs.
#![allow(missing_docs)]

use criterion::Criterion;
use kiln::app::jobs::{
    Jobs, KindOptions, Queue, RedisQueue, Registry, SqliteQueue, WorkerConfig, WorkerId, WorkerPool,
};
use kiln_test_support::redis::RedisServer;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn runtime() -> kiln::runtime::Runtime {
    kiln::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap()
}

/// A queue on each backend, each on a store of its own.
struct Backends {
    queues: Vec<(&'static str, Arc<Jobs>)>,
    _dir: tempfile::TempDir,
    _redis: RedisServer,
}

fn backends(rt: &kiln::runtime::Runtime) -> Backends {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let queues =
        rt.block_on(async {
            let pool = |name: &str| {
                let path = dir.path().join(name);
                async move {
                    kiln::app::db::Pool::open(&path, kiln::app::db::PoolConfig::default()).await.unwrap()
                }
            };
            let sqlite = Jobs::Sqlite(SqliteQueue::new(pool("sqlite.db").await));
            let client =
                kiln::redis::Client::connect(kiln::redis::ClientConfig::from_url(&redis.url()).unwrap())
                    .await
                    .unwrap();
            let queue = RedisQueue::new(Arc::new(client), kiln::app::jobs::redis::DEFAULT_PREFIX);
            let redis = Jobs::redis(queue, pool("outbox.db").await);
            vec![("sqlite", Arc::new(sqlite)), ("redis", Arc::new(redis))]
        });
    Backends { queues, _dir: dir, _redis: redis }
}

fn registry() -> Registry {
    Registry::new().register("bench", KindOptions::default(), |_cx| async { Ok(()) })
}

fn throughput(c: &mut Criterion, rt: &kiln::runtime::Runtime, b: &Backends) {
    let registry = registry();
    let mut group = c.benchmark_group("queue_enqueue");
    for (name, queue) in &b.queues {
        group.bench_function(*name, |bench| {
            bench.iter(|| rt.block_on(queue.enqueue(registry.spec("bench", serde_json::json!({})))).unwrap())
        });
    }
    group.finish();

    let worker = WorkerId::new();
    let mut group = c.benchmark_group("queue_claim_complete");
    for (name, queue) in &b.queues {
        group.bench_function(*name, |bench| {
            bench.iter_custom(|iters| {
                rt.block_on(async {
                    for _ in 0..iters {
                        queue.enqueue(registry.spec("bench", serde_json::json!({}))).await.unwrap();
                    }
                    let start = Instant::now();
                    for _ in 0..iters {
                        let lease = kiln::app::clock::unix_millis() + 60_000;
                        let job = queue.claim(&worker, lease).await.unwrap().expect("a job is due");
                        assert!(queue.complete(job.id, &worker).await.unwrap());
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

/// Enqueues `JOBS` jobs at `RATE` per second into each backend with 4 workers running, and
/// prints how long each waited from the enqueue call to its handler's start.
fn latency(rt: &kiln::runtime::Runtime, b: &Backends) {
    const JOBS: usize = 2_000;
    const RATE: u64 = 1_000;
    println!("\nenqueue -> start latency, {JOBS} jobs at {RATE}/s, 4 workers:");
    for (name, queue) in &b.queues {
        let started = Arc::new(Mutex::new(Vec::with_capacity(JOBS)));
        let record = started.clone();
        let registry = Arc::new(Registry::new().register(
            "timed",
            KindOptions::default(),
            move |cx: kiln::app::jobs::JobContext| {
                let sent = cx.payload["sent_us"].as_u64().unwrap_or(0);
                record.lock().unwrap().push(now_us().saturating_sub(sent));
                async { Ok(()) }
            },
        ));
        let config =
            WorkerConfig { concurrency: 4, poll: Duration::from_millis(100), ..WorkerConfig::default() };
        rt.block_on(async {
            let pool = WorkerPool::start(queue.clone(), registry.clone(), config);
            let mut tick = kiln::time::interval(Duration::from_micros(1_000_000 / RATE));
            for _ in 0..JOBS {
                tick.tick().await;
                let spec = registry.spec("timed", serde_json::json!({ "sent_us": now_us() }));
                queue.enqueue(spec).await.unwrap();
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while started.lock().unwrap().len() < JOBS && Instant::now() < deadline {
                kiln::time::sleep(Duration::from_millis(10)).await;
            }
            pool.shutdown().await;
        });
        let mut waits = started.lock().unwrap().clone();
        waits.sort_unstable();
        assert_eq!(waits.len(), JOBS, "{name}: every job started");
        let at = |q: f64| waits[((waits.len() as f64 * q) as usize).min(waits.len() - 1)] as f64 / 1000.0;
        println!(
            "  {name:<7} p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
            at(0.50),
            at(0.99),
            *waits.last().unwrap() as f64 / 1000.0
        );
    }
}

fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as u64
}

fn main() {
    let rt = runtime();
    let mut c = Criterion::default().configure_from_args();
    throughput(&mut c, &rt, &backends(&rt));
    c.final_summary();
    if std::env::args().all(|a| a != "--list") {
        latency(&rt, &backends(&rt)); // empty queues: only the timed jobs
    }
}
