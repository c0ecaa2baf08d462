//! Problem details for HTTP APIs (RFC 9457): the JSON error body.
//!
//! ```json
//! {"type":"about:blank","title":"Not Found","status":404,"detail":"no route for /x"}
//! ```
//! served as `application/problem+json`. `type` is a URI naming the kind of problem
//! (`about:blank` means "just the status"), `title` a short human summary of that kind,
//! `detail` this occurrence, `instance` a URI for this occurrence; any other members are
//! extensions (a validation error lists its fields in `errors`).

use super::IntoResponse;
use crate::Body;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use serde_json::{Map, Value};

/// An RFC 9457 problem; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    status: StatusCode,
    members: Map<String, Value>,
}

impl Problem {
    /// A problem with `status`, its reason phrase as `title` and `type` `about:blank`.
    pub fn new(status: StatusCode) -> Problem {
        let mut members = Map::new();
        members.insert("type".into(), Value::from("about:blank"));
        members.insert("title".into(), Value::from(status.canonical_reason().unwrap_or("Error")));
        members.insert("status".into(), Value::from(status.as_u16()));
        Problem { status, members }
    }

    /// Sets `detail`: what went wrong this time, for the client's developer.
    #[must_use]
    pub fn detail(self, detail: impl Into<String>) -> Problem {
        self.member("detail", Value::from(detail.into()))
    }

    /// Sets `type`: a URI naming this kind of problem.
    #[must_use]
    pub fn kind(self, type_uri: impl Into<String>) -> Problem {
        self.member("type", Value::from(type_uri.into()))
    }

    /// Sets `title`: a short summary of this kind of problem.
    #[must_use]
    pub fn title(self, title: impl Into<String>) -> Problem {
        self.member("title", Value::from(title.into()))
    }

    /// Sets `instance`: a URI for this occurrence.
    #[must_use]
    pub fn instance(self, uri: impl Into<String>) -> Problem {
        self.member("instance", Value::from(uri.into()))
    }

    /// Adds an extension member (or replaces a standard one).
    #[must_use]
    pub fn member(mut self, name: &str, value: impl Into<Value>) -> Problem {
        self.members.insert(name.to_owned(), value.into());
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON text of the problem.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.members).expect("a JSON map always serializes")
    }

    /// A member's value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.members.get(name)
    }
}

/// Checked at compile time, not once per response.
const PROBLEM_TYPE: HeaderValue = HeaderValue::from_static("application/problem+json");

impl IntoResponse for Problem {
    fn into_response(self) -> Response<Body> {
        let body = self.to_json();
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = self.status;
        r.headers_mut().insert(CONTENT_TYPE, PROBLEM_TYPE);
        r
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.status)?;
        if let Some(Value::String(d)) = self.members.get("detail") {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc_9457_members_and_content_type() {
        let r = Problem::new(StatusCode::UNPROCESSABLE_ENTITY)
            .detail("2 fields are invalid")
            .member("errors", serde_json::json!([{"field": "year", "message": "must be ≤ 2026"}]))
            .into_response();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/problem+json");
        let v: Value = serde_json::from_slice(r.body().as_bytes().unwrap()).unwrap();
        assert_eq!(v["type"], "about:blank");
        assert_eq!(v["title"], "Unprocessable Entity");
        assert_eq!(v["status"], 422);
        assert_eq!(v["detail"], "2 fields are invalid");
        assert_eq!(v["errors"][0]["field"], "year");
    }
}
