//! An HTTP server on a free loopback port, and reads of responses off a raw socket: the head
//! through its blank line, a chunk, a whole response by its framing, or everything until the
//! server closes. Every read is exact (nothing past the response is consumed), so a test can
//! pipeline requests and check each answer in turn.

use kiln_http::{Server, ServerConfig, Service};
use kiln_net::io::{AsyncReadExt, AsyncWriteExt};
use kiln_net::net::TcpStream;
use kiln_runtime::sync::oneshot;
use std::net::SocketAddr;
use std::time::Duration;

/// A server running on a free port until `stop` is sent.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Send (or drop) to begin the graceful stop.
    pub stop: oneshot::Sender<()>,
    /// The serving task; it ends with the server's summary.
    pub task: kiln_runtime::task::JoinHandle<kiln_http::server::ServeSummary>,
}

impl Running {
    /// `http://127.0.0.1:port` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) -> kiln_http::server::ServeSummary {
        let _ = self.stop.send(());
        self.task.await.unwrap()
    }
}

/// Serves `service` with `config` on 127.0.0.1:0.
pub async fn start<S: Service>(service: S, config: ServerConfig) -> Running {
    let server = Server::bind("127.0.0.1:0").await.unwrap().config(config);
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = kiln_runtime::spawn(server.serve(service, async move {
        let _ = stopped.await;
    }));
    Running { addr, stop, task }
}

/// Sends `raw`, then reads until the server closes (bounded by 10 s).
pub async fn exchange_until_close(addr: SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    read_until_close(&mut s).await
}

/// Reads until the server closes (bounded by 10 s).
pub async fn read_until_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    kiln_runtime::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("server closed in time")
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// Reads byte by byte through `terminator` (so nothing after it is consumed).
async fn read_through(s: &mut TcpStream, terminator: &[u8]) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(terminator) {
        assert_eq!(s.read(&mut byte).await.unwrap(), 1, "closed early: {:?}", String::from_utf8_lossy(&buf));
        buf.push(byte[0]);
    }
    String::from_utf8(buf).unwrap()
}

/// Reads one response head (through the blank line).
pub async fn read_head(s: &mut TcpStream) -> String {
    read_through(s, b"\r\n\r\n").await
}

/// Reads one CRLF-terminated line (without the CRLF).
pub async fn read_line(s: &mut TcpStream) -> String {
    let mut line = read_through(s, b"\r\n").await;
    line.truncate(line.len() - 2);
    line
}

/// Reads the interim `100 Continue` a client waits for before sending its body.
pub async fn read_continue(s: &mut TcpStream) {
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).await.unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
}

/// Reads one chunk of a chunked body; `None` for the last chunk (trailers are not expected).
pub async fn read_chunk(s: &mut TcpStream) -> Option<String> {
    let size = usize::from_str_radix(&read_line(s).await, 16).expect("a hex chunk size");
    if size == 0 {
        assert_eq!(read_line(s).await, "", "no trailers");
        return None;
    }
    let mut data = vec![0; size + 2];
    s.read_exact(&mut data).await.unwrap();
    assert!(data.ends_with(b"\r\n"));
    data.truncate(size);
    Some(String::from_utf8(data).unwrap())
}

/// Reads one response: head plus its `content-length` or chunked body (decoded).
pub async fn read_response(s: &mut TcpStream) -> String {
    let head = read_head(s).await;
    if head.contains("\r\ntransfer-encoding: chunked\r\n") {
        let mut body = String::new();
        while let Some(chunk) = read_chunk(s).await {
            body.push_str(&chunk);
        }
        return head + &body;
    }
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |n| n.trim().parse::<usize>().unwrap());
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.unwrap();
    head + &String::from_utf8(body).unwrap()
}

/// The body of a raw response text.
pub fn body_of(response: &str) -> &str {
    &response[response.find("\r\n\r\n").expect("a complete head") + 4..]
}
