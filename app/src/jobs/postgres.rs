//! Jobs in PostgreSQL: the `jobs` table of the PostgreSQL schema (migration 5), the
//! [`PostgresQueue`] backend, and [`enqueue_in`], which adds a job inside the caller's
//! transaction so that the job exists if and only if the rest of the transaction commits —
//! a return and the notice to the next member waiting, say.
//!
//! The steps are the SQLite backend's statements in PostgreSQL's dialect, with one
//! difference that matters: PostgreSQL runs writers at once, so the claim's inner `SELECT`
//! takes its row `FOR UPDATE SKIP LOCKED` — a second claimer skips a row the first is
//! taking rather than waiting for it and then finding it gone (River, Oban and
//! graphile-worker claim the same way). Wake-ups are `NOTIFY kiln_jobs`, sent inside the
//! enqueueing transaction so they arrive only if it commits; workers poll too.

use super::{Enqueued, Job, JobSpec};
use crate::clock::unix_millis;
use crate::error::AppError;
use kiln_postgres::{Client, Json, Row};

/// The columns of [`Job`], in its field order.
pub(crate) const COLUMNS: &str =
    "id, kind, payload, state, priority, run_at, attempt, max_attempts, timeout_ms, \
     idempotency_key, created_by, last_error, errors, created_at, started_at, finished_at, lease_owner, \
     traceparent";

fn small(r: &Row, i: usize) -> Result<u32, AppError> {
    let n: i32 = r.try_get(i)?;
    u32::try_from(n).map_err(|_| AppError::Internal(format!("jobs: a negative count in column {i}")))
}

/// A job from a row of [`COLUMNS`].
pub(crate) fn job(r: &Row) -> Result<Job, AppError> {
    let state: String = r.try_get(3)?;
    Ok(Job {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        payload: r.try_get::<_, Json>(2)?.0,
        state: super::JobState::parse(&state)
            .ok_or_else(|| AppError::Internal(format!("jobs: no job state is called {state:?}")))?,
        priority: r.try_get(4)?,
        run_at: r.try_get(5)?,
        attempt: small(r, 6)?,
        max_attempts: small(r, 7)?,
        timeout_ms: u64::try_from(r.try_get::<_, i64>(8)?).unwrap_or(1),
        idempotency_key: r.try_get(9)?,
        created_by: r.try_get(10)?,
        last_error: r.try_get(11)?,
        errors: r.try_get::<_, Json>(12)?.0,
        created_at: r.try_get(13)?,
        started_at: r.try_get(14)?,
        finished_at: r.try_get(15)?,
        lease_owner: r.try_get(16)?,
        traceparent: r.try_get(17)?,
    })
}

/// Enqueues in the caller's transaction (`tx` is one, through its `Deref` to the client).
/// A repeated idempotency key returns the job it named before.
///
/// # Errors
/// Storage failures.
pub async fn enqueue_in(tx: &Client, spec: JobSpec) -> Result<Enqueued, AppError> {
    let now = unix_millis();
    let timeout_ms = i64::try_from(spec.timeout.as_millis()).unwrap_or(i64::MAX).max(1);
    let max_attempts = i32::try_from(spec.max_attempts).unwrap_or(i32::MAX);
    let insert = format!(
        "INSERT INTO jobs (kind, payload, priority, run_at, max_attempts, timeout_ms, idempotency_key, created_by, created_at, traceparent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (idempotency_key) DO NOTHING RETURNING {COLUMNS}"
    );
    let inserted = tx
        .query_opt(
            &insert,
            &[
                &spec.kind,
                &Json(spec.payload),
                &spec.priority,
                &spec.run_at.unwrap_or(now),
                &max_attempts,
                &timeout_ms,
                &spec.idempotency_key,
                &spec.created_by,
                &now,
                &spec.traceparent,
            ],
        )
        .await?;
    if let Some(row) = inserted {
        tx.notify(CHANNEL, "").await?; // delivered at commit: idle workers wake then
        let job = job(&row)?;
        super::count_enqueued(&job.kind);
        return Ok(Enqueued { job, created: true });
    }
    // Only a repeated idempotency key makes the insert do nothing.
    let existing = tx
        .query_one(
            &format!("SELECT {COLUMNS} FROM jobs WHERE idempotency_key = $1"),
            &[&spec.idempotency_key],
        )
        .await?;
    Ok(Enqueued { job: job(&existing)?, created: false })
}

/// The channel idle workers listen on; every enqueue (and release, retry, rescue) notifies
/// it, delivered when its transaction commits.
pub const CHANNEL: &str = "kiln_jobs";

/// The queue on PostgreSQL: a claim is one `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP
/// LOCKED)`, so concurrent claimers in any number of processes skip the rows others are
/// taking instead of waiting for them; idle workers wake on `LISTEN kiln_jobs`.
pub struct PostgresQueue {
    pool: kiln_postgres::Pool,
    work: std::sync::Arc<kiln_runtime::sync::Notify>,
    listener: kiln_runtime::task::JoinHandle<()>,
}

