//! `Router`: which handler answers which method and path (axum's shape).
//!
//! ```
//! use kiln_http::extract::{Path, State};
//! use kiln_http::router::{get, Router};
//!
//! #[derive(Clone)]
//! struct AppState { greeting: &'static str }
//!
//! async fn list() -> &'static str { "[]" }
//! async fn show(State(s): State<AppState>, Path(id): Path<u64>) -> String {
//!     format!("{} #{id}", s.greeting)
//! }
//! let books = Router::new().route("/", get(list)).route("/{id}", get(show));
//! let app: Router = Router::new()
//!     .nest("/books", books)
//!     .with_state(AppState { greeting: "book" });
//! # let _ = app;
//! ```
//!
//! Patterns are split on `/` into static segments, `{name}` parameters (one segment) and a
//! final `{*name}` wildcard (the rest of the path, at least one character). When several routes match, the most
//! specific wins, segment by segment: static before parameter before wildcard. A path that
//! matches a route but not its methods is answered `405 Method Not Allowed` with an `Allow`
//! header; no match at all is a `404` problem, or the fallback if one is set. `HEAD` is
//! served by the `GET` handler (the server drops the body).
//!
//! The table is a tree of path segments (`router/tree.rs`): finding a route costs one step
//! per segment of the request's path, whatever the number of routes.
//!
//! `Router<S>` is a router whose handlers need state `S`; [`Router::with_state`] supplies it
//! and gives a `Router<()>`, which is a [`Service`] a server can run. [`Router::nest`] mounts
//! a router under a prefix, [`Router::merge`] combines two; overlapping routes are refused
//! when the router is built, not discovered at request time.

use crate::handler::Handler;
use crate::response::error_response;
use crate::{Body, Service};
use http::header::{HeaderValue, ALLOW};
use http::{Method, Request, Response, StatusCode};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tree::{Node, Step};

mod tree;

type BoxFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;
type Erased<S> = Arc<dyn Fn(Request<Body>, S) -> BoxFuture + Send + Sync>;

fn erase<H: Handler<T, S>, T: 'static, S: 'static>(handler: H) -> Erased<S> {
    Arc::new(move |req, state| Box::pin(handler.clone().call(req, state)))
}

fn erase_service<S: 'static, Svc: Service>(service: Svc) -> Erased<S> {
    Arc::new(move |req, _| {
        let service = service.clone();
        Box::pin(async move { service.call(req).await })
    })
}

/// Supplies the state an erased handler needs, giving one that needs `S2` (nothing).
fn provide<S: Clone + Send + Sync + 'static, S2>(handler: Erased<S>, state: S) -> Erased<S2> {
    Arc::new(move |req, _| handler(req, state.clone()))
}

/// The methods one path answers, built with [`get`], [`post`]… and chained
/// (`get(show).put(replace)`).
pub struct MethodRouter<S = ()> {
    handlers: Vec<(Method, Erased<S>)>,
    any: Option<Erased<S>>,
}

impl<S> Clone for MethodRouter<S> {
    fn clone(&self) -> Self {
        MethodRouter { handlers: self.handlers.clone(), any: self.any.clone() }
    }
}

impl<S> Default for MethodRouter<S> {
    fn default() -> Self {
        MethodRouter { handlers: Vec::new(), any: None }
    }
}

macro_rules! method_fns {
    ($($fn_name:ident => $method:ident),*) => {
        $(
            #[doc = concat!("A route answering `", stringify!($method), "` with `handler`.")]
            pub fn $fn_name<H: Handler<T, S>, T: 'static, S: 'static>(handler: H) -> MethodRouter<S> {
                MethodRouter::default().$fn_name(handler)
            }
        )*
        impl<S: 'static> MethodRouter<S> {
            $(
                #[doc = concat!("Also answers `", stringify!($method), "` with `handler`.")]
                ///
                /// # Panics
                /// If this method already has a handler.
                #[must_use]
                pub fn $fn_name<H: Handler<T, S>, T: 'static>(self, handler: H) -> MethodRouter<S> {
                    self.on(Method::$method, handler)
                }
            )*
        }
    };
}

method_fns!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE, options => OPTIONS);

/// A route answering every method with `handler`.
pub fn any<H: Handler<T, S>, T: 'static, S: 'static>(handler: H) -> MethodRouter<S> {
    MethodRouter { handlers: Vec::new(), any: Some(erase(handler)) }
}

