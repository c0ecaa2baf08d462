//! `IntoResponse`: what a handler may return.
//!
//! Text is `text/plain; charset=utf-8`, bytes are `application/octet-stream`, a bare
//! status has an empty body, and tuples add a status and headers in front of any other
//! response. Headers that cannot be represented (an invalid name or value) turn the
//! response into a 500 rather than a panic or a silently dropped header.

use super::error_response;
use crate::Body;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, Response, StatusCode};
use std::convert::Infallible;

/// Anything a handler can return.
pub trait IntoResponse {
    /// The response.
    fn into_response(self) -> Response<Body>;
}

impl IntoResponse for Response<Body> {
    fn into_response(self) -> Response<Body> {
        self
    }
}

impl IntoResponse for Body {
    fn into_response(self) -> Response<Body> {
        Response::new(self)
    }
}

fn with_type(body: Body, content_type: HeaderValue) -> Response<Body> {
    let mut r = Response::new(body);
    r.headers_mut().insert(CONTENT_TYPE, content_type);
    r
}

// Constants, so the header value is checked at compile time, not once per response.
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const OCTETS: HeaderValue = HeaderValue::from_static("application/octet-stream");

impl IntoResponse for &'static str {
    fn into_response(self) -> Response<Body> {
        with_type(Body::from(self), TEXT)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response<Body> {
        with_type(Body::from(self), TEXT)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response<Body> {
        with_type(Body::from(self), OCTETS)
    }
}

impl IntoResponse for &'static [u8] {
    fn into_response(self) -> Response<Body> {
        with_type(Body::from(self), OCTETS)
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response<Body> {
        with_type(Body::from(self), OCTETS)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response<Body> {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = self;
        r
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response<Body> {
        Response::new(Body::empty())
    }
}

impl IntoResponse for Infallible {
    fn into_response(self) -> Response<Body> {
        match self {}
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response<Body> {
        match self {
            Ok(t) => t.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response<Body> {
        let mut r = self.1.into_response();
        *r.status_mut() = self.0;
        r
    }
}

impl<T: IntoResponse> IntoResponse for (HeaderMap, T) {
    fn into_response(self) -> Response<Body> {
        let mut r = self.1.into_response();
        r.headers_mut().extend(self.0);
        r
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, HeaderMap, T) {
    fn into_response(self) -> Response<Body> {
        (self.0, (self.1, self.2)).into_response()
    }
}

impl<K, V, const N: usize, T> IntoResponse for ([(K, V); N], T)
where
    K: TryInto<HeaderName>,
    K::Error: std::fmt::Display,
    V: TryInto<HeaderValue>,
    V::Error: std::fmt::Display,
    T: IntoResponse,
{
    fn into_response(self) -> Response<Body> {
        let mut headers = HeaderMap::with_capacity(N);
        for (k, v) in self.0 {
            let name = match k.try_into() {
                Ok(n) => n,
                Err(e) => return invalid_header(&e),
            };
            match v.try_into() {
                Ok(v) => headers.insert(name, v),
                Err(e) => return invalid_header(&e),
            };
        }
        (headers, self.1).into_response()
    }
}

impl<K, V, const N: usize, T> IntoResponse for (StatusCode, [(K, V); N], T)
where
    ([(K, V); N], T): IntoResponse,
{
    fn into_response(self) -> Response<Body> {
        (self.0, (self.1, self.2)).into_response()
    }
}

fn invalid_header(e: &dyn std::fmt::Display) -> Response<Body> {
    tracing::error!(error = %e, "a handler returned a header that cannot be sent");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "the response had an invalid header")
}

/// A redirect: `303 See Other` ([`Redirect::to`]), `307` ([`Redirect::temporary`]) or
/// `308` ([`Redirect::permanent`]) with a `Location`.
#[derive(Debug, Clone)]
pub struct Redirect {
    status: StatusCode,
    location: String,
}

impl Redirect {
    /// `303 See Other`: the client follows with a GET (after a form POST, for instance).
    pub fn to(uri: &str) -> Redirect {
        Redirect { status: StatusCode::SEE_OTHER, location: uri.to_owned() }
    }

    /// `307 Temporary Redirect`: same method, same body.
    pub fn temporary(uri: &str) -> Redirect {
        Redirect { status: StatusCode::TEMPORARY_REDIRECT, location: uri.to_owned() }
    }

    /// `308 Permanent Redirect`.
    pub fn permanent(uri: &str) -> Redirect {
        Redirect { status: StatusCode::PERMANENT_REDIRECT, location: uri.to_owned() }
    }
}

impl IntoResponse for Redirect {
    fn into_response(self) -> Response<Body> {
        ([(LOCATION, self.location)], self.status).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_set_status_headers_and_type() {
        let r = (StatusCode::CREATED, [("x-id", "7")], "made").into_response();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.headers()["x-id"], "7");
        assert_eq!(r.headers()[CONTENT_TYPE], TEXT);
        assert_eq!(r.body().as_bytes().unwrap(), "made");
        let r = Bytes::from_static(b"\x00\x01").into_response();
        assert_eq!(r.headers()[CONTENT_TYPE], OCTETS);
        let r: Result<&str, StatusCode> = Err(StatusCode::NOT_FOUND);
        assert_eq!(r.into_response().status(), StatusCode::NOT_FOUND);
        let r = Redirect::permanent("/new").into_response();
        assert_eq!(
            (r.status(), r.headers()[LOCATION].to_str().unwrap()),
            (StatusCode::PERMANENT_REDIRECT, "/new")
        );
    }

    #[test]
    fn an_invalid_header_becomes_a_500_not_a_panic() {
        let r = ([("x-bad", "line\nbreak")], "body").into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let r = ([("bad name", "v")], "body").into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
