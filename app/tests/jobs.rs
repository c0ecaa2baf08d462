//! The job queue on its three backends — a real SQLite file, a real `redis-server` and a
//! private PostgreSQL cluster, each on a free port: retries with backoff and dead jobs, idempotency keys, time limits, a worker killed
//! with SIGKILL mid-job, two "processes" (queues on their own connections) sharing one
//! store, graceful shutdown, the `/jobs` routes, and Redis restarted under running workers.

mod common;

use common::{rt, start_exactly};
use kiln_app::config::Config;
use kiln_app::db::{Pool, PoolConfig};
use kiln_app::jobs::kinds::Mail;
use kiln_app::jobs::{
    Backoff, Job, JobContext, JobError, JobState, Jobs, KindOptions, Queue, RedisQueue, Registry,
    SqliteQueue, WorkerConfig, WorkerPool,
};
use kiln_http::http::{Method, StatusCode};
use kiln_redis::{Client, ClientConfig};
use kiln_test_support::postgres::PostgresServer;
use kiln_test_support::redis::RedisServer;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Workers quick enough for tests: short leases, fast polls, tiny backoff.
fn fast() -> WorkerConfig {
    WorkerConfig {
        concurrency: 4,
        lease: Duration::from_millis(900),
        poll: Duration::from_millis(20),
        drain: Duration::from_secs(2),
        backoff: Backoff { base: Duration::from_millis(5), cap: Duration::from_millis(40) },
        ..WorkerConfig::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Redis,
    Postgres,
}

/// Where a test's jobs live: a temporary directory (the SQLite file, which is the outbox
/// with Redis, and mail outboxes) and, for Redis or PostgreSQL, a private server.
struct Place {
    dir: tempfile::TempDir,
    redis: Option<RedisServer>,
    postgres: Option<PostgresServer>,
}

impl Place {
    fn new(backend: Backend) -> Place {
        let redis = (backend == Backend::Redis).then(RedisServer::start);
        let postgres = (backend == Backend::Postgres).then(PostgresServer::start);
        Place { dir: tempfile::tempdir().unwrap(), redis, postgres }
    }

    fn db(&self) -> std::path::PathBuf {
        self.dir.path().join("k.db")
    }

    /// A queue on connections of its own: a second one is another process, as far as the
    /// store can tell.
    async fn open(&self) -> Arc<Jobs> {
        match &self.postgres {
            Some(pg) => open_postgres(&pg.url()).await,
            None => open(&self.db(), self.redis.as_ref().map(RedisServer::url).as_deref()).await,
        }
    }

    /// The service's configuration on this place.
    fn config(&self) -> Config {
        let mut config = Config { db: self.db(), jwt_secret: Some(vec![42; 32]), ..Config::default() };
        config.auth.bcrypt_cost = 4;
        config.workers = fast();
        config.redis = self.redis.as_ref().map(|r| ClientConfig::from_url(&r.url()).unwrap());
        config.database_url =
            self.postgres.as_ref().map(|p| kiln_postgres::Config::from_url(&p.url()).unwrap());
        config
    }
}

/// A queue on the PostgreSQL database at `url`, migrated.
async fn open_postgres(url: &str) -> Arc<Jobs> {
    let config = kiln_postgres::Config::from_url(url).unwrap();
    let mut client = kiln_postgres::Client::connect(config.clone()).await.unwrap();
    kiln_app::db::pg_migrations::migrate(&mut client).await.unwrap();
    let pool = kiln_postgres::Pool::new(config, kiln_postgres::PoolConfig::default());
    Arc::new(Jobs::Postgres(kiln_app::jobs::postgres::PostgresQueue::new(pool)))
}

async fn open(db: &Path, redis: Option<&str>) -> Arc<Jobs> {
    let pool = Pool::open(db, PoolConfig::default()).await.unwrap();
    Arc::new(match redis {
        None => Jobs::Sqlite(SqliteQueue::new(pool)),
        Some(url) => {
            let client = Client::connect(ClientConfig::from_url(url).unwrap()).await.unwrap();
            Jobs::redis(RedisQueue::new(Arc::new(client), kiln_app::jobs::redis::DEFAULT_PREFIX), pool)
        }
    })
}

/// Each named test function, taking a [`Backend`], as three tests: `name::sqlite`,
/// `name::redis` and `name::postgres`.
macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(super::Backend::Sqlite)
            }
            #[test]
            fn redis() {
                super::$name(super::Backend::Redis)
            }
            #[test]
            fn postgres() {
                super::$name(super::Backend::Postgres)
            }
        }
    )*};
}

on_each_backend!(
    failed_attempts_back_off_then_succeed_or_die_with_every_error_kept,
    an_idempotency_key_names_one_job,
    an_attempt_over_its_time_limit_fails_and_a_panic_is_a_failure,
    two_queues_on_one_store_run_every_job_exactly_once,
    shutdown_lets_short_jobs_finish_and_releases_long_ones_unspent,
    a_killed_workers_job_runs_again_after_its_lease,
    signup_enqueues_a_welcome_email_in_its_transaction,
    the_jobs_routes_enqueue_show_list_retry_and_cancel_with_permissions,
    priorities_and_due_times_order_the_claims,
);

