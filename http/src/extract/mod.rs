//! Extractors: typed pieces of a request, as a handler's arguments.
//!
//! A handler is an async function whose arguments each implement one of two traits:
//! [`FromRequestParts`] for what is read from the head (method, URI, headers, path and
//! query parameters, state, extensions) and [`FromRequest`] for what consumes the body
//! (`Json<T>`, `String`, `Bytes`, `Body`, the whole `Request`). The body can be consumed
//! once, so only the last argument may be a `FromRequest` extractor:
//!
//! ```
//! use kiln_http::extract::{Json, Path, Query, State};
//! # #[derive(serde::Deserialize)] struct Page { limit: Option<u32> }
//! # #[derive(serde::Deserialize, serde::Serialize)] struct Book { title: String }
//! # #[derive(Clone)] struct Db;
//! async fn update(State(db): State<Db>, Path(id): Path<u64>, Query(page): Query<Page>,
//!                 Json(book): Json<Book>) -> Json<Book> {
//!     Json(book)
//! }
//! ```
//!
//! When an extractor fails, its *rejection* is the response and the handler never runs.
//! Kiln's rejections are RFC 9457 problem bodies with the status that fits: 400 for an
//! unparsable path or query, 415 for a body that is not JSON, 400 for JSON syntax, 422 for
//! JSON of the wrong shape, 413 for a body over the limit. `Option<T>` makes a head
//! extractor optional; `Result<T, T::Rejection>` lets the handler see the rejection.
//!
//! The `M` parameter of [`FromRequest`] is a marker that lets a head extractor also be
//! the last argument ([`ViaParts`]); user code never names it.

mod json;
mod path;
mod query;
mod state;

pub use json::Json;
pub use path::Path;
pub use query::Query;
pub use state::{FromRef, State};

use crate::response::{IntoResponse, Problem};
use crate::server::PeerAddr;
use crate::Body;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, Request, StatusCode, Uri, Version};
use std::future::Future;

/// An extractor that reads only the request head.
pub trait FromRequestParts<S>: Sized {
    /// The response when extraction fails.
    type Rejection: IntoResponse;

    /// Extracts `Self` from the head (extensions may be taken or added).
    fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;
}

/// Marker: the extractor consumes the request (its body).
#[derive(Debug)]
pub enum ViaRequest {}
/// Marker: a head extractor used as the last argument.
#[derive(Debug)]
pub enum ViaParts {}

/// An extractor that consumes the request, body included; only a handler's last argument.
pub trait FromRequest<S, M = ViaRequest>: Sized {
    /// The response when extraction fails.
    type Rejection: IntoResponse;

    /// Extracts `Self` from the whole request.
    fn from_request(
        request: Request<Body>,
        state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;
}

impl<S: Sync, T: FromRequestParts<S>> FromRequest<S, ViaParts> for T {
    type Rejection = T::Rejection;

    async fn from_request(request: Request<Body>, state: &S) -> Result<T, T::Rejection> {
        let (mut parts, _) = request.into_parts();
        T::from_request_parts(&mut parts, state).await
    }
}

/// The largest body the `String`, `Bytes` and `Json` extractors read, when a
/// [`BodyLimitLayer`](crate::middleware::BodyLimitLayer) set one for the route; otherwise the
/// server's `max_body` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

/// Reads a whole body under the route's limit; the rejection carries the right status.
pub(crate) async fn read_body(parts: &Parts, body: Body) -> Result<Bytes, Problem> {
    let limit = parts.extensions.get::<BodyLimit>().map_or(usize::MAX, |l| l.0);
    body.collect(limit).await.map_err(|e| Problem::new(e.status()).detail(e.to_string()))
}

macro_rules! from_parts_by_clone {
    ($($ty:ty => |$parts:ident| $get:expr),* $(,)?) => {$(
        impl<S: Sync> FromRequestParts<S> for $ty {
            type Rejection = std::convert::Infallible;
            async fn from_request_parts($parts: &mut Parts, _: &S) -> Result<$ty, std::convert::Infallible> {
                Ok($get)
            }
        }
    )*};
}

from_parts_by_clone! {
    Method => |parts| parts.method.clone(),
    Uri => |parts| parts.uri.clone(),
    Version => |parts| parts.version,
    HeaderMap => |parts| parts.headers.clone(),
}

impl<S: Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<PeerAddr, Problem> {
        PeerAddr::of(&parts.extensions).ok_or_else(|| {
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
                .detail("no peer address: not served by kiln_http::Server")
        })
    }
}

/// A value a middleware (or the server) put in the request's extensions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extension<T>(pub T);

impl<S: Sync, T: Clone + Send + Sync + 'static> FromRequestParts<S> for Extension<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Extension<T>, Problem> {
        parts.extensions.get::<T>().cloned().map(Extension).ok_or_else(|| {
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
                .detail(format!("missing request extension {}", std::any::type_name::<T>()))
        })
    }
}

impl<S: Sync, T: FromRequestParts<S> + Send> FromRequestParts<S> for Option<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<T>, std::convert::Infallible> {
        Ok(T::from_request_parts(parts, state).await.ok())
    }
}

impl<S: Sync, T: FromRequestParts<S> + Send> FromRequestParts<S> for Result<T, T::Rejection>
where
    T::Rejection: Send,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, std::convert::Infallible> {
        Ok(T::from_request_parts(parts, state).await)
    }
}

impl<S: Sync> FromRequest<S> for Request<Body> {
    type Rejection = std::convert::Infallible;

    async fn from_request(request: Request<Body>, _: &S) -> Result<Request<Body>, std::convert::Infallible> {
        Ok(request)
    }
}

impl<S: Sync> FromRequest<S> for Body {
    type Rejection = std::convert::Infallible;

    async fn from_request(request: Request<Body>, _: &S) -> Result<Body, std::convert::Infallible> {
        Ok(request.into_body())
    }
}

impl<S: Sync> FromRequest<S> for Bytes {
    type Rejection = Problem;

    async fn from_request(request: Request<Body>, _: &S) -> Result<Bytes, Problem> {
        let (parts, body) = request.into_parts();
        read_body(&parts, body).await
    }
}

impl<S: Sync> FromRequest<S> for String {
    type Rejection = Problem;

    async fn from_request(request: Request<Body>, _: &S) -> Result<String, Problem> {
        let (parts, body) = request.into_parts();
        let bytes = read_body(&parts, body).await?;
        String::from_utf8(bytes.to_vec())
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST).detail(format!("the body is not UTF-8: {e}")))
    }
}
