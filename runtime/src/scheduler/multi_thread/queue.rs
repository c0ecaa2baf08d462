//! A worker's local run queue: a fixed ring buffer with one producer and many stealers.
//!
//! Only the owning worker pushes and pops; other workers may steal half of it. No lock is
//! taken on any of these paths.
//!
//! # How it works
//!
//! `tail` (written only by the owner) is where the next push goes. `head` packs two 32-bit
//! indices: `real`, the next slot to pop, and `steal`, the first slot a stealer may still be
//! reading. Normally `steal == real`. A steal happens in two steps:
//!
//! 1. claim: CAS `real` forward by `n`, leaving `steal` behind. The owner can no longer pop
//!    those slots, and `push` will not overwrite them either, because it measures free space
//!    from `steal`;
//! 2. copy the claimed slots into the thief's own queue, then CAS `steal` up to `real`,
//!    releasing the slots.
//!
//! While one steal is in progress (`steal != real`), other stealers back off. Indices are
//! `u32`s that wrap; slot `i` lives at `buffer[i & MASK]`.

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use crate::loom::sync::Arc;
use std::mem::MaybeUninit;

/// Slots per worker. A power of two; 256 tasks is far more than a worker needs buffered before
/// the overflow to the inject queue starts spreading work (Tokio uses the same figure). Loom
/// explores every interleaving, so it gets a tiny queue.
#[cfg(not(loom))]
pub(crate) const CAPACITY: usize = 256;
#[cfg(loom)]
pub(crate) const CAPACITY: usize = 4;
const MASK: usize = CAPACITY - 1;

/// The owner's end. Not `Clone`: exactly one per queue.
pub(crate) struct Local<T: 'static> {
    inner: Arc<Inner<T>>,
}

/// A stealer's end.
pub(crate) struct Steal<T: 'static>(Arc<Inner<T>>);

struct Inner<T> {
    /// `(steal << 32) | real`.
    head: AtomicU64,
    /// # Invariant
    /// Written only by the owner; `tail - steal <= CAPACITY`.
    tail: AtomicU32,
    /// # Invariant
    /// Slots in `[real, tail)` hold initialised values owned by the queue; slots in
    /// `[steal, real)` are being copied out by a stealer.
    buffer: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

// SAFETY: values move between threads through the queue, so `T: Send` is required and
// enough; the `UnsafeCell` slots are accessed only under the claim protocol above.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Inner<T> {}

fn pack(steal: u32, real: u32) -> u64 {
    ((steal as u64) << 32) | real as u64
}

fn unpack(head: u64) -> (u32, u32) {
    ((head >> 32) as u32, head as u32)
}

pub(crate) fn local<T: 'static>() -> (Local<T>, Steal<T>) {
    let buffer = (0..CAPACITY).map(|_| UnsafeCell::new(MaybeUninit::uninit())).collect();
    let inner = Arc::new(Inner { head: AtomicU64::new(0), tail: AtomicU32::new(0), buffer });
    (Local { inner: inner.clone() }, Steal(inner))
}

impl<T> Local<T> {
    /// Tasks waiting in the queue (a snapshot).
    pub(crate) fn len(&self) -> usize {
        let (_, real) = unpack(self.inner.head.load(Acquire));
        // The owner is the only writer of `tail`, so a relaxed read is exact here.
        let tail = self.inner.tail.load(Relaxed);
        tail.wrapping_sub(real) as usize
    }

