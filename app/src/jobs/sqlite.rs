//! The embedded queue backend: jobs in the service's SQLite file.
//!
//! Every step is one statement or one short `IMMEDIATE` transaction on the pool's writer,
//! so it is atomic against the other workers of this process (one writer connection) and
//! of other processes on the same file (SQLite's write lock). The claim is a single
//! `UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING …`: choosing the job and taking it
//! cannot be split by another claimer, so no job is handed to two workers. Each change of a
//! running job is guarded by `lease_owner = ?`, so a worker whose lease was rescued can no
//! longer complete, fail or extend the job another worker now holds.
//!
//! The partial indexes of migration 5 keep the claim and the rescue to an index lookup
//! however many finished jobs the table holds.

use super::{Enqueued, Failed, Job, JobFilter, JobSpec, JobState, Queue, QueueStats, WorkerId};
use crate::clock::unix_millis;
use crate::db::{CachedStatements, Pool};
use crate::error::AppError;
use kiln_runtime::sync::Notify;
use rusqlite::{params, OptionalExtension, Row};
use std::sync::Arc;

pub(crate) const COLUMNS: &str =
    "id, kind, payload, state, priority, run_at, attempt, max_attempts, timeout_ms, \
     idempotency_key, created_by, last_error, errors, created_at, started_at, finished_at, lease_owner, \
     traceparent";

pub(crate) fn job(r: &Row<'_>) -> rusqlite::Result<Job> {
    let json = |i: usize| -> rusqlite::Result<serde_json::Value> {
        let text: String = r.get(i)?;
        serde_json::from_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
        })
    };
    Ok(Job {
        id: r.get(0)?,
        kind: r.get(1)?,
        payload: json(2)?,
        state: r.get(3)?,
        priority: r.get(4)?,
        run_at: r.get(5)?,
        attempt: r.get(6)?,
        max_attempts: r.get(7)?,
        timeout_ms: r.get(8)?,
        idempotency_key: r.get(9)?,
        created_by: r.get(10)?,
        last_error: r.get(11)?,
        errors: json(12)?,
        created_at: r.get(13)?,
        started_at: r.get(14)?,
        finished_at: r.get(15)?,
        lease_owner: r.get(16)?,
        traceparent: r.get(17)?,
    })
}

/// The due job a claim takes (`?3`: now). `INDEXED BY` because, left to choose, SQLite's
/// planner takes the `(state, id)` index and sorts every available job for each claim — a
/// claim as slow as the backlog is long. The partial index is already in claim order: the
/// first due row is the answer.
const NEXT_DUE: &str = "SELECT id FROM jobs INDEXED BY jobs_due WHERE state = 'available' AND run_at <= ?3 \
                        ORDER BY priority DESC, run_at, id LIMIT 1";

/// The queue on the service's SQLite pool.
#[derive(Clone)]
pub struct SqliteQueue {
    pool: Pool,
    /// Woken by an enqueue, so this process's idle workers claim at once.
    work: Arc<Notify>,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue").finish_non_exhaustive()
    }
}

impl SqliteQueue {
    /// The queue in `pool`'s database (migration 5 made its table).
    pub fn new(pool: Pool) -> SqliteQueue {
        SqliteQueue { pool, work: Arc::new(Notify::new()) }
    }
}

impl SqliteQueue {
    /// Tells this process's idle workers that a job was added by [`enqueue_in`] (after its
    /// transaction committed).
    pub fn added(&self) {
        self.work.notify_one();
    }
}

/// Enqueues in the caller's transaction: the job exists if and only if the rest of the
/// transaction commits (a signup and its welcome email, say — never one without the
/// other). Call [`SqliteQueue::added`] after the commit.
///
/// # Errors
/// Storage failures.
pub fn enqueue_in(tx: &rusqlite::Transaction<'_>, spec: JobSpec) -> Result<Enqueued, AppError> {
    let now = unix_millis();
    let timeout_ms = i64::try_from(spec.timeout.as_millis()).unwrap_or(i64::MAX).max(1);
    let inserted = tx
        .query_row_cached(
            &format!(
                "INSERT INTO jobs (kind, payload, priority, run_at, max_attempts, timeout_ms, \
                     idempotency_key, created_by, created_at, traceparent) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                 ON CONFLICT (idempotency_key) DO NOTHING RETURNING {COLUMNS}"
            ),
            params![
                spec.kind,
                spec.payload.to_string(),
                spec.priority,
                spec.run_at.unwrap_or(now),
                spec.max_attempts,
                timeout_ms,
                spec.idempotency_key,
                spec.created_by,
                now,
                spec.traceparent,
            ],
            job,
        )
        .optional()?;
    if let Some(job) = inserted {
        super::count_enqueued(&job.kind);
        return Ok(Enqueued { job, created: true });
    }
    // Only a repeated idempotency key makes the insert do nothing.
    let existing = tx.query_row_cached(
        &format!("SELECT {COLUMNS} FROM jobs WHERE idempotency_key = ?1"),
        [&spec.idempotency_key],
        job,
    )?;
    Ok(Enqueued { job: existing, created: false })
}

