//! The shared queue backend: jobs in Redis, for API and worker processes on more than one
//! machine (`--redis URL`).
//!
//! Every step that changes a job is one Lua script (`EVALSHA`), and Redis runs a script
//! alone: between reading a job's state and writing the next, no other client runs. That
//! is what makes a claim hand a job to exactly one worker, and what makes completion,
//! failure and heartbeats check the lease owner and act in one step, as the SQLite
//! backend's guarded `UPDATE`s do. The key layout and the helpers every script shares are
//! in `scripts.lua`; each script below says what it does.
//!
//! Available jobs wait in `scheduled`, by due time. A claim first *promotes* the due ones
//! (at most [`PROMOTE_PER_CLAIM`] each time) into `ready`, ordered by priority, then due
//! time, then id, and pops the first: the SQLite backend's order. Running jobs sit in
//! `leases` by lease end; the rescue takes the expired ones from its head.
//!
//! **Durability is Redis's.** A job is as durable as the server's persistence: run it with
//! `appendonly yes` (and `appendfsync always` to lose nothing on a power cut; `everysec`,
//! Redis's default with AOF, risks the last second). Without persistence a Redis restart
//! loses the queue.
//!
//! Idle workers wait on the `wake` channel (every enqueue, release, retry and rescue
//! publishes on it) and poll as well: a message is a hint, and a missed one (a subscriber
//! reconnecting) costs at most a poll interval.

use super::{Enqueued, Failed, Job, JobFilter, JobSpec, JobState, Queue, QueueStats, WorkerId};
use crate::clock::unix_millis;
use crate::error::AppError;
use kiln_redis::{cmd, Client, RedisError, Script, ToArg, Value};
use kiln_runtime::sync::Notify;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "{kiln}:jobs:";

/// Due jobs a claim moves into claim order at most (bounds a script's time after a burst
/// of jobs comes due together; the next claims move the rest).
pub const PROMOTE_PER_CLAIM: usize = 100;

const PRELUDE: &str = include_str!("scripts.lua");

/// `ARGV`: now, kind, payload, priority, run_at, max_attempts, timeout_ms, idempotency key
/// (`''`: none), created_by (`''`: none), traceparent (`''`: none). Returns `{created (1|0), fields}`.
const ENQUEUE: &str = r"
local key = ARGV[8]
if key ~= '' then
  local existing = redis.call('HGET', P .. 'idem', key)
  if existing then return {0, redis.call('HGETALL', job_key(existing))} end
end
local id = redis.call('INCR', P .. 'seq')
redis.call('HSET', job_key(id), 'id', id, 'kind', ARGV[2], 'payload', ARGV[3], 'state', 'available',
  'priority', ARGV[4], 'run_at', ARGV[5], 'attempt', 0, 'max_attempts', ARGV[6], 'timeout_ms', ARGV[7],
  'errors', '[]', 'created_at', ARGV[1])
if key ~= '' then
  redis.call('HSET', job_key(id), 'idempotency_key', key)
  redis.call('HSET', P .. 'idem', key, id)
end
if ARGV[9] ~= '' then redis.call('HSET', job_key(id), 'created_by', ARGV[9]) end
if ARGV[10] ~= '' then redis.call('HSET', job_key(id), 'traceparent', ARGV[10]) end
redis.call('ZADD', P .. 'state:available', id, id)
redis.call('ZADD', P .. 'all', id, id)
schedule(id, ARGV[5])
redis.call('PUBLISH', P .. 'wake', id)
return {1, redis.call('HGETALL', job_key(id))}
";

/// `ARGV`: now, worker, lease_until, promote limit. Returns the claimed job's fields, or nil.
const CLAIM: &str = r"
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', P .. 'scheduled', '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(due) do
  local f = redis.call('HMGET', job_key(id), 'priority', 'run_at')
  redis.call('ZADD', P .. 'ready', -tonumber(f[1]), ready_member(f[2], id))
  redis.call('ZADD', P .. 'due', f[2], id)
  redis.call('ZREM', P .. 'scheduled', id)
