//! Schema migrations: versioned SQL files embedded in the binary, applied in order at startup.
//!
//! Each migration runs in its own transaction together with the row that records it in
//! `schema_migrations`, so a crash mid-migration leaves the database at the previous version,
//! never half-way. A database whose recorded version is newer than the newest migration this
//! binary knows was written by a newer Kiln: it is refused with a message saying so, rather
//! than served by code that does not understand its schema.
//!
//! Foreign keys are switched off while migrations run — rebuilding a table (SQLite's way to
//! change a column) drops the old one, which with foreign keys on would cascade into every
//! table that references it — and `PRAGMA foreign_key_check` must find nothing before each
//! migration commits. A migration may also carry a Rust step, for data changes SQL cannot
//! express (an ISBN's check digit, say).

use rusqlite::{Connection, Transaction};

/// One migration: its version, a name for logs, its SQL, and an optional Rust step.
pub struct Migration {
    /// Applied in increasing order; never reused or renumbered once released.
    pub version: i64,
    /// For the log line.
    pub name: &'static str,
    /// The SQL, run as a batch.
    pub sql: &'static str,
    /// Runs after the SQL, in the same transaction.
    pub step: Option<fn(&Transaction<'_>) -> rusqlite::Result<()>>,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "users_and_tokens",
        sql: include_str!("../../migrations/0001_users_and_tokens.sql"),
        step: None,
    },
    Migration {
        version: 2,
        name: "books_and_loans",
        sql: include_str!("../../migrations/0002_books_and_loans.sql"),
        step: None,
    },
    Migration {
        version: 3,
        name: "sessions",
        sql: include_str!("../../migrations/0003_sessions.sql"),
        step: None,
    },
    Migration {
        version: 4,
        name: "isbn13",
        sql: "",
        step: Some(crate::library::validate::migrate_isbns_to_13),
    },
    Migration { version: 5, name: "jobs", sql: include_str!("../../migrations/0005_jobs.sql"), step: None },
    Migration {
        version: 6,
        name: "waitlist",
        sql: include_str!("../../migrations/0006_waitlist.sql"),
        step: None,
    },
    Migration {
        version: 7,
        name: "job traces",
        sql: include_str!("../../migrations/0007_job_traces.sql"),
        step: None,
    },
];

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The database is from a newer version of Kiln.
    #[error("the database is at schema version {found}, newer than this binary's {known}: it was written by a newer Kiln; use that version or a fresh database")]
    TooNew {
        /// The database's version.
        found: i64,
        /// The newest version this binary knows.
        known: i64,
    },
    /// A migration left rows pointing at rows that do not exist.
    #[error("migration {version} would break {count} foreign key reference(s); nothing was changed")]
    ForeignKeys {
        /// The migration.
        version: i64,
        /// How many references it would break.
        count: i64,
    },
    /// SQLite failed.
    #[error("migration failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("migration failed: {0}")]
    Postgres(#[from] kiln_postgres::PgError),
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
    let foreign_keys: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let result = apply(conn, current);
    conn.pragma_update(None, "foreign_keys", if foreign_keys { "ON" } else { "OFF" })?;
    result
}

fn apply(conn: &mut Connection, current: i64) -> Result<Vec<i64>, MigrationError> {
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(m.sql)?;
        if let Some(step) = m.step {
            step(&tx)?;
        }
        let broken: i64 = tx.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
        if broken > 0 {
            return Err(MigrationError::ForeignKeys { version: m.version, count: broken });
        }
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
        assert_eq!(migrate(&mut conn).unwrap(), vec![1, 2, 3, 4, 5, 6, 7]);
        assert!(migrate(&mut conn).unwrap().is_empty(), "idempotent");
        conn.execute("INSERT INTO schema_migrations VALUES (99, 'future', 0)", []).unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }

    #[test]
    fn the_users_rebuild_keeps_rows_references_and_never_reuses_an_id() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        // A database at version 2, with a user, a token and a loan that reference it.
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);",
        )
        .unwrap();
        for m in &MIGRATIONS[..2] {
            conn.execute_batch(m.sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?1, ?2, 0)",
                rusqlite::params![m.version, m.name],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO users (id, email, password_hash, display_name, created_at) VALUES (1, 'a@b.co', 'h', 'A', 0), (2, 'c@d.co', 'h', 'C', 0);
             INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, created_at) VALUES (2, 'f', x'00', 9, 0);
             INSERT INTO books (title, author, year, isbn, copies, available, created_at) VALUES ('T', 'A', 2000, '0306406152', 1, 0, 0);
             INSERT INTO loans (user_id, book_id, borrowed_at) VALUES (2, 1, 0);
             DELETE FROM users WHERE id = 1;",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), vec![3, 4, 5, 6, 7]);
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(
            count("SELECT COUNT(*) FROM refresh_tokens WHERE user_id = 2"),
            1,
            "rows survive the rebuild"
        );
        assert_eq!(count("SELECT COUNT(*) FROM loans WHERE user_id = 2"), 1);
        let on: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
        assert!(on, "foreign keys are back on");
        // Still enforced against the rebuilt table, and deleting cascades to it.
        assert!(conn
            .execute("INSERT INTO loans (user_id, book_id, borrowed_at) VALUES (99, 1, 0)", [])
            .is_err());
        conn.execute("DELETE FROM users WHERE id = 2", []).unwrap();
        assert_eq!(count("SELECT COUNT(*) FROM refresh_tokens"), 0, "cascade through the new table");
        // The highest id was deleted; the next user does not get it again.
        conn.execute("INSERT INTO users (email, password_hash, display_name, created_at) VALUES ('e@f.co', 'h', 'E', 0)", [])
            .unwrap();
        assert_eq!(count("SELECT MAX(id) FROM users"), 3);
        let isbn: String = conn.query_row("SELECT isbn FROM books", [], |r| r.get(0)).unwrap();
        assert_eq!(isbn, "9780306406157", "ISBN-10 stored as ISBN-13");
    }

    #[test]
    fn versions_increase() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
    }
}
