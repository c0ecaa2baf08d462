//! `Client`: HTTP/1.1 requests with a keep-alive connection pool.
//!
//! A request takes an idle connection to the same host and port from the pool (or connects,
//! under `connect_timeout`), writes the request (`Content-Length` for a whole body, chunked
//! for a streamed one), reads the response
//! head with `httparse` and the body by its framing (`Content-Length`, chunked, or until
//! close; none for HEAD, 1xx, 204 and 304), all under `request_timeout`. A connection whose
//! response allows it goes back to the pool; one that the server is closing, or that failed,
//! is dropped. A request on a pooled connection that turns out to be closed by the server
//! in the meantime is retried once on a new connection, when it is idempotent.
//!
//! Plain `http://` only (TLS is out of scope for Kiln). Pooled connections are registered
//! with the runtime that opened them: use a `Client` (and its clones) within one runtime.

use crate::h1::chunked::{ChunkedDecoder, DecodeIntoError};
use crate::Body;
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use kiln_net::io::{AsyncReadExt, AsyncWriteExt};
use kiln_net::net::TcpStream;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Default time to establish a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time for a whole request and response.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections kept per host.
pub const MAX_IDLE_PER_HOST: usize = 32;
/// Largest response head accepted.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Largest streamed request body the client will buffer and send.
const MAX_REQUEST_BODY: usize = 64 * 1024 * 1024;
/// Largest response body accepted.
const MAX_RESPONSE_BODY: usize = 64 * 1024 * 1024;

/// Why a request failed.
#[derive(Debug)]
pub enum ClientError {
    /// The URL is not an `http://host[:port]/…` URL.
    InvalidUrl(String),
    /// Connecting failed or timed out.
    Connect(std::io::Error),
    /// The connection failed while sending or receiving.
    Io(std::io::Error),
    /// The server's response is not valid HTTP/1.x.
    InvalidResponse(String),
    /// The request did not complete within the request timeout.
    Timeout,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidUrl(u) => write!(f, "invalid URL {u:?} (expected http://host[:port]/path)"),
            ClientError::Connect(e) => write!(f, "connect failed: {e}"),
            ClientError::Io(e) => write!(f, "connection failed: {e}"),
            ClientError::InvalidResponse(why) => write!(f, "invalid response: {why}"),
            ClientError::Timeout => f.write_str("request timed out"),
        }
    }
}

impl std::error::Error for ClientError {}

/// An HTTP/1.1 client with a connection pool; cheap to clone (clones share the pool).
#[derive(Clone)]
pub struct Client {
    pool: Arc<Mutex<HashMap<String, Vec<Conn>>>>,
    connect_timeout: Duration,
    request_timeout: Duration,
}

struct Conn {
    stream: TcpStream,
    /// Bytes read past the previous response (a server may send nothing extra, but the
    /// reader must not lose what it over-read).
    leftover: Vec<u8>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("request_timeout", &self.request_timeout).finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

impl Client {
    /// A client with the default timeouts.
    pub fn new() -> Client {
        Client {
            pool: Arc::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Sets the connect and request timeouts.
    pub fn timeouts(mut self, connect: Duration, request: Duration) -> Client {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self
    }

    /// `GET url`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn get(&self, url: &str) -> Result<Response<Body>, ClientError> {
        let req =
            Request::get(url).body(Body::empty()).map_err(|_| ClientError::InvalidUrl(url.to_owned()))?;
        self.send(req).await
    }

    /// `POST url` with a JSON body.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn post_json(
        &self,
        url: &str,
        json: &serde_json::Value,
    ) -> Result<Response<Body>, ClientError> {
        let req = Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(json.to_string()))
            .map_err(|_| ClientError::InvalidUrl(url.to_owned()))?;
        self.send(req).await
    }

