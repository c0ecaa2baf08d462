//! The job queue: work the service does after it has answered — a welcome email after a
//! signup, a report an admin asked for — durably, on workers, with retries.
//!
//! A job is a row (`jobs`, migration 5) with a kind, a JSON payload and a state:
//!
//! ```text
//!   enqueue ──> available ──claim──> running ──ok──> succeeded
//!                  ^  │                 │ │
//!                  │  └─cancel─> cancelled │ └─error, attempts left──> available (run_at = now + backoff)
//!                  │                    └─error, none left, or permanent──> dead ──admin retry──┐
//!                  └──────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! **At least once, with leases.** A claim hands the job to one worker with a *lease* (a
//! time by which it must be finished or renewed); the worker renews it while the handler runs
//! (a heartbeat). A worker that dies — `kill -9`, a crash, a lost machine — stops renewing,
//! its lease runs out, and the job is *rescued*: available again, and it runs on another
//! worker. So a job can run more than once (its first run may have done part of the work
//! before the crash): handlers must be idempotent, and they get the attempt number to help.
//! A worker that lost its lease cannot complete the job either: completion is checked
//! against the lease owner.
//!
//! **Retries are rows, not sleeps.** A failed attempt sets `run_at` to the future
//! (`backoff.rs`: exponential, capped, full jitter) and the job waits in the table like any
//! other; no worker sits in a sleep, and a restart loses nothing. After the kind's
//! `max_attempts` the job is *dead*, with its last error and every attempt's error kept,
//! until an admin retries it.
//!
//! # Layout
//! - this file — the job, its states, what an enqueue asks for ([`JobSpec`]), the
//!   [`Queue`] trait every backend implements.
//! - `sqlite.rs` — the embedded backend: each claim is one short write transaction.
//! - `redis.rs`, `scripts.lua` — the shared backend: each step one Lua script in Redis.
//! - `postgres.rs` — jobs in PostgreSQL's `jobs` table: enqueueing in a transaction.
//! - `backend.rs` — [`Jobs`], the one the service runs on, and the outbox that keeps
//!   enqueues transactional with Redis too.
//! - `backoff.rs` — when a failed job runs again.
//! - `registry.rs` — the kinds a service runs: handler, attempts, timeout.
//! - `worker.rs` — the worker pool: claims on demand, runs handlers with heartbeats and
//!   timeouts, rescues expired leases, prunes old jobs, and stops gracefully.
//! - `kinds.rs` — the kinds this service runs (the welcome email, a demo).

pub mod backend;
pub mod backoff;
pub mod kinds;
pub mod postgres;
pub mod redis;
pub mod registry;
pub mod sqlite;
pub mod worker;

pub use backend::Jobs;
pub use backoff::Backoff;
pub use redis::RedisQueue;
pub use registry::{JobContext, JobError, KindOptions, Registry};
pub use sqlite::SqliteQueue;
pub use worker::{WorkerConfig, WorkerPool, WorkerSummary};

use crate::error::AppError;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for its `run_at` and a free worker.
    Available,
    /// Claimed by a worker, under a lease.
    Running,
    /// Done.
    Succeeded,
    /// Out of attempts (or failed for good): kept with its errors until retried.
    Dead,
    /// Cancelled before it ran.
    Cancelled,
}

impl JobState {
    /// Every state, in the order listings and the dashboard show them.
    pub const ALL: [JobState; 5] =
        [JobState::Available, JobState::Running, JobState::Succeeded, JobState::Dead, JobState::Cancelled];

