//! [`Jobs`]: the queue the service runs on — SQLite by default, Redis when configured —
//! and the outbox that keeps enqueues inside database transactions with either.
//!
//! [`Queue`] has `async fn`s, so it cannot be a trait object; an enum over the two backends
//! is the dynamic choice instead (one `match` per call, no allocation).
//!
//! **The outbox.** A signup and its welcome email must commit together: neither without the
//! other. SQLite can promise that for a job in the same file ([`enqueue_in`] in the
//! signup's transaction), but no transaction spans SQLite and Redis. So with Redis the job
//! is still written in the transaction, to the `jobs` table, which then serves as an
//! *outbox*: after the commit, [`Jobs::added`] wakes a relay that enqueues each outbox row
//! into Redis and then deletes it. A crash between the two steps leaves the row, and the
//! next relay (this process's or another's, every [`RELAY_EVERY`]) enqueues it again
//! under the same idempotency key — the same Redis job, not a second one.
//!
//! [`enqueue_in`]: super::sqlite::enqueue_in

use super::redis::RedisQueue;
use super::sqlite::{self, SqliteQueue};
use super::{Enqueued, Failed, Job, JobFilter, JobSpec, JobState, Queue, QueueStats, WorkerId};
use crate::db::{CachedStatements, Pool};
use crate::error::AppError;
use kiln_runtime::sync::Notify;
use std::sync::Arc;
use std::time::Duration;

/// How often the relay looks for outbox rows nobody announced (another process crashed
/// after its commit).
pub const RELAY_EVERY: Duration = Duration::from_secs(5);

/// Outbox rows relayed per read.
const RELAY_BATCH: u32 = 100;

/// The service's queue.
#[derive(Debug)]
pub enum Jobs {
    /// In the service's SQLite file.
    Sqlite(SqliteQueue),
    /// In the service's PostgreSQL database (enqueues are transactional there already).
    Postgres(super::postgres::PostgresQueue),
    /// In Redis, with the SQLite `jobs` table as the transactional outbox.
    Redis {
        /// The queue.
        queue: Arc<RedisQueue>,
        /// Wakes the relay.
        relay: Arc<Notify>,
        /// The relay task, stopped with the queue.
        relay_task: kiln_runtime::task::JoinHandle<()>,
    },
}

impl Drop for Jobs {
    fn drop(&mut self) {
        if let Jobs::Redis { relay_task, .. } = self {
            relay_task.abort();
        }
    }
}

impl Jobs {
    /// The queue in Redis, relaying the outbox rows of `pool`.
    pub fn redis(queue: RedisQueue, pool: Pool) -> Jobs {
        let queue = Arc::new(queue);
        let relay = Arc::new(Notify::new());
        let relay_task = kiln_runtime::spawn(relay_loop(pool, queue.clone(), relay.clone()));
        Jobs::Redis { queue, relay, relay_task }
    }

    /// Says that [`sqlite::enqueue_in`] added a job in a transaction that has committed.
    pub fn added(&self) {
        match self {
            Jobs::Sqlite(q) => q.added(),
            // The enqueueing transaction's NOTIFY wakes every process's workers at commit.
            Jobs::Postgres(_) => {}
            Jobs::Redis { relay, .. } => relay.notify_one(),
        }
    }

    /// Where the jobs are, for the startup banner.
    pub fn describe(&self) -> &'static str {
        match self {
            Jobs::Sqlite(_) => "SQLite (the database file)",
            Jobs::Postgres(_) => "PostgreSQL",
            Jobs::Redis { .. } => "Redis",
        }
    }
}

async fn relay_loop(pool: Pool, queue: Arc<RedisQueue>, wake: Arc<Notify>) {
    loop {
        match relay(&pool, &queue).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(relayed = n, "outbox jobs moved to Redis"),
            Err(e) => tracing::warn!(error = %e, "outbox relay failed; trying again"),
        }
        kiln_runtime::select! {
            () = wake.notified() => {}
            () = kiln_runtime::time::sleep(RELAY_EVERY) => {}
        }
    }
}

/// Moves every outbox row into `queue`; returns how many.
///
/// # Errors
/// Storage or Redis failures (what was moved stays moved).
pub async fn relay(pool: &Pool, queue: &RedisQueue) -> Result<u64, AppError> {
    let mut moved = 0;
    loop {
        let rows = pool
            .read(|c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {} FROM jobs WHERE state = 'available' ORDER BY id LIMIT {RELAY_BATCH}",
                    sqlite::COLUMNS
                ))?;
                let rows = stmt.query_map([], sqlite::job)?;
                rows.collect::<rusqlite::Result<Vec<Job>>>().map_err(AppError::from)
            })
            .await?;
        let last = rows.len() < RELAY_BATCH as usize;
        for row in rows {
            let spec = JobSpec {
                idempotency_key: Some(row.idempotency_key.unwrap_or_else(|| format!("outbox-{}", row.id))),
                kind: row.kind,
                payload: row.payload,
                run_at: Some(row.run_at),
                priority: row.priority,
                max_attempts: row.max_attempts,
                timeout: Duration::from_millis(row.timeout_ms),
                created_by: row.created_by,
                traceparent: row.traceparent,
            };
            queue.enqueue(spec).await?;
            let id = row.id;
            pool.write(move |c| {
                c.execute_cached("DELETE FROM jobs WHERE id = ?1", [id]).map_err(AppError::from)
            })
            .await?;
            moved += 1;
        }
        if last {
            return Ok(moved);
        }
    }
}

