//! Telemetry: the process's logs, and its spans exported to an OpenTelemetry collector.
//!
//! Logs are `tracing` events printed to stderr (pretty, or JSON lines with `--log-format
//! json`), filtered by `RUST_LOG`. When `OTEL_EXPORTER_OTLP_ENDPOINT` is set, the same spans
//! also go to a collector over OTLP/HTTP — the request's, the job's, the mailer call's, the
//! database's — so a trace viewer (Jaeger, Tempo, …) shows one signup as one tree across the
//! API, its worker and the mailer. Spans carry W3C ids (`spans.rs`), are encoded as OTLP JSON
//! (`otlp.rs`) and sent in batches by one task on the runtime (`export.rs`) through Kiln's
//! own HTTP client. Every queue is bounded: under back-pressure spans are dropped and
//! counted (`/metrics`), never waited for.
//!
//! The variables are OpenTelemetry's own, so an operator's habits carry over:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` is added) or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
//! (used as is), `OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_TIMEOUT` and the batch processor's
//! `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`.
//!
//! The spans that time each database call, Redis command and cache lookup have the target
//! [`DATA_SPANS`]: they are for traces, so the log layer leaves them out (unless `RUST_LOG`
//! names that target). A span no layer wants is never made, so without an exporter they cost
//! nothing; in the logs they would cost a formatted copy of their fields per call, for
//! context almost no log line uses.

pub mod export;
pub mod otlp;
pub mod spans;

pub use export::{ExportConfig, Exporter};

use crate::config::LogFormat;
use kiln_runtime::sync::mpsc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The target of the database, Redis and cache spans (`tracing::info_span!(target: …)`).
pub const DATA_SPANS: &str = "kiln::data";

/// An attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text (and anything logged with `%` or `?`).
    Str(String),
    /// An integer.
    Int(i64),
    /// A flag.
    Bool(bool),
    /// A number.
    Double(f64),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Double(d) => write!(f, "{d}"),
        }
    }
}

/// What became of the spans, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Taken by the collector.
    pub exported: AtomicU64,
    /// Dropped because the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Dropped because the collector refused them or could not be reached.
    pub dropped_export_failed: AtomicU64,
}

/// This process's counters (zero when nothing is exported).
pub fn counters() -> &'static Arc<Counters> {
    static COUNTERS: OnceLock<Arc<Counters>> = OnceLock::new();
    COUNTERS.get_or_init(Arc::default)
}

impl Counters {
    /// (exported, dropped because the queue was full, dropped because export failed).
    pub fn read(&self) -> (u64, u64, u64) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        (get(&self.exported), get(&self.dropped_queue_full), get(&self.dropped_export_failed))
    }
}

/// Where spans go and how they are batched: OpenTelemetry's variables, with its defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpConfig {
    /// The full URL of the traces endpoint.
    pub endpoint: String,
    /// `service.name`.
    pub service: String,
    /// `OTEL_BSP_SCHEDULE_DELAY` (default 5 s).
    pub schedule_delay: Duration,
    /// `OTEL_BSP_MAX_QUEUE_SIZE` (default 2048).
    pub max_queue: usize,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (default 512, at most the queue).
    pub max_batch: usize,
    /// `OTEL_EXPORTER_OTLP_TIMEOUT` (default 10 s).
    pub timeout: Duration,
}

impl OtlpConfig {
    /// The configuration `env` describes: `None` without an endpoint, an error naming the
    /// variable for a value that cannot work. `service` names the process when
    /// `OTEL_SERVICE_NAME` does not.
    ///
    /// # Errors
    /// A message for the operator.
    pub fn from_env(
        env: impl Fn(&str) -> Option<String>,
        service: &str,
    ) -> Result<Option<OtlpConfig>, String> {
        let var = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let endpoint = match (var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), var("OTEL_EXPORTER_OTLP_ENDPOINT")) {
            (Some(traces), _) => traces,
            (None, Some(base)) => format!("{}/v1/traces", base.trim_end_matches('/')),
            (None, None) => return Ok(None),
        };
        if !endpoint.starts_with("http://") || endpoint.parse::<kiln_http::http::Uri>().is_err() {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_ENDPOINT: {endpoint:?} is not an http:// URL (Kiln speaks plain HTTP; put a collector beside the service)"
            ));
        }
        match var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL")).as_deref() {
            None | Some("http/json") => {}
            Some(other) => {
                return Err(format!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL: {other:?} is not supported; Kiln exports http/json (collectors take it on port 4318)"
                ))
            }
        }
        let number = |name: &str,
                      default: u64,
                      range: std::ops::RangeInclusive<u64>|
         -> Result<u64, String> {
            match var(name) {
                None => Ok(default),
                Some(v) => v.parse().ok().filter(|n| range.contains(n)).ok_or_else(|| {
                    format!("{name}: {v:?} must be a whole number from {} to {}", range.start(), range.end())
                }),
            }
        };
        let max_queue = number("OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1..=1_000_000)? as usize;
        Ok(Some(OtlpConfig {
            endpoint,
            service: var("OTEL_SERVICE_NAME").unwrap_or_else(|| service.to_owned()),
            schedule_delay: Duration::from_millis(number("OTEL_BSP_SCHEDULE_DELAY", 5000, 1..=3_600_000)?),
            max_queue,
            max_batch: (number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, 1..=100_000)? as usize).min(max_queue),
            timeout: Duration::from_millis(number("OTEL_EXPORTER_OTLP_TIMEOUT", 10_000, 1..=600_000)?),
        }))
    }
}

