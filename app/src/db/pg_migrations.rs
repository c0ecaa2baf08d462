//! The schema on PostgreSQL: the same versions as the SQLite migrations (`migrations.rs`),
//! each written for PostgreSQL (`app/migrations/postgres/`), applied the same way — each in
//! its own transaction with the row that records it, a newer database refused.
//!
//! Several processes may start at once against one database, so the whole run holds an
//! advisory lock: the second process waits, then finds nothing left to do.

use super::migrations::{latest, MigrationError, MIGRATIONS};
use kiln_postgres::Client;

/// Each version's SQL for PostgreSQL (version 4 converted stored ISBNs in SQLite; a
/// PostgreSQL database starts with ISBN-13 only, so it has nothing to do).
const SQL: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_users_and_tokens.sql")),
    (2, include_str!("../../migrations/postgres/0002_books_and_loans.sql")),
    (3, include_str!("../../migrations/postgres/0003_sessions.sql")),
    (4, ""),
    (5, include_str!("../../migrations/postgres/0005_jobs.sql")),
    (6, include_str!("../../migrations/postgres/0006_waitlist.sql")),
    (7, include_str!("../../migrations/postgres/0007_job_traces.sql")),
];

/// The advisory lock key the migrations hold (any constant this program alone uses).
const LOCK: i64 = 0x6b69_6c6e; // "kiln"

/// Applies the pending migrations; returns the versions applied (empty when up to date).
///
/// # Errors
/// [`MigrationError`].
pub async fn migrate(db: &mut Client) -> Result<Vec<i64>, MigrationError> {
    db.query("SELECT pg_advisory_lock($1)", &[&LOCK]).await?;
    let result = apply(db).await;
    let unlocked = db.query("SELECT pg_advisory_unlock($1)", &[&LOCK]).await;
    let applied = result?;
    unlocked?;
    Ok(applied)
}

async fn apply(db: &mut Client) -> Result<Vec<i64>, MigrationError> {
    db.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             name       TEXT   NOT NULL,
             applied_at BIGINT NOT NULL
         )",
    )
    .await?;
    let current: i64 =
        db.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await?.get(0);
    if current > latest() {
        return Err(MigrationError::TooNew { found: current, known: latest() });
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let sql = SQL.iter().find(|(v, _)| *v == m.version).map(|(_, sql)| *sql).unwrap_or_else(|| {
            panic!("migration {} has no PostgreSQL version: add it to db/pg_migrations.rs", m.version)
        });
        let tx = db.transaction().await?;
        if !sql.is_empty() {
            tx.batch_execute(sql).await?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &crate::clock::unix_now()],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "migration applied (postgres)");
        applied.push(m.version);
    }
    Ok(applied)
}
