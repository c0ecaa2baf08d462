//! The library's storage functions on both backends, with the same assertions: a SQLite file
//! and a private PostgreSQL cluster. Filters, sorts and both kinds of pages list the same
//! books; changes keep `available` right and refuse what would break it; 12 members racing
//! for 3 copies get exactly 3 loans; a return hands the copy's news to the first member
//! waiting, as a job in the same transaction.

use kiln_app::db::{pg_migrations, Db, Pool, PoolConfig};
use kiln_app::error::AppError;
use kiln_app::library::books::{self, BookPatch, ListQuery};
use kiln_app::library::validate::BookInput;
use kiln_app::library::{loans, waitlist, LibraryConfig};
use kiln_test_support::postgres::PostgresServer;
use kiln_test_support::rt;
use std::sync::Arc;

/// The two backends, each freshly migrated; the directory and the cluster live as long.
struct Backends {
    dbs: Vec<(&'static str, Db)>,
    _dir: tempfile::TempDir,
    _server: PostgresServer,
}

async fn backends() -> Backends {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Pool::open(&dir.path().join("k.db"), PoolConfig::default()).await.unwrap();
    let server = PostgresServer::start();
    let config = kiln_postgres::Config::from_url(&server.url()).unwrap();
    let mut client = kiln_postgres::Client::connect(config.clone()).await.unwrap();
    pg_migrations::migrate(&mut client).await.unwrap();
    let pg =
        kiln_postgres::Pool::new(config, kiln_postgres::PoolConfig { max_size: 16, ..Default::default() });
    Backends {
        dbs: vec![("sqlite", Db::Sqlite(sqlite)), ("postgres", Db::Postgres(pg))],
        _dir: dir,
        _server: server,
    }
}

/// Adds users `1..=n` (the first an admin), as signup would store them.
async fn users(db: &Db, n: i64) {
    for i in 1..=n {
        let (email, role) = (format!("user{i}@example.com"), if i == 1 { "admin" } else { "member" });
        match db {
            Db::Sqlite(pool) => {
                pool.write(move |c| {
                    c.execute(
                        "INSERT INTO users (email, password_hash, display_name, role, created_at) VALUES (?1, 'h', 'n', ?2, 0)",
                        rusqlite::params![email, role],
                    )
                    .map_err(AppError::from)
                })
                .await
                .unwrap();
            }
            Db::Postgres(pg) => {
                pg.get()
                    .await
                    .unwrap()
                    .execute(
                        "INSERT INTO users (email, password_hash, display_name, role, created_at) VALUES ($1, 'h', 'n', $2, 0)",
                        &[&email, &role],
                    )
                    .await
                    .unwrap();
            }
        }
    }
}

fn input(title: &str, author: &str, year: i32, copies: i64) -> BookInput {
    BookInput { title: title.into(), author: author.into(), year, isbn: None, copies }
}

fn query(pairs: &[(&str, &str)]) -> ListQuery {
    let text = serde_urlencoded::to_string(pairs).unwrap();
    serde_urlencoded::from_str(&text).unwrap()
}

#[test]
fn listings_filter_sort_and_page_alike() {
    rt().block_on(async {
        let b = backends().await;
        for (name, db) in &b.dbs {
            for (title, author, year) in [
                ("Kindred", "Octavia E. Butler", 1979),
                ("Dawn", "Octavia E. Butler", 1987),
                ("The Dispossessed", "Ursula K. Le Guin", 1974),
                ("the left hand of darkness", "Ursula K. Le Guin", 1969),
                ("100% Discount", "Nobody", 2001),
            ] {
                books::create(db, input(title, author, year, 1)).await.unwrap();
            }
            let titles = |page: &books::Page| page.items.iter().map(|b| b.title.clone()).collect::<Vec<_>>();
            let page = books::list(db, query(&[("author", "OCTAVIA e. butler")])).await.unwrap();
            assert_eq!((titles(&page), page.total), (vec!["Kindred".into(), "Dawn".into()], 2), "{name}");
            let page = books::list(db, query(&[("q", "DIS"), ("sort", "title")])).await.unwrap();
            assert_eq!(titles(&page), ["100% Discount", "The Dispossessed"], "{name}: any case, sorted");
            let page = books::list(db, query(&[("q", "%")])).await.unwrap();
            assert_eq!(titles(&page), ["100% Discount"], "{name}: % is a character, not a wildcard");
            let page = books::list(db, query(&[("year_from", "1970"), ("year_to", "1980")])).await.unwrap();
            assert_eq!(page.total, 2, "{name}");

            // Cursor pages over a case-insensitive sort, descending: the same order either way.
            let mut seen = Vec::new();
            let mut q = query(&[("sort", "-title"), ("limit", "2")]);
            loop {
                let page = books::list(db, q.clone()).await.unwrap();
                seen.extend(titles(&page));
                let Some(cursor) = page.next_cursor else { break };
                q.cursor = Some(cursor);
            }
            assert_eq!(
                seen,
                ["the left hand of darkness", "The Dispossessed", "Kindred", "Dawn", "100% Discount"],
                "{name}"
            );
            let second =
                books::list(db, query(&[("sort", "year"), ("limit", "2"), ("offset", "2")])).await.unwrap();
            assert_eq!(titles(&second), ["Kindred", "Dawn"], "{name}");
            assert_eq!(second.next.as_deref(), Some("/books?limit=2&offset=4&sort=year"), "{name}");
        }
    });
}

#[test]
fn changes_keep_available_right_and_refuse_what_would_break_it() {
    rt().block_on(async {
        let b = backends().await;
        for (name, db) in &b.dbs {
            users(db, 2).await;
            let mut with_isbn = input("Kindred", "Octavia E. Butler", 1979, 3);
            with_isbn.isbn = Some("9780807083697".into());
            let book = books::create(db, with_isbn.clone()).await.unwrap();
            assert_eq!((book.copies, book.available), (3, 3), "{name}");
            let e = books::create(db, with_isbn).await.unwrap_err();
            assert!(matches!(e, AppError::Conflict(ref m) if m.contains("ISBN")), "{name}: {e:?}");
            let loan = loans::borrow(db, LibraryConfig::default(), 2, book.id).await.unwrap();
            loans::borrow(db, LibraryConfig::default(), 2, book.id).await.unwrap();
            let patch: BookPatch = serde_json::from_value(serde_json::json!({"copies": 1})).unwrap();
            assert!(matches!(books::update(db, book.id, patch).await, Err(AppError::Conflict(_))), "{name}");
            let patch: BookPatch =
                serde_json::from_value(serde_json::json!({"copies": 5, "isbn": null})).unwrap();
            let changed = books::update(db, book.id, patch).await.unwrap();
            assert_eq!((changed.copies, changed.available, changed.isbn), (5, 3, None), "{name}");
            assert!(
                matches!(books::delete(db, book.id).await, Err(AppError::Conflict(_))),
                "{name}: on loan"
            );
            loans::give_back(db, Arc::default(), 2, loan.id, None).await.unwrap();
            assert!(matches!(
                loans::give_back(db, Arc::default(), 2, loan.id, None).await,
                Err(AppError::Conflict(_))
            ));
            assert!(matches!(
                loans::give_back(db, Arc::default(), 2, 999, None).await,
                Err(AppError::NotFound(_))
            ));
            let mine = loans::mine(db, 2).await.unwrap();
            assert_eq!(
                (mine.len(), mine[0].returned_at, mine[1].returned_at.is_some()),
                (2, None, true),
                "{name}"
            );
            let replaced = books::replace(db, book.id, input("Kindred (2nd ed.)", "O. E. Butler", 1988, 2))
                .await
                .unwrap();
            assert_eq!((replaced.title.as_str(), replaced.available), ("Kindred (2nd ed.)", 1), "{name}");
            assert!(matches!(books::get(db, 999).await, Err(AppError::NotFound(_))), "{name}");
            assert!(books::find(db, 999).await.unwrap().is_none(), "{name}");
        }
    });
}

#[test]
fn twelve_members_racing_for_three_copies_get_exactly_three_loans() {
    rt().block_on(async {
        let b = backends().await;
        for (name, db) in &b.dbs {
            users(db, 13).await;
            let book =
                books::create(db, input("Parable of the Sower", "Octavia E. Butler", 1993, 3)).await.unwrap();
            let tasks: Vec<_> = (2..=13)
                .map(|user| {
                    let db = db.clone();
                    kiln_runtime::spawn(async move {
                        loans::borrow(&db, LibraryConfig::default(), user, book.id).await
                    })
                })
                .collect();
            let mut won = 0;
            for t in tasks {
                match t.await.unwrap() {
                    Ok(_) => won += 1,
                    Err(AppError::Conflict(_)) => {}
                    Err(e) => panic!("{name}: {e:?}"),
                }
            }
            assert_eq!(won, 3, "{name}");
            assert_eq!(books::get(db, book.id).await.unwrap().available, 0, "{name}");
            // One member racing themself cannot pass the per-member limit either.
            let open = |loans: Vec<loans::Loan>| loans.iter().filter(|l| l.returned_at.is_none()).count();
            let before = open(loans::mine(db, 13).await.unwrap());
            let other = books::create(db, input("Wild Seed", "Octavia E. Butler", 1980, 20)).await.unwrap();
            let limit = LibraryConfig { max_open_loans: 2 };
            let tasks: Vec<_> = (0..6)
                .map(|_| {
                    let db = db.clone();
                    kiln_runtime::spawn(async move { loans::borrow(&db, limit, 13, other.id).await.is_ok() })
                })
                .collect();
            let mut ok = 0;
            for t in tasks {
                ok += usize::from(t.await.unwrap());
            }
            let held = open(loans::mine(db, 13).await.unwrap());
            assert_eq!((held, ok), (2, 2 - before), "{name}: never past the limit of 2");
        }
    });
}

#[test]
fn a_return_notifies_the_first_member_waiting_through_a_job() {
    rt().block_on(async {
        let b = backends().await;
        for (name, db) in &b.dbs {
            users(db, 4).await;
            let kinds = Arc::new(kiln_app::jobs::kinds::registry(kiln_app::jobs::kinds::Mail::Outbox(
                "unused".into(),
            )));
            let book = books::create(db, input("Kindred", "Octavia E. Butler", 1979, 1)).await.unwrap();
            assert!(
                matches!(waitlist::join(db, 3, book.id).await, Err(AppError::Conflict(_))),
                "{name}: a copy is free"
            );
            let loan = loans::borrow(db, LibraryConfig::default(), 2, book.id).await.unwrap();
            let (place, added) = waitlist::join(db, 3, book.id).await.unwrap();
            assert_eq!((place.position, added), (1, true), "{name}");
            assert_eq!(waitlist::join(db, 4, book.id).await.unwrap().0.position, 2, "{name}");
            assert!(!waitlist::join(db, 3, book.id).await.unwrap().1, "{name}: already there");
            waitlist::leave(db, 4, book.id).await.unwrap();
            waitlist::leave(db, 4, book.id).await.unwrap();
            assert!(matches!(waitlist::leave(db, 4, 999).await, Err(AppError::NotFound(_))), "{name}");
            // The return comes from a traced request: the notice's job continues its trace.
            let trace = kiln_http::middleware::TraceContext::root();
            loans::give_back(db, kinds.clone(), 2, loan.id, Some(trace.clone())).await.unwrap();
            let sql = "SELECT kind, created_by, idempotency_key, traceparent FROM jobs";
            let notices: Vec<(String, Option<i64>, String, Option<String>)> = match db {
                Db::Sqlite(pool) => pool
                    .read(move |c| {
                        let mut s = c.prepare(sql)?;
                        let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(AppError::from)
                    })
                    .await
                    .unwrap(),
                Db::Postgres(pg) => pg
                    .get()
                    .await
                    .unwrap()
                    .query(sql, &[])
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                    .collect(),
            };
            assert_eq!(
                notices,
                [(
                    "book_available".to_owned(),
                    Some(3),
                    format!("available-{}", loan.id),
                    Some(trace.traceparent())
                )],
                "{name}"
            );
        }
    });
}
