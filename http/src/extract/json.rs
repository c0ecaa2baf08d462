//! `Json<T>`: a JSON request body in, a JSON response out.
//!
//! As an extractor it checks, in order: the content type is `application/json` (or
//! `application/<something>+json`), else 415; the body fits the limit, else 413; it is JSON,
//! else 400; it has `T`'s shape, else 422 — each a problem body whose `detail` says where
//! (serde's line and column). As a response it serializes `T` with
//! `content-type: application/json` (a value that fails to serialize is a 500, logged).

use super::{read_body, FromRequest};
use crate::response::{IntoResponse, Problem};
use crate::Body;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Request, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A JSON body; see the module docs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

/// True for `application/json` and `application/*+json`, with any parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let Some(subtype) = essence.strip_prefix("application/") else { return false };
    subtype == "json" || subtype.ends_with("+json")
}

impl<S: Sync, T: DeserializeOwned + Send> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(request: Request<Body>, _: &S) -> Result<Json<T>, Problem> {
        let (parts, body) = request.into_parts();
        if !is_json(&parts.headers) {
            return Err(Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                .detail("expected a body with content-type: application/json"));
        }
        let bytes = read_body(&parts, body).await?;
        serde_json::from_slice(&bytes).map(Json).map_err(|e| {
            let status = match e.classify() {
                serde_json::error::Category::Data => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::BAD_REQUEST,
            };
            Problem::new(status).detail(format!("invalid JSON body: {e}"))
        })
    }
}

/// Checked at compile time, not once per response.
const JSON_TYPE: HeaderValue = HeaderValue::from_static("application/json");

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response<Body> {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => {
                let mut r = Response::new(Body::from(bytes));
                r.headers_mut().insert(CONTENT_TYPE, JSON_TYPE);
                r
            }
            Err(e) => {
                tracing::error!(error = %e, "a response value failed to serialize to JSON");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
                    .detail("the response could not be serialized")
                    .into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h), "no content type");
        for (v, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/problem+json", true),
            ("text/json", false),
            ("application/jsonx", false),
            ("text/plain", false),
        ] {
            h.insert(CONTENT_TYPE, HeaderValue::from_static(v));
            assert_eq!(is_json(&h), ok, "{v}");
        }
    }
}
