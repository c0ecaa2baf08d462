//! `JoinSet`: a set of tasks, awaited in the order they finish.

use super::{AbortHandle, Id, JoinError, JoinHandle};
use crate::loom::sync::lock;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// A collection of spawned tasks whose outputs are collected as they complete.
///
/// ```
/// # kiln_runtime::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut set = kiln_runtime::task::JoinSet::new();
/// for i in 0..3 {
///     set.spawn(async move { i * 10 });
/// }
/// let mut sum = 0;
/// while let Some(result) = set.join_next().await {
///     sum += result.unwrap();
/// }
/// assert_eq!(sum, 30);
/// # });
/// ```
///
/// **Dropping a `JoinSet` aborts every task in it.** Use [`JoinSet::detach_all`] first to
/// let them run on.
///
/// # How it finds the finished task without polling them all
/// Each entry is polled with its own waker, which records the entry's id in a shared
/// "notified" list and wakes whoever waits in `join_next`. `join_next` polls only the
/// entries on that list, so one completion costs O(1), not O(number of tasks).
pub struct JoinSet<T> {
    entries: HashMap<u64, Entry<T>>,
    notified: Arc<Notified>,
    next_key: u64,
}

struct Entry<T> {
    handle: JoinHandle<T>,
    waker: Waker,
}

struct Notified {
    ready: Mutex<VecDeque<u64>>,
    parent: Mutex<Option<Waker>>,
}

struct EntryWaker {
    key: u64,
    notified: Arc<Notified>,
}

impl Wake for EntryWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.notified.ready).push_back(self.key);
        let parent = lock(&self.notified.parent).take();
        if let Some(w) = parent {
            w.wake();
        }
    }
}

impl<T: Send + 'static> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            entries: HashMap::new(),
            notified: Arc::new(Notified { ready: Mutex::new(VecDeque::new()), parent: Mutex::new(None) }),
            next_key: 0,
        }
    }

    /// Tasks in the set (finished ones count until `join_next` returns them).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the set holds no tasks.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Spawns `future` on the current runtime and adds it to the set.
    ///
    /// # Panics
    /// Outside a Kiln runtime.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.insert(super::spawn(future))
    }

    /// Spawns `future` on the given runtime and adds it to the set.
    #[track_caller]
    pub fn spawn_on<F>(&mut self, future: F, handle: &crate::runtime::Handle) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.insert(handle.spawn(future))
    }

    /// Runs `f` on the blocking pool and adds it to the set.
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.insert(super::spawn_blocking(f))
    }

    fn insert(&mut self, handle: JoinHandle<T>) -> AbortHandle {
        let key = self.next_key;
        self.next_key += 1;
        let abort = handle.abort_handle();
        let waker = Waker::from(Arc::new(EntryWaker { key, notified: self.notified.clone() }));
        // Poll it once on the next `join_next`, which registers the entry's waker.
        lock(&self.notified.ready).push_back(key);
        self.entries.insert(key, Entry { handle, waker });
        abort
    }

    /// Waits for any task to finish and returns its result; `None` once the set is empty.
    ///
    /// Cancel-safe: if the returned future is dropped, no task's output is lost.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Like [`JoinSet::join_next`], also returning the finished task's id.
    pub async fn join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        poll_fn(|cx| self.poll_join_next_with_id(cx)).await
    }

    /// Returns a finished task's result if one is ready now, without waiting.
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        match self.poll_join_next_inner(&mut cx, false) {
            Poll::Ready(r) => r.map(|r| r.map(|(_, v)| v)),
            Poll::Pending => None,
        }
    }

    /// Polls for the next finished task.
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        self.poll_join_next_with_id(cx).map(|r| r.map(|r| r.map(|(_, v)| v)))
    }

    fn poll_join_next_with_id(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<(Id, T), JoinError>>> {
        self.poll_join_next_inner(cx, true)
    }

    fn poll_join_next_inner(
        &mut self,
        cx: &mut Context<'_>,
        register: bool,
    ) -> Poll<Option<Result<(Id, T), JoinError>>> {
        if self.entries.is_empty() {
            return Poll::Ready(None);
        }
        if register {
            // Register before draining, so a wake between the drain and our return is seen.
            *lock(&self.notified.parent) = Some(cx.waker().clone());
        }
        loop {
            let Some(key) = lock(&self.notified.ready).pop_front() else { return Poll::Pending };
            let Some(entry) = self.entries.get_mut(&key) else { continue };
            let id = entry.handle.id();
            let mut entry_cx = Context::from_waker(&entry.waker);
            // Each entry spends the caller's budget as a JoinHandle poll would.
            if let Poll::Ready(result) = Pin::new(&mut entry.handle).poll(&mut entry_cx) {
                self.entries.remove(&key);
                return Poll::Ready(Some(result.map(|v| (id, v))));
            }
            if !crate::task::coop::has_budget_remaining() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }

    /// Waits for every task and returns their outputs in completion order.
    ///
    /// # Panics
    /// Re-raises the panic of any task that panicked.
    pub async fn join_all(mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len());
        while let Some(result) = self.join_next().await {
            match result {
                Ok(v) => out.push(v),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("{e}"),
            }
        }
        out
    }

    /// Aborts every task; they stay in the set until `join_next` returns their cancellation.
    pub fn abort_all(&mut self) {
        for entry in self.entries.values() {
            entry.handle.abort();
        }
    }

    /// Aborts every task and waits until all have stopped.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Removes every task from the set without aborting them.
    pub fn detach_all(&mut self) {
        self.entries.clear();
        lock(&self.notified.ready).clear();
    }
}

impl<T: Send + 'static> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        for entry in self.entries.values() {
            entry.handle.abort_in_drop();
        }
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.entries.len()).finish()
    }
}