impl std::fmt::Debug for PostgresQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresQueue").finish_non_exhaustive()
    }
}

impl Drop for PostgresQueue {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PostgresQueue {
    /// The queue in `pool`'s database (its migration 5 made the table), with a task that
    /// listens for wake-ups on a connection of its own (listening again after a lost one).
    pub fn new(pool: kiln_postgres::Pool) -> PostgresQueue {
        let work = std::sync::Arc::new(kiln_runtime::sync::Notify::new());
        let listener = kiln_runtime::spawn(listen(pool.config().clone(), work.clone()));
        PostgresQueue { pool, work, listener }
    }
}

async fn listen(config: kiln_postgres::Config, work: std::sync::Arc<kiln_runtime::sync::Notify>) {
    loop {
        match kiln_postgres::Listener::connect(config.clone()).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    work.notify_one(); // jobs may have come while no one listened
                    while listener.next().await.is_some() {
                        work.notify_one();
                    }
                }
                Err(e) => tracing::debug!(error = %e, "job queue: LISTEN failed; polling meanwhile"),
            },
            Err(e) => tracing::debug!(error = %e, "job queue: cannot listen for wake-ups; polling meanwhile"),
        }
        kiln_runtime::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Appends `{attempt, at, error}` to a job's error list (`$at`, `$error` the parameters).
fn record(at: &str, error: &str) -> String {
    format!(
        "errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempt, 'at', {at}::int8, 'error', {error}::text)), \
         last_error = {error}::text, lease_owner = NULL, lease_until = NULL"
    )
}

