//! Sessions: signup, login, refresh-token rotation with reuse detection, logout, and ending
//! every session of a user.
//!
//! A login starts a *session*, which is a *family*: a chain of refresh tokens, each used once
//! to get the next (and a fresh access token). Only SHA-256 hashes of refresh tokens are
//! stored. Presenting a token that was already used means two parties hold the chain — the
//! legitimate client and a thief — and there is no telling which is which, so the whole
//! family is revoked and both must log in again (RFC 6819 §5.2.2.3, "refresh token
//! rotation").
//!
//! One exception, the *grace window* (`refresh_grace_secs`, default 10 s): a client whose
//! refresh answer was lost on the way retries with the same token. Within the window after
//! the first use, and as long as the new token has not been used itself, the retry receives
//! the very same new pair — the successor token is derived from the presented one
//! (`tokens.rs`) and the access token from the time of the first use — instead of ending the
//! session. After the window, or once the successor was used, a replay revokes the family.
//! The price: a thief replaying a stolen, just-used token inside the window gets the pair
//! too, as the retrying client would; the window is therefore short and can be set to 0.
//!
//! Every access token names its session (`sid`). A session ends at logout, at a password
//! change and at account deletion (every session of the user), at reuse detection, and at an
//! admin's revocation: its refresh tokens are revoked and the session is recorded in
//! `ended_sessions` (`ended.rs`), so its access tokens stop working at once too.
//!
//! Failed logins are throttled per (email, client address) and per address, counted before
//! the password is checked (`throttle.rs`).

use super::ended::{EndReason, EndedSessions};
use super::identity::{check_display_name, check_email, normalize_email};
use super::throttle::Attempt;
use super::user::Role;
use super::{password, tokens};
use crate::clock::unix_now;
use crate::db::{CachedStatements, Db};
use crate::error::{AppError, FieldError};
use crate::state::AppState;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::net::IpAddr;
use std::time::Instant;

/// What login and refresh answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenPair {
    /// The JWT access token.
    pub access_token: String,
    /// The opaque refresh token.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access-token lifetime, seconds.
    pub expires_in: i64,
}

/// A new account's public fields.
#[derive(Debug, Clone, Serialize)]
pub struct NewUser {
    /// The id (never reused).
    pub id: i64,
    /// The email as stored (trimmed, NFC).
    pub email: String,
    /// The display name as stored (trimmed).
    pub display_name: String,
}

/// The request a piece of work came from, carried into the jobs it enqueues.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The request's `x-request-id`.
    pub request_id: Option<String>,
    /// Its span in a W3C trace: the jobs' spans are its children.
    pub trace: Option<kiln_http::middleware::TraceContext>,
}

