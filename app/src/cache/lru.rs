//! An in-process read-through cache: least-recently-used, with expiry, negative entries and
//! request coalescing.
//!
//! [`Cache::get_or_load`] answers from memory while an entry is fresh; otherwise it loads
//! it (from SQLite, for the library) and keeps the answer for `ttl`, less a random tenth so
//! that entries loaded together do not all expire together. A load that finds nothing is
//! kept too, for the shorter `negative_ttl` (a burst of requests for a missing book costs
//! one query, not one each). A full cache drops its least recently used entry.
//!
//! **Coalescing.** When many requests miss the same key at once — a popular book just
//! changed, or the cache just started — the first one loads and the others wait for its
//! answer: the database sees one query for the stampede, not one per request. If that load
//! fails, each waiter loads for itself.
//!
//! **Invalidation.** A write calls [`Cache::invalidate`] after it commits and before it
//! answers, so no request that starts after the write's response reads the old value. A
//! load that was already running when the write came may return the old value to its own
//! waiters (they asked before the write finished) but does not store it.
//!
//! Each process has its own cache: a write made by another process is seen here once the
//! entry expires (`ttl` bounds that staleness). With `--redis` the service shares one cache
//! instead (`redis.rs`), and uses this one with a zero `ttl` for coalescing alone.

use kiln_runtime::sync::watch;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How a cache behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Entries kept at most.
    pub capacity: usize,
    /// How long a found value is kept (less up to a tenth, at random).
    pub ttl: Duration,
    /// How long "not found" is kept.
    pub negative_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> CacheConfig {
        CacheConfig { capacity: 10_000, ttl: Duration::from_secs(60), negative_ttl: Duration::from_secs(5) }
    }
}

/// What a cache has done since it was made.
#[derive(Debug, Default)]
pub struct CacheCounters {
    /// Answers from memory.
    pub hits: AtomicU64,
    /// Loads.
    pub misses: AtomicU64,
    /// Requests that waited for another request's load instead of loading.
    pub coalesced: AtomicU64,
    /// Entries dropped to make room.
    pub evictions: AtomicU64,
}

/// The outcome of a load, shared with the requests waiting for it.
#[derive(Clone)]
enum Flight<V> {
    Running,
    Done(Option<V>),
    Failed,
}

enum Slot<V> {
    Ready {
        value: Option<V>,
        expires: Instant,
        node: usize,
    },
    Loading {
        /// Which load: a slot removed and loaded again holds a new one.
        id: u64,
        waiting: watch::Receiver<Flight<V>>,
    },
}

/// A node of the recency list (most recent at `head`).
struct Node<K> {
    key: Option<K>,
    prev: usize,
    next: usize,
}

const NIL: usize = usize::MAX;

struct Inner<K, V> {
    slots: HashMap<K, Slot<V>>,
    nodes: Vec<Node<K>>,
    free: Vec<usize>,
    head: usize,
    tail: usize,
    ready: usize,
    next_flight: u64,
}

/// The cache; share it in an `Arc`.
pub struct Cache<K, V> {
    inner: Mutex<Inner<K, V>>,
    config: CacheConfig,
    /// Bumped by every invalidation: a load that sees it change does not store its value.
    epoch: AtomicU64,
    counters: CacheCounters,
}

impl<K: Hash + Eq + Clone + Send + 'static, V: Clone + Send + Sync + 'static> Cache<K, V> {
    /// An empty cache.
    pub fn new(config: CacheConfig) -> Cache<K, V> {
        Cache {
            inner: Mutex::new(Inner {
                slots: HashMap::new(),
                nodes: Vec::new(),
                free: Vec::new(),
                head: NIL,
                tail: NIL,
                ready: 0,
                next_flight: 0,
            }),
            config: CacheConfig { capacity: config.capacity.max(1), ..config },
            epoch: AtomicU64::new(0),
            counters: CacheCounters::default(),
        }
    }

