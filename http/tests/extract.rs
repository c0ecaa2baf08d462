//! The router with state, nesting and merging, and every extractor and its rejections —
//! in process through `Service::call`, and over a real socket for the peer address.

use kiln_http::extract::{Extension, FromRef, FromRequestParts, Json, Path, Query, State};
use kiln_http::http::header::{ALLOW, CONTENT_TYPE};
use kiln_http::http::request::Parts;
use kiln_http::http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use kiln_http::middleware::BodyLimitLayer;
use kiln_http::response::{IntoResponse, Problem};
use kiln_http::router::{any, get, post};
use kiln_http::server::PeerAddr;
use kiln_http::{Body, Client, Router, ServerConfig, Service, ServiceExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn rt() -> kiln_runtime::runtime::Runtime {
    kiln_runtime::runtime::Builder::new_current_thread().build().unwrap()
}

/// Sends a request through `app`; returns status, headers and the body as text.
fn send<S: Service>(app: &S, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let rt = rt();
    let response = rt.block_on(app.call(request));
    let (parts, body) = response.into_parts();
    let body = rt.block_on(body.collect(usize::MAX)).unwrap();
    (parts.status, parts.headers, String::from_utf8(body.to_vec()).unwrap())
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn json_req(method: Method, uri: &str, content_type: Option<&str>, body: &'static str) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        b = b.header(CONTENT_TYPE, ct);
    }
    b.body(Body::from(body)).unwrap()
}

fn problem(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[derive(Clone)]
struct AppState {
    hits: Arc<AtomicUsize>,
    name: &'static str,
}

#[derive(Clone)]
struct Hits(Arc<AtomicUsize>);

impl FromRef<AppState> for Hits {
    fn from_ref(state: &AppState) -> Hits {
        Hits(state.hits.clone())
    }
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
struct NewBook {
    title: String,
    year: u16,
}

#[derive(Deserialize)]
struct Page {
    limit: Option<u32>,
    author: Option<String>,
}

async fn create(State(state): State<AppState>, Json(book): Json<NewBook>) -> (StatusCode, Json<Value>) {
    state.hits.fetch_add(1, Ordering::SeqCst);
    (StatusCode::CREATED, Json(json!({ "shelf": state.name, "title": book.title, "year": book.year })))
}

async fn list(Query(page): Query<Page>, State(Hits(hits)): State<Hits>) -> String {
    format!("limit={:?} author={:?} hits={}", page.limit, page.author, hits.load(Ordering::SeqCst))
}

async fn show(Path((shelf, id)): Path<(String, u64)>, method: Method, uri: Uri) -> String {
    format!("{method} {uri} shelf={shelf} id={id}")
}

fn app() -> Router {
    let state = AppState { hits: Arc::default(), name: "main" };
    let books = Router::new().route("/", get(list).post(create)).route("/{shelf}/{id}", get(show));
    Router::new().nest("/books", books).with_state(state)
}

#[test]
fn state_json_query_and_path_extractors() {
    let app = app();
    let (status, headers, body) = send(
        &app,
        json_req(Method::POST, "/books", Some("application/json"), r#"{"title":"Dune","year":1965}"#),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(headers[CONTENT_TYPE], "application/json");
    assert_eq!(problem(&body), json!({"shelf": "main", "title": "Dune", "year": 1965}));
    let (_, _, body) = send(&app, get_req("/books?limit=5&author=Le%20Guin"));
    assert_eq!(body, r#"limit=Some(5) author=Some("Le Guin") hits=1"#, "state is shared between handlers");
    let (_, _, body) = send(&app, get_req("/books/sci%20fi/42"));
    assert_eq!(body, "GET /books/sci%20fi/42 shelf=sci fi id=42", "path parameters are percent-decoded");
}

#[test]
fn rejections_are_problem_bodies_with_the_right_status() {
    let app = app();
    let cases: &[(Request<Body>, StatusCode, &str)] = &[
        (
            json_req(Method::POST, "/books", None, r#"{"title":"x","year":1}"#),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type",
        ),
        (
            json_req(Method::POST, "/books", Some("text/plain"), r#"{}"#),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            json_req(Method::POST, "/books", Some("application/json"), r#"{"title":"x","#),
            StatusCode::BAD_REQUEST,
            "EOF",
        ),
        (
            json_req(Method::POST, "/books", Some("application/json"), "not json"),
            StatusCode::BAD_REQUEST,
            "expected",
        ),
        (
            json_req(Method::POST, "/books", Some("application/json"), r#"{"title":"x"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `year`",
        ),
        (
            json_req(Method::POST, "/books", Some("application/json"), r#"{"title":"x","year":"old"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid type",
        ),
        (get_req("/books?limit=lots"), StatusCode::BAD_REQUEST, "invalid query string"),
        (get_req("/books/sf/forty-two"), StatusCode::BAD_REQUEST, "`id` is \"forty-two\""),
        (get_req("/books/%FF/1"), StatusCode::BAD_REQUEST, "not UTF-8"),
        (get_req("/nowhere"), StatusCode::NOT_FOUND, "no route for /nowhere"),
    ];
    for (request, status, needle) in cases.iter().map(|(r, s, n)| (clone_req(r), *s, *n)) {
        let uri = request.uri().clone();
        let (got, headers, body) = send(&app, request);
        assert_eq!(got, status, "{uri}: {body}");
        assert_eq!(headers[CONTENT_TYPE], "application/problem+json", "{uri}");
        let p = problem(&body);
        assert_eq!(p["status"], status.as_u16(), "{body}");
        assert!(p["detail"].as_str().unwrap().contains(needle), "{uri}: {needle:?} not in {body}");
    }
    let (status, headers, _) = send(&app, json_req(Method::DELETE, "/books", None, ""));
    assert_eq!(
        (status, headers[ALLOW].to_str().unwrap()),
        (StatusCode::METHOD_NOT_ALLOWED, "GET, POST, HEAD")
    );
}

fn clone_req(r: &Request<Body>) -> Request<Body> {
    let mut b = Request::builder().method(r.method().clone()).uri(r.uri().clone());
    for (k, v) in r.headers() {
        b = b.header(k, v);
    }
    b.body(Body::from(r.body().as_bytes().cloned().unwrap_or_default())).unwrap()
}

#[test]
fn a_body_limit_applies_to_every_body_extractor() {
    let app = Router::new()
        .route("/text", post(|body: String| async move { body }))
        .route("/json", post(|Json(v): Json<Value>| async move { Json(v) }))
        .layer(BodyLimitLayer::new(8));
    assert_eq!(send(&app, json_req(Method::POST, "/text", None, "12345678")).2, "12345678");
    let (status, _, body) = send(&app, json_req(Method::POST, "/text", None, "123456789"));
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let (status, _, _) =
        send(&app, json_req(Method::POST, "/json", Some("application/json"), r#"{"a":"long"}"#));
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // A streamed body with no length is cut at the limit while it is read.
    let chunks = futures_core_stream(vec!["1234", "5678", "9"]);
    let req = Request::post("/text").body(Body::from_stream(chunks)).unwrap();
    let (status, _, body) = send(&app, req);
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
}

fn futures_core_stream(
    items: Vec<&'static str>,
) -> impl futures_core::Stream<Item = Result<&'static str, std::io::Error>> {
    struct It(std::vec::IntoIter<&'static str>);
    impl futures_core::Stream for It {
        type Item = Result<&'static str, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next().map(Ok))
        }
    }
    It(items.into_iter())
}

#[test]
fn nest_merge_fallbacks_and_route_service() {
    let api = Router::new()
        .route("/", get(|| async { "api root" }))
        .route("/items/{id}", get(|Path(id): Path<u32>| async move { format!("item {id}") }))
        .fallback(|uri: Uri| async move { (StatusCode::NOT_FOUND, format!("api has no {uri}")) });
    let health = Router::new().route("/health", get(|| async { "ok" }));
    let raw = |req: Request<Body>| async move { Response::new(Body::from(format!("raw {}", req.method()))) };
    let app: Router = Router::new().nest("/api", api).merge(health).route_service("/raw", raw);
    assert_eq!(send(&app, get_req("/api")).2, "api root");
    assert_eq!(send(&app, get_req("/api/items/7")).2, "item 7");
    assert_eq!(
        send(&app, get_req("/api/nope/deeper")),
        (StatusCode::NOT_FOUND, header_text(), "api has no /api/nope/deeper".into())
    );
    assert_eq!(send(&app, get_req("/health")).2, "ok");
    assert_eq!(send(&app, json_req(Method::PATCH, "/raw", None, "")).2, "raw PATCH");
    assert_eq!(
        send(&app, get_req("/elsewhere")).0,
        StatusCode::NOT_FOUND,
        "outside the prefix: the main 404"
    );
    let any_app: Router = Router::new().route("/any", any(|m: Method| async move { m.to_string() }));
    assert_eq!(send(&any_app, json_req(Method::DELETE, "/any", None, "")).2, "DELETE");
}

fn header_text() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, "text/plain; charset=utf-8".parse().unwrap());
    h
}

#[test]
#[should_panic(expected = "overlaps")]
fn merging_overlapping_routes_is_refused() {
    let a: Router = Router::new().route("/x/{id}", get(|| async { "a" }));
    let b: Router = Router::new().route("/x/{name}", get(|| async { "b" }));
    let _ = a.merge(b);
}

/// A user-defined extractor: the caller's API key, or 401.
struct ApiKey(String);

impl<S: Sync> FromRequestParts<S> for ApiKey {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ApiKey, Problem> {
        parts
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(|k| ApiKey(k.to_owned()))
            .ok_or_else(|| Problem::new(StatusCode::UNAUTHORIZED).detail("x-api-key is required"))
    }
}

#[test]
fn user_extractors_optional_extractors_and_extensions() {
    #[derive(Clone)]
    struct Tenant(&'static str);
    let app: Router = Router::new()
        .route("/key", get(|ApiKey(k): ApiKey| async move { format!("key {k}") }))
        .route("/maybe", get(|k: Option<ApiKey>| async move { format!("{}", k.is_some()) }))
        .route("/tenant", get(|Extension(t): Extension<Tenant>| async move { t.0 }));
    let (status, _, body) = send(&app, get_req("/key"));
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let req = Request::get("/key").header("x-api-key", "k1").body(Body::empty()).unwrap();
    assert_eq!(send(&app, req).2, "key k1");
    assert_eq!(send(&app, get_req("/maybe")).2, "false");
    let (status, _, body) = send(&app, get_req("/tenant"));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "a missing extension is a server bug: {body}");
    let mut req = get_req("/tenant");
    req.extensions_mut().insert(Tenant("acme"));
    assert_eq!(send(&app, req).2, "acme");
}

#[test]
fn the_peer_address_and_headers_over_a_real_socket() {
    for (_, rt) in kiln_test_support::runtimes() {
        rt.block_on(async {
            let app: Router = Router::new().route(
                "/whoami",
                get(|PeerAddr(peer): PeerAddr, headers: HeaderMap| async move {
                    let agent =
                        headers.get("x-agent").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
                    (
                        StatusCode::OK,
                        [("x-peer-ip", peer.ip().to_string())],
                        format!("{agent} from {}", peer.ip()),
                    )
                        .into_response()
                }),
            );
            let server = kiln_test_support::http::start(app, ServerConfig::default()).await;
            let req =
                Request::get(server.url("/whoami")).header("x-agent", "test").body(Body::empty()).unwrap();
            let r = Client::new().send(req).await.unwrap();
            assert_eq!(r.headers()["x-peer-ip"], "127.0.0.1");
            assert_eq!(r.body().as_bytes().unwrap().as_ref(), b"test from 127.0.0.1");
            server.shutdown().await;
        });
    }
}
