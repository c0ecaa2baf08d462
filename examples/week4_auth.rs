//! Week 4: the service in a small configuration — SQLite with migrations and a pool, bcrypt,
//! JWT access tokens and rotating refresh tokens, protected routes, transactions — for the
//! curl walkthrough in docs/week4.md.
//!
//! ```text
//! cargo run --example week4_auth              # 127.0.0.1:3004, database ./week4.db
//! cargo run --example week4_auth -- --addr 127.0.0.1:0 --db /tmp/w4.db   (--port N: 127.0.0.1:N)
//! ```
//! Differences from `cargo run --release` (the full service): a cheaper bcrypt cost (10) so
//! the walkthrough is quick, two-minute access tokens so refresh is worth trying, and a
//! generous auth rate limit. Ctrl+C stops it; the database stays. What to look for: the
//! first account signed up is the admin; `/me` answers 401 without a token and after its
//! session ends (logout, a refresh token replayed).

#[path = "support/args.rs"]
mod args;

use kiln::app::config::Config;

const USAGE: &str = "usage: week4_auth [--addr HOST:PORT | --port N] [--db PATH]";

#[kiln::main]
async fn main() {
    kiln::app::init_logging(); // structured logs on stderr; RUST_LOG=debug for more
    let args = args::Args::parse(USAGE, &["--addr", "--port", "--db"], &[]);
    let addr = args.listen_addr(3004);
    let mut config = Config { db: args.get("--db", "week4.db".to_owned()).into(), ..Config::default() };
    config.jwt_secret = std::env::var("KILN_JWT_SECRET").ok().map(String::into_bytes);
    config.auth.bcrypt_cost = 10;
    config.auth.access_ttl_secs = 120;
    config.auth.rate_burst = 100;
    let app = kiln::app::build(config).await.unwrap_or_else(|e| args.fail(&e.to_string()));
    let listener = kiln::net::TcpListener::bind(addr.as_str())
        .await
        .unwrap_or_else(|e| args.fail(&format!("cannot listen on {addr}: {e}")));
    let addr = listener.local_addr().expect("a bound listener has an address");
    println!("week4_auth: listening on http://{addr}, database {}", app.config.db.display());
    println!("week4_auth: start with: curl -s -X POST http://{addr}/auth/signup -H 'content-type: application/json' \\");
    println!("              -d '{{\"email\":\"ada@example.com\",\"password\":\"correct horse\",\"display_name\":\"Ada\"}}'");
    println!("week4_auth: the whole walkthrough is in docs/week4.md; Ctrl+C to stop");
    let summary = kiln::app::serve(app, listener, async {
        if let Err(e) = kiln::shutdown::terminate_signal().await {
            tracing::error!(error = %e, "cannot listen for signals");
            std::future::pending::<()>().await;
        }
    })
    .await;
    println!("week4_auth: stopped after {} connections", summary.connections);
}
