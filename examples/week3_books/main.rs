//! Week 3: the Book Library API — routing, extractors, JSON, errors as problem bodies,
//! logging/CORS/rate-limit middleware, pagination and filtering, graceful shutdown.
//!
//! ```text
//! cargo run --release --example week3_books -- --seed
//! curl -s 'http://127.0.0.1:3000/books?author=ursula%20k.%20le%20guin&sort=-year'
//! ```
//! Options: `--addr HOST:PORT` (default 127.0.0.1:3000; `--port N` is short for
//! 127.0.0.1:N), `--seed` (ten classic books), `--cors-origin URL`
//! (repeatable), `--rate N` and `--burst N` (per client IP), `--timeout-ms N`. Logs go to
//! stderr through `tracing`; `RUST_LOG=debug` for more. Ctrl+C (or SIGTERM) stops accepting,
//! lets requests in flight finish, and logs what it waited for. docs/week3.md walks through
//! every endpoint with curl. What to look for: a log line per request on stderr with its
//! status and latency, `x-request-id` and `ratelimit` headers on every answer, and problem
//! bodies (`application/problem+json`) for every error.

mod api;
#[path = "../support/args.rs"]
mod args;
mod store;

use kiln::http::{Server, ServerConfig};
use std::time::Duration;

const USAGE: &str =
    "usage: week3_books [--addr HOST:PORT | --port N] [--seed] [--cors-origin URL]... [--rate N] [--burst N] [--timeout-ms N]";

#[kiln::main]
async fn main() {
    kiln::app::init_logging(); // structured logs on stderr; RUST_LOG=debug for more
    let args = args::Args::parse(
        USAGE,
        &["--addr", "--port", "--cors-origin", "--rate", "--burst", "--timeout-ms"],
        &["--seed"],
    );
    let addr = args.listen_addr(3000);
    let defaults = api::ApiConfig::default();
    let config = api::ApiConfig {
        cors_origins: args.all("--cors-origin"),
        rate_per_sec: args.get("--rate", defaults.rate_per_sec),
        burst: args.get("--burst", defaults.burst),
        timeout: Duration::from_millis(args.get("--timeout-ms", defaults.timeout.as_millis() as u64)),
        ..defaults
    };
    if config.rate_per_sec == 0 || config.burst == 0 {
        args.fail("--rate and --burst must be at least 1");
    }
    let store = store::Store::new();
    if args.has("--seed") {
        store::seed(&store);
    }
    let server = Server::bind(addr.as_str())
        .await
        .unwrap_or_else(|e| args.fail(&format!("cannot listen on {addr}: {e}")));
    let addr = server.local_addr().expect("a bound server has an address");
    let server_config = ServerConfig::default();
    println!("week3_books: listening on http://{addr} ({} books in memory)", store.len());
    println!("  list:   curl -s 'http://{addr}/books?limit=5&sort=-year'");
    println!("  create: curl -si -X POST http://{addr}/books -H 'content-type: application/json' \\");
    println!("            -d '{{\"title\":\"Kindred\",\"author\":\"Octavia E. Butler\",\"year\":1979}}'");
    println!(
        "  limits: {} req/s per IP (burst {}), handler timeout {:?}, bodies ≤ {} bytes",
        config.rate_per_sec, config.burst, config.timeout, config.max_body
    );
    println!("  Ctrl+C to stop (requests in flight get {:?})", server_config.shutdown_grace);
    let summary = server
        .config(server_config)
        .serve(api::service(store.clone(), &config), async {
            if let Err(e) = kiln::shutdown::terminate_signal().await {
                tracing::error!(error = %e, "cannot listen for signals; stop with kill -9");
                std::future::pending::<()>().await;
            }
        })
        .await;
    println!(
        "week3_books: stopped. {} connections served; at shutdown {} were open, {} cut at the deadline; {} books in memory (not kept)",
        summary.connections, summary.open_at_shutdown, summary.forced, store.len()
    );
}
