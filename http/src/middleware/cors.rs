//! CORS (the Fetch standard's cross-origin resource sharing): which other web origins may
//! call this API from a browser.
//!
//! A browser sends `Origin` with cross-origin requests. For a "simple" request it sends the
//! request and lets the page read the response only if the response's
//! `Access-Control-Allow-Origin` names the page's origin. For anything else (a JSON body, a
//! `DELETE`, an `Authorization` header) it first sends a *preflight*: `OPTIONS` with
//! `Access-Control-Request-Method` and `-Headers`, and goes on only if the answer allows
//! them. This layer answers preflights itself (204, or 403 with a problem body saying what
//! is not allowed) and adds the allow headers to actual responses for allowed origins.
//! Requests without `Origin` (curl, servers) pass through untouched.

use crate::response::error_response;
use crate::{Body, Layer, Service};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Builds a [`Cors`] policy; nothing is allowed until configured.
#[derive(Debug, Clone)]
pub struct CorsLayer {
    policy: Policy,
}

#[derive(Debug, Clone)]
struct Policy {
    any_origin: bool,
    origins: Vec<HeaderValue>,
    methods: Vec<Method>,
    headers: Vec<HeaderName>,
    expose: Vec<HeaderName>,
    max_age: Duration,
    credentials: bool,
}

impl Default for CorsLayer {
    fn default() -> Self {
        CorsLayer::new()
    }
}

impl CorsLayer {
    /// A policy allowing no origin, the methods GET, HEAD and POST, no extra request
    /// headers, and preflights cached for 10 minutes.
    pub fn new() -> CorsLayer {
        CorsLayer {
            policy: Policy {
                any_origin: false,
                origins: Vec::new(),
                methods: vec![Method::GET, Method::HEAD, Method::POST],
                headers: Vec::new(),
                expose: Vec::new(),
                max_age: Duration::from_secs(600),
                credentials: false,
            },
        }
    }

    /// Allows `origin` (`https://app.example.com`: scheme, host, port if not default).
    ///
    /// # Panics
    /// If `origin` is not a valid header value.
    #[must_use]
    pub fn allow_origin(mut self, origin: &str) -> CorsLayer {
        let v = HeaderValue::from_str(origin)
            .unwrap_or_else(|_| panic!("CORS origin {origin:?} is not a header value"));
        self.policy.origins.push(v);
        self
    }

    /// Allows every origin (`Access-Control-Allow-Origin: *`).
    #[must_use]
    pub fn allow_any_origin(mut self) -> CorsLayer {
        self.policy.any_origin = true;
        self
    }

    /// The methods cross-origin requests may use.
    #[must_use]
    pub fn allow_methods(mut self, methods: impl IntoIterator<Item = Method>) -> CorsLayer {
        self.policy.methods = methods.into_iter().collect();
        self
    }

    /// Request headers cross-origin requests may send (beyond the always-safe ones).
    #[must_use]
    pub fn allow_headers(mut self, headers: impl IntoIterator<Item = HeaderName>) -> CorsLayer {
        self.policy.headers = headers.into_iter().collect();
        self
    }

    /// Response headers the page may read (beyond the always-readable ones).
    #[must_use]
    pub fn expose_headers(mut self, headers: impl IntoIterator<Item = HeaderName>) -> CorsLayer {
        self.policy.expose = headers.into_iter().collect();
        self
    }

    /// How long a browser may cache a preflight answer.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> CorsLayer {
        self.policy.max_age = max_age;
        self
    }

    /// Lets the page send cookies and `Authorization` and read the response.
    ///
    /// # Panics
    /// At [`Layer::layer`], if combined with [`CorsLayer::allow_any_origin`] (browsers refuse
    /// that combination, so it is a configuration error).
    #[must_use]
    pub fn allow_credentials(mut self) -> CorsLayer {
        self.policy.credentials = true;
        self
    }
}

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;
    fn layer(&self, inner: S) -> Cors<S> {
        assert!(
            !(self.policy.any_origin && self.policy.credentials),
            "CORS: allow_credentials cannot be combined with allow_any_origin"
        );
        Cors { inner, policy: Arc::new(self.policy.clone()) }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Cors<S> {
    inner: S,
    policy: Arc<Policy>,
}

fn join<T: AsRef<str>>(items: &[T]) -> HeaderValue {
    let text: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    HeaderValue::from_str(&text.join(", ")).expect("method and header names are valid header values")
}

impl Policy {
    /// The `Access-Control-Allow-Origin` value for `origin`, if it is allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        if self.any_origin {
            Some(HeaderValue::from_static("*"))
        } else {
            self.origins.iter().any(|o| o == origin).then(|| origin.clone())
        }
    }

    fn decorate(&self, response: &mut Response<Body>, allow: HeaderValue) {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if !self.any_origin {
            h.append(header::VARY, HeaderValue::from_static("origin"));
        }
        if self.credentials {
            h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
    }

    fn preflight(&self, request: &Request<Body>, origin: &HeaderValue) -> Response<Body> {
        let forbidden =
            |why: String| error_response(StatusCode::FORBIDDEN, &format!("CORS preflight refused: {why}"));
        let Some(allow) = self.allow_origin(origin) else {
            return forbidden(format!("origin {origin:?} is not allowed"));
        };
        let wanted = request.headers().get(header::ACCESS_CONTROL_REQUEST_METHOD);
        let method = wanted.and_then(|m| Method::from_bytes(m.as_bytes()).ok());
        if !method.is_some_and(|m| self.methods.contains(&m)) {
            return forbidden(format!("method {wanted:?} is not allowed"));
        }
        let headers = request.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS);
        for name in headers.and_then(|v| v.to_str().ok()).unwrap_or_default().split(',') {
            let name = name.trim();
            if !name.is_empty() && !self.headers.iter().any(|h| h.as_str().eq_ignore_ascii_case(name)) {
                return forbidden(format!("header {name:?} is not allowed"));
            }
        }
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        self.decorate(&mut r, allow);
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            join(&self.methods.iter().map(Method::as_str).collect::<Vec<_>>()),
        );
        if !self.headers.is_empty() {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, join(&self.headers));
        }
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(self.max_age.as_secs()));
        r
    }
}

impl<S: Service> Service for Cors<S> {
    #[allow(clippy::manual_async_fn)] // an `async fn` here would not promise `Send`
    fn call(&self, request: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        async move {
            let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
                return self.inner.call(request).await;
            };
            let policy = &self.policy;
            if request.method() == Method::OPTIONS
                && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
            {
                return policy.preflight(&request, &origin);
            }
            let allow = policy.allow_origin(&origin);
            let mut response = self.inner.call(request).await;
            if let Some(allow) = allow {
                policy.decorate(&mut response, allow);
                if !policy.expose.is_empty() {
                    response
                        .headers_mut()
                        .insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, join(&policy.expose));
                }
            }
            response
        }
    }
}
