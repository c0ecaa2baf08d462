//! The hello app — `GET /plaintext`, `GET /json`, `POST /echo` — written once for each
//! stack the HTTP benchmarks compare: Kiln, hyper 1.x and axum 0.8. The examples
//! `http_hello`, `baseline_hyper_hello` and `baseline_axum_hello` serve these, and
//! `benches/http.rs` runs all three in one criterion group.
//!
//! Each is written the way a user of that stack would write it: Kiln and axum with their
//! routers and extractors, hyper with a `service_fn` matching on method and path. Kiln also
//! has that last shape (`kiln_service`: one async fn as the service, no router), so each
//! baseline can be met like for like: Kiln's router against axum's, Kiln's bare service
//! against hyper's. Every JSON response is serialized per request (TechEmpower's rule).

#![allow(dead_code)] // each example uses one of the three

#[derive(serde::Serialize)]
pub struct Message {
    pub message: &'static str,
}

pub const HELLO: &str = "Hello, World!";

/// Kiln: the router and extractors.
pub mod kiln_app {
    use super::{Message, HELLO};
    use kiln::http::extract::Json;
    use kiln::http::http::header::CONTENT_TYPE;
    use kiln::http::http::{HeaderMap, Response};
    use kiln::http::router::{get, post};
    use kiln::http::{Body, Router};

    async fn plaintext() -> &'static str {
        HELLO
    }

    async fn json() -> Json<Message> {
        Json(Message { message: HELLO })
    }

    /// The request body back, with the request's content type.
    async fn echo(headers: HeaderMap, body: Body) -> Response<Body> {
        let mut response = Response::new(body);
        if let Some(ct) = headers.get(CONTENT_TYPE) {
            response.headers_mut().insert(CONTENT_TYPE, ct.clone());
        }
        response
    }

    pub fn app() -> Router {
        Router::new().route("/plaintext", get(plaintext)).route("/json", get(json)).route("/echo", post(echo))
    }
}

/// Kiln without its router: one async fn matching on method and path, as `hyper_app` does.
pub mod kiln_service {
    use super::{Message, HELLO};
    use kiln::http::http::header::{HeaderValue, CONTENT_TYPE};
    use kiln::http::http::{Method, Request, Response, StatusCode};
    use kiln::http::Body;

    pub async fn hello(req: Request<Body>) -> Response<Body> {
        let (ct, body, status) = match (req.method(), req.uri().path()) {
            (&Method::GET, "/plaintext") => ("text/plain; charset=utf-8", Body::from(HELLO), StatusCode::OK),
            (&Method::GET, "/json") => {
                let body = serde_json::to_vec(&Message { message: HELLO }).expect("serializable");
                ("application/json", Body::from(body), StatusCode::OK)
            }
            (&Method::POST, "/echo") => {
                let ct = req.headers().get(CONTENT_TYPE).cloned();
                let mut r = Response::new(req.into_body());
                if let Some(ct) = ct {
                    r.headers_mut().insert(CONTENT_TYPE, ct);
                }
                return r;
            }
            _ => ("application/json", Body::from(r#"{"error":"no such route"}"#), StatusCode::NOT_FOUND),
        };
        let mut r = Response::new(body);
        *r.status_mut() = status;
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        r
    }
}

/// hyper: one `service_fn` and a connection task per accepted socket, `pipeline_flush` on.
pub mod hyper_app {
    use super::{Message, HELLO};
    use http_body_util::{BodyExt, Full};
    use hyper::body::{Bytes, Incoming};
    use hyper::header::{HeaderValue, CONTENT_TYPE};
    use hyper::{Method, Request, Response, StatusCode};
    use std::convert::Infallible;

    pub async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let (ct, body, status) = match (req.method(), req.uri().path()) {
            (&Method::GET, "/plaintext") => {
                ("text/plain; charset=utf-8", Bytes::from_static(HELLO.as_bytes()), StatusCode::OK)
            }
            (&Method::GET, "/json") => {
                let body = serde_json::to_vec(&Message { message: HELLO }).expect("serializable");
                ("application/json", Bytes::from(body), StatusCode::OK)
            }
            (&Method::POST, "/echo") => {
                let ct = req.headers().get(CONTENT_TYPE).cloned();
                let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                let mut r = Response::new(Full::new(body));
                if let Some(ct) = ct {
                    r.headers_mut().insert(CONTENT_TYPE, ct);
                }
                return Ok(r);
            }
            _ => (
                "application/json",
                Bytes::from_static(br#"{"error":"no such route"}"#),
                StatusCode::NOT_FOUND,
            ),
        };
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = status;
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        Ok(r)
    }

    /// Accepts forever on `listener`, one hyper connection task per socket.
    pub async fn serve(listener: tokio::net::TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .pipeline_flush(true)
                    .serve_connection(io, hyper::service::service_fn(hello))
                    .await;
            });
        }
    }
}

/// axum: its router and extractors, served with `axum::serve` (with `TCP_NODELAY`, as the
/// other two set it: without it, pipelined responses wait on Nagle and delayed ACKs, 40 ms).
pub mod axum_app {
    use super::{Message, HELLO};
    use axum::body::Bytes;
    use axum::http::header::CONTENT_TYPE;
    use axum::http::HeaderMap;
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use axum::{Json, Router};

    async fn plaintext() -> &'static str {
        HELLO
    }

    async fn json() -> Json<Message> {
        Json(Message { message: HELLO })
    }

    async fn echo(headers: HeaderMap, body: Bytes) -> impl IntoResponse {
        let mut out = HeaderMap::new();
        if let Some(ct) = headers.get(CONTENT_TYPE) {
            out.insert(CONTENT_TYPE, ct.clone());
        }
        (out, body)
    }

    pub fn app() -> Router {
        Router::new().route("/plaintext", get(plaintext)).route("/json", get(json)).route("/echo", post(echo))
    }

    /// Serves [`app`] on `listener` until the process ends.
    pub async fn serve(listener: tokio::net::TcpListener) {
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app()).await.expect("axum serves");
    }
}
