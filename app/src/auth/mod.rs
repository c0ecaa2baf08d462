//! Authentication: passwords on a bounded hasher (`password.rs`), access tokens (`jwt.rs`),
//! refresh tokens and random ids (`tokens.rs`), sessions — login, rotation, reuse detection,
//! logout (`session.rs`) — sessions that ended (`ended.rs`), login throttling
//! (`throttle.rs`), the field rules for emails and names (`identity.rs`), and the
//! `AuthUser` extractor that protects routes (`user.rs`).

pub mod ended;
pub mod identity;
pub mod jwt;
pub mod password;
pub mod session;
pub mod throttle;
pub mod tokens;
pub mod user;

pub use user::{AdminUser, AuthUser, Role};

/// Auth settings; every value has a named default.
#[derive(Debug, Clone, Copy)]
pub struct AuthConfig {
    /// bcrypt cost (default 12; tests use 4).
    pub bcrypt_cost: u32,
    /// Access-token lifetime, seconds (default 15 minutes).
    pub access_ttl_secs: i64,
    /// Refresh-token lifetime, seconds (default 30 days).
    pub refresh_ttl_secs: i64,
    /// Login throttling (`throttle.rs`).
    pub throttle: throttle::ThrottleConfig,
    /// Threads that may run bcrypt at once (default: half the CPUs).
    pub bcrypt_threads: usize,
    /// bcrypt jobs that may wait for a thread before logins get 503 (default 8 per thread).
    pub bcrypt_queue: usize,
    /// How long after a refresh a retry with the same token gets the same new pair instead
    /// of revoking the session, seconds (default 10; 0 turns the grace off).
    pub refresh_grace_secs: i64,
    /// Requests per second per client IP on `/auth/*` (default 5) …
    pub rate_per_sec: u32,
    /// … in bursts of up to this many (default 20).
    pub rate_burst: u32,
    /// Clock skew allowed when checking an access token's `exp`, seconds (default 60).
    pub token_leeway_secs: i64,
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig {
            bcrypt_cost: password::DEFAULT_COST,
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            throttle: throttle::ThrottleConfig::default(),
            bcrypt_threads: password::default_threads(),
            bcrypt_queue: password::DEFAULT_QUEUE_PER_THREAD * password::default_threads(),
            refresh_grace_secs: 10,
            rate_per_sec: 5,
            rate_burst: 20,
            token_leeway_secs: jwt::LEEWAY_SECS,
        }
    }
}

/// The issuer and audience of Kiln's access tokens.
pub const ISSUER: &str = "kiln";
/// See [`ISSUER`].
pub const AUDIENCE: &str = "kiln-api";
