//! The history writer: one task that stores chat messages in batches.
//!
//! Sessions must not wait for SQLite on every line, so a message is sent to this task over a
//! bounded channel (a burst beyond its capacity slows the senders down, it never drops a
//! message) and the task writes whatever has queued up in one transaction. Under load that
//! turns hundreds of inserts into one commit; when idle, a message is committed at once.
//!
//! Readers of history (`/history`, the replay on `/join`) first call [`History::sync`], a
//! marker that travels through the same channel, so they see every message sent before it.
//!
//! What `kill -9` can lose: messages still in the channel or in the batch being written —
//! those broadcast in the last moment before the kill (normally a few milliseconds' worth).
//! Everything committed survives (see `store.rs`). A graceful shutdown loses nothing: the
//! server stops the sessions first, then [`History::close`] drains the channel.

use super::protocol::Message;
use super::store::Store;
use kiln_runtime::sync::{mpsc, oneshot};
use kiln_runtime::task::JoinHandle;

/// Messages queued for the writer before senders wait.
const QUEUE: usize = 4096;
/// Most messages committed in one transaction.
const BATCH: usize = 512;

enum Entry {
    Message(Message),
    Sync(oneshot::Sender<()>),
}

/// A handle for queueing messages; clone it freely.
#[derive(Clone)]
pub(crate) struct History {
    tx: mpsc::Sender<Entry>,
}

/// The writer task; [`HistoryWriter::close`] flushes and stops it.
pub(crate) struct HistoryWriter {
    task: JoinHandle<u64>,
}

impl History {
    /// Starts the writer task on the current runtime.
    pub(crate) fn start(store: Store) -> (History, HistoryWriter) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = kiln_runtime::spawn(write_loop(store, rx));
        (History { tx }, HistoryWriter { task })
    }

    /// Queues a message for storage.
    pub(crate) async fn record(&self, message: Message) {
        // The writer only stops after every sender is gone, so this cannot fail while we hold
        // a sender.
        let _ = self.tx.send(Entry::Message(message)).await;
    }

    /// Queues a message without waiting; gives it back if the queue is full.
    pub(crate) fn try_record(&self, message: Message) -> Result<(), Message> {
        match self.tx.try_send(Entry::Message(message)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(Entry::Message(m))) => Err(m),
            // Closed: the writer is gone, which only happens at the very end of shutdown.
            Err(_) => Ok(()),
        }
    }

    /// Waits until every message queued before this call is committed.
    pub(crate) async fn sync(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Entry::Sync(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

impl HistoryWriter {
    /// Waits until the writer has committed everything queued by now-dropped senders, and
    /// returns how many messages it stored over its life. Drop every [`History`] first.
    pub(crate) async fn close(self) -> u64 {
        self.task.await.unwrap_or(0)
    }
}

async fn write_loop(store: Store, mut rx: mpsc::Receiver<Entry>) -> u64 {
    let mut entries = Vec::with_capacity(BATCH);
    let mut stored = 0;
    while rx.recv_many(&mut entries, BATCH).await > 0 {
        let mut batch = Vec::with_capacity(entries.len());
        let mut syncs = Vec::new();
        for e in entries.drain(..) {
            match e {
                Entry::Message(m) => batch.push(m),
                Entry::Sync(ack) => syncs.push(ack),
            }
        }
        let n = batch.len() as u64;
        if n > 0 {
            match store.append(batch).await {
                Ok(()) => stored += n,
                // Nothing better to do with a failing disk than say so loudly; the chat goes on.
                Err(e) => eprintln!("chat: {n} messages could not be stored: {e}"),
            }
        }
        for ack in syncs {
            let _ = ack.send(());
        }
    }
    stored
}
