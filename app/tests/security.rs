//! The service attacked as an attacker would, on a real server over a real SQLite file:
//! account takeover through a reused id, tokens that outlive their session, concurrent
//! password guesses, throttling turned against the owner, account enumeration, long
//! passwords and old password hashes, Unicode spellings of one email, one ISBN in two forms, paging arithmetic,
//! retried refreshes, bounded bcrypt, and a write lock held by another process.

use kiln_http::http::{Method, StatusCode};
use serde_json::{json, Value};

mod common;
use common::{call_from, rt, start, start_with};

fn signup_body(email: &str) -> Value {
    json!({"email": email, "password": "correct horse", "display_name": "Someone"})
}

fn login_body(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password})
}

fn config(dir: &std::path::Path) -> kiln_app::config::Config {
    let mut c = kiln_app::config::Config {
        db: dir.join("k.db"),
        jwt_secret: Some(vec![42; 32]),
        ..kiln_app::config::Config::default()
    };
    c.auth.bcrypt_cost = 4;
    c
}

#[test]
fn a_deleted_users_token_never_reaches_the_next_account() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        let admin = s.user("admin@example.com").await;
        let (status, _, _) = s
            .call(
                Method::POST,
                "/books",
                Some(&admin),
                Some(json!({"title": "T", "author": "A", "year": 2000})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let mallory = s.user("mallory@example.com").await;
        let (_, _, me) = s.call(Method::GET, "/me", Some(&mallory), None).await;
        let mallory_id = me["id"].as_i64().unwrap();
        // Deleting needs the password.
        let (status, _, _) =
            s.call(Method::DELETE, "/me", Some(&mallory), Some(json!({"password": "wrong horse"}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) =
            s.call(Method::DELETE, "/me", Some(&mallory), Some(json!({"password": "correct horse"}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        // The next signup does not get mallory's id back…
        let (status, victim) = s.post("/auth/signup", signup_body("victim@example.com")).await;
        assert_eq!(status, StatusCode::CREATED);
        assert!(victim["id"].as_i64().unwrap() > mallory_id, "ids are never reused: {victim}");
        // … and mallory's token is refused everywhere, never 200, 404 or 500.
        for (method, path, body) in [
            (Method::GET, "/me", None),
            (Method::PATCH, "/me", Some(json!({"bio": "owned"}))),
            (Method::DELETE, "/me", Some(json!({"password": "correct horse"}))),
            (
                Method::PUT,
                "/me/password",
                Some(json!({"current_password": "correct horse", "new_password": "x1234567"})),
            ),
            (Method::GET, "/me/loans", None),
            (Method::POST, "/books/1/loans", None),
            (Method::POST, "/loans/1/return", None),
        ] {
            let (status, _, body) = s.call(method.clone(), path, Some(&mallory), body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        }
        s.stop().await;
    });
}

#[test]
fn a_token_stops_working_when_its_session_ends() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let service = start(&dir.path().join("k.db")).await;
        let s = &service;
        let admin = s.user("admin@example.com").await;
        s.post("/auth/signup", signup_body("ada@example.com")).await;
        let login =
            || async move { s.post("/auth/login", login_body("ada@example.com", "correct horse")).await.1 };
        let me =
            |t: Value| async move { s.call(Method::GET, "/me", t["access_token"].as_str(), None).await.0 };

        // Logout ends that session only.
        let (a, b) = (login().await, login().await);
        let (status, _) = s.post("/auth/logout", json!({"refresh_token": a["refresh_token"]})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(me(a).await, StatusCode::UNAUTHORIZED, "logged out");
        assert_eq!(me(b.clone()).await, StatusCode::OK, "another session of the same user");

        // A password change ends every session, the one that made it included.
        let (c, d) = (login().await, login().await);
        let change = json!({"current_password": "correct horse", "new_password": "correct horse 2"});
        let (status, _, _) =
            s.call(Method::PUT, "/me/password", c["access_token"].as_str(), Some(change)).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        for t in [b, c, d] {
            assert_eq!(me(t).await, StatusCode::UNAUTHORIZED);
        }
        let e = s.post("/auth/login", login_body("ada@example.com", "correct horse 2")).await.1;
        assert_eq!(me(e.clone()).await, StatusCode::OK);

        // An admin's revocation.
        let (_, _, profile) = s.call(Method::GET, "/me", e["access_token"].as_str(), None).await;
        let path = format!("/users/{}/sessions", profile["id"]);
        let (status, _, body) = s.call(Method::DELETE, &path, e["access_token"].as_str(), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "members cannot: {body}");
        let (status, _, body) = s.call(Method::DELETE, &path, Some(&admin), None).await;
        assert_eq!((status, body["sessions_ended"].as_i64()), (StatusCode::OK, Some(1)), "{body}");
        assert_eq!(me(e.clone()).await, StatusCode::UNAUTHORIZED);
        let (status, _) = s.post("/auth/refresh", json!({"refresh_token": e["refresh_token"]})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "its refresh token too");
        let (status, _, _) = s.call(Method::DELETE, "/users/999999/sessions", Some(&admin), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        service.stop().await;
    });
}

#[test]
fn ended_sessions_are_still_ended_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let token = rt().block_on(async {
        let s = start(&db).await;
        s.post("/auth/signup", signup_body("ada@example.com")).await;
        let t = s.post("/auth/login", login_body("ada@example.com", "correct horse")).await.1;
        s.post("/auth/logout", json!({"refresh_token": t["refresh_token"]})).await;
        s.stop().await;
        t["access_token"].as_str().unwrap().to_owned()
    });
    rt().block_on(async {
        let s = start(&db).await;
        assert_eq!(s.call(Method::GET, "/me", Some(&token), None).await.0, StatusCode::UNAUTHORIZED);
        s.stop().await;
    });
}

#[test]
fn concurrent_guesses_cannot_exceed_the_budget_and_answers_do_not_tell_accounts_apart() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        s.post("/auth/signup", signup_body("ada@example.com")).await;
        for (email, from) in [("ada@example.com", [127, 0, 0, 2]), ("nobody@example.com", [127, 0, 0, 3])] {
            let guesses: Vec<_> = (0..20)
                .map(|_| {
                    let addr = s.addr;
                    kiln_runtime::spawn(async move {
                        call_from(
                            from,
                            addr,
                            "POST",
                            "/auth/login",
                            None,
                            Some(login_body(email, "wrong horse")),
                        )
                        .await
                    })
                })
                .collect();
            let mut answers = Vec::new();
            for g in guesses {
                answers.push(g.await.unwrap());
            }
            let checked = answers.iter().filter(|a| a.0 == StatusCode::UNAUTHORIZED).count();
            let throttled: Vec<_> = answers.iter().filter(|a| a.0 == StatusCode::TOO_MANY_REQUESTS).collect();
            assert_eq!((checked, throttled.len()), (5, 15), "{email}: five checked, the rest refused");
            assert!(throttled.iter().all(|a| a.1.as_deref().is_some_and(|r| r.parse::<u64>().is_ok())));
        }
        // Known and unknown accounts, throttled: the same status and body.
        let known = call_from(
            [127, 0, 0, 2],
            s.addr,
            "POST",
            "/auth/login",
            None,
            Some(login_body("ada@example.com", "x1234567")),
        )
        .await;
        let unknown = call_from(
            [127, 0, 0, 3],
            s.addr,
            "POST",
            "/auth/login",
            None,
            Some(login_body("nobody@example.com", "x1234567")),
        )
        .await;
        assert_eq!((known.0, &known.2), (unknown.0, &unknown.2));
        assert_eq!(known.0, StatusCode::TOO_MANY_REQUESTS);
        // The owner, from another address, is not locked out by any of it.
        let owner = call_from(
            [127, 0, 0, 4],
            s.addr,
            "POST",
            "/auth/login",
            None,
            Some(login_body("ada@example.com", "correct horse")),
        )
        .await;
        assert_eq!(owner.0, StatusCode::OK, "{}", owner.2);
        s.stop().await;
    });
}