/// The export side, waiting for a runtime to run on.
#[derive(Debug)]
pub struct Pending {
    spans: mpsc::Receiver<spans::FinishedSpan>,
    config: OtlpConfig,
}

impl Pending {
    /// The configuration it exports with.
    pub fn config(&self) -> &OtlpConfig {
        &self.config
    }

    /// Starts exporting on the current runtime.
    pub fn start(self) -> Exporter {
        let instance = format!("{}-{}", crate::hostname(), std::process::id());
        let resource = otlp::Resource { service: self.config.service.clone(), instance };
        let config = ExportConfig {
            endpoint: self.config.endpoint,
            resource,
            schedule_delay: self.config.schedule_delay,
            max_batch: self.config.max_batch,
            timeout: self.config.timeout,
        };
        Exporter::start(self.spans, config, counters().clone())
    }
}

/// Installs the process's subscriber: logs to stderr in `format` (at `info`, or `RUST_LOG`),
/// and, with `otlp`, the span layer whose exporter the caller starts on its runtime
/// ([`Pending::start`]). Does nothing (and returns `None`) if a subscriber is installed.
pub fn init(format: LogFormat, otlp: Option<OtlpConfig>) -> Option<Pending> {
    let filter = || tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let (layer, pending) = match otlp {
        Some(config) => {
            let (tx, rx) = mpsc::channel(config.max_queue);
            let layer = spans::OtlpLayer::new(tx, counters().clone()).with_filter(filter());
            (Some(layer), Some(Pending { spans: rx, config }))
        }
        None => (None, None),
    };
    let mut log_filter = filter();
    if !std::env::var("RUST_LOG").is_ok_and(|v| v.contains(DATA_SPANS)) {
        log_filter =
            log_filter.add_directive(format!("{DATA_SPANS}=off").parse().expect("a valid directive"));
    }
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(layer);
    let installed = match format {
        // Each line an object: timestamp, level, target, the event's fields, and the spans'
        // (the request's id, route, trace id, user) — what a log collector indexes.
        LogFormat::Json => registry
            .with(
                logs.json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_filter(log_filter),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(
                logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).with_filter(log_filter),
            )
            .try_init(),
    };
    installed.ok().and(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Option<OtlpConfig>, String> {
        OtlpConfig::from_env(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()), "kiln")
    }

    #[test]
    fn the_opentelemetry_variables_with_their_defaults_and_clear_refusals() {
        assert_eq!(from(&[]), Ok(None));
        let c = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/")]).unwrap().unwrap();
        assert_eq!(c.endpoint, "http://127.0.0.1:4318/v1/traces");
        assert_eq!((c.service.as_str(), c.max_queue, c.max_batch), ("kiln", 2048, 512));
        assert_eq!((c.schedule_delay, c.timeout), (Duration::from_secs(5), Duration::from_secs(10)));
        let c = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/custom"),
            ("OTEL_SERVICE_NAME", "api"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_SCHEDULE_DELAY", "250"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((c.endpoint.as_str(), c.service.as_str()), ("http://c:4318/custom", "api"));
        assert_eq!((c.max_queue, c.max_batch, c.schedule_delay), (100, 100, Duration::from_millis(250)));
        for (vars, names) in [
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318")][..], "OTEL_EXPORTER_OTLP_ENDPOINT"),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")][..],
                "grpc",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_BSP_MAX_QUEUE_SIZE", "0")][..],
                "from 1 to",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_BSP_SCHEDULE_DELAY", "soon")][..],
                "SCHEDULE",
            ),
        ] {
            let e = from(vars).unwrap_err();
            assert!(e.contains(names), "{e}");
        }
    }
}
