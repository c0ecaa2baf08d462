//! Networking, Kiln against Tokio: the same server logic on each runtime, driven by the same
//! client in the same run.
//!
//! Servers run on a two-worker multi-thread runtime (`KILN_BENCH_WORKERS` to change it). The
//! clients are identical for both: plain blocking std sockets for the one-connection
//! workloads (so the client adds no runtime of its own), and one Tokio current-thread runtime
//! for the many-connection ones (the same client code, whichever server it talks to).
//!
//! - `tcp_echo_rtt_64B_x100`: one connection, 100 round trips of 64 bytes.
//! - `tcp_echo_throughput_16conn_x64_1KiB`: 16 connections each send 64 messages of 1 KiB and
//!   read them back.
//! - `tcp_accept_x100`: connect and close 100 connections (the server accepts and drops).
//! - `udp_echo_64B_x100`: 100 datagram round trips.
//! - `chat_fanout_1x100_x1000`: one sender, 100 receivers, 1000 messages through the chat
//!   server (Kiln's `kiln::app::chat`, and the equivalent Tokio server in `net/tokio_chat.rs`).
//!
//! Run: `cargo bench --bench net`; `scripts/bench-repeat net 3` for the table in BENCHMARKS.md.

// `criterion_group!` generates a public function without docs.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn workers() -> usize {
    std::env::var("KILN_BENCH_WORKERS").ok().and_then(|s| s.parse().ok()).unwrap_or(2)
}

fn group_name(name: &str) -> String {
    format!("{name} [server: multi_thread, {} workers]", workers())
}

/// A server running on its own runtime, for the length of one benchmark group.
enum ServerRt {
    Kiln(kiln::runtime::Runtime),
    Tokio(tokio::runtime::Runtime),
}

fn kiln_rt() -> ServerRt {
    ServerRt::Kiln(kiln::runtime::Builder::new_multi_thread().worker_threads(workers()).build().unwrap())
}

fn tokio_rt() -> ServerRt {
    ServerRt::Tokio(
        tokio::runtime::Builder::new_multi_thread().worker_threads(workers()).enable_all().build().unwrap(),
    )
}

// ---------------------------------------------------------------------------------------
// The servers: echo (TCP, UDP), accept-and-drop, written once per runtime.

fn start_tcp_echo(rt: &ServerRt) -> SocketAddr {
    match rt {
        ServerRt::Kiln(rt) => rt.block_on(async {
            let l = kiln::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            kiln::spawn(async move {
                loop {
                    let (s, _) = l.accept().await.unwrap();
                    s.set_nodelay(true).unwrap();
                    kiln::spawn(kiln::echo::echo_connection(s));
                }
            });
            addr
        }),
        ServerRt::Tokio(rt) => rt.block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            tokio::spawn(async move {
                loop {
                    let (mut s, _) = l.accept().await.unwrap();
                    s.set_nodelay(true).unwrap();
                    tokio::spawn(async move {
                        let mut buf = vec![0; 16 * 1024];
                        loop {
                            let n = match s.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    });
                }
            });
            addr
        }),
    }
}

fn start_accept_drop(rt: &ServerRt) -> SocketAddr {
    match rt {
        ServerRt::Kiln(rt) => rt.block_on(async {
            let l = kiln::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            kiln::spawn(async move {
                loop {
                    drop(l.accept().await.unwrap());
                }
            });
            addr
        }),
        ServerRt::Tokio(rt) => rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            tokio::spawn(async move {
                loop {
                    drop(l.accept().await.unwrap());
                }
            });
            addr
        }),
    }
}

fn start_udp_echo(rt: &ServerRt) -> SocketAddr {
    match rt {
        ServerRt::Kiln(rt) => rt.block_on(async {
            let s = kiln::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = s.local_addr().unwrap();
            kiln::spawn(kiln::echo::serve_udp(s, std::future::pending()));
            addr
        }),
        ServerRt::Tokio(rt) => rt.block_on(async {
            let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = s.local_addr().unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0; 64 * 1024];
                loop {
                    let (n, peer) = s.recv_from(&mut buf).await.unwrap();
                    let _ = s.send_to(&buf[..n], peer).await;
                }
            });
            addr
        }),
    }
}

#[path = "support/paired.rs"]
mod paired;
#[path = "support/pin.rs"]
mod pin;