    /// The state as the `jobs.state` column stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Available => "available",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    /// The state named `name`, if any.
    pub fn parse(name: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl rusqlite::types::ToSql for JobState {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for JobState {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<JobState> {
        let name = value.as_str()?;
        JobState::parse(name).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(format!("no job state is called {name:?}").into())
        })
    }
}

/// What an enqueue asks for.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The kind: which handler runs it.
    pub kind: String,
    /// The handler's input.
    pub payload: serde_json::Value,
    /// Not before this time (Unix ms); now if `None`.
    pub run_at: Option<i64>,
    /// Higher runs first among due jobs.
    pub priority: i32,
    /// A second enqueue with the same key returns the first job instead of adding one.
    pub idempotency_key: Option<String>,
    /// Claims allowed before the job is dead.
    pub max_attempts: u32,
    /// One attempt's time limit; past it the attempt fails (and is retried).
    pub timeout: Duration,
    /// The user who asked for it, if one did.
    pub created_by: Option<i64>,
    /// The W3C `traceparent` of the span that enqueued it (a request's): the job's span
    /// continues that trace as its child.
    pub traceparent: Option<String>,
}

impl JobSpec {
    /// The spec, enqueued on behalf of the span `trace` (if any): the job's span will be its
    /// child.
    pub fn traced(self, trace: Option<&kiln_http::middleware::TraceContext>) -> JobSpec {
        JobSpec { traceparent: trace.map(kiln_http::middleware::TraceContext::traceparent), ..self }
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// Kind.
    pub kind: String,
    /// Input.
    pub payload: serde_json::Value,
    /// State.
    pub state: JobState,
    /// Priority (higher first).
    pub priority: i32,
    /// Not before (Unix ms).
    pub run_at: i64,
    /// Claims so far.
    pub attempt: u32,
    /// Claims allowed.
    pub max_attempts: u32,
    /// One attempt's limit, ms.
    pub timeout_ms: u64,
    /// Idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// Who enqueued it, if a user did.
    pub created_by: Option<i64>,
    /// The latest failure.
    pub last_error: Option<String>,
    /// Every failed attempt: `[{attempt, at, error}]`.
    pub errors: serde_json::Value,
    /// Enqueued (Unix ms).
    pub created_at: i64,
    /// Latest claim (Unix ms).
    pub started_at: Option<i64>,
    /// Succeeded, died or was cancelled (Unix ms).
    pub finished_at: Option<i64>,
    /// The worker holding it while it runs (host, process id, a random part).
    pub lease_owner: Option<String>,
    /// The trace it continues (the enqueuing span's W3C `traceparent`), if any.
    pub traceparent: Option<String>,
}

/// Jobs this process added, by kind (`/metrics`' `jobs_enqueued_total`). Counted where the
/// row is written, so an enqueue inside a transaction that later rolls back counts too.
pub fn enqueued_counts() -> &'static std::sync::Mutex<std::collections::BTreeMap<String, u64>> {
    static COUNTS: std::sync::OnceLock<std::sync::Mutex<std::collections::BTreeMap<String, u64>>> =
        std::sync::OnceLock::new();
    COUNTS.get_or_init(Default::default)
}

/// Counts a new job of `kind` in [`enqueued_counts`].
pub(crate) fn count_enqueued(kind: &str) {
    let mut counts = enqueued_counts().lock().unwrap_or_else(|e| e.into_inner());
    match counts.get_mut(kind) {
        Some(n) => *n += 1,
        None => {
            counts.insert(kind.to_owned(), 1);
        }
    }
}

/// What an enqueue did.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueued {
    /// The job (the existing one, for a repeated idempotency key).
    pub job: Job,
    /// False if the idempotency key matched an existing job.
    pub created: bool,
}

/// A worker's identity: host, process and a random part, so two processes on one host (or
/// one restarted with the same pid) never share one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkerId(Arc<str>);

impl WorkerId {
    /// A new id for this process's workers.
    pub fn new() -> WorkerId {
        let host = crate::hostname();
        let random = crate::auth::tokens::random_bytes::<4>();
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        WorkerId(format!("{host}-{}-{hex}", std::process::id()).into())
    }

    /// The id as stored in `lease_owner`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for WorkerId {
    fn default() -> WorkerId {
        WorkerId::new()
    }
}