    /// Free slots the owner can push into without overflowing.
    pub(crate) fn remaining_slots(&self) -> usize {
        let (steal, _) = unpack(self.inner.head.load(Acquire));
        let tail = self.inner.tail.load(Relaxed);
        CAPACITY - tail.wrapping_sub(steal) as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pushes `value`; when the queue is full, moves half of it plus `value` to `overflow`
    /// (the inject queue) in one batch, so the other workers can take them.
    pub(crate) fn push_back_or_overflow(&mut self, value: T, overflow: impl FnOnce(Vec<T>)) {
        let tail = self.inner.tail.load(Relaxed);
        let (steal, real) = unpack(self.inner.head.load(Acquire));
        if (tail.wrapping_sub(steal) as usize) < CAPACITY {
            self.write(tail, value);
            return;
        }
        if steal != real {
            // A stealer is emptying part of the queue right now; hand this one value over
            // rather than wait for it.
            overflow(vec![value]);
            return;
        }
        // Full and nobody is stealing: claim the older half for the inject queue.
        let half = (CAPACITY / 2) as u32;
        let next = pack(real.wrapping_add(half), real.wrapping_add(half));
        if self.inner.head.compare_exchange(pack(steal, real), next, Release, Relaxed).is_err() {
            // A stealer got in first and made room.
            return self.push_back_or_overflow(value, overflow);
        }
        let mut batch = Vec::with_capacity(half as usize + 1);
        for i in 0..half {
            // SAFETY: the CAS above claimed slots `[real, real + half)`, which held values
            // (`real < tail`); nobody else will read them now.
            batch.push(
                self.inner.buffer[(real.wrapping_add(i) as usize) & MASK]
                    .with(|p| unsafe { (*p).assume_init_read() }),
            );
        }
        batch.push(value);
        overflow(batch);
    }

    /// Writes slot `tail` and publishes it.
    fn write(&mut self, tail: u32, value: T) {
        // SAFETY: `tail - steal < CAPACITY`, so slot `tail` is outside every claimed range and
        // holds no live value; only the owner (`&mut self`) writes slots.
        self.inner.buffer[tail as usize & MASK].with_mut(|p| unsafe { (*p).write(value) });
        // Release: a stealer that sees the new tail sees the slot's contents.
        self.inner.tail.store(tail.wrapping_add(1), Release);
    }

    /// Pops the oldest value.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let mut head = self.inner.head.load(Acquire);
        let real = loop {
            let (steal, real) = unpack(head);
            if real == self.inner.tail.load(Relaxed) {
                return None;
            }
            let next_real = real.wrapping_add(1);
            // If a steal is in progress, leave its `steal` marker alone.
            let next = if steal == real { pack(next_real, next_real) } else { pack(steal, next_real) };
            match self.inner.head.compare_exchange(head, next, AcqRel, Acquire) {
                Ok(_) => break real,
                Err(actual) => head = actual,
            }
        };
        // SAFETY: the CAS moved `real` past this slot, which held a value; stealers only read
        // slots they claimed with their own CAS, so this one is ours alone.
        Some(self.inner.buffer[real as usize & MASK].with(|p| unsafe { (*p).assume_init_read() }))
    }
}

impl<T> Drop for Local<T> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            while self.pop().is_some() {}
        }
    }
}

impl<T> Steal<T> {
    /// Tasks waiting in the queue (a snapshot, for metrics).
    pub(crate) fn len(&self) -> usize {
        let (_, real) = unpack(self.0.head.load(Acquire));
        self.0.tail.load(Acquire).wrapping_sub(real) as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        let (_, real) = unpack(self.0.head.load(Acquire));
        self.0.tail.load(Acquire) == real
    }

    /// Steals about half of this queue into `dst` (the thief's own queue) and returns one of
    /// the stolen values to run at once. Returns `None` if there was nothing to take, another
    /// steal was in progress, or `dst` is more than half full.
    pub(crate) fn steal_into(&self, dst: &mut Local<T>) -> Option<T> {
        let dst_tail = dst.inner.tail.load(Relaxed);
        let (dst_steal, _) = unpack(dst.inner.head.load(Acquire));
        if dst_tail.wrapping_sub(dst_steal) as usize > CAPACITY / 2 {
            return None;
        }
        let n = self.claim_and_copy(dst, dst_tail);
        if n == 0 {
            return None;
        }
        // Keep the last stolen value to return; publish the rest.
        let n = n - 1;
        let ret_pos = dst_tail.wrapping_add(n);
        // SAFETY: `claim_and_copy` wrote slot `ret_pos` of `dst`, which no one else can see yet
        // (the tail was not moved past it).
        let ret = dst.inner.buffer[ret_pos as usize & MASK].with(|p| unsafe { (*p).assume_init_read() });
        if n > 0 {
            dst.inner.tail.store(dst_tail.wrapping_add(n), Release);
        }
        Some(ret)
    }

    /// Step 1 and 2 of a steal. Returns how many values were copied into `dst` at `dst_tail..`.
    fn claim_and_copy(&self, dst: &mut Local<T>, dst_tail: u32) -> u32 {
        let mut prev = self.0.head.load(Acquire);
        let (first, n) = loop {
            let (steal, real) = unpack(prev);
            if steal != real {
                return 0; // another steal is in progress
            }
            let tail = self.0.tail.load(Acquire);
            let available = tail.wrapping_sub(real);
            let n = available - available / 2;
            if n == 0 {
                return 0;
            }
            let next = pack(steal, real.wrapping_add(n));
            match self.0.head.compare_exchange(prev, next, AcqRel, Acquire) {
                Ok(_) => break (real, n),
                Err(actual) => prev = actual,
            }
        };
        for i in 0..n {
            let src = first.wrapping_add(i) as usize & MASK;
            let dst_pos = dst_tail.wrapping_add(i) as usize & MASK;
            // SAFETY: the claim CAS reserved `[first, first + n)` for us: the owner will not pop
            // or overwrite them until `steal` moves. The destination slots are past `dst`'s tail
            // and `dst` is the thief's own queue (`&mut`), so they are free.
            let value = self.0.buffer[src].with(|p| unsafe { (*p).assume_init_read() });
            // SAFETY: as above.
            dst.inner.buffer[dst_pos].with_mut(|p| unsafe { (*p).write(value) });
        }
        // Release the claimed slots back to the owner.
        let mut prev = self.0.head.load(Acquire);
        loop {
            let (_, real) = unpack(prev);
            match self.0.head.compare_exchange(prev, pack(real, real), AcqRel, Acquire) {
                Ok(_) => return n,
                Err(actual) => prev = actual,
            }
        }
    }
}