/// Builds both server runtimes on the server CPUs; this (client) thread then runs on the
/// client CPUs (`support/pin.rs`).
fn server_rts() -> (ServerRt, ServerRt) {
    pin::start_servers("net", || (kiln_rt(), tokio_rt()))
}

/// Runs one workload against a Kiln server and a Tokio server in one group. Both servers run
/// for the whole group, so `KILN_BENCH_PAIRED` can interleave them (`support/paired.rs`).
fn both(
    c: &mut Criterion,
    name: &str,
    start: fn(&ServerRt) -> SocketAddr,
    run: impl Fn(SocketAddr, u64) -> Duration,
) {
    let (kiln, tokio) = server_rts();
    let (kiln_addr, tokio_addr) = (start(&kiln), start(&tokio));
    let mut on_kiln = |b: &mut paired::Bencher| b.iter_custom(|iters| run(kiln_addr, iters));
    let mut on_tokio = |b: &mut paired::Bencher| b.iter_custom(|iters| run(tokio_addr, iters));
    paired::compare(c, "net", &group_name(name), &mut [("kiln", &mut on_kiln), ("tokio", &mut on_tokio)]);
}

fn tcp_echo_rtt(c: &mut Criterion) {
    both(c, "tcp_echo_rtt_64B_x100", start_tcp_echo, |addr, iters| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        let msg = [7u8; 64];
        let mut back = [0u8; 64];
        let start = Instant::now();
        for _ in 0..iters * 100 {
            s.write_all(&msg).unwrap();
            s.read_exact(&mut back).unwrap();
        }
        start.elapsed()
    });
}

fn tcp_accept(c: &mut Criterion) {
    both(c, "tcp_accept_x100", start_accept_drop, |addr, iters| {
        let start = Instant::now();
        for _ in 0..iters * 100 {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            // Wait for the server's close, so each connection was really accepted.
            let mut buf = [0u8; 1];
            let _ = s.read(&mut buf);
        }
        start.elapsed()
    });
}

fn udp_echo(c: &mut Criterion) {
    both(c, "udp_echo_64B_x100", start_udp_echo, |addr, iters| {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let msg = [9u8; 64];
        let mut back = [0u8; 64];
        let start = Instant::now();
        for _ in 0..iters * 100 {
            s.send(&msg).unwrap();
            s.recv(&mut back).expect("loopback UDP echo lost a datagram (5 s timeout)");
        }
        start.elapsed()
    });
}

/// The load generator for many-connection workloads: one Tokio current-thread runtime, the
/// same for both servers.
fn client_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn tcp_echo_throughput(c: &mut Criterion) {
    let client = client_rt();
    both(c, "tcp_echo_throughput_16conn_x64_1KiB", start_tcp_echo, |addr, iters| {
        client.block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut conns = Vec::new();
            for _ in 0..16 {
                let s = tokio::net::TcpStream::connect(addr).await.unwrap();
                s.set_nodelay(true).unwrap();
                conns.push(s);
            }
            let start = Instant::now();
            for _ in 0..iters {
                let rounds = conns.iter_mut().map(|s| async move {
                    let (mut r, mut w) = s.split();
                    let msg = [5u8; 1024];
                    let write = async {
                        for _ in 0..64 {
                            w.write_all(&msg).await.unwrap();
                        }
                    };
                    let read = async {
                        let mut back = vec![0u8; 64 * 1024];
                        r.read_exact(&mut back).await.unwrap();
                    };
                    tokio::join!(write, read);
                });
                futures::future::join_all(rounds).await;
            }
            start.elapsed()
        })
    });
}

// ---------------------------------------------------------------------------------------
// Chat fan-out.

#[path = "net/tokio_chat.rs"]
mod tokio_chat;

const RECEIVERS: usize = 100;
const MESSAGES: usize = 1000;

fn start_chat(rt: &ServerRt, db: &std::path::Path) -> SocketAddr {
    match rt {
        ServerRt::Kiln(rt) => rt.block_on(async {
            let config = kiln::app::chat::ChatConfig {
                addr: "127.0.0.1:0".into(),
                db: db.to_owned(),
                require_auth: false,
                history_on_join: 0,
                max_clients: 1000,
                client_queue: 2048,
                max_missed: u64::MAX,
                ..kiln::app::chat::ChatConfig::default()
            };
            let server = kiln::app::chat::ChatServer::bind(config).await.unwrap();
            let addr = server.local_addr().unwrap();
            kiln::spawn(server.run(std::future::pending()));
            addr
        }),
        ServerRt::Tokio(rt) => rt.block_on(tokio_chat::start(db.to_owned())),
    }
}