impl<S: 'static> MethodRouter<S> {
    /// Answers `method` with `handler`.
    ///
    /// # Panics
    /// If `method` already has a handler.
    #[must_use]
    pub fn on<H: Handler<T, S>, T: 'static>(mut self, method: Method, handler: H) -> MethodRouter<S> {
        assert!(!self.handlers.iter().any(|(m, _)| *m == method), "{method} is routed twice for one path");
        self.handlers.push((method, erase(handler)));
        self
    }

    fn find(&self, method: &Method) -> Option<&Erased<S>> {
        let wanted = if method == Method::HEAD && !self.handlers.iter().any(|(m, _)| m == Method::HEAD) {
            &Method::GET
        } else {
            method
        };
        self.handlers.iter().find(|(m, _)| m == wanted).map(|(_, h)| h).or(self.any.as_ref())
    }

    fn allow(&self) -> String {
        let mut methods: Vec<&str> = self.handlers.iter().map(|(m, _)| m.as_str()).collect();
        if methods.contains(&"GET") && !methods.contains(&"HEAD") {
            methods.push("HEAD");
        }
        methods.join(", ")
    }

    fn with_state<S2>(self, state: S) -> MethodRouter<S2>
    where
        S: Clone + Send + Sync + 'static,
    {
        MethodRouter {
            handlers: self.handlers.into_iter().map(|(m, h)| (m, provide(h, state.clone()))).collect(),
            any: self.any.map(|h| provide(h, state)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Static(String),
    Param(String),
    Wildcard(String),
}

impl Segment {
    fn step(&self) -> Step<'_> {
        match self {
            Segment::Static(literal) => Step::Literal(literal),
            Segment::Param(_) => Step::Param,
            Segment::Wildcard(_) => Step::Wildcard,
        }
    }

    /// The name of a parameter or wildcard.
    fn name(&self) -> Option<&str> {
        match self {
            Segment::Static(_) => None,
            Segment::Param(name) | Segment::Wildcard(name) => Some(name),
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

/// Path parameters of the matched route, in the request's extensions (absent when the route
/// has none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathParams(pub Vec<(String, String)>);

/// The raw value of path parameter `name` of the route that matched `request`.
pub fn path_param<'r>(request: &'r Request<Body>, name: &str) -> Option<&'r str> {
    let params = request.extensions().get::<PathParams>()?;
    params.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

struct Route<S> {
    pattern: Arc<str>,
    segments: Vec<Segment>,
    methods: MethodRouter<S>,
}

impl<S> Clone for Route<S> {
    fn clone(&self) -> Self {
        Route {
            pattern: self.pattern.clone(),
            segments: self.segments.clone(),
            methods: self.methods.clone(),
        }
    }
}

impl<S> Route<S> {
    /// The route's parameters, named, from their values in pattern order.
    fn params(&self, values: &[&str]) -> Vec<(String, String)> {
        if values.is_empty() {
            return Vec::new();
        }
        let names = self.segments.iter().filter_map(Segment::name);
        names.zip(values).map(|(name, value)| (name.to_owned(), (*value).to_owned())).collect()
    }
}

/// The routes, and the tree that finds them (it holds indices into `routes`).
struct Table<S> {
    routes: Vec<Route<S>>,
    tree: Node,
    /// Whether responses carry the [`MatchedPath`] of their route.
    matched_path: bool,
}

impl<S> Clone for Table<S> {
    fn clone(&self) -> Self {
        Table { routes: self.routes.clone(), tree: self.tree.clone(), matched_path: self.matched_path }
    }
}

/// The pattern of the route that answered (`/books/{id}`, not `/books/7`), in the response's
/// extensions when the router was built [`with_matched_path`](Router::with_matched_path): a
/// label for metrics and logs that does not grow with every id requested. A layer outside
/// the router reads it off the response; a nested router's pattern, set first, is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchedPath(pub Arc<str>);

/// Routes requests to handlers by method and path; see the module docs.
pub struct Router<S = ()> {
    /// Shared: a server clones its service per connection.
    table: Arc<Table<S>>,
    fallback: Option<Erased<S>>,
}

impl<S> Clone for Router<S> {
    fn clone(&self) -> Self {
        Router { table: self.table.clone(), fallback: self.fallback.clone() }
    }
}

impl<S> Default for Router<S> {
    fn default() -> Self {
        Router {
            table: Arc::new(Table { routes: Vec::new(), tree: Node::default(), matched_path: false }),
            fallback: None,
        }
    }
}

impl<S: 'static> Router<S> {
    /// A router with no routes (everything is 404).
    pub fn new() -> Router<S> {
        Router::default()
    }

    /// Adds a route.
    ///
    /// # Panics
    /// On a malformed pattern, or a pattern already routed (the same shape, whatever the
    /// parameter names).
    #[must_use]
    pub fn route(mut self, pattern: &str, methods: MethodRouter<S>) -> Router<S> {
        let segments = parse_pattern(pattern);
        let table = Arc::make_mut(&mut self.table); // a copy only if a clone shares it
        let steps: Vec<Step<'_>> = segments.iter().map(Segment::step).collect();
        if let Err(existing) = table.tree.insert(&steps, table.routes.len()) {
            panic!(
                "route {pattern:?} overlaps {:?}, which is already routed",
                table.routes[existing].pattern
            );
        }
        table.routes.push(Route { pattern: pattern.into(), segments, methods });
        self
    }

    /// Routes every method on `pattern` to `service` (a layered service, another server's
    /// app…); it gets the request as is.
    ///
    /// # Panics
    /// As [`Router::route`].
    #[must_use]
    pub fn route_service<Svc: Service>(self, pattern: &str, service: Svc) -> Router<S> {
        let methods = MethodRouter { handlers: Vec::new(), any: Some(erase_service(service)) };
        self.route(pattern, methods)
    }

    /// Mounts `router`'s routes under `prefix` (`/api` + `/books/{id}` = `/api/books/{id}`;
    /// its `/` route becomes `/api`). Its fallback, if it has one, answers unmatched paths
    /// under the prefix.
    ///
    /// # Panics
    /// If `prefix` does not start with `/`, ends with `/`, or holds a wildcard; or if a
    /// mounted route overlaps an existing one.
    #[must_use]
    pub fn nest(mut self, prefix: &str, router: Router<S>) -> Router<S> {
        assert!(
            prefix.starts_with('/') && !prefix.ends_with('/') && !prefix.contains("{*"),
            "nest prefix {prefix:?} must start with '/', not end with '/', and hold no wildcard"
        );
        let Router { table, fallback } = router;
        for route in &table.routes {
            let pattern =
                if &*route.pattern == "/" { prefix.to_owned() } else { format!("{prefix}{}", route.pattern) };
            self = self.route(&pattern, route.methods.clone());
        }
        if let Some(fallback) = fallback {
            let methods = MethodRouter { handlers: Vec::new(), any: Some(fallback) };
            self = self.route(&format!("{prefix}/{{*__nested_rest}}"), methods);
        }
        self
    }

    /// Adds all of `other`'s routes (and its fallback, if this router has none).
    ///
    /// # Panics
    /// If a route of `other` overlaps one of this router's.
    #[must_use]
    pub fn merge(mut self, other: Router<S>) -> Router<S> {
        let Router { table, fallback } = other;
        for route in &table.routes {
            self = self.route(&route.pattern, route.methods.clone());
        }
        if self.fallback.is_none() {
            self.fallback = fallback;
        }
        self
    }

    /// The routes: each pattern with the methods routed on it (sorted; `HEAD` is implied by
    /// `GET` and not listed; a route answering any method lists none). For documentation
    /// and for tests that check a route table against, say, an OpenAPI document.
    pub fn routes(&self) -> Vec<(String, Vec<Method>)> {
        let mut table: Vec<(String, Vec<Method>)> = self
            .table
            .routes
            .iter()
            .map(|r| {
                let mut methods: Vec<Method> = r.methods.handlers.iter().map(|(m, _)| m.clone()).collect();
                methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                (r.pattern.to_string(), methods)
            })
            .collect();
        table.sort();
        table
    }

    /// Makes every response of a matched route carry its [`MatchedPath`] (off by default: an
    /// extension costs an allocation per response).
    #[must_use]
    pub fn with_matched_path(mut self) -> Router<S> {
        Arc::make_mut(&mut self.table).matched_path = true;
        self
    }

    /// Answers requests no route matches (instead of the 404 problem).
    #[must_use]
    pub fn fallback<H: Handler<T, S>, T: 'static>(mut self, handler: H) -> Router<S> {
        self.fallback = Some(erase(handler));
        self
    }

    /// Gives the handlers their state; the result needs none (`Router<()>` is what a server
    /// runs) or can be nested into a router with another state.
    pub fn with_state<S2>(self, state: S) -> Router<S2>
    where
        S: Clone + Send + Sync + 'static,
    {
        let routes = self
            .table
            .routes
            .iter()
            .map(|r| Route {
                pattern: r.pattern.clone(),
                segments: r.segments.clone(),
                methods: r.methods.clone().with_state(state.clone()),
            })
            .collect();
        let table = Table { routes, tree: self.table.tree.clone(), matched_path: self.table.matched_path };
        Router { table: Arc::new(table), fallback: self.fallback.map(|f| provide(f, state)) }
    }

    fn dispatch(&self, mut request: Request<Body>, state: S) -> BoxFuture {
        let path = request.uri().path();
        let path = path.strip_prefix('/').unwrap_or(path);
        let routes = &self.table.routes;
        // The first route, most specific first, that matches the path and serves the method;
        // else the first that matches the path, for its `Allow`.
        let (mut chosen, mut path_only) = (None, None);
        let method = request.method();
        self.table.tree.find(path, &mut |i, values| {
            if let Some(handler) = routes[i].methods.find(method) {
                chosen = Some((handler, routes[i].params(values), i));
                return true;
            }
            path_only.get_or_insert(i);
            false
        });
        if let Some((handler, params, i)) = chosen {
            if !params.is_empty() {
                // (Skipped when empty: an extension insert allocates.)
                request.extensions_mut().insert(PathParams(params));
            }
            let answer = handler(request, state);
            if !self.table.matched_path {
                return answer;
            }
            let pattern = routes[i].pattern.clone();
            return Box::pin(async move {
                let mut response = answer.await;
                if response.extensions().get::<MatchedPath>().is_none() {
                    response.extensions_mut().insert(MatchedPath(pattern));
                }
                response
            });
        }
        if let Some(allow) = path_only.map(|i| routes[i].methods.allow()) {
            let mut r = error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("{} is not allowed here", request.method()),
            );
            if let Ok(v) = HeaderValue::from_str(&allow) {
                r.headers_mut().insert(ALLOW, v);
            }
            return Box::pin(std::future::ready(r));
        }
        match &self.fallback {
            Some(f) => f(request, state),
            None => {
                let r =
                    error_response(StatusCode::NOT_FOUND, &format!("no route for {}", request.uri().path()));
                Box::pin(std::future::ready(r))
            }
        }
    }
}

