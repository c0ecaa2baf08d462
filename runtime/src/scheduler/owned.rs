//! The owned-task list: every live task of a runtime, so shutdown can drop them all and
//! `Handle::dump` can list them.
//!
//! Tasks are spread over [`SHARDS`] mutex-protected slabs by id, so spawns and completions on
//! different workers rarely contend for the same lock. A task remembers its slot
//! (`Header::owned_slot`), so removal is O(1).

use crate::loom::sync::lock;
use crate::task::cell::{Notified, TaskRef};
use crate::task::Header;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Number of shards. A power of two comfortably above the worker counts we run with, so two
/// workers spawning at once usually take different locks.
const SHARDS: usize = 16;

pub(crate) struct OwnedTasks {
    shards: Box<[Mutex<Shard>]>,
    /// Set once at shutdown; checked under each shard's lock so no task is added afterwards.
    closed: AtomicBool,
}

/// The counts live in the shards, under the lock that is taken anyway, rather than in global
/// atomics that every spawning and completing thread would fight over.
#[derive(Default)]
struct Shard {
    slots: Vec<Option<TaskRef>>,
    free: Vec<usize>,
    live: usize,
    spawned: u64,
}

impl OwnedTasks {
    pub(crate) fn new() -> OwnedTasks {
        OwnedTasks {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            closed: AtomicBool::new(false),
        }
    }

    fn shard(&self, header: &Header) -> &Mutex<Shard> {
        &self.shards[header.id.as_u64() as usize % SHARDS]
    }

    /// Adds a new task. Returns it back as `Notified` (ready to schedule) or, if the runtime is
    /// shutting down, `None` after cancelling it, so its `JoinHandle` reports cancellation.
    pub(crate) fn bind(&self, task: TaskRef) -> Option<Notified> {
        let mut shard = lock(self.shard(task.header()));
        shard.spawned += 1;
        if self.closed.load(Ordering::Acquire) {
            drop(shard);
            task.shutdown();
            return None;
        }
        let index = match shard.free.pop() {
            Some(i) => i,
            None => {
                shard.slots.push(None);
                shard.slots.len() - 1
            }
        };
        task.header().owned_slot.store(index, Ordering::Relaxed);
        shard.slots[index] = Some(task.clone());
        shard.live += 1;
        Some(Notified::first_poll(task))
    }

    /// Removes a completed task.
    pub(crate) fn remove(&self, header: &Header) {
        let index = header.owned_slot.load(Ordering::Relaxed);
        if index == usize::MAX {
            return;
        }
        let removed = {
            let mut shard = lock(self.shard(header));
            match shard.slots.get_mut(index) {
                Some(slot) if slot.as_ref().is_some_and(|t| std::ptr::eq(t.header(), header)) => {
                    let task = slot.take();
                    shard.free.push(index);
                    shard.live -= 1;
                    task
                }
                _ => None,
            }
        };
        // The last reference may be this one: drop it outside the lock.
        drop(removed);
    }

    /// Closes the list and cancels every task in it, dropping their futures on this thread.
    pub(crate) fn close_and_shutdown_all(&self) {
        self.closed.store(true, Ordering::Release);
        for shard in self.shards.iter() {
            loop {
                // Take a batch out of the lock: dropping a future may spawn or complete tasks,
                // which takes this lock again.
                let batch: Vec<TaskRef> = {
                    let mut shard = lock(shard);
                    let batch: Vec<TaskRef> = shard.slots.iter_mut().filter_map(Option::take).collect();
                    shard.live -= batch.len();
                    batch
                };
                if batch.is_empty() {
                    break;
                }
                for task in batch {
                    task.shutdown();
                }
            }
        }
    }

    pub(crate) fn live(&self) -> usize {
        self.shards.iter().map(|s| lock(s).live).sum()
    }

    pub(crate) fn spawned(&self) -> u64 {
        self.shards.iter().map(|s| lock(s).spawned).sum()
    }

    /// Calls `f` on every live task (for dumps). Holds one shard lock at a time.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Header)) {
        for shard in self.shards.iter() {
            let shard = lock(shard);
            for task in shard.slots.iter().flatten() {
                f(task.header());
            }
        }
    }
}