impl Queue for Jobs {
    async fn enqueue(&self, spec: JobSpec) -> Result<Enqueued, AppError> {
        match self {
            Jobs::Sqlite(q) => q.enqueue(spec).await,
            Jobs::Postgres(q) => q.enqueue(spec).await,
            Jobs::Redis { queue, .. } => {
                // Straight into Redis (the relay's moves are counted where the outbox row was written).
                let enqueued = queue.enqueue(spec).await?;
                if enqueued.created {
                    super::count_enqueued(&enqueued.job.kind);
                }
                Ok(enqueued)
            }
        }
    }

    async fn claim(&self, worker: &WorkerId, lease_until: i64) -> Result<Option<Job>, AppError> {
        match self {
            Jobs::Sqlite(q) => q.claim(worker, lease_until).await,
            Jobs::Postgres(q) => q.claim(worker, lease_until).await,
            Jobs::Redis { queue, .. } => queue.claim(worker, lease_until).await,
        }
    }

    async fn heartbeat(&self, id: i64, worker: &WorkerId, lease_until: i64) -> Result<bool, AppError> {
        match self {
            Jobs::Sqlite(q) => q.heartbeat(id, worker, lease_until).await,
            Jobs::Postgres(q) => q.heartbeat(id, worker, lease_until).await,
            Jobs::Redis { queue, .. } => queue.heartbeat(id, worker, lease_until).await,
        }
    }

    async fn complete(&self, id: i64, worker: &WorkerId) -> Result<bool, AppError> {
        match self {
            Jobs::Sqlite(q) => q.complete(id, worker).await,
            Jobs::Postgres(q) => q.complete(id, worker).await,
            Jobs::Redis { queue, .. } => queue.complete(id, worker).await,
        }
    }

    async fn fail(
        &self,
        id: i64,
        worker: &WorkerId,
        error: String,
        retry_at: Option<i64>,
    ) -> Result<Failed, AppError> {
        match self {
            Jobs::Sqlite(q) => q.fail(id, worker, error, retry_at).await,
            Jobs::Postgres(q) => q.fail(id, worker, error, retry_at).await,
            Jobs::Redis { queue, .. } => queue.fail(id, worker, error, retry_at).await,
        }
    }

    async fn release(&self, id: i64, worker: &WorkerId) -> Result<bool, AppError> {
        match self {
            Jobs::Sqlite(q) => q.release(id, worker).await,
            Jobs::Postgres(q) => q.release(id, worker).await,
            Jobs::Redis { queue, .. } => queue.release(id, worker).await,
        }
    }

    async fn rescue(&self, now: i64) -> Result<u64, AppError> {
        match self {
            Jobs::Sqlite(q) => q.rescue(now).await,
            Jobs::Postgres(q) => q.rescue(now).await,
            Jobs::Redis { queue, .. } => queue.rescue(now).await,
        }
    }

    async fn prune(&self, before: i64) -> Result<u64, AppError> {
        match self {
            Jobs::Sqlite(q) => q.prune(before).await,
            Jobs::Postgres(q) => q.prune(before).await,
            Jobs::Redis { queue, .. } => queue.prune(before).await,
        }
    }

    async fn get(&self, id: i64) -> Result<Option<Job>, AppError> {
        match self {
            Jobs::Sqlite(q) => q.get(id).await,
            Jobs::Postgres(q) => q.get(id).await,
            Jobs::Redis { queue, .. } => queue.get(id).await,
        }
    }

    async fn list(&self, filter: JobFilter) -> Result<Vec<Job>, AppError> {
        match self {
            Jobs::Sqlite(q) => q.list(filter).await,
            Jobs::Postgres(q) => q.list(filter).await,
            Jobs::Redis { queue, .. } => queue.list(filter).await,
        }
    }

    async fn retry(&self, id: i64) -> Result<Option<Job>, AppError> {
        match self {
            Jobs::Sqlite(q) => q.retry(id).await,
            Jobs::Postgres(q) => q.retry(id).await,
            Jobs::Redis { queue, .. } => queue.retry(id).await,
        }
    }

    async fn cancel(&self, id: i64) -> Result<Option<Result<Job, JobState>>, AppError> {
        match self {
            Jobs::Sqlite(q) => q.cancel(id).await,
            Jobs::Postgres(q) => q.cancel(id).await,
            Jobs::Redis { queue, .. } => queue.cancel(id).await,
        }
    }

    async fn stats(&self) -> Result<QueueStats, AppError> {
        match self {
            Jobs::Sqlite(q) => q.stats().await,
            Jobs::Postgres(q) => q.stats().await,
            Jobs::Redis { queue, .. } => queue.stats().await,
        }
    }

    async fn wait_for_work(&self) {
        match self {
            Jobs::Sqlite(q) => q.wait_for_work().await,
            Jobs::Postgres(q) => q.wait_for_work().await,
            Jobs::Redis { queue, .. } => queue.wait_for_work().await,
        }
    }
}
