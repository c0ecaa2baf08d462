//! The TCP echo server: many clients at once, the connection limit, graceful shutdown.

use kiln_net::echo::{serve_tcp, EchoConfig, EchoStats, SERVER_FULL};
use kiln_net::io::{AsyncReadExt, AsyncWriteExt};
use kiln_net::net::{TcpListener, TcpStream};
use kiln_runtime::sync::oneshot;
use kiln_test_support::on_each;
use std::net::SocketAddr;
use std::time::Duration;

async fn start(
    config: EchoConfig,
) -> (SocketAddr, oneshot::Sender<()>, kiln_runtime::task::JoinHandle<EchoStats>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = kiln_runtime::spawn(serve_tcp(listener, config, async move {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

#[test]
fn fifty_clients_are_echoed_at_once() {
    on_each(|| async {
        let (addr, stop, server) = start(EchoConfig::default()).await;
        let clients: Vec<_> = (0..50u32)
            .map(|i| {
                kiln_runtime::spawn(async move {
                    let mut c = TcpStream::connect(addr).await.unwrap();
                    let msg = format!("client {i} says hello");
                    for _ in 0..10 {
                        c.write_all(msg.as_bytes()).await.unwrap();
                        let mut back = vec![0; msg.len()];
                        c.read_exact(&mut back).await.unwrap();
                        assert_eq!(back, msg.as_bytes());
                    }
                    msg.len() as u64 * 10
                })
            })
            .collect();
        let mut total = 0;
        for c in clients {
            total += c.await.unwrap();
        }
        stop.send(()).unwrap();
        let stats = server.await.unwrap();
        assert_eq!(stats.served, 50);
        assert_eq!(stats.bytes, total);
        assert_eq!(stats.forced, 0);
    });
}

#[test]
fn clients_over_the_limit_are_told_and_closed() {
    on_each(|| async {
        let (addr, stop, server) = start(EchoConfig { max_connections: 2, ..EchoConfig::default() }).await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(b"x").await.unwrap();
            let mut one = [0; 1];
            c.read_exact(&mut one).await.unwrap(); // served: the slot is really taken
            held.push(c);
        }
        let mut third = TcpStream::connect(addr).await.unwrap();
        let mut reply = Vec::new();
        third.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, SERVER_FULL);
        // Freeing a slot lets the next client in.
        drop(held.pop());
        let mut fourth = loop {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(b"y").await.unwrap();
            let mut one = [0; 1];
            match c.read(&mut one).await {
                Ok(1) if one == *b"y" => break c,
                _ => kiln_runtime::time::sleep(Duration::from_millis(5)).await, // slot not freed yet
            }
        };
        fourth.shutdown().await.unwrap();
        drop(held);
        stop.send(()).unwrap();
        let stats = server.await.unwrap();
        assert!(stats.rejected >= 1);
    });
}

#[test]
fn shutdown_stops_accepting_lets_open_connections_finish_then_forces() {
    on_each(|| async {
        let grace = Duration::from_millis(300);
        let (addr, stop, server) = start(EchoConfig { grace, ..EchoConfig::default() }).await;
        let mut finishing = TcpStream::connect(addr).await.unwrap();
        let mut lingering = TcpStream::connect(addr).await.unwrap();
        for c in [&mut finishing, &mut lingering] {
            c.write_all(b"hi").await.unwrap();
            let mut two = [0; 2];
            c.read_exact(&mut two).await.unwrap();
        }
        stop.send(()).unwrap();
        kiln_runtime::time::sleep(Duration::from_millis(50)).await;
        // Open connections are still served during the grace period...
        finishing.write_all(b"still here").await.unwrap();
        let mut back = [0; 10];
        finishing.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"still here");
        // ...but no new ones are accepted.
        assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
        finishing.shutdown().await.unwrap();
        // `lingering` never closes: it is cut when the grace period ends.
        let stats = server.await.unwrap();
        assert_eq!(stats.forced, 1);
        let mut rest = Vec::new();
        let _ = lingering.read_to_end(&mut rest).await; // EOF or reset, never a hang
    });
}
