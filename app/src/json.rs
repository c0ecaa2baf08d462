//! JSON request bodies exactly as the OpenAPI document describes them.
//!
//! Two places where serde's defaults and JSON Schema disagree, decided in the document's
//! favour (it is what clients and `scripts/api-fuzz` read):
//!
//! - A body is a JSON **object**. serde also builds a struct from an array of its fields in
//!   order (`["ada@example.com", "pw", "Ada"]`), which no client should rely on and the
//!   document does not allow: [`JsonObject`] refuses anything but an object with 422.
//! - An **integer** is any number without a fractional part: JSON Schema counts `1965.0` as
//!   the integer 1965, serde's `i32` refuses it. [`integer`] takes both.
//! - An optional field may be **absent, not null**: serde reads `null` into an `Option` as
//!   `None`, as if absent, but the document says a display name is a string. [`some`] and
//!   [`some_integer`] (with `#[serde(default)]`) take a value or nothing, and refuse `null`.

use kiln_http::extract::{FromRequest, Json};
use kiln_http::http::{Request, StatusCode};
use kiln_http::response::Problem;
use kiln_http::Body;
use serde::de::{DeserializeOwned, Deserializer, Error};
use serde::Deserialize;
use serde_json::{Map, Value};

/// A JSON object body deserialized into `T` (415, 413, 400 as `Json`; 422 for anything but
/// an object, or an object of the wrong shape).
#[derive(Debug, Clone)]
pub struct JsonObject<T>(pub T);

impl<S: Sync, T: DeserializeOwned + Send> FromRequest<S> for JsonObject<T> {
    type Rejection = Problem;

    async fn from_request(request: Request<Body>, state: &S) -> Result<JsonObject<T>, Problem> {
        let Json(object) = Json::<Map<String, Value>>::from_request(request, state).await?;
        serde_json::from_value(Value::Object(object)).map(JsonObject).map_err(|e| {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY).detail(format!("invalid JSON body: {e}"))
        })
    }
}

/// Deserializes an integer written with or without a zero fraction (`1965`, `1965.0`) into
/// any integer type it fits.
///
/// # Errors
/// A fraction, a string, or a value out of `T`'s range.
pub fn integer<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<T, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    let whole = match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => Some(i),
        // Within ±2^53 every integer is exact as an f64, so the cast is exact.
        (None, Some(f)) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => Some(f as i64),
        _ => None,
    };
    whole
        .and_then(|i| T::try_from(i).ok())
        .ok_or_else(|| D::Error::custom(format!("expected an integer in range, got {n}")))
}

/// An optional field that may be absent (with `#[serde(default)]`) but not `null`.
///
/// # Errors
/// `null`, or whatever `T` refuses.
pub fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// [`integer`] for an optional field that may be absent but not `null`.
///
/// # Errors
/// As [`integer`], and `null`.
pub fn some_integer<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<Option<T>, D::Error> {
    integer(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Year {
        #[serde(deserialize_with = "integer")]
        year: i32,
        #[serde(default, deserialize_with = "some_integer")]
        copies: Option<i64>,
        #[serde(default, deserialize_with = "some")]
        name: Option<String>,
    }

    #[test]
    fn integers_with_a_zero_fraction_are_integers() {
        let y: Year = serde_json::from_str(r#"{"year": 1965.0, "copies": 3, "name": "x"}"#).unwrap();
        assert_eq!(y, Year { year: 1965, copies: Some(3), name: Some("x".into()) });
        let y: Year = serde_json::from_str(r#"{"year": -244}"#).unwrap();
        assert_eq!(y, Year { year: -244, copies: None, name: None }, "absent is None");
        for bad in [
            r#"{"year": 1965.5}"#,
            r#"{"year": "1965"}"#,
            r#"{"year": 1e300}"#,
            r#"{"year": 4294967296}"#,
            r#"{"year": 1, "copies": null}"#,
            r#"{"year": 1, "name": null}"#,
        ] {
            assert!(serde_json::from_str::<Year>(bad).is_err(), "{bad}");
        }
    }
}
