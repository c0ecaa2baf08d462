//! Sessions: signup, login, refresh-token rotation with reuse detection, logout.
//!
//! A login starts a *family*: a chain of refresh tokens, each used once to get the next (and
//! a fresh access token). Only SHA-256 hashes of refresh tokens are stored. Presenting a token
//! that was already used means two parties hold the chain — the legitimate client and a thief
//! — and there is no telling which is which, so the whole family is revoked and both must log
//! in again (RFC 6819 §5.2.2.3, "refresh token rotation"). Logout revokes the family.
//!
//! Failed logins are counted per account; after `lockout_threshold` in a row the account is
//! locked for `lockout_secs` (429 with `Retry-After`). The per-IP rate limit in front of
//! `/auth/*` bounds guessing across accounts.

use super::{password, tokens, AuthConfig};
use crate::clock::unix_now;
use crate::db::CachedStatements;
use crate::error::{AppError, FieldError};
use crate::state::AppState;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// What login and refresh answer.
#[derive(Debug, Clone, Serialize)]
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

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 100;
/// Longest email, in bytes (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;

/// A plausible email: one `@`, something on both sides, a dot in the domain, no spaces.
pub fn check_email(email: &str) -> Result<(), String> {
    let ok = email.len() <= MAX_EMAIL
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if ok {
        Ok(())
    } else {
        Err("must be an email address".into())
    }
}

/// Checks a display name.
pub fn check_display_name(name: &str) -> Result<(), String> {
    match name.trim().chars().count() {
        0 => Err("must not be empty".into()),
        n if n > MAX_DISPLAY_NAME => Err(format!("must be at most {MAX_DISPLAY_NAME} characters")),
        _ => Ok(()),
    }
}

/// Creates a user; the first user becomes an admin. Returns the new id.
///
/// # Errors
/// 422 with field errors; 409 if the email is registered.
pub async fn signup(state: &AppState, email: &str, pw: &str, display_name: &str) -> Result<i64, AppError> {
    let mut errors = Vec::new();
    let mut field = |field, r: Result<(), String>| {
        if let Err(message) = r {
            errors.push(FieldError { field, message });
        }
    };
    field("email", check_email(email));
    field("password", password::check(pw));
    field("display_name", check_display_name(display_name));
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let hash = password::hash(pw.to_owned(), state.auth.bcrypt_cost).await.map_err(AppError::Internal)?;
    let (email, name) = (email.trim().to_owned(), display_name.trim().to_owned());
    state
        .pool
        .transaction(move |tx| {
            let taken: bool = tx.query_row_cached("SELECT EXISTS(SELECT 1 FROM users WHERE email = ?1)", [&email], |r| r.get(0))?;
            if taken {
                // Documented in docs/week4.md: signup says the address is taken (it cannot
                // create the account anyway); login never reveals whether an email exists.
                return Err(AppError::Conflict("an account with this email already exists".into()));
            }
            let first: bool = tx.query_row_cached("SELECT NOT EXISTS(SELECT 1 FROM users)", [], |r| r.get(0))?;
            tx.execute_cached(
                "INSERT INTO users (email, password_hash, display_name, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![email, hash, name, if first { "admin" } else { "member" }, unix_now()],
            )?;
            Ok(tx.last_insert_rowid())
        })
        .await
}

