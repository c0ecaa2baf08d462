//! The week-2 chat server: rooms, accounts, persistent history, and a protocol simple enough
//! for `nc`.
//!
//! # Layout
//! - `protocol.rs` — parsing client lines, formatting server lines, the rules for names.
//! - `store.rs` — the SQLite file (accounts, history), always used from the blocking pool.
//! - `history.rs` — the writer task that stores messages in batches.
//! - `hub.rs` — who is where, and fan-out through per-client bounded outboxes.
//! - `session.rs` — one connection: a reader running commands and a writer draining the
//!   outbox.
//! - this file — [`ChatConfig`] and [`ChatServer`]: the shared accept loop
//!   (`kiln_net::server`) with a chat session per connection, then flushing history.
//!
//! The protocol and its guarantees are documented for users in `docs/week2.md`.

mod history;
mod hub;
pub mod protocol;
mod session;
mod store;

pub use store::{Store, StoreError};

use history::{History, HistoryWriter};
use hub::Hub;
use kiln_net::net::TcpListener;
use kiln_net::server::{serve_connections, AcceptLimits};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Everything the chat server can be told. Every limit is here, with its default.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// Where to listen. Default `127.0.0.1:7070`.
    pub addr: String,
    /// The SQLite file for accounts and history. Default `kiln-chat.db`.
    pub db: PathBuf,
    /// Whether clients must `/login` (or `/register`) before doing anything but `/help`.
    /// Default true. Off, every client is a guest with a generated nick.
    pub require_auth: bool,
    /// bcrypt work factor for new passwords. Default 10 (about 50–100 ms per hash); tests
    /// use 4.
    pub bcrypt_cost: u32,
    /// Failed logins before the connection is closed. Default 3.
    pub max_login_attempts: u32,
    /// Clients connected at once; more are told `! server full` and closed. Default 256.
    pub max_clients: usize,
    /// Longest line a client may send, in bytes. Default 1024.
    pub max_line: usize,
    /// A client silent this long is disconnected. Default 5 minutes.
    pub idle_timeout: Duration,
    /// Lines queued for one client before it starts missing messages. Default 256.
    pub client_queue: usize,
    /// Messages a client may miss (because it reads too slowly) before it is disconnected.
    /// Default 1024.
    pub max_missed: u64,
    /// The kernel send buffer of each client socket (`SO_SNDBUF`), or `None` for the OS
    /// default (which autotunes up to megabytes). Together with `client_queue` it bounds how
    /// much a client that stops reading can hold up in memory. Default `None`.
    pub socket_send_buffer: Option<u32>,
    /// Longest a single write to a client may take. Default 10 s.
    pub write_timeout: Duration,
    /// Messages replayed when joining a room. Default 20.
    pub history_on_join: usize,
    /// The room everyone starts in. Default `lobby`.
    pub default_room: String,
    /// After shutdown begins, how long clients get to receive the notice. Default 5 s.
    pub shutdown_grace: Duration,
}

impl Default for ChatConfig {
    fn default() -> ChatConfig {
        ChatConfig {
            addr: "127.0.0.1:7070".to_owned(),
            db: PathBuf::from("kiln-chat.db"),
            require_auth: true,
            bcrypt_cost: 10,
            max_login_attempts: 3,
            max_clients: 256,
            max_line: 1024,
            idle_timeout: Duration::from_secs(300),
            client_queue: 256,
            max_missed: 1024,
            socket_send_buffer: None,
            write_timeout: Duration::from_secs(10),
            history_on_join: 20,
            default_room: "lobby".to_owned(),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// State every session shares.
pub(crate) struct Shared {
    config: ChatConfig,
    hub: Hub,
    store: Store,
    /// A real bcrypt hash of a random password, verified against when a login names an
    /// unknown account, so that case costs the same time as a wrong password.
    dummy_hash: String,
}

/// Why the server could not start.
#[derive(Debug)]
pub enum ChatError {
    /// The address could not be bound.
    Bind(std::io::Error),
    /// The database could not be opened.
    Store(StoreError),
    /// A setting is out of range.
    Config(String),
}

impl std::fmt::Display for ChatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChatError::Bind(e) => write!(f, "cannot listen: {e}"),
            ChatError::Store(e) => write!(f, "{e}"),
            ChatError::Config(e) => write!(f, "bad configuration: {e}"),
        }
    }
}

impl std::error::Error for ChatError {}

/// What a chat server did, returned when it stops.
#[derive(Debug, Clone, Default)]
pub struct ChatSummary {
    /// Connections served.
    pub served: u64,
    /// Connections turned away because the server was full.
    pub rejected: u64,
    /// Messages written to history during this run.
    pub stored: u64,
    /// Sessions still running when the grace period ended, and so closed by force.
    pub forced: usize,
}

/// A bound chat server; [`ChatServer::run`] serves it.
pub struct ChatServer {
    listener: TcpListener,
    shared: Arc<Shared>,
    writer: HistoryWriter,
}

impl ChatServer {
    /// Checks the configuration, opens the database and binds the address.
    ///
    /// # Errors
    /// [`ChatError`] saying which of the three failed.
    pub async fn bind(config: ChatConfig) -> Result<ChatServer, ChatError> {
        if config.max_clients == 0 || config.client_queue == 0 || config.max_line == 0 {
            return Err(ChatError::Config(
                "max_clients, client_queue and max_line must be at least 1".into(),
            ));
        }
        if !(4..=31).contains(&config.bcrypt_cost) {
            return Err(ChatError::Config(format!("bcrypt cost {} is outside 4..=31", config.bcrypt_cost)));
        }
        let store = Store::open(&config.db).await.map_err(ChatError::Store)?;
        let listener = TcpListener::bind(config.addr.as_str()).await.map_err(ChatError::Bind)?;
        let cost = config.bcrypt_cost;
        let dummy_hash = kiln_runtime::task::spawn_blocking(move || {
            bcrypt::hash(format!("no such account {:?}", std::time::SystemTime::now()), cost)
        })
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| ChatError::Config("bcrypt failed at startup".into()))?;
        let (history, writer) = History::start(store.clone());
        let hub = Hub::new(history, config.max_missed);
        Ok(ChatServer { listener, shared: Arc::new(Shared { config, hub, store, dummy_hash }), writer })
    }

    /// The address the server listens on.
    ///
    /// # Errors
    /// As `getsockname`.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The database, for tools and tests that inspect history.
    pub fn store(&self) -> Store {
        self.shared.store.clone()
    }

    /// Serves until `shutdown` completes; then stops accepting, tells every client, gives
    /// them `shutdown_grace` to receive it, stores every message still queued, and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> ChatSummary {
        let ChatServer { listener, shared, writer } = self;
        let limits = AcceptLimits {
            max_connections: shared.config.max_clients,
            full_message: b"! server full, try again later\n",
            grace: shared.config.shutdown_grace,
        };
        let next_id = AtomicU64::new(1);
        let accepted = serve_connections(listener, limits, shutdown, |stream, _peer, listener, _idle| {
            let _ = stream.set_nodelay(true);
            if let Some(size) = shared.config.socket_send_buffer {
                let _ = socket2::SockRef::from(&stream).set_send_buffer_size(size as usize);
            }
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            session::run(stream, id, shared.clone(), listener)
        })
        .await;
        // Every session is gone, so this is the last reference to the hub and its history
        // sender: dropping it lets the writer drain the queue and stop.
        drop(shared);
        let stored = writer.close().await;
        ChatSummary { served: accepted.served, rejected: accepted.rejected, stored, forced: accepted.forced }
    }
}
