//! The batch exporter: one task that takes finished spans from the layer's queue and POSTs
//! them, a batch at a time, to the collector's `/v1/traces` through Kiln's HTTP client.
//!
//! It follows OpenTelemetry's batch span processor: a batch goes out when it reaches the
//! batch size, when the schedule delay has passed since the last one, or when someone asks
//! for a flush (the service does at shutdown, after its workers stopped, so the last jobs'
//! spans are in it). One export at a time. A collector that answers 429, 502, 503 or 504, or
//! cannot be reached, is tried again (after its `Retry-After`, or a short backoff) a few
//! times; after that, or on any other refusal (a 400 would refuse the same body again), the
//! batch is dropped and counted. Meanwhile spans wait in the bounded queue, where the layer
//! drops what does not fit: the service never waits for its telemetry.

use super::otlp::{self, Resource};
use super::spans::FinishedSpan;
use super::Counters;
use kiln_http::http::Request;
use kiln_http::{Body, Client};
use kiln_runtime::sync::{mpsc, oneshot};
use kiln_runtime::task::JoinHandle;
use kiln_runtime::time::{sleep, timeout, Instant};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Tries per batch.
const TRIES: u32 = 3;

/// The longest a `Retry-After` is honoured before the batch is given up.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

/// Where and how batches go.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// The full URL spans are POSTed to (`…/v1/traces`).
    pub endpoint: String,
    /// The process the spans describe.
    pub resource: Resource,
    /// The longest a span waits for its batch.
    pub schedule_delay: Duration,
    /// Spans per request at most.
    pub max_batch: usize,
    /// One request's time limit.
    pub timeout: Duration,
}

/// The running exporter.
#[derive(Debug)]
pub struct Exporter {
    flushes: mpsc::Sender<oneshot::Sender<usize>>,
    task: JoinHandle<()>,
}

impl Exporter {
    /// Starts the export task on the current runtime, reading `spans`.
    pub fn start(
        spans: mpsc::Receiver<FinishedSpan>,
        config: ExportConfig,
        counters: Arc<Counters>,
    ) -> Exporter {
        let (flushes, asked) = mpsc::channel(4);
        let task = kiln_runtime::spawn(run(spans, asked, config, counters));
        Exporter { flushes, task }
    }

    /// Exports every span finished so far; returns how many were sent, or `None` if that
    /// took longer than `within` (what was not sent stays queued).
    pub async fn flush(&self, within: Duration) -> Option<usize> {
        let (reply, answer) = oneshot::channel();
        timeout(within, async {
            self.flushes.send(reply).await.ok()?;
            answer.await.ok()
        })
        .await
        .ok()
        .flatten()
    }

    /// Flushes (within `within`) and stops the task; returns what the flush sent.
    pub async fn shutdown(self, within: Duration) -> Option<usize> {
        let sent = self.flush(within).await;
        self.task.abort();
        sent
    }
}

async fn run(
    mut spans: mpsc::Receiver<FinishedSpan>,
    mut asked: mpsc::Receiver<oneshot::Sender<usize>>,
    config: ExportConfig,
    counters: Arc<Counters>,
) {
    let client = Client::new().timeouts(config.timeout, config.timeout);
    let out = Batcher { client, config, counters };
    let mut batch = Vec::new();
    let mut due = Instant::now() + out.config.schedule_delay;
    loop {
        kiln_runtime::select! {
            span = spans.recv() => match span {
                Some(span) => {
                    batch.push(span);
                    if batch.len() >= out.config.max_batch {
                        out.send(&mut batch).await;
                    }
                }
                None => {
                    out.send(&mut batch).await;
                    return;
                }
            },
            reply = asked.recv() => {
                // Everything queued before the flush was asked for goes now.
                let mut sent = out.send(&mut batch).await;
                while let Ok(span) = spans.try_recv() {
                    batch.push(span);
                    if batch.len() >= out.config.max_batch {
                        sent += out.send(&mut batch).await;
                    }
                }
                sent += out.send(&mut batch).await;
                match reply {
                    Some(reply) => drop(reply.send(sent)),
                    None => return,
                }
            },
            () = kiln_runtime::time::sleep_until(due) => {
                out.send(&mut batch).await;
                due = Instant::now() + out.config.schedule_delay;
            },
        }
    }
}

/// Sends batches.
struct Batcher {
    client: Client,
    config: ExportConfig,
    counters: Arc<Counters>,
}

impl Batcher {
    /// Exports and empties `batch`; returns how many spans the collector took.
    async fn send(&self, batch: &mut Vec<FinishedSpan>) -> usize {
        if batch.is_empty() {
            return 0;
        }
        let spans = std::mem::take(batch);
        let body = otlp::encode(&self.config.resource, &spans).to_string();
        let mut why = String::new();
        for attempt in 1..=TRIES {
            let request = Request::post(&self.config.endpoint)
                .header("content-type", "application/json")
                .body(Body::from(body.clone()));
            let request = match request {
                Ok(r) => r,
                Err(e) => {
                    why = format!("a bad endpoint: {e}");
                    break;
                }
            };
            let backoff = Duration::from_millis(250 << attempt);
            let wait = match self.client.send(request).await {
                Ok(r) if r.status().is_success() => {
                    self.counters.exported.fetch_add(spans.len() as u64, Ordering::Relaxed);
                    return spans.len();
                }
                Ok(r) if matches!(r.status().as_u16(), 429 | 502 | 503 | 504) => {
                    why = format!("the collector answered {}", r.status());
                    let asked = r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
                    match asked.map(Duration::from_secs) {
                        Some(d) if d > MAX_RETRY_WAIT => break,
                        Some(d) => d,
                        None => backoff,
                    }
                }
                Ok(r) => {
                    why = format!("the collector refused the batch: {}", r.status());
                    break;
                }
                Err(e) => {
                    why = format!("cannot reach the collector: {e}");
                    backoff
                }
            };
            if attempt < TRIES {
                sleep(wait).await;
            }
        }
        self.counters.dropped_export_failed.fetch_add(spans.len() as u64, Ordering::Relaxed);
        tracing::warn!(spans = spans.len(), endpoint = %self.config.endpoint, "dropped spans: {why}");
        0
    }
}
