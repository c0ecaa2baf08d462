//! Week 5: the job queue on its own — a SQLite file, a registry of kinds, a worker pool —
//! without the HTTP service around it.
//!
//! ```text
//! cargo run --example week5_jobs                 # a fresh database in a temporary directory
//! cargo run --example week5_jobs -- --db jobs.db # or this file (run it twice: see the key)
//! ```
//!
//! What to look for: a flaky job fails twice and succeeds on its third attempt, the waits
//! between attempts growing (backoff); a hopeless one ends dead with every attempt's error;
//! a scheduled job starts no earlier than asked; a second enqueue with the same idempotency
//! key returns the first job; and the shutdown says what it waited for. The whole run takes
//! a few seconds.

#[path = "support/args.rs"]
mod args;

use kiln::app::db::{Pool, PoolConfig};
use kiln::app::jobs::{
    Backoff, JobContext, JobError, JobState, KindOptions, Queue, Registry, SqliteQueue, WorkerConfig,
    WorkerPool,
};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: week5_jobs [--db PATH]";

/// A kind that fails until its attempt reaches `succeed_on` (in the payload).
async fn flaky(cx: JobContext) -> Result<(), JobError> {
    let succeed_on = cx.payload["succeed_on"].as_u64().unwrap_or(1);
    println!(
        "    job {} attempt {}: {}",
        cx.id,
        cx.attempt,
        if u64::from(cx.attempt) >= succeed_on { "works" } else { "fails" }
    );
    if u64::from(cx.attempt) < succeed_on {
        return Err(JobError::Retry(format!("not yet (attempt {})", cx.attempt)));
    }
    Ok(())
}

async fn wait_until_done(queue: &SqliteQueue, id: i64) -> kiln::app::jobs::Job {
    loop {
        let job = queue.get(id).await.unwrap().expect("the job exists");
        if matches!(job.state, JobState::Succeeded | JobState::Dead) {
            return job;
        }
        kiln::time::sleep(Duration::from_millis(20)).await;
    }
}

#[kiln::main]
async fn main() {
    let args = args::Args::parse(USAGE, &["--db"], &[]);
    let dir = std::env::temp_dir().join(format!("kiln-week5-{}", std::process::id()));
    let db = args.get("--db", dir.join("jobs.db").display().to_string());
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| args.fail(&format!("cannot create {}: {e}", dir.display())));
    let pool = Pool::open(&db, PoolConfig::default()).await.unwrap_or_else(|e| args.fail(&e.to_string()));
    let queue = Arc::new(SqliteQueue::new(pool));
    let options = KindOptions { max_attempts: 4, timeout: Duration::from_secs(5), public: false };
    let registry = Arc::new(Registry::new().register("flaky", options, flaky));
    // A small backoff, so the retries happen while you watch.
    let config = WorkerConfig {
        concurrency: 2,
        poll: Duration::from_millis(50),
        backoff: Backoff { base: Duration::from_millis(200), cap: Duration::from_secs(2) },
        ..WorkerConfig::default()
    };
    let workers = WorkerPool::start(queue.clone(), registry.clone(), config);
    println!("week5_jobs: a queue in {db}, 2 workers");

    println!("\n1. a job that works on its third attempt (the waits are random within 0.2 s, 0.4 s)");
    let flaky_job = queue.enqueue(registry.spec("flaky", json!({"succeed_on": 3}))).await.unwrap().job;
    let done = wait_until_done(&queue, flaky_job.id).await;
    println!("    → {:?} after {} attempts; errors kept: {}", done.state, done.attempt, done.errors);

    println!("\n2. a job that never works: dead after its 4 attempts");
    let hopeless = queue.enqueue(registry.spec("flaky", json!({"succeed_on": 99}))).await.unwrap().job;
    let dead = wait_until_done(&queue, hopeless.id).await;
    println!("    → {:?}; last error: {}", dead.state, dead.last_error.unwrap_or_default());

    println!("\n3. a job scheduled 1 s from now");
    let start = Instant::now();
    let mut later = registry.spec("flaky", json!({}));
    later.run_at = Some(kiln::app::clock::unix_millis() + 1000);
    let later = queue.enqueue(later).await.unwrap().job;
    wait_until_done(&queue, later.id).await;
    println!("    → done after {} ms", start.elapsed().as_millis());

    println!("\n4. the same idempotency key twice");
    let mut keyed = registry.spec("flaky", json!({}));
    keyed.idempotency_key = Some("monthly-report-2026-12".into());
    let first = queue.enqueue(keyed.clone()).await.unwrap();
    let second = queue.enqueue(keyed).await.unwrap();
    println!(
        "    → job {} (new: {}), then job {} (new: {}): one job for one key{}",
        first.job.id,
        first.created,
        second.job.id,
        second.created,
        if first.created { "" } else { " (made by an earlier run on this file)" }
    );

    wait_until_done(&queue, first.job.id).await;

    let summary = workers.shutdown().await;
    println!("\nweek5_jobs: stopped; {} jobs succeeded in this run", summary.succeeded);
    if args.all("--db").is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