/// Polls job `id` until `done` holds (10 s at most; a failed read, Redis reconnecting, is
/// polled past).
async fn wait_for(queue: &Jobs, id: i64, what: &str, done: impl Fn(&Job) -> bool) -> Job {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let job = queue.get(id).await.map(|j| j.expect("the job exists"));
        if let Ok(job) = &job {
            if done(job) {
                return job.clone();
            }
        }
        assert!(Instant::now() < deadline, "job {id} never {what}: {job:#?}");
        kiln_runtime::time::sleep(Duration::from_millis(10)).await;
    }
}

fn spec(registry: &Registry, kind: &str, payload: Value) -> kiln_app::jobs::JobSpec {
    registry.spec(kind, payload)
}

fn failed_attempts_back_off_then_succeed_or_die_with_every_error_kept(backend: Backend) {
    let place = Place::new(backend);
    let dir = &place.dir;
    rt().block_on(async {
        let queue = place.open().await;
        let registry = Arc::new(kiln_app::jobs::kinds::registry(Mail::Outbox(dir.path().join("outbox"))));
        let pool = WorkerPool::start(queue.clone(), registry.clone(), fast());

        let flaky = queue.enqueue(spec(&registry, "demo", json!({"fail_attempts": 2}))).await.unwrap().job;
        let done = wait_for(&queue, flaky.id, "succeeded", |j| j.state == JobState::Succeeded).await;
        assert_eq!(done.attempt, 3, "two failures, then the third attempt worked");
        let errors = done.errors.as_array().unwrap();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0]["attempt"], 1);
        assert!(errors[1]["error"].as_str().unwrap().contains("attempt 2"), "{errors:?}");
        assert!(done.finished_at.is_some());

        let hopeless =
            queue.enqueue(spec(&registry, "demo", json!({"fail_attempts": 100}))).await.unwrap().job;
        let dead = wait_for(&queue, hopeless.id, "died", |j| j.state == JobState::Dead).await;
        assert_eq!((dead.attempt, dead.max_attempts), (8, 8));
        assert_eq!(dead.errors.as_array().unwrap().len(), 8);
        assert!(dead.last_error.as_deref().unwrap().contains("attempt 8"), "{dead:?}");

        let broken = queue.enqueue(spec(&registry, "demo", json!({"ms": "soon"}))).await.unwrap().job;
        let dead = wait_for(&queue, broken.id, "died", |j| j.state == JobState::Dead).await;
        assert_eq!(dead.attempt, 1, "a permanent error is not retried");
        assert!(dead.last_error.as_deref().unwrap().contains("permanent"), "{dead:?}");

        let again = queue.retry(broken.id).await.unwrap().expect("a dead job can be retried");
        assert_eq!((again.state, again.attempt), (JobState::Available, 0));
        let dead = wait_for(&queue, broken.id, "died again", |j| {
            j.state == JobState::Dead && j.errors.as_array().unwrap().len() == 2
        })
        .await;
        assert_eq!(dead.attempt, 1, "fresh attempts, the history kept");
        assert!(queue.retry(flaky.id).await.unwrap().is_none(), "a succeeded job is not retried");
        pool.shutdown().await;
    });
}

fn an_idempotency_key_names_one_job(backend: Backend) {
    let place = Place::new(backend);
    let dir = &place.dir;
    rt().block_on(async {
        let queue = place.open().await;
        let registry = kiln_app::jobs::kinds::registry(Mail::Outbox(dir.path().join("outbox")));
        let mut first = spec(&registry, "demo", json!({"ms": 1}));
        first.idempotency_key = Some("report-2026-12".into());
        let a = queue.enqueue(first.clone()).await.unwrap();
        first.payload = json!({"ms": 2});
        let b = queue.enqueue(first).await.unwrap();
        assert!(a.created && !b.created);
        assert_eq!(b.job, a.job, "the second enqueue returns the first job, payload and all");
        let c = queue.enqueue(spec(&registry, "demo", json!({}))).await.unwrap();
        assert!(c.created && c.job.id != a.job.id, "no key, a new job");
    });
}

fn an_attempt_over_its_time_limit_fails_and_a_panic_is_a_failure(backend: Backend) {
    let place = Place::new(backend);
    rt().block_on(async {
        let queue = place.open().await;
        let limit = KindOptions { max_attempts: 2, timeout: Duration::from_millis(50), public: false };
        let registry = Arc::new(
            Registry::new()
                .register("slow", limit, |_cx: JobContext| async {
                    kiln_runtime::time::sleep(Duration::from_secs(30)).await;
                    Ok(())
                })
                .register("panics", KindOptions { max_attempts: 1, ..KindOptions::default() }, |_cx| async {
                    if true {
                        panic!("a bug in the handler");
                    }
                    Ok::<(), JobError>(())
                }),
        );
        let pool = WorkerPool::start(queue.clone(), registry.clone(), fast());
        let slow = queue.enqueue(registry.spec("slow", json!({}))).await.unwrap().job;
        let panics = queue.enqueue(registry.spec("panics", json!({}))).await.unwrap().job;
        let dead = wait_for(&queue, slow.id, "died", |j| j.state == JobState::Dead).await;
        assert_eq!(dead.attempt, 2);
        assert_eq!(dead.last_error.as_deref(), Some("timed out after 50 ms"));
        let dead = wait_for(&queue, panics.id, "died", |j| j.state == JobState::Dead).await;
        assert!(dead.last_error.as_deref().unwrap().contains("a bug in the handler"), "{dead:?}");
        let summary = pool.shutdown().await;
        assert_eq!(summary.released, 0);
    });
}

