//! The hello server: `GET /plaintext`, `GET /json`, `POST /echo` — the server the HTTP
//! benchmarks and conformance checks run against.
//!
//! ```text
//! cargo run --release --example http_hello               # port 8080, or PORT, or --port
//! curl -i http://127.0.0.1:8080/plaintext
//! curl -i http://127.0.0.1:8080/json
//! curl -i -H 'content-type: text/plain' --data 'hi' http://127.0.0.1:8080/echo
//! ```
//! Ctrl+C (or `kill <pid>`) stops accepting, lets requests in flight finish, and exits 0.
//! `KILN_BENCH_WORKERS=N` sets the worker threads (default: one per CPU), as for the
//! baselines.

#[path = "support/args.rs"]
mod args;

#[path = "support/hello_apps.rs"]
mod hello_apps;

use kiln::http::Server;

const USAGE: &str = "usage: http_hello [--port N]   (default: $PORT or 8080)";

fn main() {
    // Worker threads: KILN_BENCH_WORKERS (as the baselines read it), else one per CPU.
    let workers = std::env::var("KILN_BENCH_WORKERS").ok().and_then(|s| s.parse().ok());
    let mut builder = kiln::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder.build().expect("the runtime starts").block_on(serve());
}

async fn serve() {
    let args = args::Args::parse(USAGE, &["--port"], &[]);
    let default_port = match std::env::var("PORT") {
        Ok(p) => p.parse().unwrap_or_else(|_| args.fail(&format!("PORT={p:?} is not a port number"))),
        Err(_) => 8080u16,
    };
    let port: u16 = args.get("--port", default_port);
    let server = Server::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| args.fail(&format!("cannot listen on port {port}: {e}")));
    let addr = server.local_addr().expect("a bound server has an address");
    println!("http_hello: listening on http://{addr}");
    println!("http_hello: try `curl -i http://{addr}/plaintext` (also /json, POST /echo); Ctrl+C to stop");
    let summary = server
        .serve(hello_apps::kiln_app::app(), async {
            if let Err(e) = kiln::shutdown::terminate_signal().await {
                eprintln!("http_hello: cannot listen for signals ({e})");
                std::future::pending::<()>().await;
            }
            println!("http_hello: shutting down; requests in flight may finish");
        })
        .await;
    println!("http_hello: done. {} connections, {} cut at the deadline", summary.connections, summary.forced);
}
