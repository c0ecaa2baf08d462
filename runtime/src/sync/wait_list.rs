//! A FIFO queue of waiters with stable keys: the shared core of the fair primitives.
//!
//! A waiting future (a semaphore acquire, a `Notify::notified`) pushes an entry and keeps its
//! [`Key`]. Whoever hands out permits or notifications takes entries off the front
//! (`pop_front`) and tells each waiter through a flag it shares with its future, so a woken
//! future learns its outcome without taking the lock again. A future that is dropped while
//! still queued removes its entry wherever it is, in O(1). Keys carry a generation, so a stale
//! key (its entry already popped, its slot reused) finds nothing.
//!
//! Entries live in a slab (a `Vec` plus a free list) threaded into a doubly-linked list, so
//! there is no allocation per wait once the slab has grown, and no `unsafe`.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

struct Slot<W> {
    generation: u32,
    entry: Option<Entry<W>>,
}

struct Entry<W> {
    value: W,
    prev: Option<u32>,
    next: Option<u32>,
}

pub(crate) struct WaitList<W> {
    slots: Vec<Slot<W>>,
    free: Vec<u32>,
    head: Option<u32>,
    tail: Option<u32>,
    len: usize,
}

impl<W> WaitList<W> {
    pub(crate) const fn new() -> WaitList<W> {
        WaitList { slots: Vec::new(), free: Vec::new(), head: None, tail: None, len: 0 }
    }

    /// True if nobody waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a waiter at the back.
    pub(crate) fn push_back(&mut self, value: W) -> Key {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot { generation: 0, entry: None });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.entry = Some(Entry { value, prev: self.tail, next: None });
        let generation = slot.generation;
        match self.tail {
            Some(t) => self.entry_mut(t).next = Some(index),
            None => self.head = Some(index),
        }
        self.tail = Some(index);
        self.len += 1;
        Key { index, generation }
    }

    fn entry_mut(&mut self, index: u32) -> &mut Entry<W> {
        self.slots[index as usize].entry.as_mut().expect("linked entry")
    }

    fn valid(&self, key: Key) -> bool {
        self.slots
            .get(key.index as usize)
            .is_some_and(|s| s.generation == key.generation && s.entry.is_some())
    }

    /// The waiter behind `key`, if it is still queued.
    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut W> {
        if !self.valid(key) {
            return None;
        }
        Some(&mut self.entry_mut(key.index).value)
    }

    /// The first waiter in FIFO order.
    pub(crate) fn front_mut(&mut self) -> Option<&mut W> {
        let head = self.head?;
        Some(&mut self.entry_mut(head).value)
    }

    fn unlink_index(&mut self, index: u32) {
        let (prev, next) = {
            let e = self.entry_mut(index);
            (e.prev.take(), e.next.take())
        };
        match prev {
            Some(p) => self.entry_mut(p).next = next,
            None => self.head = next,
        }
        match next {
            Some(n) => self.entry_mut(n).prev = prev,
            None => self.tail = prev,
        }
        self.len -= 1;
    }

    /// Removes the entry behind `key` and frees its slot.
    pub(crate) fn remove(&mut self, key: Key) -> Option<W> {
        if !self.valid(key) {
            return None;
        }
        self.unlink_index(key.index);
        let entry = self.slots[key.index as usize].entry.take().expect("valid entry");
        self.free.push(key.index);
        Some(entry.value)
    }

    /// Removes the first waiter in FIFO order and frees its slot.
    pub(crate) fn pop_front(&mut self) -> Option<W> {
        let head = self.head?;
        let generation = self.slots[head as usize].generation;
        self.remove(Key { index: head, generation })
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
        let mut l = WaitList::new();
        let a = l.push_back('a');
        let b = l.push_back('b');
        let c = l.push_back('c');
        assert_eq!(l.front_mut(), Some(&mut 'a'));
        assert_eq!(l.pop_front(), Some('a'));
        assert_eq!(l.get_mut(a), None, "a popped entry is gone for its old key");
        assert_eq!(l.remove(b), Some('b'), "removal from the middle");
        assert_eq!(l.front_mut(), Some(&mut 'c'));
        assert_eq!(l.remove(b), None, "stale key");
        let d = l.push_back('d'); // reuses a freed slot
        assert_eq!(l.remove(a), None, "a's slot was reused: its old key must not match");
        let mut seen = Vec::new();
        l.drain(|w| seen.push(w));
        assert_eq!(seen, vec!['c', 'd']);
        assert!(l.is_empty());
        assert_eq!(l.remove(c), None);
        assert_eq!(l.remove(d), None);
    }
}
