//! Each middleware layer doing its one job: request ids, tracing spans, CORS, per-IP rate
//! limiting (over real sockets, so the peer address is real), timeouts and caught panics.

use kiln_http::extract::Extension;
use kiln_http::http::header::{self, HeaderValue};
use kiln_http::http::{HeaderMap, Method, Request, StatusCode};
use kiln_http::middleware::{
    CatchPanicLayer, CorsLayer, RateLimitLayer, RequestId, RequestIdLayer, TimeoutLayer, TraceContext,
    TraceLayer,
};
use kiln_http::router::get;
use kiln_http::{Body, Client, Router, ServerConfig, Service, ServiceExt};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn send<S: Service>(app: &S, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let rt = kiln_runtime::runtime::Builder::new_current_thread().build().unwrap();
    let response = rt.block_on(app.call(request));
    let (parts, body) = response.into_parts();
    let body = rt.block_on(body.collect(usize::MAX)).unwrap();
    (parts.status, parts.headers, String::from_utf8(body.to_vec()).unwrap())
}

fn hello() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/id", get(|Extension(id): Extension<RequestId>| async move { id.as_str().to_owned() }))
}

#[test]
fn request_ids_are_propagated_or_generated_and_echoed() {
    let app = hello().layer(RequestIdLayer::new());
    let req = Request::get("/id").header("x-request-id", "abc-123").body(Body::empty()).unwrap();
    let (_, headers, body) = send(&app, req);
    assert_eq!((body.as_str(), &headers["x-request-id"]), ("abc-123", &HeaderValue::from_static("abc-123")));
    let (_, h1, b1) = send(&app, Request::get("/id").body(Body::empty()).unwrap());
    let (_, _, b2) =
        send(&app, Request::get("/id").header("x-request-id", "bad id\t!").body(Body::empty()).unwrap());
    assert_eq!(h1["x-request-id"], b1.as_str(), "the handler and the response see the same id");
    assert!(
        !b1.is_empty() && b1 != b2 && !b2.contains(' '),
        "generated ids differ and replace bad ones: {b1} {b2}"
    );
}

/// A `MakeWriter` that appends to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_trace_span_per_request_with_method_path_ids_route_status_and_latency() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let app = Router::new()
        .route(
            "/books",
            get(|| async {
                tracing::info!("inside the handler");
                "ok"
            }),
        )
        .route("/boom", get(|| async { StatusCode::BAD_GATEWAY }))
        .with_matched_path()
        .layer(TraceLayer::new())
        .layer(RequestIdLayer::new());
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    tracing::subscriber::with_default(subscriber, || {
        let req = Request::get("/books")
            .header("x-request-id", "req-7")
            .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
            .body(Body::empty())
            .unwrap();
        send(&app, req);
        send(&app, Request::get("/boom").body(Body::empty()).unwrap());
    });
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let span = format!("request{{method=GET path=/books request_id=req-7 trace_id={trace}");
    assert!(lines.iter().any(|l| l.contains(&span) && l.contains("inside the handler")), "{text}");
    assert!(
        lines.iter().any(|l| l.contains(&span)
            && l.contains("route=/books")
            && l.contains("INFO")
            && l.contains("status=200")
            && l.contains("latency_ms=")),
        "the caller's trace, and the route once known: {text}"
    );
    assert!(
        lines.iter().any(|l| l.contains("ERROR") && l.contains("path=/boom") && l.contains("status=502")),
        "{text}"
    );
}

#[test]
fn a_client_request_carries_its_span_and_the_server_continues_the_trace_as_a_child() {
    kiln_test_support::rt().block_on(async {
        // The handler answers with the context the trace layer gave it and the headers it got.
        let app = Router::new()
            .route(
                "/whoami",
                get(|Extension(cx): Extension<TraceContext>, headers: HeaderMap| async move {
                    let h = |n: &str| headers.get(n).map_or("", |v| v.to_str().unwrap()).to_owned();
                    format!("{} {} {} {}", cx.trace_id, cx.span_id, h("traceparent"), h("tracestate"))
                }),
            )
            .layer(TraceLayer::new());
        let server = kiln_test_support::http::start(app, ServerConfig::default()).await;
        let client = Client::new();
        let ask = |cx: Option<TraceContext>| {
            let mut request = Request::get(server.url("/whoami")).body(Body::empty()).unwrap();
            if let Some(cx) = cx {
                request.extensions_mut().insert(cx);
            }
            let client = client.clone();
            async move {
                let r = client.send(request).await.unwrap();
                let text = String::from_utf8(r.body().as_bytes().unwrap().to_vec()).unwrap();
                text.split(' ').map(str::to_owned).collect::<Vec<String>>()
            }
        };
        let caller = TraceContext { tracestate: Some("kiln=t61rcWkgMzE".into()), ..TraceContext::root() };
        let seen = ask(Some(caller.clone())).await;
        assert_eq!(seen[2], caller.traceparent(), "the client wrote the caller's span");
        assert_eq!(seen[3], "kiln=t61rcWkgMzE", "and its tracestate");
        assert_eq!(seen[0], caller.trace_id, "the server continued the trace");
        assert!(seen[1].len() == 16 && seen[1] != caller.span_id, "in a span of its own: {seen:?}");
        let fresh = ask(None).await;
        assert_eq!(fresh[2], "", "no context, no header");
        assert!(fresh[0].len() == 32 && fresh[0] != caller.trace_id, "a new trace: {fresh:?}");
        server.shutdown().await;
    });
}

