//! Rate limiting per client IP with GCRA (the generic cell rate algorithm), in memory.
//!
//! GCRA is a token bucket kept as one timestamp per client: the *theoretical arrival time*
//! (TAT) at which the client's bucket would be full again. With one request allowed every
//! `T` (the emission interval) and bursts of `B`, a request at time `now` is allowed if
//! `max(TAT, now) - now ≤ (B - 1)·T`, and then `TAT = max(TAT, now) + T`. One `Instant` per
//! client, O(1) per request, no timer, no refill task.
//!
//! Every response carries the limit as the IETF draft's structured headers —
//! `RateLimit-Policy: "ip";q=<burst>;w=<seconds to refill>` and
//! `RateLimit: "ip";r=<remaining>;t=<seconds until full>` — and a refused request gets
//! `429 Too Many Requests` with `Retry-After` (seconds) and a problem body.
//!
//! **Shared buckets.** One process's memory limits one process. Behind a load balancer, with
//! several processes, the limit must be kept where all of them see it: give the layer a
//! [`SharedBuckets`] (the service keeps them in Redis, one GCRA step per request in a Lua
//! script). If the shared store cannot answer, the process's own buckets decide, so an
//! outage of the store loosens the limit to one per process instead of refusing everyone
//! or letting everyone through.
//!
//! The client is the connection's peer address (a proxy in front would make every client
//! one; trusting `X-Forwarded-For` is deliberately not done here, as any client can send
//! it). Memory is bounded: at most `max_clients` are tracked; when full, clients whose
//! bucket has refilled are forgotten, and if none has, new clients pass untracked (failing
//! open, logged) rather than being refused for someone else's traffic.

use crate::response::error_response;
use crate::server::PeerAddr;
use crate::{Body, Layer, Service};
use http::header::{HeaderValue, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use kiln_runtime::time::Instant;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SHARDS: usize = 16;
/// Default most clients tracked at once.
pub const DEFAULT_MAX_CLIENTS: usize = 100_000;

/// Wraps a service in [`RateLimit`]; clones share one set of buckets.
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    limiter: Arc<Limiter>,
}

#[derive(Debug)]
struct Limiter {
    interval: Duration,
    burst: u32,
    max_per_shard: usize,
    shards: Vec<Mutex<HashMap<IpAddr, Instant>>>,
    shared: Option<Arc<dyn SharedBuckets>>,
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may pass.
    pub allowed: bool,
    /// Requests left in the burst after this one.
    pub remaining: u32,
    /// Until the bucket is full again.
    pub reset: Duration,
    /// Until a request would be allowed (zero if allowed).
    pub retry_after: Duration,
}

/// Buckets kept outside the process, shared by every process that uses them.
pub trait SharedBuckets: Send + Sync + std::fmt::Debug + 'static {
    /// One GCRA step for `client`: one request every `interval`, bursts of `burst`. `None`
    /// if the store could not answer (the process's own buckets then decide).
    fn check<'a>(
        &'a self,
        client: IpAddr,
        interval: Duration,
        burst: u32,
    ) -> std::pin::Pin<Box<dyn Future<Output = Option<Decision>> + Send + 'a>>;
}

impl RateLimitLayer {
    /// `rate` requests per second on average, bursts of up to `burst`.
    ///
    /// # Panics
    /// If `rate` or `burst` is zero.
    pub fn per_second(rate: u32, burst: u32) -> RateLimitLayer {
        assert!(rate > 0 && burst > 0, "rate limit: rate and burst must be positive");
        RateLimitLayer::new(Duration::from_secs(1) / rate, burst)
    }

    /// One request every `interval` on average, bursts of up to `burst`.
    ///
    /// # Panics
    /// If `interval` or `burst` is zero.
    pub fn new(interval: Duration, burst: u32) -> RateLimitLayer {
        assert!(!interval.is_zero() && burst > 0, "rate limit: interval and burst must be positive");
        let shards = (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect();
        let max_per_shard = DEFAULT_MAX_CLIENTS.div_ceil(SHARDS);
        RateLimitLayer { limiter: Arc::new(Limiter { interval, burst, max_per_shard, shards, shared: None }) }
    }

    /// Keeps the buckets in `shared`, this process's own as the fallback.
    #[must_use]
    pub fn shared(mut self, shared: Arc<dyn SharedBuckets>) -> RateLimitLayer {
        let limiter = Arc::get_mut(&mut self.limiter).expect("configured before it is cloned");
        limiter.shared = Some(shared);
        self
    }

    /// Tracks at most `max` clients (default [`DEFAULT_MAX_CLIENTS`]).
    #[must_use]
    pub fn max_clients(self, max: usize) -> RateLimitLayer {
        let mut layer = self;
        Arc::get_mut(&mut layer.limiter).expect("configured before it is cloned").max_per_shard =
            max.div_ceil(SHARDS).max(1);
        layer
    }
}

impl Limiter {
    fn tolerance(&self) -> Duration {
        self.interval * (self.burst - 1)
    }

