//! Kiln's applications: the service (week 4 onward: users with JWT auth, books and loans on
//! SQLite, on `kiln-http`) and the week-2 chat server ([`chat`], on `kiln-net`).
//!
//! `cargo run --release` (the root package's binary) calls [`main`]: it parses the
//! configuration, opens the database (migrating it), loads or creates the token secret,
//! prints where it listens and what to try, and serves until Ctrl+C or SIGTERM.
//!
//! # Layout
//! - `config.rs` — flags and environment variables, `--help`, validation.
//! - `db/` — the connection pool (readers, one writer, all on the blocking pool; a
//!   transaction API) and the embedded migrations.
//! - `auth/` — passwords (bcrypt on a bounded hasher), access tokens (HS256 JWT built here),
//!   refresh tokens (rotation, reuse detection, a grace window for retries), sessions that
//!   end, login throttling, email and name rules, and the `AuthUser` extractor.
//! - `routes/` — the HTTP routes and their middleware.
//! - `error.rs` — `AppError`, the one error type, as problem+json responses.
//! - `json.rs` — `JsonObject`, request bodies exactly as the OpenAPI document describes them.
//! - `secret.rs`, `state.rs`, `clock.rs` — the signing secret, the shared state, Unix time.
//! - `text.rs` — the invisible characters no text field may hold.
//!
//! - `library/` — books and loans on SQLite; the field rules week 3's example shares.
//! - `openapi.rs` — the OpenAPI 3.1 document at `/openapi.json`.
//! - `metrics.rs` — `/metrics` in Prometheus's text format.
//! - `rate_buckets.rs` — the auth routes' rate limit kept in Redis, shared by processes.
//! - `telemetry/` — logs, and spans exported to an OpenTelemetry collector over OTLP/HTTP.
//! - `chat/` — the week-2 chat server: rooms, accounts and persistent history over TCP.

#![forbid(unsafe_code)]

pub mod auth;
pub mod cache;
pub mod chat;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod jobs;
pub mod json;
pub mod library;
pub mod mailer;
pub mod metrics;
pub mod openapi;
pub mod rate_buckets;
pub mod routes;
pub mod secret;
pub mod state;
pub mod stats;
pub mod telemetry;
pub mod text;

use config::{Config, Parsed};
use std::process::ExitCode;

/// This machine's name (`/etc/hostname`, or `localhost`): worker ids and the spans'
/// `service.instance.id` start with it, so two machines' processes tell apart.
pub fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// A service ready to serve: its database is open and migrated and its keys loaded.
#[derive(Debug)]
pub struct App {
    /// The shared state.
    pub state: state::AppState,
    /// The configuration it was built from.
    pub config: Config,
}

