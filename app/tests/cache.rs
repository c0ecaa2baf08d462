//! The read-through caches in the service, in the process and in Redis: a stampede of misses
//! reaches SQLite once, and no read after a change (an edit, a borrow, a return, a delete)
//! sees the book as it was. With Redis, two services share the cache: one reads what the
//! other loaded, a change through one is seen at once through the other, and a Redis outage
//! makes reads slower, not wrong.

mod common;

use common::{rt, start_with, Service};
use kiln_app::config::Config;
use kiln_test_support::redis::RedisServer;
use std::path::Path;

/// A service on `db`, its caches in `redis` if given.
async fn start(db: &Path, redis: Option<&RedisServer>) -> Service {
    let mut config = Config { db: db.to_path_buf(), jwt_secret: Some(vec![42; 32]), ..Config::default() };
    config.auth.bcrypt_cost = 4;
    config.redis = redis.map(|r| kiln_redis::ClientConfig::from_url(&r.url()).unwrap());
    start_with(config).await
}

/// Each named test function, taking an optional Redis, as `name::in_process` and
/// `name::in_redis`.
macro_rules! in_process_and_in_redis {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn in_process() {
                super::$name(None)
            }
            #[test]
            fn in_redis() {
                super::$name(Some(&kiln_test_support::redis::RedisServer::start()))
            }
        }
    )*};
}

in_process_and_in_redis!(
    a_hundred_concurrent_misses_read_the_database_once,
    no_read_after_a_change_sees_the_old_book
);
use kiln_http::http::{Method, StatusCode};
use serde_json::{json, Value};

fn books_cache(stats: &Value) -> (u64, u64, u64) {
    let c = &stats["cache"]["books"];
    assert!(c.is_object(), "no cache counters in {stats}");
    (c["hits"].as_u64().unwrap(), c["misses"].as_u64().unwrap(), c["coalesced"].as_u64().unwrap())
}

fn a_hundred_concurrent_misses_read_the_database_once(redis: Option<&RedisServer>) {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = std::sync::Arc::new(start(&dir.path().join("k.db"), redis).await);
        let admin = s.user("admin@example.com").await;
        let (status, _, _) = s
            .call(
                Method::POST,
                "/books",
                Some(&admin),
                Some(json!({"title": "Kindred", "author": "Octavia E. Butler", "year": 1979})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (_, _, before) = s.call(Method::GET, "/stats", None, None).await;
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let s = s.clone();
                kiln_runtime::spawn(async move { s.call(Method::GET, "/books/1", None, None).await })
            })
            .collect();
        for t in tasks {
            let (status, _, book) = t.await.unwrap();
            assert_eq!((status, &book["title"]), (StatusCode::OK, &json!("Kindred")));
        }
        let (_, _, after) = s.call(Method::GET, "/stats", None, None).await;
        let ((h0, m0, c0), (h1, m1, c1)) = (books_cache(&before), books_cache(&after));
        assert_eq!(m1 - m0, 1, "one database read for the whole stampede: {after}");
        assert_eq!((h1 - h0) + (c1 - c0), 99, "the rest were hits or waited for that read");
        std::sync::Arc::try_unwrap(s).ok().expect("the tasks are done").stop().await;
    });
}

