//! Crates written against `futures-io` run on Kiln's sockets: here futures-util's own
//! `BufReader`, `lines()` stream, `write_all` and `copy` drive a Kiln `TcpStream`, and
//! `Compat` bridges in both directions.

use futures::io::AsyncBufReadExt as _;
use futures::StreamExt as _;
use kiln_net::io::{duplex, AsyncReadExt, AsyncWriteExt, Compat};
use kiln_net::net::{TcpListener, TcpStream};
use kiln_test_support::on_each;

#[test]
fn futures_util_io_helpers_drive_a_kiln_tcp_stream() {
    on_each(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = kiln_runtime::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            // futures-util's line stream over a Kiln socket.
            let mut lines = futures::io::BufReader::new(stream).lines();
            let mut got = Vec::new();
            while let Some(line) = lines.next().await {
                got.push(line.unwrap());
            }
            got
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        futures::io::AsyncWriteExt::write_all(&mut client, b"alpha\nbeta\ngamma\n").await.unwrap();
        futures::io::AsyncWriteExt::close(&mut client).await.unwrap();
        assert_eq!(server.await.unwrap(), ["alpha", "beta", "gamma"]);
    });
}

#[test]
fn futures_io_copy_between_kiln_halves_and_compat_both_ways() {
    on_each(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let echo = kiln_runtime::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (r, mut w) = stream.into_split();
            futures::io::copy(r, &mut w).await.unwrap()
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        AsyncWriteExt::write_all(&mut client, b"echo me").await.unwrap();
        AsyncWriteExt::shutdown(&mut client).await.unwrap();
        let mut back = Vec::new();
        futures::io::AsyncReadExt::read_to_end(&mut client, &mut back).await.unwrap();
        assert_eq!(back, b"echo me");
        assert_eq!(echo.await.unwrap(), 7);

        // Kiln → futures-io.
        let (a, mut b) = duplex(64);
        let mut fa = Compat::new(a);
        futures::io::AsyncWriteExt::write_all(&mut fa, b"via compat").await.unwrap();
        let mut buf = [0; 10];
        AsyncReadExt::read_exact(&mut b, &mut buf).await.unwrap();
        assert_eq!(&buf, b"via compat");
        // futures-io → Kiln.
        let mut cursor = Compat::new(futures::io::Cursor::new(b"from a futures reader".to_vec()));
        let mut s = String::new();
        AsyncReadExt::read_to_string(&mut cursor, &mut s).await.unwrap();
        assert_eq!(s, "from a futures reader");
    });
}
