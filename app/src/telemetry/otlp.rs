//! Finished spans as an OTLP/HTTP JSON request body (`ExportTraceServiceRequest`): the
//! encoding every OpenTelemetry collector accepts on `POST /v1/traces`.
//!
//! The JSON mapping of OTLP's protobuf has three rules that differ from plain JSON habits:
//! trace and span ids are lowercase hex (not base64), enums are integers (`"kind": 2`), and
//! 64-bit integers — the nanosecond timestamps, integer attributes — are decimal strings.

use super::spans::{FinishedSpan, SpanEvent};
use super::Value;
use serde_json::{json, Value as Json};
use std::time::{SystemTime, UNIX_EPOCH};

/// What describes the process every span came from (`service.name`, …).
#[derive(Debug, Clone)]
pub struct Resource {
    /// `service.name`.
    pub service: String,
    /// `service.instance.id`: host and process, so two replicas' spans tell apart.
    pub instance: String,
}

/// The request body exporting `spans`.
pub fn encode(resource: &Resource, spans: &[FinishedSpan]) -> Json {
    json!({
        "resourceSpans": [{
            "resource": { "attributes": attributes(&[
                ("service.name", Value::Str(resource.service.clone())),
                ("service.instance.id", Value::Str(resource.instance.clone())),
                ("telemetry.sdk.name", Value::Str("kiln".into())),
                ("telemetry.sdk.language", Value::Str("rust".into())),
            ]) },
            "scopeSpans": [{
                "scope": { "name": "kiln", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans.iter().map(span).collect::<Vec<_>>(),
            }],
        }],
    })
}

fn span(s: &FinishedSpan) -> Json {
    let mut out = json!({
        "traceId": s.trace_id,
        "spanId": s.span_id,
        "name": s.name,
        "kind": s.kind,
        "startTimeUnixNano": nanos(s.start),
        "endTimeUnixNano": nanos(s.end.max(s.start)),
        "attributes": attributes(&s.attributes),
        "events": s.events.iter().map(event).collect::<Vec<_>>(),
        "droppedEventsCount": s.dropped_events,
        // UNSET (0) unless something failed: OK is for a caller who asserts success.
        "status": match &s.error {
            Some(message) => json!({ "code": 2, "message": message }),
            None => json!({ "code": 0 }),
        },
    });
    if let Some(parent) = &s.parent_id {
        out["parentSpanId"] = json!(parent);
    }
    out
}

fn event(e: &SpanEvent) -> Json {
    json!({ "timeUnixNano": nanos(e.time), "name": e.name, "attributes": attributes(&e.attributes) })
}

fn attributes(list: &[(&'static str, Value)]) -> Json {
    Json::Array(
        list.iter()
            .map(|(key, value)| {
                let value = match value {
                    Value::Str(s) => json!({ "stringValue": s }),
                    Value::Int(i) => json!({ "intValue": i.to_string() }),
                    Value::Bool(b) => json!({ "boolValue": b }),
                    Value::Double(d) if d.is_finite() => json!({ "doubleValue": d }),
                    Value::Double(d) => json!({ "stringValue": d.to_string() }),
                };
                json!({ "key": key, "value": value })
            })
            .collect(),
    )
}

/// Nanoseconds since the Unix epoch, as OTLP's JSON writes a `fixed64`: a decimal string.
fn nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn encodes_ids_as_hex_kinds_as_integers_and_times_as_decimal_strings() {
        let start = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        let finished = FinishedSpan {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            span_id: "00f067aa0ba902b7".into(),
            parent_id: Some("b7ad6b7169203331".into()),
            name: "request",
            kind: 2,
            start,
            end: start + Duration::from_millis(2),
            attributes: vec![("route", Value::Str("/books/{id}".into())), ("status", Value::Int(503))],
            events: vec![SpanEvent {
                time: start,
                name: "response".into(),
                attributes: vec![("ok", Value::Bool(false))],
            }],
            dropped_events: 0,
            error: Some("response".into()),
        };
        let root = FinishedSpan { parent_id: None, error: None, ..finished.clone() };
        let body = encode(&Resource { service: "kiln".into(), instance: "h-1".into() }, &[finished, root]);
        let rs = &body["resourceSpans"][0];
        assert_eq!(
            rs["resource"]["attributes"][0],
            json!({"key": "service.name", "value": {"stringValue": "kiln"}})
        );
        let s = &rs["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(s["parentSpanId"], "b7ad6b7169203331");
        assert_eq!(s["kind"], 2);
        assert_eq!(s["startTimeUnixNano"], "1700000000123456789");
        assert_eq!(s["endTimeUnixNano"], "1700000000125456789");
        assert_eq!(s["attributes"][1], json!({"key": "status", "value": {"intValue": "503"}}));
        assert_eq!(s["events"][0]["attributes"][0]["value"], json!({"boolValue": false}));
        assert_eq!(s["status"], json!({"code": 2, "message": "response"}));
        let root = &rs["scopeSpans"][0]["spans"][1];
        assert!(root.get("parentSpanId").is_none(), "a root has no parent field: {root}");
        assert_eq!(root["status"], json!({"code": 0}));
    }
}
