//! The hello server: `GET /plaintext`, `GET /json`, `POST /echo` — the server the HTTP
//! benchmarks and conformance checks run against.
//!
//! ```text
//! cargo run --release --example http_hello               # port 8080, or PORT, or --port
//! curl -i http://127.0.0.1:8080/plaintext
//! curl -i http://127.0.0.1:8080/json
//! curl -i -H 'content-type: text/plain' --data 'hi' http://127.0.0.1:8080/echo
//! ```
//! Ctrl+C (or `kill <pid>`) stops accepting, lets requests in flight finish, and exits 0.

#[path = "support/args.rs"]
mod args;

use kiln::http::http::header::{HeaderValue, CONTENT_TYPE};
use kiln::http::http::{Method, Request, Response, StatusCode};
use kiln::http::{Body, Server};

const USAGE: &str = "usage: http_hello [--port N]   (default: $PORT or 8080)";

async fn hello(req: Request<Body>) -> Response<Body> {
    let (content_type, body, status) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/plaintext") => ("text/plain", Body::from("Hello, World!"), StatusCode::OK),
        (&Method::GET, "/json") => {
            ("application/json", Body::from(r#"{"message":"Hello, World!"}"#), StatusCode::OK)
        }
        (&Method::POST, "/echo") => {
            let ct = req.headers().get(CONTENT_TYPE).cloned();
            let mut response = Response::new(req.into_body());
            if let Some(ct) = ct {
                response.headers_mut().insert(CONTENT_TYPE, ct);
            }
            return response;
        }
        _ => (
            "application/json",
            Body::from(r#"{"error":{"status":404,"message":"no such route"}}"#),
            StatusCode::NOT_FOUND,
        ),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[kiln::main]
async fn main() {
    let args = args::Args::parse(USAGE, &["--port"], &[]);
    let default_port = match std::env::var("PORT") {
        Ok(p) => p.parse().unwrap_or_else(|_| args.fail(&format!("PORT={p:?} is not a port number"))),
        Err(_) => 8080u16,
    };
    let port: u16 = args.get("--port", default_port);
    let server = Server::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| args.fail(&format!("cannot listen on port {port}: {e}")));
    let addr = server.local_addr().expect("a bound server has an address");
    println!("http_hello: listening on http://{addr}");
    println!("http_hello: try `curl -i http://{addr}/plaintext` (also /json, POST /echo); Ctrl+C to stop");
    let summary = server
        .serve(hello, async {
            if let Err(e) = kiln::shutdown::terminate_signal().await {
                eprintln!("http_hello: cannot listen for signals ({e})");
                std::future::pending::<()>().await;
            }
            println!("http_hello: shutting down; requests in flight may finish");
        })
        .await;
    println!("http_hello: done. {} connections, {} cut at the deadline", summary.connections, summary.forced);
}
