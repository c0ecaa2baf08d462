//! The service, Kiln against axum + Tokio + rusqlite: the same endpoints over the same SQLite
//! schema, driven by the same client (Kiln's, on its own current-thread runtime) in one run.
//!
//! The baseline is written here, as an axum user would: handlers that run SQL and bcrypt in
//! `tokio::task::spawn_blocking` over a small connection pool (read connections plus one
//! writer behind a Tokio semaphore), the same SQL as `kiln-app`, and the same JWT code
//! (`kiln_app::auth::jwt`, plain synchronous code) so token work is equal on both sides.
//!
//! - `app_get_book`: `GET /books/{id}`.
//! - `app_list_books`: `GET /books?limit=20` (a page and the total).
//! - `app_login`: `POST /auth/login` at bcrypt cost [`BCRYPT_COST`] — bcrypt-bound; the time
//!   per login is the figure to read (1 s ÷ it = logins per second per connection).
//! - `app_me`: `GET /me` with a bearer token — the cost of a protected route that reads one
//!   row (token check included).
//! - `app_borrow_return`: `POST /books/{id}/loans` then `POST /loans/{id}/return`, both with
//!   a bearer token, each a write transaction.
//!
//! Run: `cargo bench --bench app`; `scripts/bench-repeat app 3` for the table (baseline: axum).

// `criterion_group!` generates a public function without docs.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use kiln::http::http::{Request, StatusCode};
use kiln::http::{Body, Client};
use std::net::SocketAddr;
use std::path::Path;

/// bcrypt cost used by both services in this bench.
const BCRYPT_COST: u32 = 10;
const SECRET: [u8; 32] = [9; 32];
const BOOKS: i64 = 200;

fn workers() -> usize {
    std::env::var("KILN_BENCH_WORKERS").ok().and_then(|s| s.parse().ok()).unwrap_or(2)
}

