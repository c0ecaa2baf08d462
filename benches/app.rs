//! The service, Kiln against axum + Tokio + rusqlite: the same endpoints over the same SQLite
//! schema, driven by the same client (Kiln's, on its own current-thread runtime) in one run.
//!
//! The baseline (`support/app_baseline.rs`) is written as an axum user would: handlers that
//! run SQL and bcrypt in `tokio::task::spawn_blocking` over a small connection pool, the same
//! SQL as `kiln-app`, and the same JWT code, so token work is equal on both sides.
//!
//! - `app_get_book`: `GET /books/{id}`.
//! - `app_get_book_cache`: `GET /books/{id}` on three Kiln services — the book cache in the
//!   process (the default; every request a hit once the 200 books are in), no cache
//!   (`--cache-ttl 0`: every request reads SQLite), the cache in Redis (`--redis`: every
//!   request one round trip to a local `redis-server`) — and the axum twin, which has no
//!   cache.
//! - `app_backend_get_book`, `app_backend_borrow_return`: the service on SQLite and on
//!   PostgreSQL (a private cluster on this machine, fsync off; `--cache-ttl 0` for the book
//!   reads on both, so every read reaches the database) beside the axum twin on SQLite.
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

/// bcrypt cost used by both services in this bench.
const BCRYPT_COST: u32 = 10;
const SECRET: [u8; 32] = [9; 32];
const BOOKS: i64 = 200;

fn workers() -> usize {
    std::env::var("KILN_BENCH_WORKERS").ok().and_then(|s| s.parse().ok()).unwrap_or(2)
}

#[path = "support/app_baseline.rs"]
mod baseline;

struct Servers {
    kiln: SocketAddr,
    kiln_uncached: SocketAddr,
    kiln_redis: SocketAddr,
    kiln_postgres: SocketAddr,
    axum: SocketAddr,
    _redis: kiln_test_support::redis::RedisServer,
    _postgres: kiln_test_support::postgres::PostgresServer,
    _dir: tempfile::TempDir,
    _kiln_rt: kiln::runtime::Runtime,
    _tokio_rt: tokio::runtime::Runtime,
}

fn start() -> Servers {
    let dir = tempfile::tempdir().unwrap();
    let db = |name: &str| {
        let path = dir.path().join(name);
        baseline::seed(&path, BCRYPT_COST, BOOKS);
        path
    };
    let axum_db = db("axum.db");
    let redis = kiln_test_support::redis::RedisServer::start();
    let kiln_rt = kiln::runtime::Builder::new_multi_thread().worker_threads(workers()).build().unwrap();
    let serve = |db, tune: &dyn Fn(&mut kiln::app::config::Config)| {
        let mut config =
            kiln::app::config::Config { db, jwt_secret: Some(SECRET.to_vec()), ..Default::default() };
        config.auth.bcrypt_cost = BCRYPT_COST;
        config.auth.rate_burst = u32::MAX / 2; // the bench logs in far faster than a person
        config.auth.rate_per_sec = 1_000_000;
        tune(&mut config);
        kiln_rt.block_on(async {
            let app = kiln::app::build(config).await.unwrap();
            let listener = kiln::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            kiln::spawn(kiln::app::serve(app, listener, std::future::pending()));
            addr
        })
    };
    let kiln = serve(db("kiln.db"), &|_| {});
    let kiln_uncached = serve(db("uncached.db"), &|c| c.cache.ttl = std::time::Duration::ZERO);
    let kiln_redis = serve(db("redis.db"), &|c| {
        c.redis = Some(kiln::redis::ClientConfig::from_url(&redis.url()).unwrap());
    });
    let postgres = kiln_test_support::postgres::PostgresServer::start();
    let pg = kiln::postgres::Config::from_url(&postgres.url()).unwrap();
    let kiln_postgres = serve(dir.path().join("unused.db"), &|c| {
        c.database_url = Some(pg.clone());
        c.cache.ttl = std::time::Duration::ZERO;
    });
    kiln_rt.block_on(seed_postgres(pg.clone()));
    let tokio_rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers()).enable_all().build().unwrap();
    let axum = tokio_rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { baseline::serve(listener, &axum_db, &SECRET).await });
        addr
    });
    Servers {
        kiln,
        kiln_uncached,
        kiln_redis,
        kiln_postgres,
        axum,
        _redis: redis,
        _postgres: postgres,
        _dir: dir,
        _kiln_rt: kiln_rt,
        _tokio_rt: tokio_rt,
    }
}

