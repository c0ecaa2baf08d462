//! What every handler shares: the database pool, the token keys, the settings, and the
//! in-memory security state (ended sessions, login throttling, the password hasher).

use crate::auth::ended::EndedSessions;
use crate::auth::jwt::JwtKeys;
use crate::auth::password::Hasher;
use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::SuccessorKey;
use crate::auth::AuthConfig;
use crate::db::Pool;
use crate::jobs::{Registry, SqliteQueue};
use crate::library::LibraryConfig;
use std::sync::Arc;

/// The router's state; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub pool: Pool,
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
    pub jobs: Arc<SqliteQueue>,
    /// The job kinds this service runs.
    pub kinds: Arc<Registry>,
}
