//! [`Pool`]: a bounded set of connections, each lent to one task at a time.
//!
//! A pooled connection is one task's while it holds it — transactions and session state
//! stay its own — and goes back when the [`Pooled`] handle drops. At most `max_size`
//! exist; a task that finds none free waits in line (the runtime's semaphore is fair), for
//! at most `wait_timeout`, then gets [`PgError::PoolTimeout`] — a service answers 503 rather
//! than hanging when the database stalls.
//!
//! Before a connection is lent it is checked: a closed one is replaced, one older than
//! `max_lifetime` is closed and replaced (the server's memory per backend grows with the
//! statements it caches, and a load balancer in front may have moved), and one idle longer
//! than `test_after_idle` must answer an empty query first.

use crate::client::Client;
use crate::config::Config;
use crate::error::PgError;
use kiln_runtime::sync::{OwnedSemaphorePermit, Semaphore};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a pool behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Connections at most.
    pub max_size: usize,
    /// Longest wait for a free connection.
    pub wait_timeout: Duration,
    /// A connection older than this is replaced when next lent.
    pub max_lifetime: Duration,
    /// A connection idle longer than this is tested before it is lent.
    pub test_after_idle: Duration,
}

impl Default for PoolConfig {
    /// 10 connections, 30 s wait, 30 min lifetime, tested after 30 s idle.
    fn default() -> PoolConfig {
        PoolConfig {
            max_size: 10,
            wait_timeout: Duration::from_secs(30),
            max_lifetime: Duration::from_secs(30 * 60),
            test_after_idle: Duration::from_secs(30),
        }
    }
}

struct Idle {
    client: Client,
    created: Instant,
    since: Instant,
}

struct Inner {
    config: Arc<Config>,
    pool: PoolConfig,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Idle>>,
    /// Gets that found every connection lent and waited.
    waits: AtomicU64,
    /// Waits that ran out of time.
    timeouts: AtomicU64,
}

/// A pool; cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("config", &self.inner.config).field("pool", &self.inner.pool).finish()
    }
}

/// A connection lent by the pool; derefs to [`Client`].
pub struct Pooled {
    client: Option<Client>,
    created: Instant,
    inner: Arc<Inner>,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for Pooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pooled").field("client", &self.client).finish()
    }
}

impl std::ops::Deref for Pooled {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("present until dropped")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if !client.is_closed() {
                let idle = Idle { client, created: self.created, since: Instant::now() };
                self.inner.idle.lock().unwrap_or_else(|e| e.into_inner()).push(idle);
            }
        }
    }
}

impl Pool {
    /// A pool connecting with `config`; no connection is made until one is needed.
    pub fn new(config: Config, pool: PoolConfig) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                config: Arc::new(config),
                pool,
                permits: Arc::new(Semaphore::new(pool.max_size.max(1))),
                idle: Mutex::new(Vec::new()),
                waits: AtomicU64::new(0),
                timeouts: AtomicU64::new(0),
            }),
        }
    }

    /// A pool with one connection made now, to report a wrong address or password at
    /// startup.
    ///
    /// # Errors
    /// The first connection failed.
    pub async fn connect(config: Config, pool: PoolConfig) -> Result<Pool, PgError> {
        let p = Pool::new(config, pool);
        drop(p.get().await?);
        Ok(p)
    }

    /// The settings connections are made with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Connections open now (lent and idle).
    pub fn size(&self) -> usize {
        self.inner.pool.max_size.max(1) - self.inner.permits.available_permits() + self.idle_count()
    }

    /// Connections waiting to be lent.
    pub fn idle_count(&self) -> usize {
        self.inner.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Connections lent now.
    pub fn in_use(&self) -> usize {
        self.inner.pool.max_size.max(1) - self.inner.permits.available_permits()
    }

    /// Gets since the pool was made that had to wait for a connection to come back.
    pub fn waits(&self) -> u64 {
        self.inner.waits.load(Ordering::Relaxed)
    }

    /// Gets that waited longer than the wait timeout ([`PgError::PoolTimeout`]).
    pub fn timeouts(&self) -> u64 {
        self.inner.timeouts.load(Ordering::Relaxed)
    }

    /// A connection of one's own until the handle drops.
    ///
    /// # Errors
    /// [`PgError::PoolTimeout`] if none became free in time; a connection error if a new
    /// one had to be made and could not be.
    pub async fn get(&self) -> Result<Pooled, PgError> {
        let inner = &self.inner;
        let wait = inner.pool.wait_timeout;
        let permit = match inner.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                inner.waits.fetch_add(1, Ordering::Relaxed);
                kiln_runtime::time::timeout(wait, inner.permits.clone().acquire_owned())
                    .await
                    .map_err(|_| {
                        inner.timeouts.fetch_add(1, Ordering::Relaxed);
                        PgError::PoolTimeout(wait)
                    })?
                    .map_err(|_| PgError::Io("the pool is closed".into()))?
            }
        };
        loop {
            let idle = inner.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(idle) = idle else { break };
            if idle.client.is_closed() {
                continue;
            }
            if idle.created.elapsed() >= inner.pool.max_lifetime {
                idle.client.close();
                continue;
            }
            if idle.since.elapsed() >= inner.pool.test_after_idle
                && idle.client.batch_execute("").await.is_err()
            {
                continue;
            }
            return Ok(Pooled {
                client: Some(idle.client),
                created: idle.created,
                inner: inner.clone(),
                _permit: permit,
            });
        }
        let client = Client::connect_with(inner.config.clone(), None).await?;
        Ok(Pooled { client: Some(client), created: Instant::now(), inner: inner.clone(), _permit: permit })
    }
}
