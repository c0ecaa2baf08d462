//! Week 3's Book Library API end to end: the example's own router and middleware served on a
//! loopback port and driven with Kiln's client — CRUD, validation, every error status,
//! pagination by offset and by cursor, filters and sort, CORS and the rate limit — and the
//! example binary itself started, queried and stopped with SIGTERM.

#[path = "../examples/week3_books/api.rs"]
mod api;
#[path = "../examples/week3_books/store.rs"]
mod store;

use kiln::http::http::header::{self, CONTENT_TYPE, LOCATION};
use kiln::http::http::{Method, Request, Response, StatusCode};
use kiln::http::{Body, Client, Server};
use kiln_test_support::rt;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

struct Api {
    addr: SocketAddr,
    client: Client,
    stop: kiln::sync::oneshot::Sender<()>,
}

async fn start(store: store::Store, config: api::ApiConfig) -> Api {
    let server = Server::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = kiln::sync::oneshot::channel::<()>();
    kiln::spawn(server.serve(api::service(store, &config), async move {
        let _ = stopped.await;
    }));
    Api { addr, client: Client::new(), stop }
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Response<Body>, Value) {
        let mut req = Request::builder().method(method).uri(format!("http://{}{path}", self.addr));
        let body = match body {
            Some(v) => {
                req = req.header(CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let response = self.client.send(req.body(body).unwrap()).await.unwrap();
        let bytes = response.body().as_bytes().cloned().unwrap_or_default();
        let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (response.status(), response, json)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::GET, path, None).await;
        (s, v)
    }
}

#[test]
fn create_read_replace_patch_delete() {
    rt().block_on(async {
        let api = start(store::Store::new(), api::ApiConfig::default()).await;
        let (status, r, book) = api
            .call(Method::POST, "/books", Some(json!({"title": "  Dune ", "author": "Frank Herbert", "year": 1965, "isbn": "978-0-441-17271-9"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{book}");
        assert_eq!(r.headers()[LOCATION], "/books/1");
        assert_eq!(book, json!({"id": 1, "title": "Dune", "author": "Frank Herbert", "year": 1965, "isbn": "9780441172719"}));
        assert_eq!(api.get("/books/1").await, (StatusCode::OK, book.clone()));

        let (status, _, replaced) = api
            .call(Method::PUT, "/books/1", Some(json!({"title": "Dune Messiah", "author": "Frank Herbert", "year": 1969})))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(replaced, json!({"id": 1, "title": "Dune Messiah", "author": "Frank Herbert", "year": 1969}), "PUT replaces every field (the ISBN is gone)");

        let (status, _, patched) = api.call(Method::PATCH, "/books/1", Some(json!({"year": 1970, "isbn": "0-306-40615-2"}))).await;
        assert_eq!((status, &patched["year"], &patched["isbn"], &patched["title"]), (StatusCode::OK, &json!(1970), &json!("9780306406157"), &json!("Dune Messiah")), "an ISBN-10 is kept as its ISBN-13");
        let (_, _, cleared) = api.call(Method::PATCH, "/books/1", Some(json!({"isbn": null}))).await;
        assert!(cleared.get("isbn").is_none(), "null removes the ISBN: {cleared}");

        let (status, _, body) = api.call(Method::DELETE, "/books/1", None).await;
        assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
        let (status, problem) = api.get("/books/1").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(problem["detail"], "no book with id 1");
        let (status, _, _) = api.call(Method::DELETE, "/books/1", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let _ = api.stop.send(());
    });
}

#[test]
fn bad_input_gets_the_right_status_and_a_problem_body() {
    rt().block_on(async {
        let store = store::Store::new();
        store::seed(&store);
        let api = start(store, api::ApiConfig::default()).await;
        let (status, r, p) = api
            .call(
                Method::POST,
                "/books",
                Some(json!({"title": " ", "author": "x".repeat(101), "year": 3000, "isbn": "123"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/problem+json");
        let fields: Vec<&str> =
            p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["title", "author", "year", "isbn"], "{p}");
        assert_eq!(store_len(&api).await, 10, "nothing was stored");

        let cases = [
            (
                json!({"title": "T", "author": "A", "year": 1, "color": "red"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown field `color`",
            ),
            (json!({"title": "T", "author": "A"}), StatusCode::UNPROCESSABLE_ENTITY, "missing field `year`"),
            (
                json!({"title": "T", "author": "A", "year": 1, "isbn": "978-0-441-17271-9"}),
                StatusCode::CONFLICT,
                "ISBN 9780441172719",
            ),
        ];
        for (body, status, needle) in cases {
            let (got, _, p) = api.call(Method::POST, "/books", Some(body)).await;
            assert_eq!(got, status, "{p}");
            assert!(p["detail"].as_str().unwrap().contains(needle), "{needle:?} in {p}");
        }
        // Not JSON at all, the wrong content type, and a body over the 64 KiB limit.
        let raw = |ct: &str, body: String| {
            Request::post(format!("http://{}/books", api.addr))
                .header(CONTENT_TYPE, ct)
                .body(Body::from(body))
                .unwrap()
        };
        let statuses = [
            api.client.send(raw("application/json", "{\"title\":".into())).await.unwrap().status(),
            api.client.send(raw("text/plain", "{}".into())).await.unwrap().status(),
            api.client.send(raw("application/json", "x".repeat(70_000))).await.unwrap().status(),
        ];
        assert_eq!(
            statuses,
            [StatusCode::BAD_REQUEST, StatusCode::UNSUPPORTED_MEDIA_TYPE, StatusCode::PAYLOAD_TOO_LARGE]
        );

        // What does not parse is a 400 from the extractor; a value out of range is a 422
        // naming the field, with the same statuses as the service's `GET /books`.
        for (path, needle) in
            [("/books/abc", "invalid path parameter"), ("/books?colour=red", "unknown field")]
        {
            let (status, p) = api.get(path).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {p}");
            assert!(p["detail"].as_str().unwrap().contains(needle), "{path}: {needle:?} in {p}");
        }
        for (path, field, needle) in [
            ("/books?limit=0", "limit", "limit must be between 1 and 100"),
            ("/books?limit=101", "limit", "limit must be between 1 and 100"),
            ("/books?sort=price", "sort", "sort must be"),
            ("/books?offset=1&cursor=00", "cursor", "not both"),
            ("/books?cursor=zz", "cursor", "invalid cursor"),
        ] {
            let (status, p) = api.get(path).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {p}");
            assert_eq!(p["errors"][0]["field"], field, "{path}: {p}");
            assert!(
                p["errors"][0]["message"].as_str().unwrap().contains(needle),
                "{path}: {needle:?} in {p}"
            );
        }
        let (status, _, _) = api.call(Method::POST, "/books/1", None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        let _ = api.stop.send(());
    });
}

async fn store_len(api: &Api) -> u64 {
    api.get("/books?limit=1").await.1["total"].as_u64().unwrap()
}

fn titles(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|b| b["title"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn pages_filters_and_sort() {
    rt().block_on(async {
        let store = store::Store::new();
        store::seed(&store);
        let api = start(store, api::ApiConfig::default()).await;

        let (_, le_guin) = api.get("/books?author=ursula%20k.%20le%20guin&sort=-year").await;
        assert_eq!(
            titles(&le_guin),
            ["The Dispossessed", "The Left Hand of Darkness", "A Wizard of Earthsea"]
        );
        assert_eq!(le_guin["total"], 3);
        let (_, window) = api.get("/books?year_from=1965&year_to=1969&sort=year").await;
        assert_eq!(titles(&window), ["Dune", "A Wizard of Earthsea", "The Left Hand of Darkness"]);
        let (status, reversed) = api.get("/books?year_from=1969&year_to=1965").await;
        assert_eq!(
            (status, &reversed["total"]),
            (StatusCode::OK, &Value::from(0)),
            "a reversed range is empty"
        );
        let (_, q) = api.get("/books?q=THE&sort=title").await;
        assert_eq!(
            titles(&q),
            ["Parable of the Sower", "The Dispossessed", "The Left Hand of Darkness", "The Name of the Rose"]
        );

        // Offset paging: 10 books, 4 per page → 4, 4, 2, and `next` links to the next page.
        let (_, first) = api.get("/books?limit=4&offset=0&sort=title").await;
        assert_eq!((first["total"].as_u64(), first["items"].as_array().unwrap().len()), (Some(10), 4));
        let next = first["next"].as_str().unwrap().to_owned();
        assert!(
            next.contains("offset=4") && next.contains("sort=title") && next.contains("limit=4"),
            "{next}"
        );
        let (_, second) = api.get(&next).await;
        let (_, third) = api.get(second["next"].as_str().unwrap()).await;
        assert_eq!(titles(&third).len(), 2);
        assert!(third["next"].is_null() && third["next_cursor"].is_null(), "the last page has no next");

        // Cursor paging walks every book once, in order — even when a book is added
        // between pages (offset paging would then repeat one).
        let (_, all) = api.get("/books?limit=100&sort=-year").await;
        let mut walked = Vec::new();
        let mut page = api.get("/books?limit=3&sort=-year").await.1;
        let mut inserted = false;
        loop {
            walked.extend(titles(&page));
            if !inserted {
                // A newer book sorts first, before the cursor: it must not shift later pages.
                let (s, _, _) = api
                    .call(Method::POST, "/books", Some(json!({"title": "New", "author": "N", "year": 2024})))
                    .await;
                assert_eq!(s, StatusCode::CREATED);
                inserted = true;
            }
            let Some(next) = page["next"].as_str() else { break };
            assert!(next.contains("cursor="), "{next}");
            page = api.get(next).await.1;
        }
        assert_eq!(walked, titles(&all), "every book once, in order");
        let _ = api.stop.send(());
    });
}

#[test]
fn cors_and_rate_limit_are_on() {
    rt().block_on(async {
        let config = api::ApiConfig {
            cors_origins: vec!["https://books.example".into()],
            rate_per_sec: 1,
            burst: 3,
            ..api::ApiConfig::default()
        };
        let api = start(store::Store::new(), config).await;
        let preflight = Request::builder()
            .method(Method::OPTIONS)
            .uri(format!("http://{}/books", api.addr))
            .header(header::ORIGIN, "https://books.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PATCH")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
            .body(Body::empty())
            .unwrap();
        let r = api.client.send(preflight).await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://books.example");
        assert!(!r.headers()["x-request-id"].is_empty(), "every response carries a request id");
        // CORS sits outside the limiter (so a 429 still carries CORS headers a page can
        // read): the preflight is free, a burst of 3 passes, the 4th is refused.
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(api.get("/books").await.0);
        }
        assert_eq!(statuses, [StatusCode::OK, StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);
        let _ = api.stop.send(());
    });
}

#[test]
fn the_example_starts_answers_and_stops_on_sigterm() {
    // Examples are built by `cargo test`; the binary sits next to this test's `deps` dir.
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("examples").join("week3_books");
    assert!(
        bin.exists(),
        "{} is missing: run through `cargo test`, which builds the examples",
        bin.display()
    );
    let mut child = std::process::Command::new(&bin)
        .args(["--port", "0", "--seed"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    assert!(first.contains("(10 books in memory)"), "{first}");
    rt().block_on(async {
        let r = Client::new().get(&format!("http://{addr}/books?limit=2")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    });
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "the example did not stop within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    assert!(status.success(), "exit {status}; stderr: {logs}");
    assert!(rest.contains("week3_books: stopped."), "{rest}");
    assert!(logs.contains("path=/books") && logs.contains("status=200"), "requests are logged: {logs}");
    assert!(logs.contains("shutdown: stopped accepting") && logs.contains("shutdown: complete"), "{logs}");
}