/// Creates a user; the first user becomes an admin.
///
/// # Errors
/// 422 with field errors; 409 if the email is registered; 503 while hashing is saturated.
pub async fn signup(
    state: &AppState,
    email: &str,
    pw: &str,
    display_name: &str,
    origin: Origin,
) -> Result<NewUser, AppError> {
    let email = normalize_email(email);
    let mut errors = Vec::new();
    let mut field = |field, rule: Option<String>| {
        if let Some(message) = rule {
            errors.push(FieldError { field, message });
        }
    };
    field("email", check_email(&email).err().map(|rule| rule.to_string()));
    field("password", password::check(pw).err().map(|rule| rule.to_string()));
    field("display_name", check_display_name(display_name).err().map(|rule| rule.to_string()));
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let hash = state.hasher.hash(pw.to_owned()).await?;
    let name = display_name.trim().to_owned();
    let stored = email.clone();
    let stored_name = name.clone();
    let mut welcome = state
        .kinds
        .spec(
            "welcome_email",
            serde_json::json!({ "email": email, "display_name": name, "request_id": origin.request_id }),
        )
        .traced(origin.trace.as_ref());
    let pool = match &state.db {
        Db::Sqlite(pool) => pool,
        Db::Postgres(pg) => {
            let mut c = pg.get().await?;
            let tx = c.transaction().await?;
            // Signups take turns: "is this the first account?" must not be answered twice at once.
            tx.query("SELECT pg_advisory_xact_lock($1)", &[&SIGNUP_LOCK]).await?;
            if tx.query_opt("SELECT 1 FROM users WHERE lower(email) = lower($1)", &[&stored]).await?.is_some()
            {
                return Err(taken());
            }
            let first = tx.query_opt("SELECT 1 FROM users LIMIT 1", &[]).await?.is_none();
            let role = if first { Role::Admin } else { Role::Member };
            let id: i64 = tx
                .query_one(
                    "INSERT INTO users (email, password_hash, display_name, role, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    &[&stored, &hash, &stored_name, &role.as_stored(), &unix_now()],
                )
                .await?
                .try_get(0)?;
            welcome.created_by = Some(id);
            welcome.idempotency_key = Some(format!("welcome-{id}"));
            crate::jobs::postgres::enqueue_in(&tx, welcome).await?;
            tx.commit().await?;
            state.jobs.added();
            return Ok(NewUser { id, email, display_name: name });
        }
    };
    let id = pool
        .transaction(move |tx| {
            let taken_already: bool =
                tx.query_row_cached("SELECT EXISTS(SELECT 1 FROM users WHERE email = ?1)", [&stored], |r| r.get(0))?;
            if taken_already {
                return Err(taken());
            }
            let first: bool = tx.query_row_cached("SELECT NOT EXISTS(SELECT 1 FROM users)", [], |r| r.get(0))?;
            tx.execute_cached(
                "INSERT INTO users (email, password_hash, display_name, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![stored, hash, stored_name, if first { Role::Admin } else { Role::Member }, unix_now()],
            )?;
            let id = tx.last_insert_rowid();
            // In the same transaction: no account without its welcome email, and no email
            // for an account that was not created.
            welcome.created_by = Some(id);
            welcome.idempotency_key = Some(format!("welcome-{id}"));
            crate::jobs::sqlite::enqueue_in(tx, welcome)?;
            Ok(id)
        })
        .await?;
    state.jobs.added();
    Ok(NewUser { id, email, display_name: name })
}

/// The advisory lock signups take on PostgreSQL.
const SIGNUP_LOCK: i64 = 0x6b69_6c6e_7369_676e; // "kilnsign"

/// Documented in docs/week4.md: signup says the address is taken (it cannot create the
/// account anyway); login never reveals whether an email exists.
fn taken() -> AppError {
    AppError::Conflict("an account with this email already exists".into())
}