#[test]
fn every_character_of_a_password_counts() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        // 72 bytes: all bcrypt itself would read. A password one character longer, equal in
        // those 72 bytes, must not match.
        let password = "p".repeat(72);
        let (status, _) = s
            .post(
                "/auth/signup",
                json!({"email": "ada@example.com", "password": password, "display_name": "Ada"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, body) =
            s.post("/auth/login", login_body("ada@example.com", &format!("{password}!"))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(s.post("/auth/login", login_body("ada@example.com", &password)).await.0, StatusCode::OK);
        // A long passphrase in any script works, and differs from its 72-byte prefix.
        let phrase = "長い合言葉は安全です".repeat(10);
        let (status, _) = s
            .post(
                "/auth/signup",
                json!({"email": "kenji@example.com", "password": phrase, "display_name": "Kenji"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(s.post("/auth/login", login_body("kenji@example.com", &phrase)).await.0, StatusCode::OK);
        let prefix: String = phrase.chars().take(24).collect(); // 72 bytes
        assert_eq!(
            s.post("/auth/login", login_body("kenji@example.com", &prefix)).await.0,
            StatusCode::UNAUTHORIZED
        );
        // Past the limit nothing is hashed: 422, for any account.
        let (status, body) = s.post("/auth/login", login_body("ada@example.com", &"x".repeat(257))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        s.stop().await;
    });
}

#[test]
fn a_hash_of_the_old_scheme_still_logs_in_and_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    rt().block_on(async {
        let s = common::start_exactly(common::config(&db)).await; // SQLite itself is the subject
        s.post("/auth/signup", signup_body("ada@example.com")).await;
        // As a database from before the pre-hash holds it: bcrypt of the raw password.
        let stored = |db: &std::path::Path| -> String {
            let c = rusqlite::Connection::open(db).unwrap();
            c.query_row("SELECT password_hash FROM users", [], |r| r.get(0)).unwrap()
        };
        let legacy = bcrypt::hash("correct horse", 4).unwrap();
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute("UPDATE users SET password_hash = ?1", [&legacy])
            .unwrap();
        assert_eq!(
            s.post("/auth/login", login_body("ada@example.com", "wrong horse")).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(stored(&db), legacy, "a failed login changes nothing");
        assert_eq!(
            s.post("/auth/login", login_body("ada@example.com", "correct horse")).await.0,
            StatusCode::OK
        );
        let upgraded = stored(&db);
        assert!(upgraded.starts_with(kiln_app::auth::password::PREFIX), "{upgraded}");
        assert_eq!(
            s.post("/auth/login", login_body("ada@example.com", "correct horse")).await.0,
            StatusCode::OK
        );
        s.stop().await;
    });
}

#[test]
fn one_email_in_two_unicode_spellings_is_one_account() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        let (nfc, nfd) = ("jos\u{e9}@example.com", "jose\u{301}@example.com");
        let (status, body) = s.post("/auth/signup", signup_body(nfd)).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body["email"], nfc, "stored in NFC");
        assert_eq!(s.post("/auth/signup", signup_body(nfc)).await.0, StatusCode::CONFLICT);
        assert_eq!(s.post("/auth/login", login_body(nfc, "correct horse")).await.0, StatusCode::OK);
        assert_eq!(s.post("/auth/login", login_body(nfd, "correct horse")).await.0, StatusCode::OK);
        for hidden in ["ad\u{200B}a@example.com", "ada\u{202E}@example.com", "ada\u{7}@example.com"] {
            let (status, body) = s.post("/auth/signup", signup_body(hidden)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{hidden:?}: {body}");
        }
        let (status, _) = s
            .post("/auth/signup", json!({"email": "eve@example.com", "password": "correct horse", "display_name": "Ev\u{202E}e"}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        s.stop().await;
    });
}

#[test]
fn isbns_are_one_book_in_either_form_and_paging_never_overflows() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        let admin = s.user("admin@example.com").await;
        let book =
            |isbn: &str| json!({"title": "Dune", "author": "Frank Herbert", "year": 1965, "isbn": isbn});
        let (status, _, created) =
            s.call(Method::POST, "/books", Some(&admin), Some(book("978-0-441-17271-9"))).await;
        assert_eq!((status, created["isbn"].as_str()), (StatusCode::CREATED, Some("9780441172719")));
        let (status, _, body) =
            s.call(Method::POST, "/books", Some(&admin), Some(book("0-441-17271-7"))).await;
        assert_eq!(status, StatusCode::CONFLICT, "the ISBN-10 of the same book: {body}");

        for query in [
            "offset=99999999999999999999",
            "offset=9223372036854775807",
            "limit=9223372036854775807",
            "offset=-1",
            "limit=abc",
        ] {
            let (status, _, body) = s.call(Method::GET, &format!("/books?{query}"), None, None).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        }
        let (status, _, page) = s.call(Method::GET, "/books?offset=1000000000&limit=100", None, None).await;
        assert_eq!(
            (status, page["next"].clone()),
            (StatusCode::OK, Value::Null),
            "the largest offset is served"
        );
        s.stop().await;
    });
}

