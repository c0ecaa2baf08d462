//! The chat's SQLite file: accounts and message history.
//!
//! SQLite calls block, so they never run on a runtime worker: every method of [`Store`] hands
//! its closure to the blocking pool (`spawn_blocking`) and awaits it. One connection behind a
//! `Mutex` is enough for a chat server: writes are batched by the history writer, and reads
//! (history replay, logins) are short.
//!
//! The file uses WAL journaling with `synchronous=NORMAL`: a committed transaction survives
//! the process being killed (`kill -9`), because it is already in the WAL file; only an OS
//! crash or power loss can take back the last few commits.

use super::protocol::{Kind, Message};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &["CREATE TABLE users (
         name TEXT PRIMARY KEY COLLATE NOCASE,
         password_hash TEXT NOT NULL,
         created_ms INTEGER NOT NULL
     );
     CREATE TABLE messages (
         id INTEGER PRIMARY KEY,
         room TEXT NOT NULL,
         sender TEXT NOT NULL,
         kind TEXT NOT NULL,
         body TEXT NOT NULL,
         at_ms INTEGER NOT NULL
     );
     CREATE INDEX messages_by_room ON messages (room, id);"];

/// A failed store operation; its text is safe to log, never shown to clients.
#[derive(Debug)]
pub struct StoreError(String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "chat store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError(e.to_string())
    }
}

/// The chat database, shared by every connection.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding it can only come from rusqlite itself; the connection is still
    // usable (SQLite rolls back an unfinished transaction).
    conn.lock().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// # Errors
    /// If the file cannot be opened or migrated.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let path = path.to_owned();
        let conn = blocking(move || {
            let mut conn = Connection::open(&path)
                .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            migrate(&mut conn)?;
            Ok(conn)
        })
        .await?;
        Ok(Store { conn: Arc::new(Mutex::new(conn)) })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        blocking(move || f(&mut lock(&conn))).await
    }

    /// Creates an account. Returns false if the name is taken (names ignore case).
    ///
    /// # Errors
    /// On a database failure.
    pub async fn create_user(&self, name: &str, password_hash: String) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.with(move |c| {
            let inserted = c.execute(
                "INSERT INTO users (name, password_hash, created_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO NOTHING",
                params![name, password_hash, super::protocol::now_ms()],
            )?;
            Ok(inserted == 1)
        })
        .await
    }

    /// The account's stored name (with its original case) and password hash.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn user(&self, name: &str) -> Result<Option<(String, String)>, StoreError> {
        let name = name.to_owned();
        self.with(move |c| {
            Ok(c.query_row("SELECT name, password_hash FROM users WHERE name = ?1", [name], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
        })
        .await
    }

    /// Appends messages in one transaction.
    ///
    /// # Errors
    /// On a database failure (nothing of the batch is stored then).
    pub async fn append(&self, batch: Vec<Message>) -> Result<(), StoreError> {
        self.with(move |c| {
            let tx = c.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO messages (room, sender, kind, body, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for m in &batch {
                    insert.execute(params![m.room, m.sender, m.kind.as_str(), m.body, m.at_ms])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The last `n` messages of `room`, oldest first.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn recent(&self, room: &str, n: usize) -> Result<Vec<Message>, StoreError> {
        let room = room.to_owned();
        self.with(move |c| {
            let mut q = c.prepare_cached(
                "SELECT room, sender, kind, body, at_ms FROM messages WHERE room = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let mut rows = q
                .query_map(params![room, n as i64], |r| {
                    Ok(Message {
                        room: r.get(0)?,
                        sender: r.get(1)?,
                        kind: Kind::parse(&r.get::<_, String>(2)?),
                        body: r.get(3)?,
                        at_ms: r.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.reverse();
            Ok(rows)
        })
        .await
    }

    /// How many messages are stored in `room`.
    ///
    /// # Errors
    /// On a database failure.
    pub async fn count(&self, room: &str) -> Result<u64, StoreError> {
        let room = room.to_owned();
        self.with(move |c| {
            Ok(c.query_row("SELECT count(*) FROM messages WHERE room = ?1", [room], |r| r.get::<_, i64>(0))?
                as u64)
        })
        .await
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let done: usize = conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if done > MIGRATIONS.len() {
        return Err(StoreError(format!(
            "the database is at schema version {done}, newer than this server ({}); refusing to touch it",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    kiln_runtime::task::spawn_blocking(f).await.map_err(|e| StoreError(format!("store task failed: {e}")))?
}