end
local top = redis.call('ZPOPMIN', P .. 'ready')
if #top == 0 then return false end
local id = string.format('%d', tonumber(string.sub(top[1], 17)))
redis.call('ZREM', P .. 'due', id)
move_state(id, 'available', 'running')
redis.call('HINCRBY', job_key(id), 'attempt', 1)
redis.call('HSET', job_key(id), 'lease_owner', ARGV[2], 'lease_until', ARGV[3], 'started_at', ARGV[1])
redis.call('ZADD', P .. 'leases', ARGV[3], id)
return redis.call('HGETALL', job_key(id))
";

/// `ARGV`: id, worker, lease_until. Returns 1 if the lease was the worker's and is extended.
const HEARTBEAT: &str = r"
if not held(ARGV[1], ARGV[2]) then return 0 end
redis.call('HSET', job_key(ARGV[1]), 'lease_until', ARGV[3])
redis.call('ZADD', P .. 'leases', ARGV[3], ARGV[1])
return 1
";

/// `ARGV`: id, worker, now. Returns 1 if the worker held the job, now succeeded.
const COMPLETE: &str = r"
local id = ARGV[1]
if not held(id, ARGV[2]) then return 0 end
drop_lease(id)
move_state(id, 'running', 'succeeded')
redis.call('HSET', job_key(id), 'finished_at', ARGV[3])
redis.call('ZADD', P .. 'finished', ARGV[3], id)
return 1
";

/// `ARGV`: id, worker, now, error, retry_at (`''`: none). Returns `retry`, `dead` or `lost`.
const FAIL: &str = r"
local id = ARGV[1]
if not held(id, ARGV[2]) then return 'lost' end
record_error(id, ARGV[3], ARGV[4])
drop_lease(id)
local f = redis.call('HMGET', job_key(id), 'attempt', 'max_attempts')
if ARGV[5] ~= '' and tonumber(f[1]) < tonumber(f[2]) then
  move_state(id, 'running', 'available')
  schedule(id, ARGV[5])
  return 'retry'
end
move_state(id, 'running', 'dead')
redis.call('HSET', job_key(id), 'finished_at', ARGV[3])
return 'dead'
";

/// `ARGV`: id, worker, now. Returns 1 if the worker held the job, now available unrun.
const RELEASE: &str = r"
local id = ARGV[1]
if not held(id, ARGV[2]) then return 0 end
drop_lease(id)
redis.call('HINCRBY', job_key(id), 'attempt', -1)
move_state(id, 'running', 'available')
schedule(id, ARGV[3])
redis.call('PUBLISH', P .. 'wake', id)
return 1
";

/// `ARGV`: now, error, most. Returns how many expired leases were rescued.
const RESCUE: &str = r"
local now = ARGV[1]
local expired = redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(expired) do
  record_error(id, now, ARGV[2])
  drop_lease(id)
  local f = redis.call('HMGET', job_key(id), 'attempt', 'max_attempts')
  if tonumber(f[1]) >= tonumber(f[2]) then
    move_state(id, 'running', 'dead')
    redis.call('HSET', job_key(id), 'finished_at', now)
  else
    move_state(id, 'running', 'available')
    schedule(id, now)
  end
end
if #expired > 0 then redis.call('PUBLISH', P .. 'wake', 'rescue') end
return #expired
";

