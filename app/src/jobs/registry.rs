//! The kinds of job a service runs: for each, its handler, how many attempts it gets, how
//! long one may take, and whether users may enqueue it through `POST /jobs`.
//!
//! A handler is an async function of a [`JobContext`] (the job's id, attempt and payload).
//! It returns `Ok(())` when the work is done, [`JobError::Retry`] for a failure worth
//! another attempt (a timeout, a 503 from the mailer), and [`JobError::Permanent`] for one
//! that no retry can fix (a payload it cannot read): that job is dead at once.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Attempts a kind gets unless it says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// One attempt's time limit unless the kind says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a handler gets.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The job's id: with the attempt, enough to make side effects idempotent (an
    /// `Idempotency-Key` of `job-<id>` sent to another service).
    pub id: i64,
    /// This attempt, 1 for the first.
    pub attempt: u32,
    /// The payload given at enqueue.
    pub payload: serde_json::Value,
    /// The job's span: pass it on to calls the handler makes, so they join the trace.
    pub trace: kiln_http::middleware::TraceContext,
}

/// Why a handler failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt, after the backoff.
    #[error("{0}")]
    Retry(String),
    /// No retry can fix it: the job is dead at once.
    #[error("{0} (permanent)")]
    Permanent(String),
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;
type Handler = Arc<dyn Fn(JobContext) -> HandlerFuture + Send + Sync>;

/// How a kind runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindOptions {
    /// Attempts before the job is dead.
    pub max_attempts: u32,
    /// One attempt's limit.
    pub timeout: Duration,
    /// Whether `POST /jobs` may enqueue it (internal kinds, like the welcome email, are
    /// enqueued only by the service itself).
    pub public: bool,
}

impl Default for KindOptions {
    fn default() -> KindOptions {
        KindOptions { max_attempts: DEFAULT_MAX_ATTEMPTS, timeout: DEFAULT_TIMEOUT, public: false }
    }
}

/// One registered kind.
#[derive(Clone)]
pub struct Kind {
    handler: Handler,
    /// How it runs.
    pub options: KindOptions,
}

/// The kinds, by name.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<String, Kind>,
}

impl Registry {
    /// No kinds.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Adds kind `name`, run by `handler`.
    ///
    /// # Panics
    /// If `name` is registered already, or `max_attempts` is 0.
    #[must_use]
    pub fn register<F, Fut>(mut self, name: &str, options: KindOptions, handler: F) -> Registry
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        assert!(options.max_attempts >= 1, "job kind {name:?}: max_attempts must be at least 1");
        let handler: Handler = Arc::new(move |cx| Box::pin(handler(cx)));
        let previous = self.kinds.insert(name.to_owned(), Kind { handler, options });
        assert!(previous.is_none(), "job kind {name:?} is registered twice");
        self
    }

    /// Kind `name`, if registered.
    pub fn get(&self, name: &str) -> Option<&Kind> {
        self.kinds.get(name)
    }

    /// The names of the kinds users may enqueue.
    pub fn public_kinds(&self) -> Vec<&str> {
        self.kinds.iter().filter(|(_, k)| k.options.public).map(|(name, _)| name.as_str()).collect()
    }
}

impl Registry {
    /// A job of kind `name` with `payload`, with the kind's attempts and time limit.
    ///
    /// # Panics
    /// If `name` is not registered: a service enqueues only kinds it knows.
    pub fn spec(&self, name: &str, payload: serde_json::Value) -> super::JobSpec {
        let kind = self.get(name).unwrap_or_else(|| panic!("job kind {name:?} is not registered"));
        super::JobSpec {
            kind: name.to_owned(),
            payload,
            run_at: None,
            priority: 0,
            idempotency_key: None,
            max_attempts: kind.options.max_attempts,
            timeout: kind.options.timeout,
            created_by: None,
            traceparent: None,
        }
    }
}

impl Kind {
    /// Starts the handler on `cx`.
    pub fn run(&self, cx: JobContext) -> impl Future<Output = Result<(), JobError>> + Send + 'static {
        (self.handler)(cx)
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.kinds.iter().map(|(name, kind)| (name, kind.options))).finish()
    }
}
