//! A hierarchical timer wheel: O(1) insert and cancel, and firing in deadline order, at 1 ms
//! resolution.
//!
//! Think of a clock with six hands. Level 0 has 64 slots of 1 ms; level 1 has 64 slots of
//! 64 ms; level *n* has 64 slots of 64ⁿ ms. Level 5 reaches 64⁶ ms, about 2.2 years; longer
//! deadlines are clamped to it. A timer goes into the lowest level whose slot width still
//! separates its deadline from "now": a timer 5 ms out lands in level 0, one 3 s out in level 1
//! (3000 / 64 ≈ slot 46 ahead). When time reaches a slot of level *n* > 0, its timers are
//! re-inserted and so fall into lower levels ("cascade"); in level 0 they fire.
//!
//! Each level keeps a 64-bit `occupied` bitmap, so "which slot comes next" is one
//! `trailing_zeros`. Each slot is a doubly-linked list threaded through a slab of entries, so
//! cancelling a timer unlinks it in O(1) without scanning.
//!
//! Times here are plain `u64` milliseconds since the runtime's clock started; the wheel knows
//! nothing of `Instant`.

const LEVELS: usize = 6;
const SLOTS: usize = 64;
const SLOT_BITS: u32 = 6;
/// The furthest deadline the wheel represents, in ms from its start (~2.2 years).
pub(crate) const MAX_DEADLINE: u64 = (1 << (SLOT_BITS as u64 * LEVELS as u64)) - 1;

/// Names an inserted timer: slab index plus a generation, so a stale key cannot remove a
/// timer that reused the slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

struct Entry<T> {
    generation: u32,
    node: Option<Node<T>>,
}

struct Node<T> {
    deadline: u64,
    value: T,
    /// Where the node is linked: (level, slot).
    at: (usize, usize),
    prev: Option<u32>,
    next: Option<u32>,
}

pub(crate) struct Wheel<T> {
    /// Milliseconds processed so far: every timer with deadline <= elapsed has fired.
    elapsed: u64,
    levels: [Level; LEVELS],
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    len: usize,
}

#[derive(Clone, Copy)]
struct Level {
    occupied: u64,
    heads: [Option<u32>; SLOTS],
    tails: [Option<u32>; SLOTS],
}

impl<T> Wheel<T> {
    pub(crate) fn new() -> Wheel<T> {
        Wheel {
            elapsed: 0,
            levels: [Level { occupied: 0, heads: [None; SLOTS], tails: [None; SLOTS] }; LEVELS],
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Inserts a timer. A deadline that has already passed is refused (`Err(value)`): the
    /// caller fires it at once.
    pub(crate) fn insert(&mut self, deadline: u64, value: T) -> Result<Key, T> {
        if deadline <= self.elapsed {
            return Err(value);
        }
        let deadline = deadline.min(self.elapsed + MAX_DEADLINE);
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push(Entry { generation: 0, node: None });
                (self.entries.len() - 1) as u32
            }
        };
        let entry = &mut self.entries[index as usize];
        entry.generation = entry.generation.wrapping_add(1);
        entry.node = Some(Node { deadline, value, at: (0, 0), prev: None, next: None });
        let key = Key { index, generation: entry.generation };
        self.link(index);
        self.len += 1;
        Ok(key)
    }

