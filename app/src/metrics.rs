//! `GET /metrics`: the service's numbers in Prometheus's text exposition format, for a
//! Prometheus server to scrape.
//!
//! The format is lines of `name{label="value",…} number`, each family introduced by `# HELP`
//! and `# TYPE` (counter, gauge, histogram). A histogram is cumulative buckets
//! (`_bucket{le="0.05"}`: requests that took at most 50 ms), `_sum` and `_count`, so that a
//! query can compute rates and quantiles over any window. Requests are labelled with their
//! route's *pattern* (`/books/{id}`, from the router's `MatchedPath`), never the raw path: a
//! label set per book id would grow without bound.
//!
//! Counters are this process's since it started (Prometheus sums processes and handles
//! restarts); gauges are read at the scrape: queue depth per state and the oldest due job's
//! age from the queue, cache counters, the database pool, and the runtime's own metrics —
//! workers, live tasks, polls, steals, parks, blocking threads.

use crate::jobs::Queue;
use crate::state::AppState;
use crate::stats::HttpStats;
use kiln_http::http::{Request, Response};
use kiln_http::router::MatchedPath;
use kiln_http::{Body, Layer, Service};
use std::collections::HashMap;
use std::fmt::Write;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// The latency histogram's bucket edges, seconds (Prometheus's defaults).
const EDGES: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// One route and method's latencies.
#[derive(Debug, Default)]
struct Latencies {
    /// Per bucket (not cumulative), and one past the last edge.
    buckets: [AtomicU64; EDGES.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// Method and route pattern.
type Route = (String, Arc<str>);
/// Method, route pattern and status.
type Answer = (String, Arc<str>, u16);

/// Request counts by method, route and status, and latencies by method and route.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: RwLock<HashMap<Answer, Arc<AtomicU64>>>,
    latencies: RwLock<HashMap<Route, Arc<Latencies>>>,
    in_flight: AtomicI64,
}

/// The entry for `key`, made under the write lock only the first time.
fn entry<K: std::hash::Hash + Eq + Clone, V: Default>(map: &RwLock<HashMap<K, Arc<V>>>, key: &K) -> Arc<V> {
    if let Some(v) = map.read().unwrap_or_else(|e| e.into_inner()).get(key) {
        return v.clone();
    }
    map.write().unwrap_or_else(|e| e.into_inner()).entry(key.clone()).or_default().clone()
}

impl HttpMetrics {
    fn record(&self, method: String, route: Arc<str>, status: u16, seconds: f64) {
        entry(&self.requests, &(method.clone(), route.clone(), status)).fetch_add(1, Ordering::Relaxed);
        let latencies = entry(&self.latencies, &(method, route));
        let i = EDGES.partition_point(|&edge| edge < seconds);
        latencies.buckets[i].fetch_add(1, Ordering::Relaxed);
        latencies.sum_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        latencies.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// The middleware that feeds [`HttpMetrics`] and the dashboard's [`HttpStats`] from one
/// timing of each answer (outside the router, so it sees every answer, and reads the route's
/// pattern off the response).
#[derive(Debug, Clone)]
pub struct HttpMetricsLayer {
    /// For `/metrics`.
    pub metrics: Arc<HttpMetrics>,
    /// For `/stats` and the dashboard.
    pub stats: Arc<HttpStats>,
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = Measured<S>;
    fn layer(&self, inner: S) -> Measured<S> {
        Measured { inner, metrics: self.metrics.clone(), stats: self.stats.clone() }
    }
}

/// A service whose answers are measured.
#[derive(Debug, Clone)]
pub struct Measured<S> {
    inner: S,
    metrics: Arc<HttpMetrics>,
    stats: Arc<HttpStats>,
}

/// Keeps the in-flight gauge right even if the request's future is dropped.
struct InFlight(Arc<HttpMetrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<S: Service> Service for Measured<S> {
    fn call(&self, request: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        let start = Instant::now();
        let method = request.method().as_str().to_owned();
        self.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(self.metrics.clone());
        let stats = self.stats.clone();
        let answer = self.inner.call(request);
        async move {
            let response = answer.await;
            let latency = start.elapsed();
            let route = response
                .extensions()
                .get::<MatchedPath>()
                .map_or_else(|| Arc::from("unmatched"), |m| m.0.clone());
            stats.record(latency, response.status().is_server_error());
            guard.0.record(method, route, response.status().as_u16(), latency.as_secs_f64());
            drop(guard);
            response
        }
    }
}

/// A label value, escaped as the format wants (`\`, `"` and newlines).
fn label(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

/// Writes one family's `# HELP` and `# TYPE` lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes a family with one unlabelled sample.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// Writes a family whose samples differ by one label: `name{label="value"} n` for each.
fn labelled<N: std::fmt::Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    label: &str,
    samples: &[(&str, N)],
) {
    family(out, name, kind, help);
    for (value, n) in samples {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
    }
}

/// Writes one histogram's samples: a cumulative `_bucket` per `(le, count in that bucket)`
/// of `buckets` (the last one `+Inf`), then `_sum` and `_count`. `labels` are the series'
/// own (`method="GET",route="/"`), or empty.
fn histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    buckets: impl IntoIterator<Item = (String, u64)>,
    sum: f64,
) {
    let sep = if labels.is_empty() { "" } else { "," };
    let braced = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
    let mut cumulative = 0;
    for (le, n) in buckets {
        cumulative += n;
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum{braced} {sum}");
    let _ = writeln!(out, "{name}_count{braced} {cumulative}");
}

/// The exposition, now.
pub async fn render(state: &AppState) -> String {
    let mut out = String::with_capacity(16 * 1024);
    http(&mut out, &state.http_metrics);
    jobs(&mut out, state).await;
    caches(&mut out, state);
    database(&mut out, state);
    auth(&mut out, state);
    runtime(&mut out);
    spans(&mut out);
    out
}

fn spans(out: &mut String) {
    let (exported, queue_full, export_failed) = crate::telemetry::counters().read();
    single(out, "otel_spans_exported_total", "counter", "Spans the OTLP collector took.", exported);
    labelled(
        out,
        "otel_spans_dropped_total",
        "counter",
        "Spans dropped: the queue was full, or the collector refused or was unreachable.",
        "reason",
        &[("queue_full", queue_full), ("export_failed", export_failed)],
    );
}

fn http(out: &mut String, m: &HttpMetrics) {
    family(out, "http_requests_total", "counter", "Requests answered, by method, route pattern and status.");
    let requests = m.requests.read().unwrap_or_else(|e| e.into_inner());
    let mut rows: Vec<_> = requests.iter().collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    for ((method, route, status), n) in rows {
        let _ = writeln!(
            out,
            "http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {}",
            label(method),
            label(route),
            n.load(Ordering::Relaxed)
        );
    }
    drop(requests);
    family(
        out,
        "http_request_duration_seconds",
        "histogram",
        "Time from request to response head, by method and route.",
    );
    let latencies = m.latencies.read().unwrap_or_else(|e| e.into_inner());
    let mut rows: Vec<_> = latencies.iter().collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    for ((method, route), l) in rows {
        let labels = format!("method=\"{}\",route=\"{}\"", label(method), label(route));
        let edges = EDGES.iter().map(f64::to_string).chain(["+Inf".to_owned()]);
        let counts = l.buckets.iter().map(|b| b.load(Ordering::Relaxed));
        let sum = l.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        histogram(out, "http_request_duration_seconds", &labels, edges.zip(counts), sum);
    }
    drop(latencies);
    single(
        out,
        "http_requests_in_flight",
        "gauge",
        "Requests being answered now.",
        m.in_flight.load(Ordering::Relaxed),
    );
}

async fn jobs(out: &mut String, state: &AppState) {
    family(out, "jobs_enqueued_total", "counter", "Jobs this process added, by kind.");
    for (kind, n) in crate::jobs::enqueued_counts().lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let _ = writeln!(out, "jobs_enqueued_total{{kind=\"{}\"}} {n}", label(kind));
    }
    let by_kind = state.job_counters.by_kind.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for (i, (name, help)) in [
        ("jobs_started_total", "Jobs this process's workers claimed, by kind."),
        ("jobs_succeeded_total", "Attempts that succeeded, by kind."),
        ("jobs_retried_total", "Attempts that failed and will run again, by kind."),
        ("jobs_dead_total", "Jobs that failed for good, by kind."),
    ]
    .into_iter()
    .enumerate()
    {
        family(out, name, "counter", help);
        for (kind, counts) in &by_kind {
            let _ = writeln!(out, "{name}{{kind=\"{}\"}} {}", label(kind), counts[i]);
        }
    }
    // A failed attempt either runs again or is the job's last: the two counts above.
    family(out, "jobs_failed_total", "counter", "Attempts that failed (retried or dead), by kind.");
    for (kind, counts) in &by_kind {
        let _ = writeln!(out, "jobs_failed_total{{kind=\"{}\"}} {}", label(kind), counts[2] + counts[3]);
    }
    match state.jobs.stats().await {
        Ok(stats) => {
            family(out, "jobs_queue_depth", "gauge", "Jobs in the queue, by state (all processes).");
            for (s, n) in &stats.by_state {
                let _ = writeln!(out, "jobs_queue_depth{{state=\"{}\"}} {n}", s.as_str());
            }
            single(
                out,
                "jobs_oldest_due_age_seconds",
                "gauge",
                "How long the oldest due job has waited for a worker.",
                stats.oldest_due_ms as f64 / 1000.0,
            );
            single(out, "jobs_queue_up", "gauge", "1 if the queue's store answered this scrape.", 1);
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the queue's counts could not be read");
            single(out, "jobs_queue_up", "gauge", "1 if the queue's store answered this scrape.", 0);
        }
    }
}

fn caches(out: &mut String, state: &AppState) {
    let caches = [("books", state.books.snapshot()), ("listings", state.listings.snapshot())];
    for (name, help, read) in [
        (
            "cache_hits_total",
            "Reads answered by the cache.",
            (|c: &crate::cache::CacheSnapshot| c.hits) as fn(&_) -> u64,
        ),
        ("cache_misses_total", "Reads that loaded from the database.", |c| c.misses),
        ("cache_coalesced_total", "Reads that waited for another read's load.", |c| c.coalesced),
        ("cache_evictions_total", "Entries dropped to make room (in-process caches).", |c| c.evictions),
    ] {
        family(out, name, "counter", help);
        for (cache, snapshot) in &caches {
            let _ = writeln!(out, "{name}{{cache=\"{cache}\"}} {}", read(snapshot));
        }
    }
}

fn database(out: &mut String, state: &AppState) {
    match &state.db {
        crate::db::Db::Sqlite(pool) => {
            let ((reads, writes), (readers, writer)) = (pool.waits(), pool.in_use());
            labelled(
                out,
                "db_pool_in_use_connections",
                "gauge",
                "Connections lent now (SQLite: by role).",
                "role",
                &[("reader", readers), ("writer", writer)],
            );
            labelled(
                out,
                "db_pool_waits_total",
                "counter",
                "Calls that waited for a connection (SQLite: by role; writes queue for the one writer).",
                "role",
                &[("reader", reads), ("writer", writes)],
            );
        }
        crate::db::Db::Postgres(pg) => {
            single(out, "db_pool_in_use_connections", "gauge", "Connections lent now.", pg.in_use());
            single(
                out,
                "db_pool_waits_total",
                "counter",
                "Gets that waited for a connection to come back.",
                pg.waits(),
            );
            single(
                out,
                "db_pool_timeouts_total",
                "counter",
                "Gets that waited past the pool's wait timeout.",
                pg.timeouts(),
            );
            single(
                out,
                "db_pool_connections",
                "gauge",
                "PostgreSQL connections open (lent and idle).",
                pg.size(),
            );
            single(
                out,
                "db_pool_idle_connections",
                "gauge",
                "PostgreSQL connections waiting to be lent.",
                pg.idle_count(),
            );
        }
    }
}

fn auth(out: &mut String, state: &AppState) {
    single(
        out,
        "auth_logins_throttled_total",
        "counter",
        "Logins refused for repeated failures (429 with Retry-After).",
        state.throttle.refused(),
    );
    single(
        out,
        "auth_throttle_records",
        "gauge",
        "Email/address pairs and addresses with failures on record.",
        state.throttle.tracked(),
    );
    if let Some(redis) = &state.redis {
        single(
            out,
            "redis_client_failures_total",
            "counter",
            "Redis commands that failed on the way: connection, timeout, garbled answer.",
            redis.failures(),
        );
    }
}

fn runtime(out: &mut String) {
    let handle = kiln_runtime::runtime::Handle::current();
    let m = handle.metrics();
    single(out, "runtime_workers", "gauge", "The runtime's worker threads.", m.num_workers());
    single(out, "runtime_alive_tasks", "gauge", "Tasks spawned and not yet finished.", m.num_alive_tasks());
    single(out, "runtime_spawned_tasks_total", "counter", "Tasks spawned.", m.spawned_tasks_count());
    single(out, "runtime_polls_total", "counter", "Task polls.", m.total_polls());
    single(
        out,
        "runtime_steals_total",
        "counter",
        "Tasks one worker took from another's queue.",
        m.total_steals(),
    );
    single(
        out,
        "runtime_parks_total",
        "counter",
        "Times a worker went to sleep for lack of work.",
        m.total_parks(),
    );
    single(out, "runtime_global_queue_depth", "gauge", "Tasks in the shared queue.", m.global_queue_depth());
    single(
        out,
        "runtime_blocking_threads",
        "gauge",
        "Threads of the blocking pool.",
        m.num_blocking_threads(),
    );
    single(
        out,
        "runtime_idle_blocking_threads",
        "gauge",
        "Blocking-pool threads waiting for work.",
        m.num_idle_blocking_threads(),
    );
    if m.poll_time_histogram_enabled() {
        family(
            out,
            "runtime_poll_duration_seconds",
            "histogram",
            "How long each task poll held its worker (a long one delays every task behind it).",
        );
        let buckets = (0..m.poll_time_histogram_num_buckets()).map(|bucket| {
            let end = m.poll_time_histogram_bucket_range(bucket).end;
            let le = if end == std::time::Duration::MAX {
                "+Inf".to_owned()
            } else {
                end.as_secs_f64().to_string()
            };
            (le, (0..m.num_workers()).map(|w| m.poll_time_histogram_bucket_count(w, bucket)).sum())
        });
        let sum: f64 = (0..m.num_workers()).map(|w| m.worker_total_poll_time(w).as_secs_f64()).sum();
        histogram(out, "runtime_poll_duration_seconds", "", buckets, sum);
    }
}