/// `ARGV`: before, most. Deletes succeeded and cancelled jobs finished before `before`.
const PRUNE: &str = r"
local old = redis.call('ZRANGEBYSCORE', P .. 'finished', '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(old) do
  local f = redis.call('HMGET', job_key(id), 'state', 'idempotency_key')
  if f[1] then redis.call('ZREM', P .. 'state:' .. f[1], id) end
  if f[2] then redis.call('HDEL', P .. 'idem', f[2]) end
  redis.call('ZREM', P .. 'all', id)
  redis.call('ZREM', P .. 'finished', id)
  redis.call('DEL', job_key(id))
end
return #old
";

/// `ARGV`: id, now. A dead or cancelled job, available again with fresh attempts; its
/// fields, or nil.
const RETRY: &str = r"
local id = ARGV[1]
local state = redis.call('HGET', job_key(id), 'state')
if state ~= 'dead' and state ~= 'cancelled' then return false end
redis.call('ZREM', P .. 'finished', id)
redis.call('HSET', job_key(id), 'attempt', 0)
redis.call('HDEL', job_key(id), 'finished_at')
move_state(id, state, 'available')
schedule(id, ARGV[2])
redis.call('PUBLISH', P .. 'wake', id)
return redis.call('HGETALL', job_key(id))
";

/// `ARGV`: id, now. Returns `{'cancelled', fields}`, `{'state', state}`, or nil for no job.
const CANCEL: &str = r"
local id = ARGV[1]
local f = redis.call('HMGET', job_key(id), 'state', 'run_at')
if not f[1] then return false end
if f[1] ~= 'available' then return {'state', f[1]} end
redis.call('ZREM', P .. 'scheduled', id)
redis.call('ZREM', P .. 'ready', ready_member(f[2], id))
redis.call('ZREM', P .. 'due', id)
move_state(id, 'available', 'cancelled')
redis.call('HSET', job_key(id), 'finished_at', ARGV[2])
redis.call('ZADD', P .. 'finished', ARGV[2], id)
return {'cancelled', redis.call('HGETALL', job_key(id))}
";

/// Expired leases a rescue takes at most per call (it runs every half lease).
const RESCUE_BATCH: usize = 1000;
/// Finished jobs a prune deletes at most per call.
const PRUNE_BATCH: usize = 1000;

struct Scripts {
    enqueue: Script,
    claim: Script,
    heartbeat: Script,
    complete: Script,
    fail: Script,
    release: Script,
    rescue: Script,
    prune: Script,
    retry: Script,
    cancel: Script,
}

impl Scripts {
    fn new() -> Scripts {
        let s = |body: &str| Script::new(&format!("{PRELUDE}\n{body}"));
        Scripts {
            enqueue: s(ENQUEUE),
            claim: s(CLAIM),
            heartbeat: s(HEARTBEAT),
            complete: s(COMPLETE),
            fail: s(FAIL),
            release: s(RELEASE),
            rescue: s(RESCUE),
            prune: s(PRUNE),
            retry: s(RETRY),
            cancel: s(CANCEL),
        }
    }
}

/// The queue in Redis.
pub struct RedisQueue {
    client: Arc<Client>,
    prefix: String,
    scripts: Scripts,
    /// Woken by messages on the `wake` channel.
    work: Arc<Notify>,
    listener: kiln_runtime::task::JoinHandle<()>,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl Drop for RedisQueue {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

fn args(values: &[&(dyn ToArg + Sync)]) -> Vec<Vec<u8>> {
    values.iter().map(|v| v.to_arg()).collect()
}

impl RedisQueue {
    /// The queue under `prefix` ([`DEFAULT_PREFIX`]) in `client`'s Redis, with a task that
    /// listens for wake-ups (it subscribes again after a lost connection).
    pub fn new(client: Arc<Client>, prefix: &str) -> RedisQueue {
        let work = Arc::new(Notify::new());
        let listener = kiln_runtime::spawn(listen(client.clone(), format!("{prefix}wake"), work.clone()));
        RedisQueue { client, prefix: prefix.to_owned(), scripts: Scripts::new(), work, listener }
    }

    async fn run<T: kiln_redis::FromValue>(
        &self,
        script: &Script,
        argv: &[&(dyn ToArg + Sync)],
    ) -> Result<T, AppError> {
        Ok(script.invoke(&self.client, &[self.prefix.as_str()], &args(argv)).await?)
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// Wakes `work` for each message on `channel`; subscribes again, a second later, when the
/// connection is lost.
async fn listen(client: Arc<Client>, channel: String, work: Arc<Notify>) {
    loop {
        match client.subscribe(&[&channel]).await {
            Ok(mut subscription) => {
                // Jobs may have been added while no one listened.
                work.notify_one();
                while subscription.next_message().await.is_some() {
                    work.notify_one();
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "job queue: cannot subscribe to wake-ups; polling meanwhile")
            }
        }
        kiln_runtime::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A job from the flat `[field, value, …]` list `HGETALL` gives.
fn job(value: Value) -> Result<Job, AppError> {
    let flat: Vec<String> = kiln_redis::FromValue::from_value(value)?;
    let mut fields: HashMap<String, String> = HashMap::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        fields.insert(k, v);
    }
    let bad = |name: &str| AppError::Internal(format!("job hash: field {name} is missing or malformed"));
    let text = |name: &str| fields.get(name).cloned();
    let number = |name: &str| -> Result<Option<i64>, AppError> {
        fields.get(name).map(|v| v.parse::<i64>().map_err(|_| bad(name))).transpose()
    };
    let required = |name: &str| number(name)?.ok_or_else(|| bad(name));
    let json = |name: &str| -> Result<serde_json::Value, AppError> {
        serde_json::from_str(fields.get(name).ok_or_else(|| bad(name))?).map_err(|_| bad(name))
    };
    let small =
        |name: &str| -> Result<u32, AppError> { u32::try_from(required(name)?).map_err(|_| bad(name)) };
    Ok(Job {
        id: required("id")?,
        kind: text("kind").ok_or_else(|| bad("kind"))?,
        payload: json("payload")?,
        state: text("state").as_deref().and_then(JobState::parse).ok_or_else(|| bad("state"))?,
        priority: i32::try_from(required("priority")?).map_err(|_| bad("priority"))?,
        run_at: required("run_at")?,
        attempt: small("attempt")?,
        max_attempts: small("max_attempts")?,
        timeout_ms: u64::try_from(required("timeout_ms")?).map_err(|_| bad("timeout_ms"))?,
        idempotency_key: text("idempotency_key"),
        created_by: number("created_by")?,
        last_error: text("last_error"),
        errors: json("errors")?,
        created_at: required("created_at")?,
        started_at: number("started_at")?,
        finished_at: number("finished_at")?,
        lease_owner: text("lease_owner"),
        traceparent: text("traceparent"),
    })
}

/// Whether `HGETALL` found no hash.
fn is_empty(fields: &Value) -> bool {
    matches!(fields, Value::Map(pairs) if pairs.is_empty())
        || matches!(fields, Value::Array(items) if items.is_empty())
}

/// A job, or `None` for the nil a script returns when there is none.
fn maybe_job(value: Value) -> Result<Option<Job>, AppError> {
    match value {
        Value::Nil => Ok(None),
        v => job(v).map(Some),
    }
}

/// The two parts of a script's `{tag, rest}` answer.
fn pair(value: Value) -> Result<(Value, Value), AppError> {
    match value {
        Value::Array(items) if items.len() == 2 => {
            let mut it = items.into_iter();
            Ok((it.next().expect("two"), it.next().expect("two")))
        }
        other => Err(AppError::Internal(format!("job queue script: unexpected answer {other:?}"))),
    }
}

impl Queue for RedisQueue {
    async fn enqueue(&self, spec: JobSpec) -> Result<Enqueued, AppError> {
        let now = unix_millis();
        let timeout_ms = u64::try_from(spec.timeout.as_millis()).unwrap_or(u64::MAX).max(1);
        let answer: Value = self
            .run(
                &self.scripts.enqueue,
                &[
                    &now,
                    &spec.kind,
                    &spec.payload.to_string(),
                    &spec.priority,
                    &spec.run_at.unwrap_or(now),
                    &spec.max_attempts,
                    &timeout_ms,
                    &spec.idempotency_key.unwrap_or_default(),
                    &spec.created_by.map(|u| u.to_string()).unwrap_or_default(),
                    &spec.traceparent.unwrap_or_default(),
                ],
            )
            .await?;
        let (created, fields) = pair(answer)?;
        Ok(Enqueued { job: job(fields)?, created: matches!(created, Value::Int(1)) })
    }

    async fn claim(&self, worker: &WorkerId, lease_until: i64) -> Result<Option<Job>, AppError> {
        let answer: Value = self
            .run(&self.scripts.claim, &[&unix_millis(), &worker.as_str(), &lease_until, &PROMOTE_PER_CLAIM])
            .await?;
        maybe_job(answer)
    }

    async fn heartbeat(&self, id: i64, worker: &WorkerId, lease_until: i64) -> Result<bool, AppError> {
        let held: i64 = self.run(&self.scripts.heartbeat, &[&id, &worker.as_str(), &lease_until]).await?;
        Ok(held == 1)
    }

    async fn complete(&self, id: i64, worker: &WorkerId) -> Result<bool, AppError> {
        let held: i64 = self.run(&self.scripts.complete, &[&id, &worker.as_str(), &unix_millis()]).await?;
        Ok(held == 1)
    }

    async fn fail(
        &self,
        id: i64,
        worker: &WorkerId,
        error: String,
        retry_at: Option<i64>,
    ) -> Result<Failed, AppError> {
        let retry = retry_at.map(|t| t.to_string()).unwrap_or_default();
        let outcome: String =
            self.run(&self.scripts.fail, &[&id, &worker.as_str(), &unix_millis(), &error, &retry]).await?;
        match (outcome.as_str(), retry_at) {
            ("retry", Some(at)) => Ok(Failed::Retry(at)),
            ("dead", _) => Ok(Failed::Dead),
            ("lost", _) => Ok(Failed::LeaseLost),
            (other, _) => Err(AppError::Internal(format!("job queue: the fail script answered {other:?}"))),
        }
    }

    async fn release(&self, id: i64, worker: &WorkerId) -> Result<bool, AppError> {
        let held: i64 = self.run(&self.scripts.release, &[&id, &worker.as_str(), &unix_millis()]).await?;
        Ok(held == 1)
    }

    async fn rescue(&self, now: i64) -> Result<u64, AppError> {
        let error = "the worker stopped renewing its lease (it died or lost Redis)";
        let rescued: u64 = self.run(&self.scripts.rescue, &[&now, &error, &RESCUE_BATCH]).await?;
        if rescued > 0 {
            tracing::warn!(rescued, "jobs whose worker stopped renewing the lease are available again");
        }
        Ok(rescued)
    }

    async fn prune(&self, before: i64) -> Result<u64, AppError> {
        self.run(&self.scripts.prune, &[&before, &PRUNE_BATCH]).await
    }

    async fn get(&self, id: i64) -> Result<Option<Job>, AppError> {
        let fields: Value = self.client.query(&cmd("HGETALL").arg(self.key(&format!("job:{id}")))).await?;
        if is_empty(&fields) {
            return Ok(None);
        }
        job(fields).map(Some)
    }

    async fn list(&self, filter: JobFilter) -> Result<Vec<Job>, AppError> {
        // Newest first from the state's index (or every job's), in batches; the kind and
        // user filters are applied here, so a rare kind may take several batches.
        let index = match filter.state {
            Some(s) => self.key(&format!("state:{}", s.as_str())),
            None => self.key("all"),
        };
        let limit = filter.limit as usize;
        let batch = (limit * 4).clamp(16, 1000);
        let mut below = filter.before_id.map_or_else(|| "+inf".to_owned(), |id| format!("({id}"));
        let mut page = Vec::with_capacity(limit);
        while page.len() < limit {
            let ids: Vec<i64> = self
                .client
                .query(
                    &cmd("ZREVRANGEBYSCORE")
                        .arg(&index)
                        .arg(&below)
                        .arg("-inf")
                        .arg("LIMIT")
                        .arg(0)
                        .arg(batch),
                )
                .await?;
            let Some(last) = ids.last() else { break };
            below = format!("({last}");
            let reads: Vec<_> =
                ids.iter().map(|id| cmd("HGETALL").arg(self.key(&format!("job:{id}")))).collect();
            for answer in self.client.pipeline(&reads).await? {
                let fields = answer?;
                if is_empty(&fields) {
                    continue; // pruned between the two reads
                }
                let job = job(fields)?;
                if filter.kind.as_ref().is_some_and(|k| *k != job.kind)
                    || filter.created_by.is_some_and(|u| Some(u) != job.created_by)
                {
                    continue;
                }
                page.push(job);
                if page.len() == limit {
                    break;
                }
            }
            if ids.len() < batch {
                break;
            }
        }
        Ok(page)
    }

    async fn retry(&self, id: i64) -> Result<Option<Job>, AppError> {
        let answer: Value = self.run(&self.scripts.retry, &[&id, &unix_millis()]).await?;
        maybe_job(answer)
    }

    async fn cancel(&self, id: i64) -> Result<Option<Result<Job, JobState>>, AppError> {
        let answer: Value = self.run(&self.scripts.cancel, &[&id, &unix_millis()]).await?;
        if answer == Value::Nil {
            return Ok(None);
        }
        let (tag, rest) = pair(answer)?;
        let tag: String = kiln_redis::FromValue::from_value(tag)?;
        if tag == "cancelled" {
            return Ok(Some(Ok(job(rest)?)));
        }
        let state: String = kiln_redis::FromValue::from_value(rest)?;
        let state = JobState::parse(&state)
            .ok_or_else(|| AppError::Internal(format!("job queue: unknown state {state:?}")))?;
        Ok(Some(Err(state)))
    }

    async fn stats(&self) -> Result<QueueStats, AppError> {
        let now = unix_millis();
        let mut reads: Vec<_> = JobState::ALL
            .iter()
            .map(|s| cmd("ZCARD").arg(self.key(&format!("state:{}", s.as_str()))))
            .collect();
        reads.push(cmd("ZRANGE").arg(self.key("due")).arg(0).arg(0).arg("WITHSCORES"));
        reads.push(
            cmd("ZRANGEBYSCORE")
                .arg(self.key("scheduled"))
                .arg("-inf")
                .arg(now)
                .arg("WITHSCORES")
                .arg("LIMIT")
                .arg(0)
                .arg(1),
        );
        let mut answers = self.client.pipeline(&reads).await?.into_iter();
        let mut by_state = Vec::with_capacity(JobState::ALL.len());
        for state in JobState::ALL {
            let n: u64 = kiln_redis::FromValue::from_value(answers.next().expect("an answer per read")?)?;
            by_state.push((state, n));
        }
        let mut oldest: Option<i64> = None;
        for answer in answers {
            if let Some(t) = first_score(answer?)? {
                oldest = Some(oldest.map_or(t, |o| o.min(t)));
            }
        }
        Ok(QueueStats { by_state, oldest_due_ms: oldest.map_or(0, |t| (now - t).max(0)) })
    }

    async fn wait_for_work(&self) {
        self.work.notified().await;
    }
}

/// The score of the first member of a `WITHSCORES` answer (RESP2 flat or RESP3 pairs).
fn first_score(value: Value) -> Result<Option<i64>, RedisError> {
    let score = match value {
        Value::Array(items) => {
            let mut it = items.into_iter();
            match it.next() {
                None => return Ok(None),
                Some(Value::Array(pair)) => pair.into_iter().nth(1), // RESP3: [[member, score]]
                Some(_member) => it.next(),                          // RESP2: [member, score]
            }
        }
        other => return Err(RedisError::Type(format!("expected a list, got {other:?}"))),
    };
    match score {
        Some(Value::Double(d)) => Ok(Some(d as i64)),
        Some(v) => {
            let text: String = kiln_redis::FromValue::from_value(v)?;
            text.parse::<f64>().map(|d| Some(d as i64)).map_err(|e| RedisError::Type(e.to_string()))
        }
        None => Err(RedisError::Type("a WITHSCORES answer without a score".into())),
    }
}
