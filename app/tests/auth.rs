//! The service's auth end to end: the real router and middleware on a loopback port, a real
//! SQLite file in a temporary directory, Kiln's client — signup, login, `/me`, refresh
//! rotation and reuse detection, logout, lockout, token tampering, and a restart.

use kiln_http::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use kiln_http::http::{Method, Request, StatusCode};
use kiln_http::Body;
use serde_json::{json, Value};

mod common;
use common::{rt, start};

fn ada() -> Value {
    json!({"email": "ada@example.com", "password": "correct horse", "display_name": "Ada"})
}

#[test]
fn signup_login_me_and_the_first_user_is_admin() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        let (status, body) = s.post("/auth/signup", ada()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = s
            .post(
                "/auth/signup",
                json!({"email": "ADA@example.com", "password": "another one", "display_name": "A"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "emails are case-insensitive: {body}");
        let (status, body) =
            s.post("/auth/signup", json!({"email": "nope", "password": "short", "display_name": " "})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let fields: Vec<&str> =
            body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["email", "password", "display_name"], "{body}");
        let (status, _) = s
            .post(
                "/auth/signup",
                json!({"email": "x@y.zz", "password": "p".repeat(257), "display_name": "X"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "past the longest password");

        let (status, tokens) =
            s.post("/auth/login", json!({"email": "ada@example.com", "password": "correct horse"})).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert_eq!(
            (tokens["token_type"].as_str(), tokens["expires_in"].as_i64()),
            (Some("Bearer"), Some(900))
        );
        let access = tokens["access_token"].as_str().unwrap();
        let (status, _, me) = s.call(Method::GET, "/me", Some(access), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!((me["email"].as_str(), me["role"].as_str()), (Some("ada@example.com"), Some("admin")));

        s.post(
            "/auth/signup",
            json!({"email": "bob@example.com", "password": "hunter2hunter2", "display_name": "Bob"}),
        )
        .await;
        let (_, bob) =
            s.post("/auth/login", json!({"email": "bob@example.com", "password": "hunter2hunter2"})).await;
        let (_, _, me) = s.call(Method::GET, "/me", bob["access_token"].as_str(), None).await;
        assert_eq!(me["role"], "member", "only the first user is an admin");
        s.stop().await;
    });
}

#[test]
fn unknown_email_and_wrong_password_look_the_same_and_throttling_follows() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        s.post("/auth/signup", ada()).await;
        let unknown =
            s.post("/auth/login", json!({"email": "eve@example.com", "password": "whatever1"})).await;
        let wrong = s.post("/auth/login", json!({"email": "ada@example.com", "password": "whatever1"})).await;
        assert_eq!(unknown, wrong, "the same status and body");
        assert_eq!(unknown.0, StatusCode::UNAUTHORIZED);
        // Four more failures (five in a row) from this address: even the right password waits.
        for _ in 0..4 {
            s.post("/auth/login", json!({"email": "ada@example.com", "password": "whatever1"})).await;
        }
        let (status, headers, body) = s
            .call(
                Method::POST,
                "/auth/login",
                None,
                Some(json!({"email": "ada@example.com", "password": "correct horse"})),
            )
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        let retry: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry), "{retry}");
        s.stop().await;
    });
}

