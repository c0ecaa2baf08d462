//! HTTP, Kiln against hyper and axum: the same hello app (`examples/support/hello_apps.rs`)
//! on each stack, driven by the same client in the same run.
//!
//! Each server runs on its own two-worker multi-thread runtime (`KILN_BENCH_WORKERS` to
//! change): Kiln's for Kiln, Tokio's for hyper and axum. The client is identical for all
//! three — a plain blocking std socket on one keep-alive connection — so it adds no runtime
//! of its own and cannot favour one server.
//!
//! - `http_plaintext_rtt`: one `GET /plaintext`, one response.
//! - `http_json_rtt`: one `GET /json` (serialized per request), one response.
//! - `http_pipelined16`: 16 `GET /plaintext` in one write, 16 responses read back
//!   (TechEmpower's plaintext shape, on one connection).
//! - `http_echo_4KiB`: `POST /echo` with a 4 KiB body, the body back.
//!
//! Run: `cargo bench --bench http`; `scripts/bench-repeat http 3` for the table in
//! BENCHMARKS.md. `scripts/bench-http.sh` is the many-connection counterpart with wrk.

// `criterion_group!` generates a public function without docs.
#![allow(missing_docs)]

#[path = "../examples/support/hello_apps.rs"]
mod hello_apps;

use criterion::{criterion_group, criterion_main, Criterion};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

fn workers() -> usize {
    std::env::var("KILN_BENCH_WORKERS").ok().and_then(|s| s.parse().ok()).unwrap_or(2)
}

/// The three servers, each on its own runtime, alive for the whole bench run.
struct Servers {
    kiln: SocketAddr,
    hyper: SocketAddr,
    axum: SocketAddr,
    _kiln_rt: kiln::runtime::Runtime,
    _tokio_rt: tokio::runtime::Runtime,
}

fn start_servers() -> Servers {
    let kiln_rt = kiln::runtime::Builder::new_multi_thread().worker_threads(workers()).build().unwrap();
    let kiln = kiln_rt.block_on(async {
        let server = kiln::http::Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        kiln::spawn(server.serve(hello_apps::kiln_app::app(), std::future::pending()));
        addr
    });
    let tokio_rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers()).enable_all().build().unwrap();
    let (hyper, axum) = tokio_rt.block_on(async {
        let h = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addrs = (h.local_addr().unwrap(), a.local_addr().unwrap());
        tokio::spawn(hello_apps::hyper_app::serve(h));
        tokio::spawn(hello_apps::axum_app::serve(a));
        addrs
    });
    Servers { kiln, hyper, axum, _kiln_rt: kiln_rt, _tokio_rt: tokio_rt }
}

/// One keep-alive connection and the exact length of the response to `request` (constant:
/// the `Date` header has a fixed width), so each iteration reads exactly one response.
struct Conn {
    stream: TcpStream,
    response_len: usize,
    buf: Vec<u8>,
}

impl Conn {
    fn open(addr: SocketAddr, request: &[u8]) -> Conn {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut conn = Conn { stream, response_len: 0, buf: Vec::new() };
        conn.stream.write_all(request).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            conn.stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(text.starts_with("http/1.1 200"), "{text}");
        let body: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|n| n.trim().parse().unwrap())
            .expect("a sized response");
        let mut rest = vec![0; body];
        conn.stream.read_exact(&mut rest).unwrap();
        conn.response_len = head.len() + body;
        conn.buf = vec![0; conn.response_len * 16];
        conn
    }

    /// Sends `wire` (holding `count` requests) and reads `count` responses.
    fn exchange(&mut self, wire: &[u8], count: usize) {
        self.stream.write_all(wire).unwrap();
        self.stream.read_exact(&mut self.buf[..self.response_len * count]).unwrap();
    }
}

const PLAINTEXT: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n";
const JSON: &[u8] = b"GET /json HTTP/1.1\r\nHost: bench\r\n\r\n";

#[path = "support/paired.rs"]
mod paired;
#[path = "support/pin.rs"]
mod pin;

/// One group: `request` (holding `count` requests) over one connection to each server.
fn group(c: &mut Criterion, name: &str, servers: &Servers, request: &[u8], count: usize) {
    let first = &request[..request.len() / count];
    let mut conns =
        [Conn::open(servers.kiln, first), Conn::open(servers.hyper, first), Conn::open(servers.axum, first)];
    let [kiln, hyper, axum] = &mut conns;
    let mut on_kiln = |b: &mut paired::Bencher| b.iter(|| kiln.exchange(request, count));
    let mut on_hyper = |b: &mut paired::Bencher| b.iter(|| hyper.exchange(request, count));
    let mut on_axum = |b: &mut paired::Bencher| b.iter(|| axum.exchange(request, count));
    let name = format!("{name} [servers: multi_thread, {} workers]", workers());
    paired::compare(
        c,
        "http",
        &name,
        &mut [("kiln", &mut on_kiln), ("hyper", &mut on_hyper), ("axum", &mut on_axum)],
    );
}

fn bench(c: &mut Criterion) {
    // The servers on the server CPUs, this (client) thread on the others (`support/pin.rs`).
    let servers = pin::start_servers("http", start_servers);
    group(c, "http_plaintext_rtt", &servers, PLAINTEXT, 1);
    group(c, "http_json_rtt", &servers, JSON, 1);
    group(c, "http_pipelined16", &servers, &PLAINTEXT.repeat(16), 16);
    let body = vec![b'k'; 4096];
    let mut echo = format!(
        "POST /echo HTTP/1.1\r\nHost: bench\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    echo.extend_from_slice(&body);
    group(c, "http_echo_4KiB", &servers, &echo, 1);
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = bench
}
criterion_main!(benches);
