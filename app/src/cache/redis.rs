//! The shared cache tier: entries in Redis, so every API process reads what any of them
//! loaded, and a write in one process invalidates for all.
//!
//! Each cache has a *generation*, a counter in Redis. A write bumps it and deletes the key
//! it changed, before it answers. A load reads the generation with the lookup (one script,
//! one round trip) and stores its value only if the generation is still the same (a
//! second script, compare-then-set): a load that raced a write cannot store what the write
//! replaced. A listing cache puts the generation in its keys, so bumping it retires every
//! listing at once; the old keys expire by their TTL.
//!
//! There is no copy in process memory on top: a local copy could only be dropped when
//! another process's message arrived, after that process's write had answered, and a
//! stale read after a write's answer is what the cache promises never to give. A hit is
//! one round trip to Redis instead of a hash lookup; coalescing still happens in each
//! process (through a [`Cache`] that keeps nothing), so a stampede reaches the database at
//! most once per process.
//!
//! If Redis fails, reads load from the database (slower, never wrong), and a write whose
//! invalidation failed is remembered: until it reaches Redis, this process does not read
//! from the cache.

use super::lru::{Cache, CacheConfig, CacheCounters};
use crate::error::AppError;
use kiln_redis::{Client, Script, ToArg, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `KEYS[1]`: the generation. `ARGV`: key prefix, key, `1` if the generation is part of the
/// key. Returns `{generation, value or nil}`.
const READ: &str = r"
local gen = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. (ARGV[3] == '1' and (gen .. ':') or '') .. ARGV[2]
return {gen, redis.call('GET', key)}
";

/// `KEYS[1]`: the generation. `ARGV`: the generation read, the full key, the value, TTL ms.
/// Stores only if no write came in between; returns 1 if stored.
const STORE: &str = r"
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', ARGV[2], ARGV[3], 'PX', ARGV[4])
return 1
";

/// A cache of `K → V` in Redis, values as JSON.
pub struct RedisCache<K, V> {
    client: Arc<Client>,
    /// `<namespace>:`; keys are `<prefix><key>` or `<prefix><generation>:<key>`.
    prefix: String,
    generation: String,
    generational_keys: bool,
    config: CacheConfig,
    read: Script,
    store: Script,
    /// Coalesces this process's concurrent misses; keeps nothing.
    flights: Cache<K, Option<V>>,
    counters: CacheCounters,
    /// Invalidations that did not reach Redis (`None`: the whole cache). While any is
    /// pending, this process reads around the cache.
    pending: Mutex<Vec<Option<String>>>,
    _values: PhantomData<fn() -> V>,
}

impl<K, V> std::fmt::Debug for RedisCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl<K, V> RedisCache<K, V>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// A cache under `namespace` (e.g. `{kiln}:cache:books`). With `generational_keys`, a
    /// write retires every entry (listings, which any write can change); without, it
    /// retires its own key (a book by id).
    pub fn new(client: Arc<Client>, namespace: &str, generational_keys: bool, config: CacheConfig) -> Self {
        RedisCache {
            client,
            prefix: format!("{namespace}:"),
            generation: format!("{namespace}:generation"),
            generational_keys,
            config,
            read: Script::new(READ),
            store: Script::new(STORE),
            flights: Cache::new(CacheConfig { ttl: Duration::ZERO, negative_ttl: Duration::ZERO, ..config }),
            counters: CacheCounters::default(),
            pending: Mutex::new(Vec::new()),
            _values: PhantomData,
        }
    }

    /// Hits and misses (coalesced waits are counted by [`RedisCache::coalesced`]).
    pub fn counters(&self) -> &CacheCounters {
        &self.counters
    }

    /// This process's requests that waited for another's load.
    pub fn coalesced(&self) -> u64 {
        self.flights.counters().coalesced.load(Ordering::Relaxed)
    }

    /// The value for `key`: from Redis, or loaded by `load` (once for this process's
    /// concurrent misses) and stored unless a write came meanwhile.
    ///
    /// # Errors
    /// Whatever `load` returns.
    pub async fn get_or_load<F, Fut>(&self, key: K, load: F) -> Result<Option<V>, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, AppError>>,
    {
        if !self.flush_pending().await {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            return load().await;
        }
        let name = key.to_string();
        let found = self
            .flights
            .get_or_load(key, || async {
                let generation = match self.lookup(&name).await {
                    Ok((_, Some(value))) => {
                        self.counters.hits.fetch_add(1, Ordering::Relaxed);
                        return Ok(Some(value));
                    }
                    Ok((generation, None)) => Some(generation),
                    Err(e) => {
                        tracing::warn!(error = %e, cache = %self.prefix, "cache: Redis did not answer; loading");
                        None
                    }
                };
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                let value = load().await?;
                if let Some(generation) = generation {
                    self.keep(&name, &generation, &value).await;
                }
                Ok::<_, AppError>(Some(value))
            })
            .await?;
        Ok(found.flatten())
    }

    /// The generation and, if cached, the value (`Some(None)`: cached as not found).
    async fn lookup(&self, name: &str) -> Result<(String, Option<Option<V>>), AppError> {
        let flag = if self.generational_keys { "1" } else { "0" };
        let answer: Vec<Value> = self
            .read
            .invoke(&self.client, &[&self.generation], &[self.prefix.to_arg(), name.to_arg(), flag.to_arg()])
            .await?;
        let mut it = answer.into_iter();
        let generation: String = kiln_redis::FromValue::from_value(it.next().unwrap_or(Value::Nil))?;
        let cached: Option<Vec<u8>> = kiln_redis::FromValue::from_value(it.next().unwrap_or(Value::Nil))?;
        let value = match cached {
            Some(bytes) => match serde_json::from_slice::<Option<V>>(&bytes) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::warn!(error = %e, cache = %self.prefix, "cache: an entry did not parse; loading");
                    None
                }
            },
            None => None,
        };
        Ok((generation, value))
    }

    /// Stores `value` under `name` if the generation is still `generation`.
    async fn keep(&self, name: &str, generation: &str, value: &Option<V>) {
        let ttl =
            if value.is_some() { super::lru::jittered(self.config.ttl) } else { self.config.negative_ttl };
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return;
        }
        let key = if self.generational_keys {
            format!("{}{generation}:{name}", self.prefix)
        } else {
            format!("{}{name}", self.prefix)
        };
        let json = serde_json::to_vec(value).expect("cached values serialize");
        let stored = self
            .store
            .invoke::<i64>(
                &self.client,
                &[&self.generation],
                &[generation.to_arg(), key.to_arg(), json, ms.to_arg()],
            )
            .await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, cache = %self.prefix, "cache: could not store an entry");
        }
    }

    /// Retires `key` (or every entry): bumps the generation and deletes the key.
    pub async fn invalidate(&self, key: Option<&K>) {
        let name = key.map(ToString::to_string);
        if let Err(e) = self.retire(name.as_deref()).await {
            tracing::warn!(error = %e, cache = %self.prefix, "cache: invalidation did not reach Redis; reading around the cache until it does");
            self.pending.lock().unwrap_or_else(|e| e.into_inner()).push(name);
        }
    }

    async fn retire(&self, name: Option<&str>) -> Result<(), AppError> {
        let mut commands = vec![kiln_redis::cmd("INCR").arg(self.generation.as_str())];
        if let (Some(name), false) = (name, self.generational_keys) {
            commands.push(kiln_redis::cmd("DEL").arg(format!("{}{name}", self.prefix)));
        }
        for answer in self.client.pipeline(&commands).await? {
            answer?;
        }
        Ok(())
    }

    /// Sends the pending invalidations; true when none is left.
    async fn flush_pending(&self) -> bool {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if pending.is_empty() {
            return true;
        }
        for (i, name) in pending.iter().enumerate() {
            if self.retire(name.as_deref()).await.is_err() {
                self.pending.lock().unwrap_or_else(|e| e.into_inner()).extend(pending[i..].iter().cloned());
                return false;
            }
        }
        true
    }
}
