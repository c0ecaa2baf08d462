//! The worker pool: `concurrency` workers running jobs from a [`Queue`].
//!
//! Work is claimed on demand, never ahead: an idle worker sends the dispatcher a
//! `oneshot::Sender` ("give me a job") over an `mpsc` channel, and the dispatcher claims one
//! job for it — or waits for one: an enqueue in this process wakes it at once, and it polls
//! every `poll` for jobs other processes added and retries coming due. A claimed job is
//! never held in a channel while its lease runs, and a pool never holds more jobs than it
//! has idle workers.
//!
//! A worker runs the handler as a task of its own (a panic becomes a failed attempt, not a
//! dead worker) and, while it runs, renews the lease every third of its length and watches
//! the job's time limit. The dispatcher also does the queue's upkeep: every half lease it
//! rescues jobs whose lease ran out (their worker died), and every `prune_every` it deletes
//! finished jobs older than `retention`.
//!
//! **Stopping.** [`WorkerPool::shutdown`] stops claiming, lets running jobs finish for up to
//! `drain`, then stops the rest and releases them (available again at once, the attempt not
//! counted) so another worker — or this service after its restart — runs them. It logs what
//! it waited for and returns a [`WorkerSummary`].

use super::registry::{JobContext, JobError, Registry};
use super::{Backoff, Failed, Job, Queue, WorkerId};
use crate::clock::unix_millis;
use kiln_http::middleware::TraceContext;
use kiln_runtime::sync::{mpsc, oneshot, watch};
use kiln_runtime::task::JoinHandle;
use kiln_runtime::time::{sleep, Instant};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How a pool runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Jobs run at once.
    pub concurrency: usize,
    /// A claim's lease; renewed every third of it while the job runs.
    pub lease: Duration,
    /// How often an idle pool looks for jobs it was not woken for.
    pub poll: Duration,
    /// How long running jobs may finish at shutdown before they are released.
    pub drain: Duration,
    /// When failed jobs run again.
    pub backoff: Backoff,
    /// How long succeeded and cancelled jobs are kept.
    pub retention: Duration,
    /// How often old jobs are pruned.
    pub prune_every: Duration,
}

impl Default for WorkerConfig {
    fn default() -> WorkerConfig {
        WorkerConfig {
            concurrency: 4,
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            drain: Duration::from_secs(10),
            backoff: Backoff::default(),
            retention: Duration::from_secs(7 * 86_400),
            prune_every: Duration::from_secs(60),
        }
    }
}

/// What a pool did, counted since it started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Jobs claimed.
    pub started: AtomicU64,
    /// Attempts that succeeded.
    pub succeeded: AtomicU64,
    /// Attempts that failed and will run again.
    pub retried: AtomicU64,
    /// Jobs that died.
    pub dead: AtomicU64,
    /// Jobs given back at shutdown.
    pub released: AtomicU64,
    /// Claim-to-start waits summed, ms (with `started`, the average queue latency).
    pub queue_wait_ms: AtomicU64,
    /// The same counts by job kind (`/metrics` labels them): started, succeeded, retried, dead.
    pub by_kind: std::sync::Mutex<std::collections::BTreeMap<String, [u64; 4]>>,
}

/// A count of [`Counters::by_kind`].
#[derive(Debug, Clone, Copy)]
pub enum KindCount {
    /// Claimed.
    Started = 0,
    /// Succeeded.
    Succeeded = 1,
    /// Failed, to run again.
    Retried = 2,
    /// Died.
    Dead = 3,
}

impl Counters {
    fn count(&self, kind: &str, what: KindCount) {
        let mut by_kind = self.by_kind.lock().unwrap_or_else(|e| e.into_inner());
        match by_kind.get_mut(kind) {
            Some(counts) => counts[what as usize] += 1,
            None => {
                let mut counts = [0; 4];
                counts[what as usize] = 1;
                by_kind.insert(kind.to_owned(), counts);
            }
        }
    }
}

/// What [`WorkerPool::shutdown`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSummary {
    /// Jobs that succeeded over the pool's life.
    pub succeeded: u64,
    /// Jobs running when the shutdown began that finished within the drain.
    pub finished_in_drain: u64,
    /// Jobs still running at the end of the drain, released for another worker.
    pub released: u64,
}