#[test]
fn tokens_are_checked_and_refresh_rotates_with_reuse_detection() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        s.post("/auth/signup", ada()).await;
        let (_, first) =
            s.post("/auth/login", json!({"email": "ada@example.com", "password": "correct horse"})).await;
        let access = first["access_token"].as_str().unwrap().to_owned();

        let (status, headers, _) = s.call(Method::GET, "/me", None, None).await;
        assert_eq!(
            (status, headers[WWW_AUTHENTICATE].to_str().unwrap()),
            (StatusCode::UNAUTHORIZED, "Bearer")
        );
        let mut tampered = access.clone();
        tampered.insert(access.find('.').unwrap() + 5, 'x');
        for bad in [tampered.as_str(), &access[..access.len() - 2], "a.b.c", "nonsense"] {
            let (status, headers, _) = s.call(Method::GET, "/me", Some(bad), None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
            assert_eq!(headers[WWW_AUTHENTICATE], "Bearer error=\"invalid_token\"");
        }

        // Rotation: each refresh token works once and yields a new pair.
        let (status, second) =
            s.post("/auth/refresh", json!({"refresh_token": first["refresh_token"]})).await;
        assert_eq!(status, StatusCode::OK, "{second}");
        assert_ne!(second["refresh_token"], first["refresh_token"]);
        assert_eq!(s.call(Method::GET, "/me", second["access_token"].as_str(), None).await.0, StatusCode::OK);
        // A retry of the spent token within the grace window gets the same pair back.
        assert_eq!(
            s.post("/auth/refresh", json!({"refresh_token": first["refresh_token"]})).await,
            (StatusCode::OK, second.clone())
        );
        let (status, third) =
            s.post("/auth/refresh", json!({"refresh_token": second["refresh_token"]})).await;
        assert_eq!(status, StatusCode::OK, "{third}");
        // Reuse of a token whose successor was used already: refused, and the whole family
        // is revoked — the newest refresh token and every access token stop working too.
        assert_eq!(
            s.post("/auth/refresh", json!({"refresh_token": first["refresh_token"]})).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            s.post("/auth/refresh", json!({"refresh_token": third["refresh_token"]})).await.0,
            StatusCode::UNAUTHORIZED
        );
        for pair in [&first, &second, &third] {
            assert_eq!(
                s.call(Method::GET, "/me", pair["access_token"].as_str(), None).await.0,
                StatusCode::UNAUTHORIZED
            );
        }

        // Logout revokes the family of a fresh login.
        let (_, fourth) =
            s.post("/auth/login", json!({"email": "ada@example.com", "password": "correct horse"})).await;
        assert_eq!(
            s.post("/auth/logout", json!({"refresh_token": fourth["refresh_token"]})).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            s.post("/auth/refresh", json!({"refresh_token": fourth["refresh_token"]})).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            s.post("/auth/logout", json!({"refresh_token": "never-issued"})).await.0,
            StatusCode::NO_CONTENT,
            "says nothing about unknown tokens"
        );
        assert_eq!(
            s.post("/auth/refresh", json!({"refresh_token": "never-issued"})).await.0,
            StatusCode::UNAUTHORIZED
        );
        s.stop().await;
    });
}

#[test]
fn accounts_and_sessions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let refresh = rt().block_on(async {
        let s = start(&db).await;
        s.post("/auth/signup", ada()).await;
        let (_, tokens) =
            s.post("/auth/login", json!({"email": "ada@example.com", "password": "correct horse"})).await;
        s.stop().await;
        tokens["refresh_token"].as_str().unwrap().to_owned()
    });
    rt().block_on(async {
        let s = start(&db).await;
        let (status, tokens) = s.post("/auth/refresh", json!({"refresh_token": refresh})).await;
        assert_eq!(status, StatusCode::OK, "the session outlived the restart: {tokens}");
        assert_eq!(
            s.post("/auth/login", json!({"email": "ada@example.com", "password": "correct horse"})).await.0,
            StatusCode::OK
        );
        s.stop().await;
    });
}

#[test]
fn malformed_bodies_get_4xx_never_500() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        for (body, ct) in [
            ("{", "application/json"),
            ("[]", "application/json"),
            ("{}", "text/plain"),
            (r#"{"email":1}"#, "application/json"),
        ] {
            let req = Request::post(format!("http://{}/auth/login", s.addr))
                .header(CONTENT_TYPE, ct)
                .body(Body::from(body))
                .unwrap();
            let status = s.client.send(req).await.unwrap().status();
            assert!(status.is_client_error(), "{body} as {ct}: {status}");
        }
        let (status, _) =
            s.post("/auth/login", json!({"email": "ada@example.com", "password": "x", "admin": true})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown fields are refused");
        s.stop().await;
    });
}

#[test]
fn an_expired_access_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let mut config = kiln_app::config::Config {
            db: dir.path().join("k.db"),
            jwt_secret: Some(vec![42; 32]),
            ..Default::default()
        };
        config.auth.bcrypt_cost = 4;
        config.auth.access_ttl_secs = 1;
        config.auth.token_leeway_secs = 0;
        let s = common::start_with(config).await;
        s.post("/auth/signup", ada()).await;
        let (_, tokens) =
            s.post("/auth/login", json!({"email": "ada@example.com", "password": "correct horse"})).await;
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        assert_eq!(s.call(Method::GET, "/me", Some(&access), None).await.0, StatusCode::OK);
        // Token times are whole seconds: past `exp` for sure after two of them.
        kiln_runtime::time::sleep(std::time::Duration::from_millis(2100)).await;
        let (status, headers, _) = s.call(Method::GET, "/me", Some(&access), None).await;
        assert_eq!(
            (status, headers[WWW_AUTHENTICATE].to_str().unwrap()),
            (StatusCode::UNAUTHORIZED, "Bearer error=\"invalid_token\"")
        );
        s.stop().await;
    });
}