#[test]
fn a_retried_refresh_gets_the_same_pair_and_a_late_replay_ends_the_session() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let mut c = config(dir.path());
        c.auth.refresh_grace_secs = 1;
        let s = start_with(c).await;
        s.post("/auth/signup", signup_body("ada@example.com")).await;
        let first = s.post("/auth/login", login_body("ada@example.com", "correct horse")).await.1;
        // Two refreshes of one token at once, as a client retrying does.
        let body = json!({"refresh_token": first["refresh_token"]});
        let (a, b) =
            kiln_runtime::join!(s.post("/auth/refresh", body.clone()), s.post("/auth/refresh", body.clone()));
        assert_eq!(a.0, StatusCode::OK, "{}", a.1);
        assert_eq!(a, b, "both got the same new pair");
        assert_eq!(s.call(Method::GET, "/me", a.1["access_token"].as_str(), None).await.0, StatusCode::OK);
        // Whole seconds: past the one-second window for sure after two.
        kiln_runtime::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert_eq!(
            s.post("/auth/refresh", body).await.0,
            StatusCode::UNAUTHORIZED,
            "a replay after the window"
        );
        assert_eq!(
            s.call(Method::GET, "/me", a.1["access_token"].as_str(), None).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (status, _) = s.post("/auth/refresh", json!({"refresh_token": a.1["refresh_token"]})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the session ended");
        s.stop().await;
    });
}