/// Creates the schema (Kiln's migrations) and the same rows for either service.
fn seed(db: &Path) {
    let mut c = rusqlite::Connection::open(db).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    kiln_app::db::migrations::migrate(&mut c).unwrap();
    let hash = bcrypt::hash("correct horse", BCRYPT_COST).unwrap();
    c.execute(
        "INSERT INTO users (email, password_hash, display_name, role, created_at) VALUES ('bench@example.com', ?1, 'Bench', 'admin', 0)",
        [hash],
    )
    .unwrap();
    let tx = c.transaction().unwrap();
    for i in 1..=BOOKS {
        tx.execute(
            "INSERT INTO books (title, author, year, copies, available, created_at) VALUES (?1, ?2, ?3, 1000, 1000, 0)",
            rusqlite::params![format!("Book {i}"), format!("Author {}", i % 17), 1900 + i % 120],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

mod baseline {
    //! The axum + Tokio + rusqlite twin of the endpoints measured.
    use axum::extract::{Path, Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use kiln_app::auth::jwt::JwtKeys;
    use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
    use serde_json::{json, Value};
    use std::sync::{Arc, Mutex};
    use tokio::sync::Semaphore;

    struct Db {
        readers: Mutex<Vec<Connection>>,
        reader_permits: Semaphore,
        writer: Mutex<Connection>,
        writer_permit: Semaphore,
    }

    #[derive(Clone)]
    struct AppState {
        db: Arc<Db>,
        keys: JwtKeys,
    }

    type Failure = (StatusCode, String);

    fn fail<E: std::fmt::Display>(e: E) -> Failure {
        (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }

    impl AppState {
        async fn read<T: Send + 'static>(
            &self,
            f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        ) -> Result<T, Failure> {
            let _permit = self.db.reader_permits.acquire().await.map_err(fail)?;
            let db = self.db.clone();
            tokio::task::spawn_blocking(move || {
                let conn = db.readers.lock().unwrap().pop().expect("a permit means a free reader");
                let r = f(&conn);
                db.readers.lock().unwrap().push(conn);
                r
            })
            .await
            .map_err(fail)?
            .map_err(fail)
        }

        async fn write<T: Send + 'static>(
            &self,
            f: impl FnOnce(&mut Connection) -> Result<T, Failure> + Send + 'static,
        ) -> Result<T, Failure> {
            let _permit = self.db.writer_permit.acquire().await.map_err(fail)?;
            let db = self.db.clone();
            tokio::task::spawn_blocking(move || f(&mut db.writer.lock().unwrap())).await.map_err(fail)?
        }

        fn user(&self, headers: &HeaderMap) -> Result<i64, Failure> {
            let token = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or((StatusCode::UNAUTHORIZED, "no token".into()))?;
            let claims = self
                .keys
                .verify(token, kiln_app::clock::unix_now())
                .map_err(|e| (StatusCode::UNAUTHORIZED, e.to_string()))?;
            claims.sub.parse().map_err(|_| (StatusCode::UNAUTHORIZED, "bad sub".into()))
        }
    }

    fn book(r: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
        Ok(
            json!({"id": r.get::<_, i64>(0)?, "title": r.get::<_, String>(1)?, "author": r.get::<_, String>(2)?,
                  "year": r.get::<_, i64>(3)?, "isbn": r.get::<_, Option<String>>(4)?, "copies": r.get::<_, i64>(5)?, "available": r.get::<_, i64>(6)?}),
        )
    }

    async fn show(State(s): State<AppState>, Path(id): Path<i64>) -> Result<Json<Value>, Failure> {
        let found = s
            .read(move |c| {
                c.query_row(
                    "SELECT id, title, author, year, isbn, copies, available FROM books WHERE id = ?1",
                    [id],
                    book,
                )
                .optional()
            })
            .await?;
        found.map(Json).ok_or((StatusCode::NOT_FOUND, "no such book".into()))
    }

    #[derive(serde::Deserialize)]
    struct Page {
        limit: Option<i64>,
        offset: Option<i64>,
    }

    async fn list(State(s): State<AppState>, Query(p): Query<Page>) -> Result<Json<Value>, Failure> {
        let (limit, offset) = (p.limit.unwrap_or(20).clamp(1, 100), p.offset.unwrap_or(0).max(0));
        let page = s
            .read(move |c| {
                let total: i64 = c.query_row("SELECT COUNT(*) FROM books", [], |r| r.get(0))?;
                let mut stmt = c.prepare_cached("SELECT id, title, author, year, isbn, copies, available FROM books ORDER BY id LIMIT ?1 OFFSET ?2")?;
                let items = stmt.query_map([limit, offset], book)?.collect::<rusqlite::Result<Vec<Value>>>()?;
                Ok(json!({"items": items, "total": total, "limit": limit, "offset": offset}))
            })
            .await?;
        Ok(Json(page))
    }

    #[derive(serde::Deserialize)]
    struct Login {
        email: String,
        password: String,
    }

    async fn login(State(s): State<AppState>, Json(body): Json<Login>) -> Result<Json<Value>, Failure> {
        let email = body.email.clone();
        let user: Option<(i64, String)> = s
            .read(move |c| {
                c.query_row("SELECT id, password_hash FROM users WHERE email = ?1", [email], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .await?;
        let Some((id, hash)) = user else { return Err((StatusCode::UNAUTHORIZED, "invalid".into())) };
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(body.password, &hash).unwrap_or(false))
            .await
            .map_err(fail)?;
        if !ok {
            return Err((StatusCode::UNAUTHORIZED, "invalid".into()));
        }
        let refresh = kiln_app::auth::tokens::new_refresh_token();
        let stored = kiln_app::auth::tokens::hash_token(&refresh);
        let now = kiln_app::clock::unix_now();
        let family = kiln_app::auth::tokens::new_id();
        let sid = family.clone();
        s.write(move |c| {
            c.execute(
                "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, sid, stored, now + 3600, now],
            )
            .map_err(fail)
        })
        .await?;
        let access = s.keys.issue(&id.to_string(), &family, now, 900, &kiln_app::auth::tokens::new_id());
        Ok(Json(
            json!({"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": 900}),
        ))
    }

    async fn me(State(s): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, Failure> {
        let id = s.user(&headers)?;
        let found = s
            .read(move |c| {
                c.query_row(
                    "SELECT email, display_name, bio, role, created_at FROM users WHERE id = ?1",
                    [id],
                    |r| {
                        Ok(json!({"id": id, "email": r.get::<_, String>(0)?, "display_name": r.get::<_, String>(1)?,
                                  "bio": r.get::<_, String>(2)?, "role": r.get::<_, String>(3)?, "created_at": r.get::<_, i64>(4)?}))
                    },
                )
                .optional()
            })
            .await?;
        found.map(Json).ok_or((StatusCode::UNAUTHORIZED, "no such user".into()))
    }

    async fn borrow(
        State(s): State<AppState>,
        headers: HeaderMap,
        Path(book): Path<i64>,
    ) -> Result<(StatusCode, Json<Value>), Failure> {
        let user = s.user(&headers)?;
        let now = kiln_app::clock::unix_now();
        let loan = s
            .write(move |c| {
                let tx = c.transaction().map_err(fail)?;
                let open: i64 = tx
                    .query_row(
                        "SELECT COUNT(*) FROM loans WHERE user_id = ?1 AND returned_at IS NULL",
                        [user],
                        |r| r.get(0),
                    )
                    .map_err(fail)?;
                if open >= 5 {
                    return Err((StatusCode::CONFLICT, "limit".into()));
                }
                if tx
                    .execute(
                        "UPDATE books SET available = available - 1 WHERE id = ?1 AND available > 0",
                        [book],
                    )
                    .map_err(fail)?
                    == 0
                {
                    return Err((StatusCode::CONFLICT, "none available".into()));
                }
                tx.execute(
                    "INSERT INTO loans (user_id, book_id, borrowed_at) VALUES (?1, ?2, ?3)",
                    params![user, book, now],
                )
                .map_err(fail)?;
                let id = tx.last_insert_rowid();
                tx.commit().map_err(fail)?;
                Ok(json!({"id": id, "book_id": book, "borrowed_at": now, "returned_at": null}))
            })
            .await?;
        Ok((StatusCode::CREATED, Json(loan)))
    }

    async fn give_back(
        State(s): State<AppState>,
        headers: HeaderMap,
        Path(id): Path<i64>,
    ) -> Result<Json<Value>, Failure> {
        let user = s.user(&headers)?;
        let now = kiln_app::clock::unix_now();
        let loan = s
            .write(move |c| {
                let tx = c.transaction().map_err(fail)?;
                let row: Option<(i64, i64, i64, Option<i64>)> = tx
                    .query_row(
                        "SELECT user_id, book_id, borrowed_at, returned_at FROM loans WHERE id = ?1",
                        [id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .optional()
                    .map_err(fail)?;
                let Some((_, book, borrowed, None)) = row.filter(|r| r.0 == user) else {
                    return Err((StatusCode::NOT_FOUND, "no such open loan".into()));
                };
                tx.execute("UPDATE loans SET returned_at = ?2 WHERE id = ?1", params![id, now])
                    .map_err(fail)?;
                tx.execute("UPDATE books SET available = available + 1 WHERE id = ?1", [book])
                    .map_err(fail)?;
                tx.commit().map_err(fail)?;
                Ok(json!({"id": id, "book_id": book, "borrowed_at": borrowed, "returned_at": now}))
            })
            .await?;
        Ok(Json(loan))
    }

    /// Serves the baseline on `listener` over the database at `db`.
    pub async fn serve(listener: tokio::net::TcpListener, db: &std::path::Path, secret: &[u8]) {
        let open = |flags| {
            let c = Connection::open_with_flags(db, flags).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
            c.pragma_update(None, "foreign_keys", "ON").unwrap();
            c.pragma_update(None, "synchronous", "NORMAL").unwrap();
            c
        };
        let readers: Vec<Connection> = (0..4)
            .map(|_| open(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX))
            .collect();
        let writer = open(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX);
        let db = Arc::new(Db {
            readers: Mutex::new(readers),
            reader_permits: Semaphore::new(4),
            writer: Mutex::new(writer),
            writer_permit: Semaphore::new(1),
        });
        let keys = JwtKeys::new(secret, kiln_app::auth::ISSUER, kiln_app::auth::AUDIENCE).unwrap();
        let app = Router::new()
            .route("/books", get(list))
            .route("/books/{id}", get(show))
            .route("/auth/login", post(login))
            .route("/me", get(me))
            .route("/books/{id}/loans", post(borrow))
            .route("/loans/{id}/return", post(give_back))
            .with_state(AppState { db, keys });
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await.unwrap();
    }
}

struct Servers {
    kiln: SocketAddr,
    axum: SocketAddr,
    _dir: tempfile::TempDir,
    _kiln_rt: kiln::runtime::Runtime,
    _tokio_rt: tokio::runtime::Runtime,
}

fn start() -> Servers {
    let dir = tempfile::tempdir().unwrap();
    let (kiln_db, axum_db) = (dir.path().join("kiln.db"), dir.path().join("axum.db"));
    seed(&kiln_db);
    seed(&axum_db);
    let kiln_rt = kiln::runtime::Builder::new_multi_thread().worker_threads(workers()).build().unwrap();
    let kiln = kiln_rt.block_on(async {
        let mut config =
            kiln_app::config::Config { db: kiln_db, jwt_secret: Some(SECRET.to_vec()), ..Default::default() };
        config.auth.bcrypt_cost = BCRYPT_COST;
        config.auth.rate_burst = u32::MAX / 2; // the bench logs in far faster than a person
        config.auth.rate_per_sec = 1_000_000;
        let app = kiln_app::build(config).await.unwrap();
        let listener = kiln::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        kiln::spawn(kiln_app::serve(app, listener, std::future::pending()));
        addr
    });
    let tokio_rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers()).enable_all().build().unwrap();
    let axum = tokio_rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { baseline::serve(listener, &axum_db, &SECRET).await });
        addr
    });
    Servers { kiln, axum, _dir: dir, _kiln_rt: kiln_rt, _tokio_rt: tokio_rt }
}

/// One request through the shared client; returns the status and the body as JSON.
async fn send(
    client: &Client,
    method: &str,
    url: String,
    body: Option<&str>,
    token: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_owned())
        }
        None => Body::empty(),
    };
    let r = client.send(req.body(body).unwrap()).await.unwrap();
    let json = r.body().as_bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
    (r.status(), json)
}

const LOGIN: &str = r#"{"email":"bench@example.com","password":"correct horse"}"#;

#[path = "support/paired.rs"]
mod paired;
#[path = "support/pin.rs"]
mod pin;

/// Measures `run` against each server in one group (criterion's way, or interleaved with
/// `KILN_BENCH_PAIRED`, see `support/paired.rs`).
fn group(c: &mut Criterion, name: &str, samples: Option<usize>, servers: &Servers, run: impl Fn(SocketAddr)) {
    let mut on_kiln = |b: &mut paired::Bencher| b.iter(|| run(servers.kiln));
    let mut on_axum = |b: &mut paired::Bencher| b.iter(|| run(servers.axum));
    paired::compare_with_samples(
        c,
        "app",
        name,
        samples,
        &mut [("kiln", &mut on_kiln), ("axum", &mut on_axum)],
    );
}

fn bench(c: &mut Criterion) {
    // Both servers on the server CPUs, this (client) thread on the others (`support/pin.rs`).
    let servers = pin::start_servers("app", start);
    let client_rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    let client = Client::new();
    let name =
        |n: &str| format!("{n} [servers: multi_thread, {} workers; bcrypt cost {BCRYPT_COST}]", workers());

    let i = std::cell::Cell::new(0);
    group(c, &name("app_get_book"), None, &servers, |addr| {
        i.set(i.get() % BOOKS + 1);
        let (status, _) =
            client_rt.block_on(send(&client, "GET", format!("http://{addr}/books/{}", i.get()), None, None));
        assert_eq!(status, StatusCode::OK);
    });

    group(c, &name("app_list_books"), None, &servers, |addr| {
        let (status, page) =
            client_rt.block_on(send(&client, "GET", format!("http://{addr}/books?limit=20"), None, None));
        assert_eq!((status, page["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(20)));
    });

    group(c, &name("app_login"), Some(10), &servers, |addr| {
        let (status, _) =
            client_rt.block_on(send(&client, "POST", format!("http://{addr}/auth/login"), Some(LOGIN), None));
        assert_eq!(status, StatusCode::OK);
    });

    let token = |addr: SocketAddr| {
        let (_, tokens) =
            client_rt.block_on(send(&client, "POST", format!("http://{addr}/auth/login"), Some(LOGIN), None));
        tokens["access_token"].as_str().unwrap().to_owned()
    };
    let tokens = [(servers.kiln, token(servers.kiln)), (servers.axum, token(servers.axum))];
    group(c, &name("app_me"), None, &servers, |addr| {
        let token = &tokens.iter().find(|(a, _)| *a == addr).expect("a server's token").1;
        let (status, me) =
            client_rt.block_on(send(&client, "GET", format!("http://{addr}/me"), None, Some(token)));
        assert_eq!((status, me["email"].as_str()), (StatusCode::OK, Some("bench@example.com")));
    });
    group(c, &name("app_borrow_return"), None, &servers, |addr| {
        let token = &tokens.iter().find(|(a, _)| *a == addr).expect("a server's token").1;
        client_rt.block_on(async {
            let (status, loan) =
                send(&client, "POST", format!("http://{addr}/books/1/loans"), None, Some(token)).await;
            assert_eq!(status, StatusCode::CREATED, "{loan}");
            let id = loan["id"].as_i64().unwrap();
            let (status, _) =
                send(&client, "POST", format!("http://{addr}/loans/{id}/return"), None, Some(token)).await;
            assert_eq!(status, StatusCode::OK);
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = bench
}
criterion_main!(benches);
