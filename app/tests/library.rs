//! The library on SQLite end to end: who may change books, listing with filters, sort and
//! pages, validation and conflicts, borrowing and returning, the loan limit, 50 concurrent
//! borrows of 3 copies, and SQL-injection attempts that must stay plain data.

use kiln_http::http::header::LOCATION;
use kiln_http::http::{Method, StatusCode};
use serde_json::{json, Value};

mod common;
use common::{rt, start, Service};

fn dune() -> Value {
    json!({"title": "Dune", "author": "Frank Herbert", "year": 1965, "isbn": "978-0-441-17271-9", "copies": 3})
}

async fn add(s: &Service, admin: &str, book: Value) -> Value {
    let (status, _, body) = s.call(Method::POST, "/books", Some(admin), Some(book)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn titles(page: &Value) -> Vec<&str> {
    page["items"].as_array().unwrap().iter().map(|b| b["title"].as_str().unwrap()).collect()
}

#[test]
fn admins_change_books_members_read_them() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        let admin = s.user("admin@example.com").await; // the first user
        let member = s.user("member@example.com").await;
        let (status, headers, book) = s.call(Method::POST, "/books", Some(&admin), Some(dune())).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(headers[LOCATION], format!("/books/{}", book["id"]));
        assert_eq!(
            (book["copies"].as_i64(), book["available"].as_i64(), book["isbn"].as_str()),
            (Some(3), Some(3), Some("9780441172719"))
        );
        assert_eq!(
            s.call(Method::POST, "/books", Some(&member), Some(dune())).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(s.call(Method::POST, "/books", None, Some(dune())).await.0, StatusCode::UNAUTHORIZED);
        let (status, _, read) = s.call(Method::GET, "/books/1", None, None).await;
        assert_eq!((status, &read), (StatusCode::OK, &book), "anyone may read");

        let (status, _, body) = s.call(Method::POST, "/books", Some(&admin), Some(dune())).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let (status, _, body) = s
            .call(
                Method::POST,
                "/books",
                Some(&admin),
                Some(json!({"title": "", "author": "A", "year": 5000, "copies": -2})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let fields: Vec<&str> =
            body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["title", "year", "copies"]);

        let (status, _, patched) =
            s.call(Method::PATCH, "/books/1", Some(&admin), Some(json!({"copies": 5, "isbn": null}))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!((patched["copies"].as_i64(), patched["available"].as_i64()), (Some(5), Some(5)));
        assert!(patched.get("isbn").is_none());
        let (status, _, replaced) = s
            .call(
                Method::PUT,
                "/books/1",
                Some(&admin),
                Some(json!({"title": "Dune Messiah", "author": "Frank Herbert", "year": 1969, "copies": 2})),
            )
            .await;
        assert_eq!((status, replaced["title"].as_str()), (StatusCode::OK, Some("Dune Messiah")));
        assert_eq!(
            s.call(Method::PATCH, "/books/1", Some(&member), Some(json!({"copies": 9}))).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(s.call(Method::DELETE, "/books/1", Some(&admin), None).await.0, StatusCode::NO_CONTENT);
        assert_eq!(s.call(Method::GET, "/books/1", None, None).await.0, StatusCode::NOT_FOUND);
        s.stop().await;
    });
}

#[test]
fn listing_filters_sorts_pages_and_stays_injection_proof() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        let admin = s.user("admin@example.com").await;
        for (title, author, year) in [
            ("A Wizard of Earthsea", "Ursula K. Le Guin", 1968),
            ("The Left Hand of Darkness", "Ursula K. Le Guin", 1969),
            ("The Dispossessed", "Ursula K. Le Guin", 1974),
            ("Dune", "Frank Herbert", 1965),
            ("Kindred", "Octavia E. Butler", 1979),
            ("100% Pure", "Percent Author", 2001),
        ] {
            add(&s, &admin, json!({"title": title, "author": author, "year": year})).await;
        }
        let (_, _, page) =
            s.call(Method::GET, "/books?author=ursula%20k.%20le%20guin&sort=-year", None, None).await;
        assert_eq!(titles(&page), ["The Dispossessed", "The Left Hand of Darkness", "A Wizard of Earthsea"]);
        let (_, _, page) =
            s.call(Method::GET, "/books?year_from=1965&year_to=1969&sort=year", None, None).await;
        assert_eq!(titles(&page), ["Dune", "A Wizard of Earthsea", "The Left Hand of Darkness"]);
        let (status, _, page) = s.call(Method::GET, "/books?year_from=1970&year_to=1960", None, None).await;
        assert_eq!((status, page["total"].as_i64()), (StatusCode::OK, Some(0)), "a reversed range is empty");
        let (_, _, page) = s.call(Method::GET, "/books?q=%25", None, None).await;
        assert_eq!(titles(&page), ["100% Pure"], "a % in q is a literal percent sign, not a wildcard");
        let (_, _, first) = s.call(Method::GET, "/books?limit=4&sort=title", None, None).await;
        assert_eq!((first["total"].as_i64(), first["items"].as_array().unwrap().len()), (Some(6), 4));
        let next = first["next"].as_str().unwrap().to_owned();
        assert!(next.contains("offset=4") && next.contains("sort=title"), "{next}");
        let (_, _, second) = s.call(Method::GET, &next, None, None).await;
        assert_eq!((titles(&second).len(), &second["next"]), (2, &Value::Null));

        // Injection attempts are data: no error, no effect, no extra rows.
        for path in [
            "/books?author=x%27%20OR%20%271%27%3D%271",
            "/books?q=%27%3B%20DROP%20TABLE%20books%3B%20--",
            "/books?sort=title%3B%20DROP%20TABLE%20books",
            "/books/1%20OR%201%3D1",
        ] {
            let (status, _, body) = s.call(Method::GET, path, None, None).await;
            assert!(
                status == StatusCode::OK && body["total"] == 0 || status.is_client_error(),
                "{path}: {status} {body}"
            );
        }
        let (_, _, all) = s.call(Method::GET, "/books", None, None).await;
        assert_eq!(all["total"], 6, "the table is still there, unchanged");
        for (path, field) in [
            ("/books?limit=0", "limit"),
            ("/books?limit=101", "limit"),
            ("/books?sort=price", "sort"),
            ("/books?offset=-1", "offset"),
            ("/books?cursor=not-a-cursor", "cursor"),
            ("/books?offset=0&cursor=abc", "cursor"),
        ] {
            let (status, _, body) = s.call(Method::GET, path, None, None).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
            assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
        }
        s.stop().await;
    });
}