/// Jobs the counting kind has started, by id, and how many run at once per id.
#[derive(Default)]
struct Runs {
    started: Mutex<HashMap<i64, u32>>,
    overlapping: AtomicU32,
    in_flight: Mutex<HashMap<i64, u32>>,
}

fn counting(runs: Arc<Runs>) -> Registry {
    Registry::new().register("count", KindOptions::default(), move |cx: JobContext| {
        let runs = runs.clone();
        async move {
            *runs.started.lock().unwrap().entry(cx.id).or_default() += 1;
            let now = {
                let mut in_flight = runs.in_flight.lock().unwrap();
                let n = in_flight.entry(cx.id).or_default();
                *n += 1;
                *n
            };
            if now > 1 {
                runs.overlapping.fetch_add(1, Ordering::SeqCst);
            }
            kiln_runtime::time::sleep(Duration::from_millis(2)).await;
            *runs.in_flight.lock().unwrap().get_mut(&cx.id).unwrap() -= 1;
            Ok(())
        }
    })
}

fn two_queues_on_one_store_run_every_job_exactly_once(backend: Backend) {
    let place = Place::new(backend);
    rt().block_on(async {
        // Two queues on their own connections to one store: two processes, as far as the
        // store and the claim are concerned.
        let (one, two) = (place.open().await, place.open().await);
        let runs = Arc::new(Runs::default());
        let registry = Arc::new(counting(runs.clone()));
        let pools = [
            WorkerPool::start(one.clone(), registry.clone(), fast()),
            WorkerPool::start(two.clone(), registry.clone(), fast()),
        ];
        let mut ids = Vec::new();
        for i in 0..200 {
            let queue = if i % 2 == 0 { &one } else { &two };
            ids.push(queue.enqueue(registry.spec("count", json!({ "n": i }))).await.unwrap().job.id);
        }
        for id in &ids {
            wait_for(&one, *id, "succeeded", |j| j.state == JobState::Succeeded).await;
        }
        let started = runs.started.lock().unwrap().clone();
        assert_eq!(started.len(), 200, "every job ran");
        assert!(started.values().all(|n| *n == 1), "none ran twice: {started:?}");
        assert_eq!(runs.overlapping.load(Ordering::SeqCst), 0);
        for pool in pools {
            pool.shutdown().await;
        }
    });
}

fn shutdown_lets_short_jobs_finish_and_releases_long_ones_unspent(backend: Backend) {
    let place = Place::new(backend);
    let dir = &place.dir;
    rt().block_on(async {
        let queue = place.open().await;
        let registry = Arc::new(kiln_app::jobs::kinds::registry(Mail::Outbox(dir.path().join("outbox"))));
        // fast()'s drain (2 s) is long enough for the short job even on a loaded machine; the
        // long one outlasts it.
        let config = fast();
        let pool = WorkerPool::start(queue.clone(), registry.clone(), config);
        let short = queue.enqueue(registry.spec("demo", json!({"ms": 100}))).await.unwrap().job;
        let long = queue.enqueue(registry.spec("demo", json!({"ms": 20_000}))).await.unwrap().job;
        wait_for(&queue, long.id, "started", |j| j.state == JobState::Running).await;
        wait_for(&queue, short.id, "started", |j| j.state != JobState::Available).await;
        let summary = pool.shutdown().await;
        assert_eq!((summary.finished_in_drain, summary.released), (1, 1), "{summary:?}");
        assert_eq!(queue.get(short.id).await.unwrap().unwrap().state, JobState::Succeeded);
        let released = queue.get(long.id).await.unwrap().unwrap();
        assert_eq!(
            (released.state, released.attempt),
            (JobState::Available, 0),
            "released unspent: {released:?}"
        );
    });
}

const CHILD_DB: &str = "KILN_JOBS_CHILD_DB";
const CHILD_REDIS: &str = "KILN_JOBS_CHILD_REDIS";
const CHILD_POSTGRES: &str = "KILN_JOBS_CHILD_POSTGRES";