    /// Cancels a timer. Returns its value, or `None` if it already fired or was removed.
    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let entry = self.entries.get(key.index as usize)?;
        if entry.generation != key.generation || entry.node.is_none() {
            return None;
        }
        self.unlink(key.index);
        Some(self.release(key.index))
    }

    /// The deadline of the earliest timer, if any (rounded to its slot: a timer in a level > 0
    /// reports its slot's start, which is when it will cascade).
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        for (level, l) in self.levels.iter().enumerate() {
            if l.occupied != 0 {
                return Some(self.slot_start(level, l.occupied));
            }
        }
        None
    }

    /// Advances to `now`, passing every timer whose deadline is `<= now` to `fire`, in
    /// deadline order (timers in the same millisecond in insertion order).
    pub(crate) fn advance(&mut self, now: u64, mut fire: impl FnMut(T)) {
        while let Some(when) = self.next_expiration() {
            if when > now {
                break;
            }
            let level = self.levels.iter().position(|l| l.occupied != 0).expect("occupied");
            let slot = ((when >> (SLOT_BITS * level as u32)) as usize) % SLOTS;
            self.elapsed = when;
            // Detach the whole slot, then fire or re-insert each timer.
            let mut cursor = self.levels[level].heads[slot].take();
            self.levels[level].tails[slot] = None;
            self.levels[level].occupied &= !(1 << slot);
            while let Some(index) = cursor {
                let node = self.entries[index as usize].node.as_mut().expect("linked node");
                cursor = node.next;
                node.prev = None;
                node.next = None;
                if node.deadline <= self.elapsed {
                    fire(self.release(index));
                } else {
                    self.link(index);
                }
            }
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// Start of the first occupied slot of `level` at or after `elapsed`.
    fn slot_start(&self, level: usize, occupied: u64) -> u64 {
        let shift = SLOT_BITS * level as u32;
        let slot_range = 1u64 << shift;
        let level_range = slot_range << SLOT_BITS;
        let now_slot = (self.elapsed >> shift) as u32 % SLOTS as u32;
        let ahead = occupied.rotate_right(now_slot).trailing_zeros();
        let slot = (ahead + now_slot) as u64 % SLOTS as u64;
        let level_start = self.elapsed & !(level_range - 1);
        let mut start = level_start + slot * slot_range;
        if start + slot_range <= self.elapsed {
            // The slot is "behind" us in this rotation, so it is in the next one.
            start += level_range;
        }
        start.max(self.elapsed)
    }

    fn level_for(&self, deadline: u64) -> usize {
        // The highest bit in which deadline and elapsed differ picks the level; `| 63` keeps
        // everything within the current 64 ms in level 0.
        let masked = (self.elapsed ^ deadline) | (SLOTS as u64 - 1);
        let significant = 63 - masked.leading_zeros();
        (significant / SLOT_BITS) as usize
    }

    /// Appends the timer at the tail of its slot's list, so timers due in the same
    /// millisecond fire in the order they were inserted.
    fn link(&mut self, index: u32) {
        let deadline = self.entries[index as usize].node.as_ref().expect("node").deadline;
        let level = self.level_for(deadline).min(LEVELS - 1);
        let slot = ((deadline >> (SLOT_BITS * level as u32)) as usize) % SLOTS;
        let tail = self.levels[level].tails[slot];
        {
            let node = self.entries[index as usize].node.as_mut().expect("node");
            node.at = (level, slot);
            node.prev = tail;
            node.next = None;
        }
        match tail {
            Some(t) => self.entries[t as usize].node.as_mut().expect("node").next = Some(index),
            None => self.levels[level].heads[slot] = Some(index),
        }
        self.levels[level].tails[slot] = Some(index);
        self.levels[level].occupied |= 1 << slot;
    }

    fn unlink(&mut self, index: u32) {
        let (at, prev, next) = {
            let node = self.entries[index as usize].node.as_ref().expect("node");
            (node.at, node.prev, node.next)
        };
        let level = &mut self.levels[at.0];
        match prev {
            Some(p) => self.entries[p as usize].node.as_mut().expect("node").next = next,
            None => level.heads[at.1] = next,
        }
        match next {
            Some(n) => self.entries[n as usize].node.as_mut().expect("node").prev = prev,
            None => level.tails[at.1] = prev,
        }
        if level.heads[at.1].is_none() {
            level.occupied &= !(1 << at.1);
        }
    }

    fn release(&mut self, index: u32) -> T {
        let node = self.entries[index as usize].node.take().expect("node");
        self.free.push(index);
        self.len -= 1;
        node.value
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn fire_until(w: &mut Wheel<u64>, now: u64) -> Vec<u64> {
        let mut out = Vec::new();
        w.advance(now, |v| out.push(v));
        out
    }

    #[test]
    fn fires_in_deadline_order_and_never_early() {
        let mut w = Wheel::new();
        // Deadlines across every level, inserted out of order; the value is the deadline.
        let deadlines = [5u64, 1, 64, 63, 65, 4096, 4095, 300_000, 17, 262_144, 16_777_216, 2];
        for d in deadlines {
            w.insert(d, d).unwrap();
        }
        let mut fired = Vec::new();
        let mut now = 0;
        while w.len() > 0 {
            now += 1;
            for v in fire_until(&mut w, now) {
                assert!(v <= now, "timer {v} fired early at {now}");
                assert_eq!(v, now, "timer {v} fired late at {now}");
                fired.push(v);
            }
            // Jump ahead when nothing is due soon, as the driver does.
            if let Some(next) = w.next_expiration() {
                now = now.max(next - 1);
            }
        }
        let mut sorted = deadlines.to_vec();
        sorted.sort();
        assert_eq!(fired, sorted);
    }

    #[test]
    fn a_big_jump_fires_everything_due_in_order() {
        let mut w = Wheel::new();
        for d in [900u64, 3, 70_000, 64, 5_000] {
            w.insert(d, d).unwrap();
        }
        assert_eq!(fire_until(&mut w, 10_000), vec![3, 64, 900, 5_000]);
        assert_eq!(w.len(), 1);
        assert_eq!(w.next_expiration().map(|n| n <= 70_000), Some(true));
        assert_eq!(fire_until(&mut w, 70_000), vec![70_000]);
    }

    #[test]
    fn cancel_is_exact_and_stale_keys_do_nothing() {
        let mut w = Wheel::new();
        let a = w.insert(10, 10).unwrap();
        let b = w.insert(10, 11).unwrap();
        let c = w.insert(10, 12).unwrap();
        assert_eq!(w.remove(b), Some(11));
        assert_eq!(w.remove(b), None, "double cancel");
        let mut got = fire_until(&mut w, 10);
        got.sort();
        assert_eq!(got, vec![10, 12]);
        assert_eq!(w.remove(a), None, "cancel after firing");
        assert_eq!(w.remove(c), None);
        // The slot is reused by a new timer; the old key must not remove it.
        let d = w.insert(20, 20).unwrap();
        assert_eq!(w.remove(a), None);
        assert_eq!(w.remove(d), Some(20));
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_expiration(), None);
    }

    #[test]
    fn past_deadlines_are_refused_and_far_ones_clamped() {
        let mut w = Wheel::new();
        w.advance(100, |_: u64| {});
        assert_eq!(w.insert(100, 1), Err(1));
        assert_eq!(w.insert(50, 2), Err(2));
        w.insert(u64::MAX, 3).unwrap();
        assert!(w.next_expiration().unwrap() <= 100 + MAX_DEADLINE);
    }

    #[test]
    fn next_expiration_is_never_after_the_earliest_deadline() {
        let mut w = Wheel::new();
        w.advance(1_000, |_: u64| {});
        for d in [1_500u64, 70_000, 5_000_000] {
            w.insert(d, d).unwrap();
            assert!(w.next_expiration().unwrap() <= 1_500);
        }
    }
}