#[test]
fn logout_without_a_token_is_an_error_not_a_silent_success() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = start(&dir.path().join("k.db")).await;
        for body in [json!({}), json!({"refresh_token": ""}), json!({"refresh_token": "  "})] {
            let (status, problem) = s.post("/auth/logout", body.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
        }
        s.stop().await;
    });
}

#[test]
fn a_login_flood_is_answered_503_at_once_when_hashing_is_saturated() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let mut c = config(dir.path());
        // One hashing thread, nothing queued, and a cost that keeps it busy for a while.
        (c.auth.bcrypt_cost, c.auth.bcrypt_threads, c.auth.bcrypt_queue) = (12, 1, 0);
        let s = start_with(c).await;
        let logins: Vec<_> = (0..12u8)
            .map(|i| {
                let addr = s.addr;
                kiln_runtime::spawn(async move {
                    let body = login_body("nobody@example.com", "wrong horse");
                    call_from([127, 0, 1, i], addr, "POST", "/auth/login", None, Some(body)).await
                })
            })
            .collect();
        let mut busy = 0;
        for l in logins {
            let (status, retry, body) = l.await.unwrap();
            match status {
                StatusCode::UNAUTHORIZED => {}
                StatusCode::SERVICE_UNAVAILABLE => {
                    busy += 1;
                    assert_eq!(retry.as_deref(), Some("1"));
                    assert_eq!(body["status"], 503, "a problem body: {body}");
                }
                other => panic!("{other}: {body}"),
            }
        }
        assert!(busy >= 1, "twelve logins at once against one busy thread: some are refused");
        s.stop().await;
    });
}

#[test]
fn a_write_lock_held_by_another_process_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    rt().block_on(async {
        let s = common::start_exactly(common::config(&db)).await; // SQLite itself is the subject
        s.post("/auth/signup", signup_body("first@example.com")).await;
        // Another process takes the write lock, writes, and commits a second later.
        let (locked, is_locked) = std::sync::mpsc::channel();
        let holder = std::thread::spawn({
            let db = db.clone();
            move || {
                let c = rusqlite::Connection::open(db).unwrap();
                c.execute_batch("BEGIN IMMEDIATE; INSERT INTO books (title, author, year, copies, available, created_at) VALUES ('T', 'A', 2000, 1, 1, 0);").unwrap();
                locked.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_secs(1));
                c.execute_batch("COMMIT").unwrap();
            }
        });
        is_locked.recv().unwrap();
        let (status, body) = s.post("/auth/signup", signup_body("second@example.com")).await;
        assert_eq!(status, StatusCode::CREATED, "signup waited for the lock: {body}");
        holder.join().unwrap();
        s.stop().await;
    });
}

#[test]
fn with_no_grace_window_any_replay_ends_the_session() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let mut c = config(dir.path());
        c.auth.refresh_grace_secs = 0;
        let s = start_with(c).await;
        s.post("/auth/signup", signup_body("ada@example.com")).await;
        let first = s.post("/auth/login", login_body("ada@example.com", "correct horse")).await.1;
        let body = json!({"refresh_token": first["refresh_token"]});
        let (status, second) = s.post("/auth/refresh", body.clone()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(s.post("/auth/refresh", body).await.0, StatusCode::UNAUTHORIZED, "replayed at once");
        assert_eq!(
            s.call(Method::GET, "/me", second["access_token"].as_str(), None).await.0,
            StatusCode::UNAUTHORIZED
        );
        s.stop().await;
    });
}
