//! `Handler`: what the server calls for each request.
//!
//! Any `Fn(Request<Body>) -> impl Future<Output = Response<Body>>` that can be shared between
//! connections is a handler; the router (next) will be one too. The server clones the handler
//! into each connection task, so a handler holds its state behind an `Arc`.

use crate::Body;
use http::{Request, Response};
use std::future::Future;

/// Turns a request into a response.
pub trait Handler: Clone + Send + Sync + 'static {
    /// Answers one request.
    fn call(&self, request: Request<Body>) -> impl Future<Output = Response<Body>> + Send;
}

impl<F, Fut> Handler for F
where
    F: Fn(Request<Body>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send,
{
    fn call(&self, request: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        self(request)
    }
}
