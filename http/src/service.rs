//! `Service` and `Layer`: what a server calls, and how middleware wraps it.
//!
//! The shape is tower's, cut down to what an HTTP/1.1 server needs: a [`Service`] turns a
//! request into a response (it cannot fail: errors are responses too), and a [`Layer`]
//! wraps one service in another — that is all middleware is. Because `call` returns
//! `impl Future`, a stack of layers compiles to one nested future with no boxing per layer.
//!
//! A [`Router`](crate::Router) is a service, and so is any async closure or function
//! `Fn(Request<Body>) -> impl Future<Output = Response<Body>>`:
//!
//! ```
//! use kiln_http::{Body, ServiceExt, middleware::RequestIdLayer};
//! use kiln_http::http::{Request, Response};
//!
//! let app = (|_req: Request<Body>| async { Response::new(Body::from("hi")) })
//!     .layer(RequestIdLayer::new()); // the request id wraps the closure
//! # let _ = app;
//! ```

use crate::Body;
use http::{Request, Response};
use std::future::Future;

/// Turns a request into a response. Cloned into each connection, so state lives behind an
/// `Arc` (a [`Router`](crate::Router) is cheap to clone).
pub trait Service: Clone + Send + Sync + 'static {
    /// Answers one request.
    fn call(&self, request: Request<Body>) -> impl Future<Output = Response<Body>> + Send;
}

impl<F, Fut> Service for F
where
    F: Fn(Request<Body>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send,
{
    fn call(&self, request: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        self(request)
    }
}

/// Wraps a service in another: a piece of middleware.
pub trait Layer<S> {
    /// The wrapped service.
    type Service;
    /// Wraps `inner`.
    fn layer(&self, inner: S) -> Self::Service;
}

/// `.layer(…)` on every service: `app.layer(a).layer(b)` puts `b` outermost, so a request
/// passes `b`, then `a`, then reaches `app`.
pub trait ServiceExt: Service + Sized {
    /// Wraps `self` in `layer`.
    fn layer<L: Layer<Self>>(self, layer: L) -> L::Service {
        layer.layer(self)
    }
}

impl<S: Service> ServiceExt for S {}
