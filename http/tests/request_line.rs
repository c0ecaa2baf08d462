//! Request lines and request targets exactly as RFC 9112 §2–3 has them, over raw sockets on
//! both runtime flavours; and the client refusing a response with bare LFs.

use kiln_http::http::Request;
use kiln_http::http::Uri;
use kiln_http::router::get;
use kiln_http::{Body, Client, Router, ServerConfig};
use kiln_net::io::{AsyncReadExt, AsyncWriteExt};
use kiln_net::net::{TcpListener, TcpStream};

use kiln_test_support::http::{exchange_until_close, read_response, start};
use kiln_test_support::runtimes;

fn app() -> Router {
    // Answers with the authority the request was for (absolute-form target, else Host).
    Router::new().route(
        "/hello",
        get(|uri: Uri| async move { format!("hello {}", uri.host().unwrap_or("(from Host)")) }),
    )
}

/// The status line's code of a response to `raw` (the server closes after refusals).
async fn status_of(addr: std::net::SocketAddr, raw: &str) -> String {
    let response = exchange_until_close(addr, raw.as_bytes()).await;
    response.split(' ').nth(1).unwrap_or("(none)").to_owned()
}

#[test]
fn malformed_request_lines_are_400_and_other_majors_505() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let server = start(app(), ServerConfig::default()).await;
            for (line, status) in [
                ("GET /hel lo HTTP/1.1", "400"), // a space inside the target
                ("GET /hello http/1.1", "400"),  // the version is case-sensitive
                ("GET /hello HTTP/1.1x", "400"),
                ("GET /hello HTTP/1.10", "400"), // one digit each side
                ("GET /hello HTTP/11", "400"),
                ("GET  /hello HTTP/1.1", "400"), // two spaces
                ("GET /hello HTTP/2.0", "505"),
                ("GET /hello HTTP/3.0", "505"),
                ("GET /hello HTTP/0.9", "505"),
            ] {
                let raw = format!("{line}\r\nhost: x\r\nconnection: close\r\n\r\n");
                assert_eq!(status_of(server.addr, &raw).await, status, "{line:?}");
            }
            server.shutdown().await;
        });
    }
}

#[test]
fn a_higher_http1_minor_is_served_as_http11() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let server = start(app(), ServerConfig::default()).await;
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(b"GET /hello HTTP/1.2\r\nhost: x\r\n\r\n").await.unwrap();
            let response = read_response(&mut s).await;
            assert!(
                response.starts_with("HTTP/1.1 200 ") && response.ends_with("hello (from Host)"),
                "{response}"
            );
            server.shutdown().await;
        });
    }
}

#[test]
fn each_target_form_only_where_its_method_allows() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let server = start(app(), ServerConfig::default()).await;
            // absolute-form: served, and its authority wins over Host…
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(b"GET http://example.com/hello HTTP/1.1\r\nhost: other.example\r\n\r\n")
                .await
                .unwrap();
            let response = read_response(&mut s).await;
            assert!(
                response.starts_with("HTTP/1.1 200 ") && response.ends_with("hello example.com"),
                "{response}"
            );
            // … but Host is still required on HTTP/1.1, and the scheme must be HTTP's.
            for (raw, status) in [
                ("GET http://example.com/hello HTTP/1.1\r\n\r\n", "400"),
                ("GET ftp://example.com/hello HTTP/1.1\r\nhost: x\r\n\r\n", "400"),
                // authority-form: only for CONNECT, which is not served.
                ("CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n", "501"),
                ("GET example.com:443 HTTP/1.1\r\nhost: x\r\n\r\n", "400"),
                ("CONNECT /hello HTTP/1.1\r\nhost: x\r\n\r\n", "400"),
                // asterisk-form: only for OPTIONS.
                ("GET * HTTP/1.1\r\nhost: x\r\n\r\n", "400"),
                ("DELETE * HTTP/1.1\r\nhost: x\r\n\r\n", "400"),
            ] {
                assert_eq!(status_of(server.addr, raw).await, status, "{raw:?}");
            }
            // OPTIONS * is answered by the server, and the connection stays open.
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(b"OPTIONS * HTTP/1.1\r\nhost: x\r\n\r\nGET /hello HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            let options = read_response(&mut s).await;
            assert!(options.starts_with("HTTP/1.1 200 "), "{options}");
            assert!(
                options.contains("\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n"),
                "{options}"
            );
            assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200 "));
            server.shutdown().await;
        });
    }
}

#[test]
fn a_bare_lf_in_a_request_head_is_400() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let server = start(app(), ServerConfig::default()).await;
            for raw in [
                "GET /hello HTTP/1.1\nhost: x\n\n",
                "GET /hello HTTP/1.1\r\nhost: x\n\r\n",
                "GET /hello HTTP/1.1\r\nhost: x\r\nx-a: 1\nx-b: 2\r\n\r\n",
            ] {
                assert_eq!(status_of(server.addr, raw).await, "400", "{raw:?}");
            }
            server.shutdown().await;
        });
    }
}

#[test]
fn the_client_refuses_a_response_with_bare_lfs() {
    for (_, rt) in runtimes() {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = kiln_runtime::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await.unwrap();
                s.write_all(b"HTTP/1.1 200 OK\ncontent-length: 2\n\nok").await.unwrap();
            });
            let r = Client::new()
                .send(Request::get(format!("http://{addr}/")).body(Body::empty()).unwrap())
                .await;
            let e = r.expect_err("a bare-LF response is refused");
            assert!(e.to_string().contains("bare LF"), "{e}");
            server.await.unwrap();
        });
    }
}