/// Every page of a listing, followed through `next` from `first`: the titles, and each page's
/// `offset`.
async fn follow(s: &Service, first: &str) -> (Vec<String>, Vec<i64>) {
    let (mut titles_seen, mut offsets) = (Vec::new(), Vec::new());
    let mut path = Some(first.to_owned());
    while let Some(p) = path.take() {
        let (status, _, page) = s.call(Method::GET, &p, None, None).await;
        assert_eq!(status, StatusCode::OK, "{p}: {page}");
        titles_seen.extend(titles(&page).into_iter().map(str::to_owned));
        offsets.push(page["offset"].as_i64().unwrap());
        assert_eq!(page["next"].is_null(), page["next_cursor"].is_null(), "{page}");
        path = page["next"].as_str().map(str::to_owned);
        assert!(offsets.len() < 20, "paging does not end");
    }
    (titles_seen, offsets)
}

#[test]
fn cursor_pages_match_offset_pages_in_every_order_and_stay_stable_under_inserts() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        let admin = s.user("admin@example.com").await;
        // Ties on every key but id, and titles that differ only in case.
        for (title, author, year) in [
            ("beta", "Zed", 1990),
            ("Alpha", "amy", 1990),
            ("alpha", "Amy", 2000),
            ("Gamma", "bob", 1980),
            ("delta", "Bob", 1990),
            ("Epsilon", "cy", 2000),
            ("zeta", "Cy", 1980),
        ] {
            add(&s, &admin, json!({"title": title, "author": author, "year": year})).await;
        }
        for sort in ["id", "-id", "title", "-title", "author", "-author", "year", "-year"] {
            let (by_offset, offsets) = follow(&s, &format!("/books?limit=3&sort={sort}")).await;
            let (_, _, first) = s.call(Method::GET, &format!("/books?limit=3&sort={sort}"), None, None).await;
            let cursor = first["next_cursor"].as_str().expect("a first page of 3 of 7 has a next cursor");
            let (rest, cursor_offsets) =
                follow(&s, &format!("/books?limit=3&sort={sort}&cursor={cursor}")).await;
            let by_cursor: Vec<String> = titles(&first).into_iter().map(str::to_owned).chain(rest).collect();
            assert_eq!(
                by_cursor, by_offset,
                "sort={sort}: cursor pages list the same books in the same order"
            );
            assert_eq!(by_offset.len(), 7, "sort={sort}: every book once");
            assert_eq!(offsets, [0, 3, 6]);
            assert_eq!(cursor_offsets, [3, 6], "sort={sort}: a cursor page reports where it starts");
            let (status, _, body) =
                s.call(Method::GET, &format!("/books?sort=title&cursor={cursor}"), None, None).await;
            if sort != "title" {
                assert_eq!(
                    status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "a cursor of sort={sort} used with sort=title"
                );
                assert_eq!(body["errors"][0]["field"], "cursor");
            }
        }

        // A book added before the cursor's position shifts offset pages, not cursor pages.
        let (_, _, first) = s.call(Method::GET, "/books?limit=3&sort=title", None, None).await;
        let cursor = first["next_cursor"].as_str().unwrap().to_owned();
        let (_, _, by_cursor) =
            s.call(Method::GET, &format!("/books?limit=3&sort=title&cursor={cursor}"), None, None).await;
        add(&s, &admin, json!({"title": "aardvark", "author": "New", "year": 2020})).await;
        let (_, _, after_insert) =
            s.call(Method::GET, &format!("/books?limit=3&sort=title&cursor={cursor}"), None, None).await;
        assert_eq!(titles(&after_insert), titles(&by_cursor), "the page after the cursor did not move");
        let (_, _, by_offset) = s.call(Method::GET, "/books?limit=3&sort=title&offset=3", None, None).await;
        assert_ne!(
            titles(&by_offset),
            titles(&by_cursor),
            "the offset page did move: that is what cursors avoid"
        );
        s.stop().await;
    });
}

