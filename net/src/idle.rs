//! Idle connections, and how long each has waited, so that a server at its connection limit
//! can close the one idle longest instead of turning a new client away.
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
//! Marking idle and busy happens around every keep-alive request, so it is one atomic store
//! into the connection's own slot — no lock, nothing shared with other connections. The
//! ordering work is left to `reclaim_one`, which scans every slot, and runs only at the limit.
//!
//! A task that became busy just as it was chosen keeps the notice: it closes at its next idle
//! moment. The accept loop waits only briefly for the freed slot.

use kiln_runtime::sync::Notify;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

/// What an idle connection is waiting for; the earlier stage is reclaimed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Accepted, and not a byte received yet.
    NeverSpoke,
    /// Between requests (keep-alive).
    BetweenRequests,
}

/// A slot's state while its connection is busy (or was just chosen).
const BUSY: u64 = u64::MAX;
/// Keys of keep-alive connections sort after every silent one's.
const BETWEEN_REQUESTS: u64 = 1 << 62;

/// Every connection of one accept loop, idle or not.
#[derive(Debug)]
pub struct IdleConnections {
    /// Instants are stored as microseconds since this one.
    epoch: Instant,
    slots: Mutex<Vec<Weak<Slot>>>,
}

/// One connection's state: [`BUSY`], or the key it would be reclaimed by (stage, then the
/// microsecond it went idle: smaller goes first).
#[derive(Debug)]
struct Slot {
    key: AtomicU64,
    /// Chosen to close: it must not be chosen again (another newcomer would wait for the
    /// same freed slot).
    chosen: AtomicBool,
    notify: Notify,
}

impl IdleConnections {
    /// An empty set.
    pub fn new() -> Arc<IdleConnections> {
        Arc::new(IdleConnections { epoch: Instant::now(), slots: Mutex::new(Vec::new()) })
    }

    /// A handle for one connection accepted now (not idle yet).
    pub fn handle(self: &Arc<Self>) -> Idle {
        let slot = Arc::new(Slot {
            key: AtomicU64::new(BUSY),
            chosen: AtomicBool::new(false),
            notify: Notify::new(),
        });
        lock(&self.slots).push(Arc::downgrade(&slot));
        Idle { set: self.clone(), slot, accepted: self.now() }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros())
            .unwrap_or(BETWEEN_REQUESTS - 1)
            .min(BETWEEN_REQUESTS - 1)
    }

    /// Tells the connection idle longest (never-spoken first) to close. False if none is idle.
    pub fn reclaim_one(&self) -> bool {
        let mut slots = lock(&self.slots);
        slots.retain(|s| s.strong_count() > 0); // connections that ended
        loop {
            let oldest = slots
                .iter()
                .filter_map(Weak::upgrade)
                .map(|s| (s.key.load(Ordering::Acquire), s))
                .filter(|(key, _)| *key != BUSY)
                .min_by_key(|(key, _)| *key);
            let Some((key, slot)) = oldest else { return false };
            // Claimed only if still idle with the same key; else look again.
            if slot.key.compare_exchange(key, BUSY, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                slot.chosen.store(true, Ordering::Release);
                slot.notify.notify_one();
                return true;
            }
        }
    }

    /// Forgets the slots of connections that ended (their memory is held until then).
    pub fn prune(&self) {
        lock(&self.slots).retain(|s| s.strong_count() > 0);
    }

    /// How many connections are idle now.
    pub fn len(&self) -> usize {
        lock(&self.slots)
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|s| s.key.load(Ordering::Relaxed) != BUSY)
            .count()
    }

    /// True if none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One connection's place in [`IdleConnections`].
#[derive(Debug)]
pub struct Idle {
    set: Arc<IdleConnections>,
    slot: Arc<Slot>,
    /// When the connection was accepted: a silent connection has been idle since then,
    /// whenever its task first ran.
    accepted: u64,
}

impl Idle {
    /// Marks the connection idle at `stage`: since it was accepted for
    /// [`Stage::NeverSpoke`], from now for [`Stage::BetweenRequests`].
    pub fn enter(&mut self, stage: Stage) {
        if self.slot.chosen.load(Ordering::Acquire) {
            return; // closing already
        }
        let key = match stage {
            Stage::NeverSpoke => self.accepted,
            Stage::BetweenRequests => BETWEEN_REQUESTS | self.set.now(),
        };
        self.slot.key.store(key, Ordering::Release);
    }

    /// Marks the connection busy.
    pub fn leave(&mut self) {
        self.slot.key.store(BUSY, Ordering::Release);
    }

    /// Completes when the accept loop chose this connection to close.
    pub async fn reclaimed(&self) {
        self.slot.notify.notified().await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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
            let (mut old_keep_alive, mut silent, mut busy) = (set.handle(), set.handle(), set.handle());
            old_keep_alive.enter(Stage::BetweenRequests);
            std::thread::sleep(std::time::Duration::from_millis(2)); // a later microsecond
            let mut young_keep_alive = set.handle();
            young_keep_alive.enter(Stage::BetweenRequests);
            silent.enter(Stage::NeverSpoke); // idle since it was accepted, before both
            busy.enter(Stage::NeverSpoke);
            busy.leave();
            assert_eq!(set.len(), 3);
            for chosen in [&silent, &old_keep_alive, &young_keep_alive] {
                assert!(set.reclaim_one());
                let notice =
                    kiln_runtime::time::timeout(std::time::Duration::from_secs(5), chosen.reclaimed());
                notice.await.expect("reclaimed in order: never-spoken, then oldest first");
            }
            assert!(!set.reclaim_one(), "the busy one is never chosen");
            drop(silent);
            assert_eq!(lock(&set.slots).iter().filter(|s| s.strong_count() > 0).count(), 3);
        });
    }
}
