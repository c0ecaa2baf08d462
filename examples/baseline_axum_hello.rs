//! The axum baseline for `http_hello`: the same three routes on axum 0.8 (its router,
//! extractors and `axum::serve`, as an axum user would write them) and Tokio with two
//! workers. Used by `scripts/bench-http.sh`; not part of Kiln (axum and Tokio are
//! dev-dependencies only). The app is in `support/hello_apps.rs`.
//!
//! ```text
//! cargo run --release --example baseline_axum_hello -- --port 8082
//! curl -i http://127.0.0.1:8082/plaintext
//! ```
//! What to look for: the same answers as `http_hello`'s, with `server`'s own headers.

#[path = "support/args.rs"]
mod args;
#[path = "support/hello_apps.rs"]
mod hello_apps;

fn main() {
    let args = args::Args::parse(
        "usage: baseline_axum_hello [--addr HOST:PORT | --port N]",
        &["--addr", "--port"],
        &[],
    );
    let addr = args.listen_addr(8082);
    let workers = std::env::var("KILN_BENCH_WORKERS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr.as_str()).await.unwrap();
        println!("baseline_axum_hello: listening on http://{}", listener.local_addr().unwrap());
        hello_apps::axum_app::serve(listener).await;
    });
}
