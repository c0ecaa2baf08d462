//! Ended sessions: how an access token stops working before it expires.
//!
//! An access token is a signed statement — "user 7, session S, valid until 12:15" — that the
//! service checks without a database read. That is what makes it cheap, and also why logging
//! out cannot simply delete it: the client, or a thief, still holds it. So every access token
//! names its session (`sid`, the refresh-token family of the login), and when a session ends
//! — logout, a password change, account deletion, refresh-token reuse, an admin's revocation
//! — a row goes into `ended_sessions` and the session id into this in-memory set, which
//! `AuthUser` consults on every request: one hash lookup under a read lock, no database trip.
//!
//! The set stays small: a record is needed only while tokens of that session could still be
//! unexpired, i.e. for one access-token lifetime plus the clock-skew leeway (the *horizon*).
//! Older records are forgotten. At startup the set is loaded from the table; a follower task
//! then reads, once a second, the rows that other processes on the same database added (the
//! table's `seq` says which are new), so a logout on one API process is honoured by all
//! within a second.
//!
//! A session is marked ended in memory *before* its transaction commits: if the commit then
//! fails, the session is refused anyway and the user logs in again (failing closed), which is
//! better than a window in which a revoked token still works.

use crate::clock::unix_now;
use crate::db::{CachedStatements, Db};
use crate::error::AppError;
use rusqlite::{params, Connection};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often the follower reads rows other processes added.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(1);
/// Rows older than this are deleted from the table: above the longest access-token lifetime
/// the configuration accepts (one day) plus any sane leeway.
pub const KEEP_ROWS_SECS: i64 = 2 * 86_400;

/// Why a session ended (stored with the row, for audits and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The user logged out.
    Logout,
    /// The password changed: every session of the user ends.
    PasswordChanged,
    /// The account was deleted.
    AccountDeleted,
    /// A refresh token was presented twice: the family is presumed stolen.
    RefreshReuse,
    /// An admin revoked the user's sessions.
    AdminRevoked,
}

impl EndReason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::PasswordChanged => "password_changed",
            EndReason::AccountDeleted => "account_deleted",
            EndReason::RefreshReuse => "refresh_reuse",
            EndReason::AdminRevoked => "admin_revoked",
        }
    }
}

/// The sessions that ended within the horizon; shared by every request.
#[derive(Debug)]
pub struct EndedSessions {
    /// Seconds a record is kept: the access-token lifetime plus the leeway.
    horizon: i64,
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Session id → when it ended (Unix seconds).
    ended: HashMap<String, i64>,
    /// The highest `seq` read from the table.
    seq: i64,
}

impl EndedSessions {
    /// An empty set that keeps records for `horizon_secs`.
    pub fn new(horizon_secs: i64) -> EndedSessions {
        EndedSessions { horizon: horizon_secs, state: RwLock::new(State::default()) }
    }

