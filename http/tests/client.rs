//! The client against Kiln's server and against hand-written raw servers: keep-alive reuse,
//! JSON, HEAD and 204, `Connection: close`, a chunked response, a retried stale connection,
//! timeouts and bad URLs.

use kiln_http::client::ClientError;
use kiln_http::http::{Request, Response, StatusCode};
use kiln_http::{Body, Client, Server};
use kiln_net::io::{AsyncReadExt, AsyncWriteExt};
use kiln_net::net::TcpListener;
use kiln_test_support::rt;
use std::time::Duration;

async fn app(req: Request<Body>) -> Response<Body> {
    match req.uri().path() {
        "/echo" => Response::new(req.into_body()),
        "/empty" => Response::builder().status(StatusCode::NO_CONTENT).body(Body::empty()).unwrap(),
        "/close" => Response::builder().header("connection", "close").body(Body::from("bye")).unwrap(),
        p => Response::new(Body::from(format!("hello {p}"))),
    }
}

#[test]
fn requests_reuse_pooled_connections() {
    rt().block_on(async {
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = kiln_runtime::sync::oneshot::channel::<()>();
        let serving = kiln_runtime::spawn(server.serve(app, async move {
            let _ = stopped.await;
        }));
        let client = Client::new();
        let base = format!("http://{addr}");
        for i in 0..5 {
            let r = client.get(&format!("{base}/n{i}")).await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.body().as_bytes().unwrap().as_ref(), format!("hello /n{i}").as_bytes());
        }
        assert_eq!(client.idle_connections(&addr.to_string()), 1, "one connection, back in the pool");
        let r = client.post_json(&format!("{base}/echo"), &serde_json::json!({"a": 1})).await.unwrap();
        assert_eq!(r.body().as_bytes().unwrap().as_ref(), br#"{"a":1}"#);
        let head =
            client.send(Request::head(format!("{base}/h")).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(head.headers()["content-length"], "8");
        assert_eq!(head.body().size_hint(), Some(0));
        assert_eq!(client.get(&format!("{base}/empty")).await.unwrap().status(), StatusCode::NO_CONTENT);
        assert_eq!(
            client.get(&format!("{base}/close")).await.unwrap().body().as_bytes().unwrap().as_ref(),
            b"bye"
        );
        assert_eq!(client.idle_connections(&addr.to_string()), 0, "a closing connection is not pooled");
        assert_eq!(
            client.get(&format!("{base}/after")).await.unwrap().body().as_bytes().unwrap().as_ref(),
            b"hello /after"
        );
        stop.send(()).unwrap();
        let summary = serving.await.unwrap();
        assert_eq!(summary.connections, 2, "ten requests: nine on the first connection, one after its close");
    });
}

#[test]
fn chunked_responses_stale_connections_timeouts_and_bad_urls() {
    rt().block_on(async {
        // A raw server: answers one request per connection with a chunked body, then closes
        // without saying so (a stale pooled connection for the client).
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        kiln_runtime::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
                    .await
                    .unwrap();
                drop(s);
            }
        });
        let client = Client::new();
        let url = format!("http://{addr}/x");
        assert_eq!(client.get(&url).await.unwrap().body().as_bytes().unwrap().as_ref(), b"hello world");
        kiln_runtime::time::sleep(Duration::from_millis(50)).await; // the server has closed it
        assert_eq!(client.get(&url).await.unwrap().body().as_bytes().unwrap().as_ref(), b"hello world", "retried on a new connection");

        // A server that never answers: the request timeout fires.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_addr = silent.local_addr().unwrap();
        let _keep = kiln_runtime::spawn(async move {
            let (_s, _) = silent.accept().await.unwrap();
            std::future::pending::<()>().await;
        });
        let impatient = Client::new().timeouts(Duration::from_secs(1), Duration::from_millis(200));
        let err = impatient.get(&format!("http://{silent_addr}/")).await.unwrap_err();
        assert!(matches!(err, ClientError::Timeout), "{err}");

        let err = client.get("ftp://example.com/").await.unwrap_err();
        assert!(matches!(err, ClientError::InvalidUrl(_)), "{err}");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = client.get(&format!("http://127.0.0.1:{port}/")).await.unwrap_err();
        assert!(matches!(err, ClientError::Connect(_)), "{err}");
    });
}
