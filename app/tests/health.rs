//! Liveness and readiness: `/healthz` answers while the process does; `/readyz` is 200 only
//! while the database (at this binary's schema version) and Redis answer and the process is
//! not shutting down, and says which check failed.

mod common;

use common::{config, rt, start_with};
use kiln_http::http::{Method, StatusCode};
use kiln_test_support::redis::RedisServer;
use std::time::{Duration, Instant};

#[test]
fn readiness_follows_redis_and_liveness_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start();
    rt().block_on(async {
        let mut c = config(&dir.path().join("k.db"));
        c.redis = Some(kiln_redis::ClientConfig::from_url(&redis.url()).unwrap());
        let s = start_with(c).await;
        let (status, _, ready) = s.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(status, StatusCode::OK, "{ready}");
        assert_eq!((&ready["ready"], &ready["draining"]), (&true.into(), &false.into()));
        assert!(ready["database"]["detail"].as_str().unwrap().contains("schema version 7"), "{ready}");

        redis.kill();
        let (status, _, ready) = s.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
        assert_eq!(
            (&ready["redis"]["ok"], &ready["database"]["ok"]),
            (&false.into(), &true.into()),
            "{ready}"
        );
        assert_eq!(s.call(Method::GET, "/healthz", None, None).await.0, StatusCode::OK, "alive all the same");

        redis.restart();
        let deadline = Instant::now() + Duration::from_secs(10);
        while s.call(Method::GET, "/readyz", None, None).await.0 != StatusCode::OK {
            assert!(Instant::now() < deadline, "never ready again");
            kiln_runtime::time::sleep(Duration::from_millis(50)).await;
        }
        s.stop().await;
    });
}

#[test]
fn a_process_shutting_down_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start_with(config(&dir.path().join("k.db"))).await;
        s.state().draining.store(true, std::sync::atomic::Ordering::SeqCst);
        let (status, _, ready) = s.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
        assert_eq!((&ready["draining"], &ready["database"]["ok"]), (&true.into(), &true.into()));
        s.stop().await;
    });
}

#[test]
fn a_database_behind_this_binary_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start_with(config(&dir.path().join("k.db"))).await;
        s.sql(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'from a newer kiln', 0)",
        )
        .await;
        let (status, _, ready) = s.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
        assert!(ready["database"]["detail"].as_str().unwrap().contains("schema version 99"), "{ready}");
        s.stop().await;
    });
}
