//! TCP on real loopback sockets: connect/accept, address forms, splits, half-close, peek,
//! try_read, cancellation, errors, and the `TcpSocket` builder.

use kiln_net::io::{AsyncReadExt, AsyncWriteExt};
use kiln_net::net::{TcpListener, TcpSocket, TcpStream};
use kiln_test_support::on_each;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = kiln_runtime::join!(TcpStream::connect(addr), listener.accept());
    (client.unwrap(), accepted.unwrap().0)
}

#[test]
fn connect_accept_and_exchange_bytes() {
    on_each(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert_ne!(addr.port(), 0, "binding port 0 reports the real port");
        let server = kiln_runtime::spawn(async move {
            let (mut s, peer) = listener.accept().await.unwrap();
            assert_eq!(s.peer_addr().unwrap(), peer);
            let mut buf = [0; 4];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        server.await.unwrap();
    });
}

#[test]
fn bind_and_connect_take_tokios_address_forms() {
    on_each(|| async {
        let l1 = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let l2 = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
        let l3 = TcpListener::bind(String::from("127.0.0.1:0")).await.unwrap();
        for l in [&l1, &l2, &l3] {
            let port = l.local_addr().unwrap().port();
            // "localhost" goes through DNS on the blocking pool.
            let c = TcpStream::connect(("localhost", port)).await;
            let c = match c {
                Ok(c) => c,
                // localhost may resolve to ::1 first on some machines; the IPv4 form must work.
                Err(_) => TcpStream::connect(format!("127.0.0.1:{port}")).await.unwrap(),
            };
            assert_eq!(c.peer_addr().unwrap().port(), port);
        }
        let bad = TcpListener::bind("not an address").await.unwrap_err();
        assert!(!bad.to_string().is_empty());
    });
}

#[test]
fn connecting_to_a_closed_port_is_refused_not_a_hang() {
    on_each(|| async {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = TcpStream::connect(("127.0.0.1", port)).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    });
}

#[test]
fn half_close_lets_the_peer_read_to_end_and_still_reply() {
    on_each(|| async {
        let (mut client, mut server) = pair().await;
        client.write_all(b"request").await.unwrap();
        client.shutdown().await.unwrap();
        let mut req = Vec::new();
        server.read_to_end(&mut req).await.unwrap();
        assert_eq!(req, b"request", "EOF arrives after the data");
        server.write_all(b"reply after your FIN").await.unwrap();
        drop(server);
        let mut reply = String::new();
        client.read_to_string(&mut reply).await.unwrap();
        assert_eq!(reply, "reply after your FIN");
        let mut buf = [0; 8];
        assert_eq!(client.read(&mut buf).await.unwrap(), 0, "EOF stays EOF");
    });
}

#[test]
fn a_reset_connection_is_an_error_not_a_panic() {
    on_each(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let socket = TcpSocket::new_v4().unwrap();
        let (client, accepted) = kiln_runtime::join!(socket.connect(addr), listener.accept());
        let client = client.unwrap();
        let (mut server, _) = accepted.unwrap();
        // Closing with SO_LINGER 0 sends RST instead of FIN.
        let std_client = client.into_std().unwrap();
        socket2::SockRef::from(&std_client).set_linger(Some(Duration::ZERO)).unwrap();
        drop(std_client);
        let mut buf = [0; 16];
        let mut saw_error = false;
        for _ in 0..10 {
            match server.read(&mut buf).await {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
                    saw_error = true;
                    break;
                }
            }
        }
        assert!(saw_error, "a reset surfaces as ConnectionReset");
    });
}

#[test]
fn borrowed_split_reads_and_writes_in_one_task() {
    on_each(|| async {
        let (mut client, mut server) = pair().await;
        let (mut r, mut w) = server.split();
        client.write_all(b"abc").await.unwrap();
        let (read, written) = kiln_runtime::join!(
            async {
                let mut buf = [0; 3];
                r.read_exact(&mut buf).await.map(|_| buf)
            },
            w.write_all(b"xyz")
        );
        assert_eq!(&read.unwrap(), b"abc");
        written.unwrap();
        let mut buf = [0; 3];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"xyz");
    });
}

