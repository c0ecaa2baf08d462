//! `Query<T>`: the query string, deserialized with serde (`?limit=20&author=Le+Guin`).
//!
//! Fields are parsed from their text (`limit: u32` accepts `20`, refuses `twenty`); missing
//! optional fields are `None`. A query that does not fit `T` is a 400 problem naming the
//! field and why.

use super::FromRequestParts;
use crate::response::Problem;
use http::request::Parts;
use http::StatusCode;
use serde::de::DeserializeOwned;

/// The deserialized query string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<S: Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Query<T>, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(Query)
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST).detail(format!("invalid query string: {e}")))
    }
}
