//! The baseline for `http_hello`: the same three routes on hyper 1.x (HTTP/1 only,
//! `pipeline_flush` on) and Tokio with two workers. Used by `scripts/bench-http.sh`; not part
//! of Kiln (hyper and Tokio are dev-dependencies only).
//!
//! ```text
//! cargo run --release --example baseline_hyper_hello -- --port 8081
//! ```

#[path = "support/args.rs"]
mod args;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;

#[derive(serde::Serialize)]
struct Message {
    message: &'static str,
}

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (ct, body, status) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/plaintext") => ("text/plain", Bytes::from_static(b"Hello, World!"), StatusCode::OK),
        (&Method::GET, "/json") => {
            // Serialized per request, as Kiln's and axum's handlers do (TechEmpower's rule).
            let body = serde_json::to_vec(&Message { message: "Hello, World!" }).expect("serializable");
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
        _ => ("application/json", Bytes::from_static(br#"{"error":"no such route"}"#), StatusCode::NOT_FOUND),
    };
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    Ok(r)
}

fn main() {
    let args = args::Args::parse("usage: baseline_hyper_hello [--port N]", &["--port"], &[]);
    let port: u16 = args.get("--port", 8081);
    let workers = std::env::var("KILN_BENCH_WORKERS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        println!("baseline_hyper_hello: listening on http://{}", listener.local_addr().unwrap());
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .pipeline_flush(true)
                    .serve_connection(io, hyper::service::service_fn(hello))
                    .await;
            });
        }
    });
}