    /// Sends `request` (its URI must be absolute: `http://host[:port]/path`). A request with
    /// a [`TraceContext`](crate::middleware::TraceContext) in its extensions, and no
    /// `traceparent` of its own, carries that span as `traceparent` and `tracestate`: the
    /// server it reaches continues the trace.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn send(&self, mut request: Request<Body>) -> Result<Response<Body>, ClientError> {
        if let Some(trace) = request.extensions().get::<crate::middleware::TraceContext>().cloned() {
            if !request.headers().contains_key("traceparent") {
                trace.write_headers(request.headers_mut());
            }
        }
        let key = authority(request.uri())?;
        let idempotent = matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        let is_head = request.method() == Method::HEAD;
        let wire = encode_request(request, &key).await?;
        kiln_runtime::time::timeout(self.request_timeout, async {
            if let Some(conn) = self.take_idle(&key) {
                match exchange(conn, &wire, is_head).await {
                    Ok((response, reusable)) => return Ok(self.finish(&key, response, reusable)),
                    // The server may have closed an idle connection just before we used it.
                    Err(_) if idempotent => {}
                    Err(e) => return Err(e),
                }
            }
            let stream = kiln_runtime::time::timeout(self.connect_timeout, TcpStream::connect(key.as_str()))
                .await
                .map_err(|_| ClientError::Connect(std::io::ErrorKind::TimedOut.into()))?
                .map_err(ClientError::Connect)?;
            let _ = stream.set_nodelay(true);
            let (response, reusable) =
                exchange(Conn { stream, leftover: Vec::new() }, &wire, is_head).await?;
            Ok(self.finish(&key, response, reusable))
        })
        .await
        .map_err(|_| ClientError::Timeout)?
    }

    fn take_idle(&self, key: &str) -> Option<Conn> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).get_mut(key)?.pop()
    }

    fn finish(&self, key: &str, response: Response<Body>, reusable: Option<Conn>) -> Response<Body> {
        if let Some(conn) = reusable {
            let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            let idle = pool.entry(key.to_owned()).or_default();
            if idle.len() < MAX_IDLE_PER_HOST {
                idle.push(conn);
            }
        }
        response
    }

    /// Idle pooled connections to `host:port` (for tests and metrics).
    pub fn idle_connections(&self, host_port: &str) -> usize {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).get(host_port).map_or(0, Vec::len)
    }
}

fn authority(uri: &Uri) -> Result<String, ClientError> {
    if uri.scheme_str() != Some("http") {
        return Err(ClientError::InvalidUrl(uri.to_string()));
    }
    let host = uri.host().ok_or_else(|| ClientError::InvalidUrl(uri.to_string()))?;
    Ok(format!("{host}:{}", uri.port_u16().unwrap_or(80)))
}

