//! Week 2: TCP and UDP echo servers on one port, with a connection limit and graceful
//! shutdown.
//!
//! ```text
//! cargo run --example week2_echo                      # 127.0.0.1:7000
//! cargo run --example week2_echo -- --addr 127.0.0.1:9000 --max-connections 2
//! ```
//! In a second terminal: `cargo run --example week2_chat_client -- --addr 127.0.0.1:7000` (a
//! line client; type lines and they come back), or `nc 127.0.0.1 7000` if you have `nc`, and
//! `nc -u 127.0.0.1 7000` for UDP. What to look for: a third client beyond
//! `--max-connections` waits until one leaves; Ctrl+C (or `kill <pid>`) stops accepting,
//! gives open connections `--grace-secs` to finish, prints a summary and exits 0.

#[path = "support/args.rs"]
mod args;

use kiln::echo::{serve_tcp, serve_udp, EchoConfig};
use kiln::net::{TcpListener, UdpSocket};
use kiln::sync::watch;
use std::time::Duration;

const USAGE: &str = "usage: week2_echo [--addr HOST:PORT] [--max-connections N] [--grace-secs S]";

#[kiln::main]
async fn main() {
    let args = args::Args::parse(USAGE, &["--addr", "--max-connections", "--grace-secs"], &[]);
    let addr: String = args.get("--addr", "127.0.0.1:7000".to_owned());
    let config = EchoConfig {
        max_connections: args.get("--max-connections", 1024),
        grace: Duration::from_secs(args.get("--grace-secs", 5)),
    };
    let tcp = TcpListener::bind(addr.as_str())
        .await
        .unwrap_or_else(|e| args.fail(&format!("cannot listen on {addr}: {e}")));
    let local = tcp.local_addr().expect("a bound listener has an address");
    let udp =
        UdpSocket::bind(local).await.unwrap_or_else(|e| args.fail(&format!("cannot bind UDP {local}: {e}")));
    println!("echo: TCP and UDP on {local} (max {} connections)", config.max_connections);
    println!("echo: try `cargo run --example week2_chat_client -- --addr {local}` and type lines");
    println!(
        "      (or `nc {} {}`, and `nc -u {} {}` for UDP); Ctrl+C to stop",
        local.ip(),
        local.port(),
        local.ip(),
        local.port()
    );

    // One signal, two servers: a watch channel flips once on Ctrl+C / SIGTERM.
    let (stop_tx, stop_rx) = watch::channel(false);
    let grace = config.grace;
    kiln::spawn(async move {
        if let Err(e) = kiln::shutdown::terminate_signal().await {
            eprintln!("echo: cannot listen for signals: {e}");
            return;
        }
        println!("echo: shutting down; open connections get {grace:?} to finish");
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let udp_task = kiln::spawn(serve_udp(udp, stopped(stop_rx.clone())));
    let stats = serve_tcp(tcp, config, stopped(stop_rx)).await;
    let datagrams = udp_task.await.unwrap_or(0);
    println!(
        "echo: done. {} TCP connections served, {} turned away, {} bytes echoed, {} cut at the deadline; {} UDP datagrams",
        stats.served, stats.rejected, stats.bytes, stats.forced, datagrams
    );
}