#[test]
fn owned_halves_move_to_tasks_and_reunite() {
    on_each(|| async {
        let (mut client, server) = pair().await;
        let (mut r, mut w) = server.into_split();
        let reader = kiln_runtime::spawn(async move {
            let mut buf = [0; 5];
            r.read_exact(&mut buf).await.unwrap();
            (r, buf)
        });
        let writer = kiln_runtime::spawn(async move {
            w.write_all(b"from server").await.unwrap();
            w
        });
        client.write_all(b"hello").await.unwrap();
        let (r, buf) = reader.await.unwrap();
        let w = writer.await.unwrap();
        assert_eq!(&buf, b"hello");
        let mut got = [0; 11];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"from server");

        let (other_client, other_server) = pair().await;
        let (_or, ow) = other_server.into_split();
        let err = r.reunite(ow).unwrap_err();
        assert!(err.to_string().contains("not from the same"));
        let (r, _) = (err.0, err.1);
        let mut whole = r.reunite(w).unwrap();
        whole.write_all(b"!").await.unwrap();
        let mut one = [0; 1];
        client.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"!");
        drop(other_client);
    });
}

#[test]
fn dropping_the_owned_write_half_sends_eof() {
    on_each(|| async {
        let (mut client, server) = pair().await;
        let (_r, w) = server.into_split();
        drop(w);
        let mut buf = Vec::new();
        assert_eq!(client.read_to_end(&mut buf).await.unwrap(), 0);
    });
}

#[test]
fn peek_does_not_consume_and_try_read_does_not_wait() {
    on_each(|| async {
        let (mut client, server) = pair().await;
        let mut buf = [0; 16];
        assert_eq!(server.try_read(&mut buf).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
        client.write_all(b"peekaboo").await.unwrap();
        let n = server.peek(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"peekaboo");
        server.readable().await.unwrap();
        let n = server.try_read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"peekaboo", "peeked bytes are still there");
        server.writable().await.unwrap();
        assert_eq!(server.try_write(b"ok").unwrap(), 2);
        let mut two = [0; 2];
        client.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"ok");
    });
}

#[test]
fn a_cancelled_read_or_accept_loses_nothing() {
    on_each(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Cancel an accept while nobody connects, then connect: the next accept gets it.
        assert!(kiln_runtime::time::timeout(Duration::from_millis(10), listener.accept()).await.is_err());
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        // Cancel a read while no data is there, then send: the next read gets every byte.
        let mut buf = [0; 8];
        assert!(kiln_runtime::time::timeout(Duration::from_millis(10), server.read(&mut buf)).await.is_err());
        client.write_all(b"intact").await.unwrap();
        let mut got = [0; 6];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"intact");
    });
}

#[test]
fn large_transfers_arrive_whole_in_both_directions() {
    on_each(|| async {
        let (client, server) = pair().await;
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let expected = data.clone();
        let (mut cr, mut cw) = client.into_split();
        let send = kiln_runtime::spawn(async move {
            cw.write_all(&data).await.unwrap();
            cw.shutdown().await.unwrap();
        });
        let echo = kiln_runtime::spawn(async move {
            let (mut sr, mut sw) = server.into_split();
            kiln_net::io::copy(&mut sr, &mut sw).await.unwrap()
        });
        let mut back = Vec::new();
        cr.read_to_end(&mut back).await.unwrap();
        send.await.unwrap();
        assert_eq!(echo.await.unwrap(), expected.len() as u64);
        assert!(back == expected, "4 MB echoed intact");
    });
}

#[test]
fn tcp_socket_builder_sets_options_and_reuseport_shares_a_port() {
    on_each(|| async {
        let a = TcpSocket::new_v4().unwrap();
        a.set_reuseaddr(true).unwrap();
        a.set_reuseport(true).unwrap();
        a.set_recv_buffer_size(64 * 1024).unwrap();
        a.set_send_buffer_size(64 * 1024).unwrap();
        a.set_keepalive(true).unwrap();
        a.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = a.local_addr().unwrap();
        let b = TcpSocket::new_v4().unwrap();
        b.set_reuseport(true).unwrap();
        b.bind(addr).unwrap();
        let la = a.listen(128).unwrap();
        let lb = b.listen(128).unwrap();
        assert_eq!(la.local_addr().unwrap(), lb.local_addr().unwrap());

        // Without SO_REUSEPORT the same bind fails with a clear error.
        let c = TcpSocket::new_v4().unwrap();
        assert_eq!(c.bind(addr).unwrap_err().kind(), std::io::ErrorKind::AddrInUse);

        let client = TcpSocket::new_v4().unwrap();
        client.set_nodelay(true).unwrap();
        let stream = client.connect(addr).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), addr);
        assert!(stream.nodelay().unwrap());
    });
}

#[test]
fn from_std_adopts_blocking_sockets() {
    on_each(|| async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let std_client = std::net::TcpStream::connect(addr).unwrap();
        let mut client = TcpStream::from_std(std_client).unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        client.write_all(b"adopted").await.unwrap();
        let mut buf = [0; 7];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"adopted");
    });
}