/// Why the service could not start: each part of [`build`] that can fail.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] db::DbError),
    /// The signing secret could not be read or made.
    #[error(transparent)]
    Secret(#[from] secret::SecretError),
    /// The signing secret is too short to be a key.
    #[error(transparent)]
    Keys(#[from] auth::jwt::ShortSecret),
    /// The sessions ended recently could not be loaded.
    #[error("loading the ended sessions: {0}")]
    Sessions(error::AppError),
    /// The password hasher could not start.
    #[error(transparent)]
    Hasher(#[from] auth::password::HasherError),
    /// PostgreSQL was configured but could not be reached (or refused the login).
    #[error("cannot reach PostgreSQL at {addr}: {error}")]
    Postgres {
        /// Where.
        addr: String,
        /// Why.
        error: kiln_postgres::PgError,
    },
    /// Redis was configured but could not be reached.
    #[error("cannot reach Redis at {addr}: {error}")]
    Redis {
        /// Where.
        addr: String,
        /// Why.
        error: kiln_redis::RedisError,
    },
}

/// Opens the database and loads the keys.
///
/// # Errors
/// [`StartError`]: what failed (the database, a migration, the secret, the hasher).
pub async fn build(config: Config) -> Result<App, StartError> {
    let database = open_database(&config).await?;
    let secret = secret::load_or_create(config.jwt_secret.clone(), &config.db)?;
    let keys = auth::jwt::JwtKeys::new(&secret, auth::ISSUER, auth::AUDIENCE)?
        .with_leeway(config.auth.token_leeway_secs);
    let horizon = config.auth.access_ttl_secs + config.auth.token_leeway_secs;
    let sessions =
        auth::ended::EndedSessions::load(&database, horizon).await.map_err(StartError::Sessions)?;
    let a = &config.auth;
    let redis = match &config.redis {
        Some(c) => Some(std::sync::Arc::new(
            kiln_redis::Client::connect(c.clone())
                .await
                .map_err(|error| StartError::Redis { addr: c.addr.clone(), error })?,
        )),
        None => None,
    };
    // With PostgreSQL the queue is in the database, where enqueues join the transactions
    // they belong to; Redis then holds the caches and rate limits only.
    let jobs = match (&database, &redis) {
        (db::Db::Postgres(pg), _) => jobs::Jobs::Postgres(jobs::postgres::PostgresQueue::new(pg.clone())),
        (db::Db::Sqlite(pool), Some(client)) => jobs::Jobs::redis(
            jobs::RedisQueue::new(client.clone(), jobs::redis::DEFAULT_PREFIX),
            pool.clone(),
        ),
        (db::Db::Sqlite(pool), None) => jobs::Jobs::Sqlite(jobs::SqliteQueue::new(pool.clone())),
    };
    let state = state::AppState {
        books: std::sync::Arc::new(cache::ReadThrough::new(
            redis.as_ref(),
            "{kiln}:cache:books",
            false,
            config.cache,
        )),
        job_counters: std::sync::Arc::default(),
        http_stats: std::sync::Arc::default(),
        http_metrics: std::sync::Arc::default(),
        draining: std::sync::Arc::default(),
        listings: std::sync::Arc::new(cache::ReadThrough::new(
            redis.as_ref(),
            "{kiln}:cache:listings",
            true,
            config.cache,
        )),
        jobs: std::sync::Arc::new(jobs),
        redis,
        db: database,
        keys,
        successors: auth::tokens::SuccessorKey::new(&secret),
        auth: config.auth,
        library: library::LibraryConfig::default(),
        sessions,
        throttle: std::sync::Arc::new(auth::throttle::LoginThrottle::new(a.throttle)),
        hasher: std::sync::Arc::new(
            auth::password::Hasher::new(a.bcrypt_cost, a.bcrypt_threads, a.bcrypt_queue).await?,
        ),
        kinds: std::sync::Arc::new(jobs::kinds::registry(match &config.mailer_url {
            Some(url) => jobs::kinds::Mail::Mailer(url.clone()),
            None => jobs::kinds::Mail::Outbox(jobs::kinds::outbox_path(&config.db)),
        })),
    };
    Ok(App { state, config })
}

/// The SQLite file, or the PostgreSQL database of `--database-url`; migrated either way.
async fn open_database(config: &Config) -> Result<db::Db, StartError> {
    let Some(pg) = &config.database_url else {
        let pool = db::Pool::open(
            &config.db,
            db::PoolConfig { readers: config.readers, ..db::PoolConfig::default() },
        )
        .await?;
        return Ok(db::Db::Sqlite(pool));
    };
    let unreachable = |error| StartError::Postgres { addr: pg.addr.clone(), error };
    let mut migrator = kiln_postgres::Client::connect(pg.clone()).await.map_err(unreachable)?;
    db::pg_migrations::migrate(&mut migrator).await.map_err(db::DbError::from)?;
    migrator.close();
    let limits =
        kiln_postgres::PoolConfig { max_size: config.db_pool, ..kiln_postgres::PoolConfig::default() };
    Ok(db::Db::Postgres(kiln_postgres::Pool::new(pg.clone(), limits)))
}

/// Serves `app` on `listener` until `shutdown` completes. While it serves, a task follows
/// the sessions other processes end on the same database (`auth/ended.rs`), and the
/// in-process job workers run (unless configured to 0).
///
/// The shutdown order: readiness turns 503 (a load balancer stops sending traffic; requests
/// on connections already open see it too), the server stops accepting and drains the
/// requests in flight, then the workers stop (a request in flight may still enqueue: they
/// outlive it) and release what they could not finish, then the session follower stops;
/// the database pools close as the last handles drop.
pub async fn serve(
    app: App,
    listener: kiln_net::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> kiln_http::server::ServeSummary {
    let follower = app.state.sessions.clone().follow(app.state.db.clone());
    let workers = (app.config.workers.concurrency > 0).then(|| {
        let s = &app.state;
        jobs::WorkerPool::start_counting(
            s.jobs.clone(),
            s.kinds.clone(),
            app.config.workers,
            s.job_counters.clone(),
        )
    });
    let draining = app.state.draining.clone();
    let shutdown = async move {
        shutdown.await;
        draining.store(true, std::sync::atomic::Ordering::SeqCst);
        tracing::info!("shutting down: readiness is 503; draining requests in flight");
    };
    let summary =
        kiln_http::Server::from_listener(listener).serve(routes::service(app.state), shutdown).await;
    if let Some(workers) = workers {
        workers.shutdown().await;
    }
    follower.abort();
    summary
}

/// Makes the user with `email` an admin; false if there is no such user.
///
/// # Errors
/// Storage failures.
pub async fn promote(db: &db::Db, email: &str) -> Result<bool, error::AppError> {
    let email = email.trim().to_owned();
    match db {
        db::Db::Sqlite(pool) => {
            pool.write(move |c| {
                c.execute(
                    "UPDATE users SET role = ?1 WHERE email = ?2",
                    rusqlite::params![auth::user::Role::Admin, email],
                )
                .map(|n| n > 0)
                .map_err(error::AppError::from)
            })
            .await
        }
        db::Db::Postgres(pg) => {
            let admin = auth::user::Role::Admin.as_stored();
            let c = pg.get().await?;
            Ok(c.execute("UPDATE users SET role = $1 WHERE lower(email) = lower($2)", &[&admin, &email])
                .await?
                > 0)
        }
    }
}

/// `kiln admin promote <email> [--db PATH]`.
fn admin_command(args: &[String]) -> ExitCode {
    let (Some("promote"), Some(email)) = (args.first().map(String::as_str), args.get(1)) else {
        eprintln!("kiln: usage: kiln admin promote <email> [--db PATH]");
        return ExitCode::from(2);
    };
    let config = match config::parse(&args[2..], |k| std::env::var(k).ok()) {
        Ok(Parsed::Run(c)) => *c,
        Ok(Parsed::Help) => {
            println!("usage: kiln admin promote <email> [--db PATH]");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("kiln: {e}");
            return ExitCode::from(2);
        }
    };
    if config.database_url.is_none() && !config.db.is_file() {
        // Opening would create and migrate an empty database at a mistyped path.
        eprintln!("kiln: no database at {} (give the service's file with --db PATH)", config.db.display());
        return ExitCode::FAILURE;
    }
    let rt = kiln_runtime::runtime::Builder::new_current_thread().build().expect("a runtime starts");
    rt.block_on(async {
        let config = Config { readers: 1, db_pool: 1, ..config };
        let database = match open_database(&config).await {
            Ok(d) => d,
            Err(e) => {
                eprintln!("kiln: {e}");
                return ExitCode::FAILURE;
            }
        };
        match promote(&database, email).await {
            Ok(true) => {
                println!("kiln: {email} is now an admin");
                ExitCode::SUCCESS
            }
            Ok(false) => {
                eprintln!("kiln: no user with email {email} in {}", describe(&config));
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("kiln: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// How long the spans still queued at shutdown may take to reach the collector.
const SPAN_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

/// The startup line saying where spans go, if they go anywhere.
fn traces_line(who: &str, spans: Option<&telemetry::Pending>) -> Option<String> {
    let c = spans?.config();
    Some(format!(
        "{who}: traces: spans to {} over OTLP/HTTP JSON as service {:?} (batches of {}, every {} ms)",
        c.endpoint,
        c.service,
        c.max_batch,
        c.schedule_delay.as_millis()
    ))
}

/// Sends the spans still queued, once the work that makes them has stopped.
async fn flush_spans(exporter: Option<telemetry::Exporter>) {
    let Some(exporter) = exporter else { return };
    match exporter.shutdown(SPAN_FLUSH).await {
        Some(sent) => tracing::info!(spans = sent, "flushed the spans still queued"),
        None => {
            tracing::warn!("the spans still queued could not be sent within {SPAN_FLUSH:?}; they are lost")
        }
    }
}

/// The multi-thread runtime a command runs on, or the exit status after saying why not.
fn runtime() -> Result<kiln_runtime::runtime::Runtime, ExitCode> {
    // Polls are timed for /metrics' runtime_poll_duration_seconds: a long poll blocks a worker.
    kiln_runtime::runtime::Builder::new_multi_thread().enable_metrics_poll_time_histogram().build().map_err(
        |e| {
            eprintln!("kiln: cannot start the runtime: {e}");
            ExitCode::FAILURE
        },
    )
}

/// The database of `config`, in words.
fn describe(config: &Config) -> String {
    match &config.database_url {
        Some(pg) => format!("PostgreSQL at {}/{}", pg.addr, pg.database),
        None => config.db.display().to_string(),
    }
}

/// Where a process's workers take jobs from, in words.
fn jobs_home(config: &Config) -> String {
    if config.database_url.is_some() {
        return format!("the jobs in {} (from every process on it)", describe(config));
    }
    match &config.redis {
        Some(r) => format!("the jobs in Redis at {} (from every process on it)", r.addr),
        None => format!("the jobs in {} (from every process on this file)", config.db.display()),
    }
}

/// `kiln worker [options]`: job workers and nothing else, on the service's database, or on
/// Redis with `--redis`. Several processes (API processes with `--workers 0`, worker
/// processes) can share one queue: each claim is one atomic step, so no job runs twice at
/// once.
fn worker_command(args: &[String], spans: Option<telemetry::Pending>) -> ExitCode {
    let config = match config::parse(args, |k| std::env::var(k).ok()) {
        Ok(Parsed::Run(c)) => *c,
        Ok(Parsed::Help) => {
            println!("usage: kiln worker [--db PATH] [--redis URL] [--database-url URL] [--workers N] [--job-lease SECS] [--job-drain SECS] [--job-retention SECS] [--mailer-url URL] [--metrics-addr HOST:PORT]");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("kiln: {e}");
            return ExitCode::from(2);
        }
    };
    if config.workers.concurrency == 0 {
        eprintln!("kiln: a worker process needs --workers of at least 1");
        return ExitCode::from(2);
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(status) => return status,
    };
    rt.block_on(async move {
        let app = match build(config).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("kiln: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "kiln worker: {} workers on {}; Ctrl+C to stop",
            app.config.workers.concurrency,
            jobs_home(&app.config)
        );
        if let Some(line) = traces_line("kiln worker", spans.as_ref()) {
            println!("{line}");
        }
        let exporter = spans.map(telemetry::Pending::start);
        let s = &app.state;
        let pool = jobs::WorkerPool::start_counting(s.jobs.clone(), s.kinds.clone(), app.config.workers, s.job_counters.clone());
        // The probes' server, if asked for: it stops with the process, after the workers.
        let (stop_probes, probes_stopped) = kiln_runtime::sync::oneshot::channel::<()>();
        let probes = match app.config.metrics_addr {
            Some(addr) => match kiln_http::Server::bind(addr).await {
                Ok(server) => {
                    let local = server.local_addr().map_or_else(|_| addr.to_string(), |a| a.to_string());
                    println!("kiln worker: /metrics, /healthz and /readyz on http://{local}");
                    let service = routes::probes(app.state.clone());
                    Some(kiln_runtime::spawn(server.serve(service, async move {
                        let _ = probes_stopped.await;
                    })))
                }
                Err(e) => {
                    eprintln!("kiln worker: cannot listen on {addr}: {e}");
                    let _ = pool.shutdown().await;
                    return ExitCode::FAILURE;
                }
            },
            None => None,
        };
        if let Err(e) = kiln_net::shutdown::terminate_signal().await {
            eprintln!("kiln: cannot listen for signals ({e}); stopping");
        }
        // Not ready from here on, while the workers drain.
        app.state.draining.store(true, std::sync::atomic::Ordering::SeqCst);
        let summary = pool.shutdown().await;
        let _ = stop_probes.send(());
        if let Some(probes) = probes {
            let _ = probes.await;
        }
        flush_spans(exporter).await;
        println!(
            "kiln worker: stopped; {} jobs succeeded, {} finished during the drain, {} released for another worker",
            summary.succeeded, summary.finished_in_drain, summary.released
        );
        ExitCode::SUCCESS
    })
}

/// The usage of `kiln mailer`.
const MAILER_USAGE: &str =
    "usage: kiln mailer [--addr HOST:PORT] [--outbox PATH] [--fail-rate 0..1] [--delay-ms N]
  --addr       where to listen (default 127.0.0.1:8025)
  --outbox     the file messages are appended to (default ./kiln-mail.outbox)
  --fail-rate  the fraction of requests answered 503, evenly spread (default 0)
  --delay-ms   added to every answer (default 0)";

/// `kiln mailer`: the mailer service the welcome emails go to (`mailer.rs`).
fn mailer_command(args: &[String], spans: Option<telemetry::Pending>) -> ExitCode {
    let fail = |message: String| {
        eprintln!("kiln mailer: {message}\n{MAILER_USAGE}");
        ExitCode::from(2)
    };
    let (mut addr, mut outbox, mut fail_rate, mut delay_ms) =
        ("127.0.0.1:8025".to_owned(), std::path::PathBuf::from("kiln-mail.outbox"), 0.0_f64, 0_u64);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if matches!(flag.as_str(), "-h" | "--help") {
            println!("{MAILER_USAGE}");
            return ExitCode::SUCCESS;
        }
        let Some(value) = it.next() else { return fail(format!("{flag} needs a value")) };
        let bad = || fail(format!("{flag}: {value:?} is not valid"));
        match flag.as_str() {
            "--addr" => addr = value.clone(),
            "--outbox" => outbox = value.into(),
            "--fail-rate" => match value.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => fail_rate = r,
                _ => return bad(),
            },
            "--delay-ms" => match value.parse::<u64>() {
                Ok(ms) if ms <= 600_000 => delay_ms = ms,
                _ => return bad(),
            },
            _ => return fail(format!("unknown argument {flag:?}")),
        }
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(status) => return status,
    };
    rt.block_on(async move {
        let config = mailer::MailerConfig { outbox: outbox.clone(), fail_rate, delay: std::time::Duration::from_millis(delay_ms) };
        let service = match mailer::service(config) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kiln mailer: cannot read {}: {e}", outbox.display());
                return ExitCode::FAILURE;
            }
        };
        let server = match kiln_http::Server::bind(addr.as_str()).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kiln mailer: cannot listen on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let local = server.local_addr().map_or(addr.clone(), |a| a.to_string());
        println!("kiln mailer: listening on http://{local}, outbox {}", outbox.display());
        println!("kiln mailer: failing {:.0}% of requests, {delay_ms} ms slow; point the service at it with --mailer-url http://{local}", fail_rate * 100.0);
        if let Some(line) = traces_line("kiln mailer", spans.as_ref()) {
            println!("{line}");
        }
        let exporter = spans.map(telemetry::Pending::start);
        let summary = server
            .serve(service, async {
                let _ = kiln_net::shutdown::terminate_signal().await;
            })
            .await;
        flush_spans(exporter).await;
        println!("kiln mailer: stopped after {} connections", summary.connections);
        ExitCode::SUCCESS
    })
}

/// The command line: `kiln [options]`, `kiln worker [options]`, `kiln mailer [options]`,
/// or `kiln admin promote <email>`. Returns the process's exit status.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map(String::as_str);
    let service = match command {
        Some("worker") => "kiln-worker",
        Some("mailer") => "kiln-mailer",
        _ => "kiln",
    };
    let otlp = match telemetry::OtlpConfig::from_env(|k| std::env::var(k).ok(), service) {
        Ok(otlp) => otlp,
        Err(e) => {
            eprintln!("kiln: {e}");
            return ExitCode::from(2);
        }
    };
    let spans = telemetry::init(config::LogFormat::from_args(&args, |k| std::env::var(k).ok()), otlp);
    match command {
        Some("admin") => return admin_command(&args[1..]),
        Some("worker") => return worker_command(&args[1..], spans),
        Some("mailer") => return mailer_command(&args[1..], spans),
        _ => {}
    }
    let config = match config::parse(&args, |k| std::env::var(k).ok()) {
        Ok(Parsed::Run(c)) => *c,
        Ok(Parsed::Help) => {
            println!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("kiln: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(status) => return status,
    };
    rt.block_on(async move {
        // Bind first: a port in use is reported before a database file is created.
        let listener = match kiln_net::net::TcpListener::bind(config.addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("kiln: cannot listen on {}: {e}", config.addr);
                return ExitCode::FAILURE;
            }
        };
        let app = match build(config).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("kiln: {e}");
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().map_or_else(|_| app.config.addr.to_string(), |a| a.to_string());
        println!("kiln: listening on http://{addr}");
        match &app.config.database_url {
            Some(_) => println!("kiln: storage: {} (schema v{})", describe(&app.config), db::migrations::latest()),
            None => println!("kiln: storage: SQLite {} (schema v{}, WAL)", app.config.db.display(), db::migrations::latest()),
        }
        match (&app.config.redis, app.config.database_url.is_some()) {
            (Some(r), true) => println!("kiln: shared through Redis at {}: book caches, rate limits (jobs are in PostgreSQL)", r.addr),
            (Some(r), false) => println!("kiln: shared through Redis at {}: jobs, book caches, rate limits", r.addr),
            (None, _) => println!("kiln: caches and rate limits are this process's (--redis URL shares them between processes)"),
        }
        match app.config.workers.concurrency {
            0 => println!("kiln: jobs: no workers in this process (run `cargo run --release -- worker --db {}`)", app.config.db.display()),
            n => println!("kiln: jobs: {n} workers in this process; try: POST /jobs {{\"kind\":\"demo\",\"payload\":{{\"fail_attempts\":2}}}}"),
        }
        println!("kiln: try: curl -s -X POST http://{addr}/auth/signup -H 'content-type: application/json' \\");
        println!("        -d '{{\"email\":\"ada@example.com\",\"password\":\"correct horse\",\"display_name\":\"Ada\"}}'");
        println!("kiln: the first account to sign up is an admin; make another one with");
        println!("        cargo run --release -- admin promote EMAIL --db {}", app.config.db.display());
        if let Some(line) = traces_line("kiln", spans.as_ref()) {
            println!("{line}");
        }
        println!("kiln: Ctrl+C to stop");
        let exporter = spans.map(telemetry::Pending::start);
        // Held past `serve` so the pools close after the last spans are flushed.
        let state = app.state.clone();
        let summary = serve(app, listener, async {
            if let Err(e) = kiln_net::shutdown::terminate_signal().await {
                tracing::error!(error = %e, "cannot listen for signals");
                std::future::pending::<()>().await;
            }
        })
        .await;
        flush_spans(exporter).await;
        drop(state);
        println!("kiln: stopped after {} connections ({} cut at the deadline)", summary.connections, summary.forced);
        ExitCode::SUCCESS
    })
}

/// Logs to stderr through `tracing` at `info` (or `RUST_LOG`): human-readable lines,
/// coloured only on a terminal, or JSON lines with `--log-format json` / `KILN_LOG_FORMAT`.
/// The examples call it; the service's commands also export spans (`telemetry`). A second
/// call does nothing.
pub fn init_logging() {
    let args: Vec<String> = std::env::args().collect();
    telemetry::init(config::LogFormat::from_args(&args, |k| std::env::var(k).ok()), None);
}