/// A running pool.
pub struct WorkerPool {
    stop: watch::Sender<Stop>,
    dispatcher: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
    running: Arc<AtomicU64>,
    counters: Arc<Counters>,
    drain: Duration,
}

/// How far a shutdown has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stop {
    Running,
    /// No new claims; running jobs finish.
    Draining,
    /// Running jobs are released now.
    Releasing,
}

impl WorkerPool {
    /// Starts `config.concurrency` workers on `queue`, running the kinds of `registry`.
    pub fn start<Q: Queue>(queue: Arc<Q>, registry: Arc<Registry>, config: WorkerConfig) -> WorkerPool {
        WorkerPool::start_counting(queue, registry, config, Arc::default())
    }

    /// [`WorkerPool::start`], counting into `counters` (which a dashboard reads).
    pub fn start_counting<Q: Queue>(
        queue: Arc<Q>,
        registry: Arc<Registry>,
        config: WorkerConfig,
        counters: Arc<Counters>,
    ) -> WorkerPool {
        let id = WorkerId::new();
        let (stop, stopping) = watch::channel(Stop::Running);
        let (ask, asks) = mpsc::channel::<oneshot::Sender<Job>>(config.concurrency.max(1));
        let running = Arc::new(AtomicU64::new(0));
        let workers = (0..config.concurrency.max(1))
            .map(|_| {
                let worker = Worker {
                    id: id.clone(),
                    queue: queue.clone(),
                    registry: registry.clone(),
                    config,
                    stopping: stopping.clone(),
                    running: running.clone(),
                    counters: counters.clone(),
                };
                kiln_runtime::spawn(worker.run(ask.clone()))
            })
            .collect();
        let dispatcher = kiln_runtime::spawn(dispatch(queue, id.clone(), config, asks, stopping));
        tracing::info!(worker = id.as_str(), concurrency = config.concurrency, "job workers started");
        WorkerPool { stop, dispatcher, workers, running, counters, drain: config.drain }
    }

    /// The pool's counters, live.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// Stops claiming, waits up to the drain for running jobs, releases the rest, and waits
    /// for every worker to end.
    pub async fn shutdown(self) -> WorkerSummary {
        let WorkerPool { stop, dispatcher, workers, running, counters, drain } = self;
        let at_start = running.load(Ordering::SeqCst);
        let _ = stop.send(Stop::Draining);
        // Not aborted: a claim it has started commits anyway (on the blocking pool), and the
        // dispatcher must see it through to release the job; it then ends by itself.
        let _ = dispatcher.await;
        if at_start > 0 {
            tracing::info!(running = at_start, drain = ?drain, "job workers: waiting for running jobs to finish");
        }
        let deadline = Instant::now() + drain;
        while running.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            sleep(Duration::from_millis(10)).await;
        }
        let left = running.load(Ordering::SeqCst);
        let _ = stop.send(Stop::Releasing);
        for worker in workers {
            let _ = worker.await;
        }
        let released = counters.released.load(Ordering::SeqCst);
        let summary = WorkerSummary {
            succeeded: counters.succeeded.load(Ordering::SeqCst),
            finished_in_drain: at_start.saturating_sub(left),
            released,
        };
        tracing::info!(
            finished_in_drain = summary.finished_in_drain,
            released = summary.released,
            "job workers stopped"
        );
        summary
    }
}