    /// The counters.
    pub fn counters(&self) -> &CacheCounters {
        &self.counters
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value for `key`: from memory if fresh, else from `load` (once for all the
    /// requests missing `key` at the same time). `Ok(None)` is "not found", kept too.
    ///
    /// # Errors
    /// Whatever `load` returns.
    pub async fn get_or_load<E, F, Fut>(&self, key: K, load: F) -> Result<Option<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        // One critical section decides: a hit, a wait for a load in flight, or our own load
        // (registered before the lock is released, so a second miss waits for it).
        let (flight, done, epoch) = {
            let mut inner = self.lock();
            match inner.slots.get(&key) {
                Some(Slot::Ready { value, expires, node }) if *expires > Instant::now() => {
                    let (value, node) = (value.clone(), *node);
                    inner.touch(node);
                    self.counters.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(value);
                }
                Some(Slot::Loading { waiting, .. }) => (Some(waiting.clone()), None, 0),
                _ => {
                    inner.remove(&key);
                    let (done, waiting) = watch::channel(Flight::Running);
                    inner.next_flight += 1;
                    let id = inner.next_flight;
                    inner.slots.insert(key.clone(), Slot::Loading { id, waiting });
                    (None, Some((id, done)), self.epoch.load(Ordering::SeqCst))
                }
            }
        };
        let Some((id, done)) = done else {
            let mut waiting = flight.expect("no load of our own means one to wait for");
            self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
            let outcome = waiting.wait_for(|f| !matches!(f, Flight::Running)).await.map(|f| f.clone());
            if let Ok(Flight::Done(value)) = outcome {
                return Ok(value);
            }
            // The load failed (or was dropped): load for ourselves, without coalescing.
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            return load().await;
        };
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        // If this future is dropped mid-load, the guard clears the slot and the waiters load.
        let mut guard = LoadGuard { cache: self, key: Some(key), id, done };
        let result = load().await;
        let key = guard.key.take().expect("taken once");
        let mut inner = self.lock();
        let ours = matches!(inner.slots.get(&key), Some(Slot::Loading { id: i, .. }) if *i == id);
        if ours {
            inner.slots.remove(&key);
        }
        match &result {
            Ok(value) => {
                if ours && self.epoch.load(Ordering::SeqCst) == epoch {
                    let ttl =
                        if value.is_some() { jittered(self.config.ttl) } else { self.config.negative_ttl };
                    if inner.insert(key, value.clone(), Instant::now() + ttl, self.config.capacity) {
                        self.counters.evictions.fetch_add(1, Ordering::Relaxed);
                    }
                }
                drop(inner);
                let _ = guard.done.send(Flight::Done(value.clone()));
            }
            Err(_) => {
                drop(inner);
                let _ = guard.done.send(Flight::Failed);
            }
        }
        result
    }

    /// Forgets `key` (a write changed it), and keeps any load already running from storing
    /// what it read.
    pub fn invalidate(&self, key: &K) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.lock().remove(key);
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let mut inner = self.lock();
        let keys: Vec<K> = inner.slots.keys().cloned().collect();
        for key in keys {
            inner.remove(&key);
        }
    }

    /// Fresh and loading entries.
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K, V> std::fmt::Debug for Cache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("config", &self.config)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// `ttl` less up to a tenth, at random.
pub(super) fn jittered(ttl: Duration) -> Duration {
    let random = u64::from_le_bytes(crate::auth::tokens::random_bytes::<8>());
    let tenth = ttl / 10;
    ttl - tenth.mul_f64((random % 1000) as f64 / 1000.0)
}

/// Clears a load's slot if its future is dropped before it finished.
struct LoadGuard<'a, K: Hash + Eq + Clone + Send + 'static, V: Clone + Send + Sync + 'static> {
    cache: &'a Cache<K, V>,
    key: Option<K>,
    id: u64,
    done: watch::Sender<Flight<V>>,
}

impl<K: Hash + Eq + Clone + Send + 'static, V: Clone + Send + Sync + 'static> Drop for LoadGuard<'_, K, V> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut inner = self.cache.lock();
            if matches!(inner.slots.get(&key), Some(Slot::Loading { id, .. }) if *id == self.id) {
                inner.slots.remove(&key);
            }
            drop(inner);
            let _ = self.done.send(Flight::Failed);
        }
    }
}

