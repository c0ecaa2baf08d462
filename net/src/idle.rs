//! Idle connections, ordered by how long they have waited, so that a server at its connection
//! limit can close the one idle longest instead of turning a new client away.
//!
//! Without this, a connection limit is a denial of service waiting to happen: open
//! `max_connections` sockets that never send a byte, and every real client gets "server
//! full". So each connection task holds an [`Idle`] handle and marks itself idle while it
//! waits for a client's next request ([`Idle::enter`], with its [`Stage`]), and busy again when
//! one arrives ([`Idle::leave`]). When the accept loop finds no free slot it calls
//! [`IdleConnections::reclaim_one`]: connections that never sent anything go first, then
//! keep-alive connections between requests, each group oldest first. The chosen task's
//! [`Idle::reclaimed`] completes, and it closes; its slot goes to the new client.
//!
//! A task that became busy just as it was chosen keeps the notice: it closes at its next idle
//! moment. The accept loop waits only briefly for the freed slot.

use kiln_runtime::sync::Notify;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What an idle connection is waiting for; the earlier stage is reclaimed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Accepted, and not a byte received yet.
    NeverSpoke,
    /// Between requests (keep-alive).
    BetweenRequests,
}

type Key = (Stage, Instant, u64);

/// Every idle connection of one accept loop.
#[derive(Debug, Default)]
pub struct IdleConnections {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    waiting: BTreeMap<Key, Arc<Notify>>,
}

impl IdleConnections {
    /// An empty set.
    pub fn new() -> Arc<IdleConnections> {
        Arc::new(IdleConnections::default())
    }

    /// A handle for one connection accepted now (not idle yet).
    pub fn handle(self: &Arc<Self>) -> Idle {
        let accepted = (Instant::now(), self.next_id());
        Idle { set: self.clone(), notify: Arc::new(Notify::new()), key: None, accepted }
    }

    fn next_id(&self) -> u64 {
        let mut inner = lock(&self.inner);
        inner.next_id += 1;
        inner.next_id
    }

    /// Tells the connection idle longest (never-spoken first) to close. False if none is idle.
    pub fn reclaim_one(&self) -> bool {
        let chosen = lock(&self.inner).waiting.pop_first();
        match chosen {
            Some((_, notify)) => {
                notify.notify_one();
                true
            }
            None => false,
        }
    }

    /// How many connections are idle now.
    pub fn len(&self) -> usize {
        lock(&self.inner).waiting.len()
    }

    /// True if none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One connection's place in [`IdleConnections`]; leaves it when dropped.
#[derive(Debug)]
pub struct Idle {
    set: Arc<IdleConnections>,
    notify: Arc<Notify>,
    key: Option<Key>,
    /// When (and in which order) the connection was accepted: a silent connection has been
    /// idle since then, whenever its task first ran.
    accepted: (Instant, u64),
}

impl Idle {
    /// A handle that belongs to no set: never reclaimed (for connections served outside an
    /// accept loop).
    pub fn detached() -> Idle {
        IdleConnections::new().handle()
    }

    /// Marks the connection idle at `stage`: since it was accepted for
    /// [`Stage::NeverSpoke`], from now for [`Stage::BetweenRequests`].
    pub fn enter(&mut self, stage: Stage) {
        self.leave();
        let (since, id) = match stage {
            Stage::NeverSpoke => self.accepted,
            Stage::BetweenRequests => (Instant::now(), self.set.next_id()),
        };
        let key = (stage, since, id);
        lock(&self.set.inner).waiting.insert(key, self.notify.clone());
        self.key = Some(key);
    }

    /// Marks the connection busy.
    pub fn leave(&mut self) {
        if let Some(key) = self.key.take() {
            lock(&self.set.inner).waiting.remove(&key);
        }
    }

    /// Completes when the accept loop chose this connection to close.
    pub async fn reclaimed(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        self.leave();
    }
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_spoken_first_then_the_oldest_between_requests() {
        let rt = kiln_runtime::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let set = IdleConnections::new();
            let (mut old_keep_alive, mut silent, mut young_keep_alive, mut busy) =
                (set.handle(), set.handle(), set.handle(), set.handle());
            old_keep_alive.enter(Stage::BetweenRequests);
            silent.enter(Stage::NeverSpoke);
            young_keep_alive.enter(Stage::BetweenRequests);
            busy.enter(Stage::NeverSpoke);
            busy.leave();
            assert_eq!(set.len(), 3);
            let order = [&silent, &old_keep_alive, &young_keep_alive];
            for chosen in order {
                assert!(set.reclaim_one());
                let notice =
                    kiln_runtime::time::timeout(std::time::Duration::from_secs(5), chosen.reclaimed());
                notice.await.expect("reclaimed in order: never-spoken, then oldest first");
            }
            assert!(!set.reclaim_one(), "the busy one is never chosen");
            drop(silent);
            assert!(set.is_empty());
        });
    }
}
