//! What every handler shares: the database pool, the token keys, the settings, and the
//! in-memory security state (ended sessions, login throttling, the password hasher).

use crate::auth::ended::EndedSessions;
use crate::auth::jwt::JwtKeys;
use crate::auth::password::Hasher;
use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::SuccessorKey;
use crate::auth::AuthConfig;
use crate::cache::ReadThrough;
use crate::jobs::{Jobs, Registry};
use crate::library::books::{Book, Page};
use crate::library::LibraryConfig;
use std::sync::Arc;

/// The router's state; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database: the SQLite file or PostgreSQL.
    pub db: crate::db::Db,
    /// Signs and verifies access tokens.
    pub keys: JwtKeys,
    /// Derives each refresh token's successor.
    pub successors: SuccessorKey,
    /// Auth settings.
    pub auth: AuthConfig,
    /// Library settings.
    pub library: LibraryConfig,
    /// Sessions that ended, checked on every authenticated request.
    pub sessions: Arc<EndedSessions>,
    /// Failed-login counters.
    pub throttle: Arc<LoginThrottle>,
    /// bcrypt, bounded.
    pub hasher: Arc<Hasher>,
    /// The job queue.
    pub jobs: Arc<Jobs>,
    /// Redis, when configured: the queue, the caches and rate limits shared by processes.
    pub redis: Option<Arc<kiln_redis::Client>>,
    /// The job kinds this service runs.
    pub kinds: Arc<Registry>,
    /// Books by id, read through (`cache.rs`).
    pub books: Arc<ReadThrough<i64, Book>>,
    /// Book listings by their normalized query; cleared by every change to a book.
    pub listings: Arc<ReadThrough<String, Page>>,
    /// What this process's job workers did.
    pub job_counters: Arc<crate::jobs::worker::Counters>,
    /// Requests answered, and how fast.
    pub http_stats: Arc<crate::stats::HttpStats>,
    /// Requests by route and status, for `/metrics`.
    pub http_metrics: Arc<crate::metrics::HttpMetrics>,
    /// Set when shutdown begins: readiness answers 503 from then on.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}
