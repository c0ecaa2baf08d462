//! What the dashboard shows: requests per second and latency percentiles (the metrics layer
//! counts every answer into them), the job queue, the caches, and the runtime's own metrics and tasks.
//!
//! Latencies go into a fixed histogram of exponential buckets (50 µs to ~100 s, each 1.5×
//! the last): one atomic increment per request, no allocation, no lock, and percentiles
//! read off the bucket edges (an upper bound within 1.5× of the true value, which is what a
//! dashboard needs). The request rate is the difference of two totals a second apart, which
//! the page computes.

use crate::jobs::Queue;
use crate::state::AppState;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Histogram buckets.
const BUCKETS: usize = 32;
/// The first bucket's upper edge.
const FIRST_EDGE: Duration = Duration::from_micros(50);

/// Request counts and latencies, shared by the middleware and the stats route.
#[derive(Debug)]
pub struct HttpStats {
    requests: AtomicU64,
    errors: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
}

impl Default for HttpStats {
    fn default() -> HttpStats {
        HttpStats {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// The buckets' upper edges, computed once (not per request).
static EDGES: std::sync::LazyLock<[Duration; BUCKETS]> =
    std::sync::LazyLock::new(|| std::array::from_fn(|i| FIRST_EDGE.mul_f64(1.5_f64.powi(i as i32))));

/// The upper edge of bucket `i`.
fn edge(i: usize) -> Duration {
    EDGES[i]
}

impl HttpStats {
    /// Counts one answer.
    pub fn record(&self, latency: Duration, server_error: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if server_error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let i = EDGES.partition_point(|&edge| edge < latency).min(BUCKETS - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The latency below which a fraction `q` of the answers fell (a bucket's upper edge).
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let target = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        counts.iter().enumerate().find_map(|(i, n)| {
            seen += n;
            (seen >= target).then(|| edge(i))
        })
    }

    /// Answers so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

fn ms(d: Option<Duration>) -> Value {
    d.map_or(Value::Null, |d| json!((d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0))
}

fn cache_json<K, V>(cache: &crate::cache::ReadThrough<K, V>) -> Value
where
    K: std::hash::Hash + Eq + Clone + std::fmt::Display + Send + Sync + 'static,
    V: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let c = cache.snapshot();
    json!({
        "hits": c.hits,
        "misses": c.misses,
        "coalesced": c.coalesced,
        "evictions": c.evictions,
        "entries": c.entries,
        "shared": matches!(cache, crate::cache::ReadThrough::Redis(_)),
    })
}

/// Everything the dashboard shows, now. If the queue's counts cannot be read (its Redis is
/// down), the rest is still shown, with `jobs.error` saying why.
pub async fn snapshot(state: &AppState) -> Value {
    let (queue, queue_error) = match state.jobs.stats().await {
        Ok(q) => (q, None),
        Err(e) => (crate::jobs::QueueStats::default(), Some(e.to_string())),
    };
    let by_state: serde_json::Map<String, Value> =
        queue.by_state.iter().map(|(s, n)| (s.as_str().to_owned(), json!(n))).collect();
    let w = &state.job_counters;
    let started = w.started.load(Ordering::Relaxed);
    let http = &state.http_stats;
    let handle = kiln_runtime::runtime::Handle::current();
    let m = handle.metrics();
    let workers: Vec<Value> = (0..m.num_workers())
        .map(|i| {
            json!({
                "polls": m.worker_poll_count(i),
                "steals": m.worker_steal_count(i),
                "parks": m.worker_park_count(i),
                "local_queue": m.worker_local_queue_depth(i),
            })
        })
        .collect();
    let dump = handle.dump();
    let tasks: Vec<Value> = dump
        .tasks()
        .iter()
        .take(50)
        .map(|t| {
            json!({
                "id": t.id.to_string(),
                "spawned_at": t.location.to_string(),
                "age_ms": t.age.as_millis() as u64,
                "state": format!("{:?}", t.state).to_lowercase(),
            })
        })
        .collect();
    json!({
        "http": {
            "requests": http.requests(),
            "server_errors": http.errors.load(Ordering::Relaxed),
            "p50_ms": ms(http.percentile(0.50)),
            "p99_ms": ms(http.percentile(0.99)),
            "p999_ms": ms(http.percentile(0.999)),
        },
        "jobs": {
            "error": queue_error,
            "by_state": by_state,
            "oldest_due_ms": queue.oldest_due_ms,
            "started": started,
            "succeeded": w.succeeded.load(Ordering::Relaxed),
            "retried": w.retried.load(Ordering::Relaxed),
            "dead": w.dead.load(Ordering::Relaxed),
            "released": w.released.load(Ordering::Relaxed),
            "average_wait_ms": w.queue_wait_ms.load(Ordering::Relaxed).checked_div(started).unwrap_or(0),
        },
        "cache": { "books": cache_json(&state.books), "listings": cache_json(&state.listings) },
        "runtime": {
            "workers": m.num_workers(),
            "alive_tasks": m.num_alive_tasks(),
            "spawned_tasks": m.spawned_tasks_count(),
            "global_queue": m.global_queue_depth(),
            "polls": m.total_polls(),
            "steals": m.total_steals(),
            "parks": m.total_parks(),
            "blocking_threads": m.num_blocking_threads(),
            "idle_blocking_threads": m.num_idle_blocking_threads(),
            "active_timers": m.active_timers(),
            "per_worker": workers,
        },
        "tasks": tasks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_bucket_edges_above_the_true_value() {
        let stats = HttpStats::default();
        assert_eq!(stats.percentile(0.5), None);
        for _ in 0..98 {
            stats.record(Duration::from_micros(100), false);
        }
        stats.record(Duration::from_millis(20), true);
        stats.record(Duration::from_secs(2), false);
        let p50 = stats.percentile(0.5).unwrap();
        assert!(p50 >= Duration::from_micros(100) && p50 < Duration::from_micros(150), "{p50:?}");
        let p99 = stats.percentile(0.99).unwrap();
        assert!(p99 >= Duration::from_millis(20) && p99 < Duration::from_millis(30), "{p99:?}");
        let top = stats.percentile(1.0).unwrap();
        assert!(top >= Duration::from_secs(2), "{top:?}");
        assert_eq!((stats.requests(), stats.errors.load(Ordering::Relaxed)), (100, 1));
    }
}
