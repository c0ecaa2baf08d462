//! The read-through caches in the service: a stampede of misses reaches SQLite once, and no
//! read after a change (an edit, a borrow, a return, a delete) sees the book as it was.

mod common;

use common::{rt, start};
use kiln_http::http::{Method, StatusCode};
use serde_json::{json, Value};

fn books_cache(stats: &Value) -> (u64, u64, u64) {
    let c = &stats["cache"]["books"];
    (c["hits"].as_u64().unwrap(), c["misses"].as_u64().unwrap(), c["coalesced"].as_u64().unwrap())
}

#[test]
fn a_hundred_concurrent_misses_read_the_database_once() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = std::sync::Arc::new(start(&dir.path().join("k.db")).await);
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

#[test]
fn no_read_after_a_change_sees_the_old_book() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
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
