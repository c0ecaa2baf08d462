//! Shared helpers for the service's end-to-end tests: the real router and middleware on a
//! loopback port over a real SQLite file — or, with `KILN_TEST_DATABASE=postgres`, over a
//! private PostgreSQL cluster (one per database path, so two services started on one path
//! share one database, as two processes on one file do, and a restarted one finds its
//! data) — and a JSON-speaking client. The
//! test command runs the suite both ways.
#![allow(dead_code)]

use kiln_app::config::Config;
use kiln_app::{build, serve};
use kiln_http::http::header::CONTENT_TYPE;
use kiln_http::http::{HeaderMap, Method, Request, StatusCode};
use kiln_http::{Body, Client};
use kiln_test_support::postgres::PostgresServer;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub struct Service {
    pub addr: SocketAddr,
    pub client: Client,
    stop: kiln_runtime::sync::oneshot::Sender<()>,
    done: kiln_runtime::task::JoinHandle<kiln_http::server::ServeSummary>,
    /// The cluster, on PostgreSQL: kept as long as a service uses it.
    _cluster: Option<Arc<PostgresServer>>,
    state: kiln_app::state::AppState,
}

/// Whether this run is on PostgreSQL (`KILN_TEST_DATABASE=postgres`).
pub fn on_postgres() -> bool {
    match std::env::var("KILN_TEST_DATABASE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("KILN_TEST_DATABASE={other:?}: use sqlite or postgres"),
    }
}

/// The cluster standing for the database file `db`: one per path, kept until the path's
/// directory is gone (a test's temporary directory), so a service restarted on the same
/// path finds its data, as it would in the file. Clusters left at exit are stopped by their
/// own watchdog (`kiln_test_support::postgres`).
fn cluster_for(db: &Path) -> Arc<PostgresServer> {
    static CLUSTERS: Mutex<Option<HashMap<PathBuf, Arc<PostgresServer>>>> = Mutex::new(None);
    let mut clusters = CLUSTERS.lock().unwrap();
    let clusters = clusters.get_or_insert_with(HashMap::new);
    clusters.retain(|path, _| path.parent().is_some_and(Path::exists));
    clusters.entry(db.to_path_buf()).or_insert_with(|| Arc::new(PostgresServer::start())).clone()
}

/// The tests' configuration on `db`: a fixed secret, cheap bcrypt.
pub fn config(db: &Path) -> Config {
    let mut config = Config { db: db.to_path_buf(), jwt_secret: Some(vec![42; 32]), ..Config::default() };
    config.auth.bcrypt_cost = 4;
    config
}

pub async fn start(db: &Path) -> Service {
    start_with(config(db)).await
}

/// Serves a service built from `config` (its auth rate limit raised: the tests sign many
/// users up from one address).
pub async fn start_with(mut config: Config) -> Service {
    config.auth.rate_burst = 10_000;
    start_as_configured(config).await
}

/// Serves a service built from `config` as it is (on PostgreSQL in a PostgreSQL run).
pub async fn start_as_configured(mut config: Config) -> Service {
    let cluster = (on_postgres() && config.database_url.is_none()).then(|| cluster_for(&config.db));
    if let Some(cluster) = &cluster {
        config.database_url = Some(kiln_postgres::Config::from_url(&cluster.url()).unwrap());
        config.jwt_secret.get_or_insert_with(|| vec![42; 32]);
    }
    start_built(config, cluster).await
}

/// Serves a service on exactly the storage `config` names, in any run: for tests that choose
/// their backend themselves (or test SQLite itself). The auth rate limit is raised.
pub async fn start_exactly(mut config: Config) -> Service {
    config.auth.rate_burst = 10_000;
    start_built(config, None).await
}

async fn start_built(config: Config, cluster: Option<Arc<PostgresServer>>) -> Service {
    let app = build(config).await.unwrap();
    let state = app.state.clone();
    let listener = kiln_net::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = kiln_runtime::sync::oneshot::channel::<()>();
    let done = kiln_runtime::spawn(serve(app, listener, async move {
        let _ = stopped.await;
    }));
    Service { addr, client: Client::new(), stop, done, _cluster: cluster, state }
}

impl Service {
    /// The service's shared state (for tests that reach past HTTP).
    pub fn state(&self) -> &kiln_app::state::AppState {
        &self.state
    }

    /// Runs `sql` (no parameters) on the service's database, whichever backend it is.
    pub async fn sql(&self, sql: &'static str) {
        match &self.state.db {
            kiln_app::db::Db::Sqlite(pool) => pool
                .write(move |c| c.execute_batch(sql).map_err(kiln_app::error::AppError::from))
                .await
                .unwrap(),
            kiln_app::db::Db::Postgres(pg) => pg.get().await.unwrap().batch_execute(sql).await.unwrap(),
        }
    }

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

#[allow(unused_imports)] // not every test binary uses it
pub use kiln_test_support::rt;

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

/// One request over a fresh connection from the loopback address `from` (127.0.0.2, say: the
/// whole 127/8 is this machine), for tests that need clients at different addresses.
/// Returns the status, the `Retry-After` header if any, and the body as JSON.
pub async fn call_from(
    from: [u8; 4],
    to: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Option<String>, Value) {
    use kiln_net::io::{AsyncReadExt, AsyncWriteExt};
    let socket = kiln_net::net::TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    let mut stream = socket.connect(to).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {to}\r\nconnection: close\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    let retry = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("retry-after")))
        .map(|(_, v)| v.trim().to_owned());
    (StatusCode::from_u16(status).unwrap(), retry, serde_json::from_str(body).unwrap_or(Value::Null))
}
