//! The inject queue: where tasks arrive from outside a worker (other threads, other runtimes,
//! overflow from a full local queue).
//!
//! A plain `Mutex<VecDeque>` with an atomic length beside it, so a worker can see "empty"
//! without taking the lock, which is what it finds almost every time it looks.

use crate::loom::sync::lock;
use crate::task::cell::Notified;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

pub(crate) struct Inject {
    queue: Mutex<VecDeque<Notified>>,
    len: AtomicUsize,
    closed: AtomicBool,
}

impl Inject {
    pub(crate) fn new() -> Inject {
        Inject {
            queue: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pushes a task; after `close`, drops it instead (the runtime is shutting down and will
    /// cancel every task through the owned list).
    pub(crate) fn push(&self, task: Notified) {
        let mut q = lock(&self.queue);
        if self.closed.load(Ordering::Relaxed) {
            drop(q);
            drop(task);
            return;
        }
        q.push_back(task);
        self.len.store(q.len(), Ordering::Release);
    }

    /// Pushes many tasks under one lock (local-queue overflow).
    pub(crate) fn push_batch(&self, tasks: impl Iterator<Item = Notified>) {
        let mut q = lock(&self.queue);
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        q.extend(tasks);
        self.len.store(q.len(), Ordering::Release);
    }

    pub(crate) fn pop(&self) -> Option<Notified> {
        if self.is_empty() {
            return None;
        }
        let mut q = lock(&self.queue);
        let task = q.pop_front();
        self.len.store(q.len(), Ordering::Release);
        task
    }

    /// Pops up to `max` tasks under one lock, passing each to `f`.
    pub(crate) fn pop_batch(&self, max: usize, mut f: impl FnMut(Notified)) {
        if self.is_empty() || max == 0 {
            return;
        }
        let mut q = lock(&self.queue);
        let n = max.min(q.len());
        for task in q.drain(..n) {
            f(task);
        }
        self.len.store(q.len(), Ordering::Release);
    }

    /// Stops accepting tasks and drops the queued ones.
    pub(crate) fn close(&self) {
        let drained: Vec<Notified> = {
            let mut q = lock(&self.queue);
            self.closed.store(true, Ordering::Relaxed);
            self.len.store(0, Ordering::Release);
            q.drain(..).collect()
        };
        drop(drained);
    }
}
