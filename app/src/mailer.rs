//! The mailer: a second service the jobs call over HTTP, and the client side of that call.
//!
//! `kiln mailer` serves `POST /messages` (`{to, subject, body}` with an `Idempotency-Key`
//! header) and appends each message to its outbox, a file of JSON lines that stands for
//! a mail relay. A repeated key is answered with the first message's id and writes nothing:
//! a job that delivered but crashed before recording it retries with the same key, and the
//! mail goes out once. The keys it has seen are read back from the outbox at start.
//!
//! To show what a caller must survive, it can be told to fail a fraction of requests
//! (`--fail-rate 0.25`: every fourth, deterministically, with 503 and `Retry-After`) or to
//! answer slowly (`--delay-ms`).
//!
//! [`deliver`] is the caller: a time limit, the job's idempotency key, the request id of
//! the request that caused the job, and a verdict on the answer — 2xx delivered, 429 and 5xx
//! and transport errors worth a retry, any other 4xx permanent.

use crate::jobs::JobError;
use kiln_http::extract::{Json, State};
use kiln_http::http::{HeaderMap, Request, StatusCode};
use kiln_http::middleware::TraceContext;
use kiln_http::response::{IntoResponse, Problem};
use kiln_http::router::{get, post};
use kiln_http::{Body, Client, Router};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

/// How the mailer runs.
#[derive(Debug, Clone)]
pub struct MailerConfig {
    /// Where messages are appended.
    pub outbox: PathBuf,
    /// The fraction of requests answered 503 (0 to 1).
    pub fail_rate: f64,
    /// Added to every answer.
    pub delay: Duration,
}

/// A message to send.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// The address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The text.
    pub body: String,
}

#[derive(Clone)]
struct Mailer {
    config: Arc<MailerConfig>,
    /// Idempotency key → message id.
    sent: Arc<Mutex<HashMap<String, u64>>>,
    requests: Arc<AtomicU64>,
}

/// The mailer's routes over the outbox in `config` (keys already in it are remembered), each
/// request in a span that continues the caller's trace.
///
/// # Errors
/// The outbox exists but cannot be read.
pub fn service(config: MailerConfig) -> std::io::Result<impl kiln_http::Service> {
    use kiln_http::ServiceExt;
    let mut sent = HashMap::new();
    match std::fs::read_to_string(&config.outbox) {
        Ok(text) => {
            for line in text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
                if let (Some(key), Some(id)) = (line["idempotency_key"].as_str(), line["id"].as_u64()) {
                    sent.insert(key.to_owned(), id);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mailer = Mailer {
        config: Arc::new(config),
        sent: Arc::new(Mutex::new(sent)),
        requests: Arc::new(AtomicU64::new(0)),
    };
    Ok(Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/messages", post(send))
        .with_state(mailer)
        .with_matched_path()
        .layer(kiln_http::middleware::TraceLayer::new())
        .layer(kiln_http::middleware::RequestIdLayer::new()))
}

/// Whether request number `n` (1-based) fails at `rate`: exactly `floor(n · rate)` of the
/// first `n` do, spread evenly.
fn fails(n: u64, rate: f64) -> bool {
    let failed_by = |k: u64| (k as f64 * rate).floor() as u64;
    failed_by(n) > failed_by(n - 1)
}

async fn send(
    State(mailer): State<Mailer>,
    headers: HeaderMap,
    Json(message): Json<Message>,
) -> impl IntoResponse {
    kiln_runtime::time::sleep(mailer.config.delay).await;
    let n = mailer.requests.fetch_add(1, Ordering::SeqCst) + 1;
    if fails(n, mailer.config.fail_rate) {
        let mut r = Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .detail("the relay is busy (a failure on purpose)")
            .into_response();
        r.headers_mut().insert("retry-after", kiln_http::http::HeaderValue::from_static("1"));
        return r;
    }
    let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).filter(|k| !k.is_empty())
    else {
        return Problem::new(StatusCode::BAD_REQUEST)
            .detail("an Idempotency-Key header is required")
            .into_response();
    };
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let trace_id = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(kiln_http::middleware::trace_id_of)
        .unwrap_or("")
        .to_owned();
    let mut sent = mailer.sent.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(id) = sent.get(key) {
        return (StatusCode::OK, Json(serde_json::json!({ "id": id, "repeated": true }))).into_response();
    }
    let id = sent.len() as u64 + 1;
    let line = serde_json::json!({
        "id": id, "idempotency_key": key, "request_id": request_id, "trace_id": trace_id,
        "to": message.to, "subject": message.subject, "body": message.body,
    });
    // Written under the lock: two requests with one key never both write.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&mailer.config.outbox)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        tracing::error!(error = %e, "mailer: cannot write the outbox");
        return Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
            .detail("cannot write the outbox")
            .into_response();
    }
    sent.insert(key.to_owned(), id);
    tracing::info!(id, to = %message.to, request_id, trace_id, "mailer: message sent");
    (StatusCode::CREATED, Json(serde_json::json!({ "id": id, "repeated": false }))).into_response()
}

/// Where a delivery comes from: the request that caused it, for the mailer's log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    /// Sent as `x-request-id`.
    pub request_id: Option<&'a str>,
    /// The span the delivery is made from (a job's): the call is its child.
    pub trace: Option<&'a TraceContext>,
}

/// Sends `message` to the mailer at `base` (`http://host:port`) with `key`, the request id
/// of the request behind it, within `time_limit`.
///
/// # Errors
/// [`JobError::Retry`] for 429, 5xx, a timeout or a connection failure; [`JobError::Permanent`]
/// for any other refusal.
pub async fn deliver(
    client: &Client,
    base: &str,
    message: &Message,
    key: &str,
    origin: Origin<'_>,
) -> Result<(), JobError> {
    let mut request = Request::post(format!("{}/messages", base.trim_end_matches('/')))
        .header("content-type", "application/json")
        .header("idempotency-key", key);
    if let Some(id) = origin.request_id {
        request = request.header("x-request-id", id);
    }
    let body = Body::from(serde_json::to_vec(message).expect("a message serializes"));
    let mut request =
        request.body(body).map_err(|e| JobError::Permanent(format!("a bad mailer URL {base:?}: {e}")))?;
    // The call is a client span, child of the caller's; the mailer's request span is its child.
    let call = origin.trace.map_or_else(TraceContext::root, TraceContext::child);
    let span = tracing::info_span!(
        "mailer.deliver",
        trace_id = %call.trace_id,
        span_id = %call.span_id,
        parent_id = origin.trace.map(|t| tracing::field::display(&t.span_id)),
        "otel.kind" = "client",
        status = tracing::field::Empty,
    );
    request.extensions_mut().insert(call);
    let response = client
        .send(request)
        .instrument(span.clone())
        .await
        .map_err(|e| JobError::Retry(format!("the mailer: {e}")))?;
    let status = response.status();
    span.record("status", status.as_u16());
    match status.as_u16() {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(JobError::Retry(format!("the mailer answered {status}"))),
        _ => Err(JobError::Permanent(format!("the mailer refused the message: {status}"))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_fail_rate_fails_that_fraction_evenly() {
        let failures: Vec<bool> = (1..=8).map(|n| super::fails(n, 0.25)).collect();
        assert_eq!(failures, [false, false, false, true, false, false, false, true]);
        assert!((1..=100).all(|n| !super::fails(n, 0.0)));
        assert!((1..=100).all(|n| super::fails(n, 1.0)));
    }
}
