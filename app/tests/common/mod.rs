//! Shared helpers for the service's end-to-end tests: the real router and middleware on a
//! loopback port over a real SQLite file, and a JSON-speaking client.
#![allow(dead_code)]

use kiln_app::config::Config;
use kiln_app::{build, serve};
use kiln_http::http::header::CONTENT_TYPE;
use kiln_http::http::{HeaderMap, Method, Request, StatusCode};
use kiln_http::{Body, Client};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;

pub struct Service {
    pub addr: SocketAddr,
    pub client: Client,
    stop: kiln_runtime::sync::oneshot::Sender<()>,
    done: kiln_runtime::task::JoinHandle<kiln_http::server::ServeSummary>,
}

pub async fn start(db: &Path) -> Service {
    let mut config = Config { db: db.to_path_buf(), jwt_secret: Some(vec![42; 32]), ..Config::default() };
    config.auth.bcrypt_cost = 4;
    start_with(config).await
}

/// Serves a service built from `config` (its auth rate limit raised: the tests sign many
/// users up from one address).
pub async fn start_with(mut config: Config) -> Service {
    config.auth.rate_burst = 10_000;
    let app = build(config).await.unwrap();
    let listener = kiln_net::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = kiln_runtime::sync::oneshot::channel::<()>();
    let done = kiln_runtime::spawn(serve(app, listener, async move {
        let _ = stopped.await;
    }));
    Service { addr, client: Client::new(), stop, done }
}

impl Service {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = Request::builder().method(method).uri(format!("http://{}{path}", self.addr));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header(CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let r = self.client.send(req.body(body).unwrap()).await.unwrap();
        let bytes = r.body().as_bytes().cloned().unwrap_or_default();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        (r.status(), r.headers().clone(), json)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::POST, path, None, Some(body)).await;
        (s, v)
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.done.await.unwrap();
    }
}

pub fn rt() -> kiln_runtime::runtime::Runtime {
    kiln_runtime::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap()
}

impl Service {
    /// Signs up and logs in; returns the access token.
    pub async fn user(&self, email: &str) -> String {
        let (status, body) = self
            .post("/auth/signup", json!({"email": email, "password": "correct horse", "display_name": email}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, tokens) =
            self.post("/auth/login", json!({"email": email, "password": "correct horse"})).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        tokens["access_token"].as_str().unwrap().to_owned()
    }
}