fn no_read_after_a_change_sees_the_old_book(redis: Option<&RedisServer>) {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db"), redis).await;
        let admin = s.user("admin@example.com").await;
        let member = s.user("member@example.com").await;
        let book = json!({"title": "Kindred", "author": "Octavia E. Butler", "year": 1979, "copies": 2});
        s.call(Method::POST, "/books", Some(&admin), Some(book)).await;
        let get = |path: &'static str| s.call(Method::GET, path, None, None);
        assert_eq!(get("/books/1").await.2["available"], 2); // now cached
        assert_eq!(get("/books?author=octavia%20e.%20butler").await.2["items"][0]["available"], 2);

        let (_, _, loan) = s.call(Method::POST, "/books/1/loans", Some(&member), None).await;
        assert_eq!(get("/books/1").await.2["available"], 1, "a borrow is seen at once");
        assert_eq!(
            get("/books?author=octavia%20e.%20butler").await.2["items"][0]["available"],
            1,
            "in listings too"
        );

        let loan_id = loan["id"].as_i64().unwrap();
        s.call(Method::POST, &format!("/loans/{loan_id}/return"), Some(&member), None).await;
        assert_eq!(get("/books/1").await.2["available"], 2, "a return is seen at once");

        s.call(Method::PATCH, "/books/1", Some(&admin), Some(json!({"title": "Kindred (25th anniversary)"})))
            .await;
        assert_eq!(get("/books/1").await.2["title"], "Kindred (25th anniversary)");

        assert_eq!(s.call(Method::DELETE, "/books/1", Some(&admin), None).await.0, StatusCode::NO_CONTENT);
        assert_eq!(get("/books/1").await.0, StatusCode::NOT_FOUND, "a deleted book is gone at once");
        assert_eq!(get("/books/1").await.0, StatusCode::NOT_FOUND, "and its absence is cached");
        assert_eq!(get("/books").await.2["total"], 0);
        s.stop().await;
    });
}

#[test]
fn two_services_share_one_cache_in_redis_and_survive_its_outage() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let mut redis = RedisServer::start();
    rt().block_on(async {
        let (a, b) = (start(&db, Some(&redis)).await, start(&db, Some(&redis)).await);
        let admin = a.user("admin@example.com").await;
        let book = json!({"title": "Kindred", "author": "Octavia E. Butler", "year": 1979, "copies": 2});
        a.call(Method::POST, "/books", Some(&admin), Some(book)).await;
        assert_eq!(a.call(Method::GET, "/books/1", None, None).await.2["title"], "Kindred");
        let (_, _, before) = b.call(Method::GET, "/stats", None, None).await;
        assert_eq!(b.call(Method::GET, "/books/1", None, None).await.2["title"], "Kindred");
        let (_, _, after) = b.call(Method::GET, "/stats", None, None).await;
        let ((h0, m0, _), (h1, m1, _)) = (books_cache(&before), books_cache(&after));
        assert_eq!((h1 - h0, m1 - m0), (1, 0), "b read what a loaded: {after}");
        assert_eq!(after["cache"]["books"]["shared"], true);

        // A change through b is what a reads next, by id and in listings.
        let listing = "/books?author=octavia%20e.%20butler";
        assert_eq!(a.call(Method::GET, listing, None, None).await.2["items"][0]["year"], 1979);
        let (status, _, _) =
            b.call(Method::PATCH, "/books/1", Some(&admin), Some(json!({"year": 1980}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(a.call(Method::GET, "/books/1", None, None).await.2["year"], 1980);
        assert_eq!(a.call(Method::GET, listing, None, None).await.2["items"][0]["year"], 1980);

        // Redis gone: reads come from the database; a change made meanwhile is not hidden by
        // an entry from before it once Redis is back.
        redis.kill();
        let (status, _, book) = a.call(Method::GET, "/books/1", None, None).await;
        assert_eq!((status, &book["year"]), (StatusCode::OK, &json!(1980)), "{book}");
        let (status, _, _) =
            a.call(Method::PATCH, "/books/1", Some(&admin), Some(json!({"year": 1981}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(a.call(Method::GET, "/books/1", None, None).await.2["year"], 1981);
        redis.restart();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (_, _, stats) = a.call(Method::GET, "/stats", None, None).await;
            let (_, _, book) = a.call(Method::GET, "/books/1", None, None).await;
            assert_eq!(book["year"], 1981, "never the old year");
            let (_, _, again) = a.call(Method::GET, "/stats", None, None).await;
            if books_cache(&again).0 > books_cache(&stats).0 {
                break; // a hit: the cache is back in use
            }
            assert!(std::time::Instant::now() < deadline, "the cache never came back: {again}");
            kiln_runtime::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        a.stop().await;
        b.stop().await;
    });
}