#[test]
fn borrow_return_limits_and_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        let admin = s.user("admin@example.com").await;
        let member = s.user("member@example.com").await;
        let other = s.user("other@example.com").await;
        add(&s, &admin, json!({"title": "Only one", "author": "A", "year": 2000, "copies": 1})).await;
        let (status, _, loan) = s.call(Method::POST, "/books/1/loans", Some(&member), None).await;
        assert_eq!(status, StatusCode::CREATED, "{loan}");
        assert_eq!(s.call(Method::GET, "/books/1", None, None).await.2["available"], 0);
        let (status, _, body) = s.call(Method::POST, "/books/1/loans", Some(&other), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(
            s.call(Method::POST, "/books/99/loans", Some(&member), None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(s.call(Method::POST, "/books/1/loans", None, None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(
            s.call(Method::DELETE, "/books/1", Some(&admin), None).await.0,
            StatusCode::CONFLICT,
            "on loan"
        );
        let return_path = format!("/loans/{}/return", loan["id"]);
        assert_eq!(
            s.call(Method::POST, &return_path, Some(&other), None).await.0,
            StatusCode::NOT_FOUND,
            "not yours"
        );
        let (status, _, returned) = s.call(Method::POST, &return_path, Some(&member), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(returned["returned_at"].is_i64());
        assert_eq!(
            s.call(Method::POST, &return_path, Some(&member), None).await.0,
            StatusCode::CONFLICT,
            "twice"
        );
        assert_eq!(s.call(Method::GET, "/books/1", None, None).await.2["available"], 1);
        let (_, _, mine) = s.call(Method::GET, "/me/loans", Some(&member), None).await;
        assert_eq!(mine["items"].as_array().unwrap().len(), 1);

        // The open-loan limit (5 by default).
        add(&s, &admin, json!({"title": "Many", "author": "B", "year": 2001, "copies": 50})).await;
        for _ in 0..5 {
            assert_eq!(
                s.call(Method::POST, "/books/2/loans", Some(&other), None).await.0,
                StatusCode::CREATED
            );
        }
        let (status, _, body) = s.call(Method::POST, "/books/2/loans", Some(&other), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("5 loans"), "{body}");
        s.stop().await;
    });
}

#[test]
fn fifty_concurrent_borrows_of_three_copies_give_exactly_three_loans() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = std::sync::Arc::new(start(&dir.path().join("k.db")).await);
        let admin = s.user("admin@example.com").await;
        add(&s, &admin, json!({"title": "Scarce", "author": "C", "year": 2002, "copies": 3})).await;
        // Ten members, five borrow attempts each, all at once.
        let mut members = Vec::new();
        for i in 0..10 {
            members.push(s.user(&format!("m{i}@example.com")).await);
        }
        let mut tasks = kiln_runtime::task::JoinSet::new();
        for token in members.iter().flat_map(|t| std::iter::repeat_n(t.clone(), 5)) {
            let s = s.clone();
            tasks.spawn(async move { s.call(Method::POST, "/books/1/loans", Some(&token), None).await.0 });
        }
        let mut statuses = Vec::new();
        while let Some(status) = tasks.join_next().await {
            statuses.push(status.unwrap());
        }
        let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
        let conflicts = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
        assert_eq!((created, conflicts), (3, 47), "{statuses:?}");
        assert_eq!(s.call(Method::GET, "/books/1", None, None).await.2["available"], 0);
    });
}