    /// The set, loaded with the table's rows within the horizon.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn load(db: &Db, horizon_secs: i64) -> Result<Arc<EndedSessions>, AppError> {
        let sessions = Arc::new(EndedSessions::new(horizon_secs));
        sessions.catch_up(db).await?;
        Ok(sessions)
    }

    /// True if session `sid` has ended.
    pub fn is_ended(&self, sid: &str) -> bool {
        self.state.read().unwrap_or_else(|e| e.into_inner()).ended.contains_key(sid)
    }

    /// How many ended sessions are remembered.
    pub fn len(&self) -> usize {
        self.state.read().unwrap_or_else(|e| e.into_inner()).ended.len()
    }

    /// True if none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records in `conn` (inside the caller's write transaction) that `user`'s `sessions`
    /// ended, and marks them ended here at once.
    ///
    /// # Errors
    /// Storage failures.
    pub fn end(
        &self,
        conn: &Connection,
        user: i64,
        sessions: &[String],
        reason: EndReason,
        now: i64,
    ) -> rusqlite::Result<()> {
        for sid in sessions {
            conn.execute_cached(
                "INSERT INTO ended_sessions (session_id, user_id, reason, ended_at) VALUES (?1, ?2, ?3, ?4)",
                params![sid, user, reason.as_str(), now],
            )?;
        }
        self.mark(sessions, now);
        Ok(())
    }

    /// [`end`](Self::end) on PostgreSQL, inside the caller's transaction `tx`.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn pg_end(
        &self,
        tx: &kiln_postgres::Client,
        user: i64,
        sessions: &[String],
        reason: EndReason,
        now: i64,
    ) -> Result<(), AppError> {
        for sid in sessions {
            tx.execute(
                "INSERT INTO ended_sessions (session_id, user_id, reason, ended_at) VALUES ($1, $2, $3, $4)",
                &[sid, &user, &reason.as_str(), &now],
            )
            .await?;
        }
        self.mark(sessions, now);
        Ok(())
    }

    fn mark(&self, sessions: &[String], now: i64) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        for sid in sessions {
            state.ended.insert(sid.clone(), now);
        }
    }

    /// Reads the rows added since the last look (by any process) and forgets records past
    /// the horizon. Returns how many sessions it learnt of.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn catch_up(&self, db: &Db) -> Result<usize, AppError> {
        let since = self.state.read().unwrap_or_else(|e| e.into_inner()).seq;
        let oldest = unix_now() - self.horizon;
        let rows: Vec<(i64, String, i64)> = match db {
            Db::Sqlite(pool) => {
                pool.read(move |c| {
                    let mut stmt = c.prepare_cached(
                        "SELECT seq, session_id, ended_at FROM ended_sessions WHERE seq > ?1 ORDER BY seq",
                    )?;
                    let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(AppError::from)
                })
                .await?
            }
            Db::Postgres(pg) => pg
                .get()
                .await?
                .query(
                    "SELECT seq, session_id, ended_at FROM ended_sessions WHERE seq > $1 ORDER BY seq",
                    &[&since],
                )
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect::<Result<_, AppError>>()?,
        };
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut learnt = 0;
        for (seq, sid, at) in rows {
            state.seq = state.seq.max(seq);
            if at >= oldest {
                learnt += 1;
                state.ended.insert(sid, at);
            }
        }
        state.ended.retain(|_, at| *at >= oldest);
        Ok(learnt)
    }

    /// Follows the table until the returned task is aborted: [`catch_up`](Self::catch_up)
    /// every [`FOLLOW_EVERY`], and old rows deleted once an hour.
    pub fn follow(self: Arc<Self>, db: Db) -> kiln_runtime::task::JoinHandle<()> {
        kiln_runtime::spawn(async move {
            let mut ticks = 0u64;
            loop {
                kiln_runtime::time::sleep(FOLLOW_EVERY).await;
                if let Err(e) = self.catch_up(&db).await {
                    tracing::warn!(error = %e, "cannot read ended sessions; will retry");
                }
                ticks += 1;
                if ticks % 3600 == 0 {
                    let cutoff = unix_now() - KEEP_ROWS_SECS;
                    let pruned = match &db {
                        Db::Sqlite(pool) => pool
                            .write(move |c| {
                                c.execute_cached("DELETE FROM ended_sessions WHERE ended_at < ?1", [cutoff])
                                    .map_err(AppError::from)
                            })
                            .await
                            .map(drop),
                        Db::Postgres(pg) => match pg.get().await {
                            Ok(c) => c
                                .execute("DELETE FROM ended_sessions WHERE ended_at < $1", &[&cutoff])
                                .await
                                .map(drop)
                                .map_err(AppError::from),
                            Err(e) => Err(e.into()),
                        },
                    };
                    if let Err(e) = pruned {
                        tracing::warn!(error = %e, "cannot prune ended sessions");
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_sessions_are_seen_by_a_second_process_and_forgotten_past_the_horizon() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("k.db");
        let rt = kiln_runtime::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let pool = crate::db::Pool::open(&db, crate::db::PoolConfig::default()).await.unwrap();
            let other =
                Db::Sqlite(crate::db::Pool::open(&db, crate::db::PoolConfig::default()).await.unwrap());
            let here = EndedSessions::load(&Db::Sqlite(pool.clone()), 900).await.unwrap();
            let there = EndedSessions::load(&other, 900).await.unwrap();
            let now = unix_now();
            let mine = here.clone();
            pool.transaction(move |tx| {
                mine.end(tx, 1, &["a".into(), "b".into()], EndReason::Logout, now)?;
                // Ended long ago: past the horizon, so never loaded.
                mine.end(tx, 1, &["old".into()], EndReason::Logout, now - 901)?;
                Ok::<_, AppError>(())
            })
            .await
            .unwrap();
            assert!(here.is_ended("a") && here.is_ended("b") && !here.is_ended("c"));
            assert!(!there.is_ended("a"), "the other process has not looked yet");
            assert_eq!(there.catch_up(&other).await.unwrap(), 2);
            assert!(there.is_ended("a") && there.is_ended("b") && !there.is_ended("old"));
            assert_eq!(there.catch_up(&other).await.unwrap(), 0, "only new rows are read");
            here.catch_up(&Db::Sqlite(pool.clone())).await.unwrap();
            assert_eq!(here.len(), 2, "the record past the horizon is forgotten");
            let restarted = EndedSessions::load(&Db::Sqlite(pool), 900).await.unwrap();
            assert!(restarted.is_ended("a") && restarted.is_ended("b") && !restarted.is_ended("old"));
        });
    }
}