/// The seed of `baseline::seed` in the PostgreSQL database (the service migrated it): the
/// bench user and [`BOOKS`] books, the books in one statement.
async fn seed_postgres(config: kiln::postgres::Config) {
    let db = kiln::postgres::Client::connect(config).await.unwrap();
    let hash = bcrypt::hash("correct horse", BCRYPT_COST).unwrap();
    db.execute(
        "INSERT INTO users (email, password_hash, display_name, role, created_at) VALUES ('bench@example.com', $1, 'Bench', 'admin', 0)",
        &[&hash],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO books (title, author, year, copies, available, created_at) \
         SELECT 'Book ' || i, 'Author ' || (i % 17), 1900 + i % 120, 1000, 1000, 0 FROM generate_series(1, $1::int8) i",
        &[&BOOKS],
    )
    .await
    .unwrap();
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

    let get_book = |addr: SocketAddr| {
        i.set(i.get() % BOOKS + 1);
        let (status, _) =
            client_rt.block_on(send(&client, "GET", format!("http://{addr}/books/{}", i.get()), None, None));
        assert_eq!(status, StatusCode::OK);
    };
    let mut cached = |b: &mut paired::Bencher| b.iter(|| get_book(servers.kiln));
    let mut uncached = |b: &mut paired::Bencher| b.iter(|| get_book(servers.kiln_uncached));
    let mut in_redis = |b: &mut paired::Bencher| b.iter(|| get_book(servers.kiln_redis));
    let mut on_axum = |b: &mut paired::Bencher| b.iter(|| get_book(servers.axum));
    paired::compare(
        c,
        "app",
        &name("app_get_book_cache"),
        &mut [
            ("kiln", &mut cached),
            ("kiln-uncached", &mut uncached),
            ("kiln-redis-cache", &mut in_redis),
            ("axum", &mut on_axum),
        ],
    );

    {
        let mut on_sqlite = |b: &mut paired::Bencher| b.iter(|| get_book(servers.kiln_uncached));
        let mut on_postgres = |b: &mut paired::Bencher| b.iter(|| get_book(servers.kiln_postgres));
        let mut on_axum = |b: &mut paired::Bencher| b.iter(|| get_book(servers.axum));
        paired::compare(
            c,
            "app",
            &name("app_backend_get_book"),
            &mut [
                ("kiln-sqlite", &mut on_sqlite),
                ("kiln-postgres", &mut on_postgres),
                ("axum", &mut on_axum),
            ],
        );
    }

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
    let tokens = [
        (servers.kiln, token(servers.kiln)),
        (servers.kiln_postgres, token(servers.kiln_postgres)),
        (servers.axum, token(servers.axum)),
    ];
    group(c, &name("app_me"), None, &servers, |addr| {
        let token = &tokens.iter().find(|(a, _)| *a == addr).expect("a server's token").1;
        let (status, me) =
            client_rt.block_on(send(&client, "GET", format!("http://{addr}/me"), None, Some(token)));
        assert_eq!((status, me["email"].as_str()), (StatusCode::OK, Some("bench@example.com")));
    });
    let borrow_return = |addr: SocketAddr| {
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
    };
    group(c, &name("app_borrow_return"), None, &servers, borrow_return);
    {
        let mut on_sqlite = |b: &mut paired::Bencher| b.iter(|| borrow_return(servers.kiln));
        let mut on_postgres = |b: &mut paired::Bencher| b.iter(|| borrow_return(servers.kiln_postgres));
        let mut on_axum = |b: &mut paired::Bencher| b.iter(|| borrow_return(servers.axum));
        paired::compare(
            c,
            "app",
            &name("app_backend_borrow_return"),
            &mut [
                ("kiln-sqlite", &mut on_sqlite),
                ("kiln-postgres", &mut on_postgres),
                ("axum", &mut on_axum),
            ],
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = bench
}
criterion_main!(benches);