/// A chat server with its receivers and sender connected and joined, ready for rounds.
struct ChatRig {
    sender: tokio::net::tcp::OwnedWriteHalf,
    receivers: Vec<tokio::io::BufReader<tokio::net::TcpStream>>,
    round: u64,
    _dir: tempfile::TempDir,
}

impl ChatRig {
    fn connect(client: &tokio::runtime::Runtime, rt: &ServerRt) -> ChatRig {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let addr = start_chat(rt, &dir.path().join("chat.db"));
        // Connect everyone once; each receiver skips its greeting lines.
        let (mut sender, mut receivers) = client.block_on(async {
            let mut receivers = Vec::new();
            for _ in 0..RECEIVERS {
                let s = tokio::net::TcpStream::connect(addr).await.unwrap();
                receivers.push(tokio::io::BufReader::new(s));
            }
            // The sender reads too (its own copies), as every chat client does; a sender that
            // never read would be cut off by the server's write timeout.
            let (mut sender_read, sender) = tokio::net::TcpStream::connect(addr).await.unwrap().into_split();
            tokio::spawn(async move {
                let mut sink = vec![0u8; 64 * 1024];
                while tokio::io::AsyncReadExt::read(&mut sender_read, &mut sink).await.is_ok_and(|n| n > 0) {}
            });
            (sender, receivers)
        });
        // Sessions join the room asynchronously after connecting: ping until every receiver
        // has seen a ping, so no receiver can miss a measured round.
        client.block_on(async {
            let all_joined = futures::future::join_all(receivers.iter_mut().map(|r| async move {
                let mut line = String::new();
                while !line.contains("<") {
                    line.clear();
                    assert!(r.read_line(&mut line).await.unwrap() > 0, "server closed");
                }
            }));
            let mut all_joined = std::pin::pin!(all_joined);
            loop {
                sender.write_all(b"ping\n").await.unwrap();
                if tokio::time::timeout(Duration::from_millis(20), &mut all_joined).await.is_ok() {
                    break;
                }
            }
        });
        ChatRig { sender, receivers, round: 0, _dir: dir }
    }

    /// `iters` rounds of MESSAGES messages, each seen by every receiver.
    fn rounds(&mut self, client: &tokio::runtime::Runtime, iters: u64) -> Duration {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        client.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                self.round += 1;
                let round = self.round;
                let last = format!("r{round} m{}", MESSAGES - 1);
                let mut batch = String::new();
                for m in 0..MESSAGES {
                    batch.push_str(&format!("r{round} m{m}\n"));
                }
                let send = self.sender.write_all(batch.as_bytes());
                let receive = futures::future::join_all(self.receivers.iter_mut().map(|r| {
                    let last = last.clone();
                    async move {
                        let mut line = String::new();
                        loop {
                            line.clear();
                            assert!(r.read_line(&mut line).await.unwrap() > 0, "server closed");
                            if line.trim_end().ends_with(&last) {
                                break;
                            }
                        }
                    }
                }));
                let (sent, _) = tokio::join!(send, receive);
                sent.unwrap();
            }
            start.elapsed()
        })
    }
}

fn chat_fanout(c: &mut Criterion) {
    let client = client_rt();
    let (kiln, tokio) = server_rts();
    let mut kiln_rig = ChatRig::connect(&client, &kiln);
    let mut tokio_rig = ChatRig::connect(&client, &tokio);
    let mut on_kiln = |b: &mut paired::Bencher| b.iter_custom(|iters| kiln_rig.rounds(&client, iters));
    let mut on_tokio = |b: &mut paired::Bencher| b.iter_custom(|iters| tokio_rig.rounds(&client, iters));
    let name = group_name("chat_fanout_1x100_x1000");
    paired::compare_with_samples(
        c,
        "net",
        &name,
        Some(10),
        &mut [("kiln", &mut on_kiln), ("tokio", &mut on_tokio)],
    );
}

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = tcp_echo_rtt, tcp_echo_throughput, tcp_accept, udp_echo, chat_fanout
}
criterion_main!(benches);