/// What a failed attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// It runs again at this time (Unix ms).
    Retry(i64),
    /// No attempts left, or a permanent error: dead.
    Dead,
    /// The lease was lost (rescued meanwhile): nothing recorded.
    LeaseLost,
}

/// Which jobs a listing shows.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this state.
    pub state: Option<JobState>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only jobs this user enqueued.
    pub created_by: Option<i64>,
    /// Page size.
    pub limit: u32,
    /// Jobs with smaller ids than this (newest first: the cursor of the previous page).
    pub before_id: Option<i64>,
}

/// Counts for the dashboard: jobs by state, and the oldest due job's wait.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueueStats {
    /// Jobs in each state.
    pub by_state: Vec<(JobState, u64)>,
    /// How long the oldest due job has waited, ms (0 if none).
    pub oldest_due_ms: i64,
}

/// A queue backend: what workers and routes need from the storage of jobs. Every method
/// is one atomic step of the state diagram in the module doc.
pub trait Queue: Send + Sync + 'static {
    /// Adds a job (or finds the one with the same idempotency key).
    fn enqueue(&self, spec: JobSpec) -> impl Future<Output = Result<Enqueued, AppError>> + Send;
    /// Claims the due job of the highest priority for `worker`, with a lease until
    /// `lease_until` (Unix ms).
    fn claim(
        &self,
        worker: &WorkerId,
        lease_until: i64,
    ) -> impl Future<Output = Result<Option<Job>, AppError>> + Send;
    /// Extends `worker`'s lease on job `id`; false if the lease is no longer its own.
    fn heartbeat(
        &self,
        id: i64,
        worker: &WorkerId,
        lease_until: i64,
    ) -> impl Future<Output = Result<bool, AppError>> + Send;
    /// Marks job `id` succeeded; false if `worker` no longer holds it.
    fn complete(&self, id: i64, worker: &WorkerId) -> impl Future<Output = Result<bool, AppError>> + Send;
    /// Records a failed attempt: retried at `retry_at` (Unix ms) if attempts remain and
    /// `retry_at` is given, else dead.
    fn fail(
        &self,
        id: i64,
        worker: &WorkerId,
        error: String,
        retry_at: Option<i64>,
    ) -> impl Future<Output = Result<Failed, AppError>> + Send;
    /// Gives job `id` back unrun (a worker stopping): available now, the attempt not counted.
    fn release(&self, id: i64, worker: &WorkerId) -> impl Future<Output = Result<bool, AppError>> + Send;
    /// Makes running jobs whose lease ran out before `now` available again (or dead, if
    /// that was their last attempt). Returns how many.
    fn rescue(&self, now: i64) -> impl Future<Output = Result<u64, AppError>> + Send;
    /// Deletes succeeded and cancelled jobs finished before `before` (Unix ms).
    fn prune(&self, before: i64) -> impl Future<Output = Result<u64, AppError>> + Send;
    /// Job `id`.
    fn get(&self, id: i64) -> impl Future<Output = Result<Option<Job>, AppError>> + Send;
    /// A page of jobs, newest first.
    fn list(&self, filter: JobFilter) -> impl Future<Output = Result<Vec<Job>, AppError>> + Send;
    /// Makes a dead or cancelled job available again with fresh attempts.
    fn retry(&self, id: i64) -> impl Future<Output = Result<Option<Job>, AppError>> + Send;
    /// Cancels an available job; `Err(state)` if it is past that.
    fn cancel(&self, id: i64)
        -> impl Future<Output = Result<Option<Result<Job, JobState>>, AppError>> + Send;
    /// Counts for the dashboard.
    fn stats(&self) -> impl Future<Output = Result<QueueStats, AppError>> + Send;
    /// Resolves when a job may have become available (an enqueue in this process); workers
    /// also poll, for jobs other processes add and for retries coming due.
    fn wait_for_work(&self) -> impl Future<Output = ()> + Send;
}
