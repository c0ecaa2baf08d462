//! UDP and Unix domain sockets on real sockets.

use kiln_net::echo::serve_udp;
use kiln_net::io::{AsyncReadExt, AsyncWriteExt};
use kiln_net::net::{UdpSocket, UnixListener, UnixStream};
use kiln_test_support::on_each;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn udp_send_to_recv_from_and_connected_send_recv() {
    on_each(|| async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind(("127.0.0.1", 0)).await.unwrap();
        let b_addr = b.local_addr().unwrap();
        a.send_to(b"datagram", b_addr).await.unwrap();
        let mut buf = [0; 64];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"datagram");
        assert_eq!(from, a.local_addr().unwrap());

        a.connect(b_addr).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b_addr);
        a.send(b"connected").await.unwrap();
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"connected");
        // A datagram longer than the buffer is cut, not split across reads.
        a.send(&[1; 100]).await.unwrap();
        let mut small = [0; 10];
        assert_eq!(b.recv(&mut small).await.unwrap(), 10);
        assert_eq!(b.try_recv_from(&mut buf).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    });
}

#[test]
fn udp_echo_server_answers_many_clients_and_stops_on_shutdown() {
    on_each(|| async {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let stop = Arc::new(kiln_runtime::sync::Notify::new());
        let stopper = stop.clone();
        let task =
            kiln_runtime::spawn(
                async move { serve_udp(server, async move { stopper.notified().await }).await },
            );
        let mut clients = Vec::new();
        for i in 0..10u8 {
            clients.push(kiln_runtime::spawn(async move {
                let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                c.connect(addr).await.unwrap();
                let mut buf = [0; 16];
                // UDP may drop; retry a few times with a timeout, as a real client would.
                for _ in 0..5 {
                    c.send(&[i; 8]).await.unwrap();
                    if let Ok(Ok(n)) =
                        kiln_runtime::time::timeout(Duration::from_millis(500), c.recv(&mut buf)).await
                    {
                        assert_eq!(&buf[..n], &[i; 8]);
                        return;
                    }
                }
                panic!("client {i} got no echo");
            }));
        }
        for c in clients {
            c.await.unwrap();
        }
        stop.notify_one();
        assert!(task.await.unwrap() >= 10);
    });
}

#[test]
fn unix_stream_pair_listener_and_half_close() {
    on_each(|| async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kiln.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = kiln_runtime::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = Vec::new();
            s.read_to_end(&mut req).await.unwrap();
            s.write_all(&req).await.unwrap();
        });
        let mut c = UnixStream::connect(&path).await.unwrap();
        c.write_all(b"over a unix socket").await.unwrap();
        c.shutdown().await.unwrap();
        let mut back = String::new();
        c.read_to_string(&mut back).await.unwrap();
        assert_eq!(back, "over a unix socket");
        server.await.unwrap();

        assert!(UnixStream::connect(dir.path().join("missing.sock")).await.is_err());
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"pair").await.unwrap();
        let mut buf = [0; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pair");
    });
}
