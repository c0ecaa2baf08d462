//! Jobs in PostgreSQL: the `jobs` table of the PostgreSQL schema (migration 5), and
//! [`enqueue_in`], which adds a job inside the caller's transaction so that the job exists
//! if and only if the rest of the transaction commits — a return and the notice to the
//! next member waiting, say.

use super::{Enqueued, Job, JobSpec};
use crate::clock::unix_millis;
use crate::error::AppError;
use kiln_postgres::{Client, Json, Row};

/// The columns of [`Job`], in its field order.
pub(crate) const COLUMNS: &str =
    "id, kind, payload, state, priority, run_at, attempt, max_attempts, timeout_ms, \
     idempotency_key, created_by, last_error, errors, created_at, started_at, finished_at, lease_owner";

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
        "INSERT INTO jobs (kind, payload, priority, run_at, max_attempts, timeout_ms, idempotency_key, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (idempotency_key) DO NOTHING RETURNING {COLUMNS}"
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
            ],
        )
        .await?;
    if let Some(row) = inserted {
        return Ok(Enqueued { job: job(&row)?, created: true });
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
