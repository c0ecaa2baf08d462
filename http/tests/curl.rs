//! The server driven by the real `curl` binary: keep-alive reuse across two URLs, a POST body
//! with `Expect: 100-continue` (curl adds it on its own only for large bodies; here it is
//! asked for), and a chunked upload. `scripts/test-all` installs curl when it is missing; if it is still
//! missing this test fails and says so.

use kiln_http::http::{Request, Response};
use kiln_http::{Body, Server};
use std::process::Command;

async fn echo_len(req: Request<Body>) -> Response<Body> {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let length = match req.into_body().collect(usize::MAX).await {
        Ok(body) => body.len().to_string(),
        Err(e) => format!("error {e}:"),
    };
    let line = format!("{method} {path} {length} bytes\n");
    Response::new(Body::from(line))
}

#[test]
fn curl_talks_to_the_server() {
    let version = Command::new("curl").arg("--version").output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "curl is needed by this test: install it (scripts/test-all does: apt-get install -y curl)"
    );
    let rt = kiln_runtime::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let (addr, stop) = rt.block_on(async {
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = kiln_runtime::sync::oneshot::channel::<()>();
        kiln_runtime::spawn(server.serve(echo_len, async move {
            let _ = stopped.await;
        }));
        (addr, stop)
    });
    let base = format!("http://{addr}");
    // Two URLs in one curl run reuse one connection (keep-alive); -v shows it.
    let out = Command::new("curl")
        .args(["-sS", "-v", &format!("{base}/a"), &format!("{base}/b")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "GET /a 0 bytes\nGET /b 0 bytes\n");
    assert!(
        stderr.contains("Re-using existing connection") || stderr.contains("Reusing existing"),
        "{stderr}"
    );

    let body = "x".repeat(5000);
    let out = Command::new("curl")
        .args(["-sS", "-H", "Expect: 100-continue", "--data-binary", &body, &format!("{base}/upload")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "POST /upload 5000 bytes\n");

    let out = Command::new("curl")
        .args([
            "-sS",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            "chunked body",
            &format!("{base}/chunked"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "POST /chunked 12 bytes\n");
    stop.send(()).unwrap();
}
