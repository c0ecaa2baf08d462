//! An async pool of SQLite connections: several readers, one writer, never on a worker.
//!
//! SQLite is a blocking library, so every query runs on the runtime's blocking pool
//! (`spawn_blocking`), never on a worker thread. SQLite in WAL mode lets readers proceed while
//! one writer writes, but only one writer at a time: so the pool holds `readers` read-only
//! connections behind a semaphore of that many permits, and one read-write connection behind a
//! semaphore of one — writers queue in Kiln's fair semaphore instead of spinning in SQLite's
//! busy handler.
//!
//! A connection is taken and given back *inside* the blocking job, and the permit travels
//! with the job: if the awaiting future is dropped (a client disconnects mid-request), the
//! query still finishes and the connection still returns to the pool. A panic inside a job is
//! caught there too, so the connection is returned, then the panic resumes in the caller.
//! [`Pool::transaction`] commits when the closure returns `Ok`, and rolls back when it returns
//! `Err` or panics (a dropped `rusqlite::Transaction` rolls back).
//!
//! Write transactions begin `IMMEDIATE`: they take SQLite's write lock at `BEGIN`, where the
//! busy timeout applies. A deferred transaction that reads first and then writes asks for the
//! lock half-way, and if another process holds it then, SQLite fails it at once (waiting could
//! deadlock two such upgraders), so a signup would fail while, say, `kiln admin promote` or a
//! backup held the lock for a moment. With `IMMEDIATE` every write path waits up to the busy
//! timeout instead.

use super::DbError;
use kiln_runtime::sync::{OwnedSemaphorePermit, Semaphore};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

/// Default number of read connections.
pub const DEFAULT_READERS: usize = 4;
/// Default time SQLite waits on a locked database before failing (it should rarely wait:
/// writers are serialised by the pool).
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Pool settings.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    /// Read-only connections.
    pub readers: usize,
    /// SQLite's busy timeout on every connection.
    pub busy_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig { readers: DEFAULT_READERS, busy_timeout: DEFAULT_BUSY_TIMEOUT }
    }
}

/// The pool; cheap to clone (clones share the connections).
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    reader_permits: Arc<Semaphore>,
    reader_count: usize,
    writer: Mutex<Option<Connection>>,
    writer_permit: Arc<Semaphore>,
    /// Reads that found every reader busy and waited.
    reader_waits: AtomicU64,
    /// Writes that found the writer busy and waited.
    writer_waits: AtomicU64,
}

/// Takes a permit of `permits`, counting in `waits` when it has to wait for one.
async fn take(permits: &Arc<Semaphore>, waits: &AtomicU64) -> OwnedSemaphorePermit {
    match permits.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            waits.fetch_add(1, Ordering::Relaxed);
            permits.clone().acquire_owned().await.expect("the pool never closes")
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

fn configure(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(super::cached::STATEMENT_CACHE);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")
}

impl Pool {
    /// Opens (creating if needed) the database at `path`, switches it to WAL, applies the
    /// pending migrations, and opens the read connections. Runs on the blocking pool.
    ///
    /// # Errors
    /// The file cannot be opened or is not a database, or a migration fails or the database
    /// is from a newer version ([`DbError`]).
    pub async fn open(path: impl AsRef<Path>, config: PoolConfig) -> Result<Pool, DbError> {
        let path = path.as_ref().to_path_buf();
        kiln_runtime::task::spawn_blocking(move || Pool::open_blocking(path, config))
            .await
            .map_err(|e| DbError::Internal(format!("opening the database: {e}")))?
    }

    fn open_blocking(path: PathBuf, config: PoolConfig) -> Result<Pool, DbError> {
        let mut writer = Connection::open(&path).map_err(|e| DbError::Open(path.display().to_string(), e))?;
        let mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| DbError::Open(path.display().to_string(), e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, "SQLite did not switch to WAL; readers will wait for writers");
        }
        configure(&writer, config.busy_timeout)?;
        super::migrations::migrate(&mut writer)?;
        let mut readers = Vec::with_capacity(config.readers);
        for _ in 0..config.readers.max(1) {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI;
            let reader = Connection::open_with_flags(&path, flags)?;
            configure(&reader, config.busy_timeout)?;
            readers.push(reader);
        }
        let reader_count = readers.len();
        Ok(Pool {
            inner: Arc::new(Inner {
                path,
                readers: Mutex::new(readers),
                reader_permits: Arc::new(Semaphore::new(reader_count)),
                reader_count,
                writer: Mutex::new(Some(writer)),
                writer_permit: Arc::new(Semaphore::new(1)),
                reader_waits: AtomicU64::new(0),
                writer_waits: AtomicU64::new(0),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Reads and writes since the pool opened that had to wait for a connection: (reads,
    /// writes). Writes wait for each other (SQLite has one writer), so their count is how
    /// often the writer was the queue.
    pub fn waits(&self) -> (u64, u64) {
        (self.inner.reader_waits.load(Ordering::Relaxed), self.inner.writer_waits.load(Ordering::Relaxed))
    }

    /// Connections lent now: (readers, the writer).
    pub fn in_use(&self) -> (usize, usize) {
        let i = &self.inner;
        (i.reader_count - i.reader_permits.available_permits(), 1 - i.writer_permit.available_permits())
    }

    /// Runs `f` on a read-only connection.
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let inner = self.inner.clone();
        async move {
            let permit = take(&inner.reader_permits, &inner.reader_waits).await;
            run_blocking(move || {
                let _permit = permit;
                let conn = lock(&inner.readers).pop().expect("a permit guarantees a free reader");
                let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(&conn)));
                lock(&inner.readers).push(conn);
                result
            })
            .await
        }
        .instrument(tracing::info_span!(target: "kiln::data", "sqlite", "db.system" = "sqlite", "db.operation" = "read"))
        .await
    }

    /// Runs `f` on the writer connection (one writer at a time, in arrival order).
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let inner = self.inner.clone();
        async move {
            let permit = take(&inner.writer_permit, &inner.writer_waits).await;
            run_blocking(move || {
                let _permit = permit;
                let mut conn = lock(&inner.writer).take().expect("the permit guarantees the writer is free");
                let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut conn)));
                *lock(&inner.writer) = Some(conn);
                result
            })
            .await
        }
        .instrument(tracing::info_span!(target: "kiln::data", "sqlite", "db.system" = "sqlite", "db.operation" = "write"))
        .await
    }

    /// Runs `f` in a write transaction: committed if `f` returns `Ok`, rolled back if it
    /// returns `Err` or panics (the panic then resumes in the caller).
    ///
    /// # Errors
    /// Whatever `f` returns, or the commit's failure.
    pub async fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| E::from(DbError::from(e)))?;
            let value = f(&tx)?; // an early return drops `tx`: rollback
            tx.commit().map_err(|e| E::from(DbError::from(e)))?;
            Ok(value)
        })
        .await
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `job` on the blocking pool; a panic inside it resumes here, after the job has put
/// its connection back.
async fn run_blocking<T, E>(
    job: impl FnOnce() -> std::thread::Result<Result<T, E>> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    match kiln_runtime::task::spawn_blocking(job).await {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(e) => Err(E::from(DbError::Internal(format!("a database job did not finish: {e}")))),
    }
}