/// Checks the credentials and starts a session.
///
/// # Errors
/// 401 (the same for an unknown email and a wrong password), 429 while locked.
pub async fn login(state: &AppState, email: &str, pw: &str) -> Result<TokenPair, AppError> {
    let lookup = email.trim().to_owned();
    let user: Option<(i64, String, Option<i64>)> = state
        .pool
        .read(move |c| {
            c.query_row_cached(
                "SELECT id, password_hash, locked_until FROM users WHERE email = ?1",
                [&lookup],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(AppError::from)
        })
        .await?;
    let now = unix_now();
    if let Some((_, _, Some(until))) = user {
        if until > now {
            return Err(AppError::Locked { retry_after: until - now });
        }
    }
    let ok =
        password::verify(pw.to_owned(), user.as_ref().map(|u| u.1.clone()), state.auth.bcrypt_cost).await;
    let Some((id, _, _)) = user else { return Err(AppError::BadCredentials) };
    let AuthConfig { lockout_threshold, lockout_secs, .. } = state.auth;
    if !ok {
        state
            .pool
            .write(move |c| {
                c.execute_cached(
                    // Both right-hand sides see the old count: the one that reaches the
                    // threshold locks the account and starts the count again.
                    "UPDATE users SET
                         locked_until = CASE WHEN failed_logins + 1 >= ?2 THEN ?3 ELSE locked_until END,
                         failed_logins = CASE WHEN failed_logins + 1 >= ?2 THEN 0 ELSE failed_logins + 1 END
                     WHERE id = ?1",
                    params![id, lockout_threshold, now + lockout_secs],
                )
                .map_err(AppError::from)
            })
            .await?;
        return Err(AppError::BadCredentials);
    }
    let family = tokens::new_id();
    let refresh = tokens::new_refresh_token();
    let stored = tokens::hash_token(&refresh);
    let expires = now + state.auth.refresh_ttl_secs;
    state
        .pool
        .transaction(move |tx| {
            tx.execute_cached("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?1", [id])?;
            tx.execute_cached(
                "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, family, stored, expires, now],
            )?;
            Ok::<_, AppError>(())
        })
        .await?;
    Ok(pair(state, id, refresh, now))
}

fn pair(state: &AppState, user: i64, refresh_token: String, now: i64) -> TokenPair {
    TokenPair {
        access_token: state.keys.issue(&user.to_string(), now, state.auth.access_ttl_secs, &tokens::new_id()),
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
    Rotated(i64),
    Reused,
    Invalid,
}

/// Exchanges a refresh token for a new pair (the old one is spent).
///
/// # Errors
/// 401 for an unknown, expired, revoked or already-used token (the last also revokes its
/// family).
pub async fn refresh(state: &AppState, presented: &str) -> Result<TokenPair, AppError> {
    let presented_hash = tokens::hash_token(presented);
    let next = tokens::new_refresh_token();
    let next_hash = tokens::hash_token(&next);
    let now = unix_now();
    let ttl = state.auth.refresh_ttl_secs;
    let outcome = state
        .pool
        .transaction(move |tx| {
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
            if used.is_some() {
                tx.execute_cached("UPDATE refresh_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL", params![family, now])?;
                return Ok(Rotation::Reused); // committed: the revocation must stick
            }
            tx.execute_cached("UPDATE refresh_tokens SET used_at = ?2 WHERE id = ?1", params![id, now])?;
            tx.execute_cached(
                "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![user, family, next_hash, now + ttl, now],
            )?;
            Ok::<_, AppError>(Rotation::Rotated(user))
        })
        .await?;
    match outcome {
        Rotation::Rotated(user) => Ok(pair(state, user, next, now)),
        Rotation::Reused => {
            tracing::warn!("a used refresh token was presented again; its family is revoked");
            Err(AppError::InvalidToken)
        }
        Rotation::Invalid => Err(AppError::InvalidToken),
    }
}

/// Revokes the family of `presented` (nothing happens for an unknown token: logout never
/// says whether a token existed).
///
/// # Errors
/// Storage failures only.
pub async fn logout(state: &AppState, presented: &str) -> Result<(), AppError> {
    let hash = tokens::hash_token(presented);
    let now = unix_now();
    state
        .pool
        .write(move |c| {
            c.execute_cached(
                "UPDATE refresh_tokens SET revoked_at = ?2
                 WHERE revoked_at IS NULL AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = ?1)",
                params![hash, now],
            )
            .map(drop)
            .map_err(AppError::from)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_names() {
        for ok in ["a@b.co", "first.last+tag@example.com"] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "a@", "@b.co", "a@b", "a b@c.d", "a@b.", "a@.b", "a@b@c.d"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_display_name("  ").is_err());
        assert!(check_display_name(&"n".repeat(101)).is_err());
        assert!(check_display_name("Ursula").is_ok());
    }
}