impl Service for Router<()> {
    fn call(&self, request: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        self.dispatch(request, ())
    }
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

    #[test]
    fn responses_carry_their_routes_pattern_when_asked() {
        let rt = kiln_runtime::runtime::Builder::new_current_thread().build().unwrap();
        let matched = |router: &Router, path: &str| {
            let req = Request::builder().uri(path).body(Body::empty()).unwrap();
            rt.block_on(router.call(req)).extensions().get::<MatchedPath>().map(|m| m.0.to_string())
        };
        let plain: Router = Router::new().route("/books/{id}", get(named));
        assert_eq!(matched(&plain, "/books/7"), None, "off by default");
        let inner: Router = Router::new().route("/auth/login", get(fixed)).with_matched_path();
        let router: Router = Router::new()
            .route("/books/{id}", get(named))
            .route_service("/auth/{*rest}", inner)
            .with_matched_path();
        assert_eq!(matched(&router, "/books/7").as_deref(), Some("/books/{id}"));
        assert_eq!(
            matched(&router, "/auth/login").as_deref(),
            Some("/auth/login"),
            "the inner router's, kept"
        );
        assert_eq!(matched(&router, "/nowhere"), None, "no route, no pattern");
    }

    fn call(router: &Router, method: Method, path: &str) -> (StatusCode, Option<String>, String) {
        let rt = kiln_runtime::runtime::Builder::new_current_thread().build().unwrap();
        let req = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
        let r = rt.block_on(router.call(req));
        let allow = r.headers().get(ALLOW).map(|v| v.to_str().unwrap().to_owned());
        let status = r.status();
        let body = rt.block_on(r.into_body().collect(usize::MAX)).unwrap();
        (status, allow, String::from_utf8(body.to_vec()).unwrap())
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
    fn the_route_table_lists_patterns_and_methods() {
        let app: Router = Router::new().route("/b/{id}", get(fixed).delete(fixed)).route("/a", post(fixed));
        let table = app.routes();
        assert_eq!(
            table,
            vec![
                ("/a".to_owned(), vec![Method::POST]),
                ("/b/{id}".to_owned(), vec![Method::DELETE, Method::GET])
            ]
        );
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn overlapping_routes_are_refused_at_startup() {
        let _: Router = Router::new().route("/books/{id}", get(named)).route("/books/{name}", get(named));
    }

    #[test]
    #[should_panic(expected = "routed twice")]
    fn a_method_routed_twice_is_refused() {
        let _: MethodRouter = get(named).get(fixed);
    }
}
