//! A flood of wrong logins, and how fast every other route stays meanwhile: Kiln's service
//! against its axum twin (`support/app_baseline.rs`), one after the other in one run, both at
//! bcrypt cost 12 (the default).
//!
//! For each server: `GET /books/{id}` from one client, one request after another, for
//! [`QUIET`] alone, then for [`FLOOD`] while wrong passwords for the seeded account arrive at
//! `POST /auth/login`, [`LOGINS_PER_SEC`] of them a second — over ten times what two CPUs can
//! hash at cost 12. Each login comes on a new connection from its own loopback address
//! (127.1.x.y), so no per-address limit or throttle applies: the flood reaches bcrypt.
//! Printed: p50 / p99 / max of the GETs in both phases, and how the logins were answered
//! (those still unanswered a second after the flood are counted as such and dropped).
//!
//! Kiln's service hashes on a bounded set of threads (half the CPUs) with a bounded queue, and
//! answers 503 at once past it (`app/src/auth/password.rs`); the twin hashes in
//! `spawn_blocking`, as an axum service usually does, which takes every CPU it can get.
//!
//! Run: `cargo bench --bench login_flood` (about 20 s).

// A bench binary: its items need no docs.
#![allow(missing_docs)]

use kiln::http::http::{Request, StatusCode};
use kiln::http::{Body, Client};
use kiln::io::{AsyncReadExt, AsyncWriteExt};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "support/app_baseline.rs"]
mod baseline;

const BCRYPT_COST: u32 = 12;
const BOOKS: i64 = 200;
const SECRET: [u8; 32] = [9; 32];
/// How long the GETs run alone.
const QUIET: Duration = Duration::from_secs(3);
/// How long they run during the flood (after a half-second ramp).
const FLOOD: Duration = Duration::from_secs(5);
/// Logins sent per second during the flood.
const LOGINS_PER_SEC: u32 = 100;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (kiln_db, axum_db) = (dir.path().join("kiln.db"), dir.path().join("axum.db"));
    baseline::seed(&kiln_db, BCRYPT_COST, BOOKS);
    baseline::seed(&axum_db, BCRYPT_COST, BOOKS);
    let kiln_rt = kiln::runtime::Builder::new_multi_thread().build().unwrap();
    let kiln_addr = kiln_rt.block_on(async {
        let mut config = kiln::app::config::Config {
            db: kiln_db,
            jwt_secret: Some(SECRET.to_vec()),
            ..Default::default()
        };
        config.auth.bcrypt_cost = BCRYPT_COST;
        let app = kiln::app::build(config).await.unwrap();
        let listener = kiln::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        kiln::spawn(kiln::app::serve(app, listener, std::future::pending()));
        addr
    });
    let tokio_rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let axum_addr = tokio_rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { baseline::serve(listener, &axum_db, &SECRET).await });
        addr
    });
    println!("login flood: GET /books/{{id}} latency alone and during {LOGINS_PER_SEC} wrong logins a second (bcrypt cost {BCRYPT_COST}, {} CPUs)",
        std::thread::available_parallelism().map_or(1, |n| n.get()));
    let client_rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    for (name, addr) in [("kiln", kiln_addr), ("axum", axum_addr)] {
        client_rt.block_on(measure(name, addr));
    }
}

async fn measure(name: &str, addr: SocketAddr) {
    let client = Client::new();
    let quiet = gets(&client, addr, QUIET).await;
    let answers = Arc::new(Mutex::new(BTreeMap::<&'static str, u32>::new()));
    let flood = kiln::spawn({
        let answers = answers.clone();
        async move {
            let mut logins = Vec::new();
            let mut tick = kiln::time::interval(Duration::from_secs(1) / LOGINS_PER_SEC);
            let end = Instant::now() + FLOOD + Duration::from_millis(500);
            let mut n = 0;
            while Instant::now() < end {
                tick.tick().await;
                let answers = answers.clone();
                logins.push(kiln::spawn(async move {
                    let status = wrong_login(addr, n).await;
                    *answers.lock().unwrap().entry(status).or_default() += 1;
                }));
                n += 1;
            }
            kiln::time::sleep(Duration::from_secs(1)).await;
            let unanswered = logins.iter().filter(|l| !l.is_finished()).count();
            for l in logins {
                l.abort();
            }
            *answers.lock().unwrap().entry("unanswered").or_default() += unanswered as u32;
        }
    });
    kiln::time::sleep(Duration::from_millis(500)).await;
    let flooded = gets(&client, addr, FLOOD).await;
    flood.await.unwrap();
    let answers = answers.lock().unwrap().clone();
    let answers: Vec<String> = answers.iter().map(|(s, n)| format!("{n} × {s}")).collect();
    println!("  {name}: alone {}; during the flood {}", summary(quiet), summary(flooded));
    println!("  {name}: logins: {}", answers.join(", "));
}

/// Sequential GETs for `span`; each one's latency.
async fn gets(client: &Client, addr: SocketAddr, span: Duration) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let end = Instant::now() + span;
    let mut id = 0;
    while Instant::now() < end {
        id = id % BOOKS + 1;
        let t = Instant::now();
        let r = client
            .send(Request::get(format!("http://{addr}/books/{id}")).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        latencies.push(t.elapsed());
    }
    latencies
}

fn summary(mut latencies: Vec<Duration>) -> String {
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms ({} GETs)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
        latencies.len()
    )
}

/// One wrong login on a new connection from loopback address number `n`; its status.
async fn wrong_login(to: SocketAddr, n: u32) -> &'static str {
    let from = [127, 1, (n / 250 % 250) as u8, (n % 250 + 1) as u8];
    let socket = kiln::net::TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    let mut stream = socket.connect(to).await.unwrap();
    let body = r#"{"email":"bench@example.com","password":"not the password"}"#;
    let request = format!(
        "POST /auth/login HTTP/1.1\r\nhost: {to}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    match String::from_utf8_lossy(&response).split(' ').nth(1) {
        Some("401") => "401",
        Some("429") => "429",
        Some("503") => "503",
        _ => "other",
    }
}