impl<T> Clone for Steal<T> {
    fn clone(&self) -> Self {
        Steal(self.0.clone())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_order_and_overflow_half() {
        let (mut q, _s) = local::<u32>();
        let mut spilled = Vec::new();
        for i in 0..(CAPACITY as u32 + 1) {
            q.push_back_or_overflow(i, |batch| spilled.extend(batch));
        }
        // The older half plus the new value went out in one batch, in order.
        let expected: Vec<u32> = (0..CAPACITY as u32 / 2).chain([CAPACITY as u32]).collect();
        assert_eq!(spilled, expected);
        let popped: Vec<u32> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(popped, (CAPACITY as u32 / 2..CAPACITY as u32).collect::<Vec<_>>());
    }

    #[test]
    fn steal_takes_half_and_returns_one() {
        let (mut a, steal_a) = local::<u32>();
        let (mut b, _) = local::<u32>();
        for i in 0..10 {
            a.push_back_or_overflow(i, |_| panic!("no overflow expected"));
        }
        let got = steal_a.steal_into(&mut b).expect("stole something");
        assert_eq!(got, 4, "5 stolen: 0..4 queued in b, 4 returned");
        assert_eq!(b.len(), 4);
        assert_eq!(a.len(), 5);
        let mut all: Vec<u32> =
            std::iter::from_fn(|| a.pop()).chain(std::iter::from_fn(|| b.pop())).collect();
        all.push(got);
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn values_left_in_the_queue_are_dropped() {
        let marker = std::sync::Arc::new(());
        {
            let (mut q, _s) = local();
            for _ in 0..5 {
                q.push_back_or_overflow(marker.clone(), |_| {});
            }
        }
        assert_eq!(std::sync::Arc::strong_count(&marker), 1);
    }
}

/// Loom models: an owner pushing and popping while a thief steals. Every value must come out
/// exactly once, and loom fails the model on any unsynchronised slot access.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    fn drain(q: &mut Local<u32>, out: &mut Vec<u32>) {
        while let Some(v) = q.pop() {
            out.push(v);
        }
    }

    /// A thread that steals once from `steal` into a queue of its own and returns all it got.
    fn thief(steal: Steal<u32>) -> thread::JoinHandle<Vec<u32>> {
        thread::spawn(move || {
            let (mut mine, _) = local::<u32>();
            let mut got = Vec::new();
            if let Some(v) = steal.steal_into(&mut mine) {
                got.push(v);
            }
            drain(&mut mine, &mut got);
            got
        })
    }

    #[test]
    fn loom_steal_while_owner_pops() {
        loom::model(|| {
            let (mut owner, steal) = local::<u32>();
            for v in 0..3 {
                owner.push_back_or_overflow(v, |_| panic!("no overflow at 3 of 4"));
            }
            let thief = thief(steal);
            let mut got = Vec::new();
            drain(&mut owner, &mut got);
            got.extend(thief.join().unwrap());
            got.sort();
            assert_eq!(got, vec![0, 1, 2]);
        });
    }

    #[test]
    fn loom_overflow_while_stealing() {
        loom::model(|| {
            let (mut owner, steal) = local::<u32>();
            let thief = thief(steal);
            let mut spilled = Vec::new();
            for v in 0..(CAPACITY as u32 + 2) {
                owner.push_back_or_overflow(v, |batch| spilled.extend(batch));
            }
            let mut got = spilled;
            drain(&mut owner, &mut got);
            got.extend(thief.join().unwrap());
            got.sort();
            assert_eq!(got, (0..CAPACITY as u32 + 2).collect::<Vec<_>>());
        });
    }

    #[test]
    fn loom_two_thieves_and_a_pushing_owner() {
        loom::model(|| {
            let (mut owner, steal) = local::<u32>();
            owner.push_back_or_overflow(0, |_| panic!("no overflow"));
            owner.push_back_or_overflow(1, |_| panic!("no overflow"));
            let thieves: Vec<_> = (0..2).map(|_| thief(steal.clone())).collect();
            let mut got = Vec::new();
            for v in 2..5 {
                owner.push_back_or_overflow(v, |batch| got.extend(batch));
            }
            drain(&mut owner, &mut got);
            for t in thieves {
                got.extend(t.join().unwrap());
            }
            got.sort();
            assert_eq!(got, vec![0, 1, 2, 3, 4]);
        });
    }
}
