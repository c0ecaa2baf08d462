//! A FIFO queue of waiters with stable keys: the shared core of the fair primitives.
//!
//! A waiting future (a semaphore acquire, a `Notify::notified`) pushes an entry and keeps its
//! [`Key`]. Whoever hands out permits or notifications takes entries off the front
//! (`pop_front`) and tells each waiter through a flag it shares with its future, so a woken
//! future learns its outcome without taking the lock again. A future that is dropped while
//! still queued removes its entry by key; a stale key (its entry already popped) finds nothing.
//!
//! The entries sit in one ring buffer (a `VecDeque`) in arrival order, each tagged with a
//! sequence number, which is its key. Why a ring and not a linked list: the list is touched
//! under a lock by whichever thread queues or notifies, and every cache line the critical
//! section touches that another thread wrote last is a miss that the lock's other users wait
//! out. Pushing here writes the next slot of the ring and popping reads the oldest, with the
//! entries side by side, so consecutive pushes (and pops) share lines; a slab threaded into a
//! doubly-linked list would also write the neighbours' links and a free list, in lines other
//! threads had just written.
//!
//! Removal from the middle, the rare case (a cancelled wait), leaves a hole: the entry's value
//! is taken and the slot stays until it reaches an end of the ring. Keys are found by binary
//! search, since sequence numbers only grow. Holes are bounded: when they outnumber the live
//! entries (plus a little slack) the ring is compacted, so a waiter that never leaves the front
//! while others come and go behind it cannot make the ring grow without bound. There is no
//! allocation per wait once the ring has grown, and no `unsafe`.

use std::collections::VecDeque;

/// Holes the ring tolerates beyond the number of live entries before it compacts.
const SLACK: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    seq: u64,
}

pub(crate) struct WaiterQueue<W> {
    /// Arrival order; `None` is a hole left by a removal.
    entries: VecDeque<(u64, Option<W>)>,
    next_seq: u64,
    /// Entries that are not holes.
    live: usize,
}

impl<W> WaiterQueue<W> {
    pub(crate) const fn new() -> WaiterQueue<W> {
        WaiterQueue { entries: VecDeque::new(), next_seq: 0, live: 0 }
    }

    /// True if nobody waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Appends a waiter at the back.
    pub(crate) fn push_back(&mut self, value: W) -> Key {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.push_back((seq, Some(value)));
        self.live += 1;
        Key { seq }
    }

    fn position(&self, key: Key) -> Option<usize> {
        self.entries.binary_search_by_key(&key.seq, |e| e.0).ok()
    }

    /// The waiter behind `key`, if it is still queued.
    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut W> {
        let i = self.position(key)?;
        self.entries[i].1.as_mut()
    }

    /// Called when an entry leaves: once nobody waits, drops the holes too.
    fn left(&mut self) {
        self.live -= 1;
        if self.live == 0 {
            self.entries.clear();
        }
    }

    /// The first waiter in FIFO order.
    pub(crate) fn front_mut(&mut self) -> Option<&mut W> {
        while self.entries.front().is_some_and(|e| e.1.is_none()) {
            self.entries.pop_front();
        }
        self.entries.front_mut().and_then(|e| e.1.as_mut())
    }

    /// Removes the entry behind `key`.
    pub(crate) fn remove(&mut self, key: Key) -> Option<W> {
        let i = self.position(key)?;
        let value = self.entries[i].1.take()?;
        self.left();
        // The most recent waiter leaving (a timeout around a wait) leaves no hole.
        while self.entries.back().is_some_and(|e| e.1.is_none()) {
            self.entries.pop_back();
        }
        if self.entries.len() > 2 * self.live + SLACK {
            self.entries.retain(|e| e.1.is_some());
        }
        Some(value)
    }

