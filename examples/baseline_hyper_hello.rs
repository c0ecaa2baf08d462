//! The baseline for `http_hello`: the same three routes on hyper 1.x (HTTP/1 only,
//! `pipeline_flush` on) and Tokio with two workers. Used by `scripts/bench-http.sh`; not part
//! of Kiln (hyper and Tokio are dev-dependencies only). The app is in
//! `support/hello_apps.rs`, beside Kiln's and axum's.
//!
//! ```text
//! cargo run --release --example baseline_hyper_hello -- --port 8081
//! curl -i http://127.0.0.1:8081/plaintext
//! ```
//! What to look for: the same answers as `http_hello`'s, with `server`'s own headers.

#[path = "support/args.rs"]
mod args;
#[path = "support/hello_apps.rs"]
mod hello_apps;

fn main() {
    let args = args::Args::parse(
        "usage: baseline_hyper_hello [--addr HOST:PORT | --port N]",
        &["--addr", "--port"],
        &[],
    );
    let addr = args.listen_addr(8081);
    let workers = std::env::var("KILN_BENCH_WORKERS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr.as_str()).await.unwrap();
        println!("baseline_hyper_hello: listening on http://{}", listener.local_addr().unwrap());
        hello_apps::hyper_app::serve(listener).await;
    });
}