/// The request's bytes. A whole body is sent with `Content-Length`; a streamed one is read
/// here and sent chunked (so a request can be retried; streaming uploads are not needed
/// by Kiln's own users of the client).
async fn encode_request(request: Request<Body>, key: &str) -> Result<Vec<u8>, ClientError> {
    let (parts, mut body) = request.into_parts();
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = Vec::with_capacity(256 + body.size_hint().unwrap_or(0).min(1 << 20) as usize);
    out.extend_from_slice(format!("{} {target} HTTP/1.1\r\n", parts.method).as_bytes());
    if !parts.headers.contains_key(HOST) {
        out.extend_from_slice(format!("host: {key}\r\n").as_bytes());
    }
    for (name, value) in &parts.headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(bytes) = body.as_bytes() {
        if !bytes.is_empty() || matches!(parts.method, Method::POST | Method::PUT | Method::PATCH) {
            out.extend_from_slice(format!("content-length: {}\r\n", bytes.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(bytes);
        return Ok(out);
    }
    out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
    let mut sent = 0;
    while let Some(chunk) = body.chunk().await {
        let chunk = chunk.map_err(|e| ClientError::Io(std::io::Error::other(e)))?;
        sent += chunk.len();
        if sent > MAX_REQUEST_BODY {
            return Err(ClientError::Io(std::io::Error::other("request body over the client's limit")));
        }
        crate::h1::encode::write_chunk(&mut out, &chunk);
    }
    crate::h1::encode::write_last_chunk(&mut out);
    Ok(out)
}

/// Writes one request and reads its response; returns the connection if it can be reused.
async fn exchange(
    mut conn: Conn,
    wire: &[u8],
    is_head: bool,
) -> Result<(Response<Body>, Option<Conn>), ClientError> {
    conn.stream.write_all(wire).await.map_err(ClientError::Io)?;
    let mut buf = std::mem::take(&mut conn.leftover);
    let (status, version, headers, head_len) = loop {
        let mut slots = [httparse::EMPTY_HEADER; 100];
        let mut parsed = httparse::Response::new(&mut slots);
        match parsed.parse(&buf).map_err(|e| ClientError::InvalidResponse(e.to_string()))? {
            httparse::Status::Complete(len) => {
                if crate::h1::head::has_bare_lf(&buf[..len]) {
                    return Err(ClientError::InvalidResponse("a response line ends in a bare LF".into()));
                }
                let status = StatusCode::from_u16(parsed.code.unwrap_or(0))
                    .map_err(|_| ClientError::InvalidResponse("bad status code".into()))?;
                // Skip interim responses (100 Continue) and read the final one.
                if status.is_informational() {
                    buf.drain(..len);
                    continue;
                }
                let version = if parsed.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 };
                let raw = crate::h1::head::copy_head(&buf[..len]);
                let headers = crate::h1::head::header_map(parsed.headers, &buf, &raw, None)
                    .map_err(|e| ClientError::InvalidResponse(e.to_string()))?;
                break (status, version, headers, len);
            }
            httparse::Status::Partial => {
                if buf.len() > MAX_RESPONSE_HEAD {
                    return Err(ClientError::InvalidResponse("response head too large".into()));
                }
                if read_more(&mut conn.stream, &mut buf).await? == 0 {
                    return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into()));
                }
            }
        }
    };
    buf.drain(..head_len);
    let closing = version == Version::HTTP_10
        || headers
            .get(CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let no_body = is_head || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let chunked = headers
        .get(TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().ends_with("chunked"));
    let length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let (body, delimited) = if no_body {
        (Vec::new(), true)
    } else if chunked {
        (read_chunked(&mut conn.stream, &mut buf).await?, true)
    } else if let Some(n) = length {
        if n > MAX_RESPONSE_BODY {
            return Err(ClientError::InvalidResponse(format!("body of {n} bytes is over the limit")));
        }
        while buf.len() < n {
            if read_more(&mut conn.stream, &mut buf).await? == 0 {
                return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
        (buf.drain(..n).collect(), true)
    } else {
        // Delimited by the server closing the connection.
        let mut rest = std::mem::take(&mut buf);
        conn.stream.read_to_end(&mut rest).await.map_err(ClientError::Io)?;
        (rest, false)
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.version_mut() = version;
    *response.headers_mut() = headers;
    conn.leftover = buf;
    let reusable = (delimited && !closing).then_some(conn);
    Ok((response, reusable))
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, ClientError> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).await.map_err(ClientError::Io)?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Vec<u8>, ClientError> {
    let mut decoder = ChunkedDecoder::new();
    let mut body = Vec::new();
    loop {
        let used = decoder.decode_into(buf, &mut body, MAX_RESPONSE_BODY).map_err(|e| match e {
            DecodeIntoError::TooLarge => ClientError::InvalidResponse("body over the limit".into()),
            DecodeIntoError::Malformed(e) => ClientError::InvalidResponse(e.to_string()),
        })?;
        buf.drain(..used);
        if decoder.is_done() {
            return Ok(body);
        }
        if read_more(stream, buf).await? == 0 {
            return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
}