    /// Removes the first waiter in FIFO order.
    pub(crate) fn pop_front(&mut self) -> Option<W> {
        while let Some((_, value)) = self.entries.pop_front() {
            // Holes behind this entry stay until a later pop reaches them: looking at the
            // next entry now would fetch a line a queueing thread just wrote, under the lock.
            if let Some(value) = value {
                self.left();
                return Some(value);
            }
        }
        None
    }

    /// Removes every waiter in FIFO order, passing each to `f`.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(W)) {
        while let Some(w) = self.pop_front() {
            f(w);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_order_pop_remove_and_stale_keys() {
        let mut l = WaiterQueue::new();
        let a = l.push_back('a');
        let b = l.push_back('b');
        let c = l.push_back('c');
        assert_eq!(l.front_mut(), Some(&mut 'a'));
        assert_eq!(l.pop_front(), Some('a'));
        assert_eq!(l.get_mut(a), None, "a popped entry is gone for its old key");
        assert_eq!(l.remove(b), Some('b'), "removal from the middle");
        assert_eq!(l.front_mut(), Some(&mut 'c'));
        assert_eq!(l.remove(b), None, "stale key");
        let d = l.push_back('d');
        assert_eq!(l.remove(a), None, "a popped entry stays gone after later pushes");
        let mut seen = Vec::new();
        l.drain(|w| seen.push(w));
        assert_eq!(seen, vec!['c', 'd']);
        assert!(l.is_empty());
        assert_eq!(l.remove(c), None);
        assert_eq!(l.remove(d), None);
    }

    #[test]
    fn holes_behind_a_waiter_that_never_leaves_stay_bounded() {
        // A waiter at the front that is never served, and 10 000 others that each queue
        // behind it and give up (a `timeout` around `acquire`, in a loop).
        let mut l = WaiterQueue::new();
        let first = l.push_back(0u32);
        let mut keep = Vec::new();
        let mut newest: Option<(Key, u32)> = None;
        for i in 1..=10_000u32 {
            let k = l.push_back(i);
            // The one before gives up now that it is no longer at the back: a hole in the
            // middle (a waiter leaving from the back is trimmed at once).
            if let Some((k, v)) = newest.replace((k, i)) {
                if v % 1000 == 0 {
                    keep.push((k, v)); // a few stay
                } else {
                    assert_eq!(l.remove(k), Some(v));
                }
            }
            assert!(
                l.entries.len() <= 2 * l.live + SLACK,
                "holes grew to {} for {} live",
                l.entries.len(),
                l.live
            );
        }
        keep.extend(newest);
        assert_eq!(l.get_mut(first), Some(&mut 0));
        for &(k, v) in &keep {
            assert_eq!(l.get_mut(k), Some(&mut { v }), "keys survive compaction");
        }
        let mut seen = Vec::new();
        l.drain(|w| seen.push(w));
        let expected: Vec<u32> = std::iter::once(0).chain(keep.iter().map(|&(_, v)| v)).collect();
        assert_eq!(seen, expected, "FIFO order survives compaction");
    }

    #[test]
    fn removal_from_either_end_or_the_middle_keeps_order_and_emptiness() {
        let mut l = WaiterQueue::new();
        let keys: Vec<Key> = (0..6).map(|i| l.push_back(i)).collect();
        assert_eq!(l.remove(keys[5]), Some(5), "the back");
        assert_eq!(l.remove(keys[0]), Some(0), "the front");
        assert_eq!(l.remove(keys[2]), Some(2), "the middle");
        assert_eq!(l.remove(keys[2]), None, "twice");
        assert_eq!(l.front_mut(), Some(&mut 1));
        assert_eq!(l.pop_front(), Some(1));
        assert_eq!(l.pop_front(), Some(3), "the hole at 2 is skipped");
        assert!(!l.is_empty());
        assert_eq!(l.remove(keys[4]), Some(4));
        assert!(l.is_empty());
        assert_eq!(l.front_mut(), None);
        assert_eq!(l.pop_front(), None);
        assert!(l.entries.is_empty(), "no holes left behind once nobody waits");
    }
}
