//! The service's read-through caches for books and listings: in this process
//! ([`Cache`], `lru.rs`) by default, in Redis ([`RedisCache`], `redis.rs`) when the
//! service runs as several processes.
//!
//! Both keep the same promises: a write invalidates before it answers, so no request that
//! starts after a write's response reads what it replaced; misses for one key at one time
//! load once (per process); "not found" is cached briefly; counters say how it went.
//!
//! - `lru.rs` — least-recently-used entries with expiry, coalescing, negative entries.
//! - `redis.rs` — the shared tier: values as JSON under generation-guarded keys.

mod lru;
pub mod redis;

pub use self::lru::{Cache, CacheConfig, CacheCounters};
pub use self::redis::RedisCache;

use crate::error::AppError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::Ordering;
use tracing::Instrument;

/// One of the service's caches, wherever it is kept.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // two per service, each in an `Arc`: size is no matter
pub enum ReadThrough<K, V> {
    /// In this process.
    Local(Cache<K, V>),
    /// In Redis, shared by every process.
    Redis(RedisCache<K, V>),
}

/// A cache's counters, read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheSnapshot {
    /// Answers from the cache.
    pub hits: u64,
    /// Loads from the database.
    pub misses: u64,
    /// Requests that waited for another request's load.
    pub coalesced: u64,
    /// Entries dropped to make room (this process's cache only: Redis evicts by itself).
    pub evictions: u64,
    /// Entries held (this process's cache only).
    pub entries: usize,
}

impl<K, V> ReadThrough<K, V>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// In Redis under `namespace` if a client is given (see [`RedisCache::new`]), else in
    /// this process.
    pub fn new(
        redis: Option<&std::sync::Arc<kiln_redis::Client>>,
        namespace: &str,
        generational_keys: bool,
        config: CacheConfig,
    ) -> Self {
        match redis {
            Some(client) => {
                ReadThrough::Redis(RedisCache::new(client.clone(), namespace, generational_keys, config))
            }
            None => ReadThrough::Local(Cache::new(config)),
        }
    }

    /// The value for `key`, from the cache or from `load` (see [`Cache::get_or_load`]), in a
    /// `cache` span whose `loaded` field says whether this call went to the database.
    ///
    /// # Errors
    /// Whatever `load` returns. Redis failing is not an error: the value is loaded.
    pub async fn get_or_load<F, Fut>(&self, key: K, load: F) -> Result<Option<V>, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, AppError>>,
    {
        let span =
            tracing::info_span!(target: "kiln::data", "cache", key = %key, loaded = tracing::field::Empty);
        let loaded = std::sync::atomic::AtomicBool::new(false);
        let load = || {
            loaded.store(true, Ordering::Relaxed);
            load()
        };
        let value = match self {
            ReadThrough::Local(c) => c.get_or_load(key, load).instrument(span.clone()).await,
            ReadThrough::Redis(c) => c.get_or_load(key, load).instrument(span.clone()).await,
        };
        span.record("loaded", loaded.load(Ordering::Relaxed));
        value
    }

    /// Forgets `key`: a write changed it.
    pub async fn invalidate(&self, key: &K) {
        match self {
            ReadThrough::Local(c) => c.invalidate(key),
            ReadThrough::Redis(c) => c.invalidate(Some(key)).await,
        }
    }

    /// Forgets every entry.
    pub async fn clear(&self) {
        match self {
            ReadThrough::Local(c) => c.clear(),
            ReadThrough::Redis(c) => c.invalidate(None).await,
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> CacheSnapshot {
        let (c, entries, coalesced) = match self {
            ReadThrough::Local(c) => (c.counters(), c.len(), c.counters().coalesced.load(Ordering::Relaxed)),
            ReadThrough::Redis(c) => (c.counters(), 0, c.coalesced()),
        };
        CacheSnapshot {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            coalesced,
            evictions: c.evictions.load(Ordering::Relaxed),
            entries,
        }
    }
}