/// Hands claimed jobs to idle workers; rescues expired leases and prunes old jobs.
async fn dispatch<Q: Queue>(
    queue: Arc<Q>,
    id: WorkerId,
    config: WorkerConfig,
    mut asks: mpsc::Receiver<oneshot::Sender<Job>>,
    mut stopping: watch::Receiver<Stop>,
) {
    let mut next_rescue = Instant::now();
    let mut next_prune = Instant::now();
    let upkeep_every = config.lease / 2;
    loop {
        let reply = kiln_runtime::select! {
            reply = asks.recv() => match reply { Some(reply) => reply, None => return },
            _ = stopping.wait_for(|s| *s != Stop::Running) => return,
        };
        // One job for this idle worker: claim, or wait for one.
        let job = loop {
            let now = Instant::now();
            if now >= next_rescue {
                next_rescue = now + upkeep_every;
                if let Err(e) = queue.rescue(unix_millis()).await {
                    tracing::error!(error = %e, "job rescue failed");
                }
            }
            if now >= next_prune {
                next_prune = now + config.prune_every;
                let before = unix_millis() - i64::try_from(config.retention.as_millis()).unwrap_or(i64::MAX);
                match queue.prune(before).await {
                    Ok(0) => {}
                    Ok(pruned) => tracing::info!(pruned, "old jobs pruned"),
                    Err(e) => tracing::error!(error = %e, "job pruning failed"),
                }
            }
            let lease_until = unix_millis() + millis(config.lease);
            match queue.claim(&id, lease_until).await {
                Ok(Some(job)) => break job,
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "claiming a job failed; trying again"),
            }
            let wait = config.poll.min(next_rescue.saturating_duration_since(Instant::now()));
            kiln_runtime::select! {
                () = queue.wait_for_work() => {}
                () = sleep(wait) => {}
                _ = stopping.wait_for(|s| *s != Stop::Running) => return,
            }
        };
        if let Err(unsent) = reply.send(job) {
            // The worker stopped meanwhile: the job goes back at once.
            let _ = queue.release(unsent.id, &id).await;
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One worker: asks for a job, runs it, repeats until the pool stops.
struct Worker<Q> {
    id: WorkerId,
    queue: Arc<Q>,
    registry: Arc<Registry>,
    config: WorkerConfig,
    stopping: watch::Receiver<Stop>,
    running: Arc<AtomicU64>,
    counters: Arc<Counters>,
}

impl<Q: Queue> Worker<Q> {
    async fn run(mut self, ask: mpsc::Sender<oneshot::Sender<Job>>) {
        loop {
            let (reply, job) = oneshot::channel();
            if ask.send(reply).await.is_err() {
                return; // the dispatcher ended: the pool is stopping
            }
            let job = kiln_runtime::select! {
                job = job => match job { Ok(job) => job, Err(_) => return },
                _ = self.stopping.wait_for(|s| *s != Stop::Running) => return,
            };
            self.running.fetch_add(1, Ordering::SeqCst);
            self.run_one(job).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Runs one claimed job to its end: success, failure, timeout, or release at shutdown.
    async fn run_one(&mut self, job: Job) {
        self.counters.started.fetch_add(1, Ordering::Relaxed);
        self.counters.count(&job.kind, KindCount::Started);
        let waited = job.started_at.unwrap_or(job.run_at) - job.run_at;
        self.counters.queue_wait_ms.fetch_add(u64::try_from(waited).unwrap_or(0), Ordering::Relaxed);
        let Some(kind) = self.registry.get(&job.kind).cloned() else {
            let error = format!("no handler for job kind {:?} in this service", job.kind);
            self.finish(&job, Err(JobError::Permanent(error))).await;
            return;
        };
        // The job's span continues the enqueuing request's trace as its child (a job enqueued
        // outside any trace starts one); the handler's logs and calls carry it.
        let parent = job.traceparent.as_deref().and_then(|t| TraceContext::parse(t, None));
        let trace = parent.as_ref().map_or_else(TraceContext::root, TraceContext::child);
        let span = tracing::info_span!(
            "job",
            id = job.id,
            kind = %job.kind,
            attempt = job.attempt,
            trace_id = %trace.trace_id,
            span_id = %trace.span_id,
            parent_id = parent.as_ref().map(|p| tracing::field::display(&p.span_id)),
            "otel.kind" = "consumer",
            "otel.status_code" = tracing::field::Empty,
            "otel.status_message" = tracing::field::Empty,
        );
        let cx = JobContext { id: job.id, attempt: job.attempt, payload: job.payload.clone(), trace };
        let mut handler = kiln_runtime::spawn(tracing::Instrument::instrument(kind.run(cx), span.clone()));
        let mut time_limit = sleep(Duration::from_millis(job.timeout_ms));
        let renew_every = self.config.lease / 3;
        loop {
            let step = kiln_runtime::select! {
                biased;
                outcome = &mut handler => Step::Done(match outcome {
                    Ok(result) => result,
                    Err(e) if e.is_panic() => Err(JobError::Retry(format!("the handler panicked: {}", panic_message(e)))),
                    Err(e) => Err(JobError::Retry(format!("the handler was cancelled: {e}"))),
                }),
                () = &mut time_limit => {
                    handler.abort();
                    Step::Done(Err(JobError::Retry(format!("timed out after {} ms", job.timeout_ms))))
                }
                _ = self.stopping.wait_for(|s| *s == Stop::Releasing) => Step::Release,
                () = sleep(renew_every) => Step::Renew,
            };
            match step {
                Step::Done(outcome) => {
                    if let Err(error) = &outcome {
                        span.record("otel.status_code", "error");
                        span.record("otel.status_message", tracing::field::display(error));
                    }
                    // Recording the outcome (and its log line) is part of the job's span.
                    return tracing::Instrument::instrument(self.finish(&job, outcome), span).await;
                }
                Step::Release => {
                    handler.abort();
                    if let Ok(true) = self.queue.release(job.id, &self.id).await {
                        self.counters.released.fetch_add(1, Ordering::SeqCst);
                        tracing::info!(job = job.id, kind = %job.kind, "job released at shutdown: it runs again elsewhere");
                    }
                    return;
                }
                Step::Renew => {
                    let lease_until = unix_millis() + millis(self.config.lease);
                    match self.queue.heartbeat(job.id, &self.id, lease_until).await {
                        Ok(true) => {}
                        Ok(false) => {
                            // Rescued meanwhile: another worker may be running it now.
                            handler.abort();
                            tracing::warn!(job = job.id, "lost the lease of a running job; stopped it");
                            return;
                        }
                        Err(e) => tracing::error!(job = job.id, error = %e, "renewing a lease failed"),
                    }
                }
            }
        }
    }

    /// Records a finished attempt.
    async fn finish(&self, job: &Job, outcome: Result<(), JobError>) {
        let recorded = match outcome {
            Ok(()) => match self.queue.complete(job.id, &self.id).await {
                Ok(true) => {
                    self.counters.succeeded.fetch_add(1, Ordering::Relaxed);
                    self.counters.count(&job.kind, KindCount::Succeeded);
                    Ok(())
                }
                Ok(false) => {
                    tracing::warn!(job = job.id, "finished a job whose lease was lost");
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Err(error) => {
                let retry_at = match &error {
                    JobError::Retry(_) => {
                        Some(unix_millis() + millis(self.config.backoff.delay(job.attempt)))
                    }
                    JobError::Permanent(_) => None,
                };
                match self.queue.fail(job.id, &self.id, error.to_string(), retry_at).await {
                    Ok(Failed::Retry(at)) => {
                        self.counters.retried.fetch_add(1, Ordering::Relaxed);
                        self.counters.count(&job.kind, KindCount::Retried);
                        tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempt, %error, in_ms = at - unix_millis(), "job failed; it runs again");
                        Ok(())
                    }
                    Ok(Failed::Dead) => {
                        self.counters.dead.fetch_add(1, Ordering::Relaxed);
                        self.counters.count(&job.kind, KindCount::Dead);
                        tracing::error!(job = job.id, kind = %job.kind, attempt = job.attempt, %error, "job is dead");
                        Ok(())
                    }
                    Ok(Failed::LeaseLost) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = recorded {
            // The lease runs out and the job is rescued: at least once still holds.
            tracing::error!(job = job.id, error = %e, "recording a job's outcome failed");
        }
    }
}

/// What happened while a job ran.
enum Step {
    /// The handler ended (or ran out of time) with this outcome.
    Done(Result<(), JobError>),
    /// The pool is stopping and the drain is over.
    Release,
    /// Time to renew the lease.
    Renew,
}

fn panic_message(e: kiln_runtime::task::JoinError) -> String {
    let payload = e.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}