#[test]
fn a_return_tells_the_first_member_waiting_and_only_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    rt().block_on(async {
        let s = start(&db).await;
        let admin = s.user("admin@example.com").await;
        let (a, b, c) =
            (s.user("a@example.com").await, s.user("b@example.com").await, s.user("c@example.com").await);
        add(&s, &admin, json!({"title": "Dawn", "author": "Octavia E. Butler", "year": 1987, "copies": 1}))
            .await;

        assert_eq!(
            s.call(Method::POST, "/books/1/waitlist", Some(&b), None).await.0,
            StatusCode::CONFLICT,
            "a copy is free"
        );
        let (_, _, loan) = s.call(Method::POST, "/books/1/loans", Some(&a), None).await;
        let (status, _, place) = s.call(Method::POST, "/books/1/waitlist", Some(&b), None).await;
        assert_eq!((status, &place["position"]), (StatusCode::CREATED, &json!(1)));
        let (status, _, again) = s.call(Method::POST, "/books/1/waitlist", Some(&b), None).await;
        assert_eq!(
            (status, &again["position"]),
            (StatusCode::OK, &json!(1)),
            "joining twice keeps the place"
        );
        assert_eq!(s.call(Method::POST, "/books/1/waitlist", Some(&c), None).await.2["position"], 2);
        assert_eq!(s.call(Method::POST, "/books/9/waitlist", Some(&c), None).await.0, StatusCode::NOT_FOUND);

        let loan_id = loan["id"].as_i64().unwrap();
        assert_eq!(
            s.call(Method::POST, &format!("/loans/{loan_id}/return"), Some(&a), None).await.0,
            StatusCode::OK
        );
        let outbox = kiln_app::jobs::kinds::outbox_path(&db);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let notice = loop {
            let text = std::fs::read_to_string(&outbox).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains("is back")) {
                break serde_json::from_str::<Value>(line).unwrap();
            }
            assert!(std::time::Instant::now() < deadline, "no notice in {text}");
            kiln_runtime::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        assert_eq!(notice["to"], "b@example.com", "the first in line");
        assert!(notice["subject"].as_str().unwrap().contains("Dawn"));
        let text = std::fs::read_to_string(&outbox).unwrap();
        assert_eq!(text.lines().filter(|l| l.contains("is back")).count(), 1, "one return, one notice");
        // B left the list with the notice; C is first now, and can leave.
        assert_eq!(
            s.call(Method::POST, "/books/1/waitlist", Some(&b), None).await.0,
            StatusCode::CONFLICT,
            "B is off the list and the copy is free"
        );
        let (_, _, loan) = s.call(Method::POST, "/books/1/loans", Some(&b), None).await;
        assert!(loan["id"].is_i64(), "{loan}");
        assert_eq!(s.call(Method::POST, "/books/1/waitlist", Some(&c), None).await.2["position"], 1);
        assert_eq!(
            s.call(Method::DELETE, "/books/1/waitlist", Some(&c), None).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            s.call(Method::DELETE, "/books/1/waitlist", Some(&c), None).await.0,
            StatusCode::NO_CONTENT,
            "again: still off it"
        );
        assert_eq!(
            s.call(Method::DELETE, "/books/9/waitlist", Some(&c), None).await.0,
            StatusCode::NOT_FOUND
        );
        s.stop().await;
    });
}