/// Not a test: the worker process that `a_killed_workers_job_runs_again_after_its_lease` kills.
#[test]
#[ignore = "entry point of the worker process that the kill -9 test kills"]
fn child_worker() {
    let Ok(db) = std::env::var(CHILD_DB) else { panic!("run only by the kill -9 test (it sets {CHILD_DB})") };
    rt().block_on(async move {
        let queue = match std::env::var(CHILD_POSTGRES) {
            Ok(url) => open_postgres(&url).await,
            Err(_) => open(Path::new(&db), std::env::var(CHILD_REDIS).ok().as_deref()).await,
        };
        let marker = format!("{db}.started");
        let registry = Registry::new().register("work", KindOptions::default(), move |_cx| {
            let marker = marker.clone();
            async move {
                std::fs::write(&marker, "running").unwrap();
                std::future::pending::<()>().await; // killed before it finishes
                Ok(())
            }
        });
        let _pool = WorkerPool::start(queue, Arc::new(registry), WorkerConfig { concurrency: 1, ..fast() });
        std::future::pending::<()>().await;
    });
}

fn a_killed_workers_job_runs_again_after_its_lease(backend: Backend) {
    let place = Place::new(backend);
    let db = place.db();
    rt().block_on(async {
        let queue = place.open().await;
        let done = Arc::new(AtomicU32::new(0));
        let seen = done.clone();
        let registry =
            Arc::new(Registry::new().register("work", KindOptions::default(), move |cx: JobContext| {
                seen.store(cx.attempt, Ordering::SeqCst);
                async { Ok(()) }
            }));
        let job = queue.enqueue(registry.spec("work", json!({}))).await.unwrap().job;

        let mut child = Command::new(std::env::current_exe().unwrap());
        child.args(["--ignored", "--exact", "child_worker", "--nocapture"]).env(CHILD_DB, &db);
        if let Some(redis) = &place.redis {
            child.env(CHILD_REDIS, redis.url());
        }
        if let Some(pg) = &place.postgres {
            child.env(CHILD_POSTGRES, pg.url());
        }
        let mut child = child.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let marker = format!("{}.started", db.display());
        let deadline = Instant::now() + Duration::from_secs(20);
        while !Path::new(&marker).exists() {
            assert!(Instant::now() < deadline, "the child never started the job");
            kiln_runtime::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(queue.get(job.id).await.unwrap().unwrap().state, JobState::Running);
        child.kill().unwrap(); // SIGKILL: no shutdown, no release
        child.wait().unwrap();

        let pool = WorkerPool::start(queue.clone(), registry, fast());
        let finished = wait_for(&queue, job.id, "succeeded", |j| j.state == JobState::Succeeded).await;
        assert_eq!(finished.attempt, 2, "the killed attempt counts");
        assert_eq!(done.load(Ordering::SeqCst), 2, "the handler ran here as attempt 2");
        assert!(finished.errors[0]["error"].as_str().unwrap().contains("lease"), "{finished:?}");
        pool.shutdown().await;
    });
}

fn priorities_and_due_times_order_the_claims(backend: Backend) {
    let place = Place::new(backend);
    rt().block_on(async {
        let queue = place.open().await;
        let registry = kiln_app::jobs::kinds::registry(Mail::Outbox(place.dir.path().join("outbox")));
        let now = kiln_app::clock::unix_millis();
        let add = |priority: i32, ago: i64| {
            let mut spec = registry.spec("demo", json!({}));
            spec.priority = priority;
            spec.run_at = Some(now - ago);
            spec
        };
        let specs = [add(0, 300), add(5, 100), add(0, 900), add(5, 200), add(-3, 5000), add(9, -60_000)];
        let mut ids = Vec::new();
        for spec in specs {
            ids.push(queue.enqueue(spec).await.unwrap().job.id);
        }
        let stats = queue.stats().await.unwrap();
        assert_eq!(stats.by_state[0], (JobState::Available, 6));
        assert!((5000..6000).contains(&stats.oldest_due_ms), "the oldest due job waited 5 s: {stats:?}");

        let worker = kiln_app::jobs::WorkerId::new();
        let lease = now + 60_000;
        let first = queue.claim(&worker, lease).await.unwrap().unwrap();
        assert_eq!(first.id, ids[3], "priority 5, the older of the two");
        assert_eq!(
            (first.state, first.attempt, first.lease_owner.as_deref()),
            (JobState::Running, 1, Some(worker.as_str()))
        );
        // Cancelling a due job that is waiting in claim order takes it out of that order.
        assert!(matches!(queue.cancel(ids[1]).await.unwrap(), Some(Ok(_))));
        assert_eq!(queue.cancel(ids[3]).await.unwrap().unwrap().unwrap_err(), JobState::Running);
        assert!(queue.cancel(999_999).await.unwrap().is_none());
        let mut order = Vec::new();
        while let Some(job) = queue.claim(&worker, lease).await.unwrap() {
            order.push(job.id);
        }
        assert_eq!(
            order,
            [ids[2], ids[0], ids[4]],
            "priority first, then the due time; the future job waits"
        );

        // Only the lease owner can extend, complete or fail a job.
        let other = kiln_app::jobs::WorkerId::new();
        assert!(!queue.heartbeat(ids[3], &other, lease).await.unwrap());
        assert!(!queue.complete(ids[3], &other).await.unwrap());
        assert!(queue.heartbeat(ids[3], &worker, lease + 1).await.unwrap());
        assert!(queue.complete(ids[3], &worker).await.unwrap());
        assert!(!queue.complete(ids[3], &worker).await.unwrap(), "completed once");
        let retry_at = kiln_app::clock::unix_millis() - 1;
        let failed = queue.fail(ids[2], &worker, "boom".into(), Some(retry_at)).await.unwrap();
        assert_eq!(failed, kiln_app::jobs::Failed::Retry(retry_at));
        let again = queue.claim(&worker, lease).await.unwrap().unwrap();
        assert_eq!((again.id, again.attempt, again.errors[0]["error"].as_str()), (ids[2], 2, Some("boom")));
        // A lease that ran out: the rescue makes the job available again (the attempt counts).
        assert!(queue.heartbeat(ids[2], &worker, 1).await.unwrap());
        assert_eq!(queue.rescue(kiln_app::clock::unix_millis()).await.unwrap(), 1);
        assert!(!queue.complete(ids[2], &worker).await.unwrap(), "its lease is gone");
        let rescued = queue.get(ids[2]).await.unwrap().unwrap();
        assert_eq!(
            (rescued.state, rescued.attempt, rescued.errors.as_array().unwrap().len()),
            (JobState::Available, 2, 2)
        );
        assert!(queue.release(ids[0], &worker).await.unwrap());
        let released = queue.get(ids[0]).await.unwrap().unwrap();
        assert_eq!((released.state, released.attempt), (JobState::Available, 0), "released unspent");

        let stats = queue.stats().await.unwrap();
        let count = |state| stats.by_state.iter().find(|(s, _)| *s == state).unwrap().1;
        assert_eq!(
            [JobState::Available, JobState::Running, JobState::Succeeded, JobState::Cancelled].map(count),
            [3, 1, 1, 1],
            "{stats:?}"
        );
        let listed = queue
            .list(kiln_app::jobs::JobFilter {
                state: Some(JobState::Available),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.iter().map(|j| j.id).collect::<Vec<_>>(), [ids[5], ids[2], ids[0]], "newest first");
        // Pruning removes finished jobs past retention, and only those.
        assert_eq!(queue.prune(kiln_app::clock::unix_millis() + 1).await.unwrap(), 2);
        assert!(queue.get(ids[3]).await.unwrap().is_none() && queue.get(ids[1]).await.unwrap().is_none());
        assert!(queue.get(ids[4]).await.unwrap().is_some());
    });
}

/// With Redis, a job enqueued in a database transaction waits in the `jobs` table (the
/// outbox) until the relay moves it; a relay that crashed after enqueueing and before
/// deleting the row moves it again into the same job.
#[test]
fn the_outbox_relays_each_committed_job_into_redis_once() {
    let place = Place::new(Backend::Redis);
    rt().block_on(async {
        let pool = Pool::open(&place.db(), PoolConfig::default()).await.unwrap();
        let client = Arc::new(Client::connect(ClientConfig::from_url(&place.redis.as_ref().unwrap().url()).unwrap()).await.unwrap());
        let queue = RedisQueue::new(client, kiln_app::jobs::redis::DEFAULT_PREFIX);
        let registry = kiln_app::jobs::kinds::registry(Mail::Outbox(place.dir.path().join("outbox")));
        let outbox_row = |key: &'static str| {
            let mut spec = registry.spec("demo", json!({ "key": key }));
            spec.idempotency_key = Some(key.into());
            let pool = pool.clone();
            async move { pool.transaction(move |tx| kiln_app::jobs::sqlite::enqueue_in(tx, spec)).await.unwrap() }
        };
        outbox_row("report-1").await;
        outbox_row("report-2").await;
        assert_eq!(kiln_app::jobs::backend::relay(&pool, &queue).await.unwrap(), 2);
        assert_eq!(kiln_app::jobs::backend::relay(&pool, &queue).await.unwrap(), 0, "the rows are gone");
        let listed = queue.list(kiln_app::jobs::JobFilter { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(listed.len(), 2);
        // The same row again, as if the relay had died before its delete.
        outbox_row("report-1").await;
        assert_eq!(kiln_app::jobs::backend::relay(&pool, &queue).await.unwrap(), 1);
        let listed = queue.list(kiln_app::jobs::JobFilter { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(listed.len(), 2, "the idempotency key found the job it made before");
        assert_eq!(listed[1].payload, json!({ "key": "report-1" }));
    });
}

/// Redis killed and started again (with its append-only file: a queue's Redis must persist)
/// while workers run: the workers and the service come back, and every job runs.
#[test]
fn jobs_survive_a_redis_restart_and_the_service_recovers() {
    let mut redis = RedisServer::start_durable();
    let dir = tempfile::tempdir().unwrap();
    let place = Place { dir, redis: None, postgres: None };
    let mut config = place.config();
    config.redis = Some(ClientConfig::from_url(&redis.url()).unwrap());
    // The service runs no workers: the pool below runs the test's kind.
    config.workers = WorkerConfig { lease: Duration::from_secs(2), concurrency: 0, ..fast() };
    rt().block_on(async {
        let s = start_exactly(config.clone()).await;
        let runs = Arc::new(Runs::default());
        let registry = Arc::new(counting(runs.clone()));
        let queue = open(&place.db(), Some(&redis.url())).await;
        let pool = WorkerPool::start(
            queue.clone(),
            registry.clone(),
            WorkerConfig { concurrency: 2, ..config.workers },
        );
        let mut ids = Vec::new();
        for i in 0..100 {
            ids.push(queue.enqueue(registry.spec("count", json!({ "n": i }))).await.unwrap().job.id);
        }
        let member = s.user("ada@example.com").await;
        while runs.started.lock().unwrap().len() < 10 {
            kiln_runtime::time::sleep(Duration::from_millis(1)).await;
        }
        redis.kill();
        let (status, headers, problem) =
            s.call(Method::POST, "/jobs", Some(&member), Some(json!({"kind": "demo"}))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(problem["detail"], "a backing service is unavailable; retry shortly");
        kiln_runtime::time::sleep(Duration::from_millis(300)).await;
        redis.restart();

        for id in &ids {
            wait_for(&queue, *id, "succeeded", |j| j.state == JobState::Succeeded).await;
        }
        let started = runs.started.lock().unwrap().clone();
        assert_eq!(started.len(), 100, "no job lost");
        assert_eq!(runs.overlapping.load(Ordering::SeqCst), 0, "none ran twice at once");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, _, job) =
                s.call(Method::POST, "/jobs", Some(&member), Some(json!({"kind": "demo"}))).await;
            if status == StatusCode::CREATED {
                break;
            }
            assert!(Instant::now() < deadline, "the service did not recover: {status} {job}");
            kiln_runtime::time::sleep(Duration::from_millis(50)).await;
        }
        pool.shutdown().await;
        s.stop().await;
    });
}

fn signup_enqueues_a_welcome_email_in_its_transaction(backend: Backend) {
    let place = Place::new(backend);
    let db = place.db();
    rt().block_on(async {
        let s = start_exactly(place.config()).await;
        let admin = s.user("ada@example.com").await;
        let outbox = kiln_app::jobs::kinds::outbox_path(&db);
        let deadline = Instant::now() + Duration::from_secs(10);
        let text = loop {
            let text = std::fs::read_to_string(&outbox).unwrap_or_default();
            if text.contains("ada@example.com") {
                break text;
            }
            assert!(Instant::now() < deadline, "no welcome email in {}", outbox.display());
            kiln_runtime::time::sleep(Duration::from_millis(10)).await;
        };
        let line: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["subject"], "Welcome to the library");
        // The handler wrote the line; the worker records success just after.
        let page = loop {
            let (status, _, page) =
                s.call(Method::GET, "/jobs?kind=welcome_email&state=succeeded", Some(&admin), None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            if !page["items"][0].is_null() {
                break page;
            }
            assert!(Instant::now() < deadline, "the welcome email never succeeded: {page}");
            kiln_runtime::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(page["items"][0]["idempotency_key"], "welcome-1");
        // A refused signup (the email is taken) enqueues nothing.
        let (status, _) = s
            .post(
                "/auth/signup",
                json!({"email": "ada@example.com", "password": "correct horse", "display_name": "A"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (_, _, page) = s.call(Method::GET, "/jobs?kind=welcome_email", Some(&admin), None).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        s.stop().await;
    });
}

fn the_jobs_routes_enqueue_show_list_retry_and_cancel_with_permissions(backend: Backend) {
    let place = Place::new(backend);
    rt().block_on(async {
        let s = start_exactly(place.config()).await;
        let admin = s.user("admin@example.com").await;
        let member = s.user("member@example.com").await;

        let (status, headers, job) = s
            .call(
                Method::POST,
                "/jobs",
                Some(&member),
                Some(json!({"kind": "demo", "payload": {"ms": 1}, "idempotency_key": "k1"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        let id = job["id"].as_i64().unwrap();
        assert_eq!(headers["location"], format!("/jobs/{id}").as_str());
        assert_eq!(job["idempotency_key"], "k1");
        let (status, _, again) = s
            .call(
                Method::POST,
                "/jobs",
                Some(&member),
                Some(json!({"kind": "demo", "idempotency_key": "k1"})),
            )
            .await;
        assert_eq!((status, again["id"].as_i64()), (StatusCode::OK, Some(id)), "the same key, the same job");
        let (status, _, other) = s
            .call(Method::POST, "/jobs", Some(&admin), Some(json!({"kind": "demo", "idempotency_key": "k1"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "another user's key is another job: {other}");
        // Each job keeps the span of the request that posted it: the job's span is its child.
        let parents: Vec<&str> =
            [&again, &other].iter().map(|j| j["traceparent"].as_str().unwrap()).collect();
        assert!(parents.iter().all(|t| kiln_http::middleware::trace_id_of(t).is_some()), "{parents:?}");
        assert_ne!(parents[0], parents[1], "two requests, two spans");

        for (body, field) in [
            (json!({"kind": "welcome_email"}), "kind"),
            (json!({"kind": "demo", "priority": 101}), "priority"),
            (json!({"kind": "demo", "idempotency_key": "has space"}), "idempotency_key"),
            (json!({"kind": "demo", "run_at": -1}), "run_at"),
        ] {
            let (status, _, p) = s.call(Method::POST, "/jobs", Some(&member), Some(body.clone())).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {p}");
            assert_eq!(p["errors"][0]["field"], field, "{p}");
        }
        assert_eq!(
            s.call(Method::POST, "/jobs", None, Some(json!({"kind": "demo"}))).await.0,
            StatusCode::UNAUTHORIZED
        );

        // A member sees their own jobs only; an admin sees all.
        let admins_job = other["id"].as_i64().unwrap();
        assert_eq!(
            s.call(Method::GET, &format!("/jobs/{admins_job}"), Some(&member), None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(s.call(Method::GET, &format!("/jobs/{id}"), Some(&admin), None).await.0, StatusCode::OK);
        let (_, _, mine) = s.call(Method::GET, "/jobs?kind=demo", Some(&member), None).await;
        assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");

        // Paging: newest first, the cursor is the last id of a page.
        for _ in 0..4 {
            s.call(
                Method::POST,
                "/jobs",
                Some(&admin),
                Some(json!({"kind": "demo", "run_at": 253_402_300_799_999_i64})),
            )
            .await;
        }
        let (_, _, first) = s.call(Method::GET, "/jobs?limit=2&kind=demo", Some(&admin), None).await;
        let ids = |p: &Value| {
            p["items"].as_array().unwrap().iter().map(|j| j["id"].as_i64().unwrap()).collect::<Vec<_>>()
        };
        let next = first["next"].as_str().unwrap().to_owned();
        let (_, _, second) = s.call(Method::GET, &next, Some(&admin), None).await;
        let (a, b) = (ids(&first), ids(&second));
        assert!(a[0] > a[1] && a[1] > b[0], "newest first, and the next page continues: {a:?} {b:?}");
        assert_eq!(
            s.call(Method::GET, "/jobs?cursor=abc", Some(&admin), None).await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );

        // Cancel: admins only, and only before the job starts.
        let scheduled = a[0];
        let path = format!("/jobs/{scheduled}");
        let cancel = format!("{path}/cancel");
        assert_eq!(s.call(Method::POST, &cancel, Some(&member), None).await.0, StatusCode::FORBIDDEN);
        let (status, _, cancelled) = s.call(Method::POST, &cancel, Some(&admin), None).await;
        assert_eq!((status, &cancelled["state"]), (StatusCode::OK, &json!("cancelled")));
        assert_eq!(s.call(Method::POST, &cancel, Some(&admin), None).await.0, StatusCode::CONFLICT);
        let (_, _, kept) = s.call(Method::GET, &path, Some(&admin), None).await;
        assert_eq!(kept["state"], "cancelled", "a cancelled job stays, with its history");
        let (status, _, again) = s.call(Method::POST, &format!("{path}/retry"), Some(&admin), None).await;
        assert_eq!((status, &again["state"]), (StatusCode::OK, &json!("available")));
        assert_eq!(
            s.call(Method::POST, "/jobs/999999/cancel", Some(&admin), None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            s.call(Method::POST, "/jobs/999999/retry", Some(&admin), None).await.0,
            StatusCode::NOT_FOUND
        );

        // The member's first job ran; a succeeded job is not retried.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, _, job) = s.call(Method::GET, &format!("/jobs/{id}"), Some(&member), None).await;
            if job["state"] == "succeeded" {
                break;
            }
            assert!(Instant::now() < deadline, "{job}");
            kiln_runtime::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            s.call(Method::POST, &format!("/jobs/{id}/retry"), Some(&admin), None).await.0,
            StatusCode::CONFLICT
        );
        s.stop().await;
    });
}

#[test]
fn the_public_kinds_in_the_document_are_the_registrys() {
    let registry = kiln_app::jobs::kinds::registry(Mail::Outbox("unused".into()));
    assert_eq!(registry.public_kinds(), kiln_app::jobs::kinds::PUBLIC_KINDS);
}

#[test]
fn welcome_emails_reach_the_mailer_once_each_through_its_failures() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        // The mailer fails every other request with 503.
        let outbox = dir.path().join("mail.outbox");
        let config =
            kiln_app::mailer::MailerConfig { outbox: outbox.clone(), fail_rate: 0.5, delay: Duration::ZERO };
        let server = kiln_http::Server::bind("127.0.0.1:0").await.unwrap();
        let mailer = server.local_addr().unwrap();
        let (stop_mailer, stopped) = kiln_runtime::sync::oneshot::channel::<()>();
        let mailer_task =
            kiln_runtime::spawn(server.serve(kiln_app::mailer::service(config).unwrap(), async {
                let _ = stopped.await;
            }));

        let mut config =
            Config { db: dir.path().join("k.db"), jwt_secret: Some(vec![42; 32]), ..Config::default() };
        config.auth.bcrypt_cost = 4;
        config.workers = fast();
        config.mailer_url = Some(format!("http://{mailer}"));
        let s = start_exactly(config).await;
        for i in 0..5 {
            s.user(&format!("reader{i}@example.com")).await;
        }
        // The sixth signup comes with a W3C trace: the job and the mailer call continue it.
        let trace = "0af7651916cd43dd8448eb211c80319c";
        let traced = kiln_http::http::Request::post(format!("http://{}/auth/signup", s.addr))
            .header("content-type", "application/json")
            .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
            .body(kiln_http::Body::from(
                json!({"email": "reader5@example.com", "password": "correct horse", "display_name": "R"})
                    .to_string(),
            ))
            .unwrap();
        assert_eq!(s.client.send(traced).await.unwrap().status(), StatusCode::CREATED);
        let deadline = Instant::now() + Duration::from_secs(20);
        let lines: Vec<Value> = loop {
            let text = std::fs::read_to_string(&outbox).unwrap_or_default();
            let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            if lines.len() >= 6 {
                break lines;
            }
            assert!(Instant::now() < deadline, "only {} of 6 emails arrived", lines.len());
            kiln_runtime::time::sleep(Duration::from_millis(20)).await;
        };
        kiln_runtime::time::sleep(Duration::from_millis(200)).await; // any duplicate would land by now
        let text = std::fs::read_to_string(&outbox).unwrap();
        assert_eq!(text.lines().count(), 6, "each email once: {text}");
        let mut keys: Vec<&str> = lines.iter().map(|l| l["idempotency_key"].as_str().unwrap()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 6);
        assert!(keys.iter().all(|k| k.starts_with("job-")), "{keys:?}");
        assert!(
            lines.iter().all(|l| !l["request_id"].as_str().unwrap().is_empty()),
            "each carries the request id of its signup: {lines:?}"
        );
        let traced: Vec<_> = lines.iter().filter(|l| l["to"] == "reader5@example.com").collect();
        assert_eq!(traced[0]["trace_id"], trace, "the signup's trace reached the mailer: {traced:?}");
        assert!(
            lines.iter().all(|l| l["trace_id"].as_str().is_some_and(|t| t.len() == 32)),
            "every call carries a trace (a new one when the signup had none): {lines:?}"
        );
        let admin = {
            let (_, tokens) = s
                .post("/auth/login", json!({"email": "reader0@example.com", "password": "correct horse"}))
                .await;
            tokens["access_token"].as_str().unwrap().to_owned()
        };
        let (_, _, page) = s.call(Method::GET, "/jobs?kind=welcome_email", Some(&admin), None).await;
        // Every even-numbered request failed: the successes were requests 1, 3, …, 11, with a
        // failure between each two, so five attempts failed and were retried, over all jobs.
        let retries: u64 =
            page["items"].as_array().unwrap().iter().map(|j| j["attempt"].as_u64().unwrap() - 1).sum();
        assert_eq!(retries, 5, "{page}");
        s.stop().await;
        let _ = stop_mailer.send(());
        mailer_task.await.unwrap();
    });
}

#[test]
fn the_mailer_sends_a_repeated_key_once_and_needs_one() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let outbox = dir.path().join("mail.outbox");
        let start = |outbox: std::path::PathBuf| async move {
            let config = kiln_app::mailer::MailerConfig { outbox, fail_rate: 0.0, delay: Duration::ZERO };
            let server = kiln_http::Server::bind("127.0.0.1:0").await.unwrap();
            let addr = server.local_addr().unwrap();
            let (stop, stopped) = kiln_runtime::sync::oneshot::channel::<()>();
            let service = kiln_app::mailer::service(config).unwrap();
            let task = kiln_runtime::spawn(server.serve(service, async {
                let _ = stopped.await;
            }));
            (addr, stop, task)
        };
        let client = kiln_http::Client::new();
        let send = |addr: std::net::SocketAddr, key: Option<&str>| {
            let mut request = kiln_http::http::Request::post(format!("http://{addr}/messages"))
                .header("content-type", "application/json");
            if let Some(k) = key {
                request = request.header("idempotency-key", k);
            }
            let body = json!({"to": "a@example.com", "subject": "s", "body": "b"}).to_string();
            client.send(request.body(kiln_http::Body::from(body)).unwrap())
        };
        let (addr, stop, task) = start(outbox.clone()).await;
        assert_eq!(send(addr, Some("job-1")).await.unwrap().status(), StatusCode::CREATED);
        assert_eq!(
            send(addr, Some("job-1")).await.unwrap().status(),
            StatusCode::OK,
            "a repeat is not sent again"
        );
        assert_eq!(send(addr, None).await.unwrap().status(), StatusCode::BAD_REQUEST);
        let _ = stop.send(());
        task.await.unwrap();
        // A restarted mailer remembers the keys in its outbox.
        let (addr, stop, task) = start(outbox.clone()).await;
        assert_eq!(send(addr, Some("job-1")).await.unwrap().status(), StatusCode::OK);
        assert_eq!(std::fs::read_to_string(&outbox).unwrap().lines().count(), 1);
        let _ = stop.send(());
        task.await.unwrap();
    });
}
