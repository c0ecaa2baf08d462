//! `Router`: which handler answers which method and path (axum's shape, first part).
//!
//! ```
//! use kiln_http::router::{get, Router};
//! use kiln_http::{http::Request, http::Response, Body};
//!
//! async fn list(_: Request<Body>) -> Response<Body> { Response::new(Body::from("[]")) }
//! async fn show(req: Request<Body>) -> Response<Body> {
//!     let id = kiln_http::router::path_param(&req, "id").unwrap_or("?").to_owned();
//!     Response::new(Body::from(id))
//! }
//! let app = Router::new().route("/books", get(list)).route("/books/{id}", get(show));
//! # let _ = app;
//! ```
//!
//! Patterns are split on `/` into static segments, `{name}` parameters (one segment) and a
//! final `{*name}` wildcard (the rest of the path). When several routes match, the most
//! specific wins, segment by segment: static before parameter before wildcard. A path that
//! matches a route but not its methods is answered `405 Method Not Allowed` with an `Allow`
//! header; no match at all is `404` with a JSON body, or the fallback handler if one is set.
//! `HEAD` is served by the `GET` handler (the server drops the body).
//!
//! Still to come (issue 5): `nest`, `merge`, `with_state`, and typed extractors (`Path<T>`
//! will deserialize what [`path_param`] reads raw here).

use crate::{Body, Handler};
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

type BoxFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;
type BoxHandler = Arc<dyn Fn(Request<Body>) -> BoxFuture + Send + Sync>;

fn boxed<H: Handler>(h: H) -> BoxHandler {
    Arc::new(move |req| {
        let h = h.clone();
        Box::pin(async move { h.call(req).await })
    })
}

/// The methods one path answers, built with [`get`], [`post`]… and chained
/// (`get(show).put(replace)`).
#[derive(Clone, Default)]
pub struct MethodRouter {
    handlers: Vec<(Method, BoxHandler)>,
}

macro_rules! method_fns {
    ($($fn_name:ident => $method:ident),*) => {
        $(
            #[doc = concat!("A route answering `", stringify!($method), "` with `handler`.")]
            pub fn $fn_name<H: Handler>(handler: H) -> MethodRouter {
                MethodRouter::default().$fn_name(handler)
            }
        )*
        impl MethodRouter {
            $(
                #[doc = concat!("Also answers `", stringify!($method), "` with `handler`.")]
                ///
                /// # Panics
                /// If this method already has a handler.
                pub fn $fn_name<H: Handler>(self, handler: H) -> MethodRouter {
                    self.on(Method::$method, handler)
                }
            )*
        }
    };
}

method_fns!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE, options => OPTIONS);

impl MethodRouter {
    /// Answers `method` with `handler`.
    ///
    /// # Panics
    /// If `method` already has a handler.
    pub fn on<H: Handler>(mut self, method: Method, handler: H) -> MethodRouter {
        assert!(!self.handlers.iter().any(|(m, _)| *m == method), "{method} is routed twice for one path");
        self.handlers.push((method, boxed(handler)));
        self
    }

    fn find(&self, method: &Method) -> Option<&BoxHandler> {
        let wanted = if method == Method::HEAD && !self.handlers.iter().any(|(m, _)| m == Method::HEAD) {
            &Method::GET
        } else {
            method
        };
        self.handlers.iter().find(|(m, _)| m == wanted).map(|(_, h)| h)
    }

