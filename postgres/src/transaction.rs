//! Transactions: `BEGIN` on a guard that commits when told and rolls back otherwise — on an
//! error returned with `?`, a panic, a cancelled future.
//!
//! The guard borrows the client mutably, so nothing else runs statements on that
//! connection while the transaction is open (a pooled client is one task's anyway). A guard
//! dropped without [`Transaction::commit`] queues a `ROLLBACK` on the connection at once,
//! without waiting for it; the connection answers requests in order, so whatever the
//! client runs next runs after the rollback.

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
