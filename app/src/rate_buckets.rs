//! The auth routes' rate-limit buckets in Redis, so that every API process counts one
//! client's requests together (`kiln_http::middleware::SharedBuckets`).
//!
//! One request is one `EVALSHA` of the GCRA step the in-memory limiter runs (its module doc
//! explains the algorithm): read the client's theoretical arrival time, decide, write the
//! new one with an expiry at which the bucket would be full anyway. The clock is Redis's
//! (`TIME`), so processes on machines whose clocks disagree still share one timeline.
//! When Redis does not answer, the check gives `None` and the process's own buckets decide.

use kiln_http::middleware::{Decision, SharedBuckets};
use kiln_redis::{Client, Script, ToArg};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// `KEYS[1]`: the client's bucket. `ARGV`: interval and tolerance (`interval·(burst−1)`),
/// in µs. Returns `{allowed, remaining, reset µs, retry-after µs}`.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local ahead = tat - now
if ahead > tolerance then return {0, 0, ahead, ahead - tolerance} end
local new_tat = tat + interval
local used = new_tat - now
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(used / 1000))
return {1, math.floor((tolerance + interval - used) / interval), used, 0}
";

/// Buckets under a key prefix in Redis.
#[derive(Debug)]
pub struct RedisBuckets {
    client: Arc<Client>,
    prefix: String,
    script: Script,
}

impl RedisBuckets {
    /// Buckets named `<prefix><client address>`.
    pub fn new(client: Arc<Client>, prefix: &str) -> RedisBuckets {
        RedisBuckets { client, prefix: prefix.to_owned(), script: Script::new(GCRA) }
    }

    async fn step(&self, client: IpAddr, interval: Duration, burst: u32) -> Option<Decision> {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let key = format!("{}{client}", self.prefix);
        let args = [micros(interval).to_arg(), micros(interval * burst.saturating_sub(1)).to_arg()];
        match self.script.invoke::<Vec<i64>>(&self.client, &[&key], &args).await {
            Ok(v) if v.len() == 4 => {
                let d = |us: i64| Duration::from_micros(u64::try_from(us).unwrap_or(0));
                Some(Decision {
                    allowed: v[0] == 1,
                    remaining: u32::try_from(v[1]).unwrap_or(0),
                    reset: d(v[2]),
                    retry_after: d(v[3]),
                })
            }
            Ok(v) => {
                tracing::error!(answer = ?v, "rate limit script: unexpected answer");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "rate limit: Redis did not answer; this process's buckets decide");
                None
            }
        }
    }
}

impl SharedBuckets for RedisBuckets {
    fn check<'a>(
        &'a self,
        client: IpAddr,
        interval: Duration,
        burst: u32,
    ) -> Pin<Box<dyn Future<Output = Option<Decision>> + Send + 'a>> {
        Box::pin(self.step(client, interval, burst))
    }
}
