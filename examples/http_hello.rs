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

use kiln::http::extract::Json;
use kiln::http::http::header::CONTENT_TYPE;
use kiln::http::http::{HeaderMap, Response};
use kiln::http::router::{get, post};
use kiln::http::{Body, Router, Server};

const USAGE: &str = "usage: http_hello [--port N]   (default: $PORT or 8080)";

#[derive(serde::Serialize)]
struct Message {
    message: &'static str,
}

async fn plaintext() -> &'static str {
    "Hello, World!"
}

async fn json() -> Json<Message> {
    Json(Message { message: "Hello, World!" })
}

/// The request body back, with the request's content type.
async fn echo(headers: HeaderMap, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    if let Some(ct) = headers.get(CONTENT_TYPE) {
        response.headers_mut().insert(CONTENT_TYPE, ct.clone());
    }
    response
}

fn app() -> Router {
    Router::new().route("/plaintext", get(plaintext)).route("/json", get(json)).route("/echo", post(echo))
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
        .serve(app(), async {
            if let Err(e) = kiln::shutdown::terminate_signal().await {
                eprintln!("http_hello: cannot listen for signals ({e})");
                std::future::pending::<()>().await;
            }
            println!("http_hello: shutting down; requests in flight may finish");
        })
        .await;
    println!("http_hello: done. {} connections, {} cut at the deadline", summary.connections, summary.forced);
}
