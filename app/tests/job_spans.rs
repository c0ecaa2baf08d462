//! The spans a job makes, through the service's span layer installed in this test binary: a
//! job that fails once runs twice, each attempt a `job` span under the span that enqueued
//! it; the failed attempt's span carries the error, the second does not, and the database
//! work of recording each outcome is inside its attempt's span.

use kiln_app::db::{Pool, PoolConfig};
use kiln_app::jobs::{Backoff, JobState, Queue, SqliteQueue, WorkerConfig, WorkerPool};
use kiln_app::telemetry::spans::{FinishedSpan, OtlpLayer};
use kiln_app::telemetry::{Counters, Value};
use kiln_http::middleware::TraceContext;
use kiln_test_support::rt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn a_retried_job_is_two_attempt_spans_under_its_enqueuer_and_the_failed_one_says_why() {
    let (tx, mut rx) = kiln_runtime::sync::mpsc::channel::<FinishedSpan>(4096);
    let subscriber = tracing_subscriber::registry().with(OtlpLayer::new(tx, Arc::new(Counters::default())));
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let enqueuer = TraceContext::root();
    rt().block_on(async {
        let pool = Pool::open(dir.path().join("k.db"), PoolConfig::default()).await.unwrap();
        let queue = Arc::new(kiln_app::jobs::Jobs::Sqlite(SqliteQueue::new(pool)));
        let kinds = Arc::new(kiln_app::jobs::kinds::registry(kiln_app::jobs::kinds::Mail::Outbox(
            dir.path().join("outbox"),
        )));
        let spec = kinds.spec("demo", serde_json::json!({ "fail_attempts": 1 })).traced(Some(&enqueuer));
        let id = queue.enqueue(spec).await.unwrap().job.id;
        let config = WorkerConfig {
            concurrency: 1,
            poll: Duration::from_millis(20),
            backoff: Backoff { base: Duration::from_millis(5), cap: Duration::from_millis(10) },
            ..WorkerConfig::default()
        };
        let workers = WorkerPool::start(queue.clone(), kinds, config);
        let deadline = Instant::now() + Duration::from_secs(10);
        while queue.get(id).await.unwrap().unwrap().state != JobState::Succeeded {
            assert!(Instant::now() < deadline, "the demo job never succeeded");
            kiln_runtime::time::sleep(Duration::from_millis(10)).await;
        }
        workers.shutdown().await;
    });
    let mut spans = Vec::new();
    while let Ok(span) = rx.try_recv() {
        spans.push(span);
    }
    let attempts: Vec<&FinishedSpan> = spans.iter().filter(|s| s.name == "job").collect();
    assert_eq!(attempts.len(), 2, "one span per attempt: {spans:#?}");
    let attempt =
        |s: &FinishedSpan| s.attributes.iter().find(|(k, _)| *k == "attempt").map(|(_, v)| v.clone());
    let (first, second) = if attempt(attempts[0]) == Some(Value::Int(1)) {
        (attempts[0], attempts[1])
    } else {
        (attempts[1], attempts[0])
    };
    for a in [first, second] {
        assert_eq!(a.trace_id, enqueuer.trace_id, "the enqueuer's trace");
        assert_eq!(a.parent_id.as_deref(), Some(enqueuer.span_id.as_str()), "the enqueuer's child");
        assert_eq!(a.kind, 5, "a consumer span");
    }
    assert_ne!(first.span_id, second.span_id);
    assert!(first.error.as_deref().is_some_and(|e| e.contains("demo failure on attempt 1")), "{first:#?}");
    assert_eq!(second.error, None, "the second attempt succeeded");
    assert!(
        spans.iter().any(|s| s.name == "sqlite" && s.parent_id.as_deref() == Some(first.span_id.as_str())),
        "recording the failure is a database write inside the attempt's span: {spans:#?}"
    );
}
