//! `/me` end to end: read, update, password change (needs the current password, ends every
//! session), account deletion.

use kiln_http::http::{Method, StatusCode};
use serde_json::json;

mod common;
use common::{rt, start};

#[test]
fn update_change_password_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        s.user("first@example.com").await;
        let (_, tokens) = {
            s.post(
                "/auth/signup",
                json!({"email": "ada@example.com", "password": "correct horse", "display_name": "Ada"}),
            )
            .await;
            s.post("/auth/login", json!({"email": "ada@example.com", "password": "correct horse"})).await
        };
        let access = tokens["access_token"].as_str().unwrap().to_owned();

        let (status, _, me) = s
            .call(
                Method::PATCH,
                "/me",
                Some(&access),
                Some(json!({"bio": "Analyst", "display_name": " Ada L. "})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(
            (me["bio"].as_str(), me["display_name"].as_str(), me["role"].as_str()),
            (Some("Analyst"), Some("Ada L."), Some("member"))
        );
        let (status, _, body) =
            s.call(Method::PATCH, "/me", Some(&access), Some(json!({"bio": "x".repeat(1001)}))).await;
        assert_eq!(
            (status, body["errors"][0]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("bio"))
        );
        let (status, _, _) =
            s.call(Method::PATCH, "/me", Some(&access), Some(json!({"role": "admin"}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the role is not a profile field");

        let wrong = json!({"current_password": "not it at all", "new_password": "battery staple"});
        assert_eq!(
            s.call(Method::PUT, "/me/password", Some(&access), Some(wrong)).await.0,
            StatusCode::FORBIDDEN
        );
        let short = json!({"current_password": "correct horse", "new_password": "short"});
        assert_eq!(
            s.call(Method::PUT, "/me/password", Some(&access), Some(short)).await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let change = json!({"current_password": "correct horse", "new_password": "battery staple"});
        assert_eq!(
            s.call(Method::PUT, "/me/password", Some(&access), Some(change)).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            s.post("/auth/refresh", json!({"refresh_token": tokens["refresh_token"]})).await.0,
            StatusCode::UNAUTHORIZED,
            "sessions end with the old password"
        );
        assert_eq!(
            s.post("/auth/login", json!({"email": "ada@example.com", "password": "correct horse"})).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (status, fresh) =
            s.post("/auth/login", json!({"email": "ada@example.com", "password": "battery staple"})).await;
        assert_eq!(status, StatusCode::OK);
        let fresh = fresh["access_token"].as_str().unwrap().to_owned();

        assert_eq!(
            s.call(Method::DELETE, "/me", Some(&fresh), None).await.0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "deleting needs the password in a JSON body"
        );
        let confirm = json!({"password": "battery staple"});
        assert_eq!(
            s.call(Method::DELETE, "/me", Some(&fresh), Some(confirm)).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            s.call(Method::GET, "/me", Some(&fresh), None).await.0,
            StatusCode::UNAUTHORIZED,
            "the session ended with the account"
        );
        assert_eq!(
            s.post("/auth/login", json!({"email": "ada@example.com", "password": "battery staple"})).await.0,
            StatusCode::UNAUTHORIZED
        );
        s.stop().await;
    });
}