impl Queue for SqliteQueue {
    async fn enqueue(&self, spec: JobSpec) -> Result<Enqueued, AppError> {
        let enqueued = self.pool.transaction(move |tx| enqueue_in(tx, spec)).await?;
        if enqueued.created {
            self.work.notify_one();
        }
        Ok(enqueued)
    }

    async fn claim(&self, worker: &WorkerId, lease_until: i64) -> Result<Option<Job>, AppError> {
        let worker = worker.as_str().to_owned();
        let now = unix_millis();
        self.pool
            .write(move |c| {
                c.query_row_cached(
                    &format!(
                        "UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_owner = ?1, \
                             lease_until = ?2, started_at = ?3 \
                         WHERE id = ({NEXT_DUE}) RETURNING {COLUMNS}"
                    ),
                    params![worker, lease_until, now],
                    job,
                )
                .optional()
                .map_err(AppError::from)
            })
            .await
    }

    async fn heartbeat(&self, id: i64, worker: &WorkerId, lease_until: i64) -> Result<bool, AppError> {
        let worker = worker.as_str().to_owned();
        self.pool
            .write(move |c| {
                c.execute_cached(
                    "UPDATE jobs SET lease_until = ?3 WHERE id = ?1 AND state = 'running' AND lease_owner = ?2",
                    params![id, worker, lease_until],
                )
                .map(|n| n == 1)
                .map_err(AppError::from)
            })
            .await
    }

    async fn complete(&self, id: i64, worker: &WorkerId) -> Result<bool, AppError> {
        let worker = worker.as_str().to_owned();
        let now = unix_millis();
        self.pool
            .write(move |c| {
                c.execute_cached(
                    "UPDATE jobs SET state = 'succeeded', finished_at = ?3, lease_owner = NULL, lease_until = NULL \
                     WHERE id = ?1 AND state = 'running' AND lease_owner = ?2",
                    params![id, worker, now],
                )
                .map(|n| n == 1)
                .map_err(AppError::from)
            })
            .await
    }

    async fn fail(
        &self,
        id: i64,
        worker: &WorkerId,
        error: String,
        retry_at: Option<i64>,
    ) -> Result<Failed, AppError> {
        let worker = worker.as_str().to_owned();
        let now = unix_millis();
        self.pool
            .transaction(move |tx| {
                let held: Option<(u32, u32)> = tx
                    .query_row_cached(
                        "SELECT attempt, max_attempts FROM jobs WHERE id = ?1 AND state = 'running' AND lease_owner = ?2",
                        params![id, worker],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let Some((attempt, max_attempts)) = held else { return Ok(Failed::LeaseLost) };
                let outcome = match retry_at {
                    Some(at) if attempt < max_attempts => Failed::Retry(at),
                    _ => Failed::Dead,
                };
                let (state, run_at, finished_at) = match outcome {
                    Failed::Retry(at) => (JobState::Available, Some(at), None),
                    _ => (JobState::Dead, None, Some(now)),
                };
                tx.execute_cached(
                    "UPDATE jobs SET state = ?2, run_at = coalesce(?3, run_at), finished_at = ?4, \
                         lease_owner = NULL, lease_until = NULL, last_error = ?5, \
                         errors = json_insert(errors, '$[#]', json_object('attempt', attempt, 'at', ?6, 'error', ?5)) \
                     WHERE id = ?1",
                    params![id, state, run_at, finished_at, error, now],
                )?;
                Ok::<_, AppError>(outcome)
            })
            .await
    }

    async fn release(&self, id: i64, worker: &WorkerId) -> Result<bool, AppError> {
        let worker = worker.as_str().to_owned();
        let now = unix_millis();
        let released = self
            .pool
            .write(move |c| {
                c.execute_cached(
                    "UPDATE jobs SET state = 'available', attempt = attempt - 1, run_at = ?3, \
                         lease_owner = NULL, lease_until = NULL \
                     WHERE id = ?1 AND state = 'running' AND lease_owner = ?2",
                    params![id, worker, now],
                )
                .map(|n| n == 1)
                .map_err(AppError::from)
            })
            .await?;
        if released {
            self.work.notify_one();
        }
        Ok(released)
    }

    async fn rescue(&self, now: i64) -> Result<u64, AppError> {
        let rescued = self
            .pool
            .transaction(move |tx| {
                let error = "the worker stopped renewing its lease (it died or lost the database)";
                let record = "errors = json_insert(errors, '$[#]', json_object('attempt', attempt, 'at', ?1, 'error', ?2)), \
                              last_error = ?2, lease_owner = NULL, lease_until = NULL";
                let dead = tx.execute_cached(
                    &format!(
                        "UPDATE jobs SET state = 'dead', finished_at = ?1, {record} \
                         WHERE state = 'running' AND lease_until < ?1 AND attempt >= max_attempts"
                    ),
                    params![now, error],
                )?;
                let again = tx.execute_cached(
                    &format!(
                        "UPDATE jobs SET state = 'available', run_at = ?1, {record} \
                         WHERE state = 'running' AND lease_until < ?1"
                    ),
                    params![now, error],
                )?;
                Ok::<_, AppError>((dead + again) as u64)
            })
            .await?;
        if rescued > 0 {
            tracing::warn!(rescued, "jobs whose worker stopped renewing the lease are available again");
            self.work.notify_waiters();
        }
        Ok(rescued)
    }

    async fn prune(&self, before: i64) -> Result<u64, AppError> {
        self.pool
            .write(move |c| {
                c.execute_cached(
                    "DELETE FROM jobs WHERE state IN ('succeeded', 'cancelled') AND finished_at < ?1",
                    [before],
                )
                .map(|n| n as u64)
                .map_err(AppError::from)
            })
            .await
    }

    async fn get(&self, id: i64) -> Result<Option<Job>, AppError> {
        self.pool
            .read(move |c| {
                c.query_row_cached(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), [id], job)
                    .optional()
                    .map_err(AppError::from)
            })
            .await
    }

