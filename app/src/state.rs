//! What every handler shares: the database pool, the token keys and the settings.

use crate::auth::jwt::JwtKeys;
use crate::auth::AuthConfig;
use crate::db::Pool;
use crate::library::LibraryConfig;

/// The router's state; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub pool: Pool,
    /// Signs and verifies access tokens.
    pub keys: JwtKeys,
    /// Auth settings.
    pub auth: AuthConfig,
    /// Library settings.
    pub library: LibraryConfig,
}
