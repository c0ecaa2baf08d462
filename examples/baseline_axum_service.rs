//! The axum baseline for `scripts/load --twin`: the service's book, login and loan routes
//! written as an axum + Tokio + rusqlite user would (`benches/support/app_baseline.rs`, the
//! twin `benches/app.rs` measures in process), served over a SQLite file it seeds with the
//! same rows as the load script's service. Not part of Kiln: axum and Tokio are
//! dev-dependencies only.
//!
//! ```text
//! KILN_JWT_SECRET=… cargo run --release --example baseline_axum_service -- --port 8083 --db twin.db --books 200
//! curl -s http://127.0.0.1:8083/books/1
//! ```
//! What to look for: the same JSON as the service's `/books/1`; `POST /auth/login` with
//! `bench@example.com` / `correct horse` for a token.

#[path = "../benches/support/app_baseline.rs"]
mod app_baseline;
#[path = "support/args.rs"]
mod args;

fn main() {
    let args = args::Args::parse(
        "usage: baseline_axum_service [--addr HOST:PORT | --port N] --db PATH [--books N] [--bcrypt-cost N]",
        &["--addr", "--port", "--db", "--books", "--bcrypt-cost"],
        &[],
    );
    let addr = args.listen_addr(8083);
    let db = std::path::PathBuf::from(args.get("--db", String::new()));
    if db.as_os_str().is_empty() || db.exists() {
        args.fail("--db must name a file that does not exist yet: it is created and seeded");
    }
    let secret = std::env::var("KILN_JWT_SECRET").unwrap_or_else(|_| args.fail("set KILN_JWT_SECRET"));
    app_baseline::seed(&db, args.get("--bcrypt-cost", 10), args.get("--books", 200));
    let workers = std::env::var("KILN_BENCH_WORKERS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr.as_str()).await.unwrap();
        println!("baseline_axum_service: listening on http://{}", listener.local_addr().unwrap());
        app_baseline::serve(listener, &db, secret.as_bytes()).await;
    });
}