#[test]
fn cors_answers_preflights_and_decorates_allowed_origins_only() {
    let app = hello().layer(
        CorsLayer::new()
            .allow_origin("https://app.example")
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .expose_headers([header::HeaderName::from_static("x-request-id")])
            .max_age(Duration::from_secs(120)),
    );
    let preflight = |origin: &str, method: &str, headers: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers)
            .body(Body::empty())
            .unwrap()
    };
    let (status, h, _) =
        send(&app, preflight("https://app.example", "DELETE", "Content-Type, authorization"));
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], "GET, POST, DELETE");
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_HEADERS], "content-type, authorization");
    assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "120");
    assert_eq!(h[header::VARY], "origin");
    for (origin, method, headers, why) in [
        ("https://evil.example", "GET", "", "origin"),
        ("https://app.example", "PUT", "", "method"),
        ("https://app.example", "GET", "x-secret", "header"),
    ] {
        let (status, h, body) = send(&app, preflight(origin, method, headers));
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains(why) && !h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN), "{body}");
    }
    let simple = |origin: &str| Request::get("/").header(header::ORIGIN, origin).body(Body::empty()).unwrap();
    let (_, h, body) = send(&app, simple("https://app.example"));
    assert_eq!(
        (body.as_str(), &h[header::ACCESS_CONTROL_ALLOW_ORIGIN]),
        ("hello", &HeaderValue::from_static("https://app.example"))
    );
    assert_eq!(h[header::ACCESS_CONTROL_EXPOSE_HEADERS], "x-request-id");
    let (_, h, body) = send(&app, simple("https://evil.example"));
    assert!(
        body == "hello" && !h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        "served, but the browser will not show it"
    );
    let (_, h, _) = send(&app, Request::get("/").body(Body::empty()).unwrap());
    assert!(!h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN), "no Origin, no CORS headers");
}

#[test]
#[should_panic(expected = "allow_credentials cannot be combined with allow_any_origin")]
fn cors_refuses_credentials_with_any_origin() {
    let _ = hello().layer(CorsLayer::new().allow_any_origin().allow_credentials());
}

#[test]
fn rate_limit_per_client_ip_with_429_retry_after_and_ratelimit_headers() {
    for (_, rt) in kiln_test_support::runtimes() {
        rt.block_on(async {
            // One request a minute, bursts of 2: the third request in a row is refused.
            let app = hello().layer(RateLimitLayer::new(Duration::from_secs(60), 2));
            let server = kiln_test_support::http::start(app, ServerConfig::default()).await;
            let client = Client::new();
            let mut seen = Vec::new();
            for _ in 0..3 {
                let r = client.get(&server.url("/")).await.unwrap();
                let h = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
                seen.push((r.status(), h("ratelimit"), h("ratelimit-policy"), h("retry-after")));
            }
            let policy = Some("\"ip\";q=2;w=120".to_owned());
            assert_eq!(seen[0], (StatusCode::OK, Some("\"ip\";r=1;t=60".into()), policy.clone(), None));
            assert_eq!(seen[1], (StatusCode::OK, Some("\"ip\";r=0;t=120".into()), policy.clone(), None));
            assert_eq!(seen[2].0, StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(seen[2].1.as_deref(), Some("\"ip\";r=0;t=120"));
            let retry: u64 = seen[2].3.as_deref().unwrap().parse().unwrap();
            assert!((59..=60).contains(&retry), "retry after about one interval: {retry}");
            server.shutdown().await;
        });
    }
}

#[test]
fn timeouts_answer_503_and_panics_answer_500_without_killing_the_server() {
    for (_, rt) in kiln_test_support::runtimes() {
        rt.block_on(async {
            let app = Router::new()
                .route(
                    "/slow",
                    get(|| async {
                        kiln_runtime::time::sleep(Duration::from_secs(30)).await;
                        "too late"
                    }),
                )
                .route(
                    "/panic",
                    get(|| async {
                        if true {
                            panic!("handler bug");
                        }
                        "unreachable"
                    }),
                )
                .route("/", get(|| async { "fine" }))
                .layer(TimeoutLayer::new(Duration::from_millis(50)))
                .layer(CatchPanicLayer::new());
            let server = kiln_test_support::http::start(app, ServerConfig::default()).await;
            let client = Client::new();
            let r = client.get(&server.url("/slow")).await.unwrap();
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            let r = client.get(&server.url("/panic")).await.unwrap();
            assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let body = String::from_utf8(r.body().as_bytes().unwrap().to_vec()).unwrap();
            assert!(body.contains("problem") || body.contains("\"status\":500"), "{body}");
            assert!(!body.contains("handler bug"), "the panic message stays in the logs: {body}");
            let r = client.get(&server.url("/")).await.unwrap();
            assert_eq!(r.body().as_bytes().unwrap().as_ref(), b"fine", "the server goes on");
            server.shutdown().await;
        });
    }
}
