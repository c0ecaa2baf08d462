//! Transactions: `BEGIN` on a guard that commits when told and rolls back otherwise — on an
//! error returned with `?`, a panic, a cancelled future.
//!
//! The guard borrows the client mutably, so nothing else runs statements on that
//! connection while the transaction is open (a pooled client is one task's anyway). A guard
//! dropped without [`Transaction::commit`] queues a `ROLLBACK` on the connection at once,
//! without waiting for it; the connection answers requests in order, so whatever the
//! client runs next runs after the rollback.
//!
//! **Retries.** A serializable transaction that conflicts with another fails with SQLSTATE
//! `40001`, and a deadlock's victim with `40P01`: neither is a bug, both mean "run it again
//! from the start". [`Client::run_transaction`] does that: it runs a body in a transaction,
//! commits, and on those two errors rolls back, waits a moment and runs the body again (at
//! most [`ATTEMPTS`] times).

use crate::client::Client;
use crate::error::PgError;
use bytes::BytesMut;

/// How isolated a transaction is from concurrent ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// PostgreSQL's default: each statement sees what was committed before it began.
    #[default]
    ReadCommitted,
    /// The whole transaction sees one snapshot.
    RepeatableRead,
    /// As if the transactions ran one after another; a conflict fails one of them with
    /// SQLSTATE `40001`, to be run again ([`PgError::is_retryable_transaction`]).
    Serializable,
}

impl Isolation {
    fn begin(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "BEGIN",
            Isolation::RepeatableRead => "BEGIN ISOLATION LEVEL REPEATABLE READ",
            Isolation::Serializable => "BEGIN ISOLATION LEVEL SERIALIZABLE",
        }
    }
}

/// The future a [`Client::run_transaction`] body returns: boxed, so that it can borrow the
/// transaction and still be `Send` (`|tx| Box::pin(async move { … })`; what else it uses it
/// owns — clone an `Arc` into it — since the body may run more than once).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Attempts [`Client::run_transaction`] makes at most.
pub const ATTEMPTS: u32 = 5;

/// An error a retried transaction can fail with: it must hold PostgreSQL's errors and tell
/// whether one is worth running the transaction again for.
pub trait TransactionError: From<PgError> {
    /// A serialization failure or a deadlock: the transaction may succeed if run again.
    fn is_retryable_transaction(&self) -> bool;
}

impl TransactionError for PgError {
    fn is_retryable_transaction(&self) -> bool {
        PgError::is_retryable_transaction(self)
    }
}

/// An open transaction.
#[derive(Debug)]
pub struct Transaction<'a> {
    client: &'a mut Client,
    done: bool,
}

impl Client {
    /// Begins a transaction at PostgreSQL's default isolation (read committed).
    ///
    /// # Errors
    /// `BEGIN` failed.
    pub async fn transaction(&mut self) -> Result<Transaction<'_>, PgError> {
        self.transaction_with(Isolation::ReadCommitted).await
    }

    /// Begins a transaction at `isolation`.
    ///
    /// # Errors
    /// `BEGIN` failed.
    pub async fn transaction_with(&mut self, isolation: Isolation) -> Result<Transaction<'_>, PgError> {
        self.batch_execute(isolation.begin()).await?;
        Ok(Transaction { client: self, done: false })
    }

    /// Runs `body` in a transaction at `isolation` and commits; runs it again, in a new
    /// transaction, after a serialization failure or a deadlock (see the module doc). The
    /// body may therefore run more than once: it must not have effects outside the database
    /// that a second run would repeat.
    ///
    /// # Errors
    /// The body's error, `BEGIN`'s or `COMMIT`'s; a retryable one only after [`ATTEMPTS`].
    pub async fn run_transaction<T, E, F>(&mut self, isolation: Isolation, mut body: F) -> Result<T, E>
    where
        E: TransactionError,
        F: for<'t, 'c> FnMut(&'t Transaction<'c>) -> BoxFuture<'t, Result<T, E>>,
    {
        let mut attempt = 1;
        loop {
            let tx = self.transaction_with(isolation).await?;
            let result = match body(&tx).await {
                Ok(value) => tx.commit().await.map(|()| value).map_err(E::from),
                Err(e) => Err(e), // the guard drops: rolled back
            };
            match result {
                Err(e) if e.is_retryable_transaction() && attempt < ATTEMPTS => {
                    // A short, growing, jittered pause, so the transactions that collided
                    // do not collide again in step.
                    let nanos = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos());
                    let pause = std::time::Duration::from_micros(u64::from(nanos % 1000 + 1) << attempt);
                    tracing::debug!(attempt, ?pause, "postgres: transaction conflicted; running it again");
                    kiln_runtime::time::sleep(pause).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Statements run inside the transaction through the client's methods:
/// `tx.query(…)`, `tx.execute(…)`, and anything that takes a `&Client`.
impl std::ops::Deref for Transaction<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client
    }
}

impl Transaction<'_> {
    /// Commits.
    ///
    /// # Errors
    /// `COMMIT` failed — a serializable conflict detected at commit, a deferred constraint,
    /// a lost connection (then whether it committed is unknown).
    pub async fn commit(mut self) -> Result<(), PgError> {
        self.done = true;
        self.client.batch_execute("COMMIT").await
    }

    /// Rolls back and waits for it.
    ///
    /// # Errors
    /// `ROLLBACK` failed (the connection is then broken; the server rolls back anyway).
    pub async fn rollback(mut self) -> Result<(), PgError> {
        self.done = true;
        self.client.batch_execute("ROLLBACK").await
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut out = BytesMut::new();
            if postgres_protocol::message::frontend::query("ROLLBACK", &mut out).is_ok() {
                self.client.send_and_forget(out);
            }
        }
    }
}