    async fn list(&self, filter: JobFilter) -> Result<Vec<Job>, AppError> {
        self.pool
            .read(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM jobs \
                     WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR kind = ?2) \
                       AND (?3 IS NULL OR created_by = ?3) AND (?4 IS NULL OR id < ?4) \
                     ORDER BY id DESC LIMIT ?5"
                ))?;
                let rows = stmt.query_map(
                    params![filter.state, filter.kind, filter.created_by, filter.before_id, filter.limit],
                    job,
                )?;
                rows.collect::<rusqlite::Result<Vec<Job>>>().map_err(AppError::from)
            })
            .await
    }

    async fn retry(&self, id: i64) -> Result<Option<Job>, AppError> {
        let now = unix_millis();
        let job = self
            .pool
            .write(move |c| {
                c.query_row_cached(
                    &format!(
                        "UPDATE jobs SET state = 'available', attempt = 0, run_at = ?2, finished_at = NULL \
                         WHERE id = ?1 AND state IN ('dead', 'cancelled') RETURNING {COLUMNS}"
                    ),
                    params![id, now],
                    job,
                )
                .optional()
                .map_err(AppError::from)
            })
            .await?;
        if job.is_some() {
            self.work.notify_one();
        }
        Ok(job)
    }

    async fn cancel(&self, id: i64) -> Result<Option<Result<Job, JobState>>, AppError> {
        let now = unix_millis();
        self.pool
            .transaction(move |tx| {
                let cancelled = tx
                    .query_row_cached(
                        &format!(
                            "UPDATE jobs SET state = 'cancelled', finished_at = ?2 \
                             WHERE id = ?1 AND state = 'available' RETURNING {COLUMNS}"
                        ),
                        params![id, now],
                        job,
                    )
                    .optional()?;
                if let Some(job) = cancelled {
                    return Ok(Some(Ok(job)));
                }
                let state: Option<JobState> = tx
                    .query_row_cached("SELECT state FROM jobs WHERE id = ?1", [id], |r| r.get(0))
                    .optional()?;
                Ok::<_, AppError>(state.map(Err))
            })
            .await
    }

    async fn stats(&self) -> Result<QueueStats, AppError> {
        let now = unix_millis();
        self.pool
            .read(move |c| {
                let mut stmt = c.prepare_cached("SELECT state, count(*) FROM jobs GROUP BY state")?;
                let counts = stmt
                    .query_map([], |r| Ok((r.get::<_, JobState>(0)?, r.get::<_, u64>(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let by_state = JobState::ALL
                    .iter()
                    .map(|s| (*s, counts.iter().find(|(c, _)| c == s).map_or(0, |(_, n)| *n)))
                    .collect();
                let oldest: Option<i64> = c.query_row_cached(
                    "SELECT min(run_at) FROM jobs WHERE state = 'available' AND run_at <= ?1",
                    [now],
                    |r| r.get(0),
                )?;
                Ok::<_, AppError>(QueueStats { by_state, oldest_due_ms: oldest.map_or(0, |t| now - t) })
            })
            .await
    }

    async fn wait_for_work(&self) {
        self.work.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::NEXT_DUE;

    #[test]
    fn a_claim_walks_the_due_index_without_sorting() {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        crate::db::migrations::migrate(&mut c).unwrap();
        let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {NEXT_DUE}")).unwrap();
        let plan: Vec<String> =
            stmt.query_map([0, 0, 0], |r| r.get::<_, String>(3)).unwrap().collect::<Result<_, _>>().unwrap();
        assert!(plan.iter().any(|step| step.contains("jobs_due")), "{plan:?}");
        assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "{plan:?}");
    }
}
