//! Two API processes (two services on their own connections, as two processes would be)
//! on one database and one `redis-server`: the auth routes' rate limit counts a client's
//! requests to either of them together, a job enqueued through one runs on the other's
//! workers, and with Redis gone the limit falls back to each process's own buckets instead
//! of refusing everyone. Without Redis each process counts alone — which is why it exists.

mod common;

use common::{rt, start_as_configured, Service};
use kiln_app::config::Config;
use kiln_http::http::{Method, StatusCode};
use kiln_test_support::redis::RedisServer;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// A service on `db` allowing 3 auth requests in a burst, then 1 a second; `workers` job
/// workers; Redis if given.
async fn start(db: &Path, redis: Option<&RedisServer>, workers: usize) -> Service {
    let mut config = Config { db: db.to_path_buf(), jwt_secret: Some(vec![42; 32]), ..Config::default() };
    config.auth.bcrypt_cost = 4;
    (config.auth.rate_per_sec, config.auth.rate_burst) = (1, 3);
    config.workers.concurrency = workers;
    config.workers.poll = Duration::from_millis(20);
    config.redis = redis.map(|r| kiln_redis::ClientConfig::from_url(&r.url()).unwrap());
    start_as_configured(config).await
}

/// The status of a login attempt (a wrong password: what an attacker sends).
async fn login(s: &Service) -> StatusCode {
    s.post("/auth/login", json!({"email": "nobody@example.com", "password": "wrong password"})).await.0
}

#[test]
fn the_auth_rate_limit_counts_a_client_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let mut redis = RedisServer::start();
    rt().block_on(async {
        let (a, b) = (start(&db, Some(&redis), 0).await, start(&db, Some(&redis), 0).await);
        for _ in 0..2 {
            assert_eq!(login(&a).await, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(login(&b).await, StatusCode::UNAUTHORIZED, "the third of the burst");
        assert_eq!(login(&a).await, StatusCode::TOO_MANY_REQUESTS, "the burst is spent, on both");
        let (status, headers, _) = b.call(Method::POST, "/auth/login", None, Some(json!({}))).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers["retry-after"], "1");

        // Redis gone: each process's own buckets decide (fresh, so requests pass again).
        redis.kill();
        assert_eq!(login(&a).await, StatusCode::UNAUTHORIZED);
        a.stop().await;
        b.stop().await;
    });
}

#[test]
fn without_redis_each_process_counts_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    rt().block_on(async {
        let (a, b) = (start(&db, None, 0).await, start(&db, None, 0).await);
        for _ in 0..3 {
            assert_eq!(login(&a).await, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(login(&a).await, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(login(&b).await, StatusCode::UNAUTHORIZED, "b has not seen this client");
        a.stop().await;
        b.stop().await;
    });
}

#[test]
fn a_job_enqueued_through_one_process_runs_on_anothers_workers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let redis = RedisServer::start();
    rt().block_on(async {
        let api = start(&db, Some(&redis), 0).await;
        let worker = start(&db, Some(&redis), 2).await;
        let token = api.user("ada@example.com").await;
        let (status, _, job) = api
            .call(Method::POST, "/jobs", Some(&token), Some(json!({"kind": "demo", "payload": {"ms": 1}})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        let path = format!("/jobs/{}", job["id"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, _, job) = api.call(Method::GET, &path, Some(&token), None).await;
            if job["state"] == "succeeded" {
                let (_, _, stats) = worker.call(Method::GET, "/stats", None, None).await;
                assert!(
                    stats["jobs"]["succeeded"].as_u64().unwrap() >= 1,
                    "the other process ran it: {stats}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "{job}");
            kiln_runtime::time::sleep(Duration::from_millis(10)).await;
        }
        api.stop().await;
        worker.stop().await;
    });
}