    fn check(&self, client: IpAddr, now: Instant) -> Decision {
        let shard = {
            use std::hash::BuildHasher;
            let hasher =
                std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
            &self.shards[hasher.hash_one(client) as usize % SHARDS]
        };
        let mut buckets = shard.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= self.max_per_shard && !buckets.contains_key(&client) {
            buckets.retain(|_, tat| *tat > now);
            if buckets.len() >= self.max_per_shard {
                tracing::warn!(%client, "rate limiter full; letting a new client through untracked");
                return Decision {
                    allowed: true,
                    remaining: self.burst - 1,
                    reset: self.interval,
                    retry_after: Duration::ZERO,
                };
            }
        }
        let tat = buckets.get(&client).copied().filter(|t| *t > now).unwrap_or(now);
        let ahead = tat - now;
        let tolerance = self.tolerance();
        if ahead > tolerance {
            return Decision { allowed: false, remaining: 0, reset: ahead, retry_after: ahead - tolerance };
        }
        let new_tat = tat + self.interval;
        buckets.insert(client, new_tat);
        let used = new_tat - now; // ≥ interval
        let free = (tolerance + self.interval).saturating_sub(used);
        let remaining = (free.as_nanos() / self.interval.as_nanos()) as u32;
        Decision { allowed: true, remaining, reset: used, retry_after: Duration::ZERO }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;
    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit { inner, limiter: self.limiter.clone() }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct RateLimit<S> {
    inner: S,
    limiter: Arc<Limiter>,
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_nanos().div_ceil(1_000_000_000) as u64
}

impl<S: Service> Service for RateLimit<S> {
    #[allow(clippy::manual_async_fn)] // an `async fn` here would not promise `Send`
    fn call(&self, request: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        async move {
            let client =
                PeerAddr::of(request.extensions()).map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.ip());
            let limiter = &self.limiter;
            let shared = match &limiter.shared {
                Some(buckets) => buckets.check(client, limiter.interval, limiter.burst).await,
                None => None,
            };
            let decision = shared.unwrap_or_else(|| limiter.check(client, Instant::now()));
            let mut response = if decision.allowed {
                self.inner.call(request).await
            } else {
                let wait = ceil_secs(decision.retry_after).max(1);
                let mut r = error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!("rate limit exceeded; retry in {wait} s"),
                );
                r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(wait));
                r
            };
            let window = ceil_secs(limiter.interval * limiter.burst);
            let h = response.headers_mut();
            let policy = format!("\"ip\";q={};w={window}", limiter.burst);
            let state = format!("\"ip\";r={};t={}", decision.remaining, ceil_secs(decision.reset));
            h.insert("ratelimit-policy", HeaderValue::try_from(policy).expect("digits and quotes"));
            h.insert("ratelimit", HeaderValue::try_from(state).expect("digits and quotes"));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_allows_the_burst_then_one_per_interval() {
        let rt = kiln_runtime::runtime::Builder::new_current_thread().start_paused(true).build().unwrap();
        rt.block_on(async {
            let layer = RateLimitLayer::per_second(10, 3); // every 100 ms, bursts of 3
            let l = &layer.limiter;
            let ip: IpAddr = "10.0.0.1".parse().unwrap();
            let other: IpAddr = "10.0.0.2".parse().unwrap();
            let t0 = Instant::now();
            let remaining: Vec<u32> = (0..3).map(|_| l.check(ip, t0).remaining).collect();
            assert_eq!(remaining, [2, 1, 0], "a burst of 3");
            let refused = l.check(ip, t0);
            assert!(!refused.allowed);
            assert_eq!(refused.retry_after, Duration::from_millis(100));
            assert!(l.check(other, t0).allowed, "buckets are per client");
            assert!(!l.check(ip, t0 + Duration::from_millis(99)).allowed);
            assert!(l.check(ip, t0 + Duration::from_millis(100)).allowed, "one more after one interval");
            let later = l.check(ip, t0 + Duration::from_secs(10));
            assert_eq!(later.remaining, 2, "an idle client's bucket refills to the burst");
        });
    }

    #[test]
    fn a_full_table_forgets_refilled_clients_and_fails_open() {
        let rt = kiln_runtime::runtime::Builder::new_current_thread().start_paused(true).build().unwrap();
        rt.block_on(async {
            let layer = RateLimitLayer::per_second(1, 1).max_clients(SHARDS); // 1 per shard
            let l = &layer.limiter;
            let t0 = Instant::now();
            for i in 0..200u8 {
                assert!(l.check(IpAddr::from([10, 0, 1, i]), t0).allowed, "new clients are never refused");
            }
            let tracked: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
            assert!(tracked <= SHARDS, "{tracked} tracked");
        });
    }
}
