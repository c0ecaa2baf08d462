//! The axum + Tokio + rusqlite twin of the service's measured endpoints, and the rows both
//! are seeded with (`benches/app.rs`, `benches/login_flood.rs`).
//!
//! Written as an axum user would: handlers that run SQL and bcrypt in
//! `tokio::task::spawn_blocking` over a small connection pool (read connections plus one
//! writer behind a Tokio semaphore), the same SQL as `kiln-app`, and the same JWT code
//! (`kiln_app::auth::jwt`, plain synchronous code) so token work is equal on both sides.

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
    Ok(json!({"id": r.get::<_, i64>(0)?, "title": r.get::<_, String>(1)?, "author": r.get::<_, String>(2)?,
              "year": r.get::<_, i64>(3)?, "isbn": r.get::<_, Option<String>>(4)?, "copies": r.get::<_, i64>(5)?, "available": r.get::<_, i64>(6)?}))
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
                .execute("UPDATE books SET available = available - 1 WHERE id = ?1 AND available > 0", [book])
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
            tx.execute("UPDATE loans SET returned_at = ?2 WHERE id = ?1", params![id, now]).map_err(fail)?;
            tx.execute("UPDATE books SET available = available + 1 WHERE id = ?1", [book]).map_err(fail)?;
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
    let readers: Vec<Connection> =
        (0..4).map(|_| open(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)).collect();
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

/// Creates the schema (Kiln's migrations) and the same rows for either service.
pub fn seed(db: &std::path::Path, bcrypt_cost: u32, books: i64) {
    let mut c = rusqlite::Connection::open(db).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    kiln_app::db::migrations::migrate(&mut c).unwrap();
    let hash = bcrypt::hash("correct horse", bcrypt_cost).unwrap();
    c.execute(
        "INSERT INTO users (email, password_hash, display_name, role, created_at) VALUES ('bench@example.com', ?1, 'Bench', 'admin', 0)",
        [hash],
    )
    .unwrap();
    let tx = c.transaction().unwrap();
    for i in 1..=books {
        tx.execute(
            "INSERT INTO books (title, author, year, copies, available, created_at) VALUES (?1, ?2, ?3, 1000, 1000, 0)",
            rusqlite::params![format!("Book {i}"), format!("Author {}", i % 17), 1900 + i % 120],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}
