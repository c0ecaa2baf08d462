//! Schema migrations: versioned SQL files embedded in the binary, applied in order at startup.
//!
//! Each migration runs in its own transaction together with the row that records it in
//! `schema_migrations`, so a crash mid-migration leaves the database at the previous version,
//! never half-way. A database whose recorded version is newer than the newest migration this
//! binary knows was written by a newer Kiln: it is refused with a message saying so, rather
//! than served by code that does not understand its schema.

use rusqlite::Connection;

/// One migration: its version, a name for logs, and its SQL.
pub struct Migration {
    /// Applied in increasing order; never reused or renumbered once released.
    pub version: i64,
    /// For the log line.
    pub name: &'static str,
    /// The SQL, run as a batch.
    pub sql: &'static str,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "users_and_tokens",
        sql: include_str!("../../migrations/0001_users_and_tokens.sql"),
    },
    Migration {
        version: 2,
        name: "books_and_loans",
        sql: include_str!("../../migrations/0002_books_and_loans.sql"),
    },
];

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The database is from a newer version of Kiln.
    #[error("the database is at schema version {found}, newer than this binary's {known}: it was written by a newer Kiln; use that version or a fresh --db file")]
    TooNew {
        /// The database's version.
        found: i64,
        /// The newest version this binary knows.
        known: i64,
    },
    /// SQLite failed.
    #[error("migration failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The newest schema version this binary knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Applies the pending migrations; returns the versions applied (empty when up to date).
///
/// # Errors
/// [`MigrationError`].
pub fn migrate(conn: &mut Connection) -> Result<Vec<i64>, MigrationError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at INTEGER NOT NULL
         )",
    )?;
    let current: i64 =
        conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
    if current > latest() {
        return Err(MigrationError::TooNew { found: current, known: latest() });
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![m.version, m.name, crate::clock::unix_now()],
        )?;
        tx.commit()?;
        tracing::info!(version = m.version, name = m.name, "migration applied");
        applied.push(m.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_once_and_refuses_a_newer_database() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), vec![1, 2]);
        assert!(migrate(&mut conn).unwrap().is_empty(), "idempotent");
        conn.execute("INSERT INTO schema_migrations VALUES (99, 'future', 0)", []).unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }

    #[test]
    fn versions_increase() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
    }
}