    fn allow(&self) -> String {
        let mut methods: Vec<&str> = self.handlers.iter().map(|(m, _)| m.as_str()).collect();
        if methods.contains(&"GET") && !methods.contains(&"HEAD") {
            methods.push("HEAD");
        }
        methods.join(", ")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Static(String),
    Param(String),
    Wildcard(String),
}

impl Segment {
    /// Higher is more specific.
    fn rank(&self) -> u8 {
        match self {
            Segment::Static(_) => 2,
            Segment::Param(_) => 1,
            Segment::Wildcard(_) => 0,
        }
    }
}

fn parse_pattern(pattern: &str) -> Vec<Segment> {
    assert!(pattern.starts_with('/'), "route {pattern:?} must start with '/'");
    let parts: Vec<&str> = pattern[1..].split('/').collect();
    let last = parts.len() - 1;
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            if let Some(name) = part.strip_prefix("{*").and_then(|p| p.strip_suffix('}')) {
                assert!(i == last, "route {pattern:?}: a {{*wildcard}} must be the last segment");
                Segment::Wildcard(name.to_owned())
            } else if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                assert!(!name.is_empty(), "route {pattern:?}: a parameter needs a name");
                Segment::Param(name.to_owned())
            } else {
                assert!(!part.contains(['{', '}']), "route {pattern:?}: braces only around a whole segment");
                Segment::Static((*part).to_owned())
            }
        })
        .collect()
}

/// Path parameters of the matched route, in the request's extensions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathParams(pub Vec<(String, String)>);

/// The raw value of path parameter `name` of the route that matched `request`.
pub fn path_param<'r>(request: &'r Request<Body>, name: &str) -> Option<&'r str> {
    let params = request.extensions().get::<PathParams>()?;
    params.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[derive(Clone)]
struct Route {
    pattern: String,
    segments: Vec<Segment>,
    methods: MethodRouter,
}

impl Route {
    /// The parameters if `path` matches.
    fn matches(&self, path: &[&str]) -> Option<Vec<(String, String)>> {
        let mut params = Vec::new();
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Wildcard(name) => {
                    params.push((name.clone(), path.get(i..).map(|rest| rest.join("/")).unwrap_or_default()));
                    return Some(params);
                }
                Segment::Static(s) => {
                    if path.get(i) != Some(&s.as_str()) {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let value = path.get(i).filter(|v| !v.is_empty())?;
                    params.push((name.clone(), (*value).to_owned()));
                }
            }
        }
        (path.len() == self.segments.len()).then_some(params)
    }
}

/// Routes requests to handlers by method and path; a [`Handler`] itself, so it is what a
/// [`Server`](crate::Server) serves.
#[derive(Clone, Default)]
pub struct Router {
    routes: Arc<Vec<Route>>,
    fallback: Option<BoxHandler>,
}

impl Router {
    /// A router with no routes (everything is 404).
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds a route.
    ///
    /// # Panics
    /// On a malformed pattern, or a pattern already routed (the same shape, whatever the
    /// parameter names).
    pub fn route(mut self, pattern: &str, methods: MethodRouter) -> Router {
        let segments = parse_pattern(pattern);
        let shape = |segs: &[Segment]| {
            segs.iter()
                .map(|s| match s {
                    Segment::Static(v) => v.clone(),
                    Segment::Param(_) => "{}".into(),
                    Segment::Wildcard(_) => "{*}".into(),
                })
                .collect::<Vec<_>>()
        };
        if let Some(existing) = self.routes.iter().find(|r| shape(&r.segments) == shape(&segments)) {
            panic!("route {pattern:?} overlaps {:?}, which is already routed", existing.pattern);
        }
        let mut routes = (*self.routes).clone();
        routes.push(Route { pattern: pattern.to_owned(), segments, methods });
        // Most specific first: compare segment ranks left to right, then longer first.
        routes.sort_by(|a, b| {
            let ra: Vec<u8> = a.segments.iter().map(Segment::rank).collect();
            let rb: Vec<u8> = b.segments.iter().map(Segment::rank).collect();
            rb.cmp(&ra)
        });
        self.routes = Arc::new(routes);
        self
    }

    /// Answers requests no route matches (instead of the JSON 404).
    pub fn fallback<H: Handler>(mut self, handler: H) -> Router {
        self.fallback = Some(boxed(handler));
        self
    }

