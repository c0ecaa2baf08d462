//! The `tracing` layer that turns spans into OpenTelemetry spans: each span gets W3C ids when
//! it opens, collects its fields as attributes and the events logged inside it, and is handed
//! to the exporter's queue when it closes.
//!
//! Ids come from the span's own fields when Kiln code set them — the request span
//! (`kiln_http::middleware::TraceLayer`), a job's span, an outgoing call's span each record
//! `trace_id`, `span_id` and `parent_id`, because those spans continue a trace that came from
//! elsewhere (a header, a stored job). Any other span — a database call, a cache lookup —
//! takes its trace from its parent span and a fresh span id; one with no parent starts a
//! trace. `otel.kind` names the span kind (`server`, `client`, `producer`, `consumer`). A span
//! failed if an `ERROR` event happened inside it, or if it recorded `otel.status_code =
//! "error"` (with `otel.status_message`): a job's failed attempt does, as its log line for the
//! retry is only a warning.
//!
//! The hand-off never blocks: the queue is bounded, and a span that finds it full is dropped
//! and counted (`otel_spans_dropped_total{reason="queue_full"}` on `/metrics`), so a slow
//! or absent collector costs spans, never latency.

use super::{Counters, Value};
use kiln_http::middleware::TraceContext;
use kiln_runtime::sync::mpsc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Events kept per span; later ones are counted, not kept (a loop logging inside a long span
/// must not grow it without bound).
pub const MAX_EVENTS: usize = 32;

/// Attributes kept per span (the fields a span declares are few; this bounds `record` calls).
pub const MAX_ATTRIBUTES: usize = 64;

/// A span as the exporter sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedSpan {
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// The parent's span id; none for a trace's root.
    pub parent_id: Option<String>,
    /// The span's name (`request`, `job`, `mailer.deliver`, `db`, …).
    pub name: &'static str,
    /// OTLP's `SpanKind`: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: u8,
    /// Opened.
    pub start: SystemTime,
    /// Closed.
    pub end: SystemTime,
    /// Its fields (without the ids).
    pub attributes: Vec<(&'static str, Value)>,
    /// What was logged inside it: time, message, fields.
    pub events: Vec<SpanEvent>,
    /// Events beyond [`MAX_EVENTS`], not kept.
    pub dropped_events: u32,
    /// Set by an `ERROR` event inside it: the span failed, and that event's message says why.
    pub error: Option<String>,
}

/// An event logged inside a span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    /// When.
    pub time: SystemTime,
    /// Its message.
    pub name: String,
    /// Its other fields.
    pub attributes: Vec<(&'static str, Value)>,
}

/// The layer: install it in the subscriber (see [`super::init`]).
pub struct OtlpLayer {
    queue: mpsc::Sender<FinishedSpan>,
    counters: Arc<Counters>,
}

impl OtlpLayer {
    /// Spans go to `queue`; drops are counted in `counters`.
    pub fn new(queue: mpsc::Sender<FinishedSpan>, counters: Arc<Counters>) -> OtlpLayer {
        OtlpLayer { queue, counters }
    }
}

/// The span being built, kept in the registry's extensions for the span.
struct Open {
    span: FinishedSpan,
}

/// Collects fields: the ids apart, everything else as attributes.
#[derive(Default)]
struct Fields {
    trace_id: Option<String>,
    span_id: Option<String>,
    parent_id: Option<String>,
    kind: Option<String>,
    message: Option<String>,
    failed: bool,
    status_message: Option<String>,
    attributes: Vec<(&'static str, Value)>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        match (field.name(), value) {
            ("trace_id", Value::Str(s)) => self.trace_id = Some(s),
            ("span_id", Value::Str(s)) => self.span_id = Some(s),
            ("parent_id", Value::Str(s)) => self.parent_id = Some(s),
            ("otel.kind", Value::Str(s)) => self.kind = Some(s),
            ("otel.status_code", v) => self.failed = v.to_string().eq_ignore_ascii_case("error"),
            ("otel.status_message", v) => self.status_message = Some(v.to_string()),
            ("message", v) => self.message = Some(v.to_string()),
            (name, v) => {
                // A field recorded again replaces its value.
                if let Some(slot) = self.attributes.iter_mut().find(|(n, _)| *n == name) {
                    slot.1 = v;
                } else if self.attributes.len() < MAX_ATTRIBUTES {
                    self.attributes.push((name, v));
                }
            }
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::Str(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::Str(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::Int(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, i64::try_from(value).map_or_else(|_| Value::Str(value.to_string()), Value::Int));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::Double(value));
    }
}

/// The OTLP span kind `otel.kind` names (internal when it names none).
fn kind_of(name: Option<&str>) -> u8 {
    match name {
        Some("server") => 2,
        Some("client") => 3,
        Some("producer") => 4,
        Some("consumer") => 5,
        _ => 1,
    }
}

impl<S> tracing_subscriber::Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        // A span that names its ids continues the trace they say; any other is a child of
        // the span it opened in, or a new trace's root.
        let (trace_id, span_id, parent_id) = match (fields.trace_id.take(), fields.span_id.take()) {
            (Some(trace), Some(own)) => (trace, own, fields.parent_id.take()),
            _ => {
                let parent = span.parent().and_then(|p| {
                    let ext = p.extensions();
                    ext.get::<Open>().map(|o| (o.span.trace_id.clone(), o.span.span_id.clone()))
                });
                match parent {
                    Some((trace_id, parent_id)) => {
                        let child =
                            TraceContext { trace_id, span_id: parent_id.clone(), tracestate: None }.child();
                        (child.trace_id, child.span_id, Some(parent_id))
                    }
                    None => {
                        let root = TraceContext::root();
                        (root.trace_id, root.span_id, None)
                    }
                }
            }
        };
        let now = SystemTime::now();
        let error = fields.failed.then(|| fields.status_message.take().unwrap_or_default());
        span.extensions_mut().insert(Open {
            span: FinishedSpan {
                trace_id,
                span_id,
                parent_id,
                name: attrs.metadata().name(),
                kind: kind_of(fields.kind.as_deref()),
                start: now,
                end: now,
                attributes: fields.attributes,
                events: Vec::new(),
                dropped_events: 0,
                error,
            },
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let Some(open) = ext.get_mut::<Open>() else { return };
        let mut fields =
            Fields { attributes: std::mem::take(&mut open.span.attributes), ..Fields::default() };
        values.record(&mut fields);
        open.span.attributes = fields.attributes;
        if fields.failed {
            open.span.error = Some(fields.status_message.unwrap_or_default());
        } else if let (Some(message), Some(error)) = (fields.status_message, open.span.error.as_mut()) {
            *error = message;
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else { return };
        let mut ext = span.extensions_mut();
        let Some(open) = ext.get_mut::<Open>() else { return };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let name = fields.message.unwrap_or_else(|| event.metadata().name().to_owned());
        if *event.metadata().level() == tracing::Level::ERROR {
            open.span.error = Some(name.clone());
        }
        if open.span.events.len() < MAX_EVENTS {
            open.span.events.push(SpanEvent { time: SystemTime::now(), name, attributes: fields.attributes });
        } else {
            open.span.dropped_events += 1;
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(open) = span.extensions_mut().remove::<Open>() else { return };
        let mut finished = open.span;
        finished.end = SystemTime::now();
        if self.queue.try_send(finished).is_err() {
            self.counters.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// Runs `f` under a subscriber with the layer; returns the spans it finished, in order.
    fn spans_of(capacity: usize, f: impl FnOnce()) -> (Vec<FinishedSpan>, u64) {
        let (tx, mut rx) = mpsc::channel(capacity);
        let counters = Arc::new(Counters::default());
        let subscriber = tracing_subscriber::registry().with(OtlpLayer::new(tx, counters.clone()));
        tracing::subscriber::with_default(subscriber, f);
        let mut out = Vec::new();
        while let Ok(span) = rx.try_recv() {
            out.push(span);
        }
        (out, counters.dropped_queue_full.load(Ordering::Relaxed))
    }

    #[test]
    fn spans_with_ids_keep_them_and_inner_spans_become_their_children() {
        let (trace, own, parent) =
            ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "b7ad6b7169203331");
        let (spans, dropped) = spans_of(16, || {
            let outer = tracing::info_span!(
                "request",
                trace_id = trace,
                span_id = own,
                parent_id = parent,
                "otel.kind" = "server",
                route = tracing::field::Empty
            );
            outer.in_scope(|| {
                tracing::info_span!("db", op = "read").in_scope(|| tracing::info!(rows = 3, "read"));
                tracing::error!(status = 503, "response");
            });
            outer.record("route", "/books/{id}");
        });
        assert_eq!(dropped, 0);
        let [db, request] = &spans[..] else { panic!("two spans: {spans:?}") };
        assert_eq!((request.trace_id.as_str(), request.span_id.as_str()), (trace, own));
        assert_eq!(request.parent_id.as_deref(), Some(parent));
        assert_eq!(request.kind, 2);
        assert_eq!(request.attributes, vec![("route", Value::Str("/books/{id}".into()))]);
        assert_eq!(request.error.as_deref(), Some("response"), "an ERROR event fails the span");
        assert_eq!(request.events[0].attributes, vec![("status", Value::Int(503))]);
        assert_eq!(db.trace_id, trace, "the inner span joined the trace");
        assert_eq!(db.parent_id.as_deref(), Some(own));
        assert!(db.span_id.len() == 16 && db.span_id != own);
        assert_eq!((db.name, db.kind, db.error.as_deref()), ("db", 1, None));
        assert_eq!(db.events[0].name, "read");
        assert!(db.end >= db.start && request.end >= db.end);
    }

    #[test]
    fn a_span_without_a_parent_starts_a_trace_and_a_full_queue_drops_and_counts() {
        let (spans, dropped) = spans_of(2, || {
            for _ in 0..5 {
                let _ = tracing::info_span!("tick").entered();
            }
        });
        assert_eq!((spans.len(), dropped), (2, 3), "two queued, three counted as dropped");
        assert!(spans[0].parent_id.is_none() && spans[0].trace_id != spans[1].trace_id);
    }

    #[test]
    fn a_span_that_records_an_error_status_failed_with_its_message() {
        let (spans, _) = spans_of(4, || {
            let span = tracing::info_span!(
                "job",
                "otel.status_code" = tracing::field::Empty,
                "otel.status_message" = tracing::field::Empty
            );
            span.in_scope(|| tracing::warn!("attempt failed; it runs again"));
            span.record("otel.status_code", "error");
            span.record("otel.status_message", "the mailer answered 503");
            drop(span);
            tracing::info_span!("fine").in_scope(|| {});
        });
        assert_eq!(spans[0].error.as_deref(), Some("the mailer answered 503"));
        assert_eq!(spans[1].error, None);
        assert!(
            spans[0].attributes.is_empty(),
            "status fields are not attributes: {:?}",
            spans[0].attributes
        );
    }

    #[test]
    fn events_past_the_limit_are_counted_not_kept() {
        let (spans, _) = spans_of(4, || {
            tracing::info_span!("busy").in_scope(|| {
                for i in 0..40 {
                    tracing::info!(i, "step");
                }
            });
        });
        assert_eq!((spans[0].events.len(), spans[0].dropped_events), (MAX_EVENTS, 40 - MAX_EVENTS as u32));
    }
}
