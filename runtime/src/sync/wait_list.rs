//! A FIFO queue of waiters with stable keys: the shared core of the fair primitives.
//!
//! A waiting future (a semaphore acquire, a `Notify::notified`) pushes an entry and keeps its
//! [`Key`]. Whoever hands out permits or notifications walks the queue from the front and
//! *unlinks* the entries it satisfies: they leave the FIFO order but keep their slot, so the
//! future can collect what it was handed on its next poll. A future that is dropped removes
//! its entry wherever it is, in O(1), and gives back anything it had been handed.
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
    linked: bool,
    prev: Option<u32>,
    next: Option<u32>,
}

pub(crate) struct WaitList<W> {
    slots: Vec<Slot<W>>,
    free: Vec<u32>,
    head: Option<u32>,
    tail: Option<u32>,
    linked: usize,
}

impl<W> WaitList<W> {
    pub(crate) const fn new() -> WaitList<W> {
        WaitList { slots: Vec::new(), free: Vec::new(), head: None, tail: None, linked: 0 }
    }

    /// True if no entry is waiting in the FIFO order.
    pub(crate) fn is_empty(&self) -> bool {
        self.linked == 0
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
        slot.entry = Some(Entry { value, linked: true, prev: self.tail, next: None });
        let generation = slot.generation;
        match self.tail {
            Some(t) => self.entry_mut(t).next = Some(index),
            None => self.head = Some(index),
        }
        self.tail = Some(index);
        self.linked += 1;
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

    /// The waiter behind `key`, linked or not.
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

    /// Takes the first waiter out of the FIFO order, keeping its slot for its owner.
    pub(crate) fn unlink_front(&mut self) {
        if let Some(head) = self.head {
            self.unlink_index(head);
        }
    }

    fn unlink_index(&mut self, index: u32) {
        let (prev, next) = {
            let e = self.entry_mut(index);
            if !e.linked {
                return;
            }
            e.linked = false;
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
        self.linked -= 1;
    }

    /// Removes the entry behind `key` (linked or not) and frees its slot.
    pub(crate) fn remove(&mut self, key: Key) -> Option<W> {
        if !self.valid(key) {
            return None;
        }
        self.unlink_index(key.index);
        let entry = self.slots[key.index as usize].entry.take().expect("valid entry");
        self.free.push(key.index);
        Some(entry.value)
    }

    /// Unlinks every waiter in FIFO order, passing each to `f`.
    pub(crate) fn unlink_all(&mut self, mut f: impl FnMut(&mut W)) {
        while let Some(head) = self.head {
            f(&mut self.entry_mut(head).value);
            self.unlink_index(head);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_order_unlink_and_remove() {
        let mut l = WaitList::new();
        let a = l.push_back('a');
        let b = l.push_back('b');
        let c = l.push_back('c');
        assert_eq!(l.front_mut(), Some(&mut 'a'));
        l.unlink_front();
        assert_eq!(l.front_mut(), Some(&mut 'b'), "a left the order");
        assert_eq!(l.get_mut(a), Some(&mut 'a'), "but its owner can still read it");
        assert_eq!(l.remove(b), Some('b'));
        assert_eq!(l.front_mut(), Some(&mut 'c'));
        assert_eq!(l.remove(b), None, "stale key");
        assert_eq!(l.remove(a), Some('a'));
        let d = l.push_back('d');
        assert_eq!(l.remove(a), None, "a's slot was reused by d");
        let mut seen = Vec::new();
        l.unlink_all(|w| seen.push(*w));
        assert_eq!(seen, vec!['c', 'd']);
        assert!(l.is_empty());
        assert_eq!(l.remove(c), Some('c'));
        assert_eq!(l.remove(d), Some('d'));
    }
}
