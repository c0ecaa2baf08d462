//! Week 2: the multi-room chat server, with accounts (bcrypt), history in SQLite, limits, and
//! graceful shutdown. The protocol is in docs/week2.md.
//!
//! ```text
//! cargo run --release --example week2_chat                    # 127.0.0.1:7070, kiln-chat.db
//! cargo run --release --example week2_chat -- --db /tmp/chat.db --no-auth
//! ```
//! In other terminals: `cargo run --example week2_chat_client` (or `nc 127.0.0.1 7070` if you
//! have `nc`), then
//! `/register alice secret-password`, `/join rust`, type messages. What to look for: every
//! client in the room sees each message once, in one order; restart the server and
//! `/history` still has them. Ctrl+C (or `kill <pid>`) tells every client, stores every
//! message, and exits 0.

#[path = "support/args.rs"]
mod args;

use kiln::app::chat::{ChatConfig, ChatServer};
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "usage: week2_chat [--addr HOST:PORT] [--db FILE] [--no-auth] [--max-clients N] \
                     [--idle-secs S] [--history N]";

#[kiln::main]
async fn main() {
    let args = args::Args::parse(
        USAGE,
        &["--addr", "--db", "--max-clients", "--idle-secs", "--history"],
        &["--no-auth"],
    );
    let defaults = ChatConfig::default();
    let config = ChatConfig {
        addr: args.get("--addr", defaults.addr.clone()),
        db: args.get("--db", PathBuf::from("kiln-chat.db")),
        require_auth: !args.has("--no-auth"),
        max_clients: args.get("--max-clients", defaults.max_clients),
        idle_timeout: Duration::from_secs(args.get("--idle-secs", defaults.idle_timeout.as_secs())),
        history_on_join: args.get("--history", defaults.history_on_join),
        ..defaults
    };
    let (db, auth, max_clients) = (config.db.clone(), config.require_auth, config.max_clients);
    let server = match ChatServer::bind(config).await {
        Ok(s) => s,
        Err(e) => args.fail(&e.to_string()),
    };
    let addr = server.local_addr().expect("a bound server has an address");
    println!("chat: listening on {addr}");
    println!("chat: history and accounts in {}", db.display());
    println!(
        "chat: accounts {}; at most {max_clients} clients",
        if auth { "required (/register, /login)" } else { "off (guests)" }
    );
    println!(
        "chat: connect with `cargo run --example week2_chat_client -- --addr {addr}` or `nc {} {}`",
        addr.ip(),
        addr.port()
    );
    let summary = server
        .run(async {
            if let Err(e) = kiln::shutdown::terminate_signal().await {
                eprintln!("chat: cannot listen for signals ({e}); stop with kill -9");
                std::future::pending::<()>().await;
            }
            println!("chat: shutting down: telling clients, storing history");
        })
        .await;
    println!(
        "chat: done. {} connections served, {} turned away, {} messages stored, {} sessions cut at the deadline",
        summary.served, summary.rejected, summary.stored, summary.forced
    );
}