/// Checks the credentials of a login from `client` and starts a session.
///
/// # Errors
/// 422 for a password longer than any password can be; 401 (the same for an unknown email
/// and a wrong password); 429 while this client is throttled for this email; 503 while
/// hashing is saturated.
pub async fn login(state: &AppState, email: &str, pw: &str, client: IpAddr) -> Result<TokenPair, AppError> {
    too_long("password", pw)?;
    let email = normalize_email(email);
    let attempt = begin_attempt(state, &email, client)?;
    let user: Option<(i64, String)> = match &state.db {
        Db::Sqlite(pool) => {
            pool.read(move |c| {
                c.query_row_cached("SELECT id, password_hash FROM users WHERE email = ?1", [&email], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(AppError::from)
            })
            .await?
        }
        Db::Postgres(pg) => {
            let row = pg
                .get()
                .await?
                .query_opt("SELECT id, password_hash FROM users WHERE lower(email) = lower($1)", &[&email])
                .await?;
            row.map(|r| Ok::<_, AppError>((r.try_get(0)?, r.try_get(1)?))).transpose()?
        }
    };
    let (id, hash) = user.unzip();
    let legacy = hash.as_deref().is_some_and(password::is_legacy);
    let ok = match state.hasher.verify(pw.to_owned(), hash).await {
        Ok(ok) => ok,
        Err(e) => {
            state.throttle.undo(attempt); // the password was not checked
            return Err(e);
        }
    };
    let (true, Some(id)) = (ok, id) else {
        return Err(AppError::BadCredentials); // the attempt stays counted
    };
    state.throttle.succeeded(attempt);
    if legacy {
        upgrade_hash(state, id, pw).await;
    }
    let now = unix_now();
    let family = tokens::new_id();
    let refresh = tokens::new_refresh_token();
    let stored = tokens::hash_token(&refresh);
    let expires = now + state.auth.refresh_ttl_secs;
    let sid = family.clone();
    match &state.db {
        Db::Sqlite(pool) => {
            pool.write(move |c| {
                c.execute_cached(
                    "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, sid, stored, expires, now],
                )
                .map_err(AppError::from)
            })
            .await?;
        }
        Db::Postgres(pg) => {
            pg.get()
                .await?
                .execute(
                    "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
                    &[&id, &sid, &stored, &expires, &now],
                )
                .await?;
        }
    }
    Ok(pair(state, id, &family, refresh, now, tokens::new_id()))
}

/// Replaces a hash of the old scheme (`password.rs`) now that the password is known. A
/// failure costs nothing but the upgrade, which the next login tries again.
async fn upgrade_hash(state: &AppState, user: i64, pw: &str) {
    let upgraded = match state.hasher.hash(pw.to_owned()).await {
        Ok(hash) => match &state.db {
            Db::Sqlite(pool) => {
                pool.write(move |c| {
                    c.execute_cached("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![user, hash])
                        .map_err(AppError::from)
                })
                .await
            }
            Db::Postgres(pg) => match pg.get().await {
                Ok(c) => c
                    .execute("UPDATE users SET password_hash = $2 WHERE id = $1", &[&user, &hash])
                    .await
                    .map(|n| n as usize)
                    .map_err(AppError::from),
                Err(e) => Err(e.into()),
            },
        },
        Err(e) => Err(e),
    };
    match upgraded {
        Ok(_) => tracing::info!(user, "password hash upgraded to the current scheme"),
        Err(e) => tracing::warn!(user, error = %e, "password hash not upgraded; the next login tries again"),
    }
}

/// Counts a password attempt for `key` from `client` (`throttle.rs`), or answers 429.
fn begin_attempt(state: &AppState, key: &str, client: IpAddr) -> Result<Attempt, AppError> {
    state
        .throttle
        .begin(key, client, Instant::now())
        .map_err(|wait| AppError::Throttled { retry_after: wait.as_secs_f64().ceil() as u64 })
}

/// 422 for a password no account can have: it is not even hashed.
fn too_long(field: &'static str, pw: &str) -> Result<(), AppError> {
    if password::too_long(pw) {
        return Err(AppError::Validation(vec![FieldError {
            field,
            message: format!("must be at most {} characters", password::MAX_LEN),
        }]));
    }
    Ok(())
}

fn pair(
    state: &AppState,
    user: i64,
    session: &str,
    refresh_token: String,
    at: i64,
    jti: String,
) -> TokenPair {
    TokenPair {
        access_token: state.keys.issue(&user.to_string(), session, at, state.auth.access_ttl_secs, &jti),
        refresh_token,
        token_type: "Bearer",
        expires_in: state.auth.access_ttl_secs,
    }
}

/// A refresh token's row.
struct StoredToken {
    id: i64,
    user: i64,
    family: String,
    expires: i64,
    used: Option<i64>,
    revoked: Option<i64>,
}

enum Rotation {
    /// Spent now, or (a retry in the grace window) at `at`: answer the successor pair.
    Rotated {
        user: i64,
        family: String,
        at: i64,
    },
    Reused,
    Invalid,
}

/// Exchanges a refresh token for a new pair (the old one is spent).
///
/// # Errors
/// 401 for an unknown, expired, revoked or already-used token (the last also ends its
/// session, unless it is a retry within the grace window).
pub async fn refresh(state: &AppState, presented: &str) -> Result<TokenPair, AppError> {
    let presented_hash = tokens::hash_token(presented);
    let next = state.successors.successor(presented);
    let next_hash = tokens::hash_token(&next);
    let now = unix_now();
    let (ttl, grace) = (state.auth.refresh_ttl_secs, state.auth.refresh_grace_secs);
    let sessions = state.sessions.clone();
    let outcome = match &state.db {
        Db::Sqlite(pool) => {
            pool.transaction(move |tx| {
            let row = tx
                .query_row_cached(
                    "SELECT id, user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = ?1",
                    [&presented_hash],
                    |r| {
                        Ok(StoredToken {
                            id: r.get(0)?,
                            user: r.get(1)?,
                            family: r.get(2)?,
                            expires: r.get(3)?,
                            used: r.get(4)?,
                            revoked: r.get(5)?,
                        })
                    },
                )
                .optional()?;
            let Some(StoredToken { id, user, family, expires, used, revoked }) = row else { return Ok(Rotation::Invalid) };
            if revoked.is_some() || expires <= now {
                return Ok(Rotation::Invalid);
            }
            if let Some(used) = used {
                let successor_unused: bool = tx.query_row_cached(
                    "SELECT EXISTS(SELECT 1 FROM refresh_tokens WHERE token_hash = ?1 AND used_at IS NULL AND revoked_at IS NULL)",
                    [&next_hash],
                    |r| r.get(0),
                )?;
                // Whole seconds: a window of `grace` takes retries up to `grace` seconds after
                // the first use; 0 turns it off.
                if grace > 0 && now - used <= grace && successor_unused {
                    return Ok(Rotation::Rotated { user, family, at: used });
                }
                tx.execute_cached(
                    "UPDATE refresh_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL",
                    params![family, now],
                )?;
                sessions.end(tx, user, &[family], EndReason::RefreshReuse, now)?;
                return Ok(Rotation::Reused); // committed: the revocation must stick
            }
            tx.execute_cached("UPDATE refresh_tokens SET used_at = ?2 WHERE id = ?1", params![id, now])?;
            tx.execute_cached(
                "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![user, family, next_hash, now + ttl, now],
            )?;
            Ok::<_, AppError>(Rotation::Rotated { user, family, at: now })
        })
        .await?
        }
        Db::Postgres(pg) => pg_rotate(pg, &sessions, presented_hash, next_hash, now, ttl, grace).await?,
    };
    match outcome {
        Rotation::Rotated { user, family, at } => {
            let jti = tokens::id_from(&next);
            Ok(pair(state, user, &family, next, at, jti))
        }
        Rotation::Reused => {
            tracing::warn!("a used refresh token was presented again; its session is ended");
            Err(AppError::InvalidToken)
        }
        Rotation::Invalid => Err(AppError::InvalidToken),
    }
}

/// [`refresh`]'s transaction on PostgreSQL: the token's row is locked, so two refreshes
/// with one token take turns as they do behind SQLite's single writer.
async fn pg_rotate(
    pg: &kiln_postgres::Pool,
    sessions: &EndedSessions,
    presented_hash: Vec<u8>,
    next_hash: Vec<u8>,
    now: i64,
    ttl: i64,
    grace: i64,
) -> Result<Rotation, AppError> {
    let mut c = pg.get().await?;
    let tx = c.transaction().await?;
    let row = tx
        .query_opt(
            "SELECT id, user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
            &[&presented_hash],
        )
        .await?;
    let Some(row) = row else { return Ok(Rotation::Invalid) };
    let StoredToken { id, user, family, expires, used, revoked } = StoredToken {
        id: row.try_get(0)?,
        user: row.try_get(1)?,
        family: row.try_get(2)?,
        expires: row.try_get(3)?,
        used: row.try_get(4)?,
        revoked: row.try_get(5)?,
    };
    if revoked.is_some() || expires <= now {
        return Ok(Rotation::Invalid);
    }
    if let Some(used) = used {
        let successor_unused = tx
            .query_opt(
                "SELECT 1 FROM refresh_tokens WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL",
                &[&next_hash],
            )
            .await?
            .is_some();
        if grace > 0 && now - used <= grace && successor_unused {
            return Ok(Rotation::Rotated { user, family, at: used });
        }
        tx.execute(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
            &[&family, &now],
        )
        .await?;
        sessions.pg_end(&tx, user, std::slice::from_ref(&family), EndReason::RefreshReuse, now).await?;
        tx.commit().await?; // the revocation must stick
        return Ok(Rotation::Reused);
    }
    tx.execute("UPDATE refresh_tokens SET used_at = $2 WHERE id = $1", &[&id, &now]).await?;
    tx.execute(
        "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[&user, &family, &next_hash, &(now + ttl), &now],
    )
    .await?;
    tx.commit().await?;
    Ok(Rotation::Rotated { user, family, at: now })
}

/// Ends the session of `presented` (nothing happens for an unknown token: logout never says
/// whether a token existed, RFC 7009 §2.2).
///
/// # Errors
/// Storage failures only.
pub async fn logout(state: &AppState, presented: &str) -> Result<(), AppError> {
    let hash = tokens::hash_token(presented);
    let now = unix_now();
    let sessions = state.sessions.clone();
    let pool = match &state.db {
        Db::Sqlite(pool) => pool,
        Db::Postgres(pg) => {
            let mut c = pg.get().await?;
            let tx = c.transaction().await?;
            let owner = tx
                .query_opt(
                    "SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
                    &[&hash],
                )
                .await?;
            let Some(owner) = owner else { return Ok(()) };
            let (family, user): (String, i64) = (owner.try_get(0)?, owner.try_get(1)?);
            let live = tx
                .execute(
                    "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
                    &[&family, &now],
                )
                .await?;
            if live > 0 {
                sessions.pg_end(&tx, user, &[family], EndReason::Logout, now).await?;
            }
            tx.commit().await?;
            return Ok(());
        }
    };
    pool.transaction(move |tx| {
        let owner: Option<(String, i64)> = tx
            .query_row_cached(
                "SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = ?1",
                [&hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((family, user)) = owner else { return Ok(()) };
        let live = tx.execute_cached(
            "UPDATE refresh_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL",
            params![family, now],
        )?;
        if live > 0 {
            sessions.end(tx, user, &[family], EndReason::Logout, now)?;
        }
        Ok::<_, AppError>(())
    })
    .await
}

/// Ends every session of `user` inside the caller's write transaction: revokes its refresh
/// tokens and records the sessions as ended (their access tokens stop working at once).
/// Returns how many sessions ended.
///
/// # Errors
/// Storage failures.
pub fn end_all_sessions(
    sessions: &EndedSessions,
    tx: &Connection,
    user: i64,
    reason: EndReason,
    now: i64,
) -> rusqlite::Result<usize> {
    let families: Vec<String> = tx
        .prepare_cached(
            "SELECT DISTINCT family_id FROM refresh_tokens WHERE user_id = ?1 AND revoked_at IS NULL",
        )?
        .query_map([user], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    tx.execute_cached(
        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        params![user, now],
    )?;
    sessions.end(tx, user, &families, reason, now)?;
    Ok(families.len())
}

/// [`end_all_sessions`] on PostgreSQL, inside the caller's transaction `tx`.
///
/// # Errors
/// Storage failures.
pub async fn pg_end_all_sessions(
    sessions: &EndedSessions,
    tx: &kiln_postgres::Client,
    user: i64,
    reason: EndReason,
    now: i64,
) -> Result<usize, AppError> {
    let families = tx
        .query(
            "SELECT DISTINCT family_id FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL",
            &[&user],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<Vec<String>, _>>()?;
    tx.execute(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        &[&user, &now],
    )
    .await?;
    sessions.pg_end(tx, user, &families, reason, now).await?;
    Ok(families.len())
}

/// Checks that the caller, already signed in as `user`, knows the account's password — the
/// step before a change that a stolen access token alone must not allow (a new password,
/// deleting the account). Throttled like logins, per (user, client address).
///
/// # Errors
/// 422 for a password longer than any password can be; 403 for a wrong password; 429 while
/// throttled; 401 if the user is gone; 503 while hashing is saturated.
pub async fn reauthenticate(
    state: &AppState,
    user: i64,
    pw: &str,
    field: &'static str,
    client: IpAddr,
) -> Result<(), AppError> {
    too_long(field, pw)?;
    let attempt = begin_attempt(state, &format!("#{user}"), client)?;
    let hash: Option<String> = match &state.db {
        Db::Sqlite(pool) => {
            pool.read(move |c| {
                c.query_row_cached("SELECT password_hash FROM users WHERE id = ?1", [user], |r| r.get(0))
                    .optional()
                    .map_err(AppError::from)
            })
            .await?
        }
        Db::Postgres(pg) => pg
            .get()
            .await?
            .query_opt("SELECT password_hash FROM users WHERE id = $1", &[&user])
            .await?
            .map(|r| r.try_get(0))
            .transpose()?,
    };
    let Some(hash) = hash else {
        state.throttle.undo(attempt);
        return Err(AppError::InvalidToken);
    };
    match state.hasher.verify(pw.to_owned(), Some(hash)).await {
        Ok(true) => {
            state.throttle.succeeded(attempt);
            Ok(())
        }
        Ok(false) => Err(AppError::Forbidden(format!("the {} is wrong", field.replace('_', " ")))),
        Err(e) => {
            state.throttle.undo(attempt);
            Err(e)
        }
    }
}