impl<K: Hash + Eq + Clone, V> Inner<K, V> {
    /// Moves `node` to the front (most recently used).
    fn touch(&mut self, node: usize) {
        if self.head == node {
            return;
        }
        self.unlink(node);
        self.push_front(node);
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.nodes[node].prev, self.nodes[node].next);
        match prev {
            NIL => self.head = next,
            p => self.nodes[p].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n].prev = prev,
        }
    }

    fn push_front(&mut self, node: usize) {
        self.nodes[node].prev = NIL;
        self.nodes[node].next = self.head;
        if self.head != NIL {
            self.nodes[self.head].prev = node;
        }
        self.head = node;
        if self.tail == NIL {
            self.tail = node;
        }
    }

    /// Stores a ready entry; returns whether another was evicted to make room.
    fn insert(&mut self, key: K, value: Option<V>, expires: Instant, capacity: usize) -> bool {
        self.remove(&key);
        let mut evicted = false;
        if self.ready >= capacity && self.tail != NIL {
            let oldest = self.nodes[self.tail].key.clone().expect("a linked node has a key");
            self.remove(&oldest);
            evicted = true;
        }
        let node = Node { key: Some(key.clone()), prev: NIL, next: NIL };
        let index = match self.free.pop() {
            Some(i) => {
                self.nodes[i] = node;
                i
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        self.push_front(index);
        self.ready += 1;
        self.slots.insert(key, Slot::Ready { value, expires, node: index });
        evicted
    }

    /// Drops `key`'s entry, ready or loading.
    fn remove(&mut self, key: &K) {
        if let Some(Slot::Ready { node, .. }) = self.slots.remove(key) {
            self.unlink(node);
            self.nodes[node].key = None;
            self.free.push(node);
            self.ready -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    fn rt() -> kiln_runtime::runtime::Runtime {
        kiln_runtime::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap()
    }

    #[test]
    fn a_stampede_of_misses_loads_once() {
        rt().block_on(async {
            let cache = Arc::new(Cache::<u32, String>::new(CacheConfig::default()));
            let loads = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = (0..100)
                .map(|_| {
                    let (cache, loads) = (cache.clone(), loads.clone());
                    kiln_runtime::spawn(async move {
                        cache
                            .get_or_load(7, || async {
                                loads.fetch_add(1, Ordering::SeqCst);
                                kiln_runtime::time::sleep(Duration::from_millis(50)).await;
                                Ok::<_, ()>(Some("seven".to_owned()))
                            })
                            .await
                    })
                })
                .collect();
            for t in tasks {
                assert_eq!(t.await.unwrap(), Ok(Some("seven".to_owned())));
            }
            assert_eq!(loads.load(Ordering::SeqCst), 1);
            let c = cache.counters();
            assert_eq!(
                c.misses.load(Ordering::SeqCst)
                    + c.coalesced.load(Ordering::SeqCst)
                    + c.hits.load(Ordering::SeqCst),
                100
            );
            assert_eq!(c.misses.load(Ordering::SeqCst), 1);
        });
    }

    #[test]
    fn least_recently_used_goes_first_and_expired_entries_load_again() {
        rt().block_on(async {
            let config = CacheConfig {
                capacity: 2,
                ttl: Duration::from_secs(60),
                negative_ttl: Duration::from_millis(30),
            };
            let cache = Cache::<u32, u32>::new(config);
            let loads = AtomicUsize::new(0);
            let get = |k: u32| {
                let loads = &loads;
                let cache = &cache;
                async move {
                    cache
                        .get_or_load(k, || async move {
                            loads.fetch_add(1, Ordering::SeqCst);
                            Ok::<_, ()>((k != 404).then_some(k * 10))
                        })
                        .await
                        .unwrap()
                }
            };
            assert_eq!(get(1).await, Some(10));
            assert_eq!(get(2).await, Some(20));
            assert_eq!(get(1).await, Some(10)); // 1 is now the most recent
            assert_eq!(get(3).await, Some(30)); // evicts 2
            assert_eq!(loads.load(Ordering::SeqCst), 3);
            assert_eq!(get(1).await, Some(10), "kept");
            assert_eq!(get(2).await, Some(20), "evicted, so loaded again");
            assert_eq!(loads.load(Ordering::SeqCst), 4);
            assert_eq!(cache.counters().evictions.load(Ordering::SeqCst), 2);

            assert_eq!(get(404).await, None);
            assert_eq!(get(404).await, None);
            assert_eq!(loads.load(Ordering::SeqCst), 5, "not found is cached");
            kiln_runtime::time::sleep(Duration::from_millis(40)).await;
            assert_eq!(get(404).await, None);
            assert_eq!(loads.load(Ordering::SeqCst), 6, "for the negative ttl only");
        });
    }

    #[test]
    fn an_invalidation_during_a_load_keeps_the_old_value_out() {
        rt().block_on(async {
            let cache = Arc::new(Cache::<u32, &'static str>::new(CacheConfig::default()));
            let (started, started_rx) = kiln_runtime::sync::oneshot::channel();
            let (go, go_rx) = kiln_runtime::sync::oneshot::channel::<()>();
            let loader = {
                let cache = cache.clone();
                kiln_runtime::spawn(async move {
                    cache
                        .get_or_load(1, || async move {
                            let _ = started.send(());
                            let _ = go_rx.await;
                            Ok::<_, ()>(Some("old"))
                        })
                        .await
                })
            };
            started_rx.await.unwrap();
            cache.invalidate(&1); // a write committed while the old row was being read
            go.send(()).unwrap();
            assert_eq!(loader.await.unwrap(), Ok(Some("old")), "its own caller gets what it read");
            let next = cache.get_or_load(1, || async { Ok::<_, ()>(Some("new")) }).await;
            assert_eq!(next, Ok(Some("new")), "but it was not stored");
        });
    }

    #[test]
    fn a_failed_or_dropped_load_lets_the_waiters_load() {
        rt().block_on(async {
            let cache = Arc::new(Cache::<u32, u32>::new(CacheConfig::default()));
            let first = {
                let cache = cache.clone();
                kiln_runtime::spawn(async move {
                    cache
                        .get_or_load(1, || async {
                            kiln_runtime::time::sleep(Duration::from_millis(30)).await;
                            Err::<Option<u32>, _>("the database is down")
                        })
                        .await
                })
            };
            kiln_runtime::time::sleep(Duration::from_millis(5)).await;
            let second = cache.get_or_load(1, || async { Ok::<_, &str>(Some(1)) }).await;
            assert_eq!(second, Ok(Some(1)), "the waiter loaded for itself");
            assert_eq!(first.await.unwrap(), Err("the database is down"));

            let dropped = {
                let cache = cache.clone();
                kiln_runtime::spawn(async move {
                    cache.get_or_load(2, std::future::pending::<Result<Option<u32>, ()>>).await
                })
            };
            kiln_runtime::time::sleep(Duration::from_millis(5)).await;
            dropped.abort();
            let _ = dropped.await;
            assert_eq!(cache.get_or_load(2, || async { Ok::<_, ()>(Some(2)) }).await, Ok(Some(2)));
        });
    }
}