impl super::Queue for PostgresQueue {
    async fn enqueue(&self, spec: JobSpec) -> Result<Enqueued, AppError> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let enqueued = enqueue_in(&tx, spec).await?;
        tx.commit().await?;
        Ok(enqueued)
    }

    async fn claim(&self, worker: &super::WorkerId, lease_until: i64) -> Result<Option<Job>, AppError> {
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_owner = $1, lease_until = $2, started_at = $3 \
             WHERE id = (SELECT id FROM jobs WHERE state = 'available' AND run_at <= $3 \
                         ORDER BY priority DESC, run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING {COLUMNS}"
        );
        let c = self.pool.get().await?;
        c.query_opt(&sql, &[&worker.as_str(), &lease_until, &unix_millis()])
            .await?
            .as_ref()
            .map(job)
            .transpose()
    }

    async fn heartbeat(&self, id: i64, worker: &super::WorkerId, lease_until: i64) -> Result<bool, AppError> {
        let c = self.pool.get().await?;
        let n = c
            .execute(
                "UPDATE jobs SET lease_until = $3 WHERE id = $1 AND state = 'running' AND lease_owner = $2",
                &[&id, &worker.as_str(), &lease_until],
            )
            .await?;
        Ok(n == 1)
    }

    async fn complete(&self, id: i64, worker: &super::WorkerId) -> Result<bool, AppError> {
        let c = self.pool.get().await?;
        let n = c
            .execute(
                "UPDATE jobs SET state = 'succeeded', finished_at = $3, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $1 AND state = 'running' AND lease_owner = $2",
                &[&id, &worker.as_str(), &unix_millis()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn fail(
        &self,
        id: i64,
        worker: &super::WorkerId,
        error: String,
        retry_at: Option<i64>,
    ) -> Result<super::Failed, AppError> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let held = tx
            .query_opt(
                "SELECT attempt, max_attempts FROM jobs WHERE id = $1 AND state = 'running' AND lease_owner = $2 FOR UPDATE",
                &[&id, &worker.as_str()],
            )
            .await?;
        let Some(held) = held else { return Ok(super::Failed::LeaseLost) };
        let (attempt, max_attempts): (i32, i32) = (held.try_get(0)?, held.try_get(1)?);
        let outcome = match retry_at {
            Some(at) if attempt < max_attempts => super::Failed::Retry(at),
            _ => super::Failed::Dead,
        };
        let now = unix_millis();
        let (state, run_at, finished_at) = match outcome {
            super::Failed::Retry(at) => ("available", Some(at), None),
            _ => ("dead", None, Some(now)),
        };
        tx.execute(
            &format!(
                "UPDATE jobs SET state = $2, run_at = coalesce($3, run_at), finished_at = $4, {} WHERE id = $1",
                record("$5", "$6")
            ),
            &[&id, &state, &run_at, &finished_at, &now, &error],
        )
        .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn release(&self, id: i64, worker: &super::WorkerId) -> Result<bool, AppError> {
        let c = self.pool.get().await?;
        let n = c
            .execute(
                "WITH released AS (UPDATE jobs SET state = 'available', attempt = attempt - 1, run_at = $3, \
                     lease_owner = NULL, lease_until = NULL \
                   WHERE id = $1 AND state = 'running' AND lease_owner = $2 RETURNING id) \
                 SELECT pg_notify($4, '') FROM released",
                &[&id, &worker.as_str(), &unix_millis(), &CHANNEL],
            )
            .await?;
        Ok(n == 1)
    }

    async fn rescue(&self, now: i64) -> Result<u64, AppError> {
        let error = "the worker stopped renewing its lease (it died or lost the database)";
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let dead = tx
            .execute(
                &format!(
                    "UPDATE jobs SET state = 'dead', finished_at = $1, {} \
                     WHERE state = 'running' AND lease_until < $1 AND attempt >= max_attempts",
                    record("$1", "$2")
                ),
                &[&now, &error],
            )
            .await?;
        let again = tx
            .execute(
                &format!(
                    "UPDATE jobs SET state = 'available', run_at = $1, {} WHERE state = 'running' AND lease_until < $1",
                    record("$1", "$2")
                ),
                &[&now, &error],
            )
            .await?;
        if again > 0 {
            tx.notify(CHANNEL, "").await?;
        }
        tx.commit().await?;
        if dead + again > 0 {
            tracing::warn!(
                rescued = dead + again,
                "jobs whose worker stopped renewing the lease are available again"
            );
        }
        Ok(dead + again)
    }

    async fn prune(&self, before: i64) -> Result<u64, AppError> {
        let c = self.pool.get().await?;
        Ok(c.execute(
            "DELETE FROM jobs WHERE state IN ('succeeded', 'cancelled') AND finished_at < $1",
            &[&before],
        )
        .await?)
    }

    async fn get(&self, id: i64) -> Result<Option<Job>, AppError> {
        let c = self.pool.get().await?;
        c.query_opt(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"), &[&id])
            .await?
            .as_ref()
            .map(job)
            .transpose()
    }

    async fn list(&self, filter: super::JobFilter) -> Result<Vec<Job>, AppError> {
        let c = self.pool.get().await?;
        let state = filter.state.map(|s| s.as_str().to_owned());
        let limit = i64::from(filter.limit);
        let rows = c
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM jobs \
                     WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR kind = $2) \
                       AND ($3::int8 IS NULL OR created_by = $3) AND ($4::int8 IS NULL OR id < $4) \
                     ORDER BY id DESC LIMIT $5"
                ),
                &[&state, &filter.kind, &filter.created_by, &filter.before_id, &limit],
            )
            .await?;
        rows.iter().map(job).collect()
    }

    async fn retry(&self, id: i64) -> Result<Option<Job>, AppError> {
        let c = self.pool.get().await?;
        let sql = format!(
            "WITH again AS (UPDATE jobs SET state = 'available', attempt = 0, run_at = $2, finished_at = NULL \
               WHERE id = $1 AND state IN ('dead', 'cancelled') RETURNING {COLUMNS}), \
             woken AS (SELECT pg_notify($3, '') FROM again) \
             SELECT again.* FROM again LEFT JOIN woken ON true"
        );
        c.query_opt(&sql, &[&id, &unix_millis(), &CHANNEL]).await?.as_ref().map(job).transpose()
    }

    async fn cancel(&self, id: i64) -> Result<Option<Result<Job, super::JobState>>, AppError> {
        let c = self.pool.get().await?;
        let cancelled = c
            .query_opt(
                &format!(
                    "UPDATE jobs SET state = 'cancelled', finished_at = $2 WHERE id = $1 AND state = 'available' \
                     RETURNING {COLUMNS}"
                ),
                &[&id, &unix_millis()],
            )
            .await?;
        if let Some(row) = cancelled {
            return Ok(Some(Ok(job(&row)?)));
        }
        let Some(row) = c.query_opt("SELECT state FROM jobs WHERE id = $1", &[&id]).await? else {
            return Ok(None);
        };
        let state: String = row.try_get(0)?;
        let state = super::JobState::parse(&state)
            .ok_or_else(|| AppError::Internal(format!("jobs: no job state is called {state:?}")))?;
        Ok(Some(Err(state)))
    }

    async fn stats(&self) -> Result<super::QueueStats, AppError> {
        let now = unix_millis();
        let c = self.pool.get().await?;
        // Both statements go out together (pipelined), one round trip for the two.
        let oldest_due = [&now as &dyn kiln_postgres::ToSql];
        let (counts, oldest) = kiln_runtime::join!(
            c.query("SELECT state, count(*) FROM jobs GROUP BY state", &[]),
            c.query_one(
                "SELECT min(run_at) FROM jobs WHERE state = 'available' AND run_at <= $1",
                &oldest_due
            ),
        );
        let counts = counts?
            .iter()
            .map(|r| Ok((r.try_get::<_, String>(0)?, r.try_get::<_, i64>(1)?)))
            .collect::<Result<Vec<_>, AppError>>()?;
        let by_state = super::JobState::ALL
            .iter()
            .map(|s| (*s, counts.iter().find(|(c, _)| c == s.as_str()).map_or(0, |(_, n)| *n as u64)))
            .collect();
        let oldest: Option<i64> = oldest?.try_get(0)?;
        Ok(super::QueueStats { by_state, oldest_due_ms: oldest.map_or(0, |t| now - t) })
    }

    async fn wait_for_work(&self) {
        self.work.notified().await;
    }
}