    async fn dispatch(&self, mut request: Request<Body>) -> Response<Body> {
        let path = request.uri().path().to_owned();
        let parts: Vec<&str> = path.strip_prefix('/').unwrap_or(&path).split('/').collect();
        let mut allowed: Option<String> = None;
        for route in self.routes.iter() {
            let Some(params) = route.matches(&parts) else { continue };
            match route.methods.find(request.method()) {
                Some(handler) => {
                    request.extensions_mut().insert(PathParams(params));
                    return handler(request).await;
                }
                None => {
                    allowed.get_or_insert_with(|| route.methods.allow());
                }
            }
        }
        if let Some(allow) = allowed {
            let mut r = json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("{} is not allowed here", request.method()),
            );
            if let Ok(v) = HeaderValue::from_str(&allow) {
                r.headers_mut().insert(ALLOW, v);
            }
            return r;
        }
        match &self.fallback {
            Some(f) => f(request).await,
            None => json_error(StatusCode::NOT_FOUND, &format!("no route for {path}")),
        }
    }
}

impl Handler for Router {
    fn call(&self, request: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        let router = self.clone();
        async move { router.dispatch(request).await }
    }
}

/// A JSON error response: `{"error":{"status":404,"message":"…"}}`.
pub fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    let mut r = Response::new(Body::error_json(status, message));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn named(req: Request<Body>) -> Response<Body> {
        let params = req.extensions().get::<PathParams>().cloned().unwrap_or_default();
        Response::new(Body::from(format!("{} {} {:?}", req.method(), req.uri().path(), params.0)))
    }

    async fn fixed(_: Request<Body>) -> Response<Body> {
        Response::new(Body::from("static"))
    }

    fn call(router: &Router, method: Method, path: &str) -> (StatusCode, Option<String>, String) {
        let rt = kiln_runtime::runtime::Builder::new_current_thread().build().unwrap();
        let req = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
        let r = rt.block_on(router.call(req));
        let allow = r.headers().get(ALLOW).map(|v| v.to_str().unwrap().to_owned());
        (r.status(), allow, String::from_utf8(r.into_body().into_bytes()).unwrap())
    }

    #[test]
    fn routes_by_method_and_path_with_params_and_wildcards() {
        let app = Router::new()
            .route("/books", get(named).post(named))
            .route("/books/{id}", get(named).put(named).delete(named))
            .route("/books/new", get(fixed))
            .route("/files/{*rest}", get(named));
        assert_eq!(call(&app, Method::GET, "/books").2, "GET /books []");
        assert_eq!(call(&app, Method::POST, "/books").2, "POST /books []");
        assert_eq!(call(&app, Method::GET, "/books/42").2, r#"GET /books/42 [("id", "42")]"#);
        assert_eq!(call(&app, Method::GET, "/books/new").2, "static", "static beats a parameter");
        assert_eq!(
            call(&app, Method::GET, "/files/a/b/c.txt").2,
            r#"GET /files/a/b/c.txt [("rest", "a/b/c.txt")]"#
        );
        assert_eq!(call(&app, Method::HEAD, "/books/7").0, StatusCode::OK, "HEAD is served by GET");
        let (status, allow, body) = call(&app, Method::PATCH, "/books/42");
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(allow.as_deref(), Some("GET, PUT, DELETE, HEAD"));
        assert!(body.contains("\"status\":405"), "{body}");
        let (status, _, body) = call(&app, Method::GET, "/nope");
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("no route for /nope"), "{body}");
        assert_eq!(
            call(&app, Method::GET, "/books/").0,
            StatusCode::NOT_FOUND,
            "an empty parameter does not match"
        );
        let with_fallback = app.fallback(fixed);
        assert_eq!(call(&with_fallback, Method::GET, "/nope").2, "static");
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn overlapping_routes_are_refused_at_startup() {
        let _ = Router::new().route("/books/{id}", get(named)).route("/books/{name}", get(named));
    }

    #[test]
    #[should_panic(expected = "routed twice")]
    fn a_method_routed_twice_is_refused() {
        let _ = get(named).get(fixed);
    }
}
